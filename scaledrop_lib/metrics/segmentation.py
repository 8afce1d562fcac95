"""Segmentation metrics (Table IV), per-pixel MC uncertainty maps (Fig. 8), and Fig. 8's tests.

The tests ask what Fig. 8 claims: does uncertainty mark wrong pixels and lesion borders?

Conventions (stated once, used everywhere in this module):

* a pixel is predicted foreground when its probability is ``>= threshold`` (default 0.5), so
  a probability of exactly 0.5 counts as foreground;
* Table IV metrics are pooled over all pixels of all images (micro average), not averaged
  per image (use :func:`per_image_iou` for per-image numbers);
* a ratio whose denominator is zero is ``nan`` (e.g. precision with no predicted
  foreground), never silently 0 or 1; an AUROC that needs two classes and gets one is
  ``nan`` too;
* masks are bool tensors or numeric tensors holding only 0 and 1; probabilities are real
  numbers in [0, 1] (checked, no tolerance);
* morphology (:func:`boundary_band`) treats pixels outside the image as background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from scaledrop_lib._checks import check_positive_int, check_probability
from scaledrop_lib.metrics.ood import auroc

#: Inputs accepted wherever a mask or a probability map is expected.
ArrayLike = torch.Tensor | np.ndarray

#: ITU-R BT.601 luma weights (R, G, B) used by :func:`otsu_segment` for RGB images.
LUMA = (0.299, 0.587, 0.114)


# ----------------------------------------------------------------------------- validation


def _as_tensor(name: str, value) -> torch.Tensor:
    try:
        tensor = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be a tensor or an array, got {type(value).__name__}") from err
    if tensor.is_complex():
        raise TypeError(f"{name} must be real, got {tensor.dtype}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(tensor.shape)}")
    return tensor


def _as_binary(name: str, mask) -> torch.Tensor:
    """``mask`` as a bool tensor; raise unless it is non-empty and holds only 0/1 (or bools)."""
    mask = _as_tensor(name, mask)
    if mask.dtype != torch.bool:
        # NaN fails both comparisons, so it is rejected here too
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError(f"{name} must be a binary mask (bool or 0/1 values)")
        mask = mask == 1
    return mask


def _as_probs(name: str, probs) -> torch.Tensor:
    """``probs`` as a floating tensor; raise unless it is non-empty, finite and in [0, 1]."""
    probs = _as_tensor(name, probs)
    if not torch.is_floating_point(probs):
        probs = probs.float()  # bool / 0-1 integer masks are valid (degenerate) probabilities
    if not bool(torch.isfinite(probs).all()):
        raise ValueError(f"{name} must be finite (it holds NaN or inf)")
    low, high = float(probs.min()), float(probs.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(f"{name} must hold probabilities in [0, 1], got values in [{low}, {high}]")
    return probs


def _same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, "
            f"got {tuple(a.shape)} vs {tuple(b.shape)}"
        )


def _check_nchw1(name: str, tensor: torch.Tensor) -> None:
    if tensor.dim() != 4 or tensor.shape[1] != 1:
        raise ValueError(f"{name} must be (N, 1, H, W), got shape {tuple(tensor.shape)}")


def _ratio(num: float, den: float) -> float:
    # an undefined ratio stays visible as nan instead of posing as a perfect or a zero score
    return num / den if den else math.nan


def _mean(values: torch.Tensor) -> float:
    return float(values.double().mean()) if values.numel() else math.nan


# ----------------------------------------------------------------------------- Table IV metrics


def confusion_counts(pred: ArrayLike, target: ArrayLike) -> tuple[int, int, int, int]:
    """Pixel counts of the confusion matrix of two binary masks.

    Parameters
    ----------
    pred, target : torch.Tensor or numpy.ndarray
        Binary masks (bool, or numbers that are all 0 or 1) of the same, any, shape;
        foreground = True / 1.

    Returns
    -------
    tuple of int
        ``(TP, FP, TN, FN)``, summed over every element.

    Raises
    ------
    ValueError
        If a mask is empty or not binary, or the shapes differ.
    """
    pred, target = _as_binary("pred", pred), _as_binary("target", target)
    _same_shape(pred, target, "pred", "target")
    tp = int((pred & target).sum())
    fp = int((pred & ~target).sum())
    fn = int((~pred & target).sum())
    return tp, fp, pred.numel() - tp - fp - fn, fn


def pooled_iou(pred: ArrayLike, target: ArrayLike) -> float:
    """IoU of two binary masks pooled over every element: TP / (TP + FP + FN).

    NaN when both masks are empty (nothing to find, nothing found), as every metric here.
    """
    tp, fp, _, fn = confusion_counts(pred, target)
    return _ratio(tp, tp + fp + fn)


def segmentation_metrics(
    probs: ArrayLike, target: ArrayLike, threshold: float = 0.5
) -> dict[str, float]:
    """Table IV's seven metrics for foreground probabilities against a binary target.

    All pixels of all images are pooled into one confusion matrix (micro average), so large
    lesions weigh more than small ones.

    Parameters
    ----------
    probs : torch.Tensor or numpy.ndarray
        Foreground probabilities in [0, 1], any shape (e.g. (N, 1, H, W)). A binary mask
        works too (its AUC is then that of a single operating point).
    target : torch.Tensor or numpy.ndarray
        Binary ground truth (bool or 0/1), same shape as ``probs``.
    threshold : float
        In [0, 1]; predicted foreground is ``probs >= threshold`` (inclusive).

    Returns
    -------
    dict of str to float
        In this order:

        * ``pixel_accuracy`` = (TP + TN) / all pixels;
        * ``iou`` = TP / (TP + FP + FN) (Jaccard), ``nan`` if both masks are empty;
        * ``auc`` = area under the pixel-level ROC curve of ``probs`` (threshold-free),
          ``nan`` if ``target`` has only one class;
        * ``f1`` = 2 TP / (2 TP + FP + FN) (= Dice), ``nan`` if both masks are empty;
        * ``sensitivity`` = TP / (TP + FN) (recall), ``nan`` without target foreground;
        * ``specificity`` = TN / (TN + FP), ``nan`` without target background;
        * ``precision`` = TP / (TP + FP), ``nan`` without predicted foreground.

    Raises
    ------
    ValueError
        If an input is empty, ``probs`` is not finite or leaves [0, 1], ``target`` is not
        binary, the shapes differ, or ``threshold`` is outside [0, 1].
    """
    probs, target = _as_probs("probs", probs), _as_binary("target", target)
    _same_shape(probs, target, "probs", "target")
    threshold = check_probability("threshold", threshold)
    tp, fp, tn, fn = confusion_counts(probs >= threshold, target)
    foreground, background = probs[target], probs[~target]
    # ROC with foreground as the positive class: background pixels are the "in" scores
    has_both = foreground.numel() > 0 and background.numel() > 0
    auc = auroc(background, foreground) if has_both else math.nan
    return {
        "pixel_accuracy": (tp + tn) / probs.numel(),
        "iou": _ratio(tp, tp + fp + fn),
        "auc": auc,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "precision": _ratio(tp, tp + fp),
    }


def per_image_iou(pred: ArrayLike, target: ArrayLike) -> torch.Tensor:
    """IoU of every image separately.

    Parameters
    ----------
    pred, target : torch.Tensor or numpy.ndarray
        Binary masks (N, ...) of the same shape, at least 2-D (first axis = image).

    Returns
    -------
    torch.Tensor
        Float64 (N,): ``|pred AND target| / |pred OR target|`` per image; ``nan`` where both
        masks of an image are empty (IoU undefined, not a perfect 1).

    Raises
    ------
    ValueError
        If a mask is empty, not binary or not at least 2-D, or the shapes differ.
    """
    pred, target = _as_binary("pred", pred), _as_binary("target", target)
    _same_shape(pred, target, "pred", "target")
    if pred.dim() < 2:
        raise ValueError(f"pred and target must be (N, ...) with N images, got {tuple(pred.shape)}")
    inter = (pred & target).flatten(1).sum(1).double()
    union = (pred | target).flatten(1).sum(1).double()
    # clamp only avoids 0/0 (its result is replaced by nan anyway)
    return torch.where(union > 0, inter / union.clamp(min=1), torch.full_like(union, math.nan))


# ----------------------------------------------------------------------------- morphology


def boundary_band(masks: ArrayLike, width: int = 1) -> torch.Tensor:
    """Pixels within ``width`` pixels of a mask's boundary: dilation XOR erosion.

    Dilation and erosion use a (2w+1) x (2w+1) square structuring element (chessboard
    distance <= w), computed with ``max_pool2d``; erosion is NOT(dilation of NOT mask).

    Edge convention: pixels outside the image count as background for both operations
    (scipy's ``border_value=0``). So an object touching the image edge is eroded from that
    edge as well, and its outermost ``width`` rows/columns along the edge belong to the
    band, as if the object ended there.

    Parameters
    ----------
    masks : torch.Tensor or numpy.ndarray
        Binary masks (N, 1, H, W).
    width : int
        Half-width w >= 1 of the band, in pixels.

    Returns
    -------
    torch.Tensor
        Bool (N, 1, H, W); all False for an empty mask (no boundary). Because of the edge
        convention a mask covering the whole image has a band along the image edge.

    Raises
    ------
    ValueError
        If ``masks`` is empty, not binary or not (N, 1, H, W), or ``width`` < 1.
    """
    masks = _as_binary("masks", masks)
    _check_nchw1("masks", masks)
    width = check_positive_int("width", width)
    m = masks.float()
    k = 2 * width + 1
    # max_pool2d pads with -inf, i.e. outside the image is background for the dilation
    dilated = F.max_pool2d(m, k, stride=1, padding=width) > 0.5
    # erosion = NOT dilation of the background; outside is background, i.e. 1 in the complement
    complement = F.pad(1.0 - m, (width, width, width, width), value=1.0)
    eroded = ~(F.max_pool2d(complement, k, stride=1) > 0.5)
    return dilated & ~eroded


# ----------------------------------------------------------------------------- MC pixel maps


def _entropy64(p: torch.Tensor) -> torch.Tensor:
    # float64 and xlogy (0 log 0 = 0): no nan at p in {0, 1}, little cancellation in MI
    p = p.double()
    return -(torch.special.xlogy(p, p) + torch.special.xlogy(1.0 - p, 1.0 - p))


def binary_entropy(p: ArrayLike) -> torch.Tensor:
    """Entropy of a Bernoulli(p) variable, element-wise, in nats.

    Parameters
    ----------
    p : torch.Tensor or numpy.ndarray
        Probabilities in [0, 1], any shape.

    Returns
    -------
    torch.Tensor
        ``-p ln p - (1-p) ln(1-p)``, same shape and floating dtype as ``p`` (float32 for
        integer or bool input); exactly 0 at p = 0 and p = 1 (never nan), ln 2 at p = 0.5.

    Raises
    ------
    ValueError
        If ``p`` is empty, not finite or outside [0, 1].
    """
    p = _as_probs("p", p)
    return _entropy64(p).to(p.dtype)


@dataclass(frozen=True)
class PixelMaps:
    """Per-pixel summaries of T Monte-Carlo foreground probabilities.

    Every field has the shape of one sample (N, 1, H, W) and the dtype of the samples.

    Attributes
    ----------
    mean : torch.Tensor
        Predictive mean over the T passes (Eq. 18).
    variance : torch.Tensor
        Population variance over the T passes (divided by T, Eq. 19).
    entropy : torch.Tensor
        Predictive entropy: binary entropy of ``mean``, in nats (total uncertainty).
    mutual_information : torch.Tensor
        ``entropy`` minus the mean binary entropy of the passes, in nats, >= 0 (the part
        of the uncertainty due to the dropout masks, i.e. the model).
    """

    mean: torch.Tensor
    variance: torch.Tensor
    entropy: torch.Tensor
    mutual_information: torch.Tensor


def mc_pixel_maps(samples: ArrayLike) -> PixelMaps:
    """Mean, variance, predictive entropy and mutual information of MC segmentation samples.

    Parameters
    ----------
    samples : torch.Tensor or numpy.ndarray
        T Monte-Carlo foreground probabilities (T, N, 1, H, W), values in [0, 1]
        (e.g. :func:`scaledrop_lib.inference.segment.mc_segment`; a single deterministic pass
        is T = 1, which has zero variance and zero mutual information).

    Returns
    -------
    PixelMaps
        Each map shaped (N, 1, H, W).

    Raises
    ------
    ValueError
        If ``samples`` is empty, not (T, N, 1, H, W), not finite or outside [0, 1].
    """
    samples = _as_probs("samples", samples)
    # 5-D only: a 4-D (N, 1, H, W) mean map passed by mistake would otherwise read as T = N
    if samples.dim() != 5 or samples.shape[2] != 1:
        raise ValueError(f"samples must be (T, N, 1, H, W), got shape {tuple(samples.shape)}")
    mean64 = samples.double().mean(dim=0)
    entropy64 = _entropy64(mean64)
    # one pass at a time keeps memory at one sample's size in float64
    expected64 = torch.zeros_like(mean64)
    for sample in samples:
        expected64 += _entropy64(sample)
    expected64 /= samples.shape[0]
    dtype = samples.dtype
    return PixelMaps(
        mean=mean64.to(dtype),
        variance=samples.double().var(dim=0, correction=0).to(dtype),
        entropy=entropy64.to(dtype),
        # MI >= 0 by Jensen (entropy is concave); the clamp removes rounding below 0
        mutual_information=(entropy64 - expected64).clamp(min=0.0).to(dtype),
    )


# ----------------------------------------------------------------------------- Fig. 8 as numbers


@dataclass(frozen=True)
class UncertaintyErrorStats:
    """How well an uncertainty map points at wrong pixels and at borders (Fig. 8 as numbers).

    Attributes
    ----------
    error_auroc : float
        AUROC of the uncertainty as a detector of wrongly classified pixels (0.5 = chance,
        1 = every wrong pixel is more uncertain than every correct one); ``nan`` when there
        are no wrong pixels or no correct pixels.
    mean_on_errors, mean_on_correct : float
        Mean uncertainty on wrong / correct pixels (``nan`` if there are none).
    mean_on_border, mean_off_border : float
        Mean uncertainty on the target's boundary band (:func:`boundary_band`) / on all
        other pixels (``nan`` if there are none, e.g. no border for an empty target).
    error_rate : float
        Fraction of wrong pixels.
    """

    error_auroc: float
    mean_on_errors: float
    mean_on_correct: float
    mean_on_border: float
    mean_off_border: float
    error_rate: float


def uncertainty_error_stats(
    mean_probs: ArrayLike,
    uncertainty: ArrayLike,
    target: ArrayLike,
    threshold: float = 0.5,
    band_width: int = 1,
) -> UncertaintyErrorStats:
    """Compare an uncertainty map with the errors of the mean prediction and with borders.

    Pooled over all pixels of all images.

    Parameters
    ----------
    mean_probs : torch.Tensor or numpy.ndarray
        Predictive mean foreground probabilities (N, 1, H, W) in [0, 1]; a pixel is
        predicted foreground when ``mean_probs >= threshold``.
    uncertainty : torch.Tensor or numpy.ndarray
        Any finite per-pixel score, higher = more uncertain (entropy, mutual information,
        variance, ...), same shape.
    target : torch.Tensor or numpy.ndarray
        Binary ground truth (N, 1, H, W).
    threshold : float
        In [0, 1], as in :func:`segmentation_metrics`.
    band_width : int
        ``width`` of :func:`boundary_band` for the border statistics (>= 1).

    Returns
    -------
    UncertaintyErrorStats

    Raises
    ------
    ValueError
        If an input is empty or shaped differently from ``target``, ``target`` is not
        binary (N, 1, H, W), ``mean_probs`` is not a probability map, or ``uncertainty``
        is not finite.
    """
    mean_probs, target = _as_probs("mean_probs", mean_probs), _as_binary("target", target)
    _check_nchw1("target", target)
    _same_shape(mean_probs, target, "mean_probs", "target")
    uncertainty = _as_tensor("uncertainty", uncertainty)
    _same_shape(uncertainty, target, "uncertainty", "target")
    if not bool(torch.isfinite(uncertainty).all()):
        raise ValueError("uncertainty must be finite (it holds NaN or inf)")
    threshold = check_probability("threshold", threshold)
    wrong = (mean_probs >= threshold) != target
    correct_u, wrong_u = uncertainty[~wrong], uncertainty[wrong]
    # wrong pixels are the positives ("out"): a good map gives them the higher scores
    has_both = correct_u.numel() > 0 and wrong_u.numel() > 0
    error_auroc = auroc(correct_u, wrong_u) if has_both else math.nan
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


def otsu_threshold(values: ArrayLike, bins: int = 256) -> float:
    """Otsu's threshold: the histogram split that maximises the between-class variance.

    Same convention as scikit-image's ``skimage.filters.threshold_otsu``: a histogram of
    ``bins`` equal-width bins over [min, max]; for each split after bin i the weighted
    between-class variance w_low * w_high * (mu_low - mu_high)^2 (class means from bin
    centres); the threshold is the centre of the last bin of the lower class at the first
    maximum. The bright class is ``values > threshold``.

    Parameters
    ----------
    values : torch.Tensor or numpy.ndarray
        Grey values, any shape (flattened), finite. Converted to float64 first, so integer
        images are binned like floats (scikit-image bins integer images per grey level).
    bins : int
        Number of histogram bins (>= 2).

    Returns
    -------
    float
        The threshold; the value itself when all values are equal (no split exists).

    Raises
    ------
    ValueError
        If ``values`` is empty or not finite, or ``bins`` < 2.
    """
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    values = np.asarray(values, dtype=np.float64).ravel()
    bins = check_positive_int("bins", bins, minimum=2)
    if values.size == 0:
        raise ValueError("values must not be empty")
    if not np.isfinite(values).all():
        raise ValueError("values must be finite (they hold NaN or inf)")
    low, high = values.min(), values.max()
    if low == high:
        return float(low)
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    # class weights and means for "lower class = bins 0..i" (cumulative from the left) and
    # "upper class = bins i..end" (cumulative from the right); bin 0 and the last bin are
    # never empty (they hold min and max), so the divisions below never see a zero weight
    weight_low = np.cumsum(counts)
    weight_high = np.cumsum(counts[::-1])[::-1]
    mean_low = np.cumsum(counts * centres) / weight_low
    mean_high = (np.cumsum((counts * centres)[::-1]) / weight_high[::-1])[::-1]
    between = weight_low[:-1] * weight_high[1:] * (mean_low[:-1] - mean_high[1:]) ** 2
    return float(centres[int(np.argmax(between))])


def otsu_segment(images: ArrayLike) -> torch.Tensor:
    """The classical baseline: per image, foreground = pixels darker than its Otsu threshold.

    Skin lesions are darker than the surrounding skin, hence the dark class is foreground.
    Each image gets its own threshold (:func:`otsu_threshold`, 256 bins).

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        Grey (N, 1, H, W) or RGB (N, 3, H, W) images with values in [0, 1]. RGB is
        converted to grey with BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` (:data:`LUMA`).

    Returns
    -------
    torch.Tensor
        Float32 masks (N, 1, H, W) of 0/1: 1 where ``grey < threshold`` (strictly darker).
        A pixel exactly at the threshold is background, so an image of a single grey
        value (no contrast, threshold = that value) gets an empty mask.

    Raises
    ------
    ValueError
        If ``images`` is empty, not (N, 1 or 3, H, W), not finite or outside [0, 1].
    """
    images = _as_probs("images", images)
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, 1 or 3, H, W), got shape {tuple(images.shape)}")
    grey = images.detach().cpu().double()
    if grey.shape[1] == 3:
        weights = torch.tensor(LUMA, dtype=grey.dtype).view(1, 3, 1, 1)
        grey = (grey * weights).sum(dim=1, keepdim=True)
    masks = [g < otsu_threshold(g.numpy()) for g in grey]
    return torch.stack(masks).float()
