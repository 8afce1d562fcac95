import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from scaledrop_lib.data.shift import OODSet, add_uniform_noise, rotate
from scaledrop_lib.inference.mc import mc_predict
from scaledrop_lib.metrics.ood import ood_rule, ood_rule_statistic
from scaledrop_lib.metrics.predictive import normal_ci, predictive_entropy, sample_mean_ci
from scaledrop_lib.paper import PAPER_TABLE_V
from scaledrop_lib.routines.zoo import load_pretrained
from scaledrop_lib.studies.shift import (
    deterministic_predictor,
    ensemble_predictor,
    mc_predictor,
    noise_ladder,
    ood_report,
    paper_table_v,
    rotation_sweep,
)
from scaledrop_lib.viz.plotting import mc_samples_figure


def random_probs(T, N, C, seed, sharpness=1.0):
    logits = torch.randn((T, N, C), generator=torch.Generator().manual_seed(seed)) * sharpness
    return logits.softmax(-1)


class TablePredictor:
    """A fake predictor: looks up fixed samples by the first pixel of each input (its id)."""

    def __init__(self, table):
        self.table = table  # id -> (S, C)

    def __call__(self, inputs):
        ids = inputs[:, 0, 0, 0].round().long().tolist()
        return torch.stack([self.table[i] for i in ids], dim=1)


# ----------------------------------------------------------------------------- Eq. 20 / 24 pieces


