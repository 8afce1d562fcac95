"""The exact 2^L mixture equals a brute-force loop over every mask, and MC converges to it."""

import itertools

import pytest
import torch
from torch import nn

from scaledrop_lib.inference.exact import exact_predictive, pattern_weights
from scaledrop_lib.inference.mc import mc_predict
from scaledrop_lib.layers.binary import BinaryConv2d, BinaryLinear
from scaledrop_lib.layers.dropout import ScaleDropout
from scaledrop_lib.layers.sampling import sampling, seed_dropout
from scaledrop_lib.models.config import NetConfig
from scaledrop_lib.models.digits import digits_cnn
from scaledrop_lib.models.units import ScaledBinaryUnit


def small_model(variant: str = "unitary", ps=(0.2, 0.5, 0.3)) -> nn.Sequential:
    torch.manual_seed(0)
    layers = [
        ScaledBinaryUnit(
            BinaryConv2d(1, 4, 3, padding=1, scale_dropout=ScaleDropout(ps[0], variant))
        ),
        nn.Hardtanh(),
        nn.Flatten(),
        ScaledBinaryUnit(BinaryLinear(4 * 8 * 8, 12, scale_dropout=ScaleDropout(ps[1], variant))),
        nn.Hardtanh(),
        BinaryLinear(12, 5, scale_dropout=ScaleDropout(ps[2], variant)),  # reaches the softmax
    ]
    model = nn.Sequential(*layers)
    with torch.no_grad():  # scales away from 1, so dropping them matters
        for module in model.modules():
            if isinstance(module, (BinaryConv2d, BinaryLinear)):
                module.alpha.uniform_(0.3, 2.0)
            if isinstance(module, ScaledBinaryUnit) and module.shift is not None:
                module.shift.uniform_(-3.0, 3.0)  # thresholds that a drop moves
        model[-1].alpha.uniform_(0.05, 0.3)  # small logits: softmax not saturated
    return model.eval()


def forced_pattern(model: nn.Module, pattern: tuple[bool, ...], x: torch.Tensor) -> torch.Tensor:
    """Brute force: one ordinary forward pass with each module's mask forced to ``pattern``."""
    modules = [m for m in model.modules() if isinstance(m, ScaleDropout)]
    for module, drop in zip(modules, pattern, strict=True):
        module.mask_source = lambda shape, p, g, drop=drop: torch.full(shape, drop)
    with sampling(model), torch.no_grad():
        return torch.softmax(model(x), dim=-1)


@pytest.mark.parametrize("variant", ["unitary", "average"])
def test_exact_mixture_equals_a_brute_force_loop_over_all_masks(variant):
    model, x = small_model(variant), torch.rand(7, 1, 8, 8)
    mixture = exact_predictive(model, x)
    assert mixture.n_networks == 8 and mixture.outputs.shape == (8, 7, 5)
    for k, pattern in enumerate(itertools.product((False, True), repeat=3)):
        assert mixture.masks[k].tolist() == list(pattern)
        torch.testing.assert_close(mixture.outputs[k], forced_pattern(model, pattern, x))
    # the weights by hand: p = 0.2, 0.5, 0.3 per layer
    assert float(mixture.weights[0]) == pytest.approx(0.8 * 0.5 * 0.7)
    assert float(mixture.weights[5]) == pytest.approx(0.2 * 0.5 * 0.3)  # dropped, kept, dropped
    assert float(mixture.weights.sum()) == pytest.approx(1.0)
    # the networks really differ (the check could not pass with all outputs equal)
    distinct = {tuple(o.flatten().tolist()) for o in mixture.outputs}
    assert len(distinct) >= 4


def test_mc_mean_converges_to_the_exact_mean():
    model, x = small_model(), torch.rand(6, 1, 8, 8)
    mixture = exact_predictive(model, x)
    T = 4000
    seed_dropout(model, 0)
    mc = mc_predict(model, x, T).double().mean(dim=0)
    sigma = mixture.mc_standard_error(T).double()  # sd of the MC mean: sqrt(Var / T)
    z = (mc - mixture.mean.double()).abs() / sigma.clamp_min(1e-12)
    # 30 (input, class) cells: P(some |z| > 5) ~ 30 * 6e-7 if MC is unbiased
    assert float(z.max()) < 5.0, float(z.max())
    # and the error shrinks like 1 / sqrt(T): at T = 40 it is about 10x larger
    seed_dropout(model, 1)
    small_t = mc_predict(model, x, 40).double().mean(dim=0)
    err_small = float((small_t - mixture.mean).abs().mean())
    err_large = float((mc - mixture.mean).abs().mean())
    assert err_large < err_small / 3


def test_exact_variance_matches_the_mixture_formula():
    model, x = small_model(), torch.rand(3, 1, 8, 8)
    mixture = exact_predictive(model, x)
    w = mixture.weights.view(-1, 1, 1).to(mixture.outputs.dtype)
    second = (w * mixture.outputs**2).sum(0)
    torch.testing.assert_close(mixture.variance, second - mixture.mean**2, atol=1e-6, rtol=1e-5)
    logits = exact_predictive(model, x, logits=True)
    torch.testing.assert_close(torch.softmax(logits.outputs, -1), mixture.outputs)


def test_pattern_weights_by_hand_and_shape_check():
    masks = torch.tensor([[False, False], [True, False], [True, True]])
    w = pattern_weights([0.1, 0.4], masks)
    torch.testing.assert_close(
        w, torch.tensor([0.9 * 0.6, 0.1 * 0.6, 0.1 * 0.4], dtype=torch.float64)
    )
    with pytest.raises(ValueError, match=r"masks must be \(K, 3\)"):
        pattern_weights([0.1, 0.2, 0.3], masks)


def test_models_without_a_finite_mixture_are_refused_with_the_reason():
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="variant 'random' draws a random replacement"):
        exact_predictive(small_model("random"), x)
    with pytest.raises(ValueError, match="element-wise masks"):
        exact_predictive(digits_cnn(NetConfig(p=0.2, granularity="element")), x)
    with pytest.raises(ValueError, match=r"3 Scale-Dropout layers make 2\^3 = 8 networks"):
        exact_predictive(small_model(), x, max_layers=2)
    with pytest.raises(ValueError, match="non-empty batch"):
        exact_predictive(small_model(), torch.rand(0, 1, 8, 8))


def test_the_digits_cnn_is_a_mixture_of_four_networks():
    model = digits_cnn(NetConfig(p=0.2)).eval()
    mixture = exact_predictive(model, torch.rand(2, 1, 8, 8))
    assert mixture.n_networks == 4  # two Scale-Dropout layers (chapter 8's "4 distinct passes")
