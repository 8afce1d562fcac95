"""Segmentation under distribution shift: Table IV metrics and uncertainty as shift grows."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from scaledrop_lib.inference.segment import mc_segment
from scaledrop_lib.layers.sampling import seed_dropout
from scaledrop_lib.metrics.segmentation import (
    mc_pixel_maps,
    segmentation_metrics,
    uncertainty_error_stats,
)


@dataclass(frozen=True)
class ShiftCurve:
    """Segmentation quality and uncertainty at each level of one input shift."""

    levels: list[float]
    iou: list[float]
    mean_entropy: list[float]
    mean_mutual_information: list[float]
    error_auroc: list[float]


def segmentation_under_shift(
    model: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    shift,
    levels: list[float],
    T: int = 20,
    seed: int = 0,
) -> ShiftCurve:
    """Apply ``shift(images, level)`` at each level and run T MC passes (masks seeded by
    ``seed`` at every level): pooled IoU of the mean mask, mean per-pixel predictive entropy and
    mutual information, and the AUROC of entropy as a detector of wrong pixels."""
    if len(levels) == 0:
        raise ValueError("levels must not be empty")
    curve = ShiftCurve([float(v) for v in levels], [], [], [], [])
    for level in levels:
        shifted = shift(images, level)
        seed_dropout(model, seed)
        maps = mc_pixel_maps(mc_segment(model, shifted, T))
        curve.iou.append(segmentation_metrics(maps.mean, masks)["iou"])
        curve.mean_entropy.append(float(maps.entropy.mean()))
        curve.mean_mutual_information.append(float(maps.mutual_information.mean()))
        stats = uncertainty_error_stats(maps.mean, maps.entropy, masks)
        curve.error_auroc.append(stats.error_auroc)
    return curve
