import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scaledrop_lib.layers.binary import (
    BinaryConv2d,
    BinaryLinear,
    binarize_ste,
    channel_entropies,
    irnet_binarize,
    make_activation,
    pack_pm1,
    sign_pm1,
    standardize_weights,
    weight_entropy,
    xnor_conv2d,
    xnor_popcount_dot,
    xnor_popcount_matmul,
)


def test_sign_maps_zero_to_plus_one():
    x = torch.tensor([-2.0, -0.0, 0.0, 1e-9, 3.0])
    assert sign_pm1(x).tolist() == [-1.0, 1.0, 1.0, 1.0, 1.0]


def test_ste_gradient_is_clipped_identity():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5], requires_grad=True)
    binarize_ste(x).backward(torch.arange(7.0))
    expected = torch.arange(7.0) * torch.tensor([0, 1, 1, 1, 1, 1, 0.0])
    assert torch.equal(x.grad, expected)


@pytest.mark.parametrize(("axes", "group_dims"), [("out_channel", (1, 2, 3)), ("kernel", (2, 3))])
def test_standardised_weights_have_zero_mean_unit_std_per_group(axes, group_dims):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64) * 3 + 1.5
    out = standardize_weights(w, axes, eps=0.0).numpy()
    np.testing.assert_allclose(out.mean(axis=group_dims), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=group_dims), 1, atol=1e-12)  # population std


def test_kernel_and_out_channel_groups_differ():
    w = torch.zeros(1, 2, 2, 2, dtype=torch.float64)
    w[0, 0] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    w[0, 1] = torch.tensor([[10.0, 20.0], [30.0, 40.0]])
    # per kernel, both input channels standardise to the same pattern; per output channel not
    per_kernel = standardize_weights(w, "kernel")
    assert torch.allclose(per_kernel[0, 0], per_kernel[0, 1], atol=1e-4)
    per_out = standardize_weights(w, "out_channel")
    assert bool((per_out[0, 0] < 0).all())  # all of channel 0 lies below the joint mean
    assert not torch.equal(sign_pm1(per_kernel), sign_pm1(per_out))


def test_linear_weights_standardise_per_row():
    w = torch.randn(5, 7, dtype=torch.float64) + torch.arange(5.0, dtype=torch.float64)[:, None]
    out = standardize_weights(w, eps=0.0)
    assert torch.allclose(out.mean(1), torch.zeros(5, dtype=torch.float64), atol=1e-12)


def test_irnet_gradient_reaches_latent_weights():
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    irnet_binarize(w).mul(torch.randn(4, 3, 3, 3)).sum().backward()
    assert w.grad is not None and float(w.grad.abs().sum()) > 0


def test_weight_entropy_closed_forms():
    assert weight_entropy(torch.tensor([1.0, -1.0, 1.0, -1.0])) == pytest.approx(1.0)
    assert weight_entropy(torch.ones(8)) == 0.0
    assert weight_entropy(torch.tensor([1.0, 1.0, 1.0, -1.0])) == pytest.approx(0.8112781)
    per_channel = channel_entropies(torch.tensor([[1.0, -1.0], [1.0, 1.0]]))
    assert per_channel == [pytest.approx(1.0), 0.0]


