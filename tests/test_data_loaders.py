"""Real dataset loaders, tested on tiny files written in the official formats."""

import pickle

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from scaledrop_lib.data import load_cifar10, load_image_mask_folder, load_stl10, load_svhn


def pattern_image(seed, h=32, w=32):
    """uint8 (3, h, w) with distinct values per channel/row/column."""
    return np.random.default_rng(seed).integers(0, 256, (3, h, w), dtype=np.uint8)


# ----------------------------------------------------------------------------- CIFAR-10


def write_cifar(root, images_per_batch=2):
    folder = root / "cifar-10-batches-py"
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


def test_cifar10_reads_rows_as_channel_planes_and_scales(tmp_path):
    truth = write_cifar(tmp_path)
    test = load_cifar10(tmp_path, train=False)
    images, labels = test.tensors
    expected, expected_labels = truth["test_batch"]
    assert images.shape == (2, 3, 32, 32) and images.dtype == torch.float32
    np.testing.assert_allclose(images.numpy(), expected / 255.0, atol=1e-7)
    # a hand-picked pixel: green channel, row 5, column 7 of image 1 is data[1, 1024 + 5*32 + 7]
    raw = expected.reshape(2, 3072)
    assert images[1, 1, 5, 7].item() == pytest.approx(raw[1, 1024 + 5 * 32 + 7] / 255.0)
    assert labels.tolist() == expected_labels and labels.dtype == torch.int64
    train = load_cifar10(tmp_path, train=True)
    assert len(train) == 10
    np.testing.assert_allclose(train.tensors[0][:2].numpy(), truth["data_batch_1"][0] / 255.0)


def test_cifar10_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_cifar10(tmp_path)


# ----------------------------------------------------------------------------- SVHN


def test_svhn_axis_order_and_label_ten_means_zero(tmp_path):
    images = np.stack([pattern_image(s) for s in range(3)])  # (N, 3, 32, 32)
    scipy.io.savemat(
        tmp_path / "test_32x32.mat",
        {"X": images.transpose(2, 3, 1, 0), "y": np.array([[10], [3], [1]], dtype=np.uint8)},
    )
    data = load_svhn(tmp_path, "test")
    np.testing.assert_allclose(data.tensors[0].numpy(), images / 255.0, atol=1e-7)
    assert data.tensors[1].tolist() == [0, 3, 1]
    with pytest.raises(ValueError, match="split"):
        load_svhn(tmp_path, "validation")
    with pytest.raises(FileNotFoundError, match="train_32x32.mat"):
        load_svhn(tmp_path, "train")
    (tmp_path / "extra_32x32.mat").write_bytes(b"not a mat file")
    with pytest.raises(ValueError, match="unreadable"):
        load_svhn(tmp_path, "extra")


# ----------------------------------------------------------------------------- STL-10


def write_stl(root, images, labels):
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    # the official files store each channel column-major (Fortran order)
    images.transpose(0, 1, 3, 2).astype(np.uint8).tofile(folder / "test_X.bin")
    np.asarray(labels, dtype=np.uint8).tofile(folder / "test_y.bin")


def test_stl10_reads_column_major_images_upright(tmp_path):
    images = np.zeros((2, 3, 96, 96), dtype=np.uint8)
    images[0, 0, :10, :] = 255  # a bright band across the top of the red channel
    images[1] = pattern_image(3, 96, 96)
    write_stl(tmp_path, images, [1, 10])
    data = load_stl10(tmp_path, "test", size=96)
    np.testing.assert_allclose(data.tensors[0].numpy(), images / 255.0, atol=1e-7)
    assert data.tensors[0][0, 0, :10].min() == 1.0 and data.tensors[0][0, 0, 10:].max() == 0.0
    assert data.tensors[1].tolist() == [0, 9]


def test_stl10_area_resize_is_the_block_mean(tmp_path):
    images = np.stack([pattern_image(s, 96, 96) for s in range(2)])
    write_stl(tmp_path, images, [2, 5])
    small = load_stl10(tmp_path, "test", size=32).tensors[0].numpy()
    expected = (images / 255.0).reshape(2, 3, 32, 3, 32, 3).mean(axis=(3, 5))
    np.testing.assert_allclose(small, expected, atol=1e-6)


