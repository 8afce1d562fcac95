"""Computation-in-memory: crossbar mapping, energy per image, dropout-module overhead.

Everything here is arithmetic on layer shapes read from a torch model (Sec. V, Tables I, II,
VII, VIII); nothing is hard-coded per model.

Conventions (say them, since the paper leaves them open):

* A crossbar has ``crossbar_size`` x ``crossbar_size`` cells. Each binary weight uses a
  complementary pair of cells on two rows (Fig. 3: the input drives (0,1) or (1,0)), so one
  column holds ``crossbar_size // 2`` weights: ``rows_per_weight = 2``.
* Strategy 1 unrolls a K x K x Cin kernel into one column; strategy 2 maps each of the K x K
  kernel positions to its own Cin x Cout crossbar(s) (Sec. V-C).
* One **column read** is one analog-to-digital conversion of one crossbar column for one input
  vector; partial sums of row tiles are added digitally.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from scaledrop_lib._checks import (
    check_choice,
    check_inputs_fit,
    check_positive_int,
    shape_errors_name_inputs,
)
from scaledrop_lib.kinds import DropoutKind
from scaledrop_lib.layers.binary import BinaryConv2d, BinaryLinear
from scaledrop_lib.layers.sampling import sampling
from scaledrop_lib.models.stages import binary_layer_of

STRATEGIES = (1, 2)


#: The dropout kinds the CIM model prices: Scale-Dropout (the paper's proposed design), SpinDrop,
#: Spatial-SpinDrop, and none.
CIM_KINDS = (DropoutKind.SCALE, DropoutKind.SPIN, DropoutKind.SPATIAL_SPIN, DropoutKind.NONE)


#: Table VII: one spintronic dropout module (area um^2, power mW, sampling latency ns).
MODULE_AREA_UM2 = 34.65


MODULE_POWER_MW = 0.0225


MODULE_LATENCY_NS = 15.0  # 10 ns stochastic SET + 5 ns deterministic RESET


@dataclass(frozen=True)
class LayerShape:
    """What the mapping needs to know about one conv/linear layer."""

    name: str
    kind: str  # "conv" or "linear"
    kernel: int  # K (1 for linear)
    in_channels: int  # Cin (in_features for linear)
    out_channels: int  # Cout (out_features for linear)
    out_positions: int  # H_out * W_out (1 for linear): input vectors applied per pass
    binary: bool

    def __post_init__(self) -> None:
        # a negative or fractional size would give negative energies and -1 crossbars
        check_choice("kind", self.kind, ("conv", "linear"))
        for name in ("kernel", "in_channels", "out_channels", "out_positions"):
            check_positive_int(f"{self.name or 'layer'}.{name}", getattr(self, name))
        if not isinstance(self.binary, bool):
            raise TypeError(f"binary must be True or False, got {self.binary!r}")

    @property
    def weights(self) -> int:
        return self.kernel * self.kernel * self.in_channels * self.out_channels


def layer_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerShape]:
    """Every conv/linear layer of ``model`` with its output size, from one forward pass.

    ``input_shape`` is one input without the batch dimension, e.g. (1, 28, 28); it must fit
    the model (``ValueError`` naming it otherwise).
    """
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__iter__"):
        raise TypeError(f"input_shape must be a tuple of sizes, got {input_shape!r}")
    input_shape = tuple(input_shape)
    for size in input_shape:
        check_positive_int("input_shape entries", size)
    probe = torch.zeros(1, *input_shape, dtype=next(model.parameters()).dtype)
    try:
        check_inputs_fit(model, probe)
    except ValueError as error:
        raise ValueError(f"input_shape {input_shape} does not fit the model: {error}") from None

    mappable = (BinaryConv2d, BinaryLinear, nn.Conv2d, nn.Linear)
    shapes: list[LayerShape] = []
    hooks = []

    def record(name: str, module: nn.Module):
        # ``module`` is the conv/linear layer; the hook may sit on the unit that calls it
        def hook(_module, _inputs, output):
            binary = isinstance(module, (BinaryConv2d, BinaryLinear))
            if isinstance(module, (BinaryConv2d, nn.Conv2d)):
                k = module.kernel_size if binary else module.kernel_size[0]
                positions = int(output.shape[-1] * output.shape[-2])
                shape = LayerShape(
                    name, "conv", int(k), module.in_channels, module.out_channels, positions, binary
                )
            else:
                shape = LayerShape(
                    name, "linear", 1, module.in_features, module.out_features, 1, binary
                )
            shapes.append(shape)

        return hook

    inside_units = set()
    for name, module in model.named_modules():
        layer = binary_layer_of(module)
        if layer is not None and layer is not module:
            # a unit calls layer.binary_output, not layer.forward: hook the unit instead
            inside_units.add(id(layer))
            hooks.append(module.register_forward_hook(record(f"{name}.layer", layer)))
    for name, module in model.named_modules():
        if isinstance(module, mappable) and id(module) not in inside_units:
            hooks.append(module.register_forward_hook(record(name, module)))
    try:
        # eval mode without sampling; every module's own flags come back afterwards
        with sampling(model, mc=False), torch.no_grad(), shape_errors_name_inputs(probe):
            model(probe)
    finally:
        for h in hooks:
            h.remove()
    if not shapes:
        raise ValueError("model has no conv or linear layers to map")
    return shapes


@dataclass(frozen=True)
class LayerMapping:
    """How one layer lands on crossbars."""

    layer: LayerShape
    strategy: int
    crossbar_size: int
    row_tiles: int  # crossbars stacked along the rows (partial sums to add)
    column_tiles: int
    crossbars: int
    utilisation: float  # used cells / cells of the crossbars it occupies
    column_reads: int  # ADC conversions per forward pass
    crossbar_reads: int  # crossbar activations per forward pass (all columns at once)
    partial_sum_adds: int  # digital additions of partial sums per forward pass


def map_layer(
    layer: LayerShape, strategy: int = 1, crossbar_size: int = 256, rows_per_weight: int = 2
) -> LayerMapping:
    """Map one binary layer onto ``crossbar_size`` x ``crossbar_size`` crossbars.

    Raises ``ValueError`` for a layer that is not binary (its weights are not 1-bit cells).
    """
    check_choice("strategy", strategy, STRATEGIES)
    check_positive_int("crossbar_size", crossbar_size)
    check_positive_int("rows_per_weight", rows_per_weight)
    if crossbar_size < rows_per_weight:
        raise ValueError(
            f"crossbar_size ({crossbar_size}) must hold at least one weight "
            f"({rows_per_weight} rows)"
        )
    if not layer.binary:
        raise ValueError(
            f"layer {layer.name!r} is not binary: only BinaryConv2d/BinaryLinear map onto 1-bit "
            "crossbar cells (keep full-precision layers off the crossbar with float_layers='skip')"
        )
    column_tiles = math.ceil(layer.out_channels / crossbar_size)
    if strategy == 1 or layer.kind == "linear":
        rows = layer.kernel * layer.kernel * layer.in_channels * rows_per_weight
        row_tiles = math.ceil(rows / crossbar_size)
        groups = 1
    else:  # one Cin x Cout crossbar group per kernel position
        rows = layer.in_channels * rows_per_weight
        row_tiles = math.ceil(rows / crossbar_size)
        groups = layer.kernel * layer.kernel
    stacked = row_tiles * groups  # crossbars whose partial sums make one output
    crossbars = stacked * column_tiles
    used = layer.weights * rows_per_weight
    reads = layer.out_positions * stacked * layer.out_channels
    adds = layer.out_positions * layer.out_channels * (stacked - 1)
    return LayerMapping(
        layer=layer,
        strategy=strategy,
        crossbar_size=crossbar_size,
        row_tiles=stacked,
        column_tiles=column_tiles,
        crossbars=crossbars,
        utilisation=used / (crossbars * crossbar_size * crossbar_size),
        column_reads=reads,
        crossbar_reads=layer.out_positions * crossbars,
        partial_sum_adds=adds,
    )


@dataclass
class ModelMapping:
    """Mappings of every binary layer, and the layers left off the crossbars."""

    layers: list[LayerMapping]
    skipped: list[LayerShape] = field(default_factory=list)

    @property
    def crossbars(self) -> int:
        return sum(m.crossbars for m in self.layers)

    @property
    def column_reads(self) -> int:
        return sum(m.column_reads for m in self.layers)


def map_model(
    model: nn.Module,
    input_shape: tuple[int, ...],
    strategy: int = 1,
    crossbar_size: int = 256,
    rows_per_weight: int = 2,
    float_layers: str = "error",
) -> ModelMapping:
    """Map every conv/linear layer of ``model`` (walking its modules).

    ``float_layers="error"`` raises on a full-precision layer; ``"skip"`` leaves it to digital
    logic and lists it in ``ModelMapping.skipped``.
    """
    check_choice("float_layers", float_layers, ("error", "skip"))
    mapped, skipped = [], []
    for shape in layer_shapes(model, input_shape):
        if not shape.binary and float_layers == "skip":
            skipped.append(shape)
            continue
        mapped.append(map_layer(shape, strategy, crossbar_size, rows_per_weight))
    if not mapped:
        raise ValueError("model has no binary layers to map")
    return ModelMapping(mapped, skipped)


def _cim_kind(name: str, kind: DropoutKind | str, allowed=CIM_KINDS) -> DropoutKind:
    kind = DropoutKind.parse(name, kind)
    if kind not in allowed:
        choices = ", ".join(repr(k.value) for k in allowed)
        raise ValueError(f"{name} {kind.value!r} has no CIM design here; choose one of {choices}")
    return kind


def dropout_module_count(kind: DropoutKind | str, layer: LayerShape) -> int:
    """Dropout modules (RNGs) one layer needs for each dropout kind (Table VII).

    ``SPIN`` (SpinDrop): one per crossbar input row, K*K*Cin (layer-wise application);
    ``SPATIAL_SPIN`` (Spatial-SpinDrop): one per input feature map, Cin; ``SCALE`` (the paper's
    proposed Scale-Dropout): 1, and the same module can serve every layer; ``NONE``: 0. For the
    topology-wise application see :func:`topology_module_count`.
    """
    kind = _cim_kind("kind", kind)
    if kind is DropoutKind.SCALE:
        return 1
    if kind is DropoutKind.NONE:
        return 0
    if kind is DropoutKind.SPIN:
        return layer.kernel * layer.kernel * layer.in_channels
    return layer.in_channels


def topology_module_count(
    kind: DropoutKind | str, layer: LayerShape, adaptive_avg_pool: bool
) -> int:
    """Table VII, topology-wise application: modules per layer with / without adaptive pooling.

    SpinDrop: Cout with pooling, K*K*Cout without; Spatial-SpinDrop: Cout either way;
    Scale-Dropout (proposed): 1.
    """
    kind = _cim_kind("kind", kind, CIM_KINDS[:3])
    if kind is DropoutKind.SCALE:
        return 1
    if kind is DropoutKind.SPIN and not adaptive_avg_pool:
        return layer.kernel * layer.kernel * layer.out_channels
    return layer.out_channels


@dataclass(frozen=True)
class ModuleOverhead:
    modules: int
    area_um2: float
    power_mw: float
    latency_ns: float


def module_overhead(modules: int) -> ModuleOverhead:
    """Area and power of ``modules`` dropout modules (Table VII: 34.65 um^2, 0.0225 mW each).

    Modules sample in parallel, so the latency is one SET + RESET cycle whatever the count.
    Values are rounded to 6 decimals, which removes float noise such as 79833.59999999999.
    """
    check_positive_int("modules", modules, minimum=0)
    return ModuleOverhead(
        modules=modules,
        area_um2=round(modules * MODULE_AREA_UM2, 6),
        power_mw=round(modules * MODULE_POWER_MW, 6),
        latency_ns=MODULE_LATENCY_NS,
    )


@dataclass(frozen=True)
class EnergyCosts:
    """Energy per operation in pJ; defaults are the paper's Table II ("per reading operation").

    How each is counted here: ``memory_sense`` (decoding/sensing) and ``crossbar`` per column
    read; ``adder_accumulator`` per column read (accumulating its partial sum);
    ``comparator`` per output neuron (the sign); ``rng`` per random bit drawn;
    ``averaging`` per output class per MC pass (accumulating the mean).
    """

    memory_sense: float = 4.76
    crossbar: float = 0.65
    adder_accumulator: float = 0.12
    rng: float = 3.80
    comparator: float = 0.01
    averaging: float = 18.42

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"energy cost {name} must be a finite value >= 0 pJ, got {value}")


@dataclass
class EnergyBreakdown:
    """Energy per image in pJ: ``by_layer[layer name][component]`` plus model-level parts."""

    T: int
    by_layer: dict[str, dict[str, float]]
    averaging: float

    @property
    def by_component(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for parts in self.by_layer.values():
            for component, value in parts.items():
                totals[component] = totals.get(component, 0.0) + value
        totals["averaging"] = self.averaging
        return totals

    @property
    def total_pj(self) -> float:
        return sum(self.by_component.values())

    @property
    def total_uj(self) -> float:
        return self.total_pj * 1e-6


def energy_per_image(
    mapping: ModelMapping,
    T: int,
    costs: EnergyCosts | None = None,
    dropout: DropoutKind | str = DropoutKind.SCALE,
    num_classes: int | None = None,
    weight_bits: int = 1,
    activation_bits: int = 1,
    read_unit: str = "column",
    rng_draws: str = "per_pass",
) -> EnergyBreakdown:
    """Energy of ``T`` Monte-Carlo passes of one image, by layer and component.

    Parameters
    ----------
    mapping : ModelMapping
        From :func:`map_model`.
    T : int
        Monte-Carlo passes (1 = deterministic).
    costs : EnergyCosts
        Per-operation energies (default Table II).
    dropout : DropoutKind or {"scale", "spin", "spatial_spin", "none"}
        Which dropout's RNG design draws the masks: bits per layer per pass = its module count
        (:func:`dropout_module_count`; one draw per module per pass, a lower bound for the
        per-neuron designs).
    num_classes : int, optional
        Outputs averaged per pass (default: the last layer's outputs).
    weight_bits, activation_bits : int
        Bit-sliced weights and bit-serial inputs multiply the reads (for comparing with
        multi-bit designs; the paper's network is 1/1).
    read_unit : {"column", "crossbar"}
        What one "reading operation" of Table II is: one column conversion (default, an upper
        estimate) or one activation of a whole crossbar (all its columns at once, a lower
        estimate). The paper does not say; the two bracket its LeNet-5 figure.
    rng_draws : {"per_pass", "per_input_vector"}
        Whether each dropout module draws one bit per pass, or a fresh bit for every input
        vector (output position) of its layer, as independent per-neuron masks of a
        convolution would need. The proposed design draws one bit per layer per pass either
        way: the whole scale vector is dropped together.
    """
    T = check_positive_int("T", T)
    check_positive_int("weight_bits", weight_bits)
    check_positive_int("activation_bits", activation_bits)
    dropout = _cim_kind("dropout", dropout)
    check_choice("read_unit", read_unit, ("column", "crossbar"))
    check_choice("rng_draws", rng_draws, ("per_pass", "per_input_vector"))
    costs = costs or EnergyCosts()
    slices = weight_bits * activation_bits
    by_layer: dict[str, dict[str, float]] = {}
    for m in mapping.layers:
        reads = (m.column_reads if read_unit == "column" else m.crossbar_reads) * slices
        neurons = m.layer.out_positions * m.layer.out_channels
        bits = dropout_module_count(dropout, m.layer)
        if rng_draws == "per_input_vector" and dropout is not DropoutKind.SCALE:
            bits *= m.layer.out_positions
        by_layer[m.layer.name] = {
            "memory_sense": T * reads * costs.memory_sense,
            "crossbar": T * reads * costs.crossbar,
            "adder_accumulator": T * reads * costs.adder_accumulator,
            "comparator": T * neurons * costs.comparator,
            "rng": T * bits * costs.rng,
        }
    classes = num_classes if num_classes is not None else mapping.layers[-1].layer.out_channels
    averaging = T * classes * costs.averaging if T > 1 else 0.0
    return EnergyBreakdown(T=T, by_layer=by_layer, averaging=averaging)


def crossbar_tiles(mapping: LayerMapping, rows_per_weight: int = 2) -> list[dict[str, int]]:
    """Every crossbar of a layer mapping with the rows and columns it actually uses.

    Each entry: ``group`` (kernel position for strategy 2, else 0), ``row_tile``,
    ``column_tile``, ``used_rows``, ``used_columns``.
    """
    layer, size = mapping.layer, mapping.crossbar_size
    if mapping.strategy == 1 or layer.kind == "linear":
        groups, rows = 1, layer.kernel * layer.kernel * layer.in_channels * rows_per_weight
    else:
        groups, rows = layer.kernel * layer.kernel, layer.in_channels * rows_per_weight
    row_tiles = mapping.row_tiles // groups
    tiles = []
    for g in range(groups):
        for r in range(row_tiles):
            for c in range(mapping.column_tiles):
                tiles.append(
                    {
                        "group": g,
                        "row_tile": r,
                        "column_tile": c,
                        "used_rows": min(size, rows - r * size),
                        "used_columns": min(size, layer.out_channels - c * size),
                    }
                )
    return tiles
