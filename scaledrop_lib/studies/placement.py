"""Does the scale survive BatchNorm? Measurements behind the choice of scale placement.

Eq. 7-8 put the scale before BatchNorm; in training, BatchNorm's batch statistics divide a
per-channel constant out again (PAPER-NOTES). These functions measure, for a model built with
any placement (see :mod:`scaledrop_lib.models.units`):

* how much gradient the loss sends to the scale vectors,
* how much dropping every scale changes the output, in train mode and in eval mode,
* how far training moved alpha away from its initial value 1,
* how much Monte-Carlo samples of a trained model differ at inference.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from scaledrop_lib.inference.mc import deterministic_predict, mc_predict
from scaledrop_lib.layers.binary import sign_pm1
from scaledrop_lib.layers.dropout import ScaleDropout
from scaledrop_lib.layers.sampling import sampling, seed_dropout
from scaledrop_lib.metrics.classification import accuracy
from scaledrop_lib.metrics.predictive import predictive_mean, predictive_variance
from scaledrop_lib.routines.train import scale_vectors


def alpha_gradient_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """L2 norm of d(cross-entropy)/d(alpha) over all scale vectors, in train mode, no dropout.

    Runs on a copy, so the model's BatchNorm running statistics are untouched.
    """
    probe = copy.deepcopy(model)  # its BatchNorm statistics and gradients stay apart
    with sampling(probe, p=0.0, only=ScaleDropout, batch_statistics=True):
        loss = F.cross_entropy(probe(x), y)
        alphas = scale_vectors(probe)
        # inside the block: leaving it restores BatchNorm buffers the graph still holds
        grads = torch.autograd.grad(loss, alphas, allow_unused=True)
    total = sum(float(g.pow(2).sum()) for g in grads if g is not None)
    return total**0.5


@torch.no_grad()
def dropped_scale_effect(model: nn.Module, x: torch.Tensor, train_mode: bool) -> float:
    """Max ``|logits with every scale dropped - logits with every scale kept|`` over ``x``.

    ``train_mode=True`` uses batch statistics in BatchNorm; ``False`` uses the running
    statistics, as at inference. Runs on a copy, so the model's generators do not advance.
    """
    probe = copy.deepcopy(model)  # the model's generators do not advance
    options = {"only": ScaleDropout, "batch_statistics": train_mode}
    with sampling(probe, p=0.0, **options):
        kept = probe(x)
    with sampling(probe, p=1.0, **options):
        dropped = probe(x)
    return float((dropped - kept).abs().max())


def alpha_shift(model: nn.Module) -> float:
    """Mean ``|alpha - 1|`` over all scale entries: how far training moved alpha from its start."""
    alphas = scale_vectors(model)
    if not alphas:
        raise ValueError("model has no scale vectors")
    flat = torch.cat([a.detach().flatten() for a in alphas])
    return float((flat - 1.0).abs().mean())


@dataclass(frozen=True)
class PlacementReport:
    """The measurements for one trained model (see the module docstring)."""

    placement: str
    alpha_gradient_norm: float
    train_mode_effect: float
    eval_mode_effect: float
    alpha_shift: float
    mc_variance: float
    deterministic_accuracy: float
    mc_accuracy: float


def measure_placement(
    model: nn.Module,
    placement: str,
    x: torch.Tensor,
    y: torch.Tensor,
    T: int = 20,
    seed: int = 0,
) -> PlacementReport:
    """All measurements for one trained model on inputs ``x`` with labels ``y``.

    ``mc_variance`` is the Eq. 19 variance of the T softmax samples, summed over classes and
    averaged over inputs, with the model's own dropout probability.
    """

    seed_dropout(model, seed)
    probs = mc_predict(model, x, T)
    return PlacementReport(
        placement=placement,
        alpha_gradient_norm=alpha_gradient_norm(model, x, y),
        train_mode_effect=dropped_scale_effect(model, x, train_mode=True),
        eval_mode_effect=dropped_scale_effect(model, x, train_mode=False),
        alpha_shift=alpha_shift(model),
        mc_variance=float(predictive_variance(probs).sum(dim=1).mean()),
        deterministic_accuracy=float(accuracy(deterministic_predict(model, x), y)),
        mc_accuracy=float(accuracy(predictive_mean(probs), y)),
    )


@torch.no_grad()
def sign_flip_fractions(
    unit: nn.Module, x: torch.Tensor, dropout: ScaleDropout, T: int
) -> torch.Tensor:
    """What Scale-Dropout does to one layer: per pass, the fraction of output signs it flips.

    ``unit`` is a :class:`~scaledrop_lib.models.units.ScaledBinaryUnit` (used in eval mode,
    so BatchNorm uses its running statistics); ``x`` its input batch. Each of the ``T``
    passes draws a scale with ``dropout`` (forced to sample) and compares the signs of the
    unit's output with those under the learned scale. Returns a (T,) tensor.
    """
    with sampling(unit), sampling(dropout):
        alpha = unit.layer.alpha.detach()
        reference = sign_pm1(unit(x, alpha=alpha))
        fractions = [
            (sign_pm1(unit(x, alpha=dropout(alpha))) != reference).float().mean() for _ in range(T)
        ]
    return torch.stack(fractions)
