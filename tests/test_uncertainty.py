import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score, roc_curve
from torch import nn

from scaledrop_lib.scaledrop import ScaleDropout
from scaledrop_lib.uncertainty import (
    accuracy,
    aupr,
    auroc,
    brier_score,
    deterministic_predict,
    expected_calibration_error,
    expected_entropy,
    fpr_at_tpr,
    mc_predict,
    mutual_information,
    normal_ci,
    ood_rule,
    percentile_ci,
    predictive_entropy,
    predictive_mean,
    predictive_variance,
    reliability_diagram,
    reliability_diagram_data,
)


def random_probs(T=20, N=30, C=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(T, N, C, generator=g, dtype=torch.float64) * 2, dim=-1)


def test_eq19_is_the_population_variance():
    probs = random_probs()
    ref = np.var(probs.numpy(), axis=0, ddof=0)
    np.testing.assert_allclose(predictive_variance(probs).numpy(), ref, rtol=1e-12)
    assert not np.allclose(predictive_variance(probs).numpy(), np.var(probs.numpy(), 0, ddof=1))
    np.testing.assert_allclose(predictive_mean(probs).numpy(), probs.numpy().mean(0))


def test_eq20_normal_ci_by_hand():
    probs = random_probs(T=25)
    lo, hi = normal_ci(probs, 0.95)
    p = probs.numpy()
    half = 1.959963984540054 * p.std(0) / math.sqrt(25)
    np.testing.assert_allclose(lo.numpy(), p.mean(0) - half, rtol=1e-9)
    np.testing.assert_allclose(hi.numpy(), p.mean(0) + half, rtol=1e-9)


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "nearest", "midpoint"])
def test_eq21_percentiles_match_numpy(method):
    probs = random_probs(T=20)
    lo, hi = percentile_ci(probs, 0.9, interpolation=method)
    p = probs.numpy()
    np.testing.assert_allclose(lo.numpy(), np.percentile(p, 5, axis=0, method=method))
    np.testing.assert_allclose(hi.numpy(), np.percentile(p, 95, axis=0, method=method))


def test_interpolation_matters_at_t20():
    probs = random_probs(T=20)
    assert not torch.allclose(
        percentile_ci(probs)[0], percentile_ci(probs, interpolation="lower")[0]
    )


def test_entropy_closed_forms_and_mutual_information():
    uniform = torch.full((5, 3, 4), 0.25, dtype=torch.float64)
    assert torch.allclose(
        predictive_entropy(uniform), torch.full((3,), math.log(4), dtype=torch.float64)
    )
    onehot = torch.zeros(5, 3, 4, dtype=torch.float64)
    onehot[..., 1] = 1
    assert torch.equal(predictive_entropy(onehot), torch.zeros(3, dtype=torch.float64))
    assert torch.allclose(mutual_information(uniform), torch.zeros(3, dtype=torch.float64))
    # two confident passes that disagree: mean is (0.5, 0.5) -> MI = log 2 - H(0.9, 0.1)
    probs = torch.tensor([[[0.9, 0.1]], [[0.1, 0.9]]], dtype=torch.float64)
    h = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    assert float(expected_entropy(probs)[0]) == pytest.approx(h)
    assert float(mutual_information(probs)[0]) == pytest.approx(math.log(2) - h)


def ece_by_loop(probs, labels, n_bins):
    conf, pred = probs.max(1)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        members = [i for i in range(len(conf)) if (lo < conf[i] <= hi) or (b == 0 and conf[i] == 0)]
        if members:
            acc = np.mean([int(pred[i] == labels[i]) for i in members])
            c = np.mean([float(conf[i]) for i in members])
            total += len(members) / len(conf) * abs(acc - c)
    return total


@pytest.mark.parametrize("n_bins", [1, 3, 15])
def test_ece_matches_a_loop_implementation(n_bins):
    probs = predictive_mean(random_probs(N=200, seed=3))
    labels = torch.randint(0, 4, (200,), generator=torch.Generator().manual_seed(1))
    assert expected_calibration_error(probs, labels, n_bins) == pytest.approx(
        ece_by_loop(probs, labels, n_bins)
    )


