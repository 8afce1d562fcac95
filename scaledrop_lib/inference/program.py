"""A model as a chain of steps, and the backend that computes its binary layers.

The Monte-Carlo engines need to know, for every binary layer, which work comes *before* its
Scale-Dropout mask (the binary product ``z``, shared by every pass that drew the same earlier
masks) and which comes after (scale, BatchNorm, activation). A :class:`Program` is that
split: a chain of :class:`Step` objects, each with

``shared(runner, state)``
    the work before the step's mask (for a binary step: ``z``), computed once per distinct
    prefix of masks by the prefix engine;
``branch(runner, state, shared, alpha)``
    the rest, given the scale vector ``alpha`` this pass uses (``None``: the layer draws its
    own, exactly as its ``forward`` does).

Running the steps in order with ``alpha=None`` is the model's own forward pass, call for
call, so every random draw happens in the same order. Programs exist for ``nn.Sequential``
models of the library's layers (digits nets, VGG-small, LeNet-5, the 28x28 CNN) and for the
binary CIFAR ResNets (:class:`~scaledrop_lib.models.resnet.CifarResNet`: a residual block is
two steps, its state the pair (activation, block input) so the shortcut can be added).

A :class:`BinaryRunner` computes the binary products: with fp32 ``F.conv2d``/``F.linear``
(``backend="torch"``) or on packed bits (``backend="xnor"``,
:mod:`scaledrop_lib.inference.xnor`). ``backend="auto"`` (the default of the engines) packs a
layer when all of these hold, a fixed rule, never a timer:

* numba is installed (:func:`~scaledrop_lib.inference.xnor.xnor_available`) and the inputs
  are on the CPU;
* the layer is in eval mode and computes exact ±1 products: its input quantizer is the sign
  (:func:`~scaledrop_lib.layers.binary.binarize_ste`), its quantized weights are ±1, and it
  has no bias (a bias makes torch round partial sums; the packed result could differ in the
  last bit).

* it reads at least :data:`MIN_PACKED_CHANNELS` (16) input channels (features). Measured
  per layer (batch 256, 2 threads, ``benchmarks/xnor_layers.py --small-layers --threads 2``):
  the packed layer is 0.2-0.8x as fast as fp32 below 16 input channels (one word per tap
  mostly padding: 1, 3, 6 and 8 channels) and 1.6-2.7x faster from 16 up; on VGG-small's
  128-512-channel layers 4-7x (``benchmarks/xnor_layers.py --threads 2``).

``backend="xnor"`` drops the size rule (every exact layer is packed).

Where the layer after a run of sign-preserving modules (Hardtanh, max pooling) is packed,
those modules and the sign are fused into one step that packs straight from the floats
(:class:`FusedSignPack`): the BatchNorm step before it is torch's own, so the sign decisions
are the fp32 path's, zero included; max pooling becomes an OR of the bits.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from scaledrop_lib._checks import check_choice
from scaledrop_lib.inference import xnor
from scaledrop_lib.layers.binary import BinaryConv2d, BinaryLinear, SignActivation, binarize_ste
from scaledrop_lib.layers.dropout import ScaleDropout, StochasticModule
from scaledrop_lib.models.resnet import BasicBlock, CifarResNet
from scaledrop_lib.models.stages import (
    PrefixObstacle,
    Stage,
    classify_stage,
    output_from_binary,
)

BACKENDS = ("auto", "torch", "xnor")

#: ``backend="auto"`` packs a binary layer from this many input channels (features) on.
MIN_PACKED_CHANNELS = 16

# ------------------------------------------------------------------ the binary products


class BinaryRunner:
    """Computes binary layers' products, packed where the backend says so.

    Parameters
    ----------
    layers : iterable of BinaryConv2d or BinaryLinear
        The binary layers the program computes (in eval mode).
    backend : {"auto", "torch", "xnor"}
        See the module docstring. ``"auto"`` packs the exact layers with at least
        :data:`MIN_PACKED_CHANNELS` input channels, ``"xnor"`` every exact layer; where numba
        or CPU inputs are missing, or no layer can be packed, ``"xnor"`` falls back to torch
        with a warning that says why (``"auto"`` silently).
    device : torch.device
        Where the inputs will be (the packed kernels run on the CPU only).
    """

    def __init__(self, layers, backend: str = "auto", device=None) -> None:
        self.backend = check_choice("backend", backend, BACKENDS)
        self.packed: dict[int, xnor.PackedLayer] = {}
        self.reasons: dict[int, str] = {}
        if backend == "torch":
            return
        available, why = xnor.xnor_available()
        device = torch.device("cpu") if device is None else torch.device(device)
        if not available or device.type != "cpu":
            if backend == "xnor":
                reason = why if not available else f"the inputs are on {device}, not the CPU"
                warnings.warn(f"backend='xnor' not used, running fp32: {reason}", stacklevel=3)
            return
        for layer in layers:
            reason = packing_obstacle(layer, size_rule=backend == "auto")
            if reason is None:
                self.packed[id(layer)] = xnor.pack_layer(layer)
            else:
                self.reasons[id(layer)] = reason
        if backend == "xnor" and not self.packed:
            detail = "; ".join(sorted(set(self.reasons.values()))) or "the model has none"
            warnings.warn(f"backend='xnor': no binary layer can be packed ({detail})", stacklevel=3)

    @property
    def any_packed(self) -> bool:
        return bool(self.packed)

    def is_packed(self, layer: nn.Module | None) -> bool:
        return layer is not None and id(layer) in self.packed

    def binary_output(self, layer: BinaryConv2d | BinaryLinear, x, dtype: torch.dtype):
        """``layer.binary_output(x)``; ``x`` may already be packed signs (fused step)."""
        packed = self.packed.get(id(layer))
        if packed is None:
            return layer.binary_output(x)
        return xnor.packed_layer_product(layer, packed, x, dtype)


def packing_obstacle(layer: BinaryConv2d | BinaryLinear, size_rule: bool = False) -> str | None:
    """Why ``layer`` is not packed (``None``: it is): it cannot be packed exactly, or, with
    ``size_rule``, it has fewer than :data:`MIN_PACKED_CHANNELS` input channels."""
    if layer.training:
        return "the layer is in training mode"
    if layer.input_quantizer is not binarize_ste:
        return "its input quantizer is not the sign (e.g. SpinDrop's ±1/0 inputs)"
    if layer.bias is not None:
        return "it has a bias (torch's fused bias rounds partial sums)"
    with torch.no_grad():
        weight = layer.binary_weight()
    if not bool(((weight == 1) | (weight == -1)).all()):
        return "its quantized weights are not ±1"
    channels = layer.in_channels if isinstance(layer, BinaryConv2d) else layer.in_features
    if size_rule and channels < MIN_PACKED_CHANNELS:
        return f"{channels} input channels < {MIN_PACKED_CHANNELS} (fp32 is faster there)"
    return None


# ------------------------------------------------------------------ steps


@dataclass
class Step:
    """One link of the chain (see the module docstring).

    ``dropout`` is the layer-wise Scale-Dropout module the step samples (``None``: the step
    is deterministic given its input, or has an ``obstacle`` to prefix sharing); ``layer`` the
    binary layer whose scale it replaces.
    """

    name: str
    layer: BinaryConv2d | BinaryLinear | None = None
    dropout: ScaleDropout | None = None
    obstacle: PrefixObstacle | None = None

    @property
    def stochastic(self) -> bool:
        return self.dropout is not None

    def shared(self, runner: BinaryRunner, state: Any) -> Any:
        return None

    def branch(self, runner: BinaryRunner, state: Any, shared: Any, alpha) -> Any:
        raise NotImplementedError

    def run(self, runner: BinaryRunner, state: Any) -> Any:
        """The step as the model's forward pass computes it (the layer draws its own mask)."""
        return self.branch(runner, state, self.shared(runner, state), None)


