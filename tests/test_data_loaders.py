"""Real dataset loaders, tested on tiny files written in the official formats."""

import pickle
import urllib.error

import numpy as np
import pytest
import scipy.io
import torch
from fake_datasets import pattern_image, write_cifar, write_pair, write_stl
from PIL import Image

import scaledrop_lib.data.files as data_module
from scaledrop_lib.data.files import (
    load_cifar10,
    load_image_mask_folder,
    load_stl10,
    load_svhn,
)

# ----------------------------------------------------------------------------- CIFAR-10


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


@pytest.mark.parametrize("size", [96, 32])
def test_stl10_chunks_join_seamlessly(tmp_path, monkeypatch, size):
    """Five images read two at a time equal the closed form (last chunk short)."""
    monkeypatch.setattr(data_module, "STL10_CHUNK", 2)
    images = np.stack([pattern_image(s, 96, 96) for s in range(5)])
    write_stl(tmp_path, images, [1, 2, 3, 4, 5])
    got = load_stl10(tmp_path, "test", size=size)
    factor = 96 // size
    expected = (images / 255.0).reshape(5, 3, size, factor, size, factor).mean(axis=(3, 5))
    np.testing.assert_allclose(got.tensors[0].numpy(), expected, atol=1e-6)
    assert got.tensors[1].tolist() == [0, 1, 2, 3, 4]


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
    grey = load_image_mask_folder(tmp_path, grayscale=True, mask_threshold=0.5).tensors[0]
    assert grey.shape == (3, 1, 12, 10)
    with pytest.raises(ValueError, match=r"grey levels .*0/1 or 0/255.*mask_threshold"):
        load_image_mask_folder(tmp_path)  # random grey levels are not a binary mask


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


# ----------------------------------------------------------------------------- edge cases


def test_cifar10_missing_batch_is_named_and_bad_pickles_are_value_errors(tmp_path):
    write_cifar(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match=r"data_batch_3.*download=True"):
        load_cifar10(tmp_path, train=True)
    (folder / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match=r"test_batch is unreadable"):
        load_cifar10(tmp_path)
    data = np.zeros((2, 3072), np.uint8)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": data, b"labels": [1]}))
    with pytest.raises(ValueError, match="2 images but 1 labels"):
        load_cifar10(tmp_path)


def test_svhn_missing_file_and_inconsistent_contents(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"test_32x32\.mat.*download=True"):
        load_svhn(tmp_path)
    images = np.zeros((32, 32, 3, 2), np.uint8)
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": images, "y": np.array([[1]])})
    with pytest.raises(ValueError, match="2 images but 1 labels"):
        load_svhn(tmp_path)
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": images[:, :, 0], "y": np.array([[1]])})
    with pytest.raises(ValueError, match="expected"):
        load_svhn(tmp_path)


def test_stl10_train_split_bad_split_and_bad_labels(tmp_path):
    images = np.stack([pattern_image(s, 96, 96) for s in range(2)])
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    images.transpose(0, 1, 3, 2).tofile(folder / "train_X.bin")
    np.array([3, 7], np.uint8).tofile(folder / "train_y.bin")
    data = load_stl10(tmp_path, "train", size=48)
    expected = (images / 255.0).reshape(2, 3, 48, 2, 48, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(data.tensors[0].numpy(), expected, atol=1e-6)
    assert data.tensors[1].tolist() == [2, 6]
    with pytest.raises(FileNotFoundError, match=r"test_X\.bin"):
        load_stl10(tmp_path, "test")
    with pytest.raises(ValueError, match="split"):
        load_stl10(tmp_path, "unlabeled")
    np.array([0, 7], np.uint8).tofile(folder / "train_y.bin")
    with pytest.raises(ValueError, match=r"train_y\.bin.*1\.\.10"):
        load_stl10(tmp_path, "train")


def test_folder_resize_matches_pil_bilinear_for_images_and_nearest_for_masks(tmp_path):
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (20, 15, 3), dtype=np.uint8)
    mask = rng.integers(0, 256, (20, 15), dtype=np.uint8)
    write_pair(tmp_path, "a", image, mask)
    x, y = load_image_mask_folder(tmp_path, size=(9, 11), mask_threshold=0.5).tensors
    pil_image = Image.fromarray(image).resize((11, 9), Image.BILINEAR)
    pil_mask = Image.fromarray(mask).resize((11, 9), Image.NEAREST)
    np.testing.assert_allclose(x[0].numpy(), np.asarray(pil_image).transpose(2, 0, 1) / 255.0)
    np.testing.assert_array_equal(y[0, 0].numpy(), np.asarray(pil_mask) / 255.0 > 0.5)
    # a bilinear mask would have been smoothed first, then thresholded: not the same pixels
    smoothed = np.asarray(Image.fromarray(mask).resize((11, 9), Image.BILINEAR)) / 255.0 > 0.5
    assert not np.array_equal(y[0, 0].numpy(), smoothed)
    square = load_image_mask_folder(tmp_path, size=7, mask_threshold=0.5).tensors[0]
    assert square.shape == (1, 3, 7, 7)


