import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
    roc_curve,
)
from torch import nn

from scaledrop_lib.inference.mc import deterministic_predict, mc_predict
from scaledrop_lib.layers.dropout import ScaleDropout
from scaledrop_lib.metrics import _validation
from scaledrop_lib.metrics.calibration import expected_calibration_error, reliability_diagram_data
from scaledrop_lib.metrics.classification import accuracy, brier_score, negative_log_likelihood
from scaledrop_lib.metrics.ood import aupr, auroc, detection_rate, fpr_at_tpr, ood_rule
from scaledrop_lib.metrics.predictive import (
    expected_entropy,
    mutual_information,
    normal_ci,
    percentile_ci,
    predictive_entropy,
    predictive_mean,
    predictive_variance,
)
from scaledrop_lib.viz.figures import reliability_diagram
from scaledrop_lib.viz.plotting import METHOD_COLORS

Z975 = 1.959963984540054  # standard-normal 97.5 % quantile


def rows(n, C=2, seed=0):
    """n probability rows over C classes (each sums to 1)."""
    return random_probs(T=1, N=n, C=C, seed=seed)[0]


def random_probs(T=20, N=30, C=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(T, N, C, generator=g, dtype=torch.float64) * 2, dim=-1)


# ------------------------------------------------------------------ Eq. 18-21


def test_eq19_is_the_population_variance():
    probs = random_probs()
    p = probs.numpy()
    np.testing.assert_allclose(predictive_variance(probs).numpy(), np.var(p, 0, ddof=0))
    assert not np.allclose(predictive_variance(probs).numpy(), np.var(p, 0, ddof=1))
    np.testing.assert_allclose(predictive_mean(probs).numpy(), p.mean(0))
    assert torch.equal(predictive_variance(probs[:1]), torch.zeros(30, 4, dtype=torch.float64))


def test_eq20_normal_ci_by_hand():
    probs = random_probs(T=25)
    lo, hi = normal_ci(probs, 0.95)
    p = probs.numpy()
    half = Z975 * p.std(0) / math.sqrt(25)  # numpy's std divides by T (ddof=0)
    np.testing.assert_allclose(lo.numpy(), p.mean(0) - half, rtol=1e-9)
    np.testing.assert_allclose(hi.numpy(), p.mean(0) + half, rtol=1e-9)


def test_eq20_is_a_ci_of_the_mean_shrinking_as_one_over_sqrt_t():
    # the samples repeated 4 times: same mean and population variance, 4x the passes
    probs = random_probs(T=10)
    lo1, hi1 = normal_ci(probs)
    lo4, hi4 = normal_ci(probs.repeat(4, 1, 1))
    torch.testing.assert_close(hi4 - lo4, (hi1 - lo1) / 2)


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "nearest", "midpoint"])
def test_eq21_percentiles_match_numpy(method):
    probs = random_probs(T=20)
    lo, hi = percentile_ci(probs, 0.9, interpolation=method)
    p = probs.numpy()
    np.testing.assert_allclose(lo.numpy(), np.percentile(p, 5, axis=0, method=method))
    np.testing.assert_allclose(hi.numpy(), np.percentile(p, 95, axis=0, method=method))


def test_interpolation_matters_at_t20():
    probs = random_probs(T=20)
    linear, lower = percentile_ci(probs)[0], percentile_ci(probs, interpolation="lower")[0]
    assert not torch.allclose(linear, lower)
    assert bool((lower <= linear).all())  # "lower" takes the order statistic below


@pytest.mark.parametrize("limit", [50, 200])
def test_percentiles_in_chunks_of_inputs_are_the_same(monkeypatch, limit):
    # torch.quantile had a 2**24-element limit; chunking over inputs must not change results
    probs = random_probs(T=20, N=5, C=4, seed=9)
    reference = percentile_ci(probs, 0.8, interpolation="midpoint")
    monkeypatch.setattr(_validation, "_QUANTILE_MAX_ELEMENTS", limit)  # 1 or 2 inputs a chunk
    chunked = percentile_ci(probs, 0.8, interpolation="midpoint")
    assert torch.equal(chunked[0], reference[0]) and torch.equal(chunked[1], reference[1])
    q10 = np.percentile(probs.numpy(), 10, axis=0)
    np.testing.assert_array_equal(ood_rule(probs, 0.5).numpy(), q10.max(1) < 0.5)


