"""Exact Monte-Carlo Scale-Dropout with shared prefixes (a prefix tree of masks).

Scale-Dropout's mask of layer l only chooses which scale multiplies layer l's binary output.
So the binary output of layer l depends on the masks of layers 1..l-1 alone, and passes that
drew the same masks so far share all the work up to there. With p = 0.1-0.2 most of T passes
share long prefixes.

The engine draws every pass's scales first, in the same order as T plain forward passes would
(pass by pass, layer by layer, from the same generators), then walks the prefix tree depth
first: each layer's binary convolution runs once per distinct prefix, on the whole batch, so
every call has the same shape as in the naive loop and the results are bit-for-bit those of
the naive loop. A pass's prefix key is the exact value of its scales, so the ``random``
variant's draw is part of the key.

Supported: ``nn.Sequential`` models built from the library's layers (digits nets, VGG-small,
LeNet-5) whose only randomness is layer-wise Scale-Dropout. Anything else (element-wise masks,
other dropout, residual blocks, unknown modules) is reported by :func:`prefix_support`, and
:func:`scaledrop_lib.uncertainty.mc_predict` then uses the naive loop.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from scaledrop_lib._checks import check_positive_int

# modules with no randomness and no state that changes in eval mode
_DETERMINISTIC = (
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
)


@dataclass
class _Stage:
    """One top-level module of the Sequential, classified."""

    module: nn.Module
    stochastic: bool
    dropout: nn.Module | None = None  # the ScaleDropout module of a stochastic stage


def _binary_layer_of(module: nn.Module) -> nn.Module | None:
    from scaledrop_lib.binary import BinaryConv2d, BinaryLinear
    from scaledrop_lib.models.units import ScaledBinaryUnit

    if isinstance(module, ScaledBinaryUnit):
        return module.layer
    if isinstance(module, (BinaryConv2d, BinaryLinear)):
        return module
    return None


def _classify(model: nn.Module) -> tuple[list[_Stage] | None, str]:
    from scaledrop_lib.binary import SignActivation, TanhActivation
    from scaledrop_lib.scaledrop import ScaleDropout, StochasticModule

    if not isinstance(model, nn.Sequential):
        return None, f"{type(model).__name__} is not an nn.Sequential (e.g. residual blocks)"
    stages: list[_Stage] = []
    for index, module in enumerate(model):
        layer = _binary_layer_of(module)
        if layer is not None:
            dropout = layer.scale_dropout
            if dropout is None or not layer.scale_enabled or dropout.p == 0.0:
                stages.append(_Stage(module, stochastic=False))
                continue
            if not isinstance(dropout, ScaleDropout):
                return None, f"module {index}: scale_dropout is not a ScaleDropout"
            if dropout.granularity != "layer":
                return None, f"module {index}: element-wise masks (2^C patterns per layer)"
            stages.append(_Stage(module, stochastic=True, dropout=dropout))
        elif isinstance(module, StochasticModule):
            if module.p > 0:
                return None, f"module {index}: {type(module).__name__} is not Scale-Dropout"
            stages.append(_Stage(module, stochastic=False))
        elif isinstance(module, (*_DETERMINISTIC, SignActivation, TanhActivation)):
            stages.append(_Stage(module, stochastic=False))
        else:
            return None, f"module {index}: cannot prove {type(module).__name__} deterministic"
    if not any(s.stochastic for s in stages):
        return None, "no layer-wise Scale-Dropout module to share work across passes"
    return stages, ""


def prefix_support(model: nn.Module) -> str:
    """Empty string if the prefix-shared engine can run ``model`` exactly, else the reason."""
    return _classify(model)[1]


def unproven_modules(model: nn.Module) -> bool:
    """True if the engine declines ``model`` because a module's behaviour is unknown to it.

    The other reasons (element-wise masks, other dropout types, residual blocks, no
    Scale-Dropout) are known limitations of the engine, for which the naive loop is simply the
    right tool; an unknown module deserves a warning.
    """
    reason = _classify(model)[1]
    return reason.startswith("module") and "cannot prove" in reason


@dataclass
class PrefixStats:
    """What one prefix-shared run computed.

    ``distinct_prefixes[l]`` is how many times stochastic layer l's binary output was computed
    (the distinct prefixes of the l earlier masks); ``leaves`` how many distinct complete mask
    vectors reached the output.
    """

    T: int
    distinct_prefixes: list[int]
    leaves: int = 0

    @property
    def naive_calls(self) -> int:
        return self.T * len(self.distinct_prefixes)

    @property
    def prefix_counts(self) -> list[int]:
        """Distinct prefixes of length 0 .. L (L stochastic layers): the tree's width by depth."""
        return [*self.distinct_prefixes, self.leaves]


