"""The prefix-shared MC engine returns exactly what the naive loop returns for the same masks."""

import re
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from scaledrop_lib.inference.mc import mc_predict
from scaledrop_lib.inference.prefix import expected_distinct_prefixes, prefix_shared_predict
from scaledrop_lib.layers.binary import BinaryConv2d, BinaryLinear
from scaledrop_lib.layers.sampling import sampling, seed_dropout
from scaledrop_lib.models import (
    NetConfig,
    ScaledBinaryUnit,
    digits_cnn,
    digits_mlp,
    lenet5,
    resnet20,
)
from scaledrop_lib.models.stages import PrefixObstacle, iter_stages, prefix_support


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial running statistics and shifts, and alpha a spread.

    With zero shifts and unit statistics a positive scale before a sign changes nothing, and
    an equality test would pass vacuously.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                if m.affine:
                    m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.5)
            if isinstance(m, ScaledBinaryUnit) and m.shift is not None:
                m.shift.copy_(torch.randn(m.shift.shape, generator=g) * 0.5)
            if isinstance(m, (BinaryConv2d, BinaryLinear)):
                m.alpha.copy_(torch.rand(m.alpha.shape, generator=g) * 2.5 + 0.2)
    return model.eval()


def naive_and_prefix(model, x, T, seed=0):
    seed_dropout(model, seed)
    naive = mc_predict(model, x, T, method="naive")
    seed_dropout(model, seed)
    with sampling(model), torch.inference_mode():
        fast, stats = prefix_shared_predict(model, x, T)
    return naive, fast, stats


CASES = [
    ("cnn unitary", lambda: digits_cnn(NetConfig(p=0.2)), (1, 8, 8)),
    ("cnn average", lambda: digits_cnn(NetConfig(p=0.5, variant="average")), (1, 8, 8)),
    ("cnn random", lambda: digits_cnn(NetConfig(p=0.3, variant="random")), (1, 8, 8)),
    ("cnn before_bn", lambda: digits_cnn(NetConfig(p=0.2, placement="before_bn")), (1, 8, 8)),
    ("mlp after_bn", lambda: digits_mlp(NetConfig(p=0.1, placement="after_bn")), (1, 8, 8)),
    ("lenet5", lambda: lenet5(NetConfig(p=0.2)), (1, 28, 28)),
]