# ------------------------------------------------------------------ entropy, MI


def test_entropy_closed_forms():
    uniform = torch.full((5, 3, 4), 0.25, dtype=torch.float64)
    torch.testing.assert_close(
        predictive_entropy(uniform), torch.full((3,), math.log(4), dtype=torch.float64)
    )
    torch.testing.assert_close(
        expected_entropy(uniform), torch.full((3,), math.log(4), dtype=torch.float64)
    )
    onehot = torch.zeros(5, 3, 4, dtype=torch.float64)
    onehot[..., 1] = 1  # zeros elsewhere: 0 log 0 must count as 0, not NaN
    assert torch.equal(predictive_entropy(onehot), torch.zeros(3, dtype=torch.float64))
    assert torch.equal(expected_entropy(onehot), torch.zeros(3, dtype=torch.float64))


def test_mutual_information_zero_when_all_passes_agree():
    one_pass = random_probs(T=1, N=8, C=5, seed=2)
    probs = one_pass.repeat(7, 1, 1)
    mi = mutual_information(probs)
    assert mi.shape == (8,) and bool((mi >= 0).all())
    assert float(mi.max()) < 1e-12
    assert float(predictive_entropy(probs).min()) > 0.1  # not trivially zero entropy


def test_mutual_information_by_hand():
    # two confident passes that disagree: mean (0.5, 0.5), MI = log 2 - H(0.9, 0.1)
    probs = torch.tensor([[[0.9, 0.1]], [[0.1, 0.9]]], dtype=torch.float64)
    h = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    assert float(predictive_entropy(probs)[0]) == pytest.approx(math.log(2))
    assert float(expected_entropy(probs)[0]) == pytest.approx(h)
    assert float(mutual_information(probs)[0]) == pytest.approx(math.log(2) - h)


# ------------------------------------------------------------------ calibration


def ece_by_loop(probs, labels, n_bins):
    """Second implementation: bins (b/n, (b+1)/n], confidence 0 in the first."""
    conf, pred = probs.max(1)
    conf, pred, labels = conf.tolist(), pred.tolist(), labels.tolist()
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        members = [i for i, c in enumerate(conf) if lo < c <= hi or (b == 0 and c == 0)]
        if members:
            acc = sum(pred[i] == labels[i] for i in members) / len(members)
            mean_conf = sum(conf[i] for i in members) / len(members)
            total += len(members) / len(conf) * abs(acc - mean_conf)
    return total


@pytest.mark.parametrize("n_bins", [1, 3, 10, 15])
def test_ece_matches_a_loop_implementation(n_bins):
    probs = predictive_mean(random_probs(N=200, seed=3))
    labels = torch.randint(0, 4, (200,), generator=torch.Generator().manual_seed(1))
    assert expected_calibration_error(probs, labels, n_bins) == pytest.approx(
        ece_by_loop(probs, labels, n_bins), abs=1e-12
    )


