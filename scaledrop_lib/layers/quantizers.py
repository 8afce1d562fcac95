"""PACT: learnable-clipping activation quantisation (Choi et al., 2018), as the paper uses for
its 4-bit segmentation activations (Sec. VI-B: "activations quantised to 4 bits [48]").

Forward: ``y = clip(x, 0, alpha)``, then ``y`` rounded to one of ``2^k`` evenly spaced levels
in ``[0, alpha]``. Backward (straight-through estimator): d/dx = 1 where ``0 < x < alpha``
and 0 elsewhere; d/d alpha = 1 where ``x >= alpha`` (the clipped elements), 0 elsewhere, so
alpha learns how much range the layer needs.
"""

from __future__ import annotations

import torch
from torch import nn

from scaledrop_lib._checks import check_positive_int


def pact_quantize(x: torch.Tensor, alpha: torch.Tensor, bits: int) -> torch.Tensor:
    """``clip(x, 0, alpha)`` quantised to ``2^bits`` levels, with PACT's gradients (see module)."""
    bits = check_positive_int("bits", bits)
    if not bool(torch.isfinite(alpha).all()) or bool((alpha <= 0).any()):
        raise ValueError(f"alpha must be a finite clipping level > 0, got {alpha.tolist()}")
    # torch.minimum gives d/dx = 1 below alpha and d/dalpha = 1 above it: PACT's gradients
    clipped = torch.minimum(torch.relu(x), alpha)
    steps = (2**bits - 1) / alpha
    quantised = torch.round(clipped * steps) / steps
    return clipped + (quantised - clipped).detach()  # straight-through the rounding


class PACT(nn.Module):
    """A ``bits``-bit PACT activation with one learnable clipping level ``alpha`` per layer.

    Parameters
    ----------
    bits : int
        Activation precision (the paper's segmentation nets: 4).
    alpha : float
        Initial clipping level (> 0). After BatchNorm, values are roughly N(0, 1), so 3
        keeps nearly every positive value.
    """

    def __init__(self, bits: int = 4, alpha: float = 3.0) -> None:
        super().__init__()
        self.bits = check_positive_int("bits", bits)
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha!r}")
        self.alpha = nn.Parameter(torch.tensor(float(alpha)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # keep alpha positive even if an optimiser step overshoots
        return pact_quantize(x, self.alpha.clamp(min=1e-3), self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"
