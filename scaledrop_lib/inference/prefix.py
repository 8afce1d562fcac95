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
other dropout, residual blocks, unknown modules) is reported by
:func:`~scaledrop_lib.models.stages.prefix_support` with a
:class:`~scaledrop_lib.models.stages.PrefixObstacle`, and
:func:`scaledrop_lib.inference.mc.mc_predict` then uses the naive loop.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from scaledrop_lib._checks import check_positive_int, check_probability
from scaledrop_lib.inference.budget import check_budget, check_sample_memory
from scaledrop_lib.models.stages import output_from_binary, prefix_support


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


def prefix_shared_predict(
    model: nn.Sequential, inputs: torch.Tensor, T: int, logits: bool = False
) -> tuple[torch.Tensor, PrefixStats]:
    """Softmax samples (T, N, C) identical to T naive passes, plus work statistics.

    With ``logits=True`` the samples are the softmax inputs instead.

    The caller puts the model in eval mode with its dropout sampling (as
    :func:`scaledrop_lib.inference.mc.mc_predict` does). Raises ``ValueError`` with the reason
    if the model is not supported (see
    :func:`~scaledrop_lib.models.stages.prefix_support`).
    """
    T = check_positive_int("T", T)
    support = prefix_support(model)
    if not support:
        raise ValueError(f"prefix-shared MC cannot run this model exactly: {support}")
    stages = support.stages
    stochastic = [s for s in stages if s.stochastic]
    # the T drawn scale vectors (plus Python's per-tensor overhead) come first: bound them too
    per_pass = sum(4 * s.binary_layer.alpha.numel() + 128 for s in stochastic)
    check_budget(T * per_pass, f"the scales of T = {T:,} passes")
    # 1. every pass's scales, drawn in the naive order (pass by pass, layer by layer)
    alphas = [[s.dropout(s.binary_layer.alpha) for s in stochastic] for _ in range(T)]
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
        z = stage.binary_layer.binary_output(x)
        calls[layer_index] += 1
        groups: dict[bytes, list[int]] = {}
        for t in passes:
            groups.setdefault(keys[t][layer_index], []).append(t)
        for members in groups.values():
            out = output_from_binary(stage.module, z, alphas[members[0]][layer_index])
            walk(stage_index + 1, layer_index + 1, out, members)

    walk(0, 0, inputs, list(range(T)))
    # the leaves are shared; stacking makes T copies: fail before, not during, that allocation
    check_sample_memory(T, results[0])
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
    p_values = [check_probability(f"p_values[{i}]", p) for i, p in enumerate(p_values)]
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
