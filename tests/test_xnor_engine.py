"""The packed (XNOR-popcount) backend inside the Monte-Carlo engines, residual nets and chunks.

Every comparison is ``torch.equal`` against the fp32 naive loop, the reference the engines
must reproduce bit for bit: same masks (seeded generators), same sign decisions, same integer
products. Models get random BatchNorm statistics, shifts and scales (see ``randomise``), so a
dropped scale changes the outputs and the equalities are not vacuous.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_fastmc import randomise
from torch import nn

from scaledrop_lib.inference import xnor
from scaledrop_lib.inference.mc import deterministic_predict, mc_predict
from scaledrop_lib.inference.prefix import prefix_shared_predict
from scaledrop_lib.inference.program import (
    MIN_PACKED_CHANNELS,
    BinaryRunner,
    BlockFirst,
    FusedSignPack,
    PackedPool,
    build_program,
    packing_obstacle,
    prefix_program,
)
from scaledrop_lib.layers.binary import BinaryConv2d, sign_pm1
from scaledrop_lib.layers.sampling import sampling, seed_dropout
from scaledrop_lib.models import (
    NetConfig,
    digits_cnn,
    digits_mlp,
    lenet5,
    mnist_cnn,
    resnet18,
    resnet20,
    vgg_small,
)

CIFAR = (3, 32, 32)
MODELS = {
    "digits cnn": (lambda: digits_cnn(NetConfig(p=0.3)), (1, 8, 8), 12),
    "digits mlp": (lambda: digits_mlp(NetConfig(p=0.3)), (1, 8, 8), 12),
    "28x28 cnn": (lambda: mnist_cnn(NetConfig(p=0.2)), (1, 28, 28), 6),
    "lenet5": (lambda: lenet5(NetConfig(p=0.2)), (1, 28, 28), 6),
    "vgg-small": (lambda: vgg_small(NetConfig(p=0.2)), CIFAR, 3),
    "vgg-small binary first/last": (
        lambda: vgg_small(NetConfig(p=0.2, binary_first_last=True)),
        CIFAR,
        3,
    ),
    "resnet20": (lambda: resnet20(NetConfig(p=0.2)), CIFAR, 3),
    "resnet18": (lambda: resnet18(NetConfig(p=0.2)), CIFAR, 2),
    "vgg-small average": (lambda: vgg_small(NetConfig(p=0.5, variant="average")), CIFAR, 2),
}


def build(name: str, seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    make, shape, batch = MODELS[name]
    torch.manual_seed(seed)
    model = randomise(make(), seed)
    return model, torch.randn(batch, *shape)


def run_mc(model, x, T, seed=4, **options) -> torch.Tensor:
    seed_dropout(model, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback may happen silently in these cases
        return mc_predict(model, x, T, logits=True, **options)


# ------------------------------------------------------------------ whole models


@pytest.mark.parametrize("name", list(MODELS))
def test_every_engine_and_backend_gives_the_fp32_naive_samples(name):
    model, x = build(name)
    reference = run_mc(model, x, 9, method="naive", backend="torch")
    assert len({reference[t].numpy().tobytes() for t in range(9)}) > 1  # masks matter
    for method in ("naive", "prefix"):
        for backend in ("xnor", "auto"):
            got = run_mc(model, x, 9, method=method, backend=backend)
            assert torch.equal(got, reference), (method, backend)
    assert torch.equal(run_mc(model, x, 9, method="prefix", backend="torch"), reference)


@pytest.mark.parametrize("name", list(MODELS))
def test_the_deterministic_pass_is_the_same_packed(name):
    model, x = build(name)
    fp32 = deterministic_predict(model, x, backend="torch", logits=True)
    assert torch.equal(deterministic_predict(model, x, backend="xnor", logits=True), fp32)
    assert torch.equal(deterministic_predict(model, x, logits=True), fp32)


@pytest.mark.parametrize("size", [1, 2, 3])
def test_images_too_small_to_pool_fail_alike_on_every_backend(size):
    # found by the reliability API's hypothesis test: the packed pooling steps raised their own
    # kernel error ("x must be ... at least 2 wide") where the fp32 path names the inputs
    model, _ = build("digits cnn")
    x = torch.ones(2, 1, size, size)
    messages = set()
    for backend in ("torch", "xnor", "auto"):
        for method in ("naive", "prefix"):
            with pytest.raises(ValueError, match=r"cannot take inputs of shape \(2, 1,") as error:
                run_mc(model, x, 3, method=method, backend=backend)
            messages.add(str(error.value))
        with pytest.raises(ValueError, match=r"cannot take inputs of shape \(2, 1,"):
            deterministic_predict(model, x, backend=backend)
    assert len(messages) == 1, messages


@pytest.mark.parametrize("name", ["digits cnn", "vgg-small", "resnet20"])
def test_every_binary_layer_is_packed_and_the_activations_fused(name):
    model, _ = build(name)
    program = build_program(model)
    runner = BinaryRunner(program.binary_layers(), "auto")
    layers = program.binary_layers()
    assert layers and all(runner.is_packed(layer) for layer in layers)
    fused = program.fuse(runner)
    kinds = {type(step) for step in fused.steps}
    if name == "resnet20":
        assert BlockFirst in kinds  # conv2's input packed straight from conv1's unit
    else:
        assert FusedSignPack in kinds
        pooled = [s for s in fused.steps if isinstance(s, FusedSignPack) and s.pool == 2]
        assert pooled  # max pooling + Hardtanh + sign became one packing pass
    if name == "vgg-small":
        assert PackedPool in kinds  # the last pooling feeds the fp32 classifier


def test_float64_models_run_packed_and_equal():
    model, x = build("digits cnn")
    model, x = model.double(), x.double()
    reference = run_mc(model, x, 6, method="naive", backend="torch")
    assert reference.dtype == torch.float64
    assert torch.equal(run_mc(model, x, 6, method="prefix", backend="xnor"), reference)


def test_element_wise_masks_run_packed_in_the_naive_loop():
    torch.manual_seed(0)
    model = randomise(vgg_small(NetConfig(p=0.3, granularity="element")))
    x = torch.randn(2, *CIFAR)
    reference = run_mc(model, x, 5, method="naive", backend="torch")
    assert torch.equal(run_mc(model, x, 5, backend="xnor"), reference)


def test_resnets_are_now_shared_by_the_prefix_engine():
    for make in (resnet20, resnet18):
        program, reason = prefix_program(make(NetConfig(p=0.2)))
        assert reason == "" and len(program.stochastic_steps) == len(program.binary_layers())
    model, x = build("resnet20")
    seed_dropout(model, 1)
    with sampling(model), torch.inference_mode():
        _, stats = prefix_shared_predict(model, x, 20)
    assert stats.distinct_prefixes[0] == 1 and sum(stats.distinct_prefixes) < stats.naive_calls


def test_spin_and_float_resnets_fall_back_without_a_warning_on_auto():
    for config in (NetConfig(dropout="spin", p=0.2), NetConfig(dropout="mc", precision="float")):
        model = resnet20(config).eval()
        _, reason = prefix_program(model)
        assert "dropout other than Scale-Dropout" in reason
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = mc_predict(model, torch.randn(2, *CIFAR), 2)
        assert out.shape == (2, 2, 10)


# ------------------------------------------------------------------ chunks


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_chunks_share_one_mask_set_per_pass(batch_size):
    # every layer binary (integer products) and BN element-wise: exact at any batch size
    torch.manual_seed(0)
    model = randomise(digits_cnn(NetConfig(p=0.3, binary_first_last=True)))
    x = torch.randn(12, 1, 8, 8)
    whole = run_mc(model, x, 8, method="prefix")
    assert torch.equal(run_mc(model, x, 8, method="prefix", batch_size=batch_size), whole)
    # auto now takes the engine with batch_size (before, it fell back to the loop)
    assert torch.equal(run_mc(model, x, 8, batch_size=batch_size), whole)
    # the naive loop too draws each pass's scales once for all chunks (one_draw_per_pass)
    assert torch.equal(run_mc(model, x, 8, method="naive", batch_size=batch_size), whole)
    assert torch.equal(run_mc(model, x, 8, method="naive"), whole)


@pytest.mark.parametrize("name", ["digits cnn", "resnet20"])
def test_chunks_with_full_precision_layers_agree_to_rounding(name):
    # a full-precision first conv or classifier may sum in another order for another batch
    # size (BLAS), so equality holds to float rounding; the masks are the same
    model, x = build(name)
    whole = run_mc(model, x, 8, method="prefix")
    chunked = run_mc(model, x, 8, method="prefix", batch_size=2)
    assert torch.allclose(chunked, whole, rtol=1e-5, atol=1e-5)
    assert torch.equal(chunked.argmax(-1), whole.argmax(-1))


def test_chunked_samples_are_budgeted_for_all_rows(monkeypatch):
    import scaledrop_lib.inference.budget as budget

    model, _ = build("digits cnn")
    x = torch.randn(300, 1, 8, 8)
    all_rows = 8 * 300 * 10 * 4  # T x rows x classes x bytes; one chunk of 2 rows: 1/150
    monkeypatch.setattr(budget, "MAX_SAMPLE_BYTES", all_rows - 1)
    with pytest.raises(ValueError, match=r"\(300, 10\)"):
        run_mc(model, x, 8, method="prefix", batch_size=2)


# ------------------------------------------------------------------ fused packing and pooling


def awkward(shape, seed=0) -> torch.Tensor:
    """Random values with exact zeros of both signs, NaN and infinities."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g)
    for value, share in ((0.0, 0.2), (-0.0, 0.2), (float("nan"), 0.03), (float("inf"), 0.02)):
        x[torch.rand(shape, generator=g) < share] = value
    x[torch.rand(shape, generator=g) < 0.02] = float("-inf")
    return x


