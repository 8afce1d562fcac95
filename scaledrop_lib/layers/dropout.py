"""Scale-Dropout (Eq. 5-9) and the dropout baselines the book compares it with.

**p is the dropout probability** throughout: the probability that a layer's scale vector is
*replaced* in a forward pass (the paper uses p both ways; see the book's chapter 2). A
dropped scale is not zeroed, as Eq. 6 as printed would do, but replaced (Sec. III-B):

    alpha_hat = d * alpha + (1 - d) * r,   d ~ Bernoulli(1 - p)

with r = 1 (``unitary``, the paper's choice), r = mean(alpha) (``average``) or r a random
draw, uniform over [min(alpha), max(alpha)] (``random``; one scalar per draw, so the whole
vector becomes that value; ``random_range`` fixes the interval instead, since the paper does
not give one). With ``granularity="layer"`` (the paper's default, one random
bit per layer) the whole vector is replaced at once; ``"element"`` draws one bit per output
channel (more RNGs in hardware, for comparison).

The modules are active when the model trains, or at inference when their ``mc`` switch is on
(:func:`~scaledrop_lib.layers.sampling.sampling`), which is how Monte-Carlo Scale-Dropout
samples (Sec. IV-B).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from scaledrop_lib._checks import check_choice, check_probability

VARIANTS = ("unitary", "average", "random")


GRANULARITIES = ("layer", "element")


#: ``mask_source(shape, p, generator) -> bool tensor`` with True where the scale is dropped.
#: The default draws ideal Bernoulli bits; chapter 6 plugs in an MTJ bit source instead.
MaskSource = Callable[[tuple[int, ...], float, torch.Generator | None], torch.Tensor]


def bernoulli_drop_mask(
    shape: tuple[int, ...], p: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Ideal dropout bits: a bool tensor of ``shape``, each True with probability ``p``."""
    return torch.rand(shape, generator=generator) < p


