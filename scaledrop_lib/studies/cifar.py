"""Chapter 4's study on CIFAR-10: train VGG-small variants, then Fig. 6 and Table V.

The book runs chapter 4 on the embedded digits; this is the CIFAR-10 path with the same
library code, SVHN as D5 and STL-10 as D6 (P:265). It holds the pieces the ``scaledrop``
command (:mod:`scaledrop_lib.experiments`) runs every CIFAR-10 experiment with: the data
(:func:`load_cifar_splits`, :func:`load_natural_ood`), the methods (:data:`CONFIGS`), the
paper's flips and crops (:class:`FlipCropDataset`) and the resumable, configuration-keyed
cache of trained models (:func:`train_or_load`). Each trained model is saved under ``out``,
keyed by the SHA-256 of its full configuration, and reused by a run with the same
configuration; a model interrupted mid-training (Ctrl-C) continues from its last completed
epoch and ends bit-identical to an uninterrupted run.

``scaledrop ood`` and ``scaledrop rotation`` run this study for any model, method and seeds
(``scaledrop --help``), e.g. chapter 4's VGG-small study on CIFAR-10::

    scaledrop ood --data-dir ~/data --download --models vgg_small --seeds 0 1 2
    scaledrop rotation --data-dir ~/data --models vgg_small --seeds 0 1 2

(The module's own command of earlier versions folded into these: one way to run experiments.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset

from scaledrop_lib.data.files import load_cifar10, load_stl10, load_svhn
from scaledrop_lib.models.config import NetConfig
from scaledrop_lib.models.vgg import vgg_small
from scaledrop_lib.routines.checkpoints import (
    content_sha256,
    load_checkpoint,
    plain_metadata,
    save_checkpoint,
)
from scaledrop_lib.routines.train import fit

#: Methods of the study and how each VGG-small is built (p = 0.2, the paper's default).
CONFIGS: dict[str, NetConfig] = {
    "deterministic": NetConfig(dropout="none"),
    "MC-Scale-Dropout": NetConfig(dropout="scale", p=0.2),
    "SpinDrop": NetConfig(dropout="spin", p=0.2),
    "Spatial-SpinDrop": NetConfig(dropout="spatial_spin", p=0.2),
    "MC-Dropout": NetConfig(dropout="mc", p=0.2, precision="float"),
}
ENSEMBLE = "ensemble"
METHODS = (*CONFIGS, ENSEMBLE)


class FlipCropDataset(Dataset):
    """Random horizontal flip and a random 32x32 crop of the 4-pixel zero-padded image
    (the paper trains with random flips and crops, P:261), seeded per epoch by torch's RNG."""

    def __init__(self, base: TensorDataset, padding: int = 4) -> None:
        self.base = base
        self.padding = padding

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self.base[index]
        if torch.rand(()) < 0.5:
            image = image.flip(-1)
        pad = self.padding
        padded = torch.nn.functional.pad(image, (pad, pad, pad, pad))
        top, left = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,)))
        return padded[:, top : top + image.shape[1], left : left + image.shape[2]], label


def subset(dataset: TensorDataset, limit: int | None) -> TensorDataset:
    """The first ``limit`` examples of ``dataset`` (all of them for ``None``)."""
    if limit is None or limit >= len(dataset):
        return dataset
    return TensorDataset(*(t[:limit] for t in dataset.tensors))


@dataclass(frozen=True)
class TrainingOptions:
    """How models are trained and where they are kept: everything but the net and the data.

    Attributes
    ----------
    out : Path
        Folder of the trained models (``<method>_seed<k>_<hash>.pt``) and of the resumable
        training states (``*.training.pt``).
    epochs, lr, patience, batch_size
        As :func:`scaledrop_lib.routines.train.fit` takes them (``patience=None`` trains
        every epoch).
    device : str
        ``"cpu"`` or ``"cuda"`` (resolved: no ``"auto"`` here).
    amp : bool
        Train under bfloat16 autocast on ``device`` (:func:`precision`). The ``scaledrop``
        command turns it on for GPUs only.
    progress : bool
        Show the epoch bars.
    distributed : bool
        Train data-parallel over the initialised ``torch.distributed`` process group (every
        process calls :func:`train_or_load` alike, e.g. under ``torchrun``): each rank takes
        ``batch_size / world size`` images of every batch through a ``DistributedSampler``,
        ``fit`` averages the gradients with ``DistributedDataParallel``, rank 0 writes the
        files. The world size is part of the model's key.
    """

    out: Path
    epochs: int = 100
    lr: float = 1e-3
    patience: int | None = 20
    batch_size: int = 128
    device: str = "cpu"
    amp: bool = False
    progress: bool = True
    distributed: bool = False


