"""Segmentation with Scale-Dropout: training, deterministic and Monte-Carlo prediction (ch. 5).

Models return one logit per pixel (N, 1, H, W); probabilities are its sigmoid. MC inference
reuses :func:`scaledrop_lib.uncertainty.mc_predict` (same mode handling and seeding as the
classifiers) on logits, so a pass here is exactly a pass there.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from scaledrop_lib._checks import check_positive_int
from scaledrop_lib.progress import progress
from scaledrop_lib.scaledrop import seed_dropout
from scaledrop_lib.seg_metrics import (
    confusion_counts,
    mc_pixel_maps,
    segmentation_metrics,
    uncertainty_error_stats,
)
from scaledrop_lib.train import scale_regularizer, seed_everything, weight_l2
from scaledrop_lib.uncertainty import deterministic_predict, mc_predict


def _check_images(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a tensor (N, C, H, W), got {shape}")
    return images


def soft_dice_loss(logits: torch.Tensor, masks: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - soft Dice between sigmoid(logits) and the masks, pooled over the batch.

    Added to the pixel-wise cross-entropy because lesions cover a minority of pixels: Dice
    weighs the lesion's overlap, not the easy background.
    """
    probs = torch.sigmoid(logits)
    intersection = (probs * masks).sum()
    return 1 - (2 * intersection + eps) / (probs.sum() + masks.sum() + eps)


def segmentation_loss(
    model: nn.Module,
    logits: torch.Tensor,
    masks: torch.Tensor,
    lam: float = 1e-5,
    phi: float = 1e-5,
) -> torch.Tensor:
    """Binary cross-entropy + soft Dice + Eq. 17's L2 (``lam``) and scale (``phi``) terms."""
    data = F.binary_cross_entropy_with_logits(logits, masks) + soft_dice_loss(logits, masks)
    return data + lam * weight_l2(model) + phi * scale_regularizer(model)


@dataclass
class SegHistory:
    """Per-epoch training loss and validation IoU (deterministic pass); the best epoch."""

    train_loss: list[float] = field(default_factory=list)
    val_iou: list[float] = field(default_factory=list)
    best_epoch: int = -1


def pooled_iou(pred: torch.Tensor, target: torch.Tensor) -> float:
    """IoU of two binary masks pooled over every pixel; 1.0 when both are empty (nothing to
    find, nothing found), so early stopping never sees a nan."""
    tp, fp, _, fn = confusion_counts(pred, target)
    return tp / (tp + fp + fn) if tp + fp + fn else 1.0


