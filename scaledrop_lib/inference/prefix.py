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

The model is walked as a chain of steps (:mod:`scaledrop_lib.inference.program`): the
binary products before each mask are what the tree shares, computed with fp32 or on packed
bits (``backend``); packed activations are what flows between packed layers.

Supported: ``nn.Sequential`` models built from the library's layers (digits nets, VGG-small,
LeNet-5, the 28x28 CNN) and the binary CIFAR ResNets (ResNet-18/20), whose only randomness is
layer-wise Scale-Dropout. Anything else (element-wise masks, other dropout, unknown modules)
is reported with a :class:`~scaledrop_lib.models.stages.PrefixObstacle`, and
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
from scaledrop_lib.inference.program import BinaryRunner, prefix_program


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
    model: nn.Module,
    inputs: torch.Tensor,
    T: int,
    logits: bool = False,
    *,
    batch_size: int | None = None,
    backend: str = "torch",
) -> tuple[torch.Tensor, PrefixStats]:
    """Softmax samples (T, N, C) identical to T naive passes, plus work statistics.

    With ``logits=True`` the samples are the softmax inputs instead.

    Parameters
    ----------
    model : nn.Module
        An ``nn.Sequential`` of the library's layers or a binary
        :class:`~scaledrop_lib.models.resnet.CifarResNet` (see
        :func:`~scaledrop_lib.inference.program.build_program`), in eval mode with its
        dropout sampling (as :func:`scaledrop_lib.inference.mc.mc_predict` sets it).
    inputs : torch.Tensor
        (N, ...), on the device the model runs on.
    T : int
        Monte-Carlo passes.
    batch_size : int, optional
        Run the tree on chunks of this many inputs. Every pass's masks are drawn once, before
        the first chunk, so each pass is one network for all inputs (the samples equal the
        unchunked run's).
    backend : {"torch", "xnor", "auto"}
        How the binary products are computed (see :mod:`scaledrop_lib.inference.program`);
        the samples are the same either way.

    Raises
    ------
    ValueError
        With the reason, if the model is not supported.
    """
    T = check_positive_int("T", T)
    if batch_size is not None:
        batch_size = check_positive_int("batch_size", batch_size)
    program, reason = prefix_program(model)
    if reason:
        raise ValueError(f"prefix-shared MC cannot run this model exactly: {reason}")
    runner = BinaryRunner(program.binary_layers(), backend, inputs.device)
    program = program.fuse(runner)
    stochastic = program.stochastic_steps
    # the T drawn scale vectors (plus Python's per-tensor overhead) come first: bound them too
    per_pass = sum(4 * s.layer.alpha.numel() + 128 for s in stochastic)
    check_budget(T * per_pass, f"the scales of T = {T:,} passes")
    # 1. every pass's scales, drawn in the naive order (pass by pass, layer by layer)
    alphas = [[s.dropout(s.layer.alpha) for s in stochastic] for _ in range(T)]
    keys = [[a.detach().cpu().numpy().tobytes() for a in row] for row in alphas]
    steps = program.steps

    # 2. depth-first walk of the prefix tree, at the batch size of the naive loop
    def walk(step_index, layer_index, state, passes, results, calls, leaves) -> None:
        while step_index < len(steps) and not steps[step_index].stochastic:
            state = steps[step_index].run(runner, state)
            step_index += 1
        if step_index == len(steps):
            probs = state if logits else torch.softmax(state, dim=-1)
            leaves[0] += 1
            for t in passes:
                results[t] = probs
            return
        step = steps[step_index]
        shared = step.shared(runner, state)
        calls[layer_index] += 1
        groups: dict[bytes, list[int]] = {}
        for t in passes:
            groups.setdefault(keys[t][layer_index], []).append(t)
        for members in groups.values():
            out = step.branch(runner, state, shared, alphas[members[0]][layer_index])
            walk(step_index + 1, layer_index + 1, out, members, results, calls, leaves)

    size = len(inputs) if batch_size is None else batch_size
    chunks: list[list[torch.Tensor]] = []
    stats = None
    for start in range(0, len(inputs), size):
        results: list[torch.Tensor | None] = [None] * T
        calls, leaves = [0] * len(stochastic), [0]
        walk(0, 0, inputs[start : start + size], list(range(T)), results, calls, leaves)
        if stats is None:  # the tree is the same for every chunk (the same masks)
            stats = PrefixStats(T, calls, leaves[0])
            # the leaves are shared; stacking makes T copies: fail before that allocation
            check_sample_memory(T, results[0], total_rows=len(inputs))
        chunks.append(results)
    if len(chunks) == 1:
        return torch.stack(chunks[0]), stats
    return torch.stack([torch.cat([chunk[t] for chunk in chunks]) for t in range(T)]), stats


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