def test_ece_hand_example_with_three_bins():
    probs = torch.tensor(
        [
            [0.25, 0.25, 0.25, 0.25],  # conf .25, argmax 0 (first), label 0: right, bin 0
            [0.5, 0.2, 0.2, 0.1],  # conf .5, label 1: wrong, bin 1
            [0.1, 0.6, 0.2, 0.1],  # conf .6, label 1: right, bin 1
            [0.9, 0.05, 0.05, 0.0],  # conf .9, label 0: right, bin 2
            [0.0, 0.0, 0.8, 0.2],  # conf .8, label 3: wrong, bin 2
        ],
        dtype=torch.float64,
    )
    labels = torch.tensor([0, 1, 1, 0, 3])
    # bins (0, 1/3], (1/3, 2/3], (2/3, 1]: gaps |1 - .25|, |.5 - .55|, |.5 - .85|
    expected = (1 * 0.75 + 2 * 0.05 + 2 * 0.35) / 5
    assert expected_calibration_error(probs, labels, 3) == pytest.approx(expected)
    assert expected == pytest.approx(0.31)
    bins = reliability_diagram_data(probs, labels, 3)
    assert bins.counts.tolist() == [1, 2, 2]
    np.testing.assert_allclose(bins.accuracy, [1.0, 0.5, 0.5])
    np.testing.assert_allclose(bins.confidence, [0.25, 0.55, 0.85])
    np.testing.assert_allclose(bins.centers, [1 / 6, 0.5, 5 / 6])


def test_ece_is_zero_for_a_calibrated_construction():
    # 10 inputs at confidence 0.8 with 8 right, 4 at 0.5 with 2 right: accuracy = confidence
    probs = torch.tensor([[0.8, 0.2]] * 10 + [[0.5, 0.5]] * 4, dtype=torch.float64)
    labels = torch.tensor([0] * 8 + [1] * 2 + [0, 0, 1, 1])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-12)
    wrong = torch.tensor([1] * 8 + [0] * 2 + [0, 0, 1, 1])  # now 2 of 10 right at 0.8
    assert expected_calibration_error(probs, wrong) == pytest.approx(10 / 14 * 0.6)


def test_bin_edges_are_exactly_i_over_n():
    # conf 0.3 is the top of bin (0.2, 0.3]; 0.1 + 0.2 = 0.30000000000000004 is above it.
    # np.linspace(0, 1, 11)[3] is 0.30000000000000004 and would put both in the same bin.
    probs = torch.tensor(
        [[0.3, 0.25, 0.25, 0.2], [0.1 + 0.2, 0.25, 0.25, 0.2], [0.25, 0.25, 0.25, 0.25]],
        dtype=torch.float64,
    )
    labels = torch.tensor([0, 1, 0])
    bins = reliability_diagram_data(probs, labels, 10)
    assert bins.counts.tolist() == [0, 0, 2, 1, 0, 0, 0, 0, 0, 0]  # 0.25 and 0.3 share (0.2, 0.3]
    assert np.isnan(bins.accuracy[1]) and np.isnan(bins.confidence[1])
    assert bins.edges[3] == 0.3
    assert expected_calibration_error(probs, labels, 10) == pytest.approx(
        ece_by_loop(probs, labels, 10)
    )


def test_reliability_diagram_traces_colours_and_axes():
    probs = predictive_mean(random_probs(N=100))
    labels = torch.zeros(100, dtype=torch.long)
    fig = reliability_diagram({"MC-Scale-Dropout": probs, "ensemble": probs}, labels)
    assert len(fig.data) == 3  # the diagonal, then one per method
    assert list(fig.data[0].x) == [0, 1] and list(fig.data[0].y) == [0, 1]
    assert fig.data[1].name.startswith("MC-Scale-Dropout (ECE")
    assert fig.data[1].line.color == METHOD_COLORS["MC-Scale-Dropout"]
    assert fig.data[2].line.color == METHOD_COLORS["ensemble"]
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    bins = reliability_diagram_data(probs, labels)
    np.testing.assert_allclose(fig.data[1].y, np.round(bins.accuracy[bins.counts > 0], 4))


# ------------------------------------------------------------------ scoring rules


def test_nll_and_accuracy_against_references():
    probs = predictive_mean(random_probs(N=50, C=3, seed=4))
    labels = torch.randint(0, 3, (50,), generator=torch.Generator().manual_seed(2))
    assert negative_log_likelihood(probs, labels) == pytest.approx(
        log_loss(labels.numpy(), probs.numpy(), labels=[0, 1, 2])
    )
    assert accuracy(probs, labels) == pytest.approx(
        np.mean(probs.numpy().argmax(1) == labels.numpy())
    )


