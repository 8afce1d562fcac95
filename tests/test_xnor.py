"""The bit-packed XNOR-popcount path (inference.xnor) equals the fp32 ±1 path exactly.

numba is in the lock file, so it is imported here directly: a missing numba is a collection
error, never a silent skip. The fallback without numba is tested by hiding the module.
"""

import subprocess
import sys

import numba  # noqa: F401  (the kernels need it; failing here is the point)
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from scaledrop_lib.data.digits import DIGITS_SHAPE
from scaledrop_lib.data.mnist import MNIST_SHAPE
from scaledrop_lib.inference.xnor import (
    PackedSigns,
    binary_layer_xnor_forward,
    pack_layer,
    pack_signs,
    words_for,
    xnor_available,
    xnor_conv2d,
    xnor_linear,
)
from scaledrop_lib.layers.binary import BinaryConv2d, BinaryLinear, pack_pm1, sign_pm1
from scaledrop_lib.layers.quantizers import PACT
from scaledrop_lib.models import (
    NetConfig,
    ScaledBinaryUnit,
    digits_cnn,
    digits_mlp,
    lenet5,
    mnist_cnn,
    resnet18,
    resnet20,
    vgg_small,
)

ODD_CHANNELS = [1, 3, 63, 64, 65, 130]


def values(shape, seed, zeros=True):
    """Random reals with exact 0.0 and -0.0 entries (both have sign +1)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g)
    if zeros:
        flat = x.view(-1)
        flat[::5] = 0.0
        flat[2::7] = -0.0
    return x


def reference_conv(x, w, stride, padding):
    return F.conv2d(sign_pm1(x), sign_pm1(w), stride=stride, padding=padding)


def test_numba_kernels_are_available_here():
    available, reason = xnor_available()
    assert available, reason
    assert "numba" in reason and "threads as torch's" in reason


# ------------------------------------------------------------------ packing


@pytest.mark.parametrize("n", ODD_CHANNELS)
def test_packed_bits_are_the_teaching_layout(n):
    x = values((4, n), seed=n)
    packed = pack_signs(x)
    assert packed.n == n and packed.bits.dtype == np.uint64
    assert packed.bits.shape == (4, words_for(n))
    assert np.array_equal(packed.bits, pack_pm1(sign_pm1(x)))  # layers.binary's bit order


def test_sign_of_zero_minus_zero_and_nan_follow_sign_pm1():
    x = torch.tensor([[0.0, -0.0, 1e-30, -1e-30, float("nan"), float("inf"), -float("inf")]])
    signs = sign_pm1(x)
    assert signs.tolist() == [[1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0]]
    assert np.array_equal(pack_signs(x).bits, pack_pm1(signs))


def test_conv_inputs_pack_channels_last():
    x = values((2, 130, 3, 5), seed=1)
    packed = pack_signs(x)
    assert packed.bits.shape == (2, 3, 5, 3) and packed.n == 130
    per_pixel = pack_signs(x.permute(0, 2, 3, 1).reshape(-1, 130)).bits
    assert np.array_equal(packed.bits.reshape(-1, 3), per_pixel)


@pytest.mark.parametrize("shape", [(3, 65), (2, 130, 4, 3), (5, 1, 2, 2)])
def test_numpy_fallback_packs_the_same_bits(shape, monkeypatch):
    x = values(shape, seed=3)
    with_numba = pack_signs(x).bits
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba now raises ImportError
    assert not xnor_available()[0]
    assert np.array_equal(pack_signs(x).bits, with_numba)


def test_arrays_and_other_dtypes_pack_like_float32():
    x = values((3, 70), seed=4)
    expected = pack_signs(x).bits
    assert np.array_equal(pack_signs(x.numpy()).bits, expected)
    assert np.array_equal(pack_signs(x.double()).bits, expected)
    assert np.array_equal(pack_signs(x.half()).bits, expected)
    ints = torch.tensor([[-3, 0, 2]])
    assert np.array_equal(pack_signs(ints).bits, pack_pm1(sign_pm1(ints.float())))


# ------------------------------------------------------------------ products


LINEAR_SHAPES = [  # (in, out): the models' binary fc layers, then odd widths
    (400, 120),  # LeNet-5
    (120, 84),
    (84, 10),
    (576, 64),  # mnist_cnn's hidden fc (64 x 3 x 3)
    (128, 128),  # digits_mlp's hidden layers
    (512, 10),  # ResNet-18's classifier with binary_first_last
    *[(n, 7) for n in ODD_CHANNELS],
]


@pytest.mark.parametrize(("n_in", "n_out"), LINEAR_SHAPES)
def test_xnor_linear_equals_the_pm1_matmul(n_in, n_out):
    x, w = values((9, n_in), seed=n_in), values((n_out, n_in), seed=n_out, zeros=False)
    out = xnor_linear(pack_signs(x), pack_signs(w))
    assert out.dtype == torch.int32
    reference = sign_pm1(x) @ sign_pm1(w).T
    assert torch.equal(out.to(reference.dtype), reference)


CONV_SHAPES = [  # (Cin, Cout, H, k, stride, padding)
    (128, 128, 32, 3, 1, 1),  # VGG-small (conv 2-6; conv 1 with binary_first_last)
    (128, 256, 16, 3, 1, 1),
    (256, 256, 16, 3, 1, 1),
    (256, 512, 8, 3, 1, 1),
    (512, 512, 8, 3, 1, 1),
    (3, 128, 32, 3, 1, 1),
    (16, 32, 8, 3, 1, 1),  # digits_cnn
    (32, 32, 4, 3, 1, 1),
    (16, 32, 14, 3, 1, 1),  # mnist_cnn
    (32, 32, 14, 3, 1, 1),
    (32, 64, 7, 3, 1, 1),
    (1, 6, 28, 5, 1, 2),  # LeNet-5
    (6, 16, 14, 5, 1, 0),
    (16, 32, 32, 3, 2, 1),  # ResNet-20's downsampling convs
    (32, 64, 16, 3, 2, 1),
    (64, 128, 32, 3, 2, 1),  # ResNet-18
    (256, 512, 8, 3, 2, 1),
    (64, 64, 9, 1, 2, 0),  # 1x1 (a shortcut's shape)
    *[(c, 5, 7, k, s, p) for c in ODD_CHANNELS for k, s, p in [(1, 1, 0), (3, 2, 1), (3, 1, 0)]],
]


@pytest.mark.parametrize(("cin", "cout", "size", "k", "stride", "padding"), CONV_SHAPES)
def test_xnor_conv2d_equals_the_pm1_convolution(cin, cout, size, k, stride, padding):
    x = values((2, cin, size, size), seed=cin + size)
    w = values((cout, cin, k, k), seed=cout, zeros=False)
    out = xnor_conv2d(x, pack_signs(w), stride, padding)
    assert out.dtype == torch.int32
    reference = reference_conv(x, w, stride, padding)
    assert torch.equal(out.to(reference.dtype), reference)


def test_conv_is_exact_with_numpys_older_popcount(monkeypatch):
    x, w = values((2, 130, 6, 6), seed=11), values((5, 130, 3, 3), seed=12, zeros=False)
    monkeypatch.delattr(np, "bitwise_count", raising=False)  # NumPy < 2.0: unpackbits
    reference = reference_conv(x, w, 1, 1)
    assert torch.equal(xnor_conv2d(x, pack_signs(w), 1, 1).to(reference.dtype), reference)


@settings(deadline=None, max_examples=40)
@given(
    batch=st.integers(1, 3),
    cin=st.integers(1, 140),
    cout=st.integers(1, 9),
    k=st.sampled_from([1, 2, 3, 5]),
    stride=st.integers(1, 3),
    padding=st.integers(0, 2),
    height=st.integers(1, 11),
    width=st.integers(1, 11),
    seed=st.integers(0, 2**31 - 1),
)
def test_xnor_conv2d_is_exact_for_any_shape(
    batch, cin, cout, k, stride, padding, height, width, seed
):
    height, width = max(height, k - 2 * padding), max(width, k - 2 * padding)
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-2, 3, (batch, cin, height, width), generator=g).float()  # many zeros
    w = torch.randn(cout, cin, k, k, generator=g)
    packed_x = pack_signs(x)
    out = xnor_conv2d(packed_x, pack_signs(w), stride, padding)
    reference = reference_conv(x, w, stride, padding)
    assert torch.equal(out.to(reference.dtype), reference)
    assert torch.equal(xnor_conv2d(x, pack_signs(w), stride, padding), out)  # unpacked input


@settings(deadline=None, max_examples=30)
@given(
    batch=st.integers(1, 5),
    n=st.integers(1, 300),
    n_out=st.integers(1, 20),
    seed=st.integers(0, 2**31 - 1),
)
def test_xnor_linear_is_exact_for_any_shape(batch, n, n_out, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-2, 3, (batch, n), generator=g).float()
    w = torch.randn(n_out, n, generator=g)
    reference = sign_pm1(x) @ sign_pm1(w).T
    assert torch.equal(xnor_linear(pack_signs(x), pack_signs(w)).to(reference.dtype), reference)


# ------------------------------------------------------------------ the models' layers


def binary_layer_inputs(model: nn.Module, x: torch.Tensor) -> list[tuple[nn.Module, torch.Tensor]]:
    """(binary layer, its input) for every binary layer a forward pass of ``model`` runs."""
    seen = []

    def unit_hook(unit, args):
        seen.append((unit.layer, args[0]))

    def layer_hook(layer, args):
        seen.append((layer, args[0]))

    handles = []
    for module in model.modules():
        if isinstance(module, ScaledBinaryUnit):  # calls layer.binary_output, not layer()
            handles.append(module.register_forward_pre_hook(unit_hook))
        elif isinstance(module, (BinaryConv2d, BinaryLinear)):
            handles.append(module.register_forward_pre_hook(layer_hook))
    with torch.no_grad():
        model.eval()(x)
    for handle in handles:
        handle.remove()
    return seen


FIRST_LAST = NetConfig(binary_first_last=True)
MODELS = {
    "vgg_small": (vgg_small, (3, 32, 32)),
    "vgg_small_first_last": (lambda: vgg_small(FIRST_LAST), (3, 32, 32)),
    "digits_cnn": (digits_cnn, DIGITS_SHAPE),
    "digits_cnn_first_last": (lambda: digits_cnn(FIRST_LAST), DIGITS_SHAPE),
    "digits_mlp": (digits_mlp, DIGITS_SHAPE),
    "digits_cnn_spin": (lambda: digits_cnn(NetConfig(dropout="spin")), DIGITS_SHAPE),
    "mnist_cnn": (mnist_cnn, MNIST_SHAPE),
    "lenet5": (lenet5, MNIST_SHAPE),
    "resnet20": (resnet20, (3, 32, 32)),
    "resnet18_first_last": (lambda: resnet18(FIRST_LAST), (3, 32, 32)),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_binary_layer_of_the_models_gives_its_binary_output(name):
    build, shape = MODELS[name]
    torch.manual_seed(0)
    model = build()
    pairs = binary_layer_inputs(model, values((2, *shape), seed=7, zeros=False))
    assert pairs
    checked = 0
    for layer, x in pairs:
        if layer.input_quantizer is None and not bool(((x == 1) | (x == -1)).all()):
            with pytest.raises(ValueError, match="no input quantizer"):
                binary_layer_xnor_forward(layer, x)  # LeNet's first layer: real pixels
            continue
        if layer.input_quantizer is not None:
            x = x.clone()
            x.view(-1)[::5] = 0.0  # sign(0) = +1 in both paths
        expected = layer.binary_output(x)
        out = binary_layer_xnor_forward(layer, x, pack_layer(layer))
        assert out.is_contiguous() and out.dtype == expected.dtype
        assert torch.equal(out, expected), layer
        checked += 1
    assert checked >= 2


def test_lenet_first_layer_on_pm1_pixels_and_float64():
    layer = lenet5()[0].layer.eval().double()
    x = sign_pm1(values((3, 1, 28, 28), seed=8)).double()
    with torch.no_grad():
        out = binary_layer_xnor_forward(layer, x)
        assert out.dtype == torch.float64
        assert torch.equal(out, layer.binary_output(x))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_layers_get_their_dtype(dtype):
    layer = BinaryLinear(70, 5, bias=False).eval().to(dtype)
    x = values((3, 70), seed=13).to(dtype)
    with torch.no_grad():
        expected = layer.binary_output(x)  # |sums| <= 70: exact in half precision
        out = binary_layer_xnor_forward(layer, x)
        assert out.dtype == dtype and torch.equal(out, expected)


@pytest.mark.parametrize(
    "layer",
    [BinaryConv2d(65, 9, 3, 2, 1, bias=True), BinaryLinear(130, 11, bias=True)],
    ids=["conv", "linear"],
)
def test_a_bias_is_added_to_the_exact_product_once(layer):
    with torch.no_grad():
        layer.bias.normal_(0, 3)
    layer.eval()
    x = values((4, 65, 9, 9) if isinstance(layer, BinaryConv2d) else (4, 130), seed=9)
    with torch.no_grad():
        out = binary_layer_xnor_forward(layer, x)
        if isinstance(layer, BinaryConv2d):
            w = layer.binary_weight()
            product = F.conv2d(sign_pm1(x), w, stride=layer.stride, padding=layer.padding)
        else:
            product = sign_pm1(x) @ layer.binary_weight().T
        # the exact integers, plus b rounded once
        assert torch.equal(out, product + layer.bias.view(1, -1, *([1] * (x.dim() - 2))))
        # torch's fused bias rounds partial sums: equal up to the last bits, not always exact
        torch.testing.assert_close(out, layer.binary_output(x), rtol=0, atol=1e-4)


def test_packed_layer_is_reused_and_checked():
    layer = BinaryConv2d(64, 8, 3, padding=1, bias=False).eval()
    packed = pack_layer(layer)
    x = values((2, 64, 6, 6), seed=10)
    with torch.no_grad():
        assert torch.equal(binary_layer_xnor_forward(layer, x, packed), layer.binary_output(x))
    other = BinaryConv2d(64, 8, 3, padding=0, bias=False).eval()
    with pytest.raises(ValueError, match="packed"):
        binary_layer_xnor_forward(other, x, packed)


# ------------------------------------------------------------------ refusals


def test_layer_errors_name_the_argument():
    conv = BinaryConv2d(4, 4, 3, bias=False)
    with pytest.raises(TypeError, match="layer must be a BinaryConv2d"):
        binary_layer_xnor_forward(nn.Conv2d(4, 4, 3), torch.ones(1, 4, 5, 5))
    with pytest.raises(ValueError, match="eval mode"):
        binary_layer_xnor_forward(conv.train(), torch.ones(1, 4, 5, 5))
    conv.eval()
    with pytest.raises(ValueError, match=r"x must have shape \(N, 4, H, W\)"):
        binary_layer_xnor_forward(conv, torch.ones(1, 3, 5, 5))
    with pytest.raises(TypeError, match="x must be a floating-point"):
        binary_layer_xnor_forward(conv, torch.ones(1, 4, 5, 5, dtype=torch.int64))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        binary_layer_xnor_forward(conv, torch.ones(1, 4, 2, 2))
    spin = BinaryLinear(5, 2, bias=False, input_quantizer=None).eval()
    with pytest.raises(ValueError, match="x must hold only -1 and \\+1"):
        binary_layer_xnor_forward(spin, torch.tensor([[1.0, -1.0, 0.0, 1.0, 1.0]]))
    pact = BinaryConv2d(4, 4, 3, bias=False, input_quantizer=PACT(4)).eval()
    with pytest.raises(ValueError, match="quantized input"):
        binary_layer_xnor_forward(pact, torch.rand(1, 4, 5, 5))
    scaled = BinaryLinear(5, 2, bias=False, kernel_quantizer=lambda w: 0.5 * sign_pm1(w)).eval()
    with pytest.raises(ValueError, match="binary_weight"):
        pack_layer(scaled)


def test_packed_argument_errors_name_the_argument():
    x, w = pack_signs(torch.ones(2, 70)), pack_signs(torch.ones(3, 70))
    with pytest.raises(TypeError, match="packed_x must be PackedSigns"):
        xnor_linear(x.bits, w)
    with pytest.raises(ValueError, match="packed_x has n = 70, packed_w n = 69"):
        xnor_linear(x, PackedSigns(pack_signs(-torch.ones(3, 70)).bits, 69))
    with pytest.raises(ValueError, match="packed_w.bits has set padding bits"):
        xnor_linear(x, PackedSigns(w.bits | np.uint64(1 << 63), 70))
    with pytest.raises(ValueError, match="packed_x.bits must have 1 words for n = 64, got 2"):
        xnor_linear(PackedSigns(x.bits, 64), PackedSigns(w.bits, 64))
    with pytest.raises(ValueError, match="packed_w.bits must be a 4-D uint64"):
        xnor_conv2d(torch.ones(1, 70, 3, 3), w)
    w4 = pack_signs(torch.ones(3, 70, 3, 3))
    with pytest.raises(ValueError, match="x has 71 channels, packed_w expects 70"):
        xnor_conv2d(torch.ones(1, 71, 3, 3), w4)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        xnor_conv2d(torch.ones(1, 70, 3, 3), w4, stride=0)
    with pytest.raises(TypeError, match="x must hold real numbers"):
        pack_signs(torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="x must be 2-D"):
        pack_signs(torch.ones(2, 3, 4))
    with pytest.raises(TypeError, match="x must be a torch.Tensor or numpy.ndarray"):
        pack_signs([[1.0]])


# ------------------------------------------------------------------ without numba


def test_without_numba_the_products_raise_with_the_reason(monkeypatch):
    x, w = pack_signs(torch.ones(2, 70)), pack_signs(torch.ones(3, 70))
    monkeypatch.setitem(sys.modules, "numba", None)
    available, reason = xnor_available()
    assert not available and "numba is not installed" in reason and "[fast]" in reason
    with pytest.raises(ImportError, match="numba is not installed"):
        xnor_linear(x, w)
    layer = BinaryLinear(70, 3, bias=False).eval()
    with pytest.raises(ImportError, match=r"scaledrop\[fast\]"):
        binary_layer_xnor_forward(layer, torch.ones(2, 70))


def test_the_package_imports_without_loading_numba():
    script = (
        "import sys, scaledrop_lib, scaledrop_lib.inference, scaledrop_lib.inference.xnor\n"
        "print('numba' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
