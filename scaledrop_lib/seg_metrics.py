"""Segmentation metrics (Table IV), per-pixel MC uncertainty maps (Fig. 8), and the numbers
that test Fig. 8's claims: does uncertainty mark wrong pixels and lesion borders?

Conventions (stated once, used everywhere):

* a pixel is predicted foreground when its probability is ``>= threshold`` (default 0.5);
* Table IV metrics are pooled over all pixels of all images (micro average);
* a ratio whose denominator is zero is ``nan`` (e.g. precision with no predicted foreground),
  never silently 0 or 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from scaledrop_lib._checks import check_positive_int, check_probability
from scaledrop_lib.uncertainty import auroc


def _as_binary(name: str, mask) -> torch.Tensor:
    mask = torch.as_tensor(mask)
    if mask.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    if mask.dtype != torch.bool:
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError(f"{name} must be a binary mask (bool or 0/1 values)")
        mask = mask == 1
    return mask


def _as_probs(name: str, probs) -> torch.Tensor:
    probs = torch.as_tensor(probs)
    if probs.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    if not torch.is_floating_point(probs):
        probs = probs.float()
    if not bool(torch.isfinite(probs).all()) or probs.min() < 0 or probs.max() > 1:
        raise ValueError(f"{name} must hold probabilities in [0, 1]")
    return probs


def _same_shape(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{names} differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def confusion_counts(pred, target) -> tuple[int, int, int, int]:
    """(TP, FP, TN, FN) of binary masks of equal shape (any shape)."""
    pred, target = _as_binary("pred", pred), _as_binary("target", target)
    _same_shape(pred, target, "pred and target")
    tp = int((pred & target).sum())
    fp = int((pred & ~target).sum())
    fn = int((~pred & target).sum())
    return tp, fp, pred.numel() - tp - fp - fn, fn


def segmentation_metrics(probs, target, threshold: float = 0.5) -> dict[str, float]:
    """Table IV's seven metrics for foreground probabilities against a binary target.

    Parameters
    ----------
    probs : array-like
        Foreground probabilities in [0, 1], any shape (e.g. (N, 1, H, W)); a binary
        mask works too (its AUC is then that of a single threshold).
    target : array-like
        Binary ground truth, same shape.
    threshold : float
        Predicted foreground = ``probs >= threshold``.

    Returns
    -------
    dict
        ``pixel_accuracy`` (TP+TN)/all, ``iou`` TP/(TP+FP+FN), ``auc`` (ROC over pixels,
        from the probabilities), ``f1`` 2TP/(2TP+FP+FN) (= Dice), ``sensitivity``
        TP/(TP+FN), ``specificity`` TN/(TN+FP), ``precision`` TP/(TP+FP); ``nan`` where a
        denominator is 0 (AUC: when the target has one class only).
    """
    probs, target = _as_probs("probs", probs), _as_binary("target", target)
    _same_shape(probs, target, "probs and target")
    threshold = check_probability("threshold", threshold)
    tp, fp, tn, fn = confusion_counts(probs >= threshold, target)
    positives, negatives = probs[target], probs[~target]
    auc = auroc(negatives, positives) if len(positives) and len(negatives) else math.nan
    return {
        "pixel_accuracy": (tp + tn) / probs.numel(),
        "iou": _ratio(tp, tp + fp + fn),
        "auc": auc,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "precision": _ratio(tp, tp + fp),
    }


def per_image_iou(pred, target) -> torch.Tensor:
    """IoU of each image (N, ...) -> (N,); ``nan`` where prediction and target are both empty."""
    pred, target = _as_binary("pred", pred), _as_binary("target", target)
    _same_shape(pred, target, "pred and target")
    inter = (pred & target).flatten(1).sum(1).double()
    union = (pred | target).flatten(1).sum(1).double()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.full_like(union, math.nan))


def boundary_band(masks, width: int = 1) -> torch.Tensor:
    """Pixels within ``width`` pixels (chessboard distance) of a mask's boundary, (N, 1, H, W).

    Dilation XOR erosion with a (2w+1) x (2w+1) square. Outside the image counts as
    background for both, so an object touching the image edge has a band along that edge too.
    """
    masks = _as_binary("masks", masks)
    if masks.dim() != 4 or masks.shape[1] != 1:
        raise ValueError(f"masks must be (N, 1, H, W), got {tuple(masks.shape)}")
    width = check_positive_int("width", width)
    m = masks.float()
    k = 2 * width + 1
    dilated = F.max_pool2d(m, k, stride=1, padding=width) > 0.5
    # erosion = not dilation of the background; pad with background (1 in the complement)
    complement = F.pad(1 - m, (width,) * 4, value=1.0)
    eroded = ~(F.max_pool2d(complement, k, stride=1) > 0.5)
    return dilated & ~eroded


def binary_entropy(p) -> torch.Tensor:
    """-p ln p - (1-p) ln(1-p) in nats, 0 at p in {0, 1} (never nan)."""
    p = _as_probs("p", p).double()
    return -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p))


@dataclass(frozen=True)
class PixelMaps:
    """Per-pixel summaries of T MC foreground probabilities, each shaped like one sample."""

    mean: torch.Tensor
    variance: torch.Tensor
    entropy: torch.Tensor
    mutual_information: torch.Tensor


def mc_pixel_maps(samples) -> PixelMaps:
    """Mean (Eq. 18), population variance (Eq. 19), predictive entropy of the mean, and mutual
    information (entropy minus the mean entropy of the passes) of samples (T, N, 1, H, W)."""
    samples = _as_probs("samples", samples)
    if samples.dim() < 2:
        raise ValueError(f"samples must be (T, N, ...), got {tuple(samples.shape)}")
    mean = samples.mean(dim=0)
    entropy = binary_entropy(mean)
    expected = binary_entropy(samples).mean(dim=0)
    return PixelMaps(
        mean=mean,
        variance=samples.var(dim=0, unbiased=False),
        entropy=entropy.float(),
        mutual_information=(entropy - expected).clamp(min=0).float(),
    )


@dataclass(frozen=True)
class UncertaintyErrorStats:
    """How well an uncertainty map points at wrong pixels and at borders (Fig. 8 as numbers).

    ``error_auroc``: AUROC of the uncertainty as a detector of wrong pixels (0.5 = chance;
    nan without errors or without correct pixels). Means of the uncertainty on wrong / correct
    pixels and on / off the border band of the target; ``error_rate`` the fraction wrong.
    """

    error_auroc: float
    mean_on_errors: float
    mean_on_correct: float
    mean_on_border: float
    mean_off_border: float
    error_rate: float


def _mean(values: torch.Tensor) -> float:
    return float(values.double().mean()) if values.numel() else math.nan


def uncertainty_error_stats(
    mean_probs, uncertainty, target, threshold: float = 0.5, band_width: int = 1
) -> UncertaintyErrorStats:
    """Compare an uncertainty map with the errors of the mean prediction and the target's
    border (see :class:`UncertaintyErrorStats`). All inputs (N, 1, H, W)."""
    mean_probs, target = _as_probs("mean_probs", mean_probs), _as_binary("target", target)
    uncertainty = torch.as_tensor(uncertainty)
    _same_shape(mean_probs, target, "mean_probs and target")
    _same_shape(uncertainty, target, "uncertainty and target")
    if not bool(torch.isfinite(uncertainty).all()):
        raise ValueError("uncertainty must be finite")
    threshold = check_probability("threshold", threshold)
    wrong = (mean_probs >= threshold) != target
    correct_u, wrong_u = uncertainty[~wrong], uncertainty[wrong]
    error_auroc = auroc(correct_u, wrong_u) if len(correct_u) and len(wrong_u) else math.nan
    band = boundary_band(target, band_width)
    return UncertaintyErrorStats(
        error_auroc=error_auroc,
        mean_on_errors=_mean(wrong_u),
        mean_on_correct=_mean(correct_u),
        mean_on_border=_mean(uncertainty[band]),
        mean_off_border=_mean(uncertainty[~band]),
        error_rate=float(wrong.double().mean()),
    )


# ----------------------------------------------------------------------------- classical baseline

LUMA = (0.299, 0.587, 0.114)


def otsu_threshold(values, bins: int = 256) -> float:
    """Otsu's threshold: the histogram split that maximises the between-class variance.

    Histogram of ``bins`` equal bins over [min, max]; the threshold is the centre of the last
    bin of the lower class (scikit-image's ``threshold_otsu`` convention: foreground is
    ``values > threshold``).
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    bins = check_positive_int("bins", bins, minimum=2)
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError("values must be non-empty and finite")
    low, high = values.min(), values.max()
    if low == high:
        return float(low)
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)
    weight_high = np.cumsum(counts[::-1])[::-1]
    mean_low = np.cumsum(counts * centres) / np.maximum(weight_low, 1)
    mean_high = (np.cumsum((counts * centres)[::-1]) / np.maximum(weight_high[::-1], 1))[::-1]
    # split after bin i: lower class = bins 0..i, upper = i+1..end
    between = weight_low[:-1] * weight_high[1:] * (mean_low[:-1] - mean_high[1:]) ** 2
    return float(centres[int(np.argmax(between))])


def otsu_segment(images) -> torch.Tensor:
    """The classical baseline: per image, foreground = pixels darker than its Otsu threshold.

    RGB images are converted to grey with BT.601 luma; returns float masks (N, 1, H, W).
    """
    images = torch.as_tensor(images)
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, 1 or 3, H, W), got {tuple(images.shape)}")
    grey = images.double()
    if images.shape[1] == 3:
        grey = (grey * torch.tensor(LUMA, dtype=grey.dtype).view(1, 3, 1, 1)).sum(1, keepdim=True)
    masks = [(g <= otsu_threshold(g.numpy())) for g in grey]
    return torch.stack(masks).float()
