import math

import pytest
import torch
from torch import nn

from scaledrop_lib.hardware.cim import (
    EnergyCosts,
    LayerShape,
    dropout_module_count,
    energy_per_image,
    layer_shapes,
    map_layer,
    map_model,
    module_overhead,
    topology_module_count,
)
from scaledrop_lib.layers.binary import BinaryConv2d, BinaryLinear
from scaledrop_lib.models import NetConfig, digits_cnn, lenet5
from scaledrop_lib.paper import TABLE_VIII

TABLE_VII_LAYER = LayerShape("paper", "conv", 3, 256, 512, 1, True)


@pytest.mark.parametrize(
    ("design", "modules", "area", "power"),
    [
        ("spin", 2304, "79833.6", "51.84"),
        ("spatial_spin", 256, "8870.4", "5.76"),
        ("scale", 1, "34.65", "0.0225"),
    ],
)
def test_table_vii_layer_wise_to_printed_precision(design, modules, area, power):
    overhead = module_overhead(dropout_module_count(design, TABLE_VII_LAYER))
    assert overhead.modules == modules
    decimals = len(area.split(".")[1])
    assert f"{overhead.area_um2:.{decimals}f}" == area
    assert f"{overhead.power_mw:.{len(power.split('.')[1])}f}" == power
    assert str(overhead.area_um2) == area  # no float noise like 79833.59999999999
    assert overhead.latency_ns == 15.0


@pytest.mark.parametrize(
    ("design", "pooled", "modules", "area", "power"),
    [
        ("spin", True, 512, 17740.8, 11.52),
        ("spin", False, 4608, 159667.2, 103.68),
        ("spatial_spin", True, 512, 17740.8, 11.52),
        ("spatial_spin", False, 512, 17740.8, 11.52),
        ("scale", False, 1, 34.65, 0.0225),
    ],
)
def test_table_vii_topology_wise(design, pooled, modules, area, power):
    n = topology_module_count(design, TABLE_VII_LAYER, adaptive_avg_pool=pooled)
    overhead = module_overhead(n)
    assert (n, overhead.area_um2, overhead.power_mw) == (modules, area, power)


def test_strategy_counts_by_hand_with_a_shape_that_does_not_divide():
    layer = LayerShape("c", "conv", 3, 64, 300, 16, True)
    one = map_layer(layer, strategy=1, crossbar_size=256)
    # rows: 3*3*64 weights * 2 cells = 1152 -> 5 row tiles; 300 columns -> 2 column tiles
    assert (one.row_tiles, one.column_tiles, one.crossbars) == (5, 2, 10)
    assert one.utilisation == pytest.approx(1152 * 300 / (10 * 256 * 256))
    assert one.column_reads == 16 * 5 * 300
    assert one.crossbar_reads == 16 * 10
    assert one.partial_sum_adds == 16 * 300 * 4
    two = map_layer(layer, strategy=2, crossbar_size=256)
    # each of 9 kernel positions: 64 * 2 = 128 rows -> 1 tile; 2 column tiles
    assert (two.row_tiles, two.crossbars) == (9, 18)
    assert two.column_reads == 16 * 9 * 300


def test_linear_layer_same_under_both_strategies():
    layer = LayerShape("fc", "linear", 1, 400, 120, 1, True)
    a, b = map_layer(layer, 1, 256), map_layer(layer, 2, 256)
    assert a.crossbars == b.crossbars == math.ceil(800 / 256) * 1


def test_layer_shapes_walk_the_model_including_units():
    shapes = layer_shapes(lenet5(), (1, 28, 28))
    got = [(s.kind, s.kernel, s.in_channels, s.out_channels, s.out_positions) for s in shapes]
    assert got == [
        ("conv", 5, 1, 6, 28 * 28),
        ("conv", 5, 6, 16, 10 * 10),
        ("linear", 1, 400, 120, 1),
        ("linear", 1, 120, 84, 1),
        ("linear", 1, 84, 10, 1),
    ]
    assert all(s.binary for s in shapes)


def test_full_precision_layers_error_or_are_skipped():
    model = digits_cnn(NetConfig())
    with pytest.raises(ValueError, match="is not binary"):
        map_model(model, (1, 8, 8))
    mapping = map_model(model, (1, 8, 8), float_layers="skip")
    assert [s.kind for s in mapping.skipped] == ["conv", "linear"]
    assert len(mapping.layers) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"crossbar_size": 0}, "crossbar_size must be >= 1"),
        ({"crossbar_size": 1}, "must hold at least one weight"),
        ({"strategy": 3}, "unknown strategy"),
    ],
)
def test_bad_mapping_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        map_layer(TABLE_VII_LAYER, **kwargs)


def test_negative_energy_rejected():
    with pytest.raises(ValueError, match="rng must be a finite value >= 0"):
        EnergyCosts(rng=-1.0)


