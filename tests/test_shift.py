import math
import socket

import numpy as np
import pytest
import torch

from scaledrop_lib.data.shift import (
    DEFAULT_NOISE_STD,
    SKIMAGE_PHOTOS,
    add_gaussian_noise,
    add_uniform_noise,
    natural_image_patches,
    ood_sets,
    rotate,
)


def images(n=4, c=1, h=8, w=8, seed=0):
    return torch.rand((n, c, h, w), generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- rotation


def test_rotation_by_zero_and_full_turns_is_identity():
    x = images()
    for angle in (0, 0.0, 360, -720):
        out = rotate(x, angle)
        assert torch.equal(out, x)
        assert out is not x


def test_rotation_by_90_matches_rot90_counter_clockwise():
    x = images(c=3, h=9, w=9)  # odd and even sides both map pixel centres onto pixel centres
    torch.testing.assert_close(rotate(x, 90), torch.rot90(x, 1, dims=(2, 3)), atol=1e-5, rtol=0)
    y = images(h=8, w=8)
    torch.testing.assert_close(rotate(y, 90), torch.rot90(y, 1, dims=(2, 3)), atol=1e-5, rtol=0)
    torch.testing.assert_close(rotate(y, -90), torch.rot90(y, -1, dims=(2, 3)), atol=1e-5, rtol=0)


def test_rotation_of_a_centred_disc_is_nearly_invariant_and_corners_get_fill():
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    disc = (((yy - 7.5) ** 2 + (xx - 7.5) ** 2) < 25).float()[None, None]
    rotated = rotate(disc, 33)
    assert (rotated - disc).abs().mean() < 0.05
    square = torch.ones(1, 1, 16, 16)
    out = rotate(square, 45, fill=0.0)
    assert out[0, 0, 0, 0] == 0.0 and out[0, 0, 8, 8] == pytest.approx(1.0)


def test_rotation_validates_inputs():
    with pytest.raises(ValueError, match="images"):
        rotate(torch.rand(8, 8), 10)
    with pytest.raises(TypeError, match="angle"):
        rotate(images(), "10")
    with pytest.raises(ValueError, match="angle"):
        rotate(images(), math.nan)
    with pytest.raises(TypeError, match="floating"):
        rotate(torch.zeros(1, 1, 8, 8, dtype=torch.int64), 10)


# ----------------------------------------------------------------------------- noise


def test_gaussian_noise_statistics_without_clipping():
    x = torch.full((200, 1, 16, 16), 0.5)
    noisy = add_gaussian_noise(x, 0.3, seed=1, clip=False)
    diff = (noisy - x).flatten().numpy()
    assert abs(diff.mean()) < 0.005
    assert diff.std() == pytest.approx(0.3, rel=0.02)


def test_uniform_noise_statistics_range_and_half_width():
    x = torch.full((200, 1, 16, 16), 0.5)
    noisy = add_uniform_noise(x, 0.4, seed=2, clip=False)
    diff = (noisy - x).flatten().numpy()
    assert diff.min() >= -0.4 and diff.max() <= 0.4
    assert diff.min() < -0.39 and diff.max() > 0.39
    assert diff.std() == pytest.approx(0.4 / math.sqrt(3), rel=0.02)


def test_noise_is_clipped_to_pixel_range_and_seeded():
    x = images()
    for noisy in (add_gaussian_noise(x, 2.0, seed=3), add_uniform_noise(x, 2.0, seed=3)):
        assert noisy.min() >= 0.0 and noisy.max() <= 1.0
    assert torch.equal(add_uniform_noise(x, 0.5, seed=4), add_uniform_noise(x, 0.5, seed=4))
    assert not torch.equal(add_uniform_noise(x, 0.5, seed=4), add_uniform_noise(x, 0.5, seed=5))
    assert torch.equal(add_gaussian_noise(x, 0.0), x)


def test_uniform_noise_of_one_seed_scales_with_strength():
    # Fig. 5 relies on this: one noise pattern, growing strength
    x = torch.full((1, 1, 8, 8), 0.5)
    weak = add_uniform_noise(x, 0.1, seed=0, clip=False) - x
    strong = add_uniform_noise(x, 0.3, seed=0, clip=False) - x
    torch.testing.assert_close(strong, 3 * weak)


@pytest.mark.parametrize("bad", [-0.1, math.inf, math.nan])
def test_noise_strength_must_be_finite_and_non_negative(bad):
    with pytest.raises(ValueError, match="std"):
        add_gaussian_noise(images(), bad)
    with pytest.raises(ValueError, match="strength"):
        add_uniform_noise(images(), bad)


# ----------------------------------------------------------------------------- natural images


@pytest.fixture
def no_network(monkeypatch):
    """Every attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_bundled_photographs_load_without_network(no_network):
    import skimage.data

    for name in SKIMAGE_PHOTOS:
        photo = np.asarray(getattr(skimage.data, name)())
        assert photo.ndim in (2, 3) and min(photo.shape[:2]) >= 256, name
    for source in ("sklearn", "skimage"):
        patches = natural_image_patches(source, 12, (1, 8, 8), seed=0)
        assert patches.shape == (12, 1, 8, 8)


def test_patches_are_area_averaged_grey_crops_of_the_photographs():
    from sklearn.datasets import load_sample_images

    # recompute patch 0 by hand: same position draw, BT.601 luma, 8x8 block means
    photo = load_sample_images().images[0].astype(np.float64) / 255
    rng = np.random.default_rng(7)
    top = int(rng.integers(0, photo.shape[0] - 64 + 1))
    left = int(rng.integers(0, photo.shape[1] - 64 + 1))
    crop = photo[top : top + 64, left : left + 64] @ np.array([0.299, 0.587, 0.114])
    expected = crop.reshape(8, 8, 8, 8).mean(axis=(1, 3))
    patch = natural_image_patches("sklearn", 1, (1, 8, 8), patch_size=64, seed=7)[0, 0]
    np.testing.assert_allclose(patch.numpy(), expected, atol=1e-5)


def test_patches_have_range_variety_and_colour_option():
    grey = natural_image_patches("skimage", 40, (1, 8, 8), seed=0)
    assert grey.min() >= 0 and grey.max() <= 1
    assert grey.std(dim=(1, 2, 3)).mean() > 0.01  # not flat
    assert len({round(float(v), 4) for v in grey.mean(dim=(1, 2, 3))}) > 30  # distinct patches
    colour = natural_image_patches("sklearn", 3, (3, 32, 32), patch_size=96, seed=0)
    assert colour.shape == (3, 3, 32, 32)
    assert not torch.equal(colour[:, 0], colour[:, 1])  # really colour


def test_patch_arguments_are_validated():
    with pytest.raises(ValueError, match="source"):
        natural_image_patches("imagenet", 2, (1, 8, 8))
    with pytest.raises(ValueError, match="shape"):
        natural_image_patches("sklearn", 2, (2, 8, 8))
    with pytest.raises(ValueError, match="patch_size"):
        natural_image_patches("sklearn", 2, (1, 8, 8), patch_size=5000)


# ----------------------------------------------------------------------------- OOD sets


def test_ood_sets_follow_the_stated_definitions():
    x = images(n=50, seed=1) * 0.5  # in-distribution stand-in
    sets = ood_sets(x, seed=0)
    assert list(sets) == ["D1", "D2", "D3", "D4", "D5", "D6"]
    for key, ood in sets.items():
        assert ood.key == key and ood.images.shape == x.shape, key
    d1, d2 = sets["D1"].images, sets["D2"].images
    assert d1.min() < 0 and d1.max() > 1  # N(0, 1), not clipped
    assert abs(float(d1.mean())) < 0.1 and float(d1.std()) == pytest.approx(1.0, rel=0.05)
    assert d2.min() >= 0 and d2.max() <= 1 and float(d2.mean()) == pytest.approx(0.5, abs=0.03)
    for key in ("D3", "D4", "D5", "D6"):
        assert sets[key].images.min() >= 0 and sets[key].images.max() <= 1, key
    assert str(DEFAULT_NOISE_STD) in sets["D3"].description


def test_d3_d4_are_corrupted_test_images_with_equal_noise_variance():
    x = torch.full((400, 1, 8, 8), 0.5)  # mid-grey: clipping at sd 0.1 is negligible
    sets = ood_sets(x, noise_std=0.1, seed=0)
    for key in ("D3", "D4"):
        diff = sets[key].images - x
        assert float(diff.std()) == pytest.approx(0.1, rel=0.03), key
    assert float((sets["D4"].images - x).abs().max()) <= 0.1 * math.sqrt(3) + 1e-6


def test_ood_sets_are_seeded_and_sized():
    x = images(n=10)
    a, b = ood_sets(x, seed=3, n=25), ood_sets(x, seed=3, n=25)
    for key in a:
        assert a[key].images.shape[0] == 25
        assert torch.equal(a[key].images, b[key].images), key
    c = ood_sets(x, seed=4, n=25)
    assert not torch.equal(a["D1"].images, c["D1"].images)


def test_ood_sets_accept_other_datasets_for_d5_d6():
    x = images(n=6, c=3, h=32, w=32)
    svhn, stl = images(n=20, c=3, h=32, w=32, seed=5), images(n=9, c=3, h=32, w=32, seed=6)
    sets = ood_sets(x, natural={"D5": ("SVHN", svhn), "D6": ("STL-10", stl)}, n=12)
    assert sets["D5"].name == "SVHN" and sets["D6"].name == "STL-10"
    assert sets["D5"].images.shape == (12, 3, 32, 32)
    # every D5 image is one of the SVHN images
    for img in sets["D5"].images:
        assert any(torch.equal(img, s) for s in svhn)
    with pytest.raises(ValueError, match="shape"):
        ood_sets(x, natural={"D5": ("SVHN", images(n=3)), "D6": ("STL-10", stl)})
    with pytest.raises(ValueError, match="D5"):
        ood_sets(x, natural={"D6": ("STL-10", stl)})


def test_change_contrast_keeps_the_mean_and_scales_deviations():
    from scaledrop_lib.data.shift import change_contrast

    x = 0.25 + 0.5 * images(n=3, c=3)  # in [0.25, 0.75]: no clipping at factor 0.5 or 1.5
    assert torch.equal(change_contrast(x, 1.0), x)
    half = change_contrast(x, 0.5)
    mean = x.mean(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(half - mean, 0.5 * (x - mean))
    torch.testing.assert_close(half.mean(dim=(2, 3)), x.mean(dim=(2, 3)))
    flat = change_contrast(x, 0.0)
    assert torch.allclose(flat, mean.expand_as(x))
    assert change_contrast(x, 5.0).max() <= 1.0
    with pytest.raises(ValueError, match="factor"):
        change_contrast(x, -1.0)
