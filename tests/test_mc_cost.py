"""The prefix engine's analytic cost model, checked against torch's FLOP counter, closed forms,
a simulation of mask draws and the work the engine really does."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from scaledrop_lib.inference.cost import (
    StageCost,
    expected_cost_ratio,
    expected_runs,
    realized_cost_ratio,
    stage_costs,
)
from scaledrop_lib.inference.prefix import prefix_shared_predict
from scaledrop_lib.layers.binary import BinaryConv2d, BinaryLinear
from scaledrop_lib.layers.dropout import ScaleDropout
from scaledrop_lib.layers.sampling import sampling, seed_dropout
from scaledrop_lib.models import NetConfig, ScaledBinaryUnit, digits_cnn, lenet5, vgg_small

MODELS = [
    ("digits_cnn", lambda: digits_cnn(NetConfig(p=0.2)), (3, 1, 8, 8)),
    ("lenet5", lambda: lenet5(NetConfig(p=0.2)), (2, 1, 28, 28)),
    ("vgg_small", lambda: vgg_small(NetConfig(p=0.2)), (1, 3, 32, 32)),
]


@pytest.mark.parametrize(("name", "build", "shape"), MODELS, ids=[m[0] for m in MODELS])
def test_matmul_flops_equal_torch_flop_counter(name, build, shape):
    model = build().eval()
    x = torch.rand(shape)
    costs = stage_costs(model, x)
    assert len(costs) == len(model)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    assert sum(c.matmul_flops for c in costs) == counter.get_total_flops()
    # and module by module
    for module, cost in zip(model, costs, strict=True):
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            out = module(x)
        assert cost.matmul_flops == counter.get_total_flops(), type(module).__name__
        x = out


def small_model() -> nn.Sequential:
    conv = BinaryConv2d(4, 6, kernel_size=3, padding=1, scale_dropout=ScaleDropout(p=0.3))
    linear = BinaryLinear(6 * 3 * 3, 5, scale_dropout=ScaleDropout(p=0.3))
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, bias=True),  # 8x8 -> 6x6
        nn.BatchNorm2d(4),
        nn.Hardtanh(),
        ScaledBinaryUnit(conv, placement="after_bn"),  # affine BN, no separate shift
        nn.MaxPool2d(2),  # 6x6 -> 3x3
        nn.Flatten(),
        ScaledBinaryUnit(linear),  # inside_bn: non-affine BN and a shift
        nn.ReLU(),
    ).eval()


def test_elementwise_conventions_by_hand():
    n = 2
    costs = stage_costs(small_model(), torch.rand(n, 1, 8, 8))
    a = n * 4 * 6 * 6  # elements after the first conv
    b = n * 6 * 6 * 6  # after the binary conv
    c = n * 5  # after the binary linear
    expected = [
        ("Conv2d", False, 2 * a * 1 * 9 + a, 0),  # MACs x 2 + bias
        ("BatchNorm2d", False, 2 * a, 0),
        ("Hardtanh", False, a, 0),
        # sign of the input + MACs x 2 + bias | affine BN (2) + scale (1), no separate shift
        ("ScaledBinaryUnit", True, a + 2 * b * 4 * 9 + b, 3 * b),
        ("MaxPool2d", False, b, 0),
        ("Flatten", False, 0, 0),
        # sign + MACs x 2 + bias | BN (2) + scale (1) + shift (1)
        ("ScaledBinaryUnit", True, n * 54 + 2 * c * 54 + c, 4 * c),
        ("ReLU", False, c, 0),
    ]
    got = [(s.name, s.stochastic, s.shared_flops, s.branch_flops) for s in costs]
    assert got == expected


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_certain_masks_cost_one_pass(p):
    costs = stage_costs(digits_cnn(NetConfig(p=0.2)).eval(), torch.rand(2, 1, 8, 8))
    assert expected_cost_ratio(costs, p, 20) == pytest.approx(1.0)
    assert expected_cost_ratio(costs, 0.3, 1) == pytest.approx(1.0)


def test_cost_is_symmetric_in_p_and_largest_at_one_half():
    """Complementing every mask maps the tree of p onto the tree of 1 - p."""
    costs = stage_costs(lenet5(NetConfig(p=0.2)).eval(), torch.rand(1, 1, 28, 28))
    for p in (0.05, 0.2, 0.35):
        assert expected_cost_ratio(costs, p, 20) == pytest.approx(
            expected_cost_ratio(costs, 1 - p, 20)
        )
    grid = np.linspace(0, 1, 21)
    ratios = [expected_cost_ratio(costs, p, 20) for p in grid]
    assert grid[int(np.argmax(ratios))] == pytest.approx(0.5)


def test_one_stochastic_layer_closed_form():
    """One stochastic stage in the middle: before it 1 run, after it 2 - p^T - (1-p)^T."""
    stages = [
        StageCost("a", False, 10.0, 0.0, 0.0),
        StageCost("unit", True, 30.0, 5.0, 30.0),
        StageCost("b", False, 20.0, 0.0, 0.0),
    ]
    p, T = 0.2, 7
    two = 2 - p**T - (1 - p) ** T
    assert expected_cost_ratio(stages, p, T) == pytest.approx((10 + 30 + 5 * two + 20 * two) / 65)
    runs = [r for pair in expected_runs(stages, p, T) for r in pair]
    assert runs == pytest.approx([1, 1, 1, two, two, two])
    # measured weights instead of FLOPs: the unit's weight is split 30:5
    ratio = expected_cost_ratio(stages, p, T, weights=[1.0, 7.0, 2.0])
    assert ratio == pytest.approx((1 + 6 + 1 * two + 2 * two) / 10)


def test_expectation_matches_simulated_mask_draws():
    """Count the distinct prefixes of seeded mask draws directly (per-layer p)."""
    costs = stage_costs(lenet5(NetConfig(p=0.2)).eval(), torch.rand(2, 1, 28, 28))
    layers = sum(c.stochastic for c in costs)
    p, T = np.array([0.1, 0.3, 0.2, 0.5, 0.15]), 20
    assert layers == len(p)
    rng = np.random.default_rng(0)
    ratios = []
    for _ in range(3000):
        drops = rng.random((T, layers)) < p
        total, seen = 0.0, 0
        for cost in costs:
            before = len({tuple(row[:seen]) for row in drops})
            seen += cost.stochastic
            after = len({tuple(row[:seen]) for row in drops})
            total += cost.shared_flops * before + cost.branch_flops * after
        ratios.append(total / sum(c.flops for c in costs))
    assert np.mean(ratios) == pytest.approx(expected_cost_ratio(costs, list(p), T), rel=0.01)


def test_expectation_matches_the_work_the_engine_does():
    """Count every module call of the prefix engine with hooks, over seeded draws."""
    model = digits_cnn(NetConfig(p=0.3)).eval()
    with torch.no_grad():  # a dropped unitary scale is 1: alpha must differ from it
        for module in model.modules():
            if isinstance(module, BinaryConv2d):
                module.alpha.uniform_(0.5, 2.0, generator=torch.Generator().manual_seed(0))
    x = torch.rand(2, 1, 8, 8)
    costs = stage_costs(model, x)
    calls = [0] * len(model)
    branch_calls = [0] * len(model)

    def counting(fn, counter, i):
        def wrapper(*args, **kwargs):
            counter[i] += 1
            return fn(*args, **kwargs)

        return wrapper

    hooks = []
    for i, module in enumerate(model):
        if isinstance(module, ScaledBinaryUnit):  # the engine calls these two directly
            module.layer.binary_output = counting(module.layer.binary_output, calls, i)
            module.from_binary_output = counting(module.from_binary_output, branch_calls, i)
        else:
            hooks.append(module.register_forward_hook(counting(lambda *_: None, calls, i)))
    draws, T = 300, 20
    flops = sum(c.flops for c in costs)
    per_draw = []
    with sampling(model), torch.inference_mode():
        for seed in range(draws):
            calls[:] = [0] * len(model)
            branch_calls[:] = [0] * len(model)
            seed_dropout(model, seed)
            _, stats = prefix_shared_predict(model, x, T)
            done = sum(
                c.shared_flops * n + c.branch_flops * (b if c.stochastic else 0)
                for c, n, b in zip(costs, calls, branch_calls, strict=True)
            )
            # the cost of the masks this run drew, from the engine's own tree widths
            assert done / flops == pytest.approx(realized_cost_ratio(costs, stats.prefix_counts))
            per_draw.append(done / flops)
    for h in hooks:
        h.remove()
    assert np.mean(per_draw) == pytest.approx(expected_cost_ratio(costs, 0.3, T), rel=0.03)
    assert np.mean(per_draw) > 1.2  # the draws did branch


def test_counting_leaves_the_model_as_it_was():
    model = digits_cnn(NetConfig(p=0.3)).train()
    seed_dropout(model, 5)
    generators = [m.generator for m in model.modules() if isinstance(m, ScaleDropout)]
    states = [g.get_state() for g in generators]
    norms = [m.running_mean.clone() for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    stage_costs(model, torch.rand(4, 1, 8, 8))
    assert model.training
    for g, state in zip(generators, states, strict=True):
        assert torch.equal(g.get_state(), state)
    after = [m.running_mean for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for a, b in zip(norms, after, strict=True):
        assert torch.equal(a, b)


def test_invalid_inputs_are_named():
    costs = stage_costs(digits_cnn(NetConfig(p=0.2)).eval(), torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="p must lie"):
        expected_cost_ratio(costs, 1.5, 20)
    with pytest.raises(ValueError, match="one per stochastic layer"):
        expected_cost_ratio(costs, [0.1, 0.2, 0.3], 20)
    with pytest.raises(ValueError, match=r"p\[1\]"):
        expected_cost_ratio(costs, [0.1, -0.2], 20)
    with pytest.raises(ValueError, match="T must be"):
        expected_cost_ratio(costs, 0.2, 0)
    with pytest.raises(ValueError, match="one entry per stage"):
        expected_cost_ratio(costs, 0.2, 20, weights=[1.0])
    with pytest.raises(ValueError, match="weights must be finite"):
        expected_cost_ratio(costs, 0.2, 20, weights=[-1.0] * len(costs))
    with pytest.raises(ValueError, match="stages must not be empty"):
        expected_cost_ratio([], 0.2, 20)
    with pytest.raises(ValueError, match="prefix_counts must have one entry"):
        realized_cost_ratio(costs, [1, 2])
    with pytest.raises(ValueError, match="prefix_counts must be positive"):
        realized_cost_ratio(costs, [1, 0, 2])
    with pytest.raises(TypeError, match="inputs must be"):
        stage_costs(digits_cnn(NetConfig(p=0.2)), np.zeros((2, 1, 8, 8)))


def test_unsupported_models_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="element-wise"):
        stage_costs(
            digits_cnn(NetConfig(p=0.2, granularity="element")).eval(), torch.rand(2, 1, 8, 8)
        )
    with pytest.raises(ValueError, match="'random'"):
        stage_costs(digits_cnn(NetConfig(p=0.2, variant="random")).eval(), torch.rand(2, 1, 8, 8))
