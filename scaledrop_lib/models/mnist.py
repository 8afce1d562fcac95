"""A binary CNN for the 28x28 MNIST digits with four Scale-Dropout modules.

Why four binary layers (L = 4): every hidden layer the paper binarises carries a module, so
layer-wise masks give 2^4 = 16 distinct networks (the 8x8 digits CNN has 2, i.e. 4 networks),
and 16 mask patterns are still few enough to enumerate exactly
(:func:`scaledrop_lib.inference.exact.exact_predictive`) in every chapter. The net stays
small (about 3.5 M multiply-accumulates and 71 k parameters), so one model trains in under a
minute on 2 CPU cores.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from scaledrop_lib.data.mnist import MNIST_CLASSES, MNIST_SHAPE
from scaledrop_lib.models.config import NetConfig
from scaledrop_lib.models.sequential import build_sequential


def mnist_cnn(
    config: NetConfig | None = None,
    channels: Sequence[int] = (16, 32, 32, 64),
    hidden: int = 64,
) -> nn.Module:
    """CNN for 28x28 digits with four binary layers.

    conv c0 (full precision) -> pool (14x14) -> conv c1 -> conv c2 -> pool (7x7) -> conv c3
    -> pool (3x3) -> fc ``hidden`` -> classifier (full precision). With a binary config the
    three inner convs and the hidden fc are binary and each carries Scale-Dropout (L = 4).
    """
    if len(channels) != 4:
        raise ValueError(f"channels must give 4 conv widths, got {len(channels)}")
    c0, c1, c2, c3 = (int(c) for c in channels)
    spec = [
        ("conv", c0),
        ("pool",),
        ("conv", c1),
        ("conv", c2),
        ("pool",),
        ("conv", c3),
        ("pool",),
        ("flatten",),
        ("fc", int(hidden)),
    ]
    return build_sequential(spec, MNIST_SHAPE, MNIST_CLASSES, config or NetConfig())
