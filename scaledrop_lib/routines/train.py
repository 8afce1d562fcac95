"""Training with the paper's objective (Eq. 17), early stopping, and safe checkpoints.

Objective (Eq. 17):

    L = CE + lambda * sum_l ||W_l||^2 + phi * sum_l (1 - mean(alpha_l))^2

with lambda = phi = 1e-5 and Adam, as in the paper. The L2 term is added to the loss as
printed (on the real-valued latent weights of every conv/linear layer), *not* through Adam's
``weight_decay``, which would be (lambda/2) * ||W||^2 applied inside the optimiser.

``fit(..., checkpoint=path)`` writes the whole training state after every epoch (atomically,
with its checksum); ``fit(..., resume=path)`` continues from it to weights bit-identical to an
uninterrupted run. On an error or Ctrl-C the model keeps the best completed epoch's weights,
in eval mode.

``fit(..., distributed=True)`` trains data-parallel over an initialised ``torch.distributed``
process group (e.g. under ``torchrun``) with torch's ``DistributedDataParallel``; the train
loader shards with a ``DistributedSampler``.
"""

from __future__ import annotations

import copy
import math
import os
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from scaledrop_lib._checks import check_choice, check_positive_int
from scaledrop_lib.layers.sampling import sampling
from scaledrop_lib.progress import progress as progress_bar
from scaledrop_lib.routines.checkpoints import (
    content_sha256,
    load_state_all_or_nothing,
    load_training_state,
    save_training_state,
)
from scaledrop_lib.routines.resume import (
    check_yields,
    config_differences,
    loader_signature,
    model_signature,
    resume_source,
    rng_state,
    set_rng_state,
)


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
    total, l2, reg = _regularised(ce, model, lam, phi)
    parts = {"ce": float(ce.detach()), "l2": float(l2.detach()), "scale_reg": float(reg.detach())}
    return total, parts