def _post(module: nn.Module, z: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    from scaledrop_lib.models.units import ScaledBinaryUnit

    if isinstance(module, ScaledBinaryUnit):
        return module.from_binary_output(z, alpha)
    return module.apply_scale(z, alpha)


def prefix_shared_predict(
    model: nn.Sequential, inputs: torch.Tensor, T: int, logits: bool = False
) -> tuple[torch.Tensor, PrefixStats]:
    """Softmax samples (T, N, C) identical to T naive passes, plus work statistics.

    With ``logits=True`` the samples are the softmax inputs instead.

    The caller puts the model in eval mode with its dropout sampling (as
    :func:`scaledrop_lib.uncertainty.mc_predict` does). Raises ``ValueError`` with the reason
    if the model is not supported (see :func:`prefix_support`).
    """
    T = check_positive_int("T", T)
    stages, reason = _classify(model)
    if stages is None:
        raise ValueError(f"prefix-shared MC cannot run this model exactly: {reason}")
    stochastic = [s for s in stages if s.stochastic]
    # 1. every pass's scales, drawn in the naive order (pass by pass, layer by layer)
    alphas = [[s.dropout(_binary_layer_of(s.module).alpha) for s in stochastic] for _ in range(T)]
    keys = [[a.detach().cpu().numpy().tobytes() for a in row] for row in alphas]
    results: list[torch.Tensor | None] = [None] * T
    calls = [0] * len(stochastic)
    leaves = [0]

    # 2. depth-first walk of the prefix tree, at the batch size of the naive loop
    def walk(stage_index: int, layer_index: int, x: torch.Tensor, passes: Sequence[int]) -> None:
        while stage_index < len(stages) and not stages[stage_index].stochastic:
            x = stages[stage_index].module(x)
            stage_index += 1
        if stage_index == len(stages):
            probs = x if logits else torch.softmax(x, dim=-1)
            leaves[0] += 1
            for t in passes:
                results[t] = probs
            return
        stage = stages[stage_index]
        z = _binary_layer_of(stage.module).binary_output(x)
        calls[layer_index] += 1
        groups: dict[bytes, list[int]] = {}
        for t in passes:
            groups.setdefault(keys[t][layer_index], []).append(t)
        for members in groups.values():
            out = _post(stage.module, z, alphas[members[0]][layer_index])
            walk(stage_index + 1, layer_index + 1, out, members)

    walk(0, 0, inputs, list(range(T)))
    return torch.stack(results), PrefixStats(T, calls, leaves[0])


# ------------------------------------------------------------------ expected cost


def expected_distinct_prefixes(p_values: Sequence[float], T: int) -> list[float]:
    """E[number of distinct mask prefixes] before each layer, for T passes of unitary or
    average Scale-Dropout with per-layer drop probabilities ``p_values``.

    Entry l is the expected number of distinct (d_1..d_{l-1}) among T independent draws, i.e.
    how many times layer l's binary output is computed: sum over patterns of
    1 - (1 - P(pattern))^T. Exact enumeration up to 20 layers.
    """
    T = check_positive_int("T", T)
    if len(p_values) > 20:
        raise ValueError("exact enumeration supports up to 20 stochastic layers")
    expected = []
    for depth in range(len(p_values)):
        total = 0.0
        for pattern in itertools.product((0, 1), repeat=depth):
            prob = math.prod(p if d else 1 - p for p, d in zip(p_values, pattern, strict=False))
            total += 1.0 - (1.0 - prob) ** T
        expected.append(total)
    return expected


@dataclass(frozen=True)
class PrefixTree:
    """Nodes of the prefix tree of T mask vectors (for a plotly icicle or sunburst).

    Node ``i`` is the prefix ``labels[i]`` (e.g. "k.d" = kept, dropped), shared by
    ``counts[i]`` passes, with parent ``parents[i]`` ("" for the root).
    """

    ids: list[str]
    parents: list[str]
    labels: list[str]
    counts: list[int]

    def nodes_at_depth(self, depth: int) -> int:
        """Distinct prefixes of length ``depth`` (the root has depth 0)."""
        return sum(1 for i in self.ids if (i.count(".") if i != "all" else -1) == depth - 1)


def mask_prefix_tree(drops) -> PrefixTree:
    """The prefix tree of drop masks ``drops`` (T passes x L layers, truthy = dropped)."""
    rows = [tuple(bool(v) for v in row) for row in drops]
    if not rows or not rows[0]:
        raise ValueError("drops must be a non-empty T x L array")
    if len({len(r) for r in rows}) != 1:
        raise ValueError("every pass must have a mask for each layer")
    ids, parents, labels, counts = ["all"], [""], [f"T = {len(rows)}"], [len(rows)]
    for depth in range(1, len(rows[0]) + 1):
        prefixes: dict[tuple[bool, ...], int] = {}
        for row in rows:
            prefixes[row[:depth]] = prefixes.get(row[:depth], 0) + 1
        for prefix, count in sorted(prefixes.items()):
            node = ".".join("d" if v else "k" for v in prefix)
            ids.append(node)
            parents.append(".".join("d" if v else "k" for v in prefix[:-1]) or "all")
            labels.append(f"layer {depth}: {'dropped' if prefix[-1] else 'kept'}")
            counts.append(count)
    return PrefixTree(ids, parents, labels, counts)
