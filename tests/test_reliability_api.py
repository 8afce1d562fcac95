"""Reliability of the public inference, metrics and hardware API (issue #17).

Bad input must raise the library's own ``ValueError``/``TypeError`` naming the argument, never
fail deep inside torch/numpy and never come back as a quietly wrong number; requests that
would be unbounded fail before the allocation; and no function that reads a model leaves its
modes, BatchNorm statistics or weights changed. Hypothesis generates the bad inputs.
"""

from __future__ import annotations

import math
import tracemalloc

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from scaledrop_lib.hardware import cim
from scaledrop_lib.inference.cost import stage_costs
from scaledrop_lib.inference.exact import exact_predictive
from scaledrop_lib.inference.mc import deterministic_predict, ensemble_predict, mc_predict
from scaledrop_lib.inference.segment import deterministic_segment, mc_segment
from scaledrop_lib.metrics.calibration import MAX_BINS, expected_calibration_error
from scaledrop_lib.metrics.classification import brier_score, negative_log_likelihood
from scaledrop_lib.metrics.predictive import mutual_information, predictive_entropy
from scaledrop_lib.models import digits_cnn, digits_mlp, prefix_support, unet
from scaledrop_lib.routines.train import evaluate
from scaledrop_lib.studies.mechanism import layer_mechanisms, mc_convergence
from scaledrop_lib.studies.placement import alpha_gradient_norm, dropped_scale_effect
from scaledrop_lib.studies.sensitivity import scale_statistics

LIBRARY_ERRORS = (ValueError, TypeError)
FEW = settings(
    deadline=None, max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def cnn() -> nn.Module:
    torch.manual_seed(0)
    return digits_cnn().eval()


# ---------------------------------------------------------------- inference inputs


@FEW
@given(
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=5),
    dtype=st.sampled_from([torch.float16, torch.float32, torch.float64, torch.int64, torch.bool]),
)
def test_any_input_shape_or_dtype_gives_probabilities_or_a_library_error(cnn, shape, dtype):
    inputs = torch.ones(shape).to(dtype)
    try:
        probs = mc_predict(cnn, inputs, 3)
    except LIBRARY_ERRORS as error:
        assert "inputs" in str(error) or "model" in str(error), str(error)
        return
    # accepted: then it was the model's own layout, and the answer is a distribution
    assert inputs.dim() == 4 and inputs.shape[1] == 1 and dtype == torch.float32
    assert probs.shape == (3, shape[0], 10)
    assert torch.isfinite(probs).all()
    torch.testing.assert_close(probs.sum(-1), torch.ones(3, shape[0]))


@FEW
@given(
    n=st.integers(1, 6),
    row=st.integers(0, 5),
    bad=st.sampled_from([math.nan, math.inf, -math.inf]),
)
def test_a_non_finite_image_is_refused_naming_it(cnn, n, row, bad):
    inputs = torch.rand(n, 1, 8, 8)
    inputs[row % n, 0, 3, 4] = bad
    for predict in (lambda: mc_predict(cnn, inputs, 2), lambda: deterministic_predict(cnn, inputs)):
        with pytest.raises(ValueError, match=rf"inputs must be finite; inputs \[{row % n}\]"):
            predict()


def test_flat_inputs_with_the_wrong_number_of_features_name_the_first_layer():
    with pytest.raises(ValueError, match="expects 64"):
        deterministic_predict(digits_mlp().eval(), torch.rand(4, 60))


def test_a_device_this_machine_lacks_is_refused_before_running(cnn):
    missing = "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(ValueError, match="device"):
        mc_predict(cnn, torch.rand(2, 1, 8, 8), 2, device=missing)
    with pytest.raises(ValueError, match="device must name a torch device"):
        deterministic_predict(cnn, torch.rand(2, 1, 8, 8), device="gpu please")