@dataclass
class ModuleStep(Step):
    """A module run as it is (deterministic, or sampled by its own forward)."""

    module: nn.Module = field(default_factory=nn.Identity)

    def branch(self, runner, state, shared, alpha):
        return self.module(state)


@dataclass
class BinaryStep(Step):
    """A top-level binary layer or :class:`~scaledrop_lib.models.units.ScaledBinaryUnit`."""

    module: nn.Module = field(default_factory=nn.Identity)
    dtype: torch.dtype = torch.float32

    def shared(self, runner, state):
        return runner.binary_output(self.layer, state, self.dtype)

    def branch(self, runner, state, shared, alpha):
        return output_from_binary(self.module, shared, alpha)


@dataclass
class FusedSignPack(Step):
    """Sign-preserving modules (Hardtanh, Identity, sign, one max pooling with stride = size)
    and the next layer's sign, as one packing pass over the floats (see the module docstring).
    """

    pool: int = 1

    def branch(self, runner, state, shared, alpha):
        _refuse_too_small(state, self.pool)
        return xnor.pack_signs(state, pool=self.pool)


@dataclass
class PackedPool(Step):
    """A k x k max pooling (stride k) that does not feed a packed layer, run by the numba
    kernel where the backend packs (bit for bit torch's; see
    :func:`~scaledrop_lib.inference.xnor.max_pool`)."""

    module: nn.Module = field(default_factory=nn.Identity)
    pool: int = 2

    def branch(self, runner, state, shared, alpha):
        if isinstance(state, torch.Tensor) and state.dtype in (torch.float32, torch.float64):
            _refuse_too_small(state, self.pool)
            return xnor.max_pool(state, self.pool)
        return self.module(state)


