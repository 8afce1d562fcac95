"""The datasets of the command: CIFAR-10 (+ SVHN, STL-10 as OOD sets) and image/mask folders.

Thin wrappers of the library's loaders (:mod:`scaledrop_lib.data.files`, through
:mod:`scaledrop_lib.studies.cifar`) that say what to do when a dataset is missing: nothing
downloads unless ``--download`` is given, and a missing dataset is an error naming the folder
or file that was looked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from scaledrop_lib.data.files import CIFAR10_FOLDER, STL10_FOLDER, load_image_mask_folder
from scaledrop_lib.experiments.settings import Settings, SettingsError
from scaledrop_lib.studies.cifar import (
    data_fingerprint,
    load_cifar_splits,
    load_natural_ood,
    subset,
)

#: Seed of the data-side draws (segmentation split, OOD sets): the same for every training
#: seed, so seeds differ only in what was trained.
DATA_SEED = 0


class DatasetMissingError(FileNotFoundError):
    """A dataset is not on disk and ``--download`` was not given; the message names it."""


@dataclass(frozen=True)
class ClassificationData:
    """CIFAR-10 as the experiments use it (pixel space [0, 1]).

    ``train`` and ``val`` train the models (``data_sha256`` is their fingerprint, part of
    every model's key); ``test_images`` / ``test_labels`` are the test set, cut to
    ``--test-limit``.
    """

    train: TensorDataset
    val: TensorDataset
    test_images: torch.Tensor
    test_labels: torch.Tensor
    data_sha256: str


def data_dir(settings: Settings) -> Path:
    """``--data-dir``, created when ``--download`` will fill it; an error when not given."""
    if settings.data_dir is None:
        raise SettingsError(
            "--data-dir is required: the folder that holds (or, with --download, will hold) "
            f"{CIFAR10_FOLDER}/, test_32x32.mat (SVHN) and {STL10_FOLDER}/"
        )
    root = Path(settings.data_dir)
    if settings.download:
        root.mkdir(parents=True, exist_ok=True)
    elif not root.is_dir():
        raise DatasetMissingError(
            f"data folder {root} does not exist: pass --download to fetch the datasets into "
            "it, or point --data-dir at the folder that holds them"
        )
    return root


def _require(path: Path, dataset: str, settings: Settings, size: str) -> None:
    if path.exists() or settings.download:
        return
    raise DatasetMissingError(
        f"{dataset} not found: {path} does not exist. Pass --download to fetch it with "
        f"torchvision ({size}, needs network), or place the official files there"
    )


def load_classification(settings: Settings) -> ClassificationData:
    """CIFAR-10 train/val/test for ``settings`` (``--val-size``, ``--train-limit``,
    ``--test-limit``)."""
    root = data_dir(settings)
    _require(root / CIFAR10_FOLDER, "CIFAR-10", settings, "about 170 MB")
    try:
        splits = load_cifar_splits(root, settings.download, settings.val_size)
    except ValueError as error:
        if str(error).startswith("val_size"):  # say which flag
            raise SettingsError(f"--val-size: {error} (the CIFAR-10 training images)") from None
        raise
    train = subset(splits["train"], settings.train_limit)
    images, labels = splits["test"].tensors
    limit = settings.test_limit
    return ClassificationData(
        train=train,
        val=splits["val"],
        test_images=images[:limit],
        test_labels=labels[:limit],
        data_sha256=data_fingerprint(train, splits["val"]),
    )


def load_natural_sets(settings: Settings) -> dict[str, tuple[str, torch.Tensor]]:
    """Table V's natural OOD sets of CIFAR-10: ``{"D5": ("SVHN", images), "D6": ("STL-10",
    images)}`` (STL-10 area-resized to 32x32)."""
    root = data_dir(settings)
    _require(root / "test_32x32.mat", "SVHN (test split)", settings, "about 64 MB")
    _require(root / STL10_FOLDER, "STL-10", settings, "about 2.6 GB")
    natural = load_natural_ood(root, settings.download)
    return {
        "D5": ("SVHN", natural["svhn"].tensors[0]),
        "D6": ("STL-10", natural["stl10"].tensors[0]),
    }


def segmentation_dir(settings: Settings) -> Path:
    """``--seg-dir``, or ``<data-dir>/isic``."""
    if settings.seg_dir is not None:
        root = Path(settings.seg_dir)
    elif settings.data_dir is not None:
        root = Path(settings.data_dir) / "isic"
    else:
        raise SettingsError(
            "segment needs --seg-dir (a folder with images/ and masks/) or --data-dir "
            "(then <data-dir>/isic is read)"
        )
    if not root.is_dir():
        raise DatasetMissingError(
            f"segmentation folder {root} not found: it must hold images/ and masks/ (ISIC "
            "style; such folders are not downloadable here, so --download does not apply)"
        )
    return root


def load_segmentation(settings: Settings) -> dict[str, TensorDataset]:
    """The image/mask folder, resized to ``--seg-size``, split into train/val/test by one
    seeded permutation (:data:`DATA_SEED`) with ``--seg-split``'s fractions."""
    root = segmentation_dir(settings)
    data = load_image_mask_folder(
        root,
        size=settings.seg_size,
        grayscale=settings.grayscale,
        mask_threshold=settings.mask_threshold,
    )
    n = len(data)
    n_train = round(n * settings.seg_split[0])
    n_val = round(n * settings.seg_split[1])
    if min(n_train, n_val, n - n_train - n_val) < 1:
        raise ValueError(
            f"segmentation folder {root} holds {n} image/mask pairs: too few for the split "
            f"{settings.seg_split} (every part needs at least one)"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(DATA_SEED))
    images, masks = data.tensors
    parts = {
        "train": order[:n_train],
        "val": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }
    return {name: TensorDataset(images[idx], masks[idx]) for name, idx in parts.items()}