@pytest.mark.parametrize("pool", [1, 2, 3])
@pytest.mark.parametrize("channels", [1, 63, 64, 65, 130])
def test_pooled_packing_is_the_sign_of_torchs_max_pooling(pool, channels):
    x = awkward((3, channels, 7, 8))
    expected = xnor.pack_signs(sign_pm1(F.max_pool2d(x, pool)))
    got = xnor.pack_signs(x, pool=pool)
    assert got.n == channels and np.array_equal(got.bits, expected.bits)


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_max_pool_is_torchs_bit_for_bit(k, dtype):
    x = awkward((4, 5, 9, 10), seed=k).to(dtype)
    bits = torch.int32 if dtype == torch.float32 else torch.int64
    # viewed as integers: -0.0 and 0.0 (and NaN payloads) must match too
    assert torch.equal(xnor.max_pool(x, k).view(bits), F.max_pool2d(x, k).view(bits))


def test_bad_pooling_arguments_are_named():
    with pytest.raises(ValueError, match="pool"):
        xnor.pack_signs(torch.randn(2, 3), pool=2)
    with pytest.raises(ValueError, match="pool"):
        xnor.pack_signs(torch.randn(2, 3, 1, 4), pool=2)
    with pytest.raises(ValueError, match="pool"):
        xnor.pack_signs(torch.randn(2, 3, 4, 4), pool=0)
    with pytest.raises(TypeError, match="x must be"):
        xnor.max_pool(torch.ones(1, 1, 2, 2, dtype=torch.int32), 2)
    with pytest.raises(ValueError, match="at least 3 wide"):
        xnor.max_pool(torch.ones(1, 1, 2, 2), 3)


