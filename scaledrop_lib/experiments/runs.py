"""Building the nets and training or loading every (model, method, seed) of a run.

Models are the binary ResNet-18, ResNet-20 and VGG-small of :mod:`scaledrop_lib.models`,
optionally narrowed by a width multiplier (``--width``; 1 builds the paper's nets), and the
U-Net / SegNet of the segmentation experiment. Every trained model goes through
:func:`scaledrop_lib.studies.cifar.train_or_load`: saved under
``<out>/checkpoints/<model>/``, keyed by the SHA-256 of everything that decides its weights,
reused by every later experiment with the same settings, resumable after an interrupt.

Under ``torchrun`` (:mod:`scaledrop_lib.experiments.distributed`) the processes train each
model together (DistributedDataParallel) and evaluate by shards of whole evaluation batches:
:func:`sharded` runs a prediction on this process's images and gathers every process's
result in image order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import TensorDataset

from scaledrop_lib.experiments.distributed import gather_cat, is_distributed, shard
from scaledrop_lib.experiments.settings import Settings, SettingsError
from scaledrop_lib.inference.mc import deterministic_predict, mc_predict
from scaledrop_lib.inference.segment import deterministic_segment, mc_segment
from scaledrop_lib.kinds import DropoutKind
from scaledrop_lib.layers.sampling import apply_layerwise_p, seed_dropout
from scaledrop_lib.models.config import NetConfig
from scaledrop_lib.models.resnet import CifarResNet
from scaledrop_lib.models.segnets import BinarySegNet, BinaryUNet
from scaledrop_lib.models.sequential import build_sequential
from scaledrop_lib.models.vgg import VGG_SMALL_SPEC
from scaledrop_lib.studies.cifar import (
    CONFIGS,
    ENSEMBLE,
    TrainedModel,
    TrainingOptions,
    precision,
)
from scaledrop_lib.studies.cifar import train_or_load as cached_train

#: Widths and blocks per stage of the CIFAR ResNets (as :func:`scaledrop_lib.models.resnet20`
#: and :func:`~scaledrop_lib.models.resnet18` build them).
RESNETS = {"resnet20": ((16, 32, 64), 3), "resnet18": ((64, 128, 256, 512), 2)}
#: Channels of the segmentation nets' three levels at width 1.
SEGMENTATION_WIDTHS = (16, 32, 64)
#: How the segmentation methods' nets are built (p comes from ``--p``).
SEGMENTATION_CONFIGS = {
    "MC-Scale-Dropout": NetConfig(dropout="scale"),
    "MC-Dropout": NetConfig(dropout="mc", precision="float"),
    "deterministic": NetConfig(dropout="none"),
}
#: Seed of ensemble member ``i`` of training seed ``s``: 100 + 100 s + i (seed 0: 100, 101, ...,
#: as the CIFAR study has always trained them).
ENSEMBLE_SEED_BASE = 100


def scaled_widths(widths: Sequence[int], multiplier: float) -> tuple[int, ...]:
    """Each width times ``multiplier``, rounded, at least 1."""
    return tuple(max(1, round(w * multiplier)) for w in widths)


def architecture(name: str, width: float, layerwise_p: Sequence[float] | None) -> dict[str, Any]:
    """What :func:`build_classifier` / :func:`build_segmenter` build, for the model's key."""
    return {
        "name": name,
        "width": float(width),
        "layerwise_p": None if layerwise_p is None else [float(v) for v in layerwise_p],
    }


def _layerwise(model: nn.Module, config: NetConfig, layerwise_p: Sequence[float] | None) -> None:
    if layerwise_p is not None and config.dropout is DropoutKind.SCALE:
        apply_layerwise_p(model, *layerwise_p)


def build_classifier(
    name: str, config: NetConfig, width: float = 1.0, layerwise_p: Sequence[float] | None = None
) -> nn.Module:
    """A CIFAR-10 classifier: ``"vgg_small"``, ``"resnet20"`` or ``"resnet18"``.

    Parameters
    ----------
    name : str
        The topology.
    config : NetConfig
        Dropout, p, precision, placement.
    width : float
        Channel multiplier (1 = the library's :func:`~scaledrop_lib.models.vgg_small`,
        :func:`~scaledrop_lib.models.resnet20`, :func:`~scaledrop_lib.models.resnet18`).
    layerwise_p : (float, float), optional
        Scale-Dropout's layer-wise p (Sec. III-D,
        :func:`~scaledrop_lib.layers.sampling.apply_layerwise_p`); only nets with
        Scale-Dropout take it.
    """
    if name == "vgg_small":
        spec = [
            (kind, *scaled_widths(rest, width)) if kind == "conv" else (kind,)
            for kind, *rest in VGG_SMALL_SPEC
        ]
        model = build_sequential(spec, (3, 32, 32), 10, config)
    elif name in RESNETS:
        widths, blocks = RESNETS[name]
        model = CifarResNet(scaled_widths(widths, width), blocks, config, num_classes=10)
    else:
        raise SettingsError(f"unknown model {name!r}; choose from vgg_small, resnet18, resnet20")
    _layerwise(model, config, layerwise_p)
    return model