def _refuse_too_small(state: torch.Tensor, pool: int) -> None:
    """Fail as the fp32 path does where a pooling window does not fit the input: torch's own
    error, which the public API turns into one naming the inputs (not the kernel's own)."""
    if pool > 1 and state.dim() == 4 and min(state.shape[-2:]) < pool:
        F.max_pool2d(state, pool)


@dataclass
class BlockFirst(Step):
    """The first binary conv of a residual block: state ``x`` -> (input of conv2, ``x``)."""

    block: BasicBlock | None = None
    dtype: torch.dtype = torch.float32

    def shared(self, runner, x):
        return runner.binary_output(self.block.conv1.layer, x, self.dtype)

    def branch(self, runner, x, z, alpha):
        out = output_from_binary(self.block.conv1, z, alpha)
        if runner.is_packed(self.block.conv2.layer):  # Hardtanh keeps the sign: pack directly
            return xnor.pack_signs(out), x
        return self.block.act(out), x


@dataclass
class BlockSecond(Step):
    """The second binary conv of a residual block, the shortcut and the activation."""

    block: BasicBlock | None = None
    dtype: torch.dtype = torch.float32

    def shared(self, runner, state):
        h, x = state
        # the shortcut depends on the block input alone: once per prefix, like z
        return runner.binary_output(self.block.conv2.layer, h, self.dtype), self.block.shortcut(x)

    def branch(self, runner, state, shared, alpha):
        z, skip = shared
        return self.block.act(output_from_binary(self.block.conv2, z, alpha) + skip)


# ------------------------------------------------------------------ programs


@dataclass(frozen=True)
class Program:
    """A model's chain of steps (see :func:`build_program`)."""

    steps: tuple[Step, ...]

    @property
    def obstacle(self) -> tuple[PrefixObstacle, Step] | None:
        """The first step the prefix engine cannot share exactly, with its obstacle."""
        for step in self.steps:
            if step.obstacle is not None:
                return step.obstacle, step
        return None

    @property
    def stochastic_steps(self) -> list[Step]:
        return [step for step in self.steps if step.stochastic]

    def binary_layers(self) -> list[BinaryConv2d | BinaryLinear]:
        return [step.layer for step in self.steps if step.layer is not None]

    def prefix_reason(self) -> str:
        """Why the prefix engine cannot run this program exactly ("" when it can)."""
        found = self.obstacle
        if found is not None:
            obstacle, step = found
            return f"{step.name}: {obstacle.value}"
        if not self.stochastic_steps:
            return PrefixObstacle.NO_SCALE_DROPOUT.value
        return ""

    def is_known_limitation(self) -> bool:
        found = self.obstacle
        return found is None or found[0].is_known_limitation

    def fuse(self, runner: BinaryRunner) -> Program:
        """This program with sign-preserving runs before packed layers fused into packing."""
        fused: list[Step] = []
        for step in self.steps:
            if isinstance(step, BinaryStep) and runner.is_packed(step.layer):
                run = _sign_preserving_tail(fused)
                if run is not None:
                    count, pool = run
                    names = ", ".join(s.name for s in fused[len(fused) - count :])
                    del fused[len(fused) - count :]
                    fused.append(FusedSignPack(f"{names} + sign (packed)", pool=pool))
            fused.append(step)
        if runner.any_packed:  # the remaining plain max poolings: the numba kernel
            fused = [_numba_pool(step) for step in fused]
        return Program(tuple(fused))

    def run(self, runner: BinaryRunner, x: torch.Tensor) -> torch.Tensor:
        """One forward pass, as ``model(x)`` computes it (same draws, same order)."""
        state: Any = x
        for step in self.steps:
            state = step.run(runner, state)
        return state


def _pool_size(module: nn.MaxPool2d) -> int | None:
    """k for a plain k x k max pooling with stride k (what the packing kernel pools)."""

    def single(value) -> int | None:
        if isinstance(value, int):
            return value
        if isinstance(value, tuple) and len(set(value)) == 1:
            return int(value[0])
        return None

    k, stride = single(module.kernel_size), single(module.stride)
    pad, dilation = single(module.padding), single(module.dilation)
    if k is None or stride != k or pad != 0 or dilation != 1 or module.ceil_mode:
        return None
    return k


