"""The building block of every binary network: binary layer + BatchNorm + scale.

Where the scale vector alpha sits relative to BatchNorm decides whether Scale-Dropout does
anything (chapter 2 measures it):

``"before_bn"`` (Eq. 7-8 as printed)
    ``BN(alpha * z)``. In training, BatchNorm's batch statistics divide every channel's
    constant factor out again, so neither alpha nor its dropout changes the training forward
    pass, and alpha gets no gradient from the loss. At eval, BN uses running statistics, so
    a dropped scale does move the output: the model samples at test time variation it never
    saw in training.
``"after_bn"`` (Fig. 1's caption)
    ``alpha * BN(z)``. A positive per-channel factor right before a sign changes no sign:
    in a binary net whose next step is sign, alpha and its dropout do nothing at all.
``"inside_bn"`` (the default)
    ``alpha * normalise(z) + beta``: BatchNorm without its affine part, then alpha in the
    role of BN's gain, then a learnable shift beta. The sign threshold of each channel is
    ``-beta / alpha``, so alpha matters in training and at eval and gets a gradient, and
    dropping it to 1 moves the thresholds. Same parameter count as BN's affine (gamma, beta).
"""

from __future__ import annotations

import torch
from torch import nn

from scaledrop_lib._checks import check_choice

PLACEMENTS = ("inside_bn", "before_bn", "after_bn")


def _out_channels(layer: nn.Module) -> int:
    if hasattr(layer, "out_channels"):
        return int(layer.out_channels)
    return int(layer.out_features)


class ScaledBinaryUnit(nn.Module):
    """A binary layer with its BatchNorm and scale vector (Eq. 7-8), no activation.

    Parameters
    ----------
    layer : BinaryConv2d or BinaryLinear
        Provides ``binary_output(x)``, ``effective_alpha()`` (alpha after Scale-Dropout, if a
        ``scale_dropout`` module is attached), ``apply_scale`` and ``scale_enabled``.
    placement : {"inside_bn", "before_bn", "after_bn"}
        Where alpha is applied (see the module docstring).
    """

    def __init__(self, layer: nn.Module, placement: str = "inside_bn") -> None:
        super().__init__()
        self.placement = check_choice("placement", placement, PLACEMENTS)
        self.layer = layer
        channels = _out_channels(layer)
        is_conv = hasattr(layer, "out_channels")
        norm_cls = nn.BatchNorm2d if is_conv else nn.BatchNorm1d
        affine = placement != "inside_bn"
        self.norm = norm_cls(channels, affine=affine)
        self.shift = nn.Parameter(torch.zeros(channels)) if not affine else None

    def _scale(
        self, z: torch.Tensor, alpha: torch.Tensor | None, inplace: bool = False
    ) -> torch.Tensor:
        if not self.layer.scale_enabled:
            return z
        alpha = self.layer.effective_alpha() if alpha is None else alpha
        return self.layer.apply_scale(z, alpha, inplace=inplace)

    def forward(self, x: torch.Tensor, alpha: torch.Tensor | None = None) -> torch.Tensor:
        """The unit's output; ``alpha`` overrides the layer's scale for this call (for demos)."""
        return self.from_binary_output(self.layer.binary_output(x), alpha)

    def from_binary_output(
        self, z: torch.Tensor, alpha: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The rest of :meth:`forward` given the binary layer's output ``z`` (BN and scale).

        Splitting here lets :mod:`scaledrop_lib.inference.prefix` compute ``z`` once for many
        passes (``z`` itself is never modified: the engine shares it between branches).
        """
        if self.placement == "before_bn":
            return self.norm(self._scale(z, alpha))
        # without autograd, scale and shift update BatchNorm's fresh output in place: the same
        # values, without two more activation-sized tensors (measured: most of the time of
        # these steps at VGG-small's sizes went to writing new memory)
        inplace = not torch.is_grad_enabled()
        out = self._scale(self.norm(z), alpha, inplace=inplace)
        if self.shift is not None:
            shift = self.shift.view(1, -1, *([1] * (out.dim() - 2)))
            out = out.add_(shift) if inplace else out + shift
        return out

    def extra_repr(self) -> str:
        return f"placement={self.placement}"
