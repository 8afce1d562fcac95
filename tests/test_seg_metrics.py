"""seg_metrics against independent references: scikit-learn (Table IV metrics), scipy.ndimage
(boundary band), scikit-image (Otsu), scipy.special (entropies), and values worked out by hand.
"""

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation, binary_erosion
from scipy.special import entr
from skimage.filters import threshold_otsu
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    jaccard_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from scaledrop_lib.metrics.segmentation import (
    LUMA,
    PixelMaps,
    UncertaintyErrorStats,
    binary_entropy,
    boundary_band,
    confusion_counts,
    mc_pixel_maps,
    otsu_segment,
    otsu_threshold,
    per_image_iou,
    segmentation_metrics,
    uncertainty_error_stats,
)

KEYS = ["pixel_accuracy", "iou", "auc", "f1", "sensitivity", "specificity", "precision"]
NAN = np.nan


def _sklearn_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """The seven metrics from scikit-learn, ``nan`` for zero denominators like ours."""
    y, p = y.ravel().astype(bool), p.ravel()
    pred = p >= threshold
    both_empty = not y.any() and not pred.any()
    return {
        "pixel_accuracy": accuracy_score(y, pred),
        # jaccard_score cannot return nan for 0/0; IoU is undefined exactly when both are empty
        "iou": NAN if both_empty else jaccard_score(y, pred),
        "auc": roc_auc_score(y, p) if 0 < y.sum() < y.size else NAN,
        "f1": f1_score(y, pred, zero_division=NAN),
        "sensitivity": recall_score(y, pred, zero_division=NAN),
        "specificity": recall_score(y, pred, pos_label=0, zero_division=NAN),
        "precision": precision_score(y, pred, zero_division=NAN),
    }


def _assert_metrics_equal(ours: dict[str, float], expected: dict[str, float]) -> None:
    assert list(ours) == KEYS
    for key in KEYS:
        if math.isnan(expected[key]):
            assert math.isnan(ours[key]), key
        else:
            assert ours[key] == pytest.approx(expected[key], rel=1e-12, abs=1e-12), key


# ----------------------------------------------------------------------------- Table IV metrics


@pytest.mark.parametrize(
    ("seed", "shape", "fg", "threshold"),
    [
        (0, (3, 1, 9, 11), 0.3, 0.5),
        (1, (2, 1, 16, 16), 0.1, 0.5),
        (2, (5, 1, 7, 8), 0.6, 0.3),
        (3, (4, 1, 12, 5), 0.4, 0.7),
        (4, (50,), 0.5, 0.5),
    ],
)
def test_table_iv_metrics_match_scikit_learn(seed, shape, fg, threshold):
    rng = np.random.default_rng(seed)
    target = rng.random(shape) < fg
    # probabilities on a 0.1 grid: many pixels sit exactly on the threshold (>= matters) and
    # many scores tie (the AUC must count ties half, as roc_auc_score does)
    probs = np.round(np.clip(0.35 * target + 0.65 * rng.random(shape), 0, 1), 1)
    assert (probs == threshold).any()
    ours = segmentation_metrics(torch.tensor(probs), torch.tensor(target), threshold=threshold)
    _assert_metrics_equal(ours, _sklearn_metrics(target, probs, threshold))
    # numpy inputs and a 0/1 float target give the same numbers
    assert segmentation_metrics(probs, target.astype(np.float32), threshold) == ours


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_confusion_counts_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    pred = rng.random((2, 1, 6, 7)) < 0.5
    target = rng.random((2, 1, 6, 7)) < 0.3
    tn, fp, fn, tp = confusion_matrix(target.ravel(), pred.ravel(), labels=[0, 1]).ravel()
    counts = confusion_counts(torch.tensor(pred).int(), torch.tensor(target))
    assert counts == (tp, fp, tn, fn)
    assert all(isinstance(c, int) for c in counts)


def test_threshold_is_inclusive():
    probs = torch.tensor([0.5, 0.2, 0.7, 0.49])
    target = torch.tensor([1, 0, 1, 0])
    metrics = segmentation_metrics(probs, target)
    assert metrics["pixel_accuracy"] == 1.0  # 0.5 -> foreground, 0.49 -> background
    assert segmentation_metrics(probs, target, threshold=0.7)["sensitivity"] == 0.5


