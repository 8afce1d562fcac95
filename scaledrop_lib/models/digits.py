"""Small networks for the 8x8 digits: they train in seconds on a CPU."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from scaledrop_lib.data.digits import DIGITS_CLASSES, DIGITS_SHAPE
from scaledrop_lib.models.config import NetConfig
from scaledrop_lib.models.sequential import build_sequential


def digits_mlp(
    config: NetConfig | None = None, hidden: Sequence[int] = (128, 128, 128)
) -> nn.Module:
    """MLP on the flattened 8x8 image: 64 -> hidden... -> 10.

    With the defaults: a full-precision first layer, two binary hidden layers carrying
    Scale-Dropout, and a full-precision classifier.
    """
    spec = [("flatten",)] + [("fc", h) for h in hidden]
    return build_sequential(spec, DIGITS_SHAPE, DIGITS_CLASSES, config or NetConfig())


def digits_cnn(
    config: NetConfig | None = None, channels: Sequence[int] = (16, 32, 32)
) -> nn.Module:
    """CNN for 8x8 digits: conv c0 -> conv c1 -> pool -> conv c2 -> pool -> classifier.

    With the defaults: a full-precision first conv, two binary convs carrying Scale-Dropout,
    and a full-precision classifier on 32 x 2 x 2 features.
    """
    if len(channels) != 3:
        raise ValueError(f"channels must give 3 conv widths, got {len(channels)}")
    c0, c1, c2 = (int(c) for c in channels)
    spec = [("conv", c0), ("conv", c1), ("pool",), ("conv", c2), ("pool",)]
    return build_sequential(spec, DIGITS_SHAPE, DIGITS_CLASSES, config or NetConfig())
