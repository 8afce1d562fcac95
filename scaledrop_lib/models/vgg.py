"""Binary VGG-small, as in IR-Net's CIFAR-10 experiments (Qin et al. 2020)."""

from __future__ import annotations

from torch import nn

from scaledrop_lib.models.config import NetConfig
from scaledrop_lib.models.sequential import build_sequential

#: conv 128-128-pool-256-256-pool-512-512-pool, then the classifier.
VGG_SMALL_SPEC = [
    ("conv", 128),
    ("conv", 128),
    ("pool",),
    ("conv", 256),
    ("conv", 256),
    ("pool",),
    ("conv", 512),
    ("conv", 512),
    ("pool",),
]


def vgg_small(
    config: NetConfig | None = None,
    num_classes: int = 10,
    input_shape: tuple[int, int, int] = (3, 32, 32),
) -> nn.Module:
    """VGG-small for 32x32 colour images (CIFAR-10 layout); first conv and classifier FP."""
    return build_sequential(VGG_SMALL_SPEC, input_shape, num_classes, config or NetConfig())