@pytest.mark.parametrize(
    ("probs", "target"),
    [
        ([0.1, 0.2, 0.3, 0.4], [0, 0, 0, 0]),  # nothing anywhere: IoU/F1/sens/prec/AUC nan
        ([0.9, 0.8, 0.7, 0.6], [1, 1, 1, 1]),  # no background: specificity and AUC nan
        ([0.1, 0.2, 0.3, 0.4], [0, 1, 1, 0]),  # nothing predicted: precision nan, IoU 0
        ([0.6, 0.7, 0.8, 0.9], [0, 0, 0, 0]),  # no target foreground: sensitivity, AUC nan
    ],
)
def test_zero_denominators_are_nan_like_scikit_learn(probs, target):
    probs, target = np.array(probs), np.array(target)
    ours = segmentation_metrics(torch.tensor(probs), torch.tensor(target))
    _assert_metrics_equal(ours, _sklearn_metrics(target, probs, 0.5))


def test_zero_denominator_cases_by_hand():
    empty = segmentation_metrics(torch.zeros(4), torch.zeros(4))
    assert math.isnan(empty["iou"]) and math.isnan(empty["f1"]) and math.isnan(empty["auc"])
    assert math.isnan(empty["precision"]) and math.isnan(empty["sensitivity"])
    assert empty["specificity"] == 1.0 and empty["pixel_accuracy"] == 1.0
    missed = segmentation_metrics(torch.zeros(4), torch.tensor([1, 1, 0, 0]))
    assert missed["iou"] == 0.0 and missed["f1"] == 0.0 and missed["sensitivity"] == 0.0
    assert math.isnan(missed["precision"]) and missed["auc"] == 0.5


@pytest.mark.parametrize("seed", [0, 1])
def test_per_image_iou_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    pred = rng.random((6, 1, 5, 5)) < 0.4
    target = rng.random((6, 1, 5, 5)) < 0.4
    pred[2], target[2] = False, False  # both empty -> nan
    pred[3], target[3] = False, True  # nothing predicted -> 0
    ours = per_image_iou(torch.tensor(pred), torch.tensor(target))
    assert ours.shape == (6,)
    for i in range(6):
        if i == 2:
            assert math.isnan(ours[i])
        else:
            expected = jaccard_score(target[i].ravel(), pred[i].ravel())
            assert float(ours[i]) == pytest.approx(expected)


def test_per_image_iou_by_hand():
    pred = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]]).bool()
    target = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0]]).bool()
    iou = per_image_iou(pred, target)
    assert iou[0] == pytest.approx(1 / 3) and math.isnan(iou[1]) and iou[2] == 1.0


# ----------------------------------------------------------------------------- boundary band


def _scipy_band(masks: np.ndarray, width: int) -> np.ndarray:
    """Dilation XOR erosion with scipy; border_value=0: outside the image is background."""
    structure = np.ones((2 * width + 1,) * 2, bool)
    bands = [
        binary_dilation(m[0], structure, border_value=0)
        ^ binary_erosion(m[0], structure, border_value=0)
        for m in masks
    ]
    return np.stack(bands)[:, None]


