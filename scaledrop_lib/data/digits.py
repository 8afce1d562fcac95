"""The embedded handwritten digits (scikit-learn's 8x8 set) and reproducible splits of them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from scaledrop_lib._checks import (
    check_fraction_split,
    check_positive_int,
)

DIGITS_CLASSES = 10


DIGITS_SHAPE = (1, 8, 8)


DIGITS_MAX_PIXEL = 16.0


@dataclass(frozen=True)
class DigitsSplits:
    """Train / validation / test splits of an image classification set as tensor datasets.

    Each dataset yields ``(image, label)`` with ``image`` float32 in [0, 1] of shape
    (1, 8, 8) for the 8x8 digits or (1, 28, 28) for MNIST
    (:func:`scaledrop_lib.data.mnist.load_mnist5k_splits`), and ``label`` an int64 class
    index.
    """

    train: TensorDataset
    val: TensorDataset
    test: TensorDataset

    def loaders(
        self, batch_size: int = 64, seed: int = 0
    ) -> tuple[DataLoader, DataLoader, DataLoader]:
        """DataLoaders for (train, val, test); only train shuffles, seeded by ``seed``."""
        check_positive_int("batch_size", batch_size)
        generator = torch.Generator().manual_seed(seed)
        return (
            DataLoader(self.train, batch_size=batch_size, shuffle=True, generator=generator),
            DataLoader(self.val, batch_size=batch_size, shuffle=False),
            DataLoader(self.test, batch_size=batch_size, shuffle=False),
        )


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as ``(images, labels)``: float32 (N, 1, 8, 8) in [0, 1], int64 (N,)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / DIGITS_MAX_PIXEL).astype(np.float32)[:, None, :, :]
    return images, bunch.target.astype(np.int64)


def split_indices(
    n: int, fractions: tuple[float, float, float], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle ``range(n)`` with ``seed`` and cut it into three parts by ``fractions``.

    The cut points are rounded down, and the test part takes the remainder, so the three
    parts always cover every index exactly once. A part that would be empty (e.g. a
    validation fraction below 1/n) is a ``ValueError``.
    """
    check_positive_int("n", n, minimum=3)
    fractions = check_fraction_split("fractions", fractions)
    if len(fractions) != 3:
        raise ValueError(f"fractions must have 3 entries (train, val, test), got {len(fractions)}")
    n_train = int(n * fractions[0])
    n_val = int(n * fractions[1])
    sizes = {"train": n_train, "val": n_val, "test": n - n_train - n_val}
    empty = [name for name, count in sizes.items() if count == 0]
    if empty:
        raise ValueError(
            f"fractions {fractions} of n={n} leave the {' and '.join(empty)} part empty "
            f"(sizes {sizes}): use more examples or larger fractions"
        )
    order = np.random.default_rng(seed).permutation(n)
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]


def load_digits_splits(
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2), seed: int = 0
) -> DigitsSplits:
    """The bundled digits, split into train / val / test (default 60/20/20, seed 0).

    The split depends only on ``seed`` and ``fractions``, so every chapter sees the same
    test images.
    """
    images, labels = load_digits_arrays()
    parts = split_indices(len(labels), fractions, seed)
    sets = [TensorDataset(torch.from_numpy(images[i]), torch.from_numpy(labels[i])) for i in parts]
    return DigitsSplits(*sets)
