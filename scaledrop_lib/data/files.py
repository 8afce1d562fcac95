"""Loaders for the paper's real datasets, read from their official files.

CIFAR-10 (python pickles), SVHN (.mat), STL-10 (binary) and ISIC-style image/mask folders, as
torch datasets with pixel values in [0, 1]. Nothing downloads unless ``download=True`` is
given (then torchvision's downloaders fetch the files); a missing file is a clear error naming
the folder. The tests run every loader on small fake files.

Every loader checks what it reads rather than casting it into shape: pixels must be uint8
(float or 16-bit values are refused, saying what was found), labels integers in the official
range (CIFAR-10 0..9, SVHN and STL-10 1..10 on disk), files non-empty and whole, CIFAR-10
pickles may name no global beyond numpy's array reconstruction (:class:`SafeUnpickler`), and
image/mask folders pair by exact stem with binary masks (0/1 or 0/255).
"""

from __future__ import annotations

import importlib
import numbers
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

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


class DownloadError(OSError):
    """``download=True`` was asked for and torchvision's downloader failed (no network, a
    proxy, a checksum mismatch); the message names the dataset, the folder and the reason."""


def _download(dataset_class: str, root: Path, dataset: str, **options: object) -> None:
    """Fetch ``dataset`` into ``root`` with torchvision's ``dataset_class`` (a name in
    :mod:`torchvision.datasets`); files already there with the right checksum are kept."""
    import torchvision.datasets

    try:
        getattr(torchvision.datasets, dataset_class)(str(root), download=True, **options)
    except (OSError, RuntimeError) as error:  # URLError is an OSError; a bad md5 a RuntimeError
        raise DownloadError(
            f"downloading {dataset} into {root} failed: {error}. Check the network (or proxy) "
            f"and run again (torchvision checks and replaces a partial file), or place the "
            f"official files under {root} and leave out the download option"
        ) from error


def _require(path: Path, dataset: str, flag: str = "download=True") -> Path:
    if not path.is_file():
        raise FileNotFoundError(
            f"{dataset} file {path} not found: pass {flag} to fetch it once (needs network), "
            f"or place the official files under {path.parent}"
        )
    if path.stat().st_size == 0:
        raise ValueError(
            f"{dataset} file {path} is empty (0 bytes): a download or copy was cut short; "
            "delete it and fetch it again"
        )
    return path


def _pixels_to_float(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32) / 255.0)


def _value_range(array: np.ndarray) -> str:
    """`` with values in [lo, hi]`` for a non-empty real array, else ``""``."""
    if array.size == 0 or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        return ""
    return f" with values in [{array.min()}, {array.max()}]"


def check_uint8_pixels(where: str, pixels: object) -> np.ndarray:
    """``pixels`` if it is a uint8 array, else ``ValueError`` saying what was found.

    The official files store 8-bit pixels; anything else (float images in [0, 1], 16-bit
    values above 255) would be silently wrapped or blackened by a cast, so it is refused.
    """
    if not isinstance(pixels, np.ndarray):
        raise ValueError(f"{where}: pixels are a {type(pixels).__name__}, expected a uint8 array")
    if pixels.dtype != np.uint8:
        raise ValueError(
            f"{where}: pixels are {pixels.dtype}{_value_range(pixels)}, expected uint8 "
            "(0..255) as in the official files; convert them (e.g. round(x * 255) for floats "
            "in [0, 1]) before saving"
        )
    return pixels


def check_labels(where: str, labels: object, low: int, high: int) -> np.ndarray:
    """``labels`` as int64 (N,) if every one is an integer in ``low..high``, else ``ValueError``
    naming the first offending values (integral floats, as MATLAB stores them, are accepted;
    booleans, fractions and other types are not)."""
    if isinstance(labels, (list, tuple)) and any(
        isinstance(label, (bool, np.bool_)) for label in labels
    ):
        raise ValueError(f"{where}: labels hold booleans, expected integers {low}..{high}")
    array = np.asarray(labels)
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise ValueError(f"{where}: labels are {array.dtype}, expected integers {low}..{high}")
    array = array.reshape(-1)
    if np.issubdtype(array.dtype, np.floating):
        fractional = ~np.isfinite(array) | (array != np.round(array))
        if fractional.any():
            shown = ", ".join(map(str, array[fractional][:5].tolist()))
            raise ValueError(f"{where}: labels must be integers {low}..{high}, found {shown}")
    outside = (array < low) | (array > high)
    if outside.any():
        values = np.unique(array[outside])
        shown = ", ".join(str(int(v)) for v in values[:5]) + (", ..." if len(values) > 5 else "")
        raise ValueError(
            f"{where}: {int(outside.sum())} labels outside {low}..{high} "
            f"(found {shown}; first at index {int(np.flatnonzero(outside)[0])})"
        )
    return array.astype(np.int64)