def test_binary_conv_matches_independent_computation():
    torch.manual_seed(0)
    layer = BinaryConv2d(3, 4, 3, padding=1, bias=True)
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.5, -1.0, 0.0, 2.0]))
        layer.alpha.copy_(torch.tensor([0.5, 1.0, 1.5, 2.0]))
    x = torch.randn(2, 3, 5, 5)
    w = layer.weight.detach().double()
    mean = w.mean(dim=(1, 2, 3), keepdim=True)
    std = ((w - mean) ** 2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
    wb = torch.where((w - mean) / std >= 0, 1.0, -1.0).float()
    xb = torch.where(x >= 0, 1.0, -1.0)
    expected = (F.conv2d(xb, wb, padding=1) + layer.bias.view(1, 4, 1, 1)) * layer.alpha.view(
        1, 4, 1, 1
    )
    assert torch.allclose(layer(x), expected)
    assert set(layer.binary_weight().unique().tolist()) == {-1.0, 1.0}


def test_binary_linear_matches_independent_computation_and_scale_hooks():
    torch.manual_seed(1)
    layer = BinaryLinear(6, 3, bias=False)
    with torch.no_grad():
        layer.alpha.copy_(torch.tensor([2.0, 3.0, 4.0]))
    x = torch.randn(4, 6)
    w = layer.weight.detach()
    wb = torch.where(w - w.mean(1, keepdim=True) >= 0, 1.0, -1.0)
    pre = torch.where(x >= 0, 1.0, -1.0) @ wb.T
    assert torch.allclose(layer(x), pre * layer.alpha)
    layer.scale_dropout = lambda a: torch.ones_like(a)  # a dropped (unitary) scale
    assert torch.allclose(layer(x), pre)
    layer.scale_dropout = None
    layer.scale_enabled = False
    assert torch.allclose(layer(x), pre)


def test_gradients_reach_alpha_and_weights():
    layer = BinaryConv2d(2, 3, 3)
    layer(torch.randn(2, 2, 4, 4)).pow(2).sum().backward()
    assert float(layer.alpha.grad.abs().sum()) > 0
    assert float(layer.weight.grad.abs().sum()) > 0


@pytest.mark.parametrize("n", [1, 7, 8, 63, 64, 65, 1000])
def test_xnor_popcount_equals_the_pm1_dot_product(n):
    g = torch.Generator().manual_seed(n)
    a = sign_pm1(torch.randn(10, n, generator=g))
    b = sign_pm1(torch.randn(10, n, generator=g))
    dots = xnor_popcount_dot(pack_pm1(a), pack_pm1(b), n)
    np.testing.assert_array_equal(dots, (a * b).sum(1).long().numpy())


def test_xnor_popcount_matmul_equals_matmul():
    g = torch.Generator().manual_seed(3)
    a, b = sign_pm1(torch.randn(7, 100, generator=g)), sign_pm1(torch.randn(100, 5, generator=g))
    assert torch.equal(xnor_popcount_matmul(a, b), (a @ b).long())


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: pack_pm1(torch.tensor([1.0, 0.0])), "only \\+1 and -1"),
        (
            lambda: xnor_popcount_dot(pack_pm1(torch.ones(3)), pack_pm1(torch.ones(3)), 100),
            "n = 100",
        ),
        (lambda: BinaryConv2d(1, 1, 0), "kernel_size must be >= 1"),
        (lambda: BinaryLinear(2, 2, weight_axes="row"), "unknown weight_axes 'row'"),
        (lambda: make_activation("relu6"), "unknown activation 'relu6'"),
        (lambda: BinaryLinear(3, 2)(torch.randn(2, 4)), r"x must have shape \(N, 3\)"),
        (lambda: xnor_popcount_matmul(torch.ones(2, 3), torch.ones(4, 2)), "inner dimensions"),
    ],
)
def test_bad_input_raises_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("stride", [1, 2])
def test_xnor_conv2d_equals_the_float_convolution(stride):
    g = torch.Generator().manual_seed(4)
    x = sign_pm1(torch.randn(2, 3, 7, 6, generator=g))
    w = sign_pm1(torch.randn(5, 3, 3, 3, generator=g))
    assert torch.equal(xnor_conv2d(x, w, stride), F.conv2d(x, w, stride=stride).long())


def test_ste_gradient_on_random_input_with_exact_unit_values():
    g = torch.Generator().manual_seed(5)
    x = torch.cat([torch.randn(500, generator=g) * 1.5, torch.tensor([1.0, -1.0, 0.0])])
    x.requires_grad_()
    upstream = torch.randn(x.shape, generator=g)
    binarize_ste(x).backward(upstream)
    inside = (x.detach().abs() <= 1).float()
    assert torch.equal(x.grad, upstream * inside)
    assert 0 < float(inside.mean()) < 1  # both branches of the clip are exercised