def test_energy_by_hand_for_one_linear_layer():
    model = nn.Sequential(BinaryLinear(100, 10))
    mapping = map_model(model, (100,))
    costs = EnergyCosts()
    e = energy_per_image(mapping, T=4, costs=costs, dropout="scale")
    reads = 1 * 10  # one input vector, one row tile (200 rows), 10 columns
    per_read = costs.memory_sense + costs.crossbar + costs.adder_accumulator
    expected = (
        4 * (reads * per_read + 10 * costs.comparator + 1 * costs.rng) + 4 * 10 * costs.averaging
    )
    assert e.total_pj == pytest.approx(expected)
    spin = energy_per_image(mapping, T=4, dropout="spin")
    assert spin.by_component["rng"] == pytest.approx(4 * 100 * costs.rng)
    assert energy_per_image(mapping, T=1, dropout="none").by_component["averaging"] == 0.0


def test_energy_scales_with_T_and_bits_and_read_unit():
    mapping = map_model(lenet5(), (1, 28, 28))
    e10, e20 = energy_per_image(mapping, 10), energy_per_image(mapping, 20)
    assert e20.total_pj == pytest.approx(2 * e10.total_pj)
    e8 = energy_per_image(mapping, 10, weight_bits=8, activation_bits=8)
    assert e8.by_component["crossbar"] == pytest.approx(64 * e10.by_component["crossbar"])
    low = energy_per_image(mapping, 10, read_unit="crossbar")
    assert low.total_pj < e10.total_pj
    # per-layer parts add up to the model total
    total = sum(sum(p.values()) for p in e10.by_layer.values()) + e10.averaging
    assert total == pytest.approx(e10.total_pj)


def test_table_viii_is_the_published_data():
    assert len(TABLE_VIII) == 8
    proposed = TABLE_VIII[-1]
    assert proposed.energy_uj_per_image == 0.18
    ratios = [d.energy_uj_per_image / proposed.energy_uj_per_image for d in TABLE_VIII[:-1]]
    assert min(ratios) == pytest.approx(0.68 / 0.18) and max(ratios) == pytest.approx(46.0 / 0.18)


def test_binary_conv_hook_survives_direct_use():
    model = nn.Sequential(BinaryConv2d(3, 8, 3, padding=1), nn.Flatten(), BinaryLinear(8 * 16, 4))
    shapes = layer_shapes(model, (3, 4, 4))
    assert [s.out_positions for s in shapes] == [16, 1]
    assert torch.is_grad_enabled()


def test_crossbar_tiles_account_for_every_weight_cell():
    from scaledrop_lib.hardware.cim import crossbar_tiles
    from scaledrop_lib.viz.figures import mapping_figure

    layer = LayerShape("c", "conv", 3, 64, 300, 16, True)
    for strategy in (1, 2):
        mapping = map_layer(layer, strategy, 256)
        tiles = crossbar_tiles(mapping)
        assert len(tiles) == mapping.crossbars
        used = sum(t["used_rows"] * t["used_columns"] for t in tiles)
        assert used == layer.weights * 2
        fig = mapping_figure(mapping)
        assert len(fig.data) == 2  # fixed, so a static slider can switch between mappings
        assert [list(tr.x).count(None) for tr in fig.data] == [mapping.crossbars] * 2


def test_rng_draws_per_input_vector_multiply_only_per_neuron_designs():
    mapping = map_model(lenet5(), (1, 28, 28))
    for design in ("spin", "spatial_spin"):
        per_pass = energy_per_image(mapping, 5, dropout=design).by_layer
        per_vector = energy_per_image(mapping, 5, dropout=design, rng_draws="per_input_vector")
        for m in mapping.layers:
            name = m.layer.name
            assert per_vector.by_layer[name]["rng"] == pytest.approx(
                per_pass[name]["rng"] * m.layer.out_positions
            )
    proposed = energy_per_image(mapping, 5, rng_draws="per_input_vector")
    assert proposed.by_component["rng"] == pytest.approx(5 * 5 * 3.80)  # 5 layers, 5 passes


def test_cim_speaks_the_dropout_kind_vocabulary():
    from scaledrop_lib.kinds import DropoutKind

    assert dropout_module_count(DropoutKind.SCALE, TABLE_VII_LAYER) == 1
    assert dropout_module_count("spin", TABLE_VII_LAYER) == dropout_module_count(
        DropoutKind.SPIN, TABLE_VII_LAYER
    )
    with pytest.raises(ValueError, match="unknown kind 'proposed'"):
        dropout_module_count("proposed", TABLE_VII_LAYER)
    with pytest.raises(ValueError, match="kind 'mc' has no CIM design here"):
        dropout_module_count("mc", TABLE_VII_LAYER)
    with pytest.raises(ValueError, match="kind 'none' has no CIM design"):
        topology_module_count("none", TABLE_VII_LAYER, adaptive_avg_pool=True)