@pytest.mark.parametrize(("name", "build", "shape"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("T", [1, 7, 20])
def test_prefix_engine_equals_naive_loop(name, build, shape, T):
    torch.manual_seed(0)
    model = randomise(build())
    x = torch.randn(16, *shape)
    naive, fast, stats = naive_and_prefix(model, x, T)
    assert fast.shape == naive.shape == (T, 16, 10)
    assert torch.equal(fast.argmax(-1), naive.argmax(-1))
    assert float((fast - naive).abs().max()) < 1e-5
    assert stats.distinct_prefixes[0] == 1  # the first stochastic layer's input is shared
    assert all(n <= T for n in stats.distinct_prefixes)


def test_masks_really_change_the_outputs():
    torch.manual_seed(0)
    model = randomise(digits_cnn(NetConfig(p=0.5)))
    x = torch.randn(32, 1, 8, 8)
    naive, fast, _ = naive_and_prefix(model, x, 20)
    distinct = {fast[t].numpy().tobytes() for t in range(20)}
    assert len(distinct) > 1  # the equality above is not vacuous
    assert float((naive - naive[0]).abs().max()) > 1e-3


def test_shared_work_is_counted_and_reused():
    torch.manual_seed(1)
    model = randomise(digits_cnn(NetConfig(p=0.1)))
    _, _, stats = naive_and_prefix(model, torch.randn(8, 1, 8, 8), 50)
    # two stochastic layers: layer 1 computed once, layer 2 once per distinct first mask
    assert stats.distinct_prefixes[0] == 1
    assert stats.distinct_prefixes[1] <= 2
    assert sum(stats.distinct_prefixes) < stats.naive_calls


def test_mc_predict_auto_uses_the_engine_and_matches():
    torch.manual_seed(2)
    model = randomise(digits_cnn(NetConfig(p=0.3)))
    x = torch.randn(10, 1, 8, 8)
    seed_dropout(model, 5)
    auto = mc_predict(model, x, 12)
    seed_dropout(model, 5)
    naive = mc_predict(model, x, 12, method="naive")
    assert float((auto - naive).abs().max()) < 1e-5
    assert not model.training


DIGIT = (1, 8, 8)


class Wrapped(nn.Module):
    """A model that is neither a Sequential nor a CifarResNet."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


OB = PrefixObstacle


@pytest.mark.parametrize(
    ("build", "shape", "obstacle"),
    [
        (lambda: digits_cnn(NetConfig(p=0.2, granularity="element")), DIGIT, OB.ELEMENT_MASKS),
        (lambda: digits_cnn(NetConfig(dropout="spin", p=0.2)), DIGIT, OB.OTHER_DROPOUT),
        (lambda: Wrapped(digits_cnn(NetConfig(p=0.2))), DIGIT, OB.NOT_SEQUENTIAL),
        (lambda: digits_cnn(NetConfig(dropout="none")), DIGIT, OB.NO_SCALE_DROPOUT),
        (lambda: nn.Sequential(*digits_cnn(), nn.GELU()), DIGIT, OB.UNKNOWN_MODULE),
    ],
)
def test_unsupported_models_are_named_and_fall_back_with_a_warning(build, shape, obstacle):
    model = build()
    support = prefix_support(model)
    assert not support and support.obstacle is obstacle
    assert obstacle.value in str(support)
    x = torch.randn(2, *shape)
    # the engine walks Sequentials and CifarResNets; for other models it names that
    engine = OB.NO_PROGRAM if obstacle is OB.NOT_SEQUENTIAL else obstacle
    with pytest.raises(ValueError, match=re.escape(engine.value)):
        prefix_shared_predict(model, x, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = mc_predict(model, x, 3, method="prefix")
    assert out.shape[0] == 3
    assert any("naive loop" in str(w.message) for w in caught)
    # on "auto", only a module the engine does not know deserves a warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mc_predict(model, x, 2)
    assert bool(caught) == (not obstacle.is_known_limitation)


def test_stages_name_binary_layers_and_masks():
    model = digits_cnn(NetConfig(p=0.2))
    stages = list(iter_stages(model))
    assert [s.index for s in stages] == list(range(len(model)))
    stochastic = [s for s in stages if s.stochastic]
    assert stochastic and all(s.binary_layer.scale_dropout is s.dropout for s in stochastic)
    assert prefix_support(model) and str(prefix_support(model)) == ""
    with pytest.raises(TypeError, match="nn.Sequential"):
        next(iter_stages(resnet20(NetConfig())))


def test_no_warning_for_models_without_scale_dropout_on_auto():
    model = digits_cnn(NetConfig(dropout="mc", p=0.2, precision="float"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mc_predict(model, torch.randn(3, 1, 8, 8), 2)


def test_expected_distinct_prefixes_against_simulation():
    p, T = [0.2, 0.2, 0.2], 20
    expected = expected_distinct_prefixes(p, T)
    assert expected[0] == 1.0
    # layer 2: E = (1 - 0.8^T) + (1 - 0.2^T)
    assert expected[1] == pytest.approx((1 - 0.8**T) + (1 - 0.2**T))
    rng = np.random.default_rng(0)
    sims = []
    for _ in range(4000):
        masks = rng.random((T, 3)) < 0.2
        sims.append(len({tuple(row[:2]) for row in masks}))
    assert np.mean(sims) == pytest.approx(expected[2], rel=0.02)


def test_mask_prefix_tree_counts():
    from scaledrop_lib.inference.prefix import mask_prefix_tree

    drops = [[0, 0, 1], [0, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]]
    tree = mask_prefix_tree(drops)
    assert tree.counts[0] == 5
    assert tree.nodes_at_depth(1) == 2  # k, d
    assert tree.nodes_at_depth(2) == 3  # k.k, k.d, d.k
    assert tree.nodes_at_depth(3) == 4  # k.k.k, k.k.d, k.d.k, d.k.k
    assert dict(zip(tree.ids, tree.counts, strict=True))["k.k.d"] == 2
    children = [c for c, par in zip(tree.counts, tree.parents, strict=True) if par == "k.k"]
    assert sum(children) == dict(zip(tree.ids, tree.counts, strict=True))["k.k"]
    with pytest.raises(ValueError, match="every pass"):
        mask_prefix_tree([[0, 1], [1]])


def test_auto_warns_only_for_unknown_modules():
    known = digits_cnn(NetConfig(p=0.2, granularity="element"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mc_predict(known, torch.randn(2, 1, 8, 8), 2)  # element-wise: the loop, silently
    unknown = nn.Sequential(*digits_cnn(), nn.GELU())
    with pytest.warns(UserWarning, match=r"module 11 \(GELU\): cannot prove"):
        mc_predict(unknown, torch.randn(2, 1, 8, 8), 2)


def test_bad_probabilities_and_impossible_T_are_refused():
    with pytest.raises(ValueError, match=r"p_values\[0\] must lie in"):
        expected_distinct_prefixes([1.5, 0.2], 20)  # used to return -3323
    model = digits_cnn(NetConfig(p=0.2)).eval()
    with pytest.raises(ValueError, match=r"the scales of T = 1,000,000,000 passes need"):
        with sampling(model):
            prefix_shared_predict(model, torch.rand(2, 1, 8, 8), 10**9)