def precision(amp: bool, device: str | torch.device) -> torch.autocast:
    """Mixed precision for the block when ``amp``: ``torch.autocast`` with bfloat16 on the
    device's type (``"cuda"`` or ``"cpu"``); full precision otherwise.

    bfloat16 keeps fp32's exponent range, so training needs no gradient scaler. Training and
    every evaluation of the ``scaledrop`` command go through this one switch; the command asks
    for it on GPUs only, and the tests run the same path on the CPU.
    """
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=amp)


#: The architecture this module's own command trains (the key's ``architecture`` entry).
VGG_SMALL_ARCHITECTURE: dict[str, Any] = {"name": "vgg_small", "width": 1.0, "layerwise_p": None}


def training_config(
    name: str,
    config: NetConfig,
    seed: int,
    data_sha256: str,
    options: TrainingOptions,
    architecture: Mapping[str, Any] | None = None,
    task: str = "classification",
    augmentation: str = "flip + crop, padding 4",
) -> dict[str, Any]:
    """Everything that decides the weights of one trained model: its cache key.

    Method name, network options, seed, epochs, lr, patience, batch size, augmentation,
    device type, mixed precision, task, the architecture (name, width multiplier, layer-wise
    p) and the data's fingerprint. What only evaluation reads (T, OOD sets, angles) is not in
    it, so every experiment of a run shares the trained models. Distributed training adds
    ``world_size`` (the processes' batch statistics and sampler order change the weights);
    a single process's key has no such entry, as before.
    """
    processes = {"world_size": _world_size(options)} if options.distributed else {}
    return {
        "method": name,
        "net": config.to_dict(),
        "seed": seed,
        "epochs": options.epochs,
        "lr": options.lr,
        "patience": options.patience,
        "batch_size": options.batch_size,
        "augmentation": augmentation,
        "device": torch.device(options.device).type,
        "amp": bool(options.amp),
        "task": task,
        "architecture": dict(architecture or VGG_SMALL_ARCHITECTURE),
        "data_sha256": data_sha256,
        **processes,
    }


def _world_size(options: TrainingOptions) -> int:
    """The number of processes ``options.distributed`` trains with (checked)."""
    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError(
            "TrainingOptions(distributed=True) needs an initialised torch.distributed process "
            "group (e.g. under torchrun)"
        )
    world = dist.get_world_size()
    if options.batch_size % world:
        raise ValueError(
            f"batch_size ({options.batch_size}) must be a multiple of the number of processes "
            f"({world}): each process takes an equal part of every batch"
        )
    return world


def data_fingerprint(train: TensorDataset, val: TensorDataset) -> str:
    """SHA-256 of the training and validation tensors (any change of data retrains)."""
    return content_sha256([list(train.tensors), list(val.tensors)])


@dataclass
class TrainedModel:
    """A model of a study, trained now or loaded from its checkpoint.

    ``metadata`` is what the checkpoint stores: method, seed, epochs, the training
    configuration and its SHA-256, and the training history (``None`` in checkpoints of
    older versions of this module).
    """

    model: nn.Module
    path: Path
    metadata: dict[str, Any]
    loaded: bool


def checkpoint_stem(name: str, seed: int, key: str) -> str:
    """``<method>_seed<k>_<first 16 hex digits of the configuration's SHA-256>``."""
    return f"{name.replace(' ', '_')}_seed{seed}_{key[:16]}"


