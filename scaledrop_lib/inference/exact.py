"""The exact predictive distribution of layer-wise Scale-Dropout: a mixture of 2^L networks.

With one Bernoulli bit per layer (the paper's layer-wise masks) and a deterministic replacement
(``unitary``: 1, ``average``: mean(alpha)), a model with L Scale-Dropout layers can only ever be
one of 2^L networks: mask pattern d in {0, 1}^L (1 = dropped) has probability

    w(d) = prod_l p_l^{d_l} (1 - p_l)^{1 - d_l},

and the predictive distribution is the mixture sum_d w(d) softmax(f_d(x)). Monte-Carlo sampling
(Eq. 18) estimates its mean with error ~ sigma / sqrt(T); here it is computed exactly, by
walking the tree of all patterns with the prefix-shared engine's trick (each layer's binary
output once per prefix), so the cost is that of at most 2^L forward passes of the tail.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from scaledrop_lib._checks import (
    check_batch,
    check_inputs_fit,
    check_positive_int,
    shape_errors_name_inputs,
)
from scaledrop_lib.layers.sampling import sampling
from scaledrop_lib.models.stages import Stage, output_from_binary, prefix_support

#: Default limit on L: 2^16 = 65,536 networks.
MAX_EXACT_LAYERS = 16
_DETERMINISTIC_VARIANTS = ("unitary", "average")


@dataclass(frozen=True)
class MaskMixture:
    """Every network a layer-wise Scale-Dropout model can be, with its probability.

    The entropy properties assume ``outputs`` are probabilities (``logits=False``).

    Attributes
    ----------
    masks : torch.Tensor
        Bool (2^L, L): pattern k's drop bit per Scale-Dropout layer (True = dropped), in
        lexicographic order with "kept" first (row 0: nothing dropped).
    weights : torch.Tensor
        Float64 (2^L,): the probability of each pattern; they sum to 1.
    outputs : torch.Tensor
        (2^L, N, C): each network's softmax probabilities (or logits, if asked for).
    """

    masks: torch.Tensor
    weights: torch.Tensor
    outputs: torch.Tensor

    @property
    def n_networks(self) -> int:
        return int(self.masks.shape[0])

    @property
    def mean(self) -> torch.Tensor:
        """The exact predictive mean (N, C): the limit of Eq. 18 as T grows."""
        w = self.weights.to(self.outputs.dtype).view(-1, 1, 1)
        return (w * self.outputs).sum(dim=0)

    @property
    def variance(self) -> torch.Tensor:
        """The exact variance of one pass's output (N, C): the limit of Eq. 19 as T grows."""
        w = self.weights.to(self.outputs.dtype).view(-1, 1, 1)
        return (w * (self.outputs - self.mean) ** 2).sum(dim=0)

    @property
    def predictive_entropy(self) -> torch.Tensor:
        """Entropy (N,) of the exact predictive mean, in nats (total uncertainty)."""
        return _entropy(self.mean)

    @property
    def expected_entropy(self) -> torch.Tensor:
        """sum_d w(d) H(softmax f_d(x)) (N,): the aleatoric part, in nats."""
        w = self.weights.to(self.outputs.dtype).view(-1, 1)
        return (w * _entropy(self.outputs)).sum(dim=0)

    @property
    def mutual_information(self) -> torch.Tensor:
        """Predictive entropy minus expected entropy (N,): the epistemic part, in nats; the
        limit of :func:`~scaledrop_lib.metrics.predictive.mutual_information` as T grows.
        Clamped at 0 (it is >= 0 in exact arithmetic)."""
        return (self.predictive_entropy - self.expected_entropy).clamp_min(0.0)

    def mc_standard_error(self, T: int) -> torch.Tensor:
        """Standard deviation (N, C) of the MC mean of T independent passes: sqrt(variance/T)."""
        return (self.variance / check_positive_int("T", T)).sqrt()


