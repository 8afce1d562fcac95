"""Segmentation under distribution shift: Table IV metrics and uncertainty as shift grows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from scaledrop_lib.inference.segment import mc_segment
from scaledrop_lib.layers.sampling import seed_dropout
from scaledrop_lib.metrics.segmentation import (
    mc_pixel_maps,
    segmentation_metrics,
    uncertainty_error_stats,
)
from scaledrop_lib.paper import METRIC_NAMES
from scaledrop_lib.progress import progress as progress_bar
from scaledrop_lib.tables import Table


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
    progress: bool = True,
) -> ShiftCurve:
    """Apply ``shift(images, level)`` at each level and run T MC passes (masks seeded by
    ``seed`` at every level): pooled IoU of the mean mask, mean per-pixel predictive entropy and
    mutual information, and the AUROC of entropy as a detector of wrong pixels. ``progress``
    shows a bar over the levels."""
    if len(levels) == 0:
        raise ValueError("levels must not be empty")
    curve = ShiftCurve([float(v) for v in levels], [], [], [], [])
    for level in progress_bar(list(levels), desc="shift levels", enabled=progress):
        shifted = shift(images, level)
        seed_dropout(model, seed)
        maps = mc_pixel_maps(mc_segment(model, shifted, T))
        curve.iou.append(segmentation_metrics(maps.mean, masks)["iou"])
        curve.mean_entropy.append(float(maps.entropy.mean()))
        curve.mean_mutual_information.append(float(maps.mutual_information.mean()))
        stats = uncertainty_error_stats(maps.mean, maps.entropy, masks)
        curve.error_auroc.append(stats.error_auroc)
    return curve


#: Short column names of Table IV's metrics.
SHORT_METRIC_NAMES = {
    "pixel_accuracy": "pix-acc",
    "iou": "IoU",
    "auc": "AUC",
    "f1": "F1/Dice",
    "sensitivity": "sens",
    "specificity": "spec",
    "precision": "prec",
}


def metrics_table(
    rows: Mapping[str, Mapping[str, float]], percent_input: bool = False, **options: Any
) -> Table:
    """Rows of Table IV's metrics (fractions, or percent with ``percent_input``), in percent.

    ``options`` go to :class:`~scaledrop_lib.tables.Table` (``title``, ``note``).
    """
    if not rows:
        raise ValueError("rows must not be empty")
    scale = 1.0 if percent_input else 100.0
    body = []
    for name, values in rows.items():
        missing = set(METRIC_NAMES) - set(values)
        if missing:
            raise ValueError(f"row {name!r} lacks {sorted(missing)}")
        body.append([name, *(scale * values[m] for m in METRIC_NAMES)])
    columns = ["", *(SHORT_METRIC_NAMES[m] for m in METRIC_NAMES)]
    percent = lambda v: f"{v:.2f}%"  # noqa: E731  (the same format for every metric column)
    return Table(columns, body, formats=dict.fromkeys(columns[1:], percent), **options)