def fit_segmenter(
    model: nn.Module,
    train: TensorDataset,
    val: TensorDataset,
    *,
    epochs: int = 40,
    lr: float = 2e-3,
    batch_size: int = 32,
    patience: int | None = 10,
    lam: float = 1e-5,
    phi: float = 1e-5,
    seed: int = 0,
    device: str | torch.device = "cpu",
    show_progress: bool = True,
) -> SegHistory:
    """Train with Adam; keep the weights of the epoch with the best validation IoU.

    Dropout samples during training (as it must: the model learns to work under the masks);
    validation runs the deterministic pass.
    """
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    seed_everything(seed)
    model.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(
        train, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    val_images, val_masks = val.tensors
    history = SegHistory()
    best_state, best_iou, stale = None, -1.0, 0
    for epoch in progress(range(epochs), desc="epochs", enabled=show_progress):
        model.train()
        total, count = 0.0, 0
        for images, masks in loader:
            images, masks = images.to(device), masks.to(device)
            loss = segmentation_loss(model, model(images), masks, lam, phi)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(images)
            count += len(images)
        history.train_loss.append(total / count)
        logits = deterministic_predict(model, val_images, logits=True, batch_size=64)
        iou = pooled_iou(logits > 0, val_masks > 0.5)  # logit > 0 <=> probability > 0.5
        history.val_iou.append(iou)
        if iou > best_iou:
            best_iou, best_state, stale = iou, copy.deepcopy(model.state_dict()), 0
            history.best_epoch = epoch
        else:
            stale += 1
            if patience is not None and stale >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def deterministic_segment(
    model: nn.Module, images: torch.Tensor, batch_size: int | None = 64
) -> torch.Tensor:
    """Foreground probabilities (N, 1, H, W) of one pass with dropout off."""
    _check_images(images)
    return torch.sigmoid(deterministic_predict(model, images, logits=True, batch_size=batch_size))


def mc_segment(
    model: nn.Module,
    images: torch.Tensor,
    T: int,
    batch_size: int | None = 64,
) -> torch.Tensor:
    """T Monte-Carlo passes with dropout on: foreground probabilities (T, N, 1, H, W).

    Seed the masks with :func:`scaledrop_lib.scaledrop.seed_dropout` before calling for
    reproducible samples. The naive loop is used (U-Net / SegNet are not sequential).
    """
    _check_images(images)
    logits = mc_predict(model, images, T, batch_size=batch_size, method="naive", logits=True)
    return torch.sigmoid(logits)


# ----------------------------------------------------------------------------- evaluation

METRIC_NAMES = (
    "pixel_accuracy",
    "iou",
    "auc",
    "f1",
    "sensitivity",
    "specificity",
    "precision",
)
"""Table IV's columns in its order: the keys of
:func:`scaledrop_lib.seg_metrics.segmentation_metrics`."""

PAPER_TABLE_IV: dict[str, dict[str, float]] = {
    "U-Net, Skin Cancer, MC-Dropout 32/32": dict(
        zip(METRIC_NAMES, (95.05, 81.67, 98.86, 89.91, 84.74, 98.67, 95.74), strict=True)
    ),
    "U-Net, Skin Cancer, Proposed 1/4": dict(
        zip(METRIC_NAMES, (96.75, 88.07, 99.4, 93.66, 92.31, 98.31, 95.04), strict=True)
    ),
    "SegNet, Breast Cancer, MC-Dropout 32/32": dict(
        zip(METRIC_NAMES, (97.83, 71.82, 96.40, 83.21, 78.23, 99.28, 88.86), strict=True)
    ),
    "SegNet, Breast Cancer, SpinDrop 1/4": dict(
        zip(METRIC_NAMES, (97.47, 68.17, 95.48, 80.13, 74.25, 99.18, 87.02), strict=True)
    ),
    "SegNet, Breast Cancer, Proposed 1/4": dict(
        zip(METRIC_NAMES, (97.69, 69.69, 96.69, 82.14, 77.19, 99.21, 87.76), strict=True)
    ),
    "SegNet, Lung CT, MC-Dropout 32/32": dict(
        zip(METRIC_NAMES, (99.51, 72.88, 99.39, 84.32, 86.99, 99.7, 81.8), strict=True)
    ),
    "SegNet, Lung CT, Proposed 1/4": dict(
        zip(METRIC_NAMES, (99.55, 74.43, 99.69, 85.34, 85.84, 99.76, 84.85), strict=True)
    ),
}
"""The paper's Table IV (percent; p = 0.2, T = 20; bit-widths W/A). Quoted for context."""

_SHORT = {
    "pixel_accuracy": "pix-acc",
    "iou": "IoU",
    "auc": "AUC",
    "f1": "F1/Dice",
    "sensitivity": "sens",
    "specificity": "spec",
    "precision": "prec",
}


def metrics_table(rows: dict[str, dict[str, float]], percent_input: bool = False) -> str:
    """Rows of Table IV metrics as aligned text, in percent (``percent_input``: already %)."""
    if not rows:
        raise ValueError("rows must not be empty")
    width = max(len(name) for name in rows) + 2
    lines = [f"{'':<{width}}" + "".join(f"{_SHORT[m]:>9s}" for m in METRIC_NAMES)]
    for name, values in rows.items():
        missing = set(METRIC_NAMES) - set(values)
        if missing:
            raise ValueError(f"row {name!r} lacks {sorted(missing)}")
        scale = 1.0 if percent_input else 100.0
        lines.append(
            f"{name:<{width}}" + "".join(f"{scale * values[m]:8.2f}%" for m in METRIC_NAMES)
        )
    return "\n".join(lines)


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
