"""Segmentation inference: deterministic and Monte-Carlo foreground probabilities (chapter 5).

Models return one logit per pixel (N, 1, H, W); probabilities are its sigmoid. MC inference
reuses :func:`scaledrop_lib.inference.mc.mc_predict` (same mode handling and seeding as the
classifiers) on logits, so a pass here is exactly a pass there.
"""

from __future__ import annotations

import torch
from torch import nn

from scaledrop_lib._checks import check_images
from scaledrop_lib.inference.mc import deterministic_predict, mc_predict


def deterministic_segment(
    model: nn.Module, images: torch.Tensor, batch_size: int | None = 64
) -> torch.Tensor:
    """Foreground probabilities (N, 1, H, W) of one pass with dropout off."""
    check_images("images", images)
    return torch.sigmoid(deterministic_predict(model, images, logits=True, batch_size=batch_size))


def mc_segment(
    model: nn.Module,
    images: torch.Tensor,
    T: int,
    batch_size: int | None = 64,
    progress: bool = False,
) -> torch.Tensor:
    """T Monte-Carlo passes with dropout on: foreground probabilities (T, N, 1, H, W).

    Seed the masks with :func:`scaledrop_lib.layers.sampling.seed_dropout` before calling for
    reproducible samples. The naive loop is used (U-Net / SegNet are not sequential);
    ``progress`` shows a bar over the passes.
    """
    check_images("images", images)
    logits = mc_predict(
        model, images, T, batch_size=batch_size, method="naive", logits=True, progress=progress
    )
    return torch.sigmoid(logits)