class _Scores(nn.Module):
    """A model that returns one score per input instead of logits (N, C)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(64, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1)).squeeze(1)


def test_a_model_that_does_not_return_logits_is_refused():
    # softmax over dim -1 of an (N,) output would be taken across the batch
    with pytest.raises(ValueError, match=r"must return logits of shape \(N, C\)"):
        deterministic_predict(_Scores(), torch.rand(4, 1, 8, 8))
    with pytest.raises(ValueError, match=r"must return logits of shape \(N, C\)"):
        mc_predict(_Scores(), torch.rand(4, 1, 8, 8), 2)


def test_an_ensemble_of_models_with_different_class_counts_is_refused():
    ten = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    five = nn.Sequential(nn.Flatten(), nn.Linear(64, 5))
    with pytest.raises(ValueError, match=r"same number of classes, got \[10, 5\]"):
        ensemble_predict([ten, five], torch.rand(3, 1, 8, 8))


def test_a_huge_T_fails_before_the_allocation(cnn):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="GiB"):
            mc_predict(cnn, torch.rand(2, 1, 8, 8), 10**9)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20  # refused from an estimate, not after filling memory


# ---------------------------------------------------------------- metrics inputs


@st.composite
def probability_rows(draw, off_simplex: bool):
    n, c = draw(st.integers(1, 6)), draw(st.integers(2, 6))
    weights = torch.tensor(
        draw(st.lists(st.floats(0.01, 1.0), min_size=n * c, max_size=n * c))
    ).reshape(n, c)
    probs = weights / weights.sum(1, keepdim=True)
    if off_simplex:
        probs = probs * draw(st.sampled_from([0.5, 0.9, 1.1, 3.0]))
    return probs


@FEW
@given(probs=probability_rows(off_simplex=True))
def test_rows_that_are_not_distributions_are_refused_by_every_metric(probs):
    labels = torch.zeros(len(probs), dtype=torch.long)
    for metric in (
        lambda: predictive_entropy(probs.unsqueeze(0)),
        lambda: mutual_information(probs.unsqueeze(0)),
        lambda: brier_score(probs, labels),
        lambda: negative_log_likelihood(probs, labels),
        lambda: expected_calibration_error(probs, labels),
    ):
        with pytest.raises(ValueError, match=r"distribution over the classes|in \[0, 1\]"):
            metric()


@FEW
@given(probs=probability_rows(off_simplex=False), T=st.integers(1, 4))
def test_metrics_of_valid_distributions_are_finite_and_in_range(probs, T):
    samples = probs.unsqueeze(0).expand(T, -1, -1)
    entropy = predictive_entropy(samples)
    assert torch.isfinite(entropy).all()
    assert bool((entropy <= math.log(probs.shape[1]) + 1e-5).all())
    # identical passes carry no epistemic uncertainty
    assert float(mutual_information(samples).abs().max()) < 1e-5


@FEW
@given(label=st.integers(-3, 12))
def test_labels_outside_the_classes_are_refused(label):
    probs = torch.full((2, 10), 0.1)
    labels = torch.tensor([0, label])
    if 0 <= label < 10:
        assert 0 <= brier_score(probs, labels) <= 2
    else:
        with pytest.raises(ValueError, match="labels must lie in"):
            brier_score(probs, labels)


def test_an_absurd_bin_count_fails_before_the_allocation():
    probs = torch.softmax(torch.randn(5, 10), dim=1)
    labels = torch.arange(5)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="n_bins must be <="):
            expected_calibration_error(probs, labels, 10**9)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20
    assert expected_calibration_error(probs, labels, MAX_BINS) >= 0  # the bound itself works


# ---------------------------------------------------------------- hardware inputs


def test_a_huge_bitstream_fails_before_the_allocation():
    from scaledrop_lib.hardware.mtj import MAX_BITS, MTJBitSource

    source = MTJBitSource(0.5, seed=0)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="GiB of working memory"):
            source.bits(10**12)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20
    assert MAX_BITS >= 10**6


@pytest.mark.parametrize("input_shape", [(3, 8, 8), (1, 1, 8, 8), (1, -8, 8), (1, 8.5, 8)])
def test_layer_shapes_name_an_input_shape_that_does_not_fit(cnn, input_shape):
    with pytest.raises(LIBRARY_ERRORS, match="input_shape"):
        cim.layer_shapes(cnn, input_shape)


@pytest.mark.parametrize("call", ["stage_costs", "exact_predictive"])
def test_cost_and_exact_models_check_the_inputs_first(cnn, call):
    wrong = torch.rand(2, 3, 8, 8)
    function = {"stage_costs": stage_costs, "exact_predictive": exact_predictive}[call]
    with pytest.raises(ValueError, match="channels"):
        function(cnn, wrong)


@FEW
@given(
    field=st.sampled_from(["kernel", "in_channels", "out_channels", "out_positions"]),
    value=st.one_of(st.integers(-5, 0), st.floats(0.1, 9.9).filter(lambda v: v != int(v))),
)
def test_layer_sizes_must_be_positive_integers(field, value):
    sizes = {"kernel": 3, "in_channels": 4, "out_channels": 8, "out_positions": 16}
    sizes[field] = value
    with pytest.raises(LIBRARY_ERRORS, match=field):
        cim.LayerShape(name="conv", kind="conv", binary=True, **sizes)


# ---------------------------------------------------------------- the model is left as it was


def _snapshot(model: nn.Module):
    modes = [m.training for m in model.modules()]
    flags = [getattr(m, "mc", None) for m in model.modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    return modes, flags, state


def _assert_unchanged(model: nn.Module, before, what: str) -> None:
    modes, flags, state = _snapshot(model)
    assert modes == before[0], f"{what} changed the model's train/eval modes"
    assert flags == before[1], f"{what} changed the model's mc switches"
    for key, value in state.items():
        assert torch.equal(value, before[2][key]), f"{what} changed {key}"


def _calls(x: torch.Tensor, y: torch.Tensor):
    return {
        "mc_predict": lambda m: mc_predict(m, x, 3),
        "mc_predict naive": lambda m: mc_predict(m, x, 3, method="naive"),
        "deterministic_predict": lambda m: deterministic_predict(m, x),
        "ensemble_predict": lambda m: ensemble_predict([m, m], x),
        "exact_predictive": lambda m: exact_predictive(m, x),
        "layer_shapes": lambda m: cim.layer_shapes(m, tuple(x.shape[1:])),
        "map_model": lambda m: cim.map_model(m, tuple(x.shape[1:]), float_layers="skip"),
        "stage_costs": lambda m: stage_costs(m, x),
        "evaluate": lambda m: evaluate(m, [(x, y)]),
        "layer_mechanisms": lambda m: layer_mechanisms(m, x),
        "alpha_gradient_norm": lambda m: alpha_gradient_norm(m, x, y),
        "dropped_scale_effect": lambda m: dropped_scale_effect(m, x, train_mode=True),
        "mc_convergence": lambda m: mc_convergence(m, x, Ts=[1, 4], repeats=2),
        "scale_statistics": lambda m: scale_statistics(m),
        "prefix_support": lambda m: prefix_support(m),
    }


CALLS = list(_calls(torch.zeros(1), torch.zeros(1)))


def _warmed(model: nn.Module, example: torch.Tensor, train_mode: bool) -> nn.Module:
    """``model`` with non-trivial BatchNorm running statistics (so a reset or an update would
    show), then in the mode asked for."""
    model.train()
    with torch.no_grad():
        model(example)
    return model.train(train_mode)


@pytest.mark.parametrize("train_mode", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("name", CALLS)
def test_functions_that_read_a_model_leave_it_as_it_was(name, train_mode):
    torch.manual_seed(1)
    model = _warmed(digits_cnn(), torch.rand(16, 1, 8, 8), train_mode)
    x, y = torch.rand(6, 1, 8, 8), torch.randint(0, 10, (6,))
    before = _snapshot(model)
    _calls(x, y)[name](model)
    _assert_unchanged(model, before, name)


@pytest.mark.parametrize("train_mode", [False, True], ids=["eval", "train"])
def test_segmentation_inference_leaves_the_model_as_it_was(train_mode):
    torch.manual_seed(2)
    model = _warmed(unet(), torch.rand(2, 3, 32, 32), train_mode)
    images = torch.rand(2, 3, 32, 32)
    for name, call in {
        "mc_segment": lambda: mc_segment(model, images, 2),
        "deterministic_segment": lambda: deterministic_segment(model, images),
    }.items():
        before = _snapshot(model)
        call()
        _assert_unchanged(model, before, name)
