import pytest
import torch
from torch import nn

from scaledrop_lib.layers.binary import BinaryConv2d, BinaryLinear
from scaledrop_lib.layers.dropout import MCDropout, ScaleDropout, SpatialSpinDropout, SpinDropout
from scaledrop_lib.layers.sampling import apply_layerwise_p, sampling, scale_dropout_layers
from scaledrop_lib.models import (
    NetConfig,
    ScaledBinaryUnit,
    digits_cnn,
    digits_mlp,
    resnet18,
    resnet20,
    vgg_small,
)


def count(model, cls):
    return sum(isinstance(m, cls) for m in model.modules())


@pytest.mark.parametrize(
    ("builder", "shape", "binary_layers"),
    [
        (digits_mlp, (4, 1, 8, 8), 2),
        (digits_cnn, (4, 1, 8, 8), 2),
        (vgg_small, (2, 3, 32, 32), 5),
        (resnet20, (2, 3, 32, 32), 18),
    ],
)
def test_every_binary_layer_carries_scale_dropout_first_last_float(builder, shape, binary_layers):
    model = builder(NetConfig())
    assert model(torch.randn(shape)).shape == (shape[0], 10)
    binary = [m for m in model.modules() if isinstance(m, (BinaryConv2d, BinaryLinear))]
    assert len(binary) == binary_layers
    assert all(isinstance(m.scale_dropout, ScaleDropout) for m in binary)
    assert count(model, ScaleDropout) == binary_layers
    # first conv/linear and the classifier are full precision
    float_layers = [m for m in model.modules() if type(m) in (nn.Conv2d, nn.Linear)]
    assert isinstance(float_layers[-1], nn.Linear)


def test_resnet18_layout():
    model = resnet18(NetConfig(dropout="none"))
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    assert count(model, BinaryConv2d) == 16
    assert count(model, ScaleDropout) == 0


def test_binary_first_last_flag_binarises_everything():
    model = digits_mlp(NetConfig(binary_first_last=True))
    assert count(model, BinaryLinear) == 4
    assert count(model, nn.Linear) == 0


@pytest.mark.parametrize(
    ("config", "cls", "n"),
    [
        (NetConfig(dropout="spin"), SpinDropout, 3),
        (NetConfig(dropout="spatial_spin"), SpatialSpinDropout, 2),
        (NetConfig(dropout="mc", precision="float"), MCDropout, 3),
        (NetConfig(dropout="none"), ScaleDropout, 0),
    ],
)
def test_baseline_dropouts_are_placed(config, cls, n):
    model = digits_cnn(config)
    assert count(model, cls) == n
    model(torch.randn(3, 1, 8, 8))


def test_float_precision_has_no_binary_layers():
    model = digits_cnn(NetConfig(dropout="mc", precision="float"))
    assert count(model, BinaryConv2d) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dropout": "gaussian"}, "unknown dropout"),
        ({"placement": "after_act"}, "unknown placement"),
        ({"dropout": "scale", "precision": "float"}, "needs precision='binary'"),
        ({"dropout": "mc", "precision": "binary"}, "full-precision baseline"),
        ({"p": 2.0}, "p must lie"),
    ],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NetConfig(**kwargs)


def unit_with_stats(placement):
    """A unit whose BatchNorm has non-trivial running statistics and shifts."""
    torch.manual_seed(0)
    layer = BinaryConv2d(3, 4, 3, padding=1, bias=False)
    unit = ScaledBinaryUnit(layer, placement)
    with torch.no_grad():
        layer.alpha.copy_(torch.tensor([0.5, 2.0, 1.5, 0.8]))
        unit.norm.running_mean.copy_(torch.tensor([1.0, -2.0, 0.5, 0.0]))
        unit.norm.running_var.copy_(torch.tensor([4.0, 9.0, 1.0, 2.0]))
        if unit.shift is not None:
            unit.shift.copy_(torch.tensor([0.3, -0.4, 0.2, 0.1]))
        else:
            unit.norm.bias.copy_(torch.tensor([0.3, -0.4, 0.2, 0.1]))
    return unit


@pytest.mark.parametrize("placement", ["inside_bn", "before_bn", "after_bn"])
def test_unit_formulas(placement):
    unit = unit_with_stats(placement).eval()
    x = torch.randn(2, 3, 6, 6)
    z = unit.layer.binary_output(x)
    a = unit.layer.alpha.view(1, -1, 1, 1)
    mean, var = unit.norm.running_mean.view(1, -1, 1, 1), unit.norm.running_var.view(1, -1, 1, 1)
    eps = unit.norm.eps
    if placement == "inside_bn":
        expected = a * (z - mean) / torch.sqrt(var + eps) + unit.shift.view(1, -1, 1, 1)
    elif placement == "before_bn":
        expected = (a * z - mean) / torch.sqrt(var + eps) + unit.norm.bias.view(1, -1, 1, 1)
    else:
        expected = a * ((z - mean) / torch.sqrt(var + eps) + unit.norm.bias.view(1, -1, 1, 1))
    assert torch.allclose(unit(x), expected, atol=1e-5)


def test_train_mode_batchnorm_cancels_a_scale_before_it_but_not_inside():
    x = torch.randn(16, 3, 6, 6)
    before = unit_with_stats("before_bn").train()
    with_scale = before(x)
    before.layer.scale_enabled = False
    assert torch.allclose(with_scale, before(x), atol=1e-3)  # BN divided alpha out
    inside = unit_with_stats("inside_bn").train()
    with_scale = inside(x)
    inside.layer.scale_enabled = False
    assert not torch.allclose(with_scale, inside(x), atol=1e-1)


def test_layerwise_p_splits_at_the_median_layer():
    model = vgg_small()
    assignment = apply_layerwise_p(model, small_p=0.2, large_p=0.5)
    counts = {name: c for name, (c, _) in assignment.items()}
    assert sorted(counts.values()) == [
        128 * 128 * 9,
        128 * 256 * 9,
        256 * 256 * 9,
        256 * 512 * 9,
        512 * 512 * 9,
    ]
    for name, layer in scale_dropout_layers(model):
        expected = 0.5 if counts[name] > 256 * 256 * 9 else 0.2
        assert layer.scale_dropout.p == expected


def test_mc_samples_differ_only_with_dropout_on():
    torch.manual_seed(0)
    model = digits_cnn(NetConfig(p=0.5))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (BinaryConv2d, BinaryLinear)):
                m.alpha.uniform_(0.3, 3.0)
    x = torch.randn(8, 1, 8, 8)
    model.eval()
    assert torch.equal(model(x), model(x))
    with sampling(model):
        outs = [model(x) for _ in range(10)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:])