def _numpy_global(module: str, name: str) -> object:
    for prefix in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{prefix}.{module}"), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"numpy has no {module}.{name}")


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3's protocol-2 pickles use it for bytes: latin-1 only."""
    if not isinstance(text, str) or encoding.lower().replace("-", "") != "latin1":
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin-1")


#: The globals a CIFAR-10 pickle may name: numpy's array (and scalar) reconstruction, and the
#: latin-1 encoder of Python 3's protocol-2 bytes. Everything else (``os.system``, any class
#: with a ``__reduce__``) is refused before it can run.
_PICKLE_GLOBALS = {
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    **{
        (f"{prefix}.multiarray", name): (lambda name=name: _numpy_global("multiarray", name))
        for prefix in ("numpy.core", "numpy._core")
        for name in ("_reconstruct", "scalar")
    },
    **{
        (f"{prefix}.numeric", "_frombuffer"): (lambda: _numpy_global("numeric", "_frombuffer"))
        for prefix in ("numpy.core", "numpy._core")
    },
    ("_codecs", "encode"): lambda: _latin1_encode,
}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler for data files: numpy arrays and plain containers, no other objects.

    ``find_class`` admits only the globals numpy needs to rebuild an array (``_reconstruct``,
    ``_frombuffer``, ``scalar``, ``ndarray``, ``dtype``); a pickle naming anything else raises
    ``pickle.UnpicklingError`` instead of running it.
    """

    def find_class(self, module: str, name: str) -> object:
        factory = _PICKLE_GLOBALS.get((module, name))
        if factory is None:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: a data file may hold only numpy arrays "
                "and plain containers"
            )
        return factory()


def safe_pickle_load(handle: BinaryIO, encoding: str = "bytes") -> object:
    """``pickle.load`` through :class:`SafeUnpickler` (no code in the file can run)."""
    return SafeUnpickler(handle, encoding=encoding).load()


def _entry(batch: dict, key: str) -> object:
    for candidate in (key.encode(), key):
        if candidate in batch:
            return batch[candidate]
    raise KeyError(key)


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
    DownloadError
        ``download=True`` and torchvision's download failed (the reason is in the message).
    ValueError
        A batch file is empty, truncated or not a CIFAR-10 pickle (one that names any
        global beyond numpy's array reconstruction is refused unread: no code in it runs),
        its pixels are not uint8 (N, 3072), or a label is not an integer in 0..9. The
        message names the file and what was found.
    """

    root = Path(root)
    if download:
        _download("CIFAR10", root, "CIFAR-10", train=train)
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    images, labels = [], []
    for name in names:
        path = _require(root / CIFAR10_FOLDER / name, "CIFAR-10")
        where = f"CIFAR-10 file {path}"
        try:
            with open(path, "rb") as handle:
                batch = safe_pickle_load(handle)
            if not isinstance(batch, dict):
                raise TypeError(f"it holds a {type(batch).__name__}, not a dict")
            data, batch_labels = _entry(batch, "data"), _entry(batch, "labels")
        except pickle.UnpicklingError as error:
            raise ValueError(
                f"{where} is unreadable or not in the official format: {error}"
            ) from error
        except Exception as error:  # pickle raises several types for damaged files
            raise ValueError(
                f"{where} is unreadable or not in the official format ({error!r})"
            ) from error
        data = check_uint8_pixels(where, data)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(f"{where}: data has shape {data.shape}, expected (N, 3072)")
        if len(data) == 0:
            raise ValueError(f"{where} holds no images")
        batch_labels = check_labels(where, batch_labels, 0, 9)
        if len(batch_labels) != len(data):
            raise ValueError(f"{where} has {len(data)} images but {len(batch_labels)} labels")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(batch_labels)
    return TensorDataset(
        _pixels_to_float(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))
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
    DownloadError
        ``download=True`` and torchvision's download failed (the reason is in the message).
    ValueError
        ``split`` is unknown; the file is empty, unreadable or lacks ``X`` / ``y``; ``X`` is
        not uint8 (32, 32, 3, N) with N >= 1; or a label is not an integer in 1..10 (the
        message names the file and the values found).
    """
    from scipy.io import loadmat

    split = check_choice("split", split, ("train", "test", "extra"))
    root = Path(root)
    if download:
        _download("SVHN", root, "SVHN", split=split)
    path = _require(root / f"{split}_32x32.mat", "SVHN")
    where = f"SVHN file {path}"
    try:
        content = loadmat(str(path))
        pixels, raw_labels = content["X"], content["y"]
    except Exception as error:  # scipy raises several types for damaged files
        raise ValueError(f"{where} is unreadable or not in the official format") from error
    pixels = check_uint8_pixels(where, pixels)  # (32, 32, 3, N)
    if pixels.ndim != 4 or pixels.shape[:3] != (32, 32, 3):
        raise ValueError(f"{where}: X has shape {pixels.shape}, expected (32, 32, 3, N)")
    if pixels.shape[3] == 0:
        raise ValueError(f"{where} holds no images")
    labels = check_labels(where, raw_labels, 1, 10)  # the digit 0 is stored as 10
    if len(labels) != pixels.shape[3]:
        raise ValueError(f"{where} has {pixels.shape[3]} images but {len(labels)} labels")
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
    DownloadError
        ``download=True`` and torchvision's download failed (the reason is in the message).
    ValueError
        ``split`` is unknown, ``size`` is not positive, a file is empty or truncated (not
        whole 3x96x96 images), the counts differ, or a label is outside 1..10; the message
        names the file.
    """
    split = check_choice("split", split, ("train", "test"))
    size = check_positive_int("size", size)
    root = Path(root)
    if download:
        _download("STL10", root, "STL-10", split=split)
    x_path = _require(root / STL10_FOLDER / f"{split}_X.bin", "STL-10")
    y_path = _require(root / STL10_FOLDER / f"{split}_y.bin", "STL-10")
    n_bytes = x_path.stat().st_size
    image_bytes = 3 * 96 * 96
    if n_bytes % image_bytes:
        raise ValueError(
            f"STL-10 file {x_path} does not hold whole 3x96x96 images ({n_bytes} bytes, not a "
            f"multiple of {image_bytes}): it is truncated; fetch it again"
        )
    # memory-mapped and converted in chunks: the 8000 test images as float at 96x96 would
    # take 0.9 GB at once (_require refused empty files, which mmap cannot map)
    raw = np.memmap(x_path, dtype=np.uint8, mode="r").reshape(-1, 3, 96, 96)
    labels = check_labels(f"STL-10 file {y_path}", np.fromfile(y_path, dtype=np.uint8), 1, 10)
    if len(labels) != len(raw):
        raise ValueError(
            f"STL-10 has {len(raw)} images in {x_path} but {len(labels)} labels in {y_path}"
        )
    labels = torch.from_numpy(labels - 1)
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


