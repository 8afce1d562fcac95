"""The library's two vocabularies: which dropout a network carries, and which method a result
belongs to.

:class:`DropoutKind` is what a model is built with (layers, model configs, the CIM cost model,
the segmentation nets). :class:`Method` is how the book names a way of predicting, in tables and
figure legends (one colour per method in every chapter). :func:`method_of` maps one to the
other. Both are ``str`` enums: a member equals its value, so ``NetConfig(dropout="scale")`` and
``DropoutKind.SCALE`` are the same option, and a member prints as its value.
"""

from __future__ import annotations

from enum import Enum


class _NamedValue(str, Enum):
    """A str enum whose members print and format as their value (as 3.11's StrEnum does)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def parse(cls, name: str, value: object) -> _NamedValue:
        """``value`` as a member, or a ValueError naming the argument ``name`` and the choices."""
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(repr(member.value) for member in cls)
            raise ValueError(f"unknown {name} {value!r}; choose one of {choices}") from None


class DropoutKind(_NamedValue):
    """Which dropout a network carries (Sec. III; the baselines of Sec. VI).

    ``SCALE``: Scale-Dropout on every binary layer's scale vector (the paper). ``SPIN``:
    SpinDrop-style per-neuron dropout and ``SPATIAL_SPIN``: per-feature-map dropout, both on the
    inputs of binary layers. ``MC``: standard dropout after each hidden layer of a full-precision
    net (the MC-Dropout baseline). ``NONE``: a deterministic network.
    """

    SCALE = "scale"
    SPIN = "spin"
    SPATIAL_SPIN = "spatial_spin"
    MC = "mc"
    NONE = "none"


class Method(_NamedValue):
    """A way of predicting, as tables and figure legends name it (one colour each)."""

    DETERMINISTIC = "deterministic"
    MC_SCALE_DROPOUT = "MC-Scale-Dropout"
    MC_DROPOUT = "MC-Dropout"
    ENSEMBLE = "ensemble"
    SPINDROP = "SpinDrop"
    SPATIAL_SPINDROP = "Spatial-SpinDrop"
    FLOAT = "float"
    BINARY = "binary"


#: The method a network of each dropout kind is, when it is sampled (Monte-Carlo inference).
METHOD_OF_KIND: dict[DropoutKind, Method] = {
    DropoutKind.SCALE: Method.MC_SCALE_DROPOUT,
    DropoutKind.SPIN: Method.SPINDROP,
    DropoutKind.SPATIAL_SPIN: Method.SPATIAL_SPINDROP,
    DropoutKind.MC: Method.MC_DROPOUT,
    DropoutKind.NONE: Method.DETERMINISTIC,
}


def method_of(kind: DropoutKind | str) -> Method:
    """The :class:`Method` a sampled network of dropout ``kind`` is named by in the book."""
    return METHOD_OF_KIND[DropoutKind.parse("kind", kind)]
