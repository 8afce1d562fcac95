"""Loaders for the paper's real datasets, read from their official files.

CIFAR-10 (python pickles), SVHN (.mat), STL-10 (binary) and ISIC-style image/mask folders, as
torch datasets with pixel values in [0, 1]. Nothing downloads unless ``download=True`` is
given (then torchvision's downloaders fetch the files); a missing file is a clear error naming
the folder. The tests run every loader on small fake files.
"""

from __future__ import annotations

import numbers
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from scaledrop_lib._checks import (
    check_choice,
    check_positive_int,
    check_probability,
)

CIFAR10_FOLDER = "cifar-10-batches-py"


STL10_FOLDER = "stl10_binary"


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


MASK_STEM_SUFFIXES = ("", "_mask", "_segmentation", "_Segmentation")


def _require(path: Path, dataset: str, flag: str = "download=True") -> Path:
    if not path.is_file():
        raise FileNotFoundError(
            f"{dataset} file {path} not found: pass {flag} to fetch it once (needs network), "
            f"or place the official files under {path.parent}"
        )
    return path


def _pixels_to_float(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32) / 255.0)


def load_cifar10(root: str | Path, train: bool = False, download: bool = False) -> TensorDataset:
    """CIFAR-10 from ``root/cifar-10-batches-py`` (the official python pickles).

    Each pickle is a dict with ``b"data"``, uint8 (N, 3072) whose rows hold the 1024 red,
    then green, then blue values of a 32x32 image row by row, and ``b"labels"``.

    Parameters
    ----------
    root : str or Path
        Folder that holds (or will hold) ``cifar-10-batches-py/``.
    train : bool
        Read ``data_batch_1`` .. ``data_batch_5`` (50000 images) instead of ``test_batch``
        (10000 images).
    download : bool
        Fetch and unpack the archive first through ``torchvision.datasets.CIFAR10`` (needs
        network); the files are then read here as usual.

    Returns
    -------
    TensorDataset
        Images float32 (N, 3, 32, 32) in [0, 1] and labels int64 in 0..9.

    Raises
    ------
    FileNotFoundError
        A batch file is missing; the message names it and suggests ``download=True``.
    ValueError
        A batch file is not a CIFAR-10 pickle.
    """

    root = Path(root)
    if download:
        from torchvision.datasets import CIFAR10

        CIFAR10(str(root), train=train, download=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    images, labels = [], []
    for name in names:
        path = _require(root / CIFAR10_FOLDER / name, "CIFAR-10")
        try:
            with open(path, "rb") as handle:
                batch = pickle.load(handle, encoding="bytes")
            data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            batch_labels = [int(label) for label in batch[b"labels"]]
        except Exception as error:  # pickle raises several types for damaged files
            raise ValueError(
                f"CIFAR-10 file {path} is unreadable or not in the official format"
            ) from error
        if len(batch_labels) != len(data):
            raise ValueError(
                f"CIFAR-10 file {path} has {len(data)} images but {len(batch_labels)} labels"
            )
        images.append(data)
        labels.extend(batch_labels)
    return TensorDataset(
        _pixels_to_float(np.concatenate(images)), torch.tensor(labels, dtype=torch.int64)
    )


def load_svhn(root: str | Path, split: str = "test", download: bool = False) -> TensorDataset:
    """SVHN (cropped digits) from ``root/{split}_32x32.mat``; label 10 (the digit 0) -> 0.

    The MATLAB file holds ``X``, uint8 (32, 32, 3, N) as (height, width, channel, image),
    and ``y``, (N, 1) labels 1..10.

    Parameters
    ----------
    root : str or Path
        Folder that holds (or will hold) ``{split}_32x32.mat``.
    split : {"train", "test", "extra"}
        Which official file to read.
    download : bool
        Fetch the file first through ``torchvision.datasets.SVHN`` (needs network).

    Returns
    -------
    TensorDataset
        Images float32 (N, 3, 32, 32) in [0, 1] and labels int64 in 0..9.

    Raises
    ------
    FileNotFoundError
        The file is missing; the message names it and suggests ``download=True``.
    ValueError
        ``split`` is unknown, or the file is unreadable or lacks ``X`` / ``y``.
    """
    from scipy.io import loadmat

    split = check_choice("split", split, ("train", "test", "extra"))
    root = Path(root)
    if download:
        from torchvision.datasets import SVHN

        SVHN(str(root), split=split, download=True)
    path = _require(root / f"{split}_32x32.mat", "SVHN")
    try:
        content = loadmat(str(path))
        pixels = np.asarray(content["X"], dtype=np.uint8)  # (32, 32, 3, N)
        labels = np.asarray(content["y"]).astype(np.int64).reshape(-1)
    except Exception as error:  # scipy raises several types for damaged files
        raise ValueError(f"SVHN file {path} is unreadable or not in the official format") from error
    if pixels.ndim != 4 or pixels.shape[:3] != (32, 32, 3):
        raise ValueError(f"SVHN file {path}: X has shape {pixels.shape}, expected (32, 32, 3, N)")
    if len(labels) != pixels.shape[3]:
        raise ValueError(f"SVHN file {path} has {pixels.shape[3]} images but {len(labels)} labels")
    labels[labels == 10] = 0
    return TensorDataset(_pixels_to_float(pixels.transpose(3, 2, 0, 1)), torch.from_numpy(labels))


STL10_CHUNK = 512  # images converted to float at a time


def load_stl10(
    root: str | Path, split: str = "test", size: int = 32, download: bool = False
) -> TensorDataset:
    """STL-10 from ``root/stl10_binary/{split}_X.bin`` and ``{split}_y.bin``, resized.

    The binary file stores each 96x96 image column-major; labels are 1..10 on disk, 0..9
    here. Images are area-averaged to ``size`` x ``size`` (32 matches CIFAR-10, P:265).

    Parameters
    ----------
    root : str or Path
        Folder that holds (or will hold) ``stl10_binary/``.
    split : {"train", "test"}
        The labelled split to read (5000 train or 8000 test images for the real files).
    size : int
        Output height and width; 96 keeps the original images, anything else resizes with
        ``torch.nn.functional.interpolate(mode="area")`` (a block mean when 96 is a multiple
        of ``size``).
    download : bool
        Fetch and unpack the archive first through ``torchvision.datasets.STL10`` (needs
        network; the archive is about 2.6 GB).

    Returns
    -------
    TensorDataset
        Images float32 (N, 3, size, size) in [0, 1] and labels int64 in 0..9.

    Raises
    ------
    FileNotFoundError
        A file is missing; the message names it and suggests ``download=True``.
    ValueError
        ``split`` is unknown, ``size`` is not positive, or the files are inconsistent.
    """
    split = check_choice("split", split, ("train", "test"))
    size = check_positive_int("size", size)
    root = Path(root)
    if download:
        from torchvision.datasets import STL10

        STL10(str(root), split=split, download=True)
    x_path = _require(root / STL10_FOLDER / f"{split}_X.bin", "STL-10")
    y_path = _require(root / STL10_FOLDER / f"{split}_y.bin", "STL-10")
    n_bytes = x_path.stat().st_size
    if n_bytes % (3 * 96 * 96):
        raise ValueError(f"STL-10 file {x_path} does not hold whole 3x96x96 images")
    # memory-mapped and converted in chunks: the 8000 test images as float at 96x96 would
    # take 0.9 GB at once (mmap cannot map an empty file)
    raw = (
        np.memmap(x_path, dtype=np.uint8, mode="r").reshape(-1, 3, 96, 96)
        if n_bytes
        else np.zeros((0, 3, 96, 96), dtype=np.uint8)
    )
    labels = torch.from_numpy(np.fromfile(y_path, dtype=np.uint8).astype(np.int64) - 1)
    if len(labels) != len(raw):
        raise ValueError(f"STL-10 has {len(raw)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"STL-10 file {y_path} holds labels outside 1..10")
    images = torch.empty(len(raw), 3, size, size)
    for start in range(0, len(raw), STL10_CHUNK):
        chunk = _pixels_to_float(raw[start : start + STL10_CHUNK].transpose(0, 1, 3, 2))
        if size != 96:
            chunk = torch.nn.functional.interpolate(chunk, size=(size, size), mode="area")
        images[start : start + len(chunk)] = chunk
    del raw  # close the map
    return TensorDataset(images, labels)


def _image_files(folder: Path) -> dict[str, Path]:
    """Image files in ``folder`` keyed by stem; two files with one stem are an error."""
    if not folder.is_dir():
        raise FileNotFoundError(
            f"folder {folder} not found (expected <root>/images and <root>/masks)"
        )
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES):
            continue
        if path.stem in files:
            raise ValueError(
                f"{files[path.stem]} and {path} share the stem {path.stem!r}; keep one of them"
            )
        files[path.stem] = path
    return files


def _read_image(path: Path, mode: str, size: tuple[int, int] | None, resample) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert(mode)
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), resample)
            return np.asarray(image)
    except Exception as error:  # PIL raises several types for unreadable files
        raise ValueError(f"cannot read image {path}: {error}") from error


