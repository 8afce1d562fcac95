"""A procedural skin-lesion segmentation dataset that runs offline (chapter 5).

The paper segments dermoscopic images (Skin Cancer dataset, 200 images of 572 x 765), breast
ultrasound and lung CT (Sec. VI-A, Table IV). None can be downloaded here, so this module
draws lesion-like images with exact ground-truth masks, deterministic from a seed. What makes
it non-trivial, each on purpose:

* irregular outlines (a circle whose radius carries random harmonics) at random places/sizes;
* lesion colour and contrast vary, down to lesions barely darker than the skin;
* skin texture, an illumination gradient and a vignette (a global threshold fails on them);
* blurred lesion borders, so the exact edge is ambiguous (where uncertainty should be);
* dark hair-like curves across skin and lesion that are *not* part of the mask;
* multiplicative speckle noise.

Images are RGB float32 (3, H, W) in [0, 1]; masks float32 (1, H, W) of {0, 1}.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from torch.utils.data import TensorDataset

from scaledrop_lib._checks import check_positive_int


@dataclass(frozen=True)
class LesionStyle:
    """Ranges the generator draws from (uniformly unless stated). Defaults: chapter 5."""

    radius: tuple[float, float] = (0.12, 0.28)  # mean lesion radius, fraction of the side
    irregularity: float = 0.22  # amplitude of the outline's harmonics (relative radius)
    darkness: tuple[float, float] = (0.35, 0.85)  # lesion/skin brightness ratio (1 = invisible)
    edge_blur: tuple[float, float] = (0.6, 2.5)  # sigma of the border blur, pixels
    gradient: float = 0.35  # peak relative change of the illumination across the image
    texture: float = 0.06  # skin texture amplitude
    hairs: float = 2.0  # mean number of hairs per image (Poisson)
    speckle: float = 0.06  # sd of the multiplicative noise


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    field = gaussian_filter(rng.standard_normal((size, size)), sigma)
    return field / (field.std() + 1e-12)


def _lesion_mask(rng: np.random.Generator, size: int, style: LesionStyle) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    radius = rng.uniform(*style.radius) * size
    margin = radius * 1.1
    cy, cx = rng.uniform(margin, size - margin, size=2) if size > 2 * margin else (size / 2,) * 2
    theta = np.arctan2(yy - cy, xx - cx)
    r = np.ones_like(theta)
    for k in range(2, 7):  # harmonics 2..6 make the outline irregular
        amplitude = rng.uniform(0, style.irregularity) / (k - 1)
        r += amplitude * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return np.hypot(yy - cy, xx - cx) < radius * r


def _hair_map(rng: np.random.Generator, size: int, count: int) -> np.ndarray:
    """Soft map (0..1) of ``count`` thin dark curves (quadratic Bezier strokes)."""
    hair = np.zeros((size, size))
    for _ in range(count):
        p0, p1, p2 = rng.uniform(-0.1 * size, 1.1 * size, size=(3, 2))
        t = np.linspace(0, 1, 6 * size)[:, None]
        points = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
        ij = np.round(points).astype(int)
        inside = (ij >= 0).all(1) & (ij < size).all(1)
        hair[ij[inside, 0], ij[inside, 1]] = 1.0
    return np.clip(gaussian_filter(hair, 0.5) * 2.5, 0, 1)


def lesion_sample(
    rng: np.random.Generator, size: int = 64, style: LesionStyle | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One image (3, size, size) and its mask (1, size, size), drawn with ``rng``."""
    style = style or LesionStyle()
    yy, xx = np.mgrid[0:size, 0:size] / size
    skin = rng.uniform([0.78, 0.56, 0.45], [0.96, 0.80, 0.70])  # RGB skin tone
    angle = rng.uniform(0, 2 * np.pi)
    light = 1 + style.gradient * rng.uniform(-1, 1) * (
        np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5)
    )
    light *= 1 - 0.25 * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2)  # vignette
    texture = 1 + style.texture * _smooth_noise(rng, size, 1.5)
    background = skin[:, None, None] * (light * texture)[None]

    mask = _lesion_mask(rng, size, style)
    darkness = rng.uniform(*style.darkness)
    tint = np.array([1.0, 0.85, 0.8]) * rng.uniform(0.9, 1.1, size=3)  # brownish
    blotches = 1 + 0.12 * _smooth_noise(rng, size, 2.5)
    lesion = background * (darkness * tint)[:, None, None] * blotches[None]
    edge = gaussian_filter(mask.astype(np.float64), rng.uniform(*style.edge_blur))
    image = background * (1 - edge) + lesion * edge

    hair = _hair_map(rng, size, int(rng.poisson(style.hairs)))
    image = image * (1 - 0.75 * hair)[None]
    image = image * (1 + style.speckle * rng.standard_normal(image.shape))
    return (
        np.clip(image, 0, 1).astype(np.float32),
        mask[None].astype(np.float32),
    )


def make_lesions(
    n: int, size: int = 64, seed: int = 0, style: LesionStyle | None = None
) -> TensorDataset:
    """``n`` procedural lesion images and masks as a dataset of ((3, H, W), (1, H, W)).

    Image ``i`` depends only on ``(seed, i)``, so a larger ``n`` extends a smaller set.
    """
    n = check_positive_int("n", n)
    size = check_positive_int("size", size, minimum=16)
    images, masks = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        image, mask = lesion_sample(rng, size, style)
        images.append(image)
        masks.append(mask)
    return TensorDataset(torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(masks)))


@dataclass(frozen=True)
class LesionSplits:
    train: TensorDataset
    val: TensorDataset
    test: TensorDataset


def load_lesion_splits(
    n_train: int = 384, n_val: int = 64, n_test: int = 64, size: int = 64, seed: int = 0
) -> LesionSplits:
    """Train / validation / test lesion sets from disjoint seeds (``seed``, +1, +2)."""
    return LesionSplits(
        make_lesions(n_train, size, seed),
        make_lesions(n_val, size, seed + 1),
        make_lesions(n_test, size, seed + 2),
    )
