"""Compact binary U-Net and SegNet for segmentation with Scale-Dropout (Sec. VI-A/B, Table IV).

As in the paper: 1-bit weights (IR-Net binarisation), 4-bit PACT activations, a learnable
scale vector per binary layer and one Scale-Dropout module per layer. The first convolution
and the 1x1 output convolution stay full precision (IR-Net's convention). The output is one
logit per pixel (foreground = lesion).

``NetConfig(dropout="mc", precision="float")`` builds the full-precision MC-Dropout baseline
of Table IV (ReLU activations, dropout after every hidden block).
"""

from __future__ import annotations

import torch
from torch import nn

from scaledrop_lib.kinds import DropoutKind
from scaledrop_lib.layers.binary import BinaryConv2d
from scaledrop_lib.layers.dropout import MCDropout
from scaledrop_lib.layers.quantizers import PACT
from scaledrop_lib.models.config import NetConfig
from scaledrop_lib.models.units import ScaledBinaryUnit

#: The dropout kinds the segmentation nets are built with.
SEGMENTATION_KINDS = (DropoutKind.SCALE, DropoutKind.MC, DropoutKind.NONE)


def _check_config(config: NetConfig | None) -> NetConfig:
    config = config or NetConfig()
    if config.dropout not in SEGMENTATION_KINDS:
        kinds = ", ".join(repr(kind.value) for kind in SEGMENTATION_KINDS)
        raise ValueError(
            f"segmentation nets support dropout {kinds}, got {config.dropout.value!r} "
            "(SpinDrop variants need binary activations; these nets use 4-bit PACT)"
        )
    return config


def conv_block(
    n_in: int, n_out: int, config: NetConfig, bits: int = 4, full_precision: bool = False
) -> nn.Sequential:
    """3x3 conv (binary weights unless full precision) + BatchNorm/scale + PACT or ReLU."""
    binary = config.precision == "binary" and not full_precision
    if binary:
        # 4-bit inputs stay multi-bit: only the weights are binary (no input quantizer)
        layer = BinaryConv2d(
            n_in,
            n_out,
            3,
            padding=1,
            bias=False,
            input_quantizer=None,
            scale_dropout=config.scale_dropout(),
        )
        unit: nn.Module = ScaledBinaryUnit(layer, config.placement)
    else:
        unit = nn.Sequential(
            nn.Conv2d(n_in, n_out, 3, padding=1, bias=False), nn.BatchNorm2d(n_out)
        )
    activation = PACT(bits) if config.precision == "binary" else nn.ReLU()
    modules = [unit, activation]
    if config.dropout == "mc" and not full_precision:
        modules.append(MCDropout(config.p))
    return nn.Sequential(*modules)


class _EncoderDecoder(nn.Module):
    """What U-Net and SegNet share: three encoder blocks (the first full precision), a 1x1
    full-precision output convolution, and the input-size check."""

    def __init__(
        self, config: NetConfig | None, in_channels: int, widths: tuple[int, int, int], bits: int
    ) -> None:
        super().__init__()
        self.config = _check_config(config)
        w1, w2, w3 = widths
        self.enc1 = conv_block(in_channels, w1, self.config, bits, full_precision=True)
        self.enc2 = conv_block(w1, w2, self.config, bits)
        self.enc3 = conv_block(w2, w3, self.config, bits)
        self.head = nn.Conv2d(w1, 1, 1)

    @staticmethod
    def _check_size(x: torch.Tensor) -> None:
        # three 2x2 poolings must divide the image exactly for the decoder to line up
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"image height and width must be multiples of 8, got {tuple(x.shape)}")


class BinaryUNet(_EncoderDecoder):
    """A three-level U-Net (widths w1-w2-w3, a bottleneck, skip connections by concatenation).

    Parameters
    ----------
    config : NetConfig
        Dropout kind, p, placement and precision.
    in_channels : int
        Image channels (3 for RGB).
    widths : (int, int, int)
        Channels of the three encoder levels.
    bits : int
        PACT activation precision.
    """

    def __init__(
        self,
        config: NetConfig | None = None,
        in_channels: int = 3,
        widths: tuple[int, int, int] = (16, 32, 64),
        bits: int = 4,
    ) -> None:
        super().__init__(config, in_channels, widths, bits)
        w1, w2, w3 = widths
        self.bottom = conv_block(w3, w3, self.config, bits)
        self.dec3 = conv_block(2 * w3, w2, self.config, bits)
        self.dec2 = conv_block(2 * w2, w1, self.config, bits)
        self.dec1 = conv_block(2 * w1, w1, self.config, bits)
        self.pool = nn.MaxPool2d(2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_size(x)
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        e3 = self.enc3(self.pool(e2))
        b = self.bottom(self.pool(e3))
        d3 = self.dec3(torch.cat([self.up(b), e3], dim=1))
        d2 = self.dec2(torch.cat([self.up(d3), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up(d2), e1], dim=1))
        return self.head(d1)


class BinarySegNet(_EncoderDecoder):
    """A three-level SegNet: encoder with max-pooling indices, decoder that unpools with them
    (no skip concatenation, the Bayesian SegNet layout of the paper's [47], much smaller).
    Parameters as :class:`BinaryUNet`."""

    def __init__(
        self,
        config: NetConfig | None = None,
        in_channels: int = 3,
        widths: tuple[int, int, int] = (16, 32, 64),
        bits: int = 4,
    ) -> None:
        super().__init__(config, in_channels, widths, bits)
        w1, w2, w3 = widths
        self.dec3 = conv_block(w3, w2, self.config, bits)
        self.dec2 = conv_block(w2, w1, self.config, bits)
        self.dec1 = conv_block(w1, w1, self.config, bits)
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_size(x)
        p1, i1 = self.pool(self.enc1(x))
        p2, i2 = self.pool(self.enc2(p1))
        p3, i3 = self.pool(self.enc3(p2))
        d3 = self.dec3(self.unpool(p3, i3))
        d2 = self.dec2(self.unpool(d3, i2))
        d1 = self.dec1(self.unpool(d2, i1))
        return self.head(d1)


def unet(config: NetConfig | None = None, **kwargs) -> BinaryUNet:
    """A :class:`BinaryUNet` (binary weights, 4-bit PACT; Scale-Dropout p = 0.2 by default)."""
    return BinaryUNet(config, **kwargs)


def segnet(config: NetConfig | None = None, **kwargs) -> BinarySegNet:
    """A :class:`BinarySegNet` (binary weights, 4-bit PACT; Scale-Dropout p = 0.2 by default)."""
    return BinarySegNet(config, **kwargs)