@pytest.mark.parametrize("width", [1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_boundary_band_matches_scipy_morphology(width, seed):
    rng = np.random.default_rng(10 * seed + width)
    masks = np.zeros((6, 1, 13, 17), dtype=bool)
    masks[0, 0, 4:10, 3:12] = True  # interior rectangle
    masks[1, 0, 0:6, 0:6] = True  # touches the top-left image corner
    masks[2, 0] = rng.random((13, 17)) < 0.4  # ragged
    masks[3, 0] = rng.random((13, 17)) < 0.8  # mostly foreground, touches every edge
    masks[4, 0] = True  # whole image
    # masks[5] stays empty
    band = boundary_band(torch.tensor(masks), width)
    assert band.dtype == torch.bool and band.shape == masks.shape
    np.testing.assert_array_equal(band.numpy(), _scipy_band(masks, width))
    assert not band[5].any()  # empty mask: no boundary


def test_boundary_band_edge_convention_by_hand():
    # a full image is an object that ends at the image edge: its band is the outer ring
    full = torch.ones(1, 1, 6, 7)
    ring = torch.ones(1, 1, 6, 7, dtype=torch.bool)
    ring[..., 2:4, 2:5] = False
    assert torch.equal(boundary_band(full, width=2), ring)
    # a width wider than the image still works (everything is within reach of the edge)
    assert bool(boundary_band(torch.ones(1, 1, 3, 3), width=5).all())
    # a single pixel with w = 1: its 3x3 neighbourhood, the pixel itself included
    dot = torch.zeros(1, 1, 5, 5)
    dot[0, 0, 2, 2] = 1
    expected = torch.zeros(1, 1, 5, 5, dtype=torch.bool)
    expected[0, 0, 1:4, 1:4] = True
    assert torch.equal(boundary_band(dot), expected)


# ----------------------------------------------------------------------------- entropies, MC maps


def test_binary_entropy_matches_scipy_and_has_no_nan():
    p = np.array([0.0, 1e-12, 0.01, 0.3, 0.5, 0.77, 1 - 1e-9, 1.0])
    ours = binary_entropy(torch.tensor(p))
    assert ours.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), entr(p) + entr(1 - p), rtol=1e-12, atol=0)
    assert binary_entropy(torch.tensor([0.0, 1.0])).tolist() == [0.0, 0.0]
    assert float(binary_entropy(torch.tensor(0.5))) == pytest.approx(math.log(2))
    assert binary_entropy(torch.tensor([0.5], dtype=torch.float32)).dtype == torch.float32


def test_mc_pixel_maps_by_hand():
    samples = torch.tensor([0.0, 1.0]).view(2, 1, 1, 1, 1)  # two passes disagree completely
    maps = mc_pixel_maps(samples)
    assert isinstance(maps, PixelMaps)
    assert float(maps.mean) == 0.5
    assert float(maps.variance) == 0.25  # population variance: ((0.5)^2 + (0.5)^2) / 2
    assert float(maps.entropy) == pytest.approx(math.log(2))
    assert float(maps.mutual_information) == pytest.approx(math.log(2))  # all epistemic

    same = mc_pixel_maps(torch.full((5, 1, 1, 2, 2), 0.3))  # identical passes
    h = -(0.3 * math.log(0.3) + 0.7 * math.log(0.7))
    assert same.mean.shape == (1, 1, 2, 2)
    assert torch.allclose(same.entropy, torch.full((1, 1, 2, 2), h))
    assert float(same.variance.abs().max()) < 1e-7
    assert float(same.mutual_information.min()) >= 0.0  # clamped, never negative
    assert float(same.mutual_information.max()) < 1e-7

    three = mc_pixel_maps(torch.tensor([0.2, 0.4, 0.9]).view(3, 1, 1, 1, 1).double())
    assert float(three.mean) == pytest.approx(0.5)
    assert float(three.variance) == pytest.approx((0.09 + 0.01 + 0.16) / 3)
    mean_h = sum(-(q * math.log(q) + (1 - q) * math.log(1 - q)) for q in (0.2, 0.4, 0.9)) / 3
    assert float(three.mutual_information) == pytest.approx(math.log(2) - mean_h)