def _numba_pool(step: Step) -> Step:
    """``step`` itself, or a :class:`PackedPool` for a plain max pooling left unfused."""
    if type(step) is ModuleStep and isinstance(step.module, nn.MaxPool2d):
        k = _pool_size(step.module)
        if k is not None and step.obstacle is None:
            return PackedPool(step.name, module=step.module, pool=k)
    return step


def _sign_preserving(module: nn.Module) -> bool:
    if isinstance(module, (nn.Identity, SignActivation)):
        return True
    # sign(hardtanh(v)) = sign(v) when the clip range straddles 0 (NaN stays NaN: -1 both ways)
    return isinstance(module, nn.Hardtanh) and module.min_val < 0 <= module.max_val


def _sign_preserving_tail(steps: list[Step]) -> tuple[int, int] | None:
    """(number of trailing ModuleSteps to fuse, pool size) or None when there are none."""
    count, pool = 0, 1
    for step in reversed(steps):
        if type(step) is not ModuleStep or step.obstacle is not None:
            break
        module = step.module
        if isinstance(module, nn.MaxPool2d) and pool == 1 and _pool_size(module):
            pool = _pool_size(module)
        elif not _sign_preserving(module):
            break
        count += 1
    return (count, pool) if count else None


def _model_dtype(model: nn.Module) -> torch.dtype:
    first = next(model.parameters(), None)
    return first.dtype if first is not None else torch.float32


def _stage_step(stage: Stage, name: str, dtype: torch.dtype) -> Step:
    if stage.binary_layer is not None:
        return BinaryStep(
            name, stage.binary_layer, stage.dropout, stage.obstacle, stage.module, dtype
        )
    return ModuleStep(name, obstacle=stage.obstacle, module=stage.module)


def _sequential_steps(model: nn.Sequential, prefix: str, dtype) -> Iterator[Step]:
    for index, module in enumerate(model):
        yield _stage_step(
            classify_stage(index, module), f"{prefix}{index} ({type(module).__name__})", dtype
        )


def _block_steps(block: BasicBlock, name: str, dtype) -> list[Step]:
    """Two steps for a binary block with no input dropout; else the block as one module."""
    convs = [classify_stage(0, block.conv1), classify_stage(1, block.conv2)]
    drops = [m for d in (block.drop1, block.drop2) for m in d.modules() if d is not m]
    binary = all(stage.binary_layer is not None for stage in convs)
    if not binary or drops or not isinstance(block.act, nn.Hardtanh):
        sampled = [m for m in block.modules() if isinstance(m, StochasticModule) and m.p > 0]
        sampled += [m for m in block.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
        obstacle = PrefixObstacle.OTHER_DROPOUT if sampled else None
        if binary and not sampled:
            obstacle = PrefixObstacle.UNKNOWN_MODULE
        return [ModuleStep(name, obstacle=obstacle, module=block)]
    first, second = convs
    return [
        BlockFirst(
            f"{name}.conv1", first.binary_layer, first.dropout, first.obstacle, block, dtype
        ),
        BlockSecond(
            f"{name}.conv2", second.binary_layer, second.dropout, second.obstacle, block, dtype
        ),
    ]


def build_program(model: nn.Module) -> Program | None:
    """The chain of steps of ``model``, or ``None`` for a model of another shape.

    Supported: ``nn.Sequential`` models (every top-level module a step, classified by
    :func:`~scaledrop_lib.models.stages.iter_stages`'s rules) and
    :class:`~scaledrop_lib.models.resnet.CifarResNet`.
    """
    dtype = _model_dtype(model)
    if isinstance(model, nn.Sequential):
        return Program(tuple(_sequential_steps(model, "module ", dtype)))
    if isinstance(model, CifarResNet):
        steps = list(_sequential_steps(model.stem, "stem.", dtype))
        for index, block in enumerate(model.blocks):
            steps += _block_steps(block, f"blocks.{index}", dtype)
        steps.append(ModuleStep("pool", module=model.pool))
        steps += _sequential_steps(model.head, "head.", dtype)
        return Program(tuple(steps))
    return None


def prefix_program(model: nn.Module) -> tuple[Program | None, str]:
    """The program of ``model`` and why the prefix engine cannot share it ("" if it can)."""
    program = build_program(model)
    if program is None:
        return None, PrefixObstacle.NO_PROGRAM.value
    return program, program.prefix_reason()
