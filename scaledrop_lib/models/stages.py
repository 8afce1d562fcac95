"""A model's top-level stages, classified once for every tool that walks them.

The prefix-shared MC engine (:mod:`scaledrop_lib.inference.prefix`), its cost model
(:mod:`scaledrop_lib.inference.cost`) and the CIM mapping (:mod:`scaledrop_lib.hardware.cim`)
all need to know which module computes a binary layer and which carries a layer-wise
Scale-Dropout mask. :func:`iter_stages` answers once, with a :class:`PrefixObstacle` (an
enum, not a message to parse) wherever the prefix engine cannot prove a stage exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

import torch
from torch import nn

from scaledrop_lib.layers.binary import BinaryConv2d, BinaryLinear, SignActivation, TanhActivation
from scaledrop_lib.layers.dropout import ScaleDropout, StochasticModule
from scaledrop_lib.models.units import ScaledBinaryUnit

#: Modules with no randomness and no state that changes in eval mode.
DETERMINISTIC_MODULES: tuple[type[nn.Module], ...] = (
    nn.Conv2d,
    nn.Linear,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.Hardtanh,
    nn.ReLU,
    nn.Tanh,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.Flatten,
    nn.Identity,
    SignActivation,
    TanhActivation,
)


class PrefixObstacle(Enum):
    """Why the prefix-shared engine cannot run a model exactly (the naive loop then does)."""

    NOT_SEQUENTIAL = "is not an nn.Sequential (the cost model and exact enumeration need a chain)"
    NO_PROGRAM = "is neither an nn.Sequential nor a CifarResNet (no chain of steps)"
    NOT_SCALE_DROPOUT = "scale_dropout is not a ScaleDropout"
    ELEMENT_MASKS = "element-wise masks (2^C patterns per layer)"
    OTHER_DROPOUT = "is dropout other than Scale-Dropout"
    UNKNOWN_MODULE = "cannot prove the module deterministic"
    NO_SCALE_DROPOUT = "no layer-wise Scale-Dropout module to share work across passes"

    @property
    def is_known_limitation(self) -> bool:
        """True for limits of the engine by design; False for a module it does not know (which
        deserves a warning: it may be deterministic, but the engine cannot prove it)."""
        return self is not PrefixObstacle.UNKNOWN_MODULE


def binary_layer_of(module: nn.Module) -> BinaryConv2d | BinaryLinear | None:
    """The binary conv/linear layer ``module`` computes (itself, or a unit's layer), or None."""
    if isinstance(module, ScaledBinaryUnit):
        return module.layer
    if isinstance(module, (BinaryConv2d, BinaryLinear)):
        return module
    return None


def output_from_binary(
    module: nn.Module, z: torch.Tensor, alpha: torch.Tensor | None = None
) -> torch.Tensor:
    """What ``module`` (a binary layer or a :class:`ScaledBinaryUnit`) outputs when its binary
    layer produced ``z`` and its scale is ``alpha``: the scale (and, for a unit, BatchNorm and
    shift) applied. Lets the MC engines compute ``z`` once for many scales.

    ``alpha=None`` is the module's own forward: the layer's scale after its Scale-Dropout
    (drawn here), nothing when the scale is disabled.
    """
    if isinstance(module, ScaledBinaryUnit):
        return module.from_binary_output(z, alpha)
    if alpha is None:
        if not module.scale_enabled:
            return z
        alpha = module.effective_alpha()
    return module.apply_scale(z, alpha)


@dataclass(frozen=True)
class Stage:
    """One top-level module of an ``nn.Sequential``, classified.

    Attributes
    ----------
    index : int
        Position in the Sequential.
    module : nn.Module
        The module itself.
    binary_layer : BinaryConv2d or BinaryLinear or None
        The binary layer the stage computes (see :func:`binary_layer_of`).
    dropout : ScaleDropout or None
        The layer-wise Scale-Dropout mask the stage samples (``None``: the stage is
        deterministic in eval mode, or has an obstacle).
    obstacle : PrefixObstacle or None
        Why the prefix engine cannot treat this stage exactly, if it cannot.
    """

    index: int
    module: nn.Module
    binary_layer: BinaryConv2d | BinaryLinear | None
    dropout: ScaleDropout | None = None
    obstacle: PrefixObstacle | None = None

    @property
    def stochastic(self) -> bool:
        """Whether the stage draws a layer-wise Scale-Dropout mask."""
        return self.dropout is not None


def classify_stage(index: int, module: nn.Module) -> Stage:
    """``module`` at position ``index`` of a chain, classified (see :class:`Stage`)."""
    layer = binary_layer_of(module)
    if layer is not None:
        dropout = layer.scale_dropout
        if dropout is None or not layer.scale_enabled or dropout.p == 0.0:
            return Stage(index, module, layer)
        if not isinstance(dropout, ScaleDropout):
            return Stage(index, module, layer, obstacle=PrefixObstacle.NOT_SCALE_DROPOUT)
        if dropout.granularity != "layer":
            return Stage(index, module, layer, obstacle=PrefixObstacle.ELEMENT_MASKS)
        return Stage(index, module, layer, dropout=dropout)
    if isinstance(module, StochasticModule):
        obstacle = PrefixObstacle.OTHER_DROPOUT if module.p > 0 else None
        return Stage(index, module, None, obstacle=obstacle)
    if isinstance(module, DETERMINISTIC_MODULES):
        return Stage(index, module, None)
    return Stage(index, module, None, obstacle=PrefixObstacle.UNKNOWN_MODULE)


def iter_stages(model: nn.Sequential) -> Iterator[Stage]:
    """Every top-level module of ``model``, classified (see :class:`Stage`).

    Raises
    ------
    TypeError
        If ``model`` is not an ``nn.Sequential`` (its stages are not a chain).
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential, got {type(model).__name__}")
    for index, module in enumerate(model):
        yield classify_stage(index, module)


@dataclass(frozen=True)
class PrefixSupport:
    """Whether the prefix-shared engine runs a model exactly, and if not, why.

    ``bool(support)`` is True when supported; ``str(support)`` is the reason ("" if none).
    """

    stages: tuple[Stage, ...]
    obstacle: PrefixObstacle | None = None
    where: int | None = None  # index of the stage with the obstacle, if one has it

    @property
    def supported(self) -> bool:
        return self.obstacle is None

    def __bool__(self) -> bool:
        return self.supported

    def __str__(self) -> str:
        if self.obstacle is None:
            return ""
        if self.where is None:
            return self.obstacle.value
        name = type(self.stages[self.where].module).__name__
        return f"module {self.where} ({name}): {self.obstacle.value}"


def prefix_support(model: nn.Module) -> PrefixSupport:
    """Can the prefix-shared engine run ``model`` exactly? (see :class:`PrefixSupport`)"""
    if not isinstance(model, nn.Sequential):
        return PrefixSupport((), PrefixObstacle.NOT_SEQUENTIAL)
    stages = tuple(iter_stages(model))
    for stage in stages:
        if stage.obstacle is not None:
            return PrefixSupport(stages, stage.obstacle, stage.index)
    if not any(stage.stochastic for stage in stages):
        return PrefixSupport(stages, PrefixObstacle.NO_SCALE_DROPOUT)
    return PrefixSupport(stages)