def test_folder_grayscale_values_and_threshold_is_strict(tmp_path):
    image = np.random.default_rng(3).integers(0, 256, (3, 3, 3), dtype=np.uint8)
    mask = np.array([[0, 51, 255]] * 3, np.uint8)  # 0, 0.2, 1
    write_pair(tmp_path, "a", image, mask)
    grey = load_image_mask_folder(tmp_path, grayscale=True, mask_threshold=0.5).tensors[0]
    expected = np.asarray(Image.fromarray(image).convert("L")) / 255.0
    np.testing.assert_allclose(grey[0, 0].numpy(), expected)
    low = load_image_mask_folder(tmp_path, mask_threshold=0.1).tensors[1][0, 0, 0]
    high = load_image_mask_folder(tmp_path, mask_threshold=0.3).tensors[1][0, 0, 0]
    assert low.tolist() == [0.0, 1.0, 1.0] and high.tolist() == [0.0, 0.0, 1.0]
    assert load_image_mask_folder(tmp_path, mask_threshold=1.0).tensors[1].max() == 0.0


def test_folder_sorts_by_stem_not_by_file_name(tmp_path):
    # "a-1.png" sorts before "a.png" as a file name, but the stem "a" comes before "a-1"
    for stem, value in (("a-1", 200), ("a", 10)):
        write_pair(tmp_path, stem, np.full((4, 4, 3), value, np.uint8), np.zeros((4, 4), np.uint8))
    x = load_image_mask_folder(tmp_path).tensors[0]
    assert (x[:, 0, 0, 0] * 255).round().tolist() == [10.0, 200.0]


def test_folder_more_errors(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(FileNotFoundError, match="masks"):
        load_image_mask_folder(tmp_path)
    (tmp_path / "masks").mkdir()
    with pytest.raises(ValueError, match="no images"):
        load_image_mask_folder(tmp_path)
    image, mask = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8)
    for i in range(7):
        Image.fromarray(image).save(tmp_path / "images" / f"lone{i}.jpg")
    with pytest.raises(ValueError, match=r"7 images without a mask \(lone0, .*lone4, \.\.\.\)"):
        load_image_mask_folder(tmp_path)
    for i in range(7):
        (tmp_path / "images" / f"lone{i}.jpg").unlink()
    write_pair(tmp_path, "a", image, mask, "_mask")
    Image.fromarray(image).save(tmp_path / "images" / "a.jpg")
    with pytest.raises(ValueError, match="share the stem 'a'"):
        load_image_mask_folder(tmp_path)
    (tmp_path / "images" / "a.jpg").unlink()
    (tmp_path / "masks" / "a_mask.png").write_bytes(b"broken")
    with pytest.raises(ValueError, match=r"cannot read image .*a_mask\.png"):
        load_image_mask_folder(tmp_path)
    write_pair(tmp_path, "a", image, np.zeros((5, 8), np.uint8), "_mask")
    with pytest.raises(ValueError, match=r"mask .*a_mask\.png"):
        load_image_mask_folder(tmp_path)
    for bad in [(4, 4, 4), 0, (4, -1)]:
        with pytest.raises(ValueError, match="size"):
            load_image_mask_folder(tmp_path, size=bad)


@pytest.mark.parametrize(
    ("loader", "torchvision_class", "dataset"),
    [
        (load_cifar10, "CIFAR10", "CIFAR-10"),
        (load_svhn, "SVHN", "SVHN"),
        (load_stl10, "STL10", "STL-10"),
    ],
)
@pytest.mark.parametrize(
    "failure",
    [
        urllib.error.URLError("[Errno -2] Name or service not known"),
        RuntimeError("File not found or corrupted."),  # torchvision's md5 check
    ],
)
def test_a_failed_download_names_the_dataset_the_folder_and_the_reason(
    tmp_path, monkeypatch, loader, torchvision_class, dataset, failure
):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise failure

    monkeypatch.setattr(torchvision.datasets, torchvision_class, offline)
    with pytest.raises(data_module.DownloadError) as raised:
        loader(tmp_path, download=True)
    message = str(raised.value)
    assert f"downloading {dataset} into {tmp_path} failed" in message
    assert str(failure) in message and raised.value.__cause__ is failure
    with pytest.raises(FileNotFoundError, match="download=True"):  # nothing asked: no call
        loader(tmp_path)