def test_ece_hand_example_and_perfect_calibration():
    # two bins: conf 0.9 (2 inputs, one right) and conf 0.3 (1 input, right)
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.3, 0.7]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 1])
    # inputs: conf .9 correct, conf .9 wrong, conf .7 correct -> bins (0.5,1] with n_bins=2
    # all in bin 2: acc 2/3, conf (0.9+0.9+0.7)/3 -> |0.6667 - 0.8333| = 1/6
    assert expected_calibration_error(probs, labels, 2) == pytest.approx(1 / 6)
    calibrated = torch.tensor([[1.0, 0.0]] * 4, dtype=torch.float64)
    assert expected_calibration_error(calibrated, torch.zeros(4, dtype=torch.long)) == 0.0
    bins = reliability_diagram_data(probs, labels, 2)
    assert bins.counts.tolist() == [0, 3] and np.isnan(bins.accuracy[0])


def test_nll_brier_accuracy_against_references():
    probs = predictive_mean(random_probs(N=50, C=3, seed=4))
    labels = torch.randint(0, 3, (50,), generator=torch.Generator().manual_seed(2))
    assert negative_log_likelihood_ref(probs, labels) == pytest.approx(
        log_loss(labels.numpy(), probs.numpy(), labels=[0, 1, 2])
    )
    onehot = np.eye(3)[labels.numpy()]
    assert brier_score(probs, labels) == pytest.approx(
        ((probs.numpy() - onehot) ** 2).sum(1).mean()
    )
    assert accuracy(probs, labels) == pytest.approx(
        (probs.argmax(1) == labels).float().mean().item()
    )


def negative_log_likelihood_ref(probs, labels):
    from scaledrop_lib.uncertainty import negative_log_likelihood

    return negative_log_likelihood(probs, labels)


def test_binary_brier_is_half_the_multiclass_sum():
    from sklearn.metrics import brier_score_loss

    p1 = torch.rand(40, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    probs = torch.stack([1 - p1, p1], dim=1)
    labels = (torch.rand(40, generator=torch.Generator().manual_seed(6)) > 0.5).long()
    assert brier_score(probs, labels) == pytest.approx(2 * brier_score_loss(labels, p1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_aupr_match_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    s_in = rng.integers(0, 6, 80).astype(float)  # many ties
    s_out = rng.integers(2, 9, 60).astype(float)
    y = np.r_[np.zeros(80), np.ones(60)]
    s = np.r_[s_in, s_out]
    assert auroc(s_in, s_out) == pytest.approx(roc_auc_score(y, s))
    assert aupr(s_in, s_out) == pytest.approx(average_precision_score(y, s))


@pytest.mark.parametrize("seed", [0, 1])
def test_fpr_at_95_tpr_against_brute_force_and_roc_curve(seed):
    rng = np.random.default_rng(seed)
    s_in, s_out = rng.normal(0, 1, 300), rng.normal(1.5, 1, 200)
    best = None
    for t in sorted(np.r_[s_in, s_out], reverse=True):
        if (s_out >= t).mean() >= 0.95:
            best = (s_in >= t).mean()
            break
    assert fpr_at_tpr(s_in, s_out) == pytest.approx(best)
    fpr, tpr, _ = roc_curve(np.r_[np.zeros(300), np.ones(200)], np.r_[s_in, s_out])
    assert fpr_at_tpr(s_in, s_out) == pytest.approx(fpr[np.argmax(tpr >= 0.95)])


@pytest.mark.parametrize("method", ["linear", "lower"])
def test_ood_rule_by_hand(method):
    probs = random_probs(T=20, N=40, C=3, seed=7)
    q10 = np.percentile(probs.numpy(), 10, axis=0, method=method)
    threshold = float(np.median(q10.max(axis=1)))  # half the inputs on each side
    expected = q10.max(axis=1) < threshold
    flags = ood_rule(probs, threshold=threshold, interpolation=method)
    np.testing.assert_array_equal(flags.numpy(), expected)
    assert 0 < expected.sum() < 40  # the example really has both outcomes


class Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.drop = nn.Dropout(0.5)
        self.sd = ScaleDropout(0.5)

    def forward(self, x):
        return self.fc(self.drop(x)) * self.sd(torch.full((4,), 2.0))


def test_mc_predict_samples_and_restores_modes():
    torch.manual_seed(0)
    model = Noisy().train()
    x = torch.randn(6, 3)
    probs = mc_predict(model, x, T=50)
    assert probs.shape == (50, 6, 4)
    assert float(predictive_variance(probs).max()) > 1e-3  # passes differ
    assert model.training and model.drop.training and not model.sd.mc
    det1, det2 = deterministic_predict(model, x), deterministic_predict(model, x)
    assert torch.equal(det1, det2)
    chunked = mc_predict(model, x, T=3, batch_size=4)
    assert chunked.shape == (3, 6, 4)


def test_mc_predict_restores_modes_after_an_error():
    model = Noisy().eval()
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        mc_predict(model, torch.randn(2, 5), T=2)  # wrong width fails inside the loop
    assert not model.training and not model.drop.training and not model.sd.mc


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: predictive_mean(torch.rand(3, 4)), "probs must have 3 dimensions"),
        (lambda: predictive_mean(torch.full((2, 3, 4), 1.5)), r"probs must hold probabilities"),
        (lambda: mc_predict(nn.Linear(2, 2), torch.randn(1, 2), T=0), "T must be >= 1"),
        (lambda: percentile_ci(random_probs(), interpolation="cubic"), "unknown interpolation"),
        (lambda: normal_ci(random_probs(), level=1.5), "level must lie"),
        (lambda: accuracy(torch.rand(3, 2), torch.tensor([0, 1])), "labels must have 3 entries"),
        (lambda: fpr_at_tpr([1.0], [2.0], tpr=0), "tpr must lie"),
        (lambda: ood_rule(random_probs(), percentile=120), "percentile must lie"),
    ],
)
def test_bad_input_errors_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_reliability_diagram_has_one_trace_per_method_plus_diagonal():
    probs = predictive_mean(random_probs(N=100))
    labels = torch.zeros(100, dtype=torch.long)
    fig = reliability_diagram({"MC-Scale-Dropout": probs, "ensemble": probs}, labels)
    assert len(fig.data) == 3
    assert "ECE" in fig.data[1].name


