"""Input validation shared by the public API: every error names the offending argument."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch


def check_probability(name: str, value: float) -> float:
    """Return ``value`` as a float if it is a probability in [0, 1], else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1], got {type(value).__name__}")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return value


def check_positive_int(name: str, value: int, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer >= ``minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_fraction_split(name: str, fractions: Sequence[float]) -> tuple[float, ...]:
    """Validate split fractions: each in (0, 1) and summing to 1."""
    values = tuple(float(f) for f in fractions)
    if any(not 0.0 < f < 1.0 for f in values):
        raise ValueError(f"{name} must hold fractions strictly between 0 and 1, got {values}")
    if abs(sum(values) - 1.0) > 1e-9:
        raise ValueError(f"{name} must sum to 1, got {sum(values)!r}")
    return values


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(repr, choices))}")
    return value


def check_tensor_dims(name: str, tensor: torch.Tensor, ndim: int | Sequence[int]) -> torch.Tensor:
    """Raise if ``tensor`` is not a torch tensor with the expected number of dimensions."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if tensor.dim() not in allowed:
        raise ValueError(
            f"{name} must have {' or '.join(map(str, allowed))} dimensions, "
            f"got shape {tuple(tensor.shape)}"
        )
    return tensor


def check_images(name: str, images: torch.Tensor) -> torch.Tensor:
    """Return ``images`` if it is a floating-point tensor (N, C, H, W), else raise.

    TypeError for something that is not a float tensor, ValueError for the wrong shape: the
    same input gets the same error everywhere in the library.
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (N, C, H, W), got {type(images).__name__}")
    check_tensor_dims(name, images, 4)
    if not images.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (N, C, H, W), got {images.dtype}")
    return images
