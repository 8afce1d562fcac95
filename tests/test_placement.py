"""Evidence behind the default scale placement, on the committed trained models."""

import pytest
import torch

from scaledrop_lib.data.digits import load_digits_splits
from scaledrop_lib.inference.mc import mc_predict
from scaledrop_lib.layers.sampling import seed_dropout
from scaledrop_lib.metrics.predictive import predictive_variance
from scaledrop_lib.routines.zoo import load_pretrained
from scaledrop_lib.studies.placement import (
    alpha_gradient_norm,
    alpha_shift,
    dropped_scale_effect,
    measure_placement,
    sign_flip_fractions,
)


@pytest.fixture(scope="module")
def batch():
    test = load_digits_splits(seed=0).test
    x = torch.stack([test[i][0] for i in range(128)])
    y = torch.stack([test[i][1] for i in range(128)])
    return x, y


def test_default_placement_makes_mc_samples_differ_on_a_trained_model(batch):
    model, metadata = load_pretrained("cnn_scale_dropout")
    assert metadata["config"]["placement"] == "inside_bn"  # the library default
    seed_dropout(model, 0)
    probs = mc_predict(model, batch[0], T=20)
    assert float(predictive_variance(probs).sum(1).mean()) > 1e-5
    differing = sum(not torch.equal(probs[0], probs[t]) for t in range(1, 20))
    assert differing >= 5


def test_batchnorm_cancels_a_scale_before_it_in_training(batch):
    before, _ = load_pretrained("cnn_sd_before_bn")
    inside, _ = load_pretrained("cnn_scale_dropout")
    x, y = batch
    # before BN: dropping every scale leaves the train-mode output (almost) unchanged...
    assert dropped_scale_effect(before, x, train_mode=True) < 0.05
    # ...the loss sends (almost) no gradient to alpha, so training barely moved it from 1
    assert alpha_gradient_norm(before, x, y) < 0.01 * alpha_gradient_norm(inside, x, y)
    assert alpha_shift(before) < 0.1 * alpha_shift(inside)
    # inside BN the scale matters in training
    assert dropped_scale_effect(inside, x, train_mode=True) > 0.5


def test_measure_placement_report_is_consistent(batch):
    model, _ = load_pretrained("cnn_scale_dropout")
    report = measure_placement(model, "inside_bn", *batch, T=10)
    assert report.placement == "inside_bn"
    assert 0.8 < report.deterministic_accuracy <= 1.0
    assert report.mc_variance > 0
    assert report.alpha_gradient_norm > 0


def test_sign_flips_grow_with_p_and_vanish_without_dropout(batch):
    from scaledrop_lib.layers.dropout import ScaleDropout

    model, _ = load_pretrained("cnn_scale_dropout")
    unit = model[3]
    with torch.no_grad():
        unit_input = model[:3](batch[0])
    never = sign_flip_fractions(unit, unit_input, ScaleDropout(0.0), T=5)
    assert torch.equal(never, torch.zeros(5))
    always = sign_flip_fractions(unit, unit_input, ScaleDropout(1.0), T=5)
    # unitary replacement is deterministic: every pass flips the same, non-zero fraction
    assert float(always.min()) == float(always.max()) > 0
    g = torch.Generator().manual_seed(0)
    half = sign_flip_fractions(unit, unit_input, ScaleDropout(0.5, generator=g), T=200)
    dropped = half > 0
    assert 0.4 < float(dropped.float().mean()) < 0.6
    assert torch.allclose(half[dropped], always[0])