@pytest.mark.parametrize(("axes", "groups"), [("out_channel", 5), ("kernel", 5 * 4)])
def test_standardised_stats_by_numpy_reshape(axes, groups):
    g = torch.Generator().manual_seed(6)
    w = torch.randn(5, 4, 3, 3, generator=g, dtype=torch.float64) * 2 + 0.7
    out = standardize_weights(w, axes, eps=0.0).numpy().reshape(groups, -1)
    np.testing.assert_allclose(out.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=1), 1, atol=1e-12)


@pytest.mark.parametrize("axes", ["out_channel", "kernel"])
def test_linear_weights_have_unit_std_per_row_for_both_axes(axes):
    g = torch.Generator().manual_seed(7)
    w = torch.randn(6, 9, generator=g, dtype=torch.float64) * 3 + 2
    out = standardize_weights(w, axes, eps=0.0).numpy()
    np.testing.assert_allclose(out.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=1), 1, atol=1e-12)


def test_binary_conv_with_kernel_axes_matches_independent_computation():
    torch.manual_seed(3)
    layer = BinaryConv2d(4, 5, 3, stride=2, padding=1, weight_axes="kernel")
    with torch.no_grad():
        layer.bias.copy_(torch.linspace(-2, 2, 5))
        layer.alpha.copy_(torch.linspace(0.2, 2, 5))
    x = torch.randn(2, 4, 7, 7)
    w = layer.weight.detach().double().numpy().reshape(5 * 4, -1)
    z = (w - w.mean(1, keepdims=True)) / np.sqrt(w.var(1, keepdims=True) + 1e-5)
    wb = torch.from_numpy(np.where(z >= 0, 1.0, -1.0).reshape(5, 4, 3, 3)).float()
    pre = F.conv2d(torch.where(x >= 0, 1.0, -1.0), wb, stride=2, padding=1)
    expected = (pre + layer.bias.view(1, -1, 1, 1)) * layer.alpha.view(1, -1, 1, 1)
    assert torch.allclose(layer(x), expected, atol=1e-5)


def test_scale_dropout_module_replaces_alpha_per_channel():
    torch.manual_seed(8)
    layer = BinaryConv2d(2, 3, 3)
    with torch.no_grad():
        layer.alpha.copy_(torch.tensor([0.5, 2.0, 3.0]))
    x = torch.randn(2, 2, 5, 5)
    pre = layer.binary_output(x)
    replaced = torch.tensor([1.0, 2.0, 7.0])
    layer.scale_dropout = lambda a: replaced
    assert torch.allclose(layer(x), pre * replaced.view(1, 3, 1, 1))
    layer.scale_enabled = False  # no scale at all: the dropout hook is not consulted either
    assert torch.allclose(layer(x), pre)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: standardize_weights(torch.ones(2, 3), axes="row"), "unknown axes 'row'"),
        (lambda: standardize_weights(torch.ones(2, 3), eps=-1.0), "eps must be >= 0"),
    ],
)
def test_standardize_weights_rejects_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_quantizers_and_dropout_are_constructor_arguments():
    from scaledrop_lib.layers.dropout import ScaleDropout

    x = torch.randn(2, 3, 5, 5)
    raw = BinaryConv2d(3, 4, 3, input_quantizer=None)
    assert not raw.binarize_input
    torch.testing.assert_close(
        raw.binary_output(x), F.conv2d(x, raw.binary_weight(), raw.bias)
    )  # no sign on the input
    plain = BinaryLinear(6, 2, kernel_quantizer=torch.sign, bias=False)
    v = torch.randn(3, 6)
    torch.testing.assert_close(plain.binary_output(v), sign_pm1(v) @ torch.sign(plain.weight).T)
    dropout = ScaleDropout(p=0.5)
    layer = BinaryLinear(6, 2, scale_dropout=dropout)
    assert layer.scale_dropout is dropout and "scale_dropout" in dict(layer.named_children())
    assert list(layer.state_dict()) == ["weight", "bias", "alpha"]  # checkpoints keep their keys
    with pytest.raises(TypeError, match="scale_dropout must be a torch.nn.Module"):
        BinaryLinear(6, 2, scale_dropout=0.5)
    with pytest.raises(TypeError, match="input_quantizer"):
        BinaryLinear(6, 2, input_quantizer="sign")