# ------------------------------------------------------------------ the rule and fallbacks


def test_the_rule_packs_exact_layers_only():
    signed = BinaryConv2d(8, 4, 3, bias=False).eval()
    assert packing_obstacle(signed) is None
    assert "bias" in packing_obstacle(BinaryConv2d(8, 4, 3, bias=True).eval())
    assert "sign" in packing_obstacle(
        BinaryConv2d(8, 4, 3, bias=False, input_quantizer=None).eval()
    )
    assert "training" in packing_obstacle(BinaryConv2d(8, 4, 3, bias=False))
    real = BinaryConv2d(8, 4, 3, bias=False, kernel_quantizer=lambda w: w).eval()
    assert "not ±1" in packing_obstacle(real)
    assert not BinaryRunner([signed], "torch").any_packed
    # the size rule: auto packs from MIN_PACKED_CHANNELS input channels on, xnor always
    assert "8 input channels < 16" in packing_obstacle(signed, size_rule=True)
    wide = BinaryConv2d(MIN_PACKED_CHANNELS, 4, 3, bias=False).eval()
    assert packing_obstacle(wide, size_rule=True) is None
    assert not BinaryRunner([signed], "auto").any_packed
    assert BinaryRunner([signed], "xnor").is_packed(signed)
    assert BinaryRunner([wide], "auto").is_packed(wide)


def test_spin_dropout_layers_stay_fp32_and_agree():
    torch.manual_seed(0)
    model = randomise(digits_cnn(NetConfig(dropout="spin", p=0.2)))
    x = torch.randn(6, 1, 8, 8)
    program = build_program(model)
    assert not BinaryRunner(program.binary_layers(), "auto").any_packed  # ±1/0 inputs
    with pytest.warns(UserWarning, match="no binary layer can be packed"):
        deterministic_predict(model, x, backend="xnor")
    seed_dropout(model, 2)
    a = mc_predict(model, x, 4, backend="auto")
    seed_dropout(model, 2)
    assert torch.equal(a, mc_predict(model, x, 4, backend="torch"))


