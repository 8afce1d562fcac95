"""Binary LeNet-5 for 28x28 single-channel (MNIST-sized) inputs: the paper's Table VIII model."""

from __future__ import annotations

from torch import nn

from scaledrop_lib.layers.binary import BinaryConv2d, BinaryLinear
from scaledrop_lib.layers.dropout import ScaleDropout
from scaledrop_lib.models.config import NetConfig
from scaledrop_lib.models.units import ScaledBinaryUnit


def lenet5(config: NetConfig | None = None, num_classes: int = 10) -> nn.Sequential:
    """LeNet-5 with every conv/linear layer binary (the CIM chapter maps all of them).

    conv 6@5x5 (padding 2) -> pool -> conv 16@5x5 -> pool -> fc 120 -> fc 84 -> fc classes.
    Each layer carries Scale-Dropout when ``config.dropout == "scale"``.
    """
    config = config or NetConfig()

    def unit(layer: nn.Module) -> nn.Module:
        if config.dropout == "scale":
            layer.scale_dropout = ScaleDropout(config.p, config.variant, config.granularity)
        return ScaledBinaryUnit(layer, config.placement)

    last = BinaryLinear(84, num_classes, bias=False)
    if config.dropout == "scale":
        last.scale_dropout = ScaleDropout(config.p, config.variant, config.granularity)
    return nn.Sequential(
        unit(BinaryConv2d(1, 6, 5, padding=2, bias=False, binarize_input=False)),
        nn.MaxPool2d(2),
        nn.Hardtanh(),
        unit(BinaryConv2d(6, 16, 5, bias=False)),
        nn.MaxPool2d(2),
        nn.Hardtanh(),
        nn.Flatten(),
        unit(BinaryLinear(16 * 5 * 5, 120, bias=False)),
        nn.Hardtanh(),
        unit(BinaryLinear(120, 84, bias=False)),
        nn.Hardtanh(),
        last,
    )
