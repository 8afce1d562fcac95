"""The mechanism study: per-layer effects against an independent forward pass, sign
invariance, uncertainty summaries against scikit-learn, MC convergence to the exact mixture."""

import copy
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from scaledrop_lib.inference.exact import exact_predictive
from scaledrop_lib.layers.binary import BinaryConv2d, BinaryLinear, sign_pm1
from scaledrop_lib.metrics.predictive import (
    expected_entropy,
    mutual_information,
    predictive_entropy,
)
from scaledrop_lib.models.config import NetConfig
from scaledrop_lib.models.digits import digits_cnn
from scaledrop_lib.models.units import ScaledBinaryUnit
from scaledrop_lib.studies.mechanism import (
    layer_mechanisms,
    mc_convergence,
    uncertainty_summary,
)
from scaledrop_lib.studies.shift import deterministic_predictor, mc_predictor


def perturbed_cnn(p=0.2, shift=1.0, alpha=(0.4, 1.8), **options) -> nn.Sequential:
    """A digits CNN with its scales and shifts moved away from their initial values."""
    torch.manual_seed(0)
    model = digits_cnn(NetConfig(dropout="scale", p=p, **options))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (BinaryConv2d, BinaryLinear)):
                module.alpha.uniform_(*alpha)
            if isinstance(module, ScaledBinaryUnit) and module.shift is not None:
                module.shift.uniform_(-shift, shift)
            if isinstance(module, nn.BatchNorm2d):
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def units(model):
    return [m for m in model.modules() if isinstance(m, ScaledBinaryUnit)]


def test_layer_effects_match_an_independent_forward_pass():
    model, x = perturbed_cnn(), torch.rand(64, 1, 8, 8)
    found = layer_mechanisms(model, x)
    assert [m.position for m in found] == [0, 1]
    with torch.no_grad():
        reference = model(x).argmax(1)
        for mechanism, unit in zip(found, units(model), strict=True):
            outputs = {}
            hook = unit.register_forward_hook(lambda m, i, o, d=outputs: d.setdefault("kept", o))
            model(x)
            hook.remove()
            dropped_model = copy.deepcopy(model)
            dropped_unit = units(dropped_model)[mechanism.position]
            dropped_unit.layer.alpha.fill_(1.0)  # the unitary replacement
            hook = dropped_unit.register_forward_hook(
                lambda m, i, o, d=outputs: d.setdefault("drop", o)
            )
            logits = dropped_model(x)
            hook.remove()
            flips = (sign_pm1(outputs["kept"]) != sign_pm1(outputs["drop"])).float().mean()
            assert mechanism.sign_flip_share == pytest.approx(float(flips))
            changed = (logits.argmax(1) != reference).float().mean()
            assert mechanism.prediction_flip_share == pytest.approx(float(changed))
            alpha, beta = unit.layer.alpha, unit.shift
            assert mechanism.alpha_minus_r == pytest.approx(float((alpha - 1).abs().mean()))
            expected = float((beta / alpha - beta).abs().mean())  # |beta/alpha - beta/1|
            assert mechanism.threshold_shift == pytest.approx(expected, rel=1e-5)
    assert [m.real_valued_consumer for m in found] == [False, True]
    assert found[0].sign_flip_share > 0  # the perturbation makes drops matter


def test_sign_invariance_without_shifts_no_sign_flips_before_the_last_unit():
    model, x = perturbed_cnn(shift=0.0), torch.rand(64, 1, 8, 8)
    with torch.no_grad():
        for unit in units(model):
            unit.shift.zero_()
    first, last = layer_mechanisms(model, x)
    # sign(alpha * n) = sign(n) for alpha > 0: a drop changes no sign a binary layer sees
    assert first.sign_flip_share == 0.0 and first.threshold_shift == 0.0
    assert first.alpha_minus_r > 0.2
    assert last.real_valued_consumer  # but it still reaches the real-valued classifier


def test_all_binary_net_has_no_real_valued_consumer_before_the_head():
    model = perturbed_cnn(binary_first_last=True)
    found = layer_mechanisms(model, torch.rand(8, 1, 8, 8))
    assert not found[-2].real_valued_consumer


def test_layer_mechanisms_refuse_models_without_scale_dropout():
    with pytest.raises(ValueError, match="no binary layer with a ScaleDropout"):
        layer_mechanisms(digits_cnn(NetConfig(dropout="none")).eval(), torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="non-empty batch"):
        layer_mechanisms(perturbed_cnn(), torch.rand(0, 1, 8, 8))


