"""Headline MC numbers of a model, and how the MC estimate settles as T grows (chapter 3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from scaledrop_lib._checks import (
    check_positive_int,
)
from scaledrop_lib.inference.mc import deterministic_predict, mc_predict
from scaledrop_lib.layers.sampling import seed_dropout
from scaledrop_lib.metrics.classification import accuracy
from scaledrop_lib.metrics.predictive import (
    mutual_information,
    predictive_entropy,
    predictive_mean,
    predictive_variance,
)


@dataclass(frozen=True)
class MCSummary:
    """Headline numbers of a model on labelled inputs (means over inputs)."""

    deterministic_accuracy: float
    mc_accuracy: float
    predictive_entropy: float
    mutual_information: float
    variance: float


def mc_summary(
    model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, T: int = 20
) -> MCSummary:
    """Deterministic and MC accuracy, mean predictive entropy, mutual information and Eq. 19
    variance (summed over classes) of ``model`` with ``T`` passes.

    Seed the model's dropout (:func:`scaledrop_lib.layers.sampling.seed_dropout`) for
    reproducible numbers.
    """
    probs = mc_predict(model, inputs, T)
    return MCSummary(
        deterministic_accuracy=accuracy(deterministic_predict(model, inputs), labels),
        mc_accuracy=accuracy(predictive_mean(probs), labels),
        predictive_entropy=float(predictive_entropy(probs).mean()),
        mutual_information=float(mutual_information(probs).mean()),
        variance=float(predictive_variance(probs).sum(dim=1).mean()),
    )


@dataclass(frozen=True)
class TSweep:
    """Accuracy and mean predictive entropy of the MC mean after the first T passes.

    ``accuracy[s, i]`` and ``entropy[s, i]`` belong to seed ``seeds[s]`` and ``Ts[i]``.
    """

    Ts: list[int]
    seeds: list[int]
    accuracy: np.ndarray
    entropy: np.ndarray


def sweep_T(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    Ts: list[int],
    seeds: list[int],
) -> TSweep:
    """How the MC estimate settles as T grows, for several seeds of the dropout masks.

    For each seed the model's dropout modules are reseeded
    (:func:`scaledrop_lib.layers.sampling.seed_dropout`) and ``max(Ts)`` passes are drawn once; the
    estimate at T uses the first T of them (nested samples, as one would take them).
    """

    if not Ts or not seeds:
        raise ValueError("Ts and seeds must not be empty")
    for T in Ts:
        check_positive_int("T", T)
    acc = np.zeros((len(seeds), len(Ts)))
    ent = np.zeros((len(seeds), len(Ts)))
    for s, seed in enumerate(seeds):
        seed_dropout(model, seed)
        probs = mc_predict(model, inputs, max(Ts))
        for i, T in enumerate(Ts):
            acc[s, i] = accuracy(probs[:T].mean(dim=0), labels)
            ent[s, i] = float(predictive_entropy(probs[:T]).mean())
    return TSweep(list(Ts), list(seeds), acc, ent)


def stack_sweeps(sweeps: Sequence[TSweep]) -> TSweep:
    """Several T sweeps over the same Ts as one, a row per sweep row (e.g. one mask seed of
    each of several independently trained models, to show the spread over training seeds).
    The result's ``seeds`` are the row indices."""
    if not sweeps:
        raise ValueError("sweeps must not be empty")
    Ts = sweeps[0].Ts
    if any(s.Ts != Ts for s in sweeps):
        raise ValueError("every sweep must use the same Ts")
    accuracy = np.vstack([s.accuracy for s in sweeps])
    entropy = np.vstack([s.entropy for s in sweeps])
    return TSweep(list(Ts), list(range(len(accuracy))), accuracy, entropy)