def _regularised(
    data_loss: torch.Tensor, model: nn.Module, lam: float, phi: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 17's total for any data loss: (data + lam * L2 + phi * scale term, L2, scale term)."""
    l2 = weight_l2(model)
    reg = scale_regularizer(model)
    return data_loss + lam * l2 + phi * reg, l2, reg


def soft_dice_loss(logits: torch.Tensor, masks: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - soft Dice between sigmoid(logits) and the masks, pooled over the batch.

    Added to the pixel-wise cross-entropy for segmentation because lesions cover a minority of
    pixels: Dice weighs the lesion's overlap, not the easy background.
    """
    probs = torch.sigmoid(logits)
    intersection = (probs * masks).sum()
    return 1 - (2 * intersection + eps) / (probs.sum() + masks.sum() + eps)


def _segmentation_data_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, masks) + soft_dice_loss(logits, masks)


def _classification_counts(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    correct = (logits.argmax(1) == labels).sum()
    return torch.stack([correct, torch.tensor(len(labels), device=labels.device)]).double()


def _segmentation_counts(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    pred, target = logits > 0, masks > 0.5  # logit > 0 <=> probability > 0.5
    tp, fp, fn = (pred & target).sum(), (pred & ~target).sum(), (~pred & target).sum()
    return torch.stack([tp, fp, fn]).double()


def _accuracy_from_counts(counts: torch.Tensor) -> float:
    correct, total = counts.tolist()
    return correct / total


def _iou_from_counts(counts: torch.Tensor) -> float:
    tp, fp, fn = counts.tolist()
    return tp / (tp + fp + fn) if tp + fp + fn else math.nan  # nothing to find, nothing found


@dataclass(frozen=True)
class Task:
    """What the trainer needs to know about a prediction task.

    Attributes
    ----------
    name : str
        ``"classification"`` or ``"segmentation"``.
    score_name : str
        What the validation score is (``"accuracy"``, ``"iou"``); higher is better.
    data_loss : callable
        ``(outputs, targets) -> mean loss`` of a batch, before Eq. 17's regularisers.
    counts : callable
        ``(outputs, targets) -> tensor`` of counts that add up over batches.
    score : callable
        ``counts -> float``, the score of the summed counts (NaN where undefined).
    """

    name: str
    score_name: str
    data_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    counts: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    score: Callable[[torch.Tensor], float]


#: Cross-entropy over classes; the score is accuracy (Eq. 17 as printed).
CLASSIFICATION = Task(
    "classification", "accuracy", F.cross_entropy, _classification_counts, _accuracy_from_counts
)
#: One logit per pixel: binary cross-entropy + soft Dice; the score is the pooled IoU of the
#: mask at probability 0.5.
SEGMENTATION = Task(
    "segmentation", "iou", _segmentation_data_loss, _segmentation_counts, _iou_from_counts
)
_TASKS = {task.name: task for task in (CLASSIFICATION, SEGMENTATION)}


def _task(task: Task | str) -> Task:
    if isinstance(task, Task):
        return task
    return _TASKS[check_choice("task", task, tuple(_TASKS))]


@dataclass
class History:
    """Per-epoch training record; ``best_epoch`` is the one whose weights were kept.

    ``train_score`` / ``val_score`` hold the task's score (:attr:`Task.score_name`):
    accuracy for classification, pooled IoU for segmentation.
    """

    score_name: str = "accuracy"
    train_loss: list[float] = field(default_factory=list)
    train_score: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_score: list[float] = field(default_factory=list)
    best_epoch: int = -1

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict[str, Any]:
        """The record with the score named by the task (``val_accuracy``, ``val_iou``, ...),
        as checkpoint metadata stores it."""
        return {
            "train_loss": self.train_loss,
            f"train_{self.score_name}": self.train_score,
            "val_loss": self.val_loss,
            f"val_{self.score_name}": self.val_score,
            "best_epoch": self.best_epoch,
        }


def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: str | torch.device = "cpu",
    task: Task | str = "classification",
) -> tuple[float, float]:
    """Deterministic (eval mode, no dropout) mean data loss and score over ``loader``.

    For classification: mean cross-entropy and accuracy. For segmentation: mean binary
    cross-entropy + soft Dice and the pooled IoU (NaN if no image has foreground anywhere).
    """
    task = _task(task)
    return _mean_and_score(*_evaluation_sums(model, loader, device, task), task)


@torch.no_grad()
def _evaluation_sums(
    model: nn.Module, batches: Iterable, device: str | torch.device, task: Task
) -> tuple[float, torch.Tensor | None, int]:
    """The data loss summed over the examples of ``batches``, the task's counts (``None``
    without batches) and the number of examples, in eval mode without dropout."""
    total_loss, counts, count = 0.0, None, 0
    with sampling(model, mc=False):
        for x, y in batches:
            x, y = x.to(device), y.to(device)
            outputs = model(x)
            total_loss += float(task.data_loss(outputs, y)) * len(y)
            batch = task.counts(outputs, y)
            counts = batch if counts is None else counts + batch
            count += len(y)
    return total_loss, counts, count


def _mean_and_score(
    total_loss: float, counts: torch.Tensor | None, count: int, task: Task
) -> tuple[float, float]:
    if count == 0:
        raise ValueError("loader yielded no examples")
    return total_loss / count, task.score(counts)


def _evaluate_sharded(
    model: nn.Module, loader: Iterable, device: str | torch.device, task: Task
) -> tuple[float, float]:
    """:func:`evaluate` split over the ranks of the process group: rank ``r`` of ``W`` runs
    the model on batches ``r, r + W, r + 2W, ...`` of ``loader`` and the sums are gathered.

    Every rank gets the same numbers (the ranks' sums are added in rank order on each). The
    score equals one process's exactly (it comes from integer counts); the loss differs from
    it only by the order of a floating-point sum. Every rank still iterates the whole loader
    (skipping a batch costs its loading, not the model's forward pass).
    """
    rank, world = dist.get_rank(), dist.get_world_size()
    mine = (batch for index, batch in enumerate(loader) if index % world == rank)
    total_loss, counts, count = _evaluation_sums(model, mine, device, task)
    parts: list[Any] = [None] * world
    # all_gather_object: a rank without batches has no counts tensor to reduce
    dist.all_gather_object(parts, (total_loss, None if counts is None else counts.cpu(), count))
    total_loss, counts, count = 0.0, None, 0
    for part_loss, part_counts, part_count in parts:
        total_loss += part_loss
        count += part_count
        if part_counts is not None:
            counts = part_counts if counts is None else counts + part_counts
    return _mean_and_score(total_loss, counts, count, task)


def _parameter_groups(model: nn.Module, lr: float, scale_lr_factor: float) -> list[dict]:
    """Adam's parameter groups: one group, or the scale vectors apart at their own rate."""
    if scale_lr_factor == 1.0:
        return [{"params": list(model.parameters())}]
    scales = {id(alpha) for alpha in scale_vectors(model)}
    rest = [param for param in model.parameters() if id(param) not in scales]
    alphas = [param for param in model.parameters() if id(param) in scales]
    return [{"params": rest}, {"params": alphas, "lr": lr * scale_lr_factor}]


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    *,
    task: Task | str = "classification",
    epochs: int = 30,
    lr: float = 1e-3,
    lam: float = 1e-5,
    phi: float = 1e-5,
    patience: int | None = 10,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    scale_lr_factor: float = 1.0,
    checkpoint: str | os.PathLike | None = None,
    resume: bool | str | os.PathLike = False,
    distributed: bool = False,
) -> History:
    """Train ``model`` with Adam on Eq. 17; keep the weights of the best validation epoch.

    One loop for every task: the loss is the task's data loss + ``lam`` * weight L2 + ``phi``
    * scale regulariser (Eq. 17, with cross-entropy for classification and binary
    cross-entropy + soft Dice for segmentation). Dropout samples during training (the model
    learns to work under the masks); validation runs the deterministic pass.

    Parameters
    ----------
    model : nn.Module
        Returns logits: (N, C) for classification, (N, 1, H, W) for segmentation.
    train_loader, val_loader : torch.utils.data.DataLoader
        Batches of (inputs, targets); shuffling is the train loader's (seed its generator).
        A loader that yields no batch is refused before training.
    task : Task or {"classification", "segmentation"}
        What is predicted (see :data:`CLASSIFICATION`, :data:`SEGMENTATION`).
    epochs : int
        Maximum number of epochs.
    lr : float
        Adam learning rate.
    lam, phi : float
        Weights of the L2 and scale regularisers (Eq. 17; the paper uses 1e-5 for both).
    patience : int or None
        Stop after this many epochs without a better validation score (ties broken by lower
        validation loss; a NaN score counts as the worst); ``None`` trains all epochs.
    seed : int
        Seeds Python's, numpy's and torch's global generators (:func:`seed_everything`):
        initial dropout masks of modules without their own generator.
    device : str or torch.device
        Where to train (``"cuda"`` for a GPU); the model is moved there.
    progress : bool
        Show a progress bar over the epochs.
    scale_lr_factor : float
        The scale vectors alpha train with learning rate ``lr * scale_lr_factor`` (the paper
        leaves alpha's learning rate open; 1 = one rate for every parameter).
    checkpoint : str or os.PathLike, optional
        After every epoch, write the whole training state here atomically (model, optimiser,
        best weights so far, history, every random generator: torch's, CUDA's, numpy's,
        Python's, each dropout module's and the loaders'; and the SHA-256 of the training
        configuration), with its content checksum.
    resume : bool or str or os.PathLike
        A path: continue from that training state. ``True``: continue from ``checkpoint``
        if that file exists, else start from scratch. The result is bit-identical to a run
        that was never interrupted (same data, same device, ``num_workers=0`` or
        non-persistent workers). A state written by another configuration (arguments,
        architecture, loader settings, tensor data) is refused.
    distributed : bool
        Train data-parallel over the initialised default ``torch.distributed`` process group
        (e.g. under ``torchrun``): see Notes. ``False`` (default) trains in this process only.

    Returns
    -------
    History
        Per-epoch losses and scores; the model holds the best epoch's weights, in eval mode.

    Raises
    ------
    ValueError
        A bad argument, an empty loader, or a resume file that is corrupt or belongs to
        another configuration.
    FloatingPointError
        The training loss became NaN or infinite (the message names the epoch and batch);
        no step is taken with it and ``checkpoint`` keeps the last completed epoch.

    Notes
    -----
    On any error or interrupt (``KeyboardInterrupt`` included) the model gets back the
    weights of the best completed epoch (its initial weights if none completed) and is left
    in eval mode; ``checkpoint`` holds the last completed epoch, to resume from.

    With ``distributed=True`` every process calls ``fit`` with the same arguments. The
    training passes go through :class:`torch.nn.parallel.DistributedDataParallel` (rank 0's
    initial weights are broadcast, gradients averaged over the ranks at every step, so all
    ranks take the same steps); give ``train_loader`` a
    :class:`~torch.utils.data.DistributedSampler`, whose ``set_epoch`` is called every epoch
    (it is called for any sampler that has one). BatchNorm normalises with each rank's own
    batch statistics (plain DDP, no SyncBatchNorm); its running statistics are rank 0's,
    broadcast before every validation. The training loss and score are summed over the ranks;
    validation is split over the ranks by batches of ``val_loader`` (give it no
    ``DistributedSampler``) and its sums gathered, so every rank gets the same validation
    result, every decision (best epoch, early stop) is the same everywhere and all ranks end
    with the same weights. A non-finite loss on any rank stops every rank before the step.
    Only rank 0 writes ``checkpoint``; a resumed run reads it on every rank.
    """
    task = _task(task)
    check_positive_int("epochs", epochs)
    if patience is not None:
        check_positive_int("patience", patience)
    if not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0, got {lr}")
    for name, value in (("lam", lam), ("phi", phi)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    if not math.isfinite(scale_lr_factor) or scale_lr_factor <= 0:
        raise ValueError(f"scale_lr_factor must be a finite number > 0, got {scale_lr_factor}")
    if distributed and not (dist.is_available() and dist.is_initialized()):
        raise ValueError(
            "distributed=True needs an initialised torch.distributed process group "
            "(torch.distributed.init_process_group, e.g. under torchrun)"
        )
    main = not distributed or dist.get_rank() == 0
    checkpoint_path = Path(checkpoint) if checkpoint is not None else None
    resume_path = resume_source(resume, checkpoint_path)
    if resume_path is not None and not resume_path.is_file():
        raise FileNotFoundError(f"resume: training state {resume_path} does not exist")
    check_yields("train_loader", train_loader)
    check_yields("val_loader", val_loader)
    seed_everything(seed)
    model.to(device)
    cuda = torch.device(device).type == "cuda"
    loaders = [train_loader, val_loader]
    config: dict[str, Any] = {}
    if checkpoint_path is not None or resume_path is not None:
        config = {
            "task": task.name,
            "epochs": epochs,
            "lr": float(lr),
            "lam": float(lam),
            "phi": float(phi),
            "patience": patience,
            "seed": seed,
            "scale_lr_factor": float(scale_lr_factor),
            "device": torch.device(device).type,
            "model": model_signature(model),
            "train_loader": loader_signature(train_loader),
            "val_loader": loader_signature(val_loader),
        }
        if distributed:  # absent otherwise: the hashes of existing states stay the same
            config["world_size"] = dist.get_world_size()
    config_sha256 = content_sha256(config)
    optimizer = torch.optim.Adam(_parameter_groups(model, lr, scale_lr_factor), lr=lr)
    history = History(score_name=task.score_name)
    best_key: tuple[float, float] | None = None
    best_state = copy.deepcopy(model.state_dict())
    start, finished = 0, False
    bar = None
    try:
        if resume_path is not None:
            state = load_training_state(resume_path)
            if state.get("config_sha256") != config_sha256:
                differs = ", ".join(config_differences(state.get("config"), config))
                raise ValueError(
                    f"resume: {resume_path} was written by a different training configuration "
                    f"(differs in: {differs}); resume with the same arguments, model and data, "
                    "or start without resume"
                )
            try:
                saved_best = dict(state["best_state"])
                start, finished, best_key, history = _restore(
                    state, model, optimizer, loaders, f"training state {resume_path}"
                )
            except (KeyError, TypeError, IndexError, RuntimeError) as error:
                raise ValueError(
                    f"resume: training state {resume_path} is incomplete: {error!r}"
                ) from error
            best_state = saved_best
        bar = progress_bar(
            range(start, epochs),
            desc="epochs",
            total=epochs,
            initial=start,
            enabled=progress and main and not finished,
        )
        # after the restore: DDP's constructor waits for every rank (none writes before)
        net = _data_parallel(model, device) if distributed and not finished else model
        for epoch in [] if finished else bar:
            sampler = getattr(train_loader, "sampler", None)
            if callable(getattr(sampler, "set_epoch", None)):
                sampler.set_epoch(epoch)  # DistributedSampler: a new shuffle every epoch
            net.train()
            loss_sum, counts, count = 0.0, None, 0
            for batch, (x, y) in enumerate(train_loader):
                x, y = x.to(device), y.to(device)
                outputs = net(x)
                loss = _regularised(task.data_loss(outputs, y), model, lam, phi)[0]
                finite = bool(torch.isfinite(loss))
                if distributed:
                    finite = _on_every_rank(finite, device)
                if not finite:
                    # stop before the step; the model gets back the best epoch's weights
                    value = float(loss.detach())
                    what = (
                        f"{value}"
                        if not math.isfinite(value)
                        else f"not finite on another rank (here {value})"
                    )
                    raise FloatingPointError(
                        f"training loss is {what} at epoch {epoch}, batch {batch}: check the "
                        "inputs for NaN/inf and lower lr"
                    )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                loss_sum += float(loss.detach()) * len(y)
                batch_counts = task.counts(outputs.detach(), y)
                counts = batch_counts if counts is None else counts + batch_counts
                count += len(y)
            if count == 0:
                raise ValueError(f"train_loader yielded no examples in epoch {epoch}")
            if distributed:
                loss_sum, count, counts = _summed_over_ranks(loss_sum, count, counts, device)
                _broadcast_buffers(model)
            if distributed:  # every rank gets the same numbers, so decides the same way
                val_loss, val_score = _evaluate_sharded(model, val_loader, device, task)
            else:
                val_loss, val_score = evaluate(model, val_loader, device, task)
            history.train_loss.append(loss_sum / count)
            history.train_score.append(task.score(counts))
            history.val_loss.append(val_loss)
            history.val_score.append(val_score)
            key = (-math.inf if math.isnan(val_score) else val_score, -val_loss)
            if best_key is None or key > best_key:
                best_key, history.best_epoch = key, epoch
                best_state = copy.deepcopy(model.state_dict())
            bar.set_postfix_str(f"val {task.score_name} {val_score:.3f}", refresh=False)
            stop = patience is not None and epoch - history.best_epoch >= patience
            if checkpoint_path is not None and main:
                save_training_state(
                    checkpoint_path,
                    {
                        "config": config,
                        "config_sha256": config_sha256,
                        "epoch": epoch + 1,
                        "finished": stop or epoch + 1 == epochs,
                        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                        "optimizer": optimizer.state_dict(),
                        "best_state": {k: v.detach().cpu() for k, v in best_state.items()},
                        "best_key": list(best_key),
                        "history": {"score_name": history.score_name, **_history_lists(history)},
                        "rng": rng_state(model, loaders, cuda),
                    },
                )
            if stop:
                break
        model.load_state_dict(best_state)
    except BaseException:
        try:  # leave no half-trained weights and no train mode behind
            model.load_state_dict(best_state)
        finally:
            model.eval()
        raise
    finally:
        if bar is not None:
            bar.close()
    model.eval()
    return history


def _data_parallel(model: nn.Module, device: str | torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel, on this process's GPU for CUDA."""
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return DistributedDataParallel(model, device_ids=[index], output_device=index)
    return DistributedDataParallel(model)


def _collective_device(device: str | torch.device) -> torch.device:
    """Where the small tensors of a collective live: the GPU for NCCL, else the CPU."""
    return torch.device(device) if dist.get_backend() == "nccl" else torch.device("cpu")


def _on_every_rank(flag: bool, device: str | torch.device) -> bool:
    """Whether ``flag`` holds on every rank."""
    value = torch.tensor([1.0 if flag else 0.0], device=_collective_device(device))
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item() > 0)


def _summed_over_ranks(
    loss_sum: float, count: int, counts: torch.Tensor | None, device: str | torch.device
) -> tuple[float, int, torch.Tensor | None]:
    """The epoch's loss sum, example count and task counts, summed over the ranks."""
    where = _collective_device(device)
    totals = torch.tensor([loss_sum, float(count)], dtype=torch.float64, device=where)
    dist.all_reduce(totals)
    if counts is not None:
        counts = counts.to(where, torch.float64)
        dist.all_reduce(counts)
    return float(totals[0]), round(float(totals[1])), counts


def _broadcast_buffers(model: nn.Module) -> None:
    """Rank 0's buffers (BatchNorm's running statistics) on every rank."""
    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)


def _restore(
    state: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loaders: list[Iterable],
    source: str,
) -> tuple[int, bool, tuple[float, float] | None, History]:
    """Load a training state into the model, optimiser and generators; return (next epoch,
    finished, best key, history)."""
    load_state_all_or_nothing(model, state["model"], source)
    optimizer.load_state_dict(state["optimizer"])
    saved = state["history"]
    history = History(
        score_name=saved["score_name"],
        train_loss=list(saved["train_loss"]),
        train_score=list(saved["train_score"]),
        val_loss=list(saved["val_loss"]),
        val_score=list(saved["val_score"]),
        best_epoch=saved["best_epoch"],
    )
    best_key = tuple(state["best_key"]) if state["best_key"] is not None else None
    set_rng_state(state["rng"], model, loaders)
    return int(state["epoch"]), bool(state["finished"]), best_key, history


def _history_lists(history: History) -> dict[str, Any]:
    return {
        "train_loss": list(history.train_loss),
        "train_score": list(history.train_score),
        "val_loss": list(history.val_loss),
        "val_score": list(history.val_score),
        "best_epoch": history.best_epoch,
    }
