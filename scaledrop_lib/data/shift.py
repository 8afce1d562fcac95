"""Distribution shift and out-of-distribution (OOD) inputs (Sec. VI-A2, VI-F; Fig. 5, 6, Table V).

Everything here works in **pixel space**: images are float tensors (N, C, H, W) with values in
[0, 1], before any normalisation. The digits models of the book take pixel space directly; a
model trained on normalised data (e.g. CIFAR-10 with per-channel mean/std) must have the same
normalisation applied to every set produced here, in-distribution and OOD alike.

The paper's six OOD sets (P:265), as we build them:

=====  ===========================================================================================
D1     every pixel ~ N(0, 1), drawn in pixel space and **not** clipped (about half the values
       are negative, as "x ~ N(0, 1)" says)
D2     every pixel ~ U(0, 1)
D3     in-distribution test images + N(0, sigma^2) noise, clipped to [0, 1]; the paper gives no
       strength, we use sigma = :data:`DEFAULT_NOISE_STD` (0.5)
D4     in-distribution test images + U(-a, a) noise with a = sigma * sqrt(3) (the same variance
       as D3), clipped to [0, 1]
D5/D6  a different real dataset: SVHN / STL-10 for CIFAR-10 (P:265); for the embedded digits,
       patches of the natural photographs bundled in scikit-learn (D5) and scikit-image (D6)
       wheels, cut at random, area-resized and grey-scaled to the digits' shape
=====  ===========================================================================================
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from scaledrop_lib._checks import check_choice, check_images, check_positive_int

DEFAULT_NOISE_STD = 0.5
"""Noise strength of D3 / D4 (standard deviation, in pixel units of [0, 1]); our choice."""

SKLEARN_SAMPLE_IMAGES = ("china.jpg", "flower.jpg")
"""The two photographs scikit-learn ships (``sklearn.datasets.load_sample_images``)."""

SKIMAGE_PHOTOS = (
    "astronaut",
    "brick",
    "camera",
    "cat",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "moon",
    "rocket",
)
"""``skimage.data`` photographs whose files are inside the scikit-image wheel (no download;
``tests/test_shift.py`` loads them with every socket blocked)."""

NATURAL_SOURCES = ("sklearn", "skimage")

# ITU-R BT.601 luma weights for RGB -> grey
_LUMA = (0.299, 0.587, 0.114)


def _check_strength(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _generator(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return torch.Generator().manual_seed(int(seed))


# ----------------------------------------------------------------------------- shifts


def rotate(images: torch.Tensor, angle: float, fill: float = 0.0) -> torch.Tensor:
    """Rotate every image counter-clockwise by ``angle`` degrees about its centre (Fig. 6).

    Bilinear interpolation; corners that come from outside the image get ``fill`` (0 = the
    digits' black background). A multiple of 360 degrees returns an exact copy.

    Parameters
    ----------
    images : torch.Tensor
        (N, C, H, W) float.
    angle : float
        Degrees, counter-clockwise (the paper sweeps 0 to 90).
    fill : float
        Value of pixels rotated in from outside.
    """
    from torchvision.transforms.functional import InterpolationMode
    from torchvision.transforms.functional import rotate as tv_rotate

    check_images("images", images)
    if isinstance(angle, bool) or not isinstance(angle, numbers.Real):
        raise TypeError(f"angle must be a real number of degrees, got {type(angle).__name__}")
    if not math.isfinite(angle):
        raise ValueError(f"angle must be finite, got {angle!r}")
    if float(angle) % 360.0 == 0.0:
        return images.clone()
    return tv_rotate(
        images,
        float(angle),
        interpolation=InterpolationMode.BILINEAR,
        fill=[float(fill)] * images.shape[1],
    )


def add_gaussian_noise(
    images: torch.Tensor, std: float, seed: int = 0, clip: bool = True
) -> torch.Tensor:
    """``images + N(0, std^2)`` per pixel, clipped to [0, 1] unless ``clip=False`` (D3)."""
    check_images("images", images)
    std = _check_strength("std", std)
    noise = torch.randn(images.shape, generator=_generator(seed), dtype=images.dtype)
    out = images + std * noise.to(images.device)
    return out.clamp(0.0, 1.0) if clip else out


def add_uniform_noise(
    images: torch.Tensor, strength: float, seed: int = 0, clip: bool = True
) -> torch.Tensor:
    """``images + U(-strength, strength)`` per pixel, clipped to [0, 1] unless ``clip=False``.

    The paper's Fig. 5 adds "uniform noise of increasing strength"; ``strength`` is the
    half-width of the zero-mean uniform distribution (standard deviation strength / sqrt(3)).
    """
    check_images("images", images)
    strength = _check_strength("strength", strength)
    noise = torch.rand(images.shape, generator=_generator(seed), dtype=images.dtype) * 2 - 1
    out = images + strength * noise.to(images.device)
    return out.clamp(0.0, 1.0) if clip else out


def change_contrast(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Scale each image's deviation from its own mean by ``factor`` (1 = unchanged, 0 = flat
    grey at the mean, > 1 = more contrast), clipped to [0, 1]. Per image and channel."""
    check_images("images", images)
    factor = _check_strength("factor", factor)
    mean = images.mean(dim=(2, 3), keepdim=True)
    return (mean + factor * (images - mean)).clamp(0.0, 1.0)


# ----------------------------------------------------------------------------- natural images


def _load_natural_photos(source: str) -> list[np.ndarray]:
    """The bundled photographs of ``source`` as uint8 arrays (H, W, 3) or (H, W)."""
    check_choice("source", source, NATURAL_SOURCES)
    if source == "sklearn":
        from sklearn.datasets import load_sample_images

        bunch = load_sample_images()
        return [np.asarray(img) for img in bunch.images]
    import skimage.data

    return [np.asarray(getattr(skimage.data, name)()) for name in SKIMAGE_PHOTOS]


def natural_image_patches(
    source: str,
    n: int,
    shape: tuple[int, int, int],
    patch_size: int = 64,
    seed: int = 0,
) -> torch.Tensor:
    """Random square patches of bundled photographs, resized to ``shape`` (D5 / D6 for digits).

    Patch ``i`` comes from photograph ``i mod K`` (K photographs in the source) at a position
    drawn with ``seed``; it is area-averaged down to (H, W) and converted to grey with the
    BT.601 luma weights when C = 1. Values are the photographs' own intensities / 255: no
    contrast stretching.

    Parameters
    ----------
    source : {"sklearn", "skimage"}
        ``"sklearn"``: the 2 photographs of ``load_sample_images`` (427 x 640). ``"skimage"``:
        the photographs named in :data:`SKIMAGE_PHOTOS` (all inside the wheel).
    n : int
        Number of patches.
    shape : tuple of int
        Output shape (C, H, W) per patch; C is 1 (grey) or 3 (RGB).
    patch_size : int
        Side of the square cut from the photograph before resizing, in pixels.
    seed : int
        Fixes the patch positions.

    Returns
    -------
    torch.Tensor
        (n, C, H, W) float32 in [0, 1].
    """
    n = check_positive_int("n", n)
    patch_size = check_positive_int("patch_size", patch_size)
    if len(shape) != 3 or shape[0] not in (1, 3) or min(shape[1:]) < 1:
        raise ValueError(f"shape must be (C, H, W) with C in (1, 3), got {tuple(shape)}")
    photos = _load_natural_photos(source)
    for photo in photos:
        if min(photo.shape[:2]) < patch_size:
            raise ValueError(
                f"patch_size {patch_size} exceeds a {source} photograph of {photo.shape[:2]}"
            )
    rng = np.random.default_rng(seed)
    patches = []
    for i in range(n):
        photo = photos[i % len(photos)]
        top = int(rng.integers(0, photo.shape[0] - patch_size + 1))
        left = int(rng.integers(0, photo.shape[1] - patch_size + 1))
        crop = photo[top : top + patch_size, left : left + patch_size].astype(np.float32) / 255.0
        if crop.ndim == 2:
            crop = np.repeat(crop[:, :, None], 3, axis=2)
        patches.append(crop[:, :, :3])
    batch = torch.from_numpy(np.stack(patches)).permute(0, 3, 1, 2)  # (n, 3, s, s)
    if shape[0] == 1:
        weights = torch.tensor(_LUMA, dtype=batch.dtype).view(1, 3, 1, 1)
        batch = (batch * weights).sum(dim=1, keepdim=True)
    batch = F.adaptive_avg_pool2d(batch, tuple(shape[1:]))  # area resize
    return batch.clamp(0.0, 1.0).contiguous()


# ----------------------------------------------------------------------------- OOD sets


@dataclass(frozen=True)
class OODSet:
    """One out-of-distribution set: ``key`` (D1-D6), a short ``name`` and how it was made."""

    key: str
    name: str
    description: str
    images: torch.Tensor


def _take(images: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` images: a seeded permutation's first n, cycling through the set if n > N."""
    order = torch.randperm(len(images), generator=_generator(seed))
    reps = -(-n // len(images))
    return images[order.repeat(reps)[:n]]


def ood_sets(
    in_images: torch.Tensor,
    *,
    n: int | None = None,
    seed: int = 0,
    noise_std: float = DEFAULT_NOISE_STD,
    natural: dict[str, tuple[str, torch.Tensor]] | None = None,
    patch_size: int = 64,
) -> dict[str, OODSet]:
    """The paper's six OOD sets D1-D6 (P:265), built around in-distribution test images.

    Parameters
    ----------
    in_images : torch.Tensor
        In-distribution test images (N, C, H, W) in pixel space [0, 1]; every set gets their
        shape, and D3 / D4 are these images corrupted.
    n : int, optional
        Images per set (default N, the size of the in-distribution test set; the paper uses
        8000 for CIFAR-10).
    seed : int
        Fixes every random draw (each set uses its own derived seed).
    noise_std : float
        Standard deviation of the D3 noise; D4 uses U(-a, a) with a = noise_std * sqrt(3).
    natural : dict, optional
        ``{"D5": (name, images), "D6": (name, images)}`` of other real datasets already in
        pixel space and shape, e.g. SVHN and STL-10 for CIFAR-10
        (:func:`~scaledrop_lib.data.files.load_svhn`,
        :func:`~scaledrop_lib.data.files.load_stl10`). Default: patches of the
        photographs bundled with scikit-learn (D5) and scikit-image (D6), see
        :func:`natural_image_patches`.
    patch_size : int
        Patch side for the default natural sets.

    Returns
    -------
    dict of str to OODSet
        Keys "D1" ... "D6", in order.
    """
    check_images("in_images", in_images)
    if len(in_images) == 0:
        raise ValueError("in_images must not be empty")
    n = len(in_images) if n is None else check_positive_int("n", n)
    noise_std = _check_strength("noise_std", noise_std)
    shape = tuple(in_images.shape[1:])
    base = _take(in_images, n, seed)
    half_width = noise_std * math.sqrt(3.0)
    gen1, gen2 = _generator(seed + 1), _generator(seed + 2)
    sets = {
        "D1": OODSet(
            "D1",
            "Gaussian noise",
            "every pixel ~ N(0, 1) in pixel space, not clipped",
            torch.randn((n, *shape), generator=gen1),
        ),
        "D2": OODSet(
            "D2",
            "uniform noise",
            "every pixel ~ U(0, 1)",
            torch.rand((n, *shape), generator=gen2),
        ),
        "D3": OODSet(
            "D3",
            "test + Gaussian noise",
            f"test images + N(0, {noise_std:g}^2) per pixel, clipped to [0, 1]",
            add_gaussian_noise(base, noise_std, seed=seed + 3),
        ),
        "D4": OODSet(
            "D4",
            "test + uniform noise",
            f"test images + U(-{half_width:.3g}, {half_width:.3g}) per pixel "
            f"(sd {noise_std:g}), clipped to [0, 1]",
            add_uniform_noise(base, half_width, seed=seed + 4),
        ),
    }
    if natural is None:
        for key, source, label in (
            ("D5", "sklearn", "scikit-learn"),
            ("D6", "skimage", "scikit-image"),
        ):
            images = natural_image_patches(source, n, shape, patch_size, seed=seed + int(key[1]))
            sets[key] = OODSet(
                key,
                f"{label} photos",
                f"{n} random {patch_size}x{patch_size} patches of the photographs bundled "
                f"with {label}, area-resized to {shape}",
                images,
            )
        return sets
    if set(natural) != {"D5", "D6"}:
        raise ValueError(f"natural must have exactly the keys 'D5' and 'D6', got {sorted(natural)}")
    for key in ("D5", "D6"):
        name, images = natural[key]
        check_images(f"natural[{key!r}] images", images)
        if tuple(images.shape[1:]) != shape:
            raise ValueError(
                f"natural[{key!r}] images have shape {tuple(images.shape[1:])}, "
                f"but the in-distribution images have {shape}"
            )
        sets[key] = OODSet(key, name, f"{n} images of {name}", _take(images, n, seed + 7))
    return sets