def _entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy over the last axis in nats, with 0 log 0 = 0."""
    return -(probs * probs.clamp_min(torch.finfo(probs.dtype).tiny).log()).sum(dim=-1)


def pattern_weights(p_values: Sequence[float], masks: torch.Tensor) -> torch.Tensor:
    """w(d) = prod_l p_l^{d_l} (1 - p_l)^{1 - d_l} for each row of ``masks`` (float64)."""
    p = torch.tensor([float(v) for v in p_values], dtype=torch.float64)
    if masks.dim() != 2 or masks.shape[1] != len(p):
        raise ValueError(f"masks must be (K, {len(p)}), got {tuple(masks.shape)}")
    dropped = masks.to(torch.bool)
    return torch.where(dropped, p, 1.0 - p).prod(dim=1)


def _stochastic_stages(model: nn.Module, max_layers: int) -> tuple[list[Stage], list[Stage]]:
    support = prefix_support(model)
    if not support:
        raise ValueError(f"no exact mixture for this model: {support}")
    stages = list(support.stages)
    stochastic = [s for s in stages if s.stochastic]
    for stage in stochastic:
        if stage.dropout.variant not in _DETERMINISTIC_VARIANTS:
            raise ValueError(
                f"module {stage.index}: variant {stage.dropout.variant!r} draws a random "
                "replacement, so its networks are not a finite mixture (use 'unitary' or 'average')"
            )
    if len(stochastic) > max_layers:
        raise ValueError(
            f"{len(stochastic)} Scale-Dropout layers make 2^{len(stochastic)} = "
            f"{2 ** len(stochastic):,} networks, above max_layers={max_layers}; "
            "estimate with mc_predict instead, or raise max_layers"
        )
    return stages, stochastic


def exact_predictive(
    model: nn.Module,
    inputs: torch.Tensor,
    *,
    logits: bool = False,
    max_layers: int = MAX_EXACT_LAYERS,
) -> MaskMixture:
    """All 2^L networks of a layer-wise Scale-Dropout model, their probabilities and outputs.

    Parameters
    ----------
    model : nn.Sequential
        A model the prefix engine supports (see
        :func:`~scaledrop_lib.models.stages.prefix_support`) whose Scale-Dropout modules use
        the ``unitary`` or ``average`` variant; each module's own ``p`` is used.
    inputs : torch.Tensor
        A batch (N, ...).
    logits : bool
        Keep each network's logits instead of its softmax.
    max_layers : int
        Refuse models with more Scale-Dropout layers (2^L networks).

    Returns
    -------
    MaskMixture
        Masks, weights and outputs; ``.mean`` is what MC inference converges to.

    Raises
    ------
    ValueError
        If the model has no layer-wise Scale-Dropout the engine can walk, uses the ``random``
        variant, or has more than ``max_layers`` Scale-Dropout layers.
    """
    check_batch(inputs)
    max_layers = check_positive_int("max_layers", max_layers)
    check_inputs_fit(model, inputs)
    stages, stochastic = _stochastic_stages(model, max_layers)
    outputs: list[torch.Tensor] = []

    def walk(index: int, x: torch.Tensor) -> None:
        while index < len(stages) and not stages[index].stochastic:
            x = stages[index].module(x)
            index += 1
        if index == len(stages):
            outputs.append(x if logits else torch.softmax(x, dim=-1))
            return
        stage = stages[index]
        z = stage.binary_layer.binary_output(x)  # once for both branches
        alpha = stage.binary_layer.alpha
        for scale in (alpha, stage.dropout.replacement(alpha)):  # kept first, then dropped
            walk(index + 1, output_from_binary(stage.module, z, scale))

    with sampling(model, mc=False), torch.inference_mode(), shape_errors_name_inputs(inputs):
        walk(0, inputs)
    masks = torch.tensor(list(itertools.product((False, True), repeat=len(stochastic))))
    weights = pattern_weights([s.dropout.p for s in stochastic], masks)
    if not math.isclose(float(weights.sum()), 1.0, rel_tol=1e-9):
        raise RuntimeError("pattern weights do not sum to 1")  # a bug, not a user error
    return MaskMixture(masks, weights, torch.stack(outputs).cpu())