def test_nll_clamps_a_zero_probability():
    probs = torch.tensor([[1.0, 0.0], [0.5, 0.5]], dtype=torch.float64)
    labels = torch.tensor([1, 0])
    assert negative_log_likelihood(probs, labels) == pytest.approx(
        (12 * math.log(10) + math.log(2)) / 2
    )


def test_brier_by_hand():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype=torch.float64)
    labels = torch.tensor([0, 1])
    # (0.3^2 + 0.2^2 + 0.1^2 + 0.1^2 + 0.9^2 + 0.8^2) / 2 = (0.14 + 1.46) / 2
    assert brier_score(probs, labels) == pytest.approx(0.8)
    worst = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    assert brier_score(worst, torch.tensor([2])) == pytest.approx(2.0)  # top of [0, 2]
    assert brier_score(worst, torch.tensor([0])) == 0.0


def test_binary_brier_is_half_the_multiclass_sum():
    p1 = torch.rand(40, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    probs = torch.stack([1 - p1, p1], dim=1)
    labels = (torch.rand(40, generator=torch.Generator().manual_seed(6)) > 0.5).long()
    assert brier_score(probs, labels) == pytest.approx(2 * brier_score_loss(labels, p1))


# ------------------------------------------------------------------ OOD detection


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_aupr_match_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    s_in = rng.integers(0, 6, 80).astype(float)  # many ties, within and across groups
    s_out = rng.integers(2, 9, 60).astype(float)
    y = np.r_[np.zeros(80), np.ones(60)]
    s = np.r_[s_in, s_out]
    assert auroc(s_in, s_out) == pytest.approx(roc_auc_score(y, s))
    assert aupr(s_in, s_out) == pytest.approx(average_precision_score(y, s))
    assert auroc(torch.tensor(s_in), torch.tensor(s_out)) == pytest.approx(roc_auc_score(y, s))


def test_auroc_aupr_extremes():
    assert auroc([0.0, 1.0], [2.0, 3.0]) == 1.0
    assert auroc([2.0, 3.0], [0.0, 1.0]) == 0.0
    assert auroc([1.0, 1.0], [1.0]) == 0.5  # all tied
    assert aupr([0.0, 1.0], [2.0, 3.0]) == 1.0
    assert aupr([1.0, 1.0, 1.0], [1.0]) == pytest.approx(0.25)  # one threshold: precision 1/4


def fpr_brute_force(s_in, s_out, tpr):
    """Largest threshold t among all scores with mean(s_out >= t) >= tpr; FPR there."""
    for t in sorted(set(np.r_[s_in, s_out]), reverse=True):
        if (s_out >= t).mean() >= tpr:
            return (s_in >= t).mean()
    raise AssertionError("unreachable: the smallest score always qualifies")


@pytest.mark.parametrize(
    ("seed", "tpr", "ties"),
    [(0, 0.95, False), (1, 0.95, False), (2, 0.95, True), (3, 0.07, False), (4, 1.0, True)],
)
def test_fpr_at_tpr_against_brute_force(seed, tpr, ties):
    rng = np.random.default_rng(seed)
    s_in, s_out = rng.normal(0, 1, 300), rng.normal(1.5, 1, 100)
    if ties:
        s_in, s_out = np.round(s_in), np.round(s_out)
    assert fpr_at_tpr(s_in, s_out, tpr) == pytest.approx(fpr_brute_force(s_in, s_out, tpr))


def test_fpr_at_tpr_by_hand_where_float_products_round_up():
    # OOD scores 0..99, in-distribution 0.5..99.5. tpr = 0.07: t is the 7th largest OOD
    # score (93), since 7 / 100 >= 0.07, although 0.07 * 100 = 7.000000000000001 in floats
    s_out = np.arange(100.0)
    s_in = s_out + 0.5
    assert fpr_at_tpr(s_in, s_out, 0.07) == pytest.approx(7 / 100)
    assert fpr_at_tpr(s_in, s_out, 0.95) == pytest.approx(95 / 100)  # t = 5
    assert fpr_at_tpr(s_in, s_out, 1.0) == 1.0


def test_fpr_at_95_tpr_matches_roc_curve_without_ties():
    rng = np.random.default_rng(5)
    s_in, s_out = rng.normal(0, 1, 300), rng.normal(1.5, 1, 200)
    fpr, tpr, _ = roc_curve(np.r_[np.zeros(300), np.ones(200)], np.r_[s_in, s_out])
    assert fpr_at_tpr(s_in, s_out) == pytest.approx(fpr[np.argmax(tpr >= 0.95)])


@pytest.mark.parametrize("method", ["linear", "lower"])
def test_ood_rule_against_numpy_percentiles(method):
    probs = random_probs(T=20, N=40, C=3, seed=7)
    q10 = np.percentile(probs.numpy(), 10, axis=0, method=method)
    threshold = float(np.median(q10.max(axis=1)))  # half the inputs on each side
    expected = q10.max(axis=1) < threshold
    flags = ood_rule(probs, threshold=threshold, interpolation=method)
    assert flags.dtype == torch.bool
    np.testing.assert_array_equal(flags.numpy(), expected)
    assert 0 < expected.sum() < 40  # the example really has both outcomes
    assert detection_rate(flags) == pytest.approx(expected.mean())


def test_ood_rule_linear_and_lower_disagree_at_t20_by_hand():
    # class-0 samples sorted: 0.5, 0.9, then 18 x 0.99. The 10th percentile sits at
    # position 0.1 * 19 = 1.9: linear 0.9 + 0.9 * (0.99 - 0.9) = 0.981, lower 0.9.
    p0 = torch.tensor([0.5, 0.9] + [0.99] * 18, dtype=torch.float64)
    probs = torch.stack([p0, 1 - p0], dim=1)[:, None, :]  # (T=20, N=1, C=2)
    assert not bool(ood_rule(probs, 0.95, 10.0, "linear")[0])  # 0.981 >= 0.95: in-distribution
    assert bool(ood_rule(probs, 0.95, 10.0, "lower")[0])  # 0.9 < 0.95: OOD
    lo = percentile_ci(probs, 0.8, interpolation="linear")[0]
    assert float(lo[0, 0]) == pytest.approx(0.981)
    # "below" is strict: a percentile exactly at the threshold is not OOD
    exact = torch.tensor([[[0.95, 0.05]]] * 3, dtype=torch.float64)
    assert not bool(ood_rule(exact, 0.95)[0])
    assert bool(ood_rule(exact, 0.96)[0])


def test_detection_rate():
    assert detection_rate(torch.tensor([True, False, True, True])) == 0.75
    assert detection_rate(torch.tensor([0, 1])) == 0.5


# ------------------------------------------------------------------ inference


class TwoFeatureNet(nn.Module):
    """Dropout on 2 features, then a fixed linear map: 4 equally likely masks at p = 0.5."""

    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(2, 3)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 2.0], [-1.0, 0.0]]))
            self.fc.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
        self.double()  # float64 also keeps the many tiny passes fast on a busy CPU

    def forward(self, x):
        return self.fc(self.drop(x))