def load_image_mask_folder(
    root: str | Path,
    size: int | tuple[int, int] | None = None,
    grayscale: bool = False,
    mask_threshold: float = 0.5,
) -> TensorDataset:
    """An ISIC-style segmentation folder: ``root/images/`` and ``root/masks/``.

    Images and masks pair by file stem; a mask may be named ``<stem>``, ``<stem>_mask``,
    ``<stem>_segmentation`` or ``<stem>_Segmentation`` (ISIC's convention; the first that
    exists wins), with any of ``IMAGE_SUFFIXES`` (case-insensitive). Pairs are sorted
    by image stem.

    Parameters
    ----------
    root : str or Path
        Folder holding ``images/`` and ``masks/``.
    size : int or (int, int), optional
        Resize every image (bilinear) and mask (nearest) to (height, width); required when
        the images differ in size.
    grayscale : bool
        Load images as one grey channel instead of RGB.
    mask_threshold : float
        Mask grey levels are scaled to [0, 1] and binarised with ``> mask_threshold``.

    Returns
    -------
    TensorDataset
        Images float32 (N, 3 or 1, H, W) in [0, 1] and masks float32 (N, 1, H, W) of {0, 1}.

    Raises
    ------
    FileNotFoundError
        ``root/images`` or ``root/masks`` is missing.
    ValueError
        No images; images without a mask or masks without an image (the count and up to
        five stems of each); two files sharing a stem; an unreadable file (named); an image
        and its mask of different sizes; images of different sizes while ``size`` is None.
    """
    from PIL import Image

    root = Path(root)
    mask_threshold = check_probability("mask_threshold", mask_threshold)
    if isinstance(size, numbers.Integral):
        size = (check_positive_int("size", size),) * 2
    elif size is not None:
        if not isinstance(size, Sequence) or len(size) != 2:
            raise ValueError(f"size must be an int or a (height, width) pair, got {size!r}")
        size = (check_positive_int("size[0]", size[0]), check_positive_int("size[1]", size[1]))
    images = _image_files(root / "images")
    masks = _image_files(root / "masks")
    if not images:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {root / 'images'}")
    pairs, used = [], set()
    for stem, image_path in sorted(images.items()):
        match = next((stem + s for s in MASK_STEM_SUFFIXES if stem + s in masks), None)
        if match is not None:
            pairs.append((stem, image_path, masks[match]))
            used.add(match)
    unpaired_images = sorted(set(images) - {stem for stem, _, _ in pairs})
    unpaired_masks = sorted(set(masks) - used)
    if unpaired_images or unpaired_masks:
        parts = []
        for label, stems in (
            ("images without a mask", unpaired_images),
            ("masks without an image", unpaired_masks),
        ):
            if stems:
                shown = ", ".join(stems[:5]) + (", ..." if len(stems) > 5 else "")
                parts.append(f"{len(stems)} {label} ({shown})")
        raise ValueError(f"unpaired files in {root}: " + "; ".join(parts))
    mode = "L" if grayscale else "RGB"
    image_arrays, mask_arrays = [], []
    for _, image_path, mask_path in pairs:
        image = _read_image(image_path, mode, size, Image.BILINEAR)
        mask = _read_image(mask_path, "L", size if size else None, Image.NEAREST)
        if mask.shape[:2] != image.shape[:2]:
            raise ValueError(
                f"mask {mask_path} is {mask.shape[:2]} but image {image_path} is {image.shape[:2]}"
            )
        image_arrays.append(image[:, :, None] if image.ndim == 2 else image)
        mask_arrays.append(mask)
    shapes = {a.shape for a in image_arrays}
    if len(shapes) > 1:
        raise ValueError(f"images differ in size ({sorted(shapes)[:3]}...): pass size=(H, W)")
    pixels = np.stack(image_arrays).transpose(0, 3, 1, 2)
    binary = (np.stack(mask_arrays)[:, None].astype(np.float32) / 255.0) > mask_threshold
    return TensorDataset(_pixels_to_float(pixels), torch.from_numpy(binary.astype(np.float32)))