def test_stl10_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_stl10(tmp_path)
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    np.zeros(100, dtype=np.uint8).tofile(folder / "test_X.bin")
    np.zeros(1, dtype=np.uint8).tofile(folder / "test_y.bin")
    with pytest.raises(ValueError, match="whole"):
        load_stl10(tmp_path)
    with pytest.raises(ValueError, match="size"):
        load_stl10(tmp_path, size=0)


# ----------------------------------------------------------------------------- image/mask folders


def write_pair(root, stem, image, mask, mask_suffix="", ext=".png"):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(root / "images" / f"{stem}{ext}")
    Image.fromarray(mask).save(root / "masks" / f"{stem}{mask_suffix}.png")


def test_folder_pairs_by_stem_with_isic_suffixes_and_binarises(tmp_path):
    rng = np.random.default_rng(0)
    images = {s: rng.integers(0, 256, (12, 10, 3), dtype=np.uint8) for s in ("b", "a", "c")}
    masks = {s: rng.integers(0, 256, (12, 10), dtype=np.uint8) for s in images}
    write_pair(tmp_path, "b", images["b"], masks["b"], "_segmentation")
    write_pair(tmp_path, "a", images["a"], masks["a"], "")
    write_pair(tmp_path, "c", images["c"], masks["c"], "_mask", ext=".PNG")
    data = load_image_mask_folder(tmp_path, mask_threshold=0.5)
    x, y = data.tensors
    assert x.shape == (3, 3, 12, 10) and y.shape == (3, 1, 12, 10)
    for i, stem in enumerate(["a", "b", "c"]):  # sorted by stem
        np.testing.assert_allclose(x[i].numpy(), images[stem].transpose(2, 0, 1) / 255.0)
        np.testing.assert_array_equal(y[i, 0].numpy(), (masks[stem] / 255.0 > 0.5).astype(float))
    grey = load_image_mask_folder(tmp_path, grayscale=True).tensors[0]
    assert grey.shape == (3, 1, 12, 10)


def test_folder_resizes_images_bilinear_and_masks_nearest(tmp_path):
    rng = np.random.default_rng(1)
    write_pair(
        tmp_path,
        "a",
        rng.integers(0, 256, (20, 20, 3), dtype=np.uint8),
        np.full((20, 20), 255, np.uint8),
    )
    write_pair(
        tmp_path,
        "b",
        rng.integers(0, 256, (30, 24, 3), dtype=np.uint8),
        np.zeros((30, 24), np.uint8),
    )
    with pytest.raises(ValueError, match="pass size"):
        load_image_mask_folder(tmp_path)
    x, y = load_image_mask_folder(tmp_path, size=(16, 8)).tensors
    assert x.shape == (2, 3, 16, 8) and y.shape == (2, 1, 16, 8)
    assert set(y.unique().tolist()) == {0.0, 1.0}
    assert y[0].min() == 1.0 and y[1].max() == 0.0


def test_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="images"):
        load_image_mask_folder(tmp_path)
    image = np.zeros((8, 8, 3), np.uint8)
    mask = np.zeros((8, 8), np.uint8)
    for stem in ("one", "two", "three"):
        write_pair(tmp_path, stem, image, mask)
    (tmp_path / "masks" / "three.png").unlink()
    Image.fromarray(mask).save(tmp_path / "masks" / "orphan.png")
    with pytest.raises(
        ValueError, match=r"1 images without a mask \(three\).*1 masks without an image \(orphan\)"
    ):
        load_image_mask_folder(tmp_path)
    (tmp_path / "masks" / "orphan.png").unlink()
    Image.fromarray(mask).save(tmp_path / "masks" / "three.png")
    (tmp_path / "images" / "two.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read image .*two.png"):
        load_image_mask_folder(tmp_path)
    with pytest.raises(ValueError, match="mask_threshold"):
        load_image_mask_folder(tmp_path, mask_threshold=2.0)
