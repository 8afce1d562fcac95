"""Training with the paper's objective (Eq. 17), early stopping, and safe checkpoints.

Objective (Eq. 17):

    L = CE + lambda * sum_l ||W_l||^2 + phi * sum_l (1 - mean(alpha_l))^2

with lambda = phi = 1e-5 and Adam, as in the paper. The L2 term is added to the loss as
printed (on the real-valued latent weights of every conv/linear layer), *not* through Adam's
``weight_decay``, which would be (lambda/2) * ||W||^2 applied inside the optimiser.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from scaledrop_lib._checks import check_positive_int
from scaledrop_lib.layers.sampling import sampling
from scaledrop_lib.progress import progress


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (for notebooks and scripts)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002  (user code may use the legacy global)
    torch.manual_seed(seed)


def scale_vectors(model: nn.Module) -> list[torch.Tensor]:
    """The learnable scale vector alpha of every binary layer, in module order."""
    return [m.alpha for m in model.modules() if isinstance(getattr(m, "alpha", None), nn.Parameter)]


def scale_regularizer(model: nn.Module) -> torch.Tensor:
    """Eq. 11: sum over layers of (1 - mean(alpha_l))^2 (0 for a model without scales)."""
    terms = [(1.0 - alpha.mean()) ** 2 for alpha in scale_vectors(model)]
    return torch.stack(terms).sum() if terms else torch.zeros(())


def weight_l2(model: nn.Module) -> torch.Tensor:
    """sum_l ||W_l||^2 over the (latent, real-valued) weights of every conv/linear layer."""
    terms = [
        m.weight.pow(2).sum()
        for m in model.modules()
        if isinstance(getattr(m, "weight", None), nn.Parameter) and m.weight.dim() >= 2
    ]
    return torch.stack(terms).sum() if terms else torch.zeros(())


def objective(
    logits: torch.Tensor,
    labels: torch.Tensor,
    model: nn.Module,
    lam: float = 1e-5,
    phi: float = 1e-5,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 17: cross-entropy + lambda * weight L2 + phi * scale regulariser.

    Returns the total loss (for ``backward``) and its three parts as floats.
    """
    ce = F.cross_entropy(logits, labels)
    l2 = weight_l2(model)
    reg = scale_regularizer(model)
    total = ce + lam * l2 + phi * reg
    parts = {"ce": float(ce.detach()), "l2": float(l2.detach()), "scale_reg": float(reg.detach())}
    return total, parts


@dataclass
class History:
    """Per-epoch training record; ``best_epoch`` is the one whose weights were kept."""

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    best_epoch: int = -1

    @property
    def epochs(self) -> int:
        return len(self.train_loss)


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: Iterable, device: str | torch.device = "cpu"
) -> tuple[float, float]:
    """Deterministic (eval mode, no dropout) mean cross-entropy and accuracy over ``loader``."""

    total_loss, correct, count = 0.0, 0, 0
    with sampling(model, mc=False):
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            total_loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            count += len(y)
    if count == 0:
        raise ValueError("loader yielded no examples")
    return total_loss / count, correct / count


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    *,
    epochs: int = 30,
    lr: float = 1e-3,
    lam: float = 1e-5,
    phi: float = 1e-5,
    patience: int | None = 10,
    seed: int = 0,
    device: str | torch.device = "cpu",
    show_progress: bool = True,
) -> History:
    """Train ``model`` with Adam on Eq. 17; keep the weights of the best validation epoch.

    Parameters
    ----------
    epochs : int
        Maximum number of epochs.
    lr : float
        Adam learning rate.
    lam, phi : float
        Weights of the L2 and scale regularisers (Eq. 17; the paper uses 1e-5 for both).
    patience : int or None
        Stop after this many epochs without a better validation accuracy (ties broken by
        lower validation loss); ``None`` trains all epochs.
    seed : int
        Seeds torch's global generator (initial dropout masks, shuffling through the
        loader's own generator is set by the loader).
    device : str or torch.device
        Where to train (``"cuda"`` for a GPU); the model is moved there.
    """
    check_positive_int("epochs", epochs)
    if patience is not None:
        check_positive_int("patience", patience)
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}")
    torch.manual_seed(seed)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = History()
    best_key: tuple[float, float] | None = None
    best_state = copy.deepcopy(model.state_dict())
    bar = progress(range(epochs), desc="epochs", enabled=show_progress)
    for epoch in bar:
        model.train()
        loss_sum, correct, count = 0.0, 0, 0
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss, _ = objective(logits, y, model, lam, phi)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            count += len(y)
        val_loss, val_acc = evaluate(model, val_loader, device)
        history.train_loss.append(loss_sum / count)
        history.train_accuracy.append(correct / count)
        history.val_loss.append(val_loss)
        history.val_accuracy.append(val_acc)
        key = (val_acc, -val_loss)
        if best_key is None or key > best_key:
            best_key, history.best_epoch = key, epoch
            best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix_str(f"val acc {val_acc:.3f}", refresh=False)
        if patience is not None and epoch - history.best_epoch >= patience:
            break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    return history
