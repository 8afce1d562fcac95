"""Tiny datasets written in the official on-disk formats, shared by the tests.

CIFAR-10 (python pickles), SVHN (.mat), STL-10 (column-major binaries) and ISIC-style
image/mask folders. Each writer returns what it wrote, so a test can compare a loader's
output with the truth.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image


def pattern_image(seed, h=32, w=32):
    """uint8 (3, h, w) with distinct values per channel/row/column."""
    return np.random.default_rng(seed).integers(0, 256, (3, h, w), dtype=np.uint8)


def write_cifar(root, images_per_batch=2):
    """Five training batches and the test batch of ``images_per_batch`` images each; returns
    ``{batch name: (images uint8 (N, 3, 32, 32), labels)}``."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    truth = {}
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        images = np.stack([pattern_image(10 * i + j) for j in range(images_per_batch)])
        labels = [(i + j) % 10 for j in range(images_per_batch)]
        # the official layout: each row is 1024 red, then 1024 green, then 1024 blue values
        data = images.reshape(images_per_batch, 3072)
        (folder / name).write_bytes(pickle.dumps({b"data": data, b"labels": labels}))
        truth[name] = (images, labels)
    return truth


def write_svhn(root, images, labels, split="test"):
    """``images`` uint8 (N, 3, 32, 32) and labels 1..10 as ``root/{split}_32x32.mat``."""
    scipy.io.savemat(
        Path(root) / f"{split}_32x32.mat",
        {"X": np.asarray(images).transpose(2, 3, 1, 0), "y": np.asarray(labels)[:, None]},
    )


def write_stl(root, images, labels, split="test"):
    """``images`` uint8 (N, 3, 96, 96) and labels 1..10 as ``root/stl10_binary/{split}_*.bin``
    (each channel stored column-major, as the official files)."""
    folder = Path(root) / "stl10_binary"
    folder.mkdir(parents=True, exist_ok=True)
    images.transpose(0, 1, 3, 2).astype(np.uint8).tofile(folder / f"{split}_X.bin")
    np.asarray(labels, dtype=np.uint8).tofile(folder / f"{split}_y.bin")


def write_pair(root, stem, image, mask, mask_suffix="", ext=".png"):
    """One image (H, W, 3) and its mask (H, W) into ``root/images`` and ``root/masks``."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(root / "images" / f"{stem}{ext}")
    Image.fromarray(mask).save(root / "masks" / f"{stem}{mask_suffix}.png")


def write_fake_datasets(root, n_train=40, n_test=12, n_svhn=15, n_stl=9, seed=0):
    """Random CIFAR-10 (``n_train`` over five batches, ``n_test``), SVHN test and STL-10 test
    files under ``root``, as the CIFAR-10 study and the ``scaledrop`` command read them."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    cifar = root / "cifar-10-batches-py"
    cifar.mkdir(parents=True)
    per_batch = n_train // 5
    for i in range(1, 6):
        batch = {
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"labels": rng.integers(0, 10, per_batch).tolist(),
        }
        (cifar / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
    test = {
        b"data": rng.integers(0, 256, (n_test, 3072), dtype=np.uint8),
        b"labels": rng.integers(0, 10, n_test).tolist(),
    }
    (cifar / "test_batch").write_bytes(pickle.dumps(test))
    write_svhn(
        root,
        rng.integers(0, 256, (n_svhn, 3, 32, 32), dtype=np.uint8),
        rng.integers(1, 11, n_svhn).astype(np.uint8),
    )
    write_stl(
        root,
        rng.integers(0, 256, (n_stl, 3, 96, 96), dtype=np.uint8),
        rng.integers(1, 11, n_stl, dtype=np.uint8),
    )


def write_lesion_folder(root, n=10, size=16, seed=0):
    """``n`` images with a bright disc and its exact 0/255 mask (ISIC-style names
    ``ISIC_<k>.jpg`` / ``ISIC_<k>_segmentation.png``)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for k in range(n):
        cy, cx = rng.uniform(size / 4, 3 * size / 4, 2)
        radius = rng.uniform(size / 8, size / 3)
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2).astype(np.uint8) * 255
        image = rng.integers(0, 120, (size, size, 3)).astype(np.uint8)
        image[mask > 0] = np.clip(image[mask > 0].astype(int) + 120, 0, 255).astype(np.uint8)
        write_pair(root, f"ISIC_{k:07d}", image, mask, "_segmentation", ext=".png")