#: PIL modes whose channels are 8-bit: what photographs and masks are stored as. 16-bit
#: ("I;16"), 32-bit integer ("I") and float ("F") images are refused rather than clipped.
EIGHT_BIT_MODES = frozenset(
    {"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"}
)


def _read_image(path: Path, mode: str, size: tuple[int, int] | None, resample) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            found = image.mode
            if found in EIGHT_BIT_MODES:
                image = image.convert(mode)
                if size is not None and image.size != (size[1], size[0]):
                    image = image.resize((size[1], size[0]), resample)
                return np.asarray(image)
    except Exception as error:  # PIL raises several types for unreadable files
        raise ValueError(f"cannot read image {path}: {error}") from error
    raise ValueError(
        f"image {path} has PIL mode {found!r} (16-bit, 32-bit or float pixels); expected "
        "8-bit pixels (mode L, RGB, RGBA, P or 1): convert it to 8 bits first"
    )


def _binary_mask(mask: np.ndarray, path: Path, threshold: float | None) -> np.ndarray:
    """A boolean mask from 0/1 or 0/255 grey levels; other levels only with a threshold."""
    values = np.unique(mask)
    if np.isin(values, (0, 1)).all():
        return mask == 1
    if np.isin(values, (0, 255)).all():
        return mask == 255
    if threshold is not None:
        return mask.astype(np.float32) / 255.0 > threshold
    shown = ", ".join(map(str, values[:8].tolist())) + (", ..." if len(values) > 8 else "")
    raise ValueError(
        f"mask {path} has the grey levels {shown}: expected a binary mask stored as 0/1 or "
        "0/255; pass mask_threshold=t to binarise grey-level masks at t * 255"
    )