def exact_mc_mean(model, x):
    """Closed form of the MC mean: average over the 4 masks, kept features scaled by 2."""
    with torch.no_grad():
        outs = [
            torch.softmax(model.fc(x * torch.tensor(mask, dtype=x.dtype) * 2), dim=-1)
            for mask in itertools.product([0.0, 1.0], repeat=2)
        ]
    return torch.stack(outs).mean(0), torch.stack(outs)


def test_mc_predict_draws_every_mask_and_the_mean_converges():
    torch.manual_seed(0)  # plain torch dropout draws from the global generator
    model = TwoFeatureNet()
    x = torch.tensor([[1.0, 2.0], [-0.5, 0.3], [2.0, -1.0]], dtype=torch.float64)
    T = 300
    probs = mc_predict(model, x, T)
    assert probs.shape == (T, 3, 3)
    mean, outcomes = exact_mc_mean(model, x)
    for i in range(3):  # the passes differ: all 4 mask outcomes occur, nothing else
        distinct = torch.unique(probs[:, i].round(decimals=6), dim=0)
        assert len(distinct) == 4
        assert torch.allclose(
            distinct.sort(0).values, outcomes[:, i].round(decimals=6).sort(0).values, atol=1e-6
        )
    # within 5 standard errors of the exact mean (the exact per-pass spread is known)
    sd = outcomes.std(0, correction=0)
    assert bool(((predictive_mean(probs) - mean).abs() <= 5 * sd / math.sqrt(T) + 1e-7).all())
    # T = 1 is one sample, not the mean
    assert not torch.allclose(mc_predict(model, x, 1)[0], mean, atol=1e-3)


