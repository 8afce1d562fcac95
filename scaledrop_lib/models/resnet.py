"""Binary ResNet-20 and ResNet-18 in the CIFAR layout (3x3 stem, no initial max pool)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from scaledrop_lib.layers.dropout import MCDropout
from scaledrop_lib.models.config import NetConfig
from scaledrop_lib.models.sequential import binary_layer, float_layer, input_dropout
from scaledrop_lib.models.units import ScaledBinaryUnit


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection; binary convs carry Scale-Dropout.

    ``out = act(unit2(act(unit1(x))) + shortcut(x))``; the shortcut is the identity, or a
    full-precision 1x1 conv + BatchNorm where the shape changes. Because the shortcut is added
    before the next sign, a scale here matters even with the ``after_bn`` placement.
    """

    def __init__(self, n_in: int, n_out: int, stride: int, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        if config.precision == "binary":
            self.drop1 = nn.Sequential(*input_dropout(config, conv=True))
            self.conv1 = ScaledBinaryUnit(
                binary_layer("conv", n_in, n_out, config, stride), config.placement
            )
            self.drop2 = nn.Sequential(*input_dropout(config, conv=True))
            self.conv2 = ScaledBinaryUnit(
                binary_layer("conv", n_out, n_out, config), config.placement
            )
            self.act = nn.Hardtanh()
        else:
            self.drop1 = nn.Identity()
            self.conv1 = nn.Sequential(
                float_layer("conv", n_in, n_out, stride), nn.BatchNorm2d(n_out)
            )
            self.drop2 = MCDropout(config.p) if config.dropout == "mc" else nn.Identity()
            self.conv2 = nn.Sequential(float_layer("conv", n_out, n_out), nn.BatchNorm2d(n_out))
            self.act = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or n_in != n_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(n_in, n_out, 1, stride=stride, bias=False), nn.BatchNorm2d(n_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.conv1(self.drop1(x)))
        out = self.conv2(self.drop2(out)) + self.shortcut(x)
        return self.act(out)


class CifarResNet(nn.Module):
    """ResNet for 32x32 inputs: stem conv (full precision), stages of BasicBlocks, pooling, FC."""

    def __init__(
        self,
        widths: Sequence[int],
        blocks_per_stage: int,
        config: NetConfig,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU() if config.precision == "float" else nn.Hardtanh(),
        )
        blocks: list[nn.Module] = []
        n_in = widths[0]
        for stage, width in enumerate(widths):
            for b in range(blocks_per_stage):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(BasicBlock(n_in, width, stride, config))
                n_in = width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        head: list[nn.Module] = [nn.Flatten()]
        if config.dropout == "mc":
            head.append(MCDropout(config.p))
        if config.precision == "binary" and config.binary_first_last:
            head += input_dropout(config, conv=False)
            head.append(binary_layer("fc", n_in, num_classes, config))
        else:
            head.append(nn.Linear(n_in, num_classes))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.blocks(self.stem(x))))


def resnet20(config: NetConfig | None = None, num_classes: int = 10) -> nn.Module:
    """ResNet-20 (He et al.'s CIFAR net): widths 16-32-64, 3 blocks per stage."""
    return CifarResNet((16, 32, 64), 3, config or NetConfig(), num_classes)


def resnet18(config: NetConfig | None = None, num_classes: int = 10) -> nn.Module:
    """ResNet-18, CIFAR layout: widths 64-128-256-512, 2 blocks per stage, 3x3 stem."""
    return CifarResNet((64, 128, 256, 512), 2, config or NetConfig(), num_classes)
