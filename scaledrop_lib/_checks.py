"""Input validation shared by the public API: every error names the offending argument."""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator, Sequence

import torch
from torch import nn


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


def check_batch(inputs: torch.Tensor) -> torch.Tensor:
    """Return ``inputs`` if it is a non-empty, finite, floating-point batch (N, ...), else raise
    (``TypeError``/``ValueError`` naming ``inputs``; non-finite rows are listed)."""
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    if inputs.dim() == 0 or inputs.shape[0] == 0:
        raise ValueError(f"inputs must be a non-empty batch (N, ...), got {tuple(inputs.shape)}")
    if not torch.is_floating_point(inputs):
        raise TypeError(f"inputs must be a floating-point tensor, got {inputs.dtype}")
    bad = ~torch.isfinite(inputs).reshape(len(inputs), -1).all(dim=1)
    if bool(bad.any()):
        rows = bad.nonzero().flatten()[:5].tolist()
        # a NaN image would otherwise pass through sign() as -1 and come out confident
        raise ValueError(f"inputs must be finite; inputs {rows} hold NaN or inf")
    return inputs


def _first_weight_layer(model: nn.Module) -> nn.Module | None:
    """The first convolution or linear layer in registration order, if it is the model's first
    module with parameters (only then does it see the raw inputs)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            return module
        if any(True for _ in module.parameters(recurse=False)):
            return None  # e.g. a BatchNorm first: the inputs' layout is not the conv's to say
    return None


def check_inputs_fit(model: nn.Module, inputs: torch.Tensor) -> None:
    """Check ``inputs`` against what ``model`` exposes, before running it.

    The dtype must be the model's parameter dtype; when the model's first layer with
    parameters is a convolution, the inputs must have its rank (N, C, ...) and channels; when
    it is a linear layer behind a flatten, the features of one input must match.
    Raises ``TypeError``/``ValueError`` naming ``inputs``.
    """
    first = next(model.parameters(), None)
    if first is not None and first.is_floating_point() and inputs.dtype != first.dtype:
        raise TypeError(
            f"inputs are {inputs.dtype} but the model's parameters are {first.dtype}; "
            f"convert them (e.g. inputs.to({first.dtype}))"
        )
    layer = _first_weight_layer(model)
    if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        rank = 3 if isinstance(layer, nn.Conv1d) else 4 if isinstance(layer, nn.Conv2d) else 5
        if inputs.dim() != rank:
            raise ValueError(
                f"inputs must have {rank} dimensions (N, C, ...) for the model's first "
                f"convolution, got shape {tuple(inputs.shape)}"
            )
        if inputs.shape[1] != layer.in_channels:
            raise ValueError(
                f"inputs have {inputs.shape[1]} channels but the model's first convolution "
                f"expects {layer.in_channels} (shape {tuple(inputs.shape)})"
            )
    elif isinstance(layer, nn.Linear) and any(isinstance(m, nn.Flatten) for m in model.modules()):
        features = inputs[0].numel()
        if features != layer.in_features:
            raise ValueError(
                f"one input holds {features} values (shape {tuple(inputs.shape[1:])}) but the "
                f"model's first linear layer expects {layer.in_features}"
            )


#: Phrases of torch's own shape errors, which a model raises deep inside for a wrong input.
_SHAPE_ERRORS = ("shape", "size", "channels", "dimension", "expected input", "mat1 and mat2")


@contextlib.contextmanager
def shape_errors_name_inputs(x: torch.Tensor) -> Iterator[None]:
    """Re-raise torch's shape errors inside the block as a ValueError naming the inputs' shape
    (the original error is chained): a wrong input should not fail deep inside torch."""
    try:
        yield
    except RuntimeError as error:
        if any(phrase in str(error) for phrase in _SHAPE_ERRORS):
            raise ValueError(
                f"the model cannot take inputs of shape {tuple(x.shape)}: {error}"
            ) from error
        raise