def _pair_files(
    root: Path, images: dict[str, Path], masks: dict[str, Path]
) -> list[tuple[str, Path, Path]]:
    """(stem, image, mask) sorted by stem: every image must match exactly one mask name and
    every mask exactly one image, or ``ValueError`` lists the ambiguous and unpaired files."""
    owners: dict[str, list[str]] = {}
    ambiguous, missing = [], []
    for stem in sorted(images):
        candidates = [stem + suffix for suffix in MASK_STEM_SUFFIXES if stem + suffix in masks]
        if not candidates:
            missing.append(stem)
        elif len(candidates) > 1:
            names = ", ".join(masks[c].name for c in candidates)
            ambiguous.append(f"image {images[stem].name} matches the masks {names}")
        else:
            owners.setdefault(candidates[0], []).append(stem)
    for mask_stem, stems in sorted(owners.items()):
        if len(stems) > 1:
            names = ", ".join(images[stem].name for stem in stems)
            ambiguous.append(f"mask {masks[mask_stem].name} matches the images {names}")
    if ambiguous:
        raise ValueError(
            f"ambiguous image/mask names in {root}: " + "; ".join(ambiguous[:5]) + ". Each "
            "image <stem> needs exactly one mask named <stem>, <stem>_mask, "
            "<stem>_segmentation or <stem>_Segmentation that no other image also matches"
        )
    unpaired_masks = sorted(set(masks) - set(owners))
    if missing or unpaired_masks:
        parts = []
        for label, stems in (
            ("images without a mask", missing),
            ("masks without an image", unpaired_masks),
        ):
            if stems:
                shown = ", ".join(stems[:5]) + (", ..." if len(stems) > 5 else "")
                parts.append(f"{len(stems)} {label} ({shown})")
        raise ValueError(f"unpaired files in {root}: " + "; ".join(parts))
    return sorted((stems[0], images[stems[0]], masks[m]) for m, stems in owners.items())


def load_image_mask_folder(
    root: str | Path,
    size: int | tuple[int, int] | None = None,
    grayscale: bool = False,
    mask_threshold: float | None = None,
) -> TensorDataset:
    """An ISIC-style segmentation folder: ``root/images/`` and ``root/masks/``.

    Images and masks pair by exact file stem: the mask of image ``<stem>`` is named
    ``<stem>``, ``<stem>_mask``, ``<stem>_segmentation`` or ``<stem>_Segmentation`` (ISIC's
    convention), with any of ``IMAGE_SUFFIXES`` (case-insensitive). An image matching two
    masks, or a mask matching two images (``a`` and ``a_mask`` both images), is an error,
    never a guess. Pairs are sorted by image stem. Images and masks must have 8-bit pixels.

    Parameters
    ----------
    root : str or Path
        Folder holding ``images/`` and ``masks/``.
    size : int or (int, int), optional
        Resize every image (bilinear) and mask (nearest) to (height, width); required when
        the images differ in size.
    grayscale : bool
        Load images as one grey channel instead of RGB.
    mask_threshold : float, optional
        Masks are binary, stored as 0/1 or 0/255 (a mask of only 0s and 1s always reads as
        0/1). By default any other grey level is an error; with a threshold, such masks are
        scaled to [0, 1] and binarised with ``> mask_threshold``.

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
        five stems of each); ambiguous names; two files sharing a stem; an unreadable,
        empty or non-8-bit file (named); a mask with grey levels other than 0/1 or 0/255
        while ``mask_threshold`` is None; an image and its mask of different sizes; images
        of different sizes while ``size`` is None.
    """
    from PIL import Image

    root = Path(root)
    if mask_threshold is not None:
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
    pairs = _pair_files(root, images, masks)
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
        mask_arrays.append(_binary_mask(mask, mask_path, mask_threshold))
    shapes = {a.shape for a in image_arrays}
    if len(shapes) > 1:
        raise ValueError(f"images differ in size ({sorted(shapes)[:3]}...): pass size=(H, W)")
    pixels = np.stack(image_arrays).transpose(0, 3, 1, 2)
    binary = np.stack(mask_arrays)[:, None].astype(np.float32)
    return TensorDataset(_pixels_to_float(pixels), torch.from_numpy(binary))
