"""Binary LeNet-5 for 28x28 single-channel (MNIST-sized) inputs: the paper's Table VIII model."""

from __future__ import annotations

from torch import nn

from scaledrop_lib.layers.binary import BinaryConv2d, BinaryLinear
from scaledrop_lib.models.config import NetConfig
from scaledrop_lib.models.units import ScaledBinaryUnit


def lenet5(config: NetConfig | None = None, num_classes: int = 10) -> nn.Sequential:
    """LeNet-5 with every conv/linear layer binary (the CIM chapter maps all of them).

    conv 6@5x5 (padding 2) -> pool -> conv 16@5x5 -> pool -> fc 120 -> fc 84 -> fc classes.
    Each layer carries Scale-Dropout when ``config.dropout == "scale"``.
    """
    config = config or NetConfig()

    def unit(layer: nn.Module) -> nn.Module:
        return ScaledBinaryUnit(layer, config.placement)

    drop = config.scale_dropout  # a fresh module for every layer
    return nn.Sequential(
        unit(BinaryConv2d(1, 6, 5, 1, 2, False, input_quantizer=None, scale_dropout=drop())),
        nn.MaxPool2d(2),
        nn.Hardtanh(),
        unit(BinaryConv2d(6, 16, 5, bias=False, scale_dropout=drop())),
        nn.MaxPool2d(2),
        nn.Hardtanh(),
        nn.Flatten(),
        unit(BinaryLinear(16 * 5 * 5, 120, bias=False, scale_dropout=drop())),
        nn.Hardtanh(),
        unit(BinaryLinear(120, 84, bias=False, scale_dropout=drop())),
        nn.Hardtanh(),
        BinaryLinear(84, num_classes, bias=False, scale_dropout=drop()),
    )
