"""Scores of one prediction per input (N, C) against labels: accuracy, NLL, Brier."""

from __future__ import annotations

import torch

from scaledrop_lib.metrics._validation import _check_labels, _check_probs


def accuracy(probs_mean: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of inputs whose most probable class (first one on ties) is the label.

    Parameters
    ----------
    probs_mean : torch.Tensor
        One prediction per input (N, C), e.g. :func:`predictive_mean`.
    labels : torch.Tensor
        Integer class indices (N,).
    """
    _check_probs("probs_mean", probs_mean, 2)
    labels = _check_labels(labels, probs_mean)
    return float((probs_mean.argmax(dim=1) == labels).float().mean())


def negative_log_likelihood(probs_mean: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over inputs of -log p(label), in nats.

    The probability of the label is clamped at 1e-12 so a confident mistake costs
    -log(1e-12) ~ 27.6 instead of infinity.

    Parameters
    ----------
    probs_mean : torch.Tensor
        One prediction per input (N, C).
    labels : torch.Tensor
        Integer class indices (N,).
    """
    _check_probs("probs_mean", probs_mean, 2)
    labels = _check_labels(labels, probs_mean)
    picked = probs_mean.gather(1, labels[:, None]).squeeze(1)
    return float(-torch.log(picked.clamp_min(1e-12)).mean())


def brier_score(probs_mean: torch.Tensor, labels: torch.Tensor) -> float:
    """Multi-class Brier score: mean over inputs of sum_c (p_c - onehot_c)^2, in [0, 2].

    This is the sum over all C classes (Brier's original definition). For two classes it is
    twice scikit-learn's ``brier_score_loss``, which scores only the positive class.

    Parameters
    ----------
    probs_mean : torch.Tensor
        One prediction per input (N, C).
    labels : torch.Tensor
        Integer class indices (N,).
    """
    _check_probs("probs_mean", probs_mean, 2)
    labels = _check_labels(labels, probs_mean)
    onehot = torch.nn.functional.one_hot(labels, probs_mean.shape[1]).to(probs_mean.dtype)
    return float(((probs_mean - onehot) ** 2).sum(dim=1).mean())
