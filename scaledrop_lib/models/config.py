"""Options shared by every model constructor."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from scaledrop_lib._checks import check_choice, check_probability
from scaledrop_lib.scaledrop import GRANULARITIES, VARIANTS

#: ``"scale"``: Scale-Dropout on every binary layer (the paper); ``"spin"``: SpinDrop-style
#: per-neuron dropout and ``"spatial_spin"``: per-feature-map dropout on the inputs of binary
#: layers; ``"mc"``: standard dropout after each hidden layer of a ``precision="float"`` net (the
#: MC-Dropout baseline); ``"none"``: a deterministic network.
DROPOUTS = ("scale", "spin", "spatial_spin", "mc", "none")
PRECISIONS = ("binary", "float")


@dataclass(frozen=True)
class NetConfig:
    """How a network is built.

    Parameters
    ----------
    dropout : str
        One of :data:`DROPOUTS`.
    p : float
        Dropout probability (P(dropped)) for every dropout module.
    variant, granularity : str
        Scale-Dropout options (see :class:`scaledrop_lib.scaledrop.ScaleDropout`).
    placement : str
        Where the scale sits relative to BatchNorm (see
        :class:`scaledrop_lib.models.units.ScaledBinaryUnit`).
    precision : {"binary", "float"}
        ``"float"`` builds the same topology with real-valued layers and ReLU.
    binary_first_last : bool
        Binarise the first and last layers too (default: keep them full precision).
    """

    dropout: str = "scale"
    p: float = 0.2
    variant: str = "unitary"
    granularity: str = "layer"
    placement: str = "inside_bn"
    precision: str = "binary"
    binary_first_last: bool = False

    def __post_init__(self) -> None:
        from scaledrop_lib.models.units import PLACEMENTS

        check_choice("dropout", self.dropout, DROPOUTS)
        check_probability("p", self.p)
        check_choice("variant", self.variant, VARIANTS)
        check_choice("granularity", self.granularity, GRANULARITIES)
        check_choice("placement", self.placement, PLACEMENTS)
        check_choice("precision", self.precision, PRECISIONS)
        if self.precision == "float" and self.dropout in ("scale", "spin", "spatial_spin"):
            raise ValueError(
                f"dropout {self.dropout!r} needs precision='binary' (float nets have no scale "
                "vectors or binary inputs); use dropout='mc' for the MC-Dropout baseline"
            )
        if self.precision == "binary" and self.dropout == "mc":
            raise ValueError(
                "dropout 'mc' (standard dropout) is the full-precision baseline: use "
                "precision='float', or dropout='spin' for neuron dropout on a binary net"
            )

    def with_options(self, **changes: Any) -> NetConfig:
        """A copy with some options changed (validated again)."""
        return replace(self, **changes)
