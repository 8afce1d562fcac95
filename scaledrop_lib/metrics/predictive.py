"""The predictive distribution of T Monte-Carlo samples (Eq. 18-21) and its information measures.

Shapes: MC samples of softmax probabilities are (T, N, C): T passes, N inputs, C classes.
Everything here is pure: no model, no random numbers.
"""

from __future__ import annotations

import math

import torch

from scaledrop_lib._checks import (
    check_choice,
    check_tensor_dims,
)
from scaledrop_lib.metrics._validation import (
    INTERPOLATIONS,
    _check_level,
    _check_probs,
    _quantile_over_T,
)


def predictive_mean(probs: torch.Tensor) -> torch.Tensor:
    """Eq. 18: the mean of the T softmax samples, the MC prediction.

    Parameters
    ----------
    probs : torch.Tensor
        MC samples (T, N, C) of softmax probabilities.

    Returns
    -------
    torch.Tensor
        (N, C).
    """
    return _check_probs("probs", probs, 3).mean(dim=0)


def predictive_variance(probs: torch.Tensor) -> torch.Tensor:
    """Eq. 19: the variance of the T samples per input and class, dividing by T.

    The paper's estimator is the population variance (divide by T), not the unbiased one
    (T - 1) that ``torch.var`` uses by default; at T = 20 they differ by 5 %.

    Parameters
    ----------
    probs : torch.Tensor
        MC samples (T, N, C).

    Returns
    -------
    torch.Tensor
        (N, C); zero when T = 1.
    """
    return _check_probs("probs", probs, 3).var(dim=0, correction=0)


def normal_ci(probs: torch.Tensor, level: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 20: mean -/+ Q * sigma / sqrt(T), Q the standard-normal quantile (1.96 at 95 %).

    This is a confidence interval of the *mean* prediction (Eq. 18), not of a single pass: it
    shrinks as 1/sqrt(T), whereas the spread of the samples (Eq. 21, :func:`percentile_ci`)
    does not. The two answer different questions and need not agree.

    Parameters
    ----------
    probs : torch.Tensor
        MC samples (T, N, C) of probabilities; for logits use :func:`sample_mean_ci`.
    level : float
        Coverage in (0, 1); Q = ``scipy.stats.norm.ppf(0.5 + level / 2)``.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Lower and upper bounds, each (N, C). sigma is the square root of Eq. 19 (divide by
        T); the bounds are not clipped to [0, 1].
    """
    _check_probs("probs", probs, 3)
    return sample_mean_ci(probs, level)


def sample_mean_ci(samples: torch.Tensor, level: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 20 for any real-valued MC samples (T, N, C), e.g. the logits of Fig. 5.

    mean over T -/+ Q * sigma / sqrt(T), with sigma the population standard deviation
    (divide by T, as Eq. 19) and Q = ``scipy.stats.norm.ppf(0.5 + level / 2)``.
    """
    from scipy.stats import norm

    check_tensor_dims("samples", samples, 3)
    if not torch.is_floating_point(samples):
        raise TypeError(f"samples must be a floating-point tensor, got {samples.dtype}")
    if samples.numel() == 0 or not bool(torch.isfinite(samples).all()):
        raise ValueError("samples must be non-empty and finite")
    level = _check_level(level)
    q = float(norm.ppf(0.5 + level / 2))
    mean = samples.mean(dim=0)
    sigma = samples.var(dim=0, unbiased=False).sqrt()
    half = q * sigma / math.sqrt(samples.shape[0])
    return mean - half, mean + half


def percentile_ci(
    probs: torch.Tensor, level: float = 0.95, interpolation: str = "linear"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 21: the (100 - k)/2-th and (100 + k)/2-th percentiles of the T samples, k = 100 * level.

    The spread of the *samples* themselves (it does not shrink as T grows).

    Parameters
    ----------
    probs : torch.Tensor
        MC samples (T, N, C).
    level : float
        Coverage in (0, 1), e.g. 0.95 for the 2.5th and 97.5th percentiles.
    interpolation : {"linear", "lower", "higher", "nearest", "midpoint"}
        How a percentile between two order statistics is read, as ``torch.quantile``'s
        ``interpolation`` and numpy's ``method`` (same definitions). The paper does not say;
        at T = 20 "linear" and "lower" differ.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Lower and upper bounds, each (N, C).
    """
    level = _check_level(level)
    _check_probs("probs", probs, 3)
    check_choice("interpolation", interpolation, INTERPOLATIONS)
    bounds = _quantile_over_T(probs, [(1 - level) / 2, (1 + level) / 2], interpolation)
    return bounds[0], bounds[1]


def _entropy(p: torch.Tensor) -> torch.Tensor:
    # 0 * log 0 = 0: the where keeps log's -inf (and its NaN product) out of the sum
    return -(torch.where(p > 0, p * torch.log(p.clamp_min(1e-300)), torch.zeros_like(p))).sum(-1)


def predictive_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the predictive mean (Eq. 18), per input: the total uncertainty.

    H[p_bar] = -sum_c p_bar_c log p_bar_c, with 0 log 0 = 0; between 0 (one-hot) and log C
    (uniform).

    Parameters
    ----------
    probs : torch.Tensor
        MC samples (T, N, C).

    Returns
    -------
    torch.Tensor
        (N,).
    """
    return _entropy(predictive_mean(probs))


def expected_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Mean over the T passes of each pass's entropy (nats), per input: the aleatoric part.

    Parameters
    ----------
    probs : torch.Tensor
        MC samples (T, N, C).

    Returns
    -------
    torch.Tensor
        (N,).
    """
    return _entropy(_check_probs("probs", probs, 3)).mean(dim=0)


def mutual_information(probs: torch.Tensor) -> torch.Tensor:
    """Predictive entropy minus expected entropy (nats), per input: the epistemic part.

    Zero when all T passes agree; never negative in exact arithmetic (Jensen's inequality),
    so the tiny negatives that rounding leaves are clamped to 0.

    Parameters
    ----------
    probs : torch.Tensor
        MC samples (T, N, C).

    Returns
    -------
    torch.Tensor
        (N,).
    """
    return (predictive_entropy(probs) - expected_entropy(probs)).clamp_min(0.0)
