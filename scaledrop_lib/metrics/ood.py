"""Out-of-distribution detection: AUROC, AUPR, FPR at a TPR, and the paper's rule (Eq. 24).

Scores are "higher = more OOD"; the in-distribution inputs are the negatives.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from scaledrop_lib._checks import (
    check_choice,
    check_probability,
    check_tensor_dims,
)
from scaledrop_lib.metrics._validation import INTERPOLATIONS, _check_probs, _quantile_over_T


def _scores(name: str, scores) -> np.ndarray:
    arr = np.asarray(torch.as_tensor(scores).detach().cpu(), dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def auroc(scores_in, scores_out) -> float:
    """Area under the ROC curve for telling OOD (positive) from in-distribution inputs.

    Higher score = more OOD. Computed as the Mann-Whitney U statistic with ties counted
    half: P(score_out > score_in) + 0.5 P(score_out = score_in), which equals the
    trapezoidal area under the ROC curve (scikit-learn's ``roc_auc_score``).

    Parameters
    ----------
    scores_in, scores_out : array-like or torch.Tensor
        Scores of the in-distribution and OOD inputs (any shape, flattened), finite.

    Returns
    -------
    float
        In [0, 1]; 0.5 for indistinguishable scores.
    """
    from scipy.stats import rankdata

    s_in, s_out = _scores("scores_in", scores_in), _scores("scores_out", scores_out)
    ranks = rankdata(np.concatenate([s_in, s_out]))  # average ranks: a tie counts half
    rank_sum_out = ranks[len(s_in) :].sum()
    u = rank_sum_out - len(s_out) * (len(s_out) + 1) / 2
    return float(u / (len(s_in) * len(s_out)))


def aupr(scores_in, scores_out) -> float:
    """Area under the precision-recall curve with OOD as the positive class (average precision).

    AP = sum_n (R_n - R_{n-1}) P_n over the thresholds at every distinct score, highest
    first, R_0 = 0 (scikit-learn's ``average_precision_score``: a step function, no
    interpolation). Tied scores enter together.

    Parameters
    ----------
    scores_in, scores_out : array-like or torch.Tensor
        Scores of the in-distribution and OOD inputs (higher = more OOD), finite.

    Returns
    -------
    float
        In [0, 1]; the OOD fraction for uninformative scores.
    """
    s_in, s_out = _scores("scores_in", scores_in), _scores("scores_out", scores_out)
    scores = np.concatenate([s_in, s_out])
    positive = np.concatenate([np.zeros(len(s_in)), np.ones(len(s_out))])
    order = np.argsort(-scores, kind="mergesort")
    scores, positive = scores[order], positive[order]
    # last index of each run of equal scores: a threshold takes the whole tie group
    last = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
    tp = np.cumsum(positive)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / len(s_out)
    recall_prev = np.r_[0.0, recall[:-1]]
    return float(((recall - recall_prev) * precision).sum())


def fpr_at_tpr(scores_in, scores_out, tpr: float = 0.95) -> float:
    """False-positive rate on in-distribution inputs when a fraction ``tpr`` of OOD is caught.

    The threshold t is the largest one with fraction(scores_out >= t) >= ``tpr`` (that is, the
    ceil(tpr * n_out)-th largest OOD score); the result is fraction(scores_in >= t). An input
    is flagged when its score is >= t.

    Parameters
    ----------
    scores_in, scores_out : array-like or torch.Tensor
        Scores of the in-distribution and OOD inputs (higher = more OOD), finite.
    tpr : float
        Required detection rate in (0, 1], default 0.95 (FPR@95TPR).

    Returns
    -------
    float
        In [0, 1].
    """
    s_in, s_out = _scores("scores_in", scores_in), _scores("scores_out", scores_out)
    if isinstance(tpr, bool) or not isinstance(tpr, numbers.Real):
        raise TypeError(f"tpr must be a real number in (0, 1], got {type(tpr).__name__}")
    if not 0.0 < tpr <= 1.0:
        raise ValueError(f"tpr must lie in (0, 1], got {tpr!r}")
    ordered = np.sort(s_out)[::-1]
    # number of OOD scores that must be >= t; the 1e-9 keeps float products such as
    # 0.07 * 100 = 7.000000000000001 from asking for 8 (7 / 100 >= 0.07 already holds)
    needed = max(1, math.ceil(tpr * len(ordered) - 1e-9))  # a TPR above 0 catches >= 1 input
    threshold = ordered[needed - 1]
    return float((s_in >= threshold).mean())


def ood_rule_statistic(
    probs: torch.Tensor, percentile: float = 10.0, interpolation: str = "linear"
) -> torch.Tensor:
    """The quantity Eq. 24 thresholds: max over classes of the ``percentile``-th percentile of
    the T softmax samples, per input (N,). Low = OOD; use its negative as an OOD score
    (e.g. for :func:`auroc`, to judge the rule at every threshold at once).
    """
    _check_probs("probs", probs, 3)
    check_choice("interpolation", interpolation, INTERPOLATIONS)
    if isinstance(percentile, bool) or not isinstance(percentile, numbers.Real):
        raise TypeError(f"percentile must be a real number, got {type(percentile).__name__}")
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"percentile must lie in [0, 100], got {percentile!r}")
    return _quantile_over_T(probs, [percentile / 100], interpolation)[0].max(dim=1).values


def ood_rule(
    probs: torch.Tensor,
    threshold: float = 0.95,
    percentile: float = 10.0,
    interpolation: str = "linear",
) -> torch.Tensor:
    """The paper's OOD rule (Eq. 24): flag an input if max_c percentile_T(p_c) < threshold.

    For each class, take the ``percentile``-th percentile of its T softmax samples; the input
    is OOD when even the best class's percentile stays below ``threshold``, i.e. the model
    is not confident in any class in at least (100 - percentile) % of the passes. The
    paper's wording (P:285-287) is muddled; this is how PAPER-NOTES reads it.

    Parameters
    ----------
    probs : torch.Tensor
        MC samples (T, N, C).
    threshold : float
        In [0, 1], the paper's 0.95.
    percentile : float
        In [0, 100], the paper's 10.
    interpolation : {"linear", "lower", "higher", "nearest", "midpoint"}
        As in :func:`percentile_ci`; at T = 20 "linear" and "lower" differ, and the paper
        does not say which it used.

    Returns
    -------
    torch.Tensor
        Bool (N,), True = flagged as OOD.
    """
    threshold = check_probability("threshold", threshold)
    return ood_rule_statistic(probs, percentile, interpolation) < threshold


def detection_rate(flags: torch.Tensor) -> float:
    """Fraction of inputs flagged, e.g. by :func:`ood_rule` on OOD (or in-distribution) data.

    Parameters
    ----------
    flags : torch.Tensor
        Bool (N,), or integers 0/1.
    """
    flags = torch.as_tensor(flags)
    check_tensor_dims("flags", flags, 1)
    if flags.numel() == 0:
        raise ValueError("flags must not be empty")
    if flags.dtype != torch.bool and not bool(((flags == 0) | (flags == 1)).all()):
        raise ValueError("flags must be booleans (or 0/1)")
    return float(flags.float().mean())
