import numpy as np
import pytest
import torch

from scaledrop_lib.data.lesions import (
    LesionStyle,
    lesion_sample,
    load_lesion_splits,
    make_lesions,
)


def test_shapes_ranges_and_binary_masks():
    data = make_lesions(6, size=32, seed=0)
    images, masks = data.tensors
    assert images.shape == (6, 3, 32, 32) and masks.shape == (6, 1, 32, 32)
    assert images.dtype == torch.float32 and masks.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    coverage = masks.mean(dim=(1, 2, 3))
    assert (coverage > 0.01).all() and (coverage < 0.6).all()  # a lesion, not the whole image


def test_deterministic_from_seed_and_prefix_stable():
    a = make_lesions(4, size=32, seed=3)
    b = make_lesions(6, size=32, seed=3)
    for x, y in zip(a.tensors, b.tensors, strict=True):
        assert torch.equal(x, y[:4])  # image i depends only on (seed, i)
    c = make_lesions(4, size=32, seed=4)
    assert not torch.equal(a.tensors[0], c.tensors[0])


def test_lesion_pixels_are_darker_than_skin_on_average():
    images, masks = make_lesions(20, size=48, seed=1).tensors
    grey = images.mean(dim=1, keepdim=True)
    inside = (grey * masks).sum((1, 2, 3)) / masks.sum((1, 2, 3))
    outside = (grey * (1 - masks)).sum((1, 2, 3)) / (1 - masks).sum((1, 2, 3))
    assert (inside < outside).float().mean() >= 0.9


def test_hairs_darken_pixels_outside_the_mask_only_in_the_image():
    no_hair = LesionStyle(hairs=0.0)
    many = LesionStyle(hairs=6.0)
    image0, mask0 = lesion_sample(np.random.default_rng(5), 48, no_hair)
    image1, mask1 = lesion_sample(np.random.default_rng(5), 48, many)
    assert np.array_equal(mask0, mask1)  # hairs never enter the ground truth
    assert image1.mean() < image0.mean()


def test_splits_are_disjoint_seeds():
    splits = load_lesion_splits(n_train=3, n_val=2, n_test=2, size=32, seed=0)
    assert len(splits.train) == 3 and len(splits.val) == 2 and len(splits.test) == 2
    assert not torch.equal(splits.train.tensors[0][0], splits.val.tensors[0][0])
    assert not torch.equal(splits.val.tensors[0][0], splits.test.tensors[0][0])


def test_validation():
    with pytest.raises(ValueError, match="size"):
        make_lesions(2, size=8)
    with pytest.raises(ValueError, match="n"):
        make_lesions(0)
