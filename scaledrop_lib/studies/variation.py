"""Accuracy of a Scale-Dropout model whose bits come from varying MTJ devices (Table III, ch. 6)."""

from __future__ import annotations

import torch

from scaledrop_lib._checks import check_positive_int
from scaledrop_lib.hardware.mtj import attach_mtj
from scaledrop_lib.inference.mc import mc_predict
from scaledrop_lib.layers.dropout import ScaleDropout
from scaledrop_lib.metrics.classification import accuracy
from scaledrop_lib.metrics.predictive import predictive_mean


def accuracy_under_variation(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    level: float,
    chips: int = 3,
    T: int = 20,
) -> list[float]:
    """MC-Scale-Dropout accuracy (T passes) with the masks drawn from ``chips`` MTJ chips.

    Chip ``c`` uses seed ``c`` for its device offset and cycles, so every model is evaluated
    on the same chips. The model's previous mask sources are restored afterwards.
    """

    check_positive_int("chips", chips)
    modules = [m for m in model.modules() if isinstance(m, ScaleDropout)]
    saved = [m.mask_source for m in modules]
    try:
        results = []
        for chip in range(chips):
            attach_mtj(model, level, seed=chip)
            results.append(accuracy(predictive_mean(mc_predict(model, inputs, T)), labels))
    finally:
        for module, source in zip(modules, saved, strict=True):
            module.mask_source = source
    return results