class Probe(nn.Module):
    """Records the sampling state each forward pass sees; can fail on a given pass."""

    def __init__(self, fail_on=None):
        super().__init__()
        self.mc = False
        self.calls = 0
        self.fail_on = fail_on
        self.seen = []

    def forward(self, x):
        self.calls += 1
        self.seen.append((self.mc, self.training, torch.is_inference_mode_enabled()))
        if self.calls == self.fail_on:
            raise RuntimeError("probe failed mid-way")
        return x


class MixedNet(nn.Module):
    def __init__(self, fail_on=None):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)
        self.drop2d = nn.Dropout2d(0.5)
        self.bn = nn.BatchNorm2d(2)
        self.flat = nn.Flatten()
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(8, 3)
        self.sd = ScaleDropout(0.5)
        self.probe = Probe(fail_on)

    def forward(self, x):
        self.modes = (self.drop.training, self.drop2d.training, self.bn.training, self.sd.mc)
        h = self.flat(self.bn(self.drop2d(self.conv(x))))
        return self.probe(self.fc(self.drop(h)) * self.sd(torch.full((3,), 2.0)))


def flags(model):
    return [(name, m.training, getattr(m, "mc", None)) for name, m in model.named_modules()]


def mixed_state(model):
    model.train()
    model.bn.eval()  # a frozen BatchNorm inside a training model
    model.sd.mc = True  # a caller had switched MC on
    return flags(model)


def test_mc_predict_samples_and_restores_a_mixed_state():
    torch.manual_seed(1)
    model = MixedNet()
    before = mixed_state(model)
    x = torch.rand(5, 1, 2, 2)
    probs = mc_predict(model, x, T=6)
    assert probs.shape == (6, 5, 3)
    assert float(predictive_variance(probs).max()) > 1e-4
    # during the call: dropout sampling, BatchNorm in eval mode, no autograd
    assert model.modes == (True, True, False, True)
    assert model.probe.seen == [(True, False, True)] * 6
    assert flags(model) == before
    chunked = mc_predict(model, x, T=3, batch_size=2)
    assert chunked.shape == (3, 5, 3) and flags(model) == before


def test_mc_predict_restores_flags_after_an_error_mid_way():
    model = MixedNet(fail_on=3)
    before = mixed_state(model)
    with pytest.raises(RuntimeError, match="probe failed mid-way"):
        mc_predict(model, torch.rand(4, 1, 2, 2), T=5)
    assert model.probe.calls == 3
    assert flags(model) == before