@pytest.mark.parametrize("seed", [0, 1])
def test_mc_pixel_maps_match_numpy(seed):
    rng = np.random.default_rng(seed)
    samples = rng.random((7, 2, 1, 4, 5))
    samples[:, 0, 0, 0, 0] = 1.0  # saturated pixel: entropies 0, no nan
    maps = mc_pixel_maps(torch.tensor(samples))
    mean = samples.mean(axis=0)
    entropy = entr(mean) + entr(1 - mean)
    expected_h = (entr(samples) + entr(1 - samples)).mean(axis=0)
    np.testing.assert_allclose(maps.mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(maps.variance.numpy(), samples.var(axis=0, ddof=0), rtol=1e-10)
    np.testing.assert_allclose(maps.entropy.numpy(), entropy, rtol=1e-10)
    np.testing.assert_allclose(maps.mutual_information.numpy(), entropy - expected_h, atol=1e-12)
    assert maps.mutual_information[0, 0, 0, 0] == 0.0


def test_mutual_information_of_identical_passes_is_clamped_at_zero():
    # unclamped, entropy(mean) - mean(entropy) rounds to about -1e-15 for many of these pixels
    generator = torch.Generator().manual_seed(0)
    values = torch.rand(1, 1, 50, 50, dtype=torch.float64, generator=generator)
    maps = mc_pixel_maps(values.expand(7, -1, -1, -1, -1))
    assert float(maps.mutual_information.min()) == 0.0
    assert float(maps.mutual_information.max()) < 1e-12


def test_mc_pixel_maps_single_pass_has_no_model_uncertainty():
    probs = torch.rand(1, 3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    maps = mc_pixel_maps(probs)
    assert maps.mean.dtype == torch.float32
    assert torch.equal(maps.variance, torch.zeros(3, 1, 4, 4))
    assert torch.equal(maps.mutual_information, torch.zeros(3, 1, 4, 4))
    assert torch.allclose(maps.entropy, binary_entropy(probs[0]))


# ----------------------------------------------------------------------------- error statistics


def test_uncertainty_error_stats_on_a_constructed_case():
    # 6x6 image, lesion = 4x4 square at rows/cols 1..4. The w = 1 band is dilation (the whole
    # 6x6 image) minus erosion (the 2x2 centre 2..3): 32 border pixels, 4 off the border.
    target = torch.zeros(1, 1, 6, 6)
    target[0, 0, 1:5, 1:5] = 1
    mean = target.clone()
    mean[0, 0, 1, 1] = 0.2  # missed lesion corner (FN, on the border)
    mean[0, 0, 0, 0] = 0.9  # false alarm in the image corner (FP, on the border)
    uncertainty = torch.zeros_like(target)
    uncertainty[0, 0, 1, 1] = 0.9
    uncertainty[0, 0, 0, 0] = 0.4
    uncertainty[0, 0, 2, 2] = 0.6  # a correct, interior pixel that is uncertain
    stats = uncertainty_error_stats(mean, uncertainty, target)
    assert isinstance(stats, UncertaintyErrorStats)
    # 2 wrong x 34 correct pairs: 0.9 beats all 34; 0.4 beats the 33 zeros, loses to 0.6
    assert stats.error_auroc == pytest.approx(67 / 68)
    assert stats.error_rate == pytest.approx(2 / 36)
    assert stats.mean_on_errors == pytest.approx(0.65)
    assert stats.mean_on_correct == pytest.approx(0.6 / 34)
    assert stats.mean_on_border == pytest.approx(1.3 / 32)
    assert stats.mean_off_border == pytest.approx(0.6 / 4)
    # a threshold of 0.95 turns the false alarm into a correct pixel, 0.1 the miss
    assert uncertainty_error_stats(mean, uncertainty, target, threshold=0.95).error_rate == (
        pytest.approx(1 / 36)
    )
    assert uncertainty_error_stats(mean, uncertainty, target, threshold=0.1).error_rate == (
        pytest.approx(1 / 36)
    )
    # w = 2: the dilation covers the whole image and the 5x5 erosion of a 4x4 square is
    # empty, so every pixel is on the border and none off it
    wide = uncertainty_error_stats(mean, uncertainty, target, band_width=2)
    assert wide.mean_on_border == pytest.approx(1.9 / 36) and math.isnan(wide.mean_off_border)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_uncertainty_error_stats_match_independent_computation(seed):
    rng = np.random.default_rng(seed)
    target = rng.random((3, 1, 8, 9)) < 0.35
    mean = np.round(np.clip(0.3 * target + 0.7 * rng.random(target.shape), 0, 1), 2)
    uncertainty = np.round(rng.random(target.shape), 1)  # ties: counted half by both
    stats = uncertainty_error_stats(torch.tensor(mean), torch.tensor(uncertainty), target)
    wrong = (mean >= 0.5) != target
    band = _scipy_band(target, 1)
    assert stats.error_auroc == pytest.approx(roc_auc_score(wrong.ravel(), uncertainty.ravel()))
    assert stats.mean_on_errors == pytest.approx(uncertainty[wrong].mean())
    assert stats.mean_on_correct == pytest.approx(uncertainty[~wrong].mean())
    assert stats.mean_on_border == pytest.approx(uncertainty[band].mean())
    assert stats.mean_off_border == pytest.approx(uncertainty[~band].mean())
    assert stats.error_rate == pytest.approx(wrong.mean())


def test_uncertainty_error_stats_nan_cases():
    target = torch.zeros(1, 1, 4, 4)
    target[0, 0, 1:3, 1:3] = 1
    u = torch.rand(1, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    perfect = uncertainty_error_stats(target, u, target)
    assert math.isnan(perfect.error_auroc) and math.isnan(perfect.mean_on_errors)
    assert perfect.error_rate == 0.0
    all_wrong = uncertainty_error_stats(1 - target, u, target)
    assert math.isnan(all_wrong.error_auroc) and math.isnan(all_wrong.mean_on_correct)
    assert all_wrong.error_rate == 1.0
    no_lesion = uncertainty_error_stats(torch.zeros(1, 1, 4, 4), u, torch.zeros(1, 1, 4, 4))
    assert math.isnan(no_lesion.mean_on_border)  # no border without a lesion
    assert no_lesion.mean_off_border == pytest.approx(float(u.mean()))


# ----------------------------------------------------------------------------- Otsu


def _bimodal(rng: np.random.Generator, n: int, seed: int) -> np.ndarray:
    low = rng.normal(0.25 + 0.03 * seed, 0.05, int(0.7 * n))
    high = rng.normal(0.7, 0.04 + 0.02 * seed, n - int(0.7 * n))
    return np.clip(np.concatenate([low, high]), 0, 1)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_otsu_threshold_matches_scikit_image(seed):
    rng = np.random.default_rng(seed)
    values = _bimodal(rng, 1000 + 37 * seed, seed)
    assert otsu_threshold(values) == pytest.approx(threshold_otsu(values), abs=1e-12)
    image = rng.permutation(values[:900]).reshape(30, 30)  # 2-D input, flattened alike
    assert otsu_threshold(torch.tensor(image)) == pytest.approx(threshold_otsu(image), abs=1e-12)
    for bins in (2, 16, 100):
        expected = threshold_otsu(values, nbins=bins)
        assert otsu_threshold(values, bins=bins) == pytest.approx(expected, abs=1e-12)


def test_otsu_threshold_of_a_constant_array_is_the_value():
    values = np.full(10, 0.4)
    assert otsu_threshold(values) == 0.4 == threshold_otsu(values)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_otsu_segment_matches_scikit_image_per_image(seed):
    rng = np.random.default_rng(seed)
    n, h, w = 3, 12, 10
    images = np.empty((n, 3, h, w))
    for i in range(n):
        # each image has its own brightness, so a shared threshold would be wrong
        shade = 0.15 * i
        lesion = rng.random((h, w)) < 0.3
        base = np.where(lesion, 0.2, 0.6) + shade
        images[i] = np.clip(base + rng.normal(0, 0.05, (3, h, w)), 0, 1)
    grey = np.einsum("c,nchw->nhw", np.array([0.299, 0.587, 0.114]), images)
    expected = np.stack([g < threshold_otsu(g) for g in grey])[:, None].astype(np.float32)
    masks = otsu_segment(torch.tensor(images))
    assert masks.dtype == torch.float32 and masks.shape == (n, 1, h, w)
    np.testing.assert_array_equal(masks.numpy(), expected)
    # a grey (N, 1, H, W) batch of the same luma gives the same masks
    np.testing.assert_array_equal(otsu_segment(torch.tensor(grey[:, None])).numpy(), expected)
    assert LUMA == (0.299, 0.587, 0.114)


def test_otsu_segment_marks_the_darker_class_by_hand():
    image = torch.full((2, 3, 8, 8), 0.8)
    image[0, :, 2:5, 2:6] = 0.2  # dark 3x4 lesion
    image[1] = 0.5  # no contrast at all
    masks = otsu_segment(image)
    assert masks.shape == (2, 1, 8, 8)
    assert masks[0].sum() == 12 and masks[0, 0, 2:5, 2:6].min() == 1
    assert masks[1].sum() == 0  # a constant image has no lesion


# ----------------------------------------------------------------------------- validation


def test_validation_errors():
    with pytest.raises(ValueError, match=r"probs and target must have the same shape"):
        segmentation_metrics(torch.rand(4), torch.zeros(5))
    with pytest.raises(ValueError, match=r"probs must hold probabilities in \[0, 1\]"):
        segmentation_metrics(torch.tensor([1.5]), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"probs must hold probabilities"):
        segmentation_metrics(torch.tensor([-0.1, 0.5]), torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="probs must be finite"):
        segmentation_metrics(torch.tensor([math.nan]), torch.tensor([1]))
    with pytest.raises(ValueError, match="target must be a binary mask"):
        segmentation_metrics(torch.tensor([0.5]), torch.tensor([0.5]))
    with pytest.raises(ValueError, match="target must be a binary mask"):
        segmentation_metrics(torch.tensor([0.5, 0.1]), torch.tensor([2, 0]))
    with pytest.raises(ValueError, match="threshold"):
        segmentation_metrics(torch.tensor([0.5]), torch.tensor([1]), threshold=1.5)
    with pytest.raises(ValueError, match="probs must not be empty"):
        segmentation_metrics(torch.zeros(0), torch.zeros(0))
    with pytest.raises(ValueError, match="pred must not be empty"):
        confusion_counts(torch.zeros(0, dtype=torch.bool), torch.zeros(0, dtype=torch.bool))
    with pytest.raises(ValueError, match="pred must be a binary mask"):
        confusion_counts(torch.tensor([0.3]), torch.tensor([1]))
    with pytest.raises(ValueError, match="pred and target must have the same shape"):
        confusion_counts(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"\(N, \.\.\.\)"):
        per_image_iou(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match=r"masks must be \(N, 1, H, W\)"):
        boundary_band(torch.zeros(2, 2, 4, 4))
    with pytest.raises(ValueError, match="masks must be a binary mask"):
        boundary_band(torch.full((1, 1, 4, 4), 0.5))
    with pytest.raises(ValueError, match="width must be >= 1"):
        boundary_band(torch.zeros(1, 1, 4, 4), width=0)
    with pytest.raises(ValueError, match=r"p must hold probabilities"):
        binary_entropy(torch.tensor([1.2]))
    with pytest.raises(ValueError, match=r"samples must be \(T, N, 1, H, W\)"):
        mc_pixel_maps(torch.rand(2, 1, 4, 4))
    with pytest.raises(ValueError, match=r"samples must hold probabilities"):
        mc_pixel_maps(torch.full((2, 1, 1, 2, 2), 2.0))
    with pytest.raises(ValueError, match="uncertainty and target must have the same shape"):
        uncertainty_error_stats(
            torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 5), torch.ones(1, 1, 4, 4)
        )
    with pytest.raises(ValueError, match="uncertainty must be finite"):
        uncertainty_error_stats(
            torch.rand(1, 1, 2, 2), torch.full((1, 1, 2, 2), math.inf), torch.ones(1, 1, 2, 2)
        )
    with pytest.raises(ValueError, match=r"target must be \(N, 1, H, W\)"):
        uncertainty_error_stats(torch.rand(4, 4), torch.rand(4, 4), torch.ones(4, 4))
    with pytest.raises(ValueError, match="bins must be >= 2"):
        otsu_threshold(np.arange(5.0), bins=1)
    with pytest.raises(ValueError, match="values must not be empty"):
        otsu_threshold(np.array([]))
    with pytest.raises(ValueError, match="values must be finite"):
        otsu_threshold(np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match=r"images must be \(N, 1 or 3, H, W\)"):
        otsu_segment(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match=r"images must hold probabilities in \[0, 1\]"):
        otsu_segment(torch.full((1, 3, 4, 4), 255.0))
