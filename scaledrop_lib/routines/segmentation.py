"""Training segmentation nets with Scale-Dropout (chapter 5): the loss and the training loop.

Models return one logit per pixel (N, 1, H, W); probabilities are its sigmoid.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from scaledrop_lib._checks import check_positive_int
from scaledrop_lib.inference.mc import deterministic_predict
from scaledrop_lib.metrics.segmentation import (
    confusion_counts,
)
from scaledrop_lib.progress import progress
from scaledrop_lib.routines.train import scale_regularizer, seed_everything, weight_l2


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