def test_sample_mean_ci_matches_closed_form_on_logits():
    samples = torch.randn(30, 4, 5, generator=torch.Generator().manual_seed(0)) * 3
    low, high = sample_mean_ci(samples, 0.9)
    x = samples.numpy().astype(np.float64)
    half = norm.ppf(0.95) * x.std(axis=0, ddof=0) / np.sqrt(30)
    np.testing.assert_allclose(low.numpy(), x.mean(0) - half, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(high.numpy(), x.mean(0) + half, rtol=1e-5, atol=1e-5)
    probs = samples.softmax(-1)
    for a, b in zip(normal_ci(probs, 0.9), sample_mean_ci(probs, 0.9), strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="probabilities"):
        normal_ci(samples)  # logits are not probabilities
    with pytest.raises(ValueError, match="finite"):
        sample_mean_ci(torch.full((2, 1, 2), float("nan")))


def test_ood_rule_statistic_by_hand():
    probs = random_probs(20, 7, 4, seed=1, sharpness=3)
    stat = ood_rule_statistic(probs, percentile=10.0)
    expected = np.percentile(probs.numpy(), 10, axis=0, method="linear").max(axis=1)
    np.testing.assert_allclose(stat.numpy(), expected, rtol=1e-6)
    assert torch.equal(ood_rule(probs, 0.6), stat < 0.6)


# ----------------------------------------------------------------------------- ood_report


def make_case():
    """Three in-distribution inputs (ids 0-2) and a four-input OOD set (ids 10-13)."""
    C = 3
    confident = torch.tensor([[0.97, 0.02, 0.01]] * 4)
    table = {
        0: confident,
        1: confident,
        2: torch.tensor([[0.90, 0.05, 0.05]] * 4),  # below 0.95: a false positive
        10: torch.tensor([[0.4, 0.3, 0.3]] * 4),
        11: torch.tensor([[0.99, 0.005, 0.005]] * 4),  # confident OOD: missed
        12: torch.tensor([[0.5, 0.25, 0.25], [0.98, 0.01, 0.01]] * 2),  # disagreeing passes
        13: torch.tensor([[1 / C] * C] * 4),
    }
    in_images = torch.tensor([0.0, 1.0, 2.0])[:, None, None, None].expand(3, 1, 2, 2).clone()
    ood_images = torch.tensor([10.0, 11.0, 12.0, 13.0])[:, None, None, None].expand(4, 1, 2, 2)
    sets = {"D1": OODSet("D1", "toy", "hand-made", ood_images.clone())}
    return TablePredictor(table), in_images, sets, table


def test_ood_report_detection_and_false_positives_by_hand():
    predictor, in_images, sets, _table = make_case()
    report = ood_report({"toy": predictor}, in_images, sets, progress=False)
    # Eq. 24 by hand: flagged when the 10th percentile of the best class < 0.95
    # in: ids 0, 1 confident (0.97) -> ID; id 2 (0.90) -> flagged: 1/3
    assert report.false_positive["toy"] == pytest.approx(1 / 3)
    # OOD: 10 flagged, 11 not (0.99), 12: class 0 samples {0.5, 0.98} -> 10th pct < 0.95, 13 flagged
    assert report.detection["toy"]["D1"] == pytest.approx(3 / 4)
    assert report.set_names == {"D1": "toy"}
    # AUROC of entropy against scikit-learn
    ent_in = predictive_entropy(predictor(in_images)).numpy()
    ent_out = predictive_entropy(predictor(sets["D1"].images)).numpy()
    expected = roc_auc_score(np.r_[np.zeros(3), np.ones(4)], np.r_[ent_in, ent_out])
    assert report.auroc["entropy"]["toy"]["D1"] == pytest.approx(expected)
    # the Eq. 24 statistic as a score: minus the max-class 10th percentile
    stat_in = ood_rule_statistic(predictor(in_images)).numpy()
    stat_out = ood_rule_statistic(predictor(sets["D1"].images)).numpy()
    expected = roc_auc_score(np.r_[np.zeros(3), np.ones(4)], -np.r_[stat_in, stat_out])
    assert report.auroc["Eq. 24 statistic"]["toy"]["D1"] == pytest.approx(expected)


def test_threshold_curve_passes_through_the_reports_operating_point():
    predictor, in_images, sets, _ = make_case()
    report = ood_report({"toy": predictor}, in_images, sets, threshold=0.95, progress=False)
    fpr, tpr = report.threshold_curve("toy", "D1", [0.0, 0.95, 1.0 + 1e-9])
    assert fpr == [0.0, pytest.approx(1 / 3), 1.0]
    assert tpr == [0.0, pytest.approx(3 / 4), 1.0]
    with pytest.raises(ValueError, match="method"):
        report.threshold_curve("nope", "D1", [0.5])
    with pytest.raises(ValueError, match="set"):
        report.threshold_curve("toy", "D9", [0.5])


def test_mutual_information_of_a_single_pass_is_reported_as_missing():
    _predictor, in_images, sets, table = make_case()
    single = TablePredictor({k: v[:1] for k, v in table.items()})
    report = ood_report({"one pass": single}, in_images, sets, progress=False)
    assert report.auroc["mutual information"]["one pass"]["D1"] is None
    assert report.auroc["entropy"]["one pass"]["D1"] is not None
    text = str(report.table("auroc", "mutual information"))
    assert "n/a" in text
    detection = report.table("detection")
    assert detection.columns[-1] == "ID flagged"
    assert detection.rows[0][-1] == report.false_positive["one pass"]
    with pytest.raises(ValueError, match="metric"):
        report.table("precision")


def test_ood_report_validates_inputs():
    predictor, in_images, sets, _ = make_case()
    with pytest.raises(ValueError, match="predictors"):
        ood_report({}, in_images, sets)
    with pytest.raises(TypeError, match="callable"):
        ood_report({"x": 3}, in_images, sets)
    with pytest.raises(ValueError, match="threshold"):
        ood_report({"toy": predictor}, in_images, sets, threshold=1.5)


# ----------------------------------------------------------------------------- predictors


@pytest.fixture(scope="module")
def digits_net():
    return load_pretrained("cnn_scale_dropout")[0]


def test_mc_predictor_is_reproducible_and_matches_mc_predict(digits_net):
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    predict = mc_predictor(digits_net, T=6, seed=3)
    first, again = predict(x), predict(x)
    assert first.shape == (6, 5, 10)
    assert torch.equal(first, again)
    from scaledrop_lib.layers.sampling import seed_dropout

    seed_dropout(digits_net, 3)
    assert torch.equal(first, mc_predict(digits_net, x, 6))


def test_ensemble_and_deterministic_predictors_shapes(digits_net):
    x = torch.rand(4, 1, 8, 8)
    assert deterministic_predictor(digits_net)(x).shape == (1, 4, 10)
    assert ensemble_predictor([digits_net, digits_net])(x).shape == (2, 4, 10)
    with pytest.raises(ValueError, match="models"):
        ensemble_predictor([])


def test_rotation_sweep_equals_independent_computation():
    torch.manual_seed(0)
    x = torch.rand(6, 1, 8, 8)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])

    def predictor(inputs):  # class from the brightness of three image bands: rotation-sensitive
        bands = torch.stack([inputs[:, 0, :, :3].sum((1, 2)), inputs[:, 0, :, 3:5].sum((1, 2))])
        bands = torch.cat([bands, inputs[:, 0, :, 5:].sum((1, 2))[None]])
        return bands.T.softmax(-1)[None]

    sweep = rotation_sweep({"toy": predictor}, x, labels, [0, 45, 90], progress=False)
    for i, angle in enumerate([0, 45, 90]):
        probs = predictor(rotate(x, angle))[0]
        acc = float((probs.argmax(1) == labels).float().mean())
        assert sweep.accuracy["toy"][i] == pytest.approx(acc)
        assert sweep.entropy["toy"][i] == pytest.approx(
            float(predictive_entropy(probs[None]).mean())
        )
    with pytest.raises(ValueError, match="angles"):
        rotation_sweep({"toy": predictor}, x, labels, [], progress=False)


