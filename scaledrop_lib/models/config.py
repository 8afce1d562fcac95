"""Options shared by every model constructor."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from scaledrop_lib._checks import check_choice, check_probability
from scaledrop_lib.kinds import DropoutKind
from scaledrop_lib.layers.dropout import GRANULARITIES, VARIANTS, ScaleDropout
from scaledrop_lib.models.units import PLACEMENTS

PRECISIONS = ("binary", "float")


@dataclass(frozen=True)
class NetConfig:
    """How a network is built.

    Parameters
    ----------
    dropout : DropoutKind or str
        Which dropout the net carries (:class:`~scaledrop_lib.kinds.DropoutKind`; its value,
        e.g. ``"scale"``, is accepted too and converted).
    p : float
        Dropout probability (P(dropped)) for every dropout module.
    variant, granularity : str
        Scale-Dropout options (see :class:`scaledrop_lib.layers.dropout.ScaleDropout`).
    placement : str
        Where the scale sits relative to BatchNorm (see
        :class:`scaledrop_lib.models.units.ScaledBinaryUnit`).
    precision : {"binary", "float"}
        ``"float"`` builds the same topology with real-valued layers and ReLU.
    binary_first_last : bool
        Binarise the first and last layers too (default: keep them full precision).
    """

    dropout: DropoutKind = DropoutKind.SCALE
    p: float = 0.2
    variant: str = "unitary"
    granularity: str = "layer"
    placement: str = "inside_bn"
    precision: str = "binary"
    binary_first_last: bool = False

    def __post_init__(self) -> None:

        object.__setattr__(self, "dropout", DropoutKind.parse("dropout", self.dropout))
        check_probability("p", self.p)
        check_choice("variant", self.variant, VARIANTS)
        check_choice("granularity", self.granularity, GRANULARITIES)
        check_choice("placement", self.placement, PLACEMENTS)
        check_choice("precision", self.precision, PRECISIONS)
        if self.precision == "float" and self.dropout in ("scale", "spin", "spatial_spin"):
            raise ValueError(
                f"dropout {self.dropout.value!r} needs precision='binary' (float nets have no "
                "scale vectors or binary inputs); use dropout='mc' for the MC-Dropout baseline"
            )
        if self.precision == "binary" and self.dropout == "mc":
            raise ValueError(
                "dropout 'mc' (standard dropout) is the full-precision baseline: use "
                "precision='float', or dropout='spin' for neuron dropout on a binary net"
            )

    def scale_dropout(self) -> ScaleDropout | None:
        """A fresh Scale-Dropout module for one binary layer, or None if the net has none."""
        if self.dropout is not DropoutKind.SCALE:
            return None
        return ScaleDropout(self.p, self.variant, self.granularity)

    def to_dict(self) -> dict[str, Any]:
        """The options as plain Python values (for JSON and checkpoint metadata)."""
        return {
            name: str(value) if isinstance(value, DropoutKind) else value
            for name, value in asdict(self).items()
        }

    def with_options(self, **changes: Any) -> NetConfig:
        """A copy with some options changed (validated again)."""
        return replace(self, **changes)
