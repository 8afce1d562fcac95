import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from scaledrop_lib.data.digits import load_digits_arrays, load_digits_splits, split_indices


def test_arrays_are_sklearn_digits_scaled_to_unit_interval():
    images, labels = load_digits_arrays()
    reference = load_digits()
    assert images.shape == (1797, 1, 8, 8)
    assert images.dtype == np.float32
    np.testing.assert_allclose(images[:, 0] * 16.0, reference.images, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(labels, reference.target)
    assert images.min() == 0.0 and images.max() == 1.0


def test_split_covers_every_index_once_and_follows_fractions():
    train, val, test = split_indices(1797, (0.6, 0.2, 0.2), seed=3)
    joined = np.concatenate([train, val, test])
    np.testing.assert_array_equal(np.sort(joined), np.arange(1797))
    assert (len(train), len(val)) == (int(1797 * 0.6), int(1797 * 0.2))


def test_split_is_fixed_by_seed():
    first = split_indices(100, (0.5, 0.25, 0.25), seed=0)
    again = split_indices(100, (0.5, 0.25, 0.25), seed=0)
    other = split_indices(100, (0.5, 0.25, 0.25), seed=1)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize(
    "fractions", [(0.6, 0.2, 0.1), (1.0, 0.0, 0.0), (0.5, 0.5), (-0.2, 0.6, 0.6)]
)
def test_bad_fractions_raise_naming_the_argument(fractions):
    with pytest.raises(ValueError, match="fractions"):
        split_indices(100, fractions, seed=0)


def test_splits_yield_images_and_labels_matching_the_arrays():
    splits = load_digits_splits(seed=0)
    images, labels = load_digits_arrays()
    train_idx, _, test_idx = split_indices(len(labels), (0.6, 0.2, 0.2), seed=0)
    image, label = splits.test[5]
    assert image.shape == (1, 8, 8) and image.dtype == torch.float32
    np.testing.assert_array_equal(image.numpy(), images[test_idx[5]])
    assert int(label) == labels[test_idx[5]]
    assert len(splits.train) == len(train_idx)


def test_loaders_batch_and_shuffle_reproducibly():
    splits = load_digits_splits(seed=0)
    first = next(iter(splits.loaders(batch_size=32, seed=7)[0]))
    again = next(iter(splits.loaders(batch_size=32, seed=7)[0]))
    assert first[0].shape == (32, 1, 8, 8)
    torch.testing.assert_close(first[0], again[0])
    test_loader = splits.loaders(batch_size=500)[2]
    assert sum(len(x) for x, _ in test_loader) == len(splits.test)
    with pytest.raises(ValueError, match="batch_size"):
        splits.loaders(batch_size=0)
