"""The analytic cost of prefix-shared Monte-Carlo inference (:mod:`scaledrop_lib.inference.prefix`).

One deterministic pass costs the sum of its modules' FLOPs. The prefix engine runs every
module once per distinct prefix of the masks drawn before it (a binary layer's convolution
once per prefix of the *earlier* masks; its BatchNorm, scale and shift once per prefix that
includes its own mask), so its expected cost is each module's FLOPs times the expected number
of distinct prefixes at that point
(:func:`scaledrop_lib.inference.prefix.expected_distinct_prefixes`).
:func:`expected_cost_ratio` divides the two: the speed-up to expect if time followed FLOPs.

FLOP conventions: 2 per multiply-accumulate of a convolution or linear layer, 2 per element for
BatchNorm in eval mode (one multiply, one add), 1 per element for a bias, the scale, the shift,
each activation and the sign of a binary layer's input, and 1 per input element of a pooling
layer.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from scaledrop_lib._checks import (
    check_inputs_fit,
    check_positive_int,
    check_probability,
    shape_errors_name_inputs,
)
from scaledrop_lib.inference.prefix import expected_distinct_prefixes
from scaledrop_lib.layers.binary import SignActivation, TanhActivation
from scaledrop_lib.layers.sampling import sampling
from scaledrop_lib.models.stages import binary_layer_of, prefix_support
from scaledrop_lib.models.units import ScaledBinaryUnit

_ELEMENTWISE = (nn.Hardtanh, nn.ReLU, nn.Tanh)
_POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)
_FREE = (nn.Flatten, nn.Identity)


@dataclass(frozen=True)
class StageCost:
    """FLOPs of one top-level module of an ``nn.Sequential`` for one batch.

    Attributes
    ----------
    name : str
        The module's class name.
    stochastic : bool
        Whether the module carries a layer-wise Scale-Dropout mask the prefix engine branches on.
    shared_flops : float
        Work that depends only on earlier masks: run once per distinct prefix of them (the whole
        module if it is not stochastic; the binary convolution or product if it is).
    branch_flops : float
        Work after this module's own mask (BatchNorm, scale, shift of a stochastic unit): run
        once per distinct prefix including it. Zero for a non-stochastic module.
    matmul_flops : float
        The convolution / matrix-product part of ``shared_flops`` (2 per multiply-accumulate).
    """

    name: str
    stochastic: bool
    shared_flops: float
    branch_flops: float
    matmul_flops: float

    @property
    def flops(self) -> float:
        """FLOPs of the module in one deterministic pass."""
        return self.shared_flops + self.branch_flops


def _product_flops(layer: nn.Module, out: torch.Tensor) -> float:
    """2 x multiply-accumulates of a conv / linear layer (plain or binary)."""
    if hasattr(layer, "in_channels"):
        k = layer.kernel_size
        kh, kw = (k, k) if isinstance(k, int) else k
        return 2.0 * out.numel() * (layer.in_channels // getattr(layer, "groups", 1)) * kh * kw
    return 2.0 * out.numel() * layer.in_features


def _unit_costs(module: nn.Module, inputs: torch.Tensor, out: torch.Tensor, stochastic: bool):

    layer = binary_layer_of(module)
    n_out = float(out.numel())
    matmul = _product_flops(layer, out)
    shared = matmul + (inputs.numel() if layer.binarize_input else 0.0)
    shared += n_out if layer.bias is not None else 0.0
    after = n_out if layer.scale_enabled else 0.0  # the scale alpha (Eq. 8)
    if isinstance(module, ScaledBinaryUnit):
        after += 2 * n_out  # BatchNorm
        after += n_out if module.shift is not None else 0.0
    if not stochastic:
        return shared + after, 0.0, matmul
    return shared, after, matmul


def stage_costs(model: nn.Sequential, inputs: torch.Tensor) -> list[StageCost]:
    """FLOPs of every top-level module of ``model`` on the batch ``inputs``.

    Parameters
    ----------
    model : nn.Sequential
        A model the prefix engine supports (see
        :func:`scaledrop_lib.models.stages.prefix_support`).
    inputs : torch.Tensor
        One batch; the model runs once on it in eval mode without sampling masks (its
        training flag, BatchNorm statistics and dropout generators are left as they were).

    Raises
    ------
    ValueError
        If the prefix engine does not support ``model`` (the reason is in the message).
    """

    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    if inputs.dim() == 0 or inputs.shape[0] == 0:
        raise ValueError(f"inputs must be a non-empty batch (N, ...), got {tuple(inputs.shape)}")
    check_inputs_fit(model, inputs)
    support = prefix_support(model)
    if not support:
        raise ValueError(f"no prefix-engine cost model for this model: {support}")
    stages = support.stages
    for index, stage in enumerate(stages):
        if stage.stochastic and stage.dropout.variant == "random":
            # every dropped draw is a fresh random value, so prefixes are not shared the way
            # expected_distinct_prefixes counts them
            raise ValueError(
                f"module {index}: the cost model covers the unitary and average variants, "
                "not 'random'"
            )
    costs: list[StageCost] = []

    def record(stage, x: torch.Tensor, out: torch.Tensor) -> None:
        module, name = stage.module, type(stage.module).__name__
        n_in, n_out = float(x.numel()), float(out.numel())
        if stage.binary_layer is not None:
            costs.append(
                StageCost(name, stage.stochastic, *_unit_costs(module, x, out, stage.stochastic))
            )
        elif isinstance(module, (nn.Conv2d, nn.Linear)):
            matmul = _product_flops(module, out)
            bias = n_out if module.bias is not None else 0.0
            costs.append(StageCost(name, False, matmul + bias, 0.0, matmul))
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            costs.append(StageCost(name, False, 2 * n_out, 0.0, 0.0))
        elif isinstance(module, _POOLS):
            costs.append(StageCost(name, False, n_in, 0.0, 0.0))
        elif isinstance(module, (*_ELEMENTWISE, SignActivation, TanhActivation)):
            costs.append(StageCost(name, False, n_out, 0.0, 0.0))
        else:  # Flatten, Identity, dropout modules with p = 0
            costs.append(StageCost(name, False, 0.0, 0.0, 0.0))

    x = inputs
    # eval mode without sampling: BatchNorm statistics and dropout generators stay untouched
    with sampling(model, mc=False), torch.no_grad(), shape_errors_name_inputs(inputs):
        for stage in stages:
            out = stage.module(x)
            record(stage, x, out)
            x = out
    return costs


def _p_per_layer(p: float | Sequence[float], n_stochastic: int) -> list[float]:
    if isinstance(p, numbers.Real) and not isinstance(p, bool):
        return [check_probability("p", p)] * n_stochastic
    values = [check_probability(f"p[{i}]", v) for i, v in enumerate(p)]
    if len(values) != n_stochastic:
        raise ValueError(
            f"p must be one probability or one per stochastic layer ({n_stochastic}), "
            f"got {len(values)}"
        )
    return values


def _runs_from_counts(
    stages: Sequence[StageCost], counts: Sequence[float]
) -> list[tuple[float, float]]:
    """(runs of shared work, runs of branch work) per stage, given the number of distinct
    prefixes of each length 0 .. n_stochastic."""
    n_stochastic = sum(s.stochastic for s in stages)
    if len(counts) != n_stochastic + 1:
        raise ValueError(
            f"prefix_counts must have one entry per prefix length 0..{n_stochastic} "
            f"({n_stochastic + 1} entries), got {len(counts)}"
        )
    runs, seen = [], 0
    for stage in stages:
        after = counts[seen + 1] if stage.stochastic else counts[seen]
        runs.append((float(counts[seen]), float(after)))
        seen += stage.stochastic
    return runs


def expected_runs(
    stages: Sequence[StageCost], p: float | Sequence[float], T: int
) -> list[tuple[float, float]]:
    """(expected runs of ``shared_flops``, of ``branch_flops``) for every stage.

    A stage after k stochastic layers runs its shared work once per distinct prefix of k masks;
    a stochastic stage's branch work once per distinct prefix of k + 1 masks.
    """
    T = check_positive_int("T", T)
    n_stochastic = sum(s.stochastic for s in stages)
    probs = _p_per_layer(p, n_stochastic)
    distinct = expected_distinct_prefixes([*probs, 0.0], T)  # entries 0 .. n_stochastic
    return _runs_from_counts(stages, distinct)


def _check_weights(stages: list[StageCost], weights: Sequence[float] | None) -> list[float]:
    if not stages:
        raise ValueError("stages must not be empty")
    if weights is None:
        return [s.flops for s in stages]
    weights = [float(w) for w in weights]
    if len(weights) != len(stages):
        raise ValueError(
            f"weights must have one entry per stage ({len(stages)}), got {len(weights)}"
        )
    if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    return weights


def _ratio(stages, runs, weights) -> float:
    total = 0.0
    for stage, (shared_runs, branch_runs), weight in zip(stages, runs, weights, strict=True):
        share = stage.shared_flops / stage.flops if stage.flops > 0 else 1.0
        total += weight * (share * shared_runs + (1 - share) * branch_runs)
    return total / sum(weights)


def expected_cost_ratio(
    stages: Sequence[StageCost],
    p: float | Sequence[float],
    T: int,
    weights: Sequence[float] | None = None,
) -> float:
    """Expected prefix-engine cost / cost of one deterministic pass.

    Parameters
    ----------
    stages : sequence of StageCost
        From :func:`stage_costs`.
    p : float or sequence of float
        Drop probability of every stochastic layer, or one per stochastic layer.
    T : int
        Monte-Carlo passes.
    weights : sequence of float, optional
        A cost per stage to use instead of its FLOPs (e.g. measured times); a stochastic stage's
        weight is split between its shared and branch work in proportion to their FLOPs.
    """
    stages = list(stages)
    weights = _check_weights(stages, weights)
    return _ratio(stages, expected_runs(stages, p, T), weights)


def realized_cost_ratio(
    stages: Sequence[StageCost],
    prefix_counts: Sequence[int],
    weights: Sequence[float] | None = None,
) -> float:
    """Cost of one prefix-engine run / cost of one deterministic pass, for the masks it drew.

    ``prefix_counts`` is :attr:`scaledrop_lib.inference.prefix.PrefixStats.prefix_counts` of
    that run: the number of distinct mask prefixes of each length 0 .. L. Comparing a run's time
    with this removes the draw-to-draw spread of the tree from a benchmark.
    """
    stages = list(stages)
    weights = _check_weights(stages, weights)
    if any(c < 1 for c in prefix_counts):
        raise ValueError(f"prefix_counts must be positive, got {list(prefix_counts)}")
    return _ratio(stages, _runs_from_counts(stages, prefix_counts), weights)