def test_without_numba_xnor_falls_back_with_the_reason(monkeypatch):
    model, x = build("digits cnn")
    reference = run_mc(model, x, 5, backend="torch")
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba now raises ImportError
    seed_dropout(model, 4)
    with pytest.warns(UserWarning, match=r"running fp32: numba is not installed.*\[fast\]"):
        fallback = mc_predict(model, x, 5, backend="xnor", logits=True)
    assert torch.equal(fallback, reference)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto falls back silently
        assert torch.equal(run_mc(model, x, 5), reference)


def test_inputs_off_the_cpu_are_not_packed():
    layer = BinaryConv2d(8, 4, 3, bias=False).eval()
    with pytest.warns(UserWarning, match="not the CPU"):
        runner = BinaryRunner([layer], "xnor", torch.device("meta"))
    assert not runner.any_packed


def test_unknown_models_fall_back_on_xnor_with_the_reason():
    class Wrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = digits_cnn(NetConfig(p=0.2))

        def forward(self, x):
            return self.net(x)

    with pytest.warns(UserWarning, match="neither an nn.Sequential nor a CifarResNet"):
        deterministic_predict(Wrapped().eval(), torch.randn(2, 1, 8, 8), backend="xnor")


def test_unknown_backend_is_named():
    model, x = build("digits cnn")
    with pytest.raises(ValueError, match="backend"):
        mc_predict(model, x, 2, backend="popcount")
    with pytest.raises(ValueError, match="backend"):
        deterministic_predict(model, x, backend="gpu")


def test_training_still_uses_fp32_and_gets_gradients():
    model, x = build("digits cnn")
    model.train()
    program = build_program(model)
    assert not BinaryRunner(program.binary_layers(), "auto").any_packed
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


# ------------------------------------------------------------------ the appendix's picture


@pytest.mark.parametrize("n", [1, 8, 16, 64])
def test_bit_packing_figure_shows_the_xor_and_the_dot_product(n):
    from scaledrop_lib.viz.figures import bit_packing_figure

    g = torch.Generator().manual_seed(n)
    a = sign_pm1(torch.randn(n, generator=g))
    w = sign_pm1(torch.randn(n, generator=g))
    fig = bit_packing_figure(a, w)
    rows = [list(r) for r in fig.data[0].z[::-1]]  # top row first
    assert rows[0] == [int(v > 0) for v in a] and rows[1] == [int(v > 0) for v in w]
    assert rows[2] == [int(x != y) for x, y in zip(a, w, strict=True)]
    dot = int((a * w).sum())  # the product the figure claims, computed independently
    assert f"n - 2 x {sum(rows[2])} = {dot} = a . w = {dot}" in fig.layout.title.text


def test_bit_packing_figure_refuses_bad_vectors():
    from scaledrop_lib.viz.figures import bit_packing_figure

    with pytest.raises(ValueError, match="one length"):
        bit_packing_figure(torch.ones(3), torch.ones(4))
    with pytest.raises(ValueError, match="one length"):
        bit_packing_figure(torch.ones(65), torch.ones(65))
    with pytest.raises(ValueError, match=r"\+1 and -1"):
        bit_packing_figure(torch.zeros(3), torch.ones(3))


# ------------------------------------------------------------------ in-place inference steps


@pytest.mark.parametrize("placement", ["inside_bn", "before_bn", "after_bn"])
@pytest.mark.parametrize("kind", ["conv", "fc"])
def test_in_place_scale_and_shift_give_the_autograd_path_values(placement, kind):
    from scaledrop_lib.models import ScaledBinaryUnit
    from scaledrop_lib.models.sequential import binary_layer

    unit = ScaledBinaryUnit(binary_layer(kind, 8, 6, NetConfig(p=0.0)), placement)
    randomise(unit, seed=3)
    g = torch.Generator().manual_seed(0)
    z = torch.randn((4, 6, 5, 5) if kind == "conv" else (4, 6), generator=g)
    kept = z.clone()
    with_grad = unit.from_binary_output(z)  # autograd on: out of place
    with torch.inference_mode():
        in_place = unit.from_binary_output(z)
    assert torch.equal(in_place, with_grad.detach())
    assert torch.equal(z, kept)  # the shared binary output is never written