class StochasticModule(nn.Module):
    """Base of every dropout module here: a probability ``p``, an ``mc`` switch, a generator.

    The module samples when ``self.training or self.mc``. ``generator=None`` draws from
    torch's global generator (like :class:`torch.nn.Dropout`); :func:`seed_dropout` gives
    every module of a model its own seeded generator for reproducible masks.
    """

    def __init__(self, p: float, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.mc = False
        self.generator = generator

    @property
    def sampling(self) -> bool:
        """Whether a forward pass draws a new mask now."""
        return (self.training or self.mc) and self.p > 0.0

    def extra_repr(self) -> str:
        return f"p={self.p}, mc={self.mc}"


class ScaleDropout(StochasticModule):
    """Scale-Dropout on one layer's scale vector (Eq. 5-7).

    Called with the layer's scale vector ``alpha`` (shape (C,)) it returns the scale to use
    in this forward pass. Attach it to a binary layer as ``layer.scale_dropout``.

    Parameters
    ----------
    p : float
        Dropout probability in [0, 1]: P(the scale is replaced).
    variant : {"unitary", "average", "random"}
        What a dropped scale becomes: 1, mean(alpha), or a uniform draw over alpha's range.
    granularity : {"layer", "element"}
        One Bernoulli draw for the whole vector (the paper) or one per channel.
    random_range : (low, high), optional
        For ``variant="random"``: draw the replacement from U[low, high] instead of from
        alpha's current range (0 <= low < high, both finite).
    generator : torch.Generator, optional
        Source of the random bits (default: torch's global generator).
    mask_source : callable, optional
        Replaces the ideal Bernoulli bits (see :data:`MaskSource`).

    Attributes
    ----------
    last_drop : torch.Tensor or None
        The drop bits of the latest sampling pass (bool, shape () or (C,)), for inspection.
    hold : bool
        While true, the first sampling call draws and later calls return the same scale
        without drawing, until :meth:`release`: one mask per Monte-Carlo pass when a pass
        runs the inputs in chunks (see :func:`~scaledrop_lib.layers.sampling.one_draw_per_pass`).
    """

    def __init__(
        self,
        p: float = 0.2,
        variant: str = "unitary",
        granularity: str = "layer",
        generator: torch.Generator | None = None,
        mask_source: MaskSource | None = None,
        random_range: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(p, generator)
        self.variant = check_choice("variant", variant, VARIANTS)
        self.random_range = check_random_range(random_range, self.variant)
        self.granularity = check_choice("granularity", granularity, GRANULARITIES)
        self.mask_source = mask_source or bernoulli_drop_mask
        self.last_drop: torch.Tensor | None = None
        self.hold = False
        # a tuple, not the tensor: the held scale may be alpha itself, an nn.Parameter,
        # which nn.Module would register as this module's parameter
        self._held: tuple[torch.Tensor] | None = None

    def release(self) -> None:
        """Forget the held scale: the next sampling call draws again."""
        self._held = None

    def replacement(self, alpha: torch.Tensor) -> torch.Tensor:
        """The value a dropped scale takes (same shape as ``alpha``), per ``variant``."""
        if self.variant == "unitary":
            return torch.ones_like(alpha)
        if self.variant == "average":
            return alpha.mean().expand_as(alpha)
        # random: one draw, uniform over the given range or alpha's current one (no gradient)
        if self.random_range is not None:
            lo, hi = (torch.tensor(v, dtype=alpha.dtype) for v in self.random_range)
        else:
            lo, hi = alpha.detach().min(), alpha.detach().max()
        u = torch.rand((), generator=self.generator)
        return (lo + (hi - lo) * u).to(alpha.dtype).expand_as(alpha)

    def forward(self, alpha: torch.Tensor) -> torch.Tensor:
        if alpha.dim() != 1:
            raise ValueError(f"alpha must be a 1-D scale vector, got shape {tuple(alpha.shape)}")
        if not self.sampling:
            self.last_drop = None
            return alpha
        if self.hold and self._held is not None:
            return self._held[0]
        shape = () if self.granularity == "layer" else tuple(alpha.shape)
        drop = self.mask_source(shape, self.p, self.generator).to(alpha.device)
        self.last_drop = drop
        scale = torch.where(drop, self.replacement(alpha), alpha) if drop.any() else alpha
        if self.hold:
            self._held = (scale,)
        return scale

    def extra_repr(self) -> str:
        extra = f", random_range={self.random_range}" if self.random_range is not None else ""
        return (
            f"{super().extra_repr()}, variant={self.variant}, granularity={self.granularity}"
            + extra
        )


def check_random_range(
    random_range: tuple[float, float] | None, variant: str
) -> tuple[float, float] | None:
    """Validate ``random_range`` (only meaningful for the random variant)."""
    if random_range is None:
        return None
    if variant != "random":
        raise ValueError(f"random_range applies to variant='random' only, not {variant!r}")
    try:
        low, high = (float(v) for v in random_range)
    except (TypeError, ValueError):
        raise ValueError(f"random_range must be a pair (low, high), got {random_range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and 0.0 <= low < high):
        raise ValueError(
            f"random_range must satisfy 0 <= low < high (finite), got {random_range!r}"
        )
    return low, high


class MCDropout(StochasticModule):
    """Standard (inverted) dropout that can stay on at inference: the MC-Dropout baseline.

    Zeroes each element with probability ``p`` and scales the rest by 1/(1-p)
    (Srivastava et al. 2014; Gal & Ghahramani 2016).
    """

    def _keep_mask(self, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        return (torch.rand(shape, generator=self.generator) >= self.p).to(device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.sampling:
            return x
        if self.p >= 1.0:
            return torch.zeros_like(x)
        keep = self._keep_mask(tuple(x.shape), x.device)
        return x * keep.to(x.dtype) / (1.0 - self.p)


class SpinDropout(MCDropout):
    """SpinDrop-style dropout for BNNs: each neuron (activation element) dropped to 0.

    Place it after the sign activation and feed a layer with ``input_quantizer=None``, so
    a dropped input stays 0 (no current on the crossbar line) instead of becoming
    sign(0) = +1. No 1/(1-p) rescaling: in a binary net the BatchNorm that follows absorbs
    any constant factor, and the hardware simply disconnects the line.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.sampling:
            return x
        keep = self._keep_mask(tuple(x.shape), x.device)
        return x * keep.to(x.dtype)


class SpatialSpinDropout(SpinDropout):
    """Spatial-SpinDrop-style dropout: whole feature maps (channels) dropped to 0.

    One bit per (sample, channel) for inputs of shape (N, C, H, W); for (N, C) inputs it is
    the same as :class:`SpinDropout`.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.sampling:
            return x
        shape = (x.shape[0], x.shape[1]) + (1,) * (x.dim() - 2)
        keep = self._keep_mask(shape, x.device)
        return x * keep.to(x.dtype)