def test_noise_ladder_uses_one_noise_pattern_and_same_passes(digits_net):
    image = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(1))
    ladder = noise_ladder(digits_net, image, [0.0, 0.3], T=8, seed=2, noise_seed=4)
    assert torch.equal(ladder.images[0], image.clamp(0, 1))
    assert torch.equal(ladder.images[1], add_uniform_noise(image[None], 0.3, seed=4)[0])
    torch.testing.assert_close(ladder.probs, ladder.logits.softmax(-1))
    from scaledrop_lib.layers.sampling import seed_dropout

    seed_dropout(digits_net, 2)
    probs = mc_predict(digits_net, ladder.images, 8)  # (T, S, C)
    torch.testing.assert_close(ladder.probs, probs.transpose(0, 1), atol=1e-6, rtol=0)


def test_mc_logits_are_exact_on_both_engines(digits_net):
    from scaledrop_lib.layers.sampling import seed_dropout

    x = torch.rand(7, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    results = {}
    for method in ("naive", "prefix"):
        seed_dropout(digits_net, 11)
        results[method] = mc_predict(digits_net, x, 9, method=method, logits=True)
    torch.testing.assert_close(results["naive"], results["prefix"], atol=1e-5, rtol=0)
    assert results["naive"].min() < 0  # logits, not probabilities
    assert (results["naive"].std(0) > 0).any()  # the masks changed something


def test_mc_samples_figure_draws_samples_and_eq20_interval():
    samples = torch.randn(12, 4, generator=torch.Generator().manual_seed(0))
    fig = mc_samples_figure({"logits": samples, "softmax": samples.softmax(-1)}, decimals=6)
    assert len(fig.data) == 4
    assert len(fig.data[0].y) == 48
    _low, high = sample_mean_ci(samples[:, None, :].double())
    mean = samples.double().mean(0)
    np.testing.assert_allclose(fig.data[1].error_y.array, (high[0] - mean).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="panels"):
        mc_samples_figure({})
    with pytest.raises(ValueError, match=r"\(T, C\)"):
        mc_samples_figure({"x": torch.zeros(3)})


def test_paper_table_v_lists_every_row_labelled_as_the_papers():
    table = paper_table_v()
    assert len(table.rows) == sum(len(r) for r in PAPER_TABLE_V.values())
    assert "paper" in table.title and "not ours" in table.note
    text = str(table)
    assert len(text.splitlines()) == len(table.rows) + 4  # title, header, rule, rows, note
    for topology, methods in PAPER_TABLE_V.items():
        for row in methods.values():
            assert set(row) == {"D1", "D2", "D3", "D4", "D5", "D6"}, topology