def test_deterministic_predict_is_repeatable_and_switches_sampling_off():
    torch.manual_seed(2)
    model = MixedNet()
    before = mixed_state(model)
    x = torch.rand(5, 1, 2, 2)
    det1, det2 = deterministic_predict(model, x), deterministic_predict(model, x)
    assert det1.shape == (5, 3) and torch.equal(det1, det2)
    assert model.modes == (False, False, False, False)
    assert flags(model) == before
    model.eval()
    model.sd.mc = False
    with torch.no_grad():
        torch.testing.assert_close(det1, torch.softmax(model(x), dim=-1))
    torch.testing.assert_close(det1.sum(1), torch.ones(5))


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: predictive_mean(torch.rand(3, 4)), "probs must have 3 dimensions"),
        (lambda: predictive_variance(torch.rand(2, 3, 4, 1)), "probs must have 3 dimensions"),
        (lambda: accuracy(torch.rand(2, 3, 4), torch.tensor([0, 1])), "probs_mean must have 2"),
        (lambda: predictive_mean(torch.full((2, 3, 4), 1.5)), r"probs must hold probabilities"),
        (lambda: predictive_mean(torch.full((2, 3, 4), -0.1)), r"probs must hold probabilities"),
        (lambda: predictive_mean(torch.full((2, 3, 4), math.nan)), "probs must be finite"),
        (lambda: predictive_mean(torch.zeros(2, 3, 4, dtype=torch.long)), "probs must be a float"),
        (lambda: brier_score(torch.full((2, 2), 2.0), torch.tensor([0, 1])), "probs_mean must"),
        (lambda: mc_predict(nn.Linear(2, 2), torch.randn(1, 2), T=0), "T must be >= 1"),
        (lambda: mc_predict(nn.Linear(2, 2), torch.randn(1, 2), T=2.0), "T must be an integer"),
        (lambda: mc_predict(nn.Linear(2, 2), [[1.0, 2.0]], T=2), "inputs must be a torch.Tensor"),
        (lambda: mc_predict(nn.Linear(2, 2), torch.randn(3, 2), 2, batch_size=0), "batch_size"),
        (lambda: percentile_ci(random_probs(), interpolation="cubic"), "unknown interpolation"),
        (lambda: ood_rule(random_probs(), interpolation="cubic"), "unknown interpolation"),
        (lambda: normal_ci(random_probs(), level=1.5), "level must lie"),
        (lambda: normal_ci(random_probs(), level=0.0), "level must lie"),
        (lambda: percentile_ci(random_probs(), level=1.0), "level must lie"),
        (lambda: percentile_ci(random_probs(), level="95%"), "level must be a real"),
        (lambda: accuracy(rows(3), torch.tensor([0, 1])), "labels must have 3 entries"),
        (lambda: accuracy(rows(2), torch.tensor([0.0, 1.0])), "labels must be integer"),
        (lambda: accuracy(rows(2), torch.tensor([0, 2])), r"labels must lie in \[0, 1\]"),
        (lambda: accuracy(rows(2), torch.tensor([[0, 1]])), "labels must have 1 dim"),
        (
            lambda: expected_calibration_error(torch.rand(2, 2), torch.tensor([0, 1]), n_bins=0),
            "n_bins must be >= 1",
        ),
        (lambda: reliability_diagram({}, torch.tensor([0])), "probs_by_method"),
        (lambda: fpr_at_tpr([1.0], [2.0], tpr=0), "tpr must lie"),
        (lambda: fpr_at_tpr([1.0], [2.0], tpr=1.5), "tpr must lie"),
        (lambda: auroc([1.0, math.nan], [2.0]), "scores_in must be finite"),
        (lambda: aupr([1.0], []), "scores_out must not be empty"),
        (lambda: ood_rule(random_probs(), percentile=120), "percentile must lie"),
        (lambda: ood_rule(random_probs(), threshold=1.5), r"threshold must lie in \[0, 1\]"),
        (lambda: detection_rate(torch.tensor([0.5, 1.0])), "flags must be booleans"),
        (lambda: detection_rate(torch.tensor([], dtype=torch.bool)), "flags must not be empty"),
    ],
)
def test_bad_input_errors_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_probabilities_within_tolerance_are_accepted():
    probs = random_probs(T=3, N=2, C=2)
    probs[0, 0] = torch.tensor([1 + 5e-7, 0.0])  # float rounding of a softmax, within 1e-6
    assert predictive_mean(probs).shape == (2, 2)