def test_mc_summary_agrees_with_its_parts():
    from scaledrop_lib.uncertainty import mc_summary

    torch.manual_seed(1)
    model = Noisy()
    x, y = torch.randn(20, 3), torch.randint(0, 4, (20,))
    torch.manual_seed(5)
    summary = mc_summary(model, x, y, T=7)
    torch.manual_seed(5)
    probs = mc_predict(model, x, T=7)
    assert summary.mc_accuracy == accuracy(predictive_mean(probs), y)
    assert summary.predictive_entropy == pytest.approx(float(predictive_entropy(probs).mean()))
    assert summary.variance == pytest.approx(float(predictive_variance(probs).sum(1).mean()))


def test_plateau_by_hand():
    from scaledrop_lib.uncertainty import plateau_T

    Ts = [1, 2, 5, 10, 20, 50]
    # T=5 is inside the band, but T=10 falls out again: the plateau starts at 20
    assert plateau_T(Ts, [0.5, 0.9, 0.97, 0.96, 0.98, 0.98], tolerance=0.015) == 20
    assert plateau_T(Ts, [0.98] * 6, tolerance=0.0) == 1
    assert plateau_T(Ts, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], tolerance=0.0) == 50
    with pytest.raises(ValueError, match="must increase"):
        plateau_T([2, 1], [0, 0], 0.1)


def test_sweep_uses_nested_samples_and_reseeds():
    from scaledrop_lib.scaledrop import seed_dropout
    from scaledrop_lib.uncertainty import sweep_T

    torch.manual_seed(0)
    model = Noisy()
    model.drop = nn.Identity()  # only the seedable Scale-Dropout is random
    x, y = torch.randn(30, 3), torch.randint(0, 4, (30,))
    sweep = sweep_T(model, x, y, [1, 5, 10], seeds=[3, 4])
    seed_dropout(model, 4)
    probs = mc_predict(model, x, 10)
    assert sweep.accuracy[1, 1] == accuracy(probs[:5].mean(0), y)
    assert sweep.entropy[1, 2] == pytest.approx(float(predictive_entropy(probs).mean()))
    assert sweep.accuracy.shape == (2, 3)


def test_mean_confidence_interval_matches_scipy():
    from scipy import stats

    from scaledrop_lib.uncertainty import mean_confidence_interval

    values = [0.97, 0.98, 0.975, 0.99, 0.985]
    mean, lo, hi = mean_confidence_interval(values, 0.95)
    ref = stats.t.interval(0.95, 4, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values))
    assert (lo, hi) == pytest.approx(ref)
    with pytest.raises(ValueError, match="at least 2"):
        mean_confidence_interval([1.0])
