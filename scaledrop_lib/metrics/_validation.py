"""Input checks shared by the metrics: probability tensors, labels, levels, quantiles over T."""

from __future__ import annotations

import numbers

import torch

from scaledrop_lib._checks import (
    check_tensor_dims,
)

#: Interpolation methods of :func:`percentile_ci` and :func:`ood_rule` (numpy's / torch's names).
INTERPOLATIONS = ("linear", "lower", "higher", "nearest", "midpoint")


_PROB_TOL = 1e-6
#: How far a row of probabilities may sum from 1 (float32 softmax and means of many passes stay
#: within about 1e-6; a larger gap means the input is not a distribution over classes).
SIMPLEX_TOL = 1e-3


# torch.quantile refuses inputs above 2**24 elements in the torch versions pyproject allows
# (pytorch issue 64947); larger sample tensors are processed in chunks of inputs.
_QUANTILE_MAX_ELEMENTS = 2**24


def _check_probs(name: str, probs: torch.Tensor, ndim: int) -> torch.Tensor:
    """Raise unless ``probs`` is a non-empty float tensor of ``ndim`` dims whose last dimension
    holds probability distributions (values in [0, 1], rows summing to 1 within SIMPLEX_TOL)."""
    check_tensor_dims(name, probs, ndim)
    if not torch.is_floating_point(probs):
        raise TypeError(f"{name} must be a floating-point tensor, got {probs.dtype}")
    if probs.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(probs.shape)}")
    if not bool(torch.isfinite(probs).all()):
        raise ValueError(f"{name} must be finite (it holds NaN or inf)")
    low, high = float(probs.min()), float(probs.max())
    if low < -_PROB_TOL or high > 1 + _PROB_TOL:
        raise ValueError(f"{name} must hold probabilities in [0, 1], got values in [{low}, {high}]")
    gap = float((probs.double().sum(dim=-1) - 1.0).abs().max())
    if gap > SIMPLEX_TOL:
        raise ValueError(
            f"{name} must hold a distribution over the classes in its last dimension (rows "
            f"summing to 1 within {SIMPLEX_TOL}); a row is {gap:.3g} off (logits? an unnormalised "
            "score?)"
        )
    return probs


def _check_labels(labels: torch.Tensor, probs_mean: torch.Tensor) -> torch.Tensor:
    """Labels as int64 on the device of ``probs_mean``: 1-D, one per row, each in [0, C)."""
    labels = torch.as_tensor(labels)
    check_tensor_dims("labels", labels, 1)
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"labels must be integer class indices, got {labels.dtype}")
    n, n_classes = probs_mean.shape
    if labels.shape[0] != n:
        raise ValueError(f"labels must have {n} entries (one per input), got {labels.shape[0]}")
    if bool(((labels < 0) | (labels >= n_classes)).any()):
        raise ValueError(f"labels must lie in [0, {n_classes - 1}] (C = {n_classes} classes)")
    return labels.long().to(probs_mean.device)


def _check_level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, numbers.Real):
        raise TypeError(f"level must be a real number in (0, 1), got {type(level).__name__}")
    if not 0.0 < float(level) < 1.0:  # also rejects NaN
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    return float(level)


def _quantile_over_T(probs: torch.Tensor, qs: list[float], interpolation: str) -> torch.Tensor:
    """Quantiles ``qs`` (in [0, 1]) of the T samples of every (input, class): (len(qs), N, C)."""
    q = torch.tensor(qs, dtype=probs.dtype, device=probs.device)
    T, N, C = probs.shape
    chunk = max(1, _QUANTILE_MAX_ELEMENTS // (T * C))  # inputs per torch.quantile call
    parts = [
        torch.quantile(probs[:, i : i + chunk], q, dim=0, interpolation=interpolation)
        for i in range(0, N, chunk)
    ]
    return torch.cat(parts, dim=1)
