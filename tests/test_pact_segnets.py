import pytest
import torch

from scaledrop_lib.layers.binary import BinaryConv2d
from scaledrop_lib.layers.dropout import MCDropout, ScaleDropout
from scaledrop_lib.layers.quantizers import PACT, pact_quantize
from scaledrop_lib.layers.sampling import sampling, seed_dropout
from scaledrop_lib.models import NetConfig, segnet, unet


def test_pact_forward_levels_and_range():
    x = torch.linspace(-2, 5, 1001)
    out = pact_quantize(x, torch.tensor(3.0), bits=4)
    levels = out.unique()
    assert len(levels) == 16
    torch.testing.assert_close(levels, torch.arange(16) * 3.0 / 15)
    # independent computation: clip then round to the nearest of 16 levels
    expected = torch.round(x.clamp(0, 3) / 3 * 15) / 15 * 3
    torch.testing.assert_close(out, expected)


def test_pact_gradients_are_straight_through_inside_and_flow_to_alpha_above():
    x = torch.tensor([-1.0, 0.4, 1.3, 2.9, 3.5, 7.0], requires_grad=True)
    alpha = torch.tensor(3.0, requires_grad=True)
    upstream = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    (pact_quantize(x, alpha, bits=4) * upstream).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([0.0, 2.0, 3.0, 4.0, 0.0, 0.0]))
    assert alpha.grad == pytest.approx(5.0 + 6.0)  # the clipped elements


def test_pact_module_learns_alpha_and_validates():
    act = PACT(bits=2, alpha=1.0)
    assert len(act(torch.linspace(-1, 3, 100)).unique()) == 4
    assert any(p is act.alpha for p in act.parameters())
    with pytest.raises(ValueError, match="alpha"):
        PACT(alpha=0.0)
    with pytest.raises(ValueError, match="bits"):
        PACT(bits=0)


@pytest.mark.parametrize("build", [unet, segnet])
def test_segmentation_nets_shapes_binary_layers_and_dropout(build):
    model = build(NetConfig(dropout="scale", p=0.2))
    x = torch.rand(2, 3, 32, 32)
    assert model(x).shape == (2, 1, 32, 32)
    convs = [m for m in model.modules() if isinstance(m, BinaryConv2d)]
    assert convs and all(not c.binarize_input for c in convs)  # 4-bit inputs, binary weights
    assert sum(isinstance(m, ScaleDropout) for m in model.modules()) == len(convs)
    assert sum(isinstance(m, PACT) for m in model.modules()) == len(convs) + 1  # + first block
    # the masks change the output once the scales differ from 1 (a dropped unitary scale
    # becomes 1, so at initialisation dropout would change nothing)
    for conv in convs:
        conv.alpha.data.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(0))
    model.train()
    model(torch.rand(8, 3, 32, 32))
    model.eval()
    with sampling(model):
        seed_dropout(model, 0)
        outs = torch.stack([model(x) for _ in range(6)])
    assert (outs.std(0) > 0).any()


def test_float_mc_dropout_baseline_and_unsupported_options():
    model = unet(NetConfig(dropout="mc", p=0.2, precision="float"))
    assert any(isinstance(m, MCDropout) for m in model.modules())
    assert not any(isinstance(m, BinaryConv2d) for m in model.modules())
    with pytest.raises(ValueError, match="segmentation nets support"):
        unet(NetConfig(dropout="spin"))
    with pytest.raises(ValueError, match="multiples of 8"):
        unet()(torch.rand(1, 3, 30, 30))


def test_pact_refuses_a_clipping_level_that_is_not_positive():
    from scaledrop_lib.layers.quantizers import pact_quantize

    for alpha in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="alpha must be a finite clipping level > 0"):
            pact_quantize(torch.rand(4), torch.tensor(alpha), 4)