def train_or_load(
    name: str,
    config: NetConfig,
    seed: int,
    data: tuple[TensorDataset, TensorDataset],
    options: TrainingOptions,
    *,
    build: Callable[[NetConfig], nn.Module] = vgg_small,
    architecture: Mapping[str, Any] | None = None,
    task: str = "classification",
    augment: bool = True,
    data_sha256: str | None = None,
    log: Callable[[str], None] = print,
) -> TrainedModel:
    """Train one model, or load it from ``options.out`` when a run with the same
    configuration saved it.

    The file name carries the first 16 hex digits of the configuration's SHA-256
    (:func:`training_config`), so changing ``epochs`` or ``lr`` trains a new model; the
    loader checks the file's embedded checksum and the full configuration hash in its
    metadata. While training, ``fit`` writes a resumable state after every epoch
    (``<file stem>.training.pt``): an interrupted run continues where it stopped and ends with
    the same weights as an uninterrupted one.

    With ``options.distributed`` every process of the group calls this alike: they train
    together (:func:`~scaledrop_lib.routines.train.fit` with ``distributed=True``), rank 0
    alone logs and writes the files, and the other ranks then load what it wrote, so every
    rank returns the same weights and metadata.

    Parameters
    ----------
    name : str
        The method's name (part of the file name and of the key).
    config : NetConfig
        How the net is built.
    seed : int
        Seeds the initial weights, the loader's shuffling and the training masks.
    data : (TensorDataset, TensorDataset)
        Training and validation data.
    options : TrainingOptions
        Epochs, lr, patience, batch size, device, mixed precision, the output folder.
    build : callable
        ``config -> model``; must match ``architecture`` (default VGG-small).
    architecture : dict, optional
        What ``build`` builds, for the key (default :data:`VGG_SMALL_ARCHITECTURE`).
    task : {"classification", "segmentation"}
        What ``fit`` trains for.
    augment : bool
        Random flips and crops of the training images (:class:`FlipCropDataset`); only for
        classification, where the target does not move with the image.
    data_sha256 : str, optional
        :func:`data_fingerprint` of ``data``, when the caller already has it.
    log : callable
        Receives one line per model: loaded, or trained (resumed) into which file.

    Raises
    ------
    ValueError
        The checkpoint or the training state is corrupt, or holds another configuration;
        the message names the file.
    """
    if augment and task != "classification":
        raise ValueError("augment=True flips and crops images only; pass augment=False")
    train, val = data
    data_sha256 = data_sha256 or data_fingerprint(train, val)
    augmentation = "flip + crop, padding 4" if augment else "none"
    settings = training_config(
        name, config, seed, data_sha256, options, architecture, task, augmentation
    )
    key = content_sha256(settings)
    world = settings.get("world_size", 1)
    main = not options.distributed or dist.get_rank() == 0
    stem = checkpoint_stem(name, seed, key)
    path = Path(options.out) / f"{stem}.pt"
    state_path = Path(options.out) / f"{stem}.training.pt"
    torch.manual_seed(seed)
    model = build(config)
    if path.is_file():
        try:
            metadata = load_checkpoint(model, path)
        except ValueError as error:
            raise ValueError(f"{error} (delete {path} to train this model again)") from error
        if metadata.get("config_sha256") != key:
            raise ValueError(
                f"{path} holds a model of another configuration (sha256 "
                f"{metadata.get('config_sha256')}, expected {key}): delete it to retrain"
            )
        if main:
            log(f"{name} (seed {seed}): loaded {path}")
        return TrainedModel(model.to(options.device).eval(), path, metadata, loaded=True)
    resuming = " (resuming)" if state_path.is_file() else ""
    if main:
        processes = f" on {world} processes" if options.distributed else ""
        log(f"{name} (seed {seed}): training{resuming}{processes}, to be saved as {path}")
    train_data: Dataset = FlipCropDataset(train) if augment else train
    if options.distributed:
        sampler = DistributedSampler(train_data, world, dist.get_rank(), shuffle=True, seed=seed)
        train_loader = DataLoader(
            train_data, batch_size=options.batch_size // world, sampler=sampler
        )
    else:
        generator = torch.Generator().manual_seed(seed)
        train_loader = DataLoader(
            train_data, batch_size=options.batch_size, shuffle=True, generator=generator
        )
    val_loader = DataLoader(val, batch_size=256)
    with precision(options.amp, options.device):
        history = fit(
            model,
            train_loader,
            val_loader,
            task=task,
            epochs=options.epochs,
            lr=options.lr,
            patience=options.patience,
            seed=seed,
            device=options.device,
            progress=options.progress,
            checkpoint=state_path,
            resume=True,
            distributed=options.distributed,
        )
    if not main:  # rank 0 writes the model; every rank then holds what it wrote
        dist.barrier()
        metadata = load_checkpoint(model, path)
        return TrainedModel(model.eval(), path, metadata, loaded=False)
    metadata = {
        "method": name,
        "seed": seed,
        "epochs": history.epochs,
        "config": settings,
        "config_sha256": key,
        "history": history.to_dict(),
    }
    save_checkpoint(model, path, metadata)
    state_path.unlink(missing_ok=True)  # the finished model replaces the resumable state
    if options.distributed:
        dist.barrier()
    return TrainedModel(model, path, plain_metadata(metadata), loaded=False)


def load_cifar_splits(
    root: str | Path, download: bool, val_size: int = 5000
) -> dict[str, TensorDataset]:
    """CIFAR-10 train/val/test (the last ``val_size`` training images validate), in pixel
    space [0, 1]."""
    full = load_cifar10(root, train=True, download=download)
    if not 0 < val_size < len(full):
        raise ValueError(f"val_size must be in (0, {len(full)}), got {val_size}")
    images, labels = full.tensors
    return {
        "train": TensorDataset(images[:-val_size], labels[:-val_size]),
        "val": TensorDataset(images[-val_size:], labels[-val_size:]),
        "test": load_cifar10(root, train=False, download=download),
    }


def load_natural_ood(root: str | Path, download: bool) -> dict[str, TensorDataset]:
    """The natural OOD sets of CIFAR-10 (P:265): the SVHN test split and the STL-10 test
    split area-resized to 32x32, in pixel space [0, 1]."""
    return {
        "svhn": load_svhn(root, split="test", download=download),
        "stl10": load_stl10(root, split="test", size=32, download=download),
    }