def build_segmenter(
    name: str,
    config: NetConfig,
    width: float = 1.0,
    in_channels: int = 3,
    layerwise_p: Sequence[float] | None = None,
) -> nn.Module:
    """``"unet"`` or ``"segnet"`` (:class:`~scaledrop_lib.models.BinaryUNet`,
    :class:`~scaledrop_lib.models.BinarySegNet`) with widths 16-32-64 times ``width``."""
    widths = scaled_widths(SEGMENTATION_WIDTHS, width)
    cls = {"unet": BinaryUNet, "segnet": BinarySegNet}.get(name)
    if cls is None:
        raise SettingsError(f"unknown segmentation model {name!r}; choose from unet, segnet")
    model = cls(config, in_channels=in_channels, widths=widths)
    _layerwise(model, config, layerwise_p)
    return model


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` if a GPU is available, else ``"cpu"``; a CUDA device that is
    not there is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SettingsError(
            f"--device {device}: no CUDA device is available here; use --device cpu or auto"
        )
    return device


def method_config(method: str, p: float) -> NetConfig:
    """The net of a classification method (:data:`scaledrop_lib.studies.cifar.CONFIGS`) with
    dropout probability ``p``."""
    base = CONFIGS["deterministic" if method == ENSEMBLE else method]
    return base if base.dropout is DropoutKind.NONE else base.with_options(p=p)


@dataclass
class Run:
    """One method of one model for one training seed: a net, or an ensemble's members."""

    model_name: str
    method: str
    seed: int
    members: list[TrainedModel]
    config: NetConfig

    @property
    def model(self) -> nn.Module:
        """The net (the first member of an ensemble)."""
        return self.members[0].model

    @property
    def sampled(self) -> bool:
        """Whether the method samples dropout masks (MC inference)."""
        return self.method != ENSEMBLE and self.config.dropout is not DropoutKind.NONE


def training_options(settings: Settings, device: str, amp: bool, folder: Path) -> TrainingOptions:
    """The training part of ``settings``, models kept in ``folder``."""
    return TrainingOptions(
        out=folder,
        epochs=settings.epochs,
        lr=settings.lr,
        patience=settings.patience or None,
        batch_size=settings.batch_size,
        device=device,
        amp=amp,
        progress=settings.progress,
        distributed=is_distributed(),
    )


def checkpoint_folder(settings: Settings, model_name: str) -> Path:
    """``<out>/checkpoints/<model>``."""
    return Path(settings.out) / "checkpoints" / model_name


def train_classifiers(
    settings: Settings,
    train: TensorDataset,
    val: TensorDataset,
    data_sha256: str,
    device: str,
    amp: bool,
    log: Callable[[str], None],
    methods: Sequence[str] | None = None,
) -> list[Run]:
    """Train or load every model x method x seed of ``settings`` (in that order).

    An ensemble of seed ``s`` has ``--ensemble-size`` deterministic members with the seeds
    :data:`ENSEMBLE_SEED_BASE` + 100 s + i.
    """
    runs = []
    for model_name in settings.models:
        arch = architecture(model_name, settings.width, None)
        options = training_options(settings, device, amp, checkpoint_folder(settings, model_name))
        for method in methods or settings.methods:
            config = method_config(method, settings.p)
            layerwise = settings.layerwise_p if config.dropout is DropoutKind.SCALE else None

            def build(net: NetConfig, name=model_name, layerwise=layerwise) -> nn.Module:
                return build_classifier(name, net, settings.width, layerwise)

            for seed in settings.seeds:
                seeds = (
                    [ENSEMBLE_SEED_BASE * (seed + 1) + i for i in range(settings.ensemble_size)]
                    if method == ENSEMBLE
                    else [seed]
                )
                members = [
                    cached_train(
                        method,
                        config,
                        member_seed,
                        (train, val),
                        options,
                        build=build,
                        architecture={**arch, "layerwise_p": layerwise},
                        data_sha256=data_sha256,
                        log=log,
                    )
                    for member_seed in seeds
                ]
                runs.append(Run(model_name, method, seed, members, config))
    return runs


def train_segmenters(
    settings: Settings,
    data: dict[str, TensorDataset],
    device: str,
    amp: bool,
    log: Callable[[str], None],
) -> list[Run]:
    """Train or load the segmentation net of every ``--seg-methods`` x seed."""
    runs = []
    in_channels = data["train"].tensors[0].shape[1]
    name = settings.seg_model
    arch = architecture(name, settings.seg_width, None)
    options = training_options(settings, device, amp, checkpoint_folder(settings, name))
    for method in settings.seg_methods:
        base = SEGMENTATION_CONFIGS[method]
        config = base if base.dropout is DropoutKind.NONE else base.with_options(p=settings.p)
        layerwise = settings.layerwise_p if config.dropout is DropoutKind.SCALE else None

        def build(net: NetConfig, layerwise=layerwise) -> nn.Module:
            return build_segmenter(name, net, settings.seg_width, in_channels, layerwise)

        for seed in settings.seeds:
            trained = cached_train(
                method,
                config,
                seed,
                (data["train"], data["val"]),
                options,
                build=build,
                architecture={**arch, "layerwise_p": layerwise, "in_channels": in_channels},
                task="segmentation",
                augment=False,
                log=log,
            )
            runs.append(Run(name, method, seed, [trained], config))
    return runs


def sharded(
    predict: Callable[[torch.Tensor], torch.Tensor], batch_size: int | None, dim: int = 0
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``predict`` run by every process on its shard of the inputs, the outputs gathered.

    Each process takes a contiguous run of whole ``batch_size`` batches
    (:func:`~scaledrop_lib.experiments.distributed.shard`), calls ``predict`` on it, and
    every process gets all outputs concatenated along ``dim`` (the inputs' axis of the
    output) in input order. In a single process this is ``predict`` itself. Every process
    must call the result with the same inputs.
    """
    if not is_distributed():
        return predict

    def run(inputs: torch.Tensor) -> torch.Tensor:
        part = shard(len(inputs), batch_size)
        local = predict(inputs[part]) if part.stop > part.start else None
        return gather_cat(local, dim=dim)

    return run


def predictor(
    run: Run, T: int, batch_size: int, amp: bool, device: str
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``images -> samples (S, N, C)`` of softmax probabilities for a classification run.

    Sampled methods: ``T`` MC passes, the masks reseeded with the run's seed on every call
    (every input set sees the same masks). Deterministic: one pass (S = 1). Ensemble: one
    pass per member. Inputs go through the nets ``batch_size`` at a time (memory; the prefix
    engine draws one mask set per pass for all chunks).

    Under torchrun the images are :func:`sharded`: every process runs all passes on its
    batches, its dropout generators reseeded with the run's seed alike. Scale-Dropout draws
    each pass's masks once for all batches (prefix engine and naive loop alike), so every
    process uses the same masks and the gathered samples equal one process's. Element-wise
    masks (MC-Dropout, SpinDrop) are drawn per image: there the processes' masks differ from
    one process's, with the same distribution.
    """

    def predict(inputs: torch.Tensor) -> torch.Tensor:
        with precision(amp, device):
            if run.method == ENSEMBLE:
                passes = [
                    deterministic_predict(m.model, inputs, batch_size=batch_size)
                    for m in run.members
                ]
                return torch.stack(passes).float()
            if not run.sampled:
                return deterministic_predict(run.model, inputs, batch_size=batch_size)[None].float()
            seed_dropout(run.model, run.seed)
            return mc_predict(run.model, inputs, T, batch_size=batch_size).float()

    return sharded(predict, batch_size, dim=1)


def segment_probabilities(
    run: Run, images: torch.Tensor, T: int, batch_size: int, amp: bool, device: str
) -> torch.Tensor:
    """Foreground probability per pixel (N, 1, H, W): the mean of ``T`` MC passes (masks
    seeded with the run's seed), or one pass for a deterministic net.

    Under torchrun the images are :func:`sharded`. MC segmentation runs the naive loop, which
    draws each pass's Scale-Dropout masks once for all batches, so every process uses one
    process's masks; element-wise MC-Dropout agrees in distribution only."""

    def probabilities(inputs: torch.Tensor) -> torch.Tensor:
        with precision(amp, device):
            if not run.sampled:
                return deterministic_segment(run.model, inputs, batch_size=batch_size).float()
            seed_dropout(run.model, run.seed)
            return mc_segment(run.model, inputs, T, batch_size=batch_size).float().mean(dim=0)

    return sharded(probabilities, batch_size)(images)
