"""Build plain (non-residual) networks from a short layer list: MLPs, small CNNs, VGG-small."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from scaledrop_lib.kinds import DropoutKind
from scaledrop_lib.layers.binary import BinaryConv2d, BinaryLinear, SignActivation, binarize_ste
from scaledrop_lib.layers.dropout import MCDropout, SpatialSpinDropout, SpinDropout
from scaledrop_lib.models.config import NetConfig
from scaledrop_lib.models.units import ScaledBinaryUnit

#: A layer list: ("conv", channels) is a 3x3 convolution with padding 1, ("pool",) a 2x2 max
#: pool, ("flatten",) flattens, ("fc", features) a hidden fully connected layer. The classifier
#: (to ``num_classes``) is added at the end.
LayerSpec = Sequence[tuple]


def input_dropout(config: NetConfig, conv: bool) -> list[nn.Module]:
    """SpinDrop-style modules that act on a binary layer's ±1 inputs (empty for other nets)."""
    if config.dropout == "spin":
        return [SignActivation(), SpinDropout(config.p)]
    if config.dropout == "spatial_spin":
        drop = SpatialSpinDropout(config.p) if conv else SpinDropout(config.p)
        return [SignActivation(), drop]
    return []


def binary_layer(kind: str, n_in: int, n_out: int, config: NetConfig, stride: int = 1) -> nn.Module:
    """A binary conv (3x3, padding 1) or linear layer, with Scale-Dropout if configured."""
    # SpinDrop-style nets binarise before their dropout (input_dropout): inputs arrive as ±1/0
    spin = config.dropout in (DropoutKind.SPIN, DropoutKind.SPATIAL_SPIN)
    options = {
        "bias": False,
        "input_quantizer": None if spin else binarize_ste,
        "scale_dropout": config.scale_dropout(),
    }
    if kind == "conv":
        return BinaryConv2d(n_in, n_out, 3, stride=stride, padding=1, **options)
    return BinaryLinear(n_in, n_out, **options)


def float_layer(kind: str, n_in: int, n_out: int, stride: int = 1) -> nn.Module:
    """A real-valued conv (3x3, padding 1) or linear layer, no bias (BatchNorm follows)."""
    if kind == "conv":
        return nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1, bias=False)
    return nn.Linear(n_in, n_out, bias=False)


def build_sequential(
    spec: LayerSpec,
    input_shape: tuple[int, int, int],
    num_classes: int,
    config: NetConfig,
) -> nn.Sequential:
    """Turn a layer list into a network (see :data:`LayerSpec`).

    Hidden binary layers are ``[input dropout] -> ScaledBinaryUnit -> [pool] -> Hardtanh``
    (the next layer's sign binarises; Hardtanh clips like the straight-through estimator).
    The first layer and the classifier are full precision unless
    ``config.binary_first_last``.
    """
    channels, height, width = input_shape
    features = channels  # per-position features; the flattened size after ("flatten",)
    modules: list[nn.Module] = []
    first = True
    items = list(spec)
    i = 0
    while i < len(items):
        kind = items[i][0]
        if kind == "flatten":
            modules.append(nn.Flatten())
            features = features * height * width
            height = width = 1
        elif kind == "pool":
            modules.append(nn.MaxPool2d(2))
            height, width = height // 2, width // 2
        elif kind in ("conv", "fc"):
            n_out = int(items[i][1])
            binary = config.precision == "binary" and (config.binary_first_last or not first)
            if binary:
                modules += input_dropout(config, conv=kind == "conv") if not first else []
                layer = binary_layer(kind, features, n_out, config)
                modules.append(ScaledBinaryUnit(layer, config.placement))
            else:
                modules.append(float_layer(kind, features, n_out))
                modules.append(nn.BatchNorm2d(n_out) if kind == "conv" else nn.BatchNorm1d(n_out))
            if i + 1 < len(items) and items[i + 1][0] == "pool":  # pool before the activation
                modules.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
                i += 1
            modules.append(nn.ReLU() if config.precision == "float" else nn.Hardtanh())
            if config.dropout == "mc":
                modules.append(MCDropout(config.p))
            features = n_out
            first = False
        else:
            raise ValueError(f"unknown layer kind {kind!r} in spec; use conv, pool, fc, flatten")
        i += 1
    if height * width != 1:
        modules.append(nn.Flatten())
        features = features * height * width
    if config.precision == "binary" and config.binary_first_last:
        modules += input_dropout(config, conv=False)
        modules.append(binary_layer("fc", features, num_classes, config))
    else:
        modules += input_dropout(config, conv=False)
        modules.append(nn.Linear(features, num_classes))
    return nn.Sequential(*modules)