def test_rows_that_are_not_distributions_are_refused():
    # the example: entropy 3.47 > log 10 from rows that do not sum to 1
    unnormalised = torch.rand(5, 4, 10, generator=torch.Generator().manual_seed(0))
    for metric in (predictive_entropy, mutual_information, predictive_mean):
        with pytest.raises(ValueError, match="distribution over the classes"):
            metric(unnormalised)
    with pytest.raises(ValueError, match="distribution over the classes"):
        brier_score(unnormalised[0], torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="distribution over the classes"):
        expected_calibration_error(unnormalised[0], torch.zeros(4, dtype=torch.long))


def test_non_finite_inputs_and_impossible_T_are_refused_before_running():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    x = torch.rand(3, 1, 2, 2)
    x[1, 0, 0, 0] = float("nan")
    for predict in (lambda: mc_predict(model, x, 2), lambda: deterministic_predict(model, x)):
        with pytest.raises(ValueError, match=r"inputs must be finite; inputs \[1\] hold NaN"):
            predict()
    with pytest.raises(TypeError, match="floating-point"):
        mc_predict(model, torch.ones(2, 1, 2, 2, dtype=torch.long), 2)
    with pytest.raises(ValueError, match=r"T = 1,000,000,000 passes of shape \(3, 3\) need"):
        mc_predict(model, torch.rand(3, 1, 2, 2), 10**9)  # fails after one pass, not after 1e9


# ------------------------------------------------------------------ summaries


class Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.drop = nn.Dropout(0.5)
        self.sd = ScaleDropout(0.5)

    def forward(self, x):
        return self.fc(self.drop(x)) * self.sd(torch.full((4,), 2.0))


def test_mc_summary_agrees_with_its_parts():
    from scaledrop_lib.studies.sweeps import mc_summary

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
    from scaledrop_lib.metrics.statistics import plateau_T

    Ts = [1, 2, 5, 10, 20, 50]
    # T=5 is inside the band, but T=10 falls out again: the plateau starts at 20
    assert plateau_T(Ts, [0.5, 0.9, 0.97, 0.96, 0.98, 0.98], tolerance=0.015) == 20
    assert plateau_T(Ts, [0.98] * 6, tolerance=0.0) == 1
    assert plateau_T(Ts, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], tolerance=0.0) == 50
    with pytest.raises(ValueError, match="must increase"):
        plateau_T([2, 1], [0, 0], 0.1)


def test_sweep_uses_nested_samples_and_reseeds():
    from scaledrop_lib.layers.sampling import seed_dropout
    from scaledrop_lib.studies.sweeps import sweep_T

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
    from scaledrop_lib.studies.sweeps import stack_sweeps

    one = sweep_T(model, x, y, [1, 5, 10], seeds=[3])
    stacked = stack_sweeps([sweep, one])
    assert stacked.accuracy.shape == (3, 3) and stacked.seeds == [0, 1, 2]
    assert (stacked.accuracy[2] == one.accuracy[0]).all()
    assert (stacked.accuracy[0] == sweep.accuracy[0]).all()
    with pytest.raises(ValueError, match="same Ts"):
        stack_sweeps([sweep, sweep_T(model, x, y, [1, 5], seeds=[3])])
    with pytest.raises(ValueError, match="empty"):
        stack_sweeps([])


def test_mean_confidence_interval_matches_scipy():
    from scipy import stats

    from scaledrop_lib.metrics.statistics import mean_confidence_interval

    values = [0.97, 0.98, 0.975, 0.99, 0.985]
    mean, lo, hi = mean_confidence_interval(values, 0.95)
    ref = stats.t.interval(0.95, 4, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values))
    assert (lo, hi) == pytest.approx(ref)
    with pytest.raises(ValueError, match="at least 2"):
        mean_confidence_interval([1.0])


def test_fpr_at_a_tiny_tpr_still_catches_one_ood_input():
    s_in, s_out = [0.1, 0.2, 0.9], [0.5, 0.8]
    # the threshold is the highest OOD score: only in-distribution scores >= 0.8 are flagged
    assert fpr_at_tpr(s_in, s_out, 1e-12) == pytest.approx(1 / 3)
