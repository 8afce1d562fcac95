import math

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation, binary_erosion
from skimage.filters import threshold_otsu
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    jaccard_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from scaledrop_lib.seg_metrics import (
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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_table_iv_metrics_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    target = rng.random((3, 1, 9, 11)) < 0.3
    probs = np.clip(0.35 * target + 0.65 * rng.random(target.shape), 0, 1)
    metrics = segmentation_metrics(torch.tensor(probs), torch.tensor(target), threshold=0.5)
    y, p = target.ravel(), probs.ravel()
    pred = p >= 0.5
    assert metrics["pixel_accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert metrics["iou"] == pytest.approx(jaccard_score(y, pred))
    assert metrics["auc"] == pytest.approx(roc_auc_score(y, p))
    assert metrics["f1"] == pytest.approx(f1_score(y, pred))
    assert metrics["sensitivity"] == pytest.approx(recall_score(y, pred))
    assert metrics["specificity"] == pytest.approx(recall_score(y, pred, pos_label=0))
    assert metrics["precision"] == pytest.approx(precision_score(y, pred))


def test_threshold_is_inclusive_and_zero_denominators_are_nan():
    probs = torch.tensor([0.5, 0.2, 0.7])
    target = torch.tensor([1, 0, 1])
    assert confusion_counts(probs >= 0.5, target) == (2, 0, 1, 0)
    empty = segmentation_metrics(torch.zeros(4), torch.zeros(4))
    assert math.isnan(empty["iou"]) and math.isnan(empty["precision"])
    assert math.isnan(empty["sensitivity"]) and math.isnan(empty["auc"])
    assert empty["specificity"] == 1.0 and empty["pixel_accuracy"] == 1.0


def test_per_image_iou_by_hand():
    pred = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]]).bool()
    target = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0]]).bool()
    iou = per_image_iou(pred, target)
    assert iou[0] == pytest.approx(1 / 3) and math.isnan(iou[1]) and iou[2] == 1.0


@pytest.mark.parametrize("width", [1, 2])
def test_boundary_band_matches_scipy_morphology(width):
    rng = np.random.default_rng(width)
    masks = np.zeros((4, 1, 16, 16), dtype=bool)
    masks[0, 0, 4:10, 3:12] = True
    masks[1, 0, 0:6, 0:6] = True  # touches the image edge
    masks[2, 0] = rng.random((16, 16)) < 0.4
    structure = np.ones((2 * width + 1,) * 2, bool)
    expected = np.stack(
        [
            binary_dilation(m[0], structure) & ~binary_erosion(m[0], structure, border_value=0)
            for m in masks
        ]
    )[:, None]
    np.testing.assert_array_equal(boundary_band(torch.tensor(masks), width).numpy(), expected)
    assert boundary_band(torch.tensor(masks), width)[3].sum() == 0  # empty mask: no border


def test_binary_entropy_and_pixel_maps_by_hand():
    assert binary_entropy(torch.tensor([0.0, 1.0])).tolist() == [0.0, 0.0]
    assert float(binary_entropy(torch.tensor(0.5))) == pytest.approx(math.log(2))
    samples = torch.tensor([0.0, 1.0]).view(2, 1, 1, 1, 1)  # two passes disagree completely
    maps = mc_pixel_maps(samples)
    assert float(maps.mean) == 0.5 and float(maps.variance) == 0.25
    assert float(maps.entropy) == pytest.approx(math.log(2))
    assert float(maps.mutual_information) == pytest.approx(math.log(2))
    same = mc_pixel_maps(torch.full((5, 1, 1, 2, 2), 0.3))
    assert float(same.mutual_information.max()) == pytest.approx(0.0, abs=1e-7)
    assert float(same.entropy[0, 0, 0, 0]) == pytest.approx(
        -(0.3 * math.log(0.3) + 0.7 * math.log(0.7)), rel=1e-6
    )


def test_uncertainty_error_stats_on_a_constructed_case():
    target = torch.zeros(1, 1, 6, 6)
    target[0, 0, 1:5, 1:5] = 1
    mean = target.clone()
    mean[0, 0, 1, 1] = 0.2  # one wrong pixel on the lesion's corner (a border pixel)
    uncertainty = torch.zeros_like(target)
    uncertainty[0, 0, 1, 1] = 1.0  # only the wrong pixel is uncertain
    stats = uncertainty_error_stats(mean, uncertainty, target)
    assert stats.error_auroc == 1.0
    assert stats.error_rate == pytest.approx(1 / 36)
    assert stats.mean_on_errors == 1.0 and stats.mean_on_correct == 0.0
    band = boundary_band(target.bool(), 1)
    assert stats.mean_on_border == pytest.approx(1 / float(band.sum()))
    assert stats.mean_off_border == 0.0
    perfect = uncertainty_error_stats(target, uncertainty, target)
    assert math.isnan(perfect.error_auroc)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_otsu_threshold_matches_scikit_image(seed):
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.normal(0.3, 0.05, 700), rng.normal(0.7 + 0.02 * seed, 0.08, 300)])
    assert otsu_threshold(values) == pytest.approx(threshold_otsu(values), abs=1e-12)


def test_otsu_segment_marks_the_darker_class():
    image = torch.full((1, 3, 8, 8), 0.8)
    image[0, :, 2:5, 2:6] = 0.2
    masks = otsu_segment(image)
    assert masks.shape == (1, 1, 8, 8)
    assert masks.sum() == 12 and masks[0, 0, 2:5, 2:6].min() == 1


def test_validation_errors():
    with pytest.raises(ValueError, match="shape"):
        segmentation_metrics(torch.rand(4), torch.zeros(5))
    with pytest.raises(ValueError, match="probabilities"):
        segmentation_metrics(torch.tensor([1.5]), torch.tensor([1]))
    with pytest.raises(ValueError, match="binary"):
        segmentation_metrics(torch.tensor([0.5]), torch.tensor([0.5]))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        boundary_band(torch.zeros(2, 2, 4, 4))
    with pytest.raises(ValueError, match="images"):
        otsu_segment(torch.rand(3, 8, 8))