def test_mixture_entropies_equal_the_sample_formulas_when_every_network_is_equally_likely():
    model, x = perturbed_cnn(p=0.5), torch.rand(16, 1, 8, 8)
    mixture = exact_predictive(model, x)
    assert torch.allclose(mixture.weights, torch.full((4,), 0.25, dtype=torch.float64))
    torch.testing.assert_close(mixture.predictive_entropy, predictive_entropy(mixture.outputs))
    torch.testing.assert_close(mixture.expected_entropy, expected_entropy(mixture.outputs))
    torch.testing.assert_close(
        mixture.mutual_information, mutual_information(mixture.outputs), atol=1e-6, rtol=0
    )


def test_uncertainty_summary_against_scikit_learn():
    model, x = perturbed_cnn(), torch.rand(200, 1, 8, 8)
    labels = torch.randint(0, 10, (200,), generator=torch.Generator().manual_seed(1))
    ood = {"noise": torch.rand(50, 1, 8, 8) * 3}
    summary = uncertainty_summary(mc_predictor(model, 30), deterministic_predictor(model), x,
                                  labels, ood)  # fmt: skip
    samples = mc_predictor(model, 30)(x)
    mean = samples.mean(0)
    wrong = (mean.argmax(1) != labels).numpy()
    entropy = predictive_entropy(samples).numpy()
    assert summary.error_auroc_entropy == pytest.approx(roc_auc_score(wrong, entropy))
    det = deterministic_predictor(model)(x)[0]
    det_entropy = -(det * det.log()).sum(1).numpy()
    det_wrong = (det.argmax(1) != labels).numpy()
    assert summary.error_auroc_reference == pytest.approx(
        roc_auc_score(det_wrong, det_entropy), abs=1e-6
    )
    out = predictive_entropy(mc_predictor(model, 30)(ood["noise"])).numpy()
    both = np.concatenate([entropy, out])
    is_ood = np.r_[np.zeros(len(entropy)), np.ones(len(out))]
    assert summary.ood_auroc_entropy == pytest.approx(roc_auc_score(is_ood, both))
    assert summary.error_gain == pytest.approx(
        summary.error_auroc_entropy - summary.error_auroc_reference
    )
    assert summary.mutual_information > 0 and summary.samples == 30
    # Eq. 24 on one deterministic pass: flagged when the top softmax is below 0.95
    det_out = deterministic_predictor(model)(ood["noise"])[0]
    assert summary.reference_eq24_ood_rate == pytest.approx(
        float((det_out.max(1).values < 0.95).float().mean())
    )
    assert summary.reference_eq24_clean_rate == pytest.approx(
        float((det.max(1).values < 0.95).float().mean())
    )
    assert 0 <= summary.ood_fpr95_entropy <= 1 and 0 <= summary.eq24_clean_rate <= 1


def test_a_deterministic_method_against_itself_gains_nothing():
    model, x = perturbed_cnn(), torch.rand(100, 1, 8, 8)
    labels = torch.randint(0, 10, (100,), generator=torch.Generator().manual_seed(2))
    det = deterministic_predictor(model)
    summary = uncertainty_summary(det, det, x, labels)
    assert summary.mutual_information == 0.0 and summary.entropy_gain == 0.0
    assert summary.error_gain == 0.0 and math.isnan(summary.ood_auroc_entropy)


def test_mc_error_falls_as_one_over_sqrt_T_to_the_exact_mixture():
    model, x = perturbed_cnn(p=0.5), torch.rand(40, 1, 8, 8)
    curve = mc_convergence(model, x, Ts=[4, 64, 256], repeats=100)
    assert curve.n_networks == 4 and curve.distinct[-1] == 4.0
    errors, predicted = np.array(curve.mean_abs_error), np.array(curve.predicted)
    # predicted = sqrt(2/pi) * sigma / sqrt(T): exactly 1/sqrt(T) scaling
    np.testing.assert_allclose(predicted[:-1] / predicted[1:], [4.0, 2.0], rtol=1e-6)
    # Measured, where the central limit holds (T >= 64): all inputs share one mask draw per
    # pass, so a repeat is one sample of |error|; its relative sd is about 0.76, so the mean of
    # 100 repeats is within 0.3 of the prediction at about 4 sigma. A biased estimate, or an
    # error falling as 1/T, misses by more than that.
    np.testing.assert_allclose(errors[1:] / predicted[1:], 1.0, atol=0.3)
    assert errors[0] > errors[1] > errors[2]


def test_mc_convergence_validates_its_arguments():
    model, x = perturbed_cnn(), torch.rand(4, 1, 8, 8)
    with pytest.raises(ValueError, match="T"):
        mc_convergence(model, x, Ts=[0, 5])
    with pytest.raises(ValueError, match="repeats"):
        mc_convergence(model, x, Ts=[5], repeats=0)
