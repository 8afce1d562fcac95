import math

import numpy as np
import pytest
import torch

from scaledrop_lib.hardware.mtj import (
    ONE_X_SIGMA,
    VALIDITY_LIMIT,
    MTJBitSource,
    MTJMaskSource,
    MTJParams,
    attach_mtj,
    barrier_bracket,
    calibrate_current,
    stream_statistics,
    switching_probability,
    switching_time_constant,
    variation_sigma,
)
from scaledrop_lib.layers.dropout import ScaleDropout

KB, EV = 1.380649e-23, 1.602176634e-19


def by_hand(current, pulse, tau0=1e-9, delta_ev=1.0, ic0=100e-6, temp=300.0):
    i = current / ic0
    tau = tau0 * math.exp(delta_ev * EV / (KB * temp) * (1 - 2 * i * (math.pi / 2 - i)))
    return 1 - math.exp(-pulse / tau)


@pytest.mark.parametrize(
    ("current", "pulse", "temp"),
    [(30e-6, 10e-9, 300.0), (40e-6, 10e-9, 300.0), (40e-6, 50e-9, 350.0), (10e-6, 1e-3, 400.0)],
)
def test_formula_against_hand_computation(current, pulse, temp):
    params = MTJParams(tau0_s=1e-9, delta0_ev=1.0, ic0_a=100e-6, temperature_k=temp)
    assert float(switching_probability(current, pulse, params)) == pytest.approx(
        by_hand(current, pulse, temp=temp), rel=1e-9, abs=1e-15
    )


def test_validity_limit_is_the_first_root_of_the_bracket():
    assert barrier_bracket(VALIDITY_LIMIT) == pytest.approx(0.0, abs=1e-12)
    assert barrier_bracket(np.pi / 4) < 0 and barrier_bracket(1.127) == pytest.approx(0, abs=1e-3)
    with pytest.raises(ValueError, match="current must satisfy"):
        switching_probability(0.45 * 100e-6, 10e-9)
    with pytest.raises(ValueError, match="current must satisfy"):
        switching_probability(-1e-6, 10e-9)


def test_monotone_in_current_and_pulse_width():
    currents = np.linspace(0, 0.44 * 100e-6, 50)
    p = switching_probability(currents, 10e-9)
    assert np.all(np.diff(p) >= 0) and p[-1] > p[0]
    pulses = np.logspace(-10, -6, 50)
    q = switching_probability(35e-6, pulses)
    assert np.all(np.diff(q) > 0)


def test_limits_in_pulse_width():
    current = calibrate_current(0.5, 10e-9)
    assert float(switching_probability(current, 0.0)) == 0.0
    assert float(switching_probability(current, 1e-15)) < 1e-6
    assert float(switching_probability(current, 1e-3)) == pytest.approx(1.0)


def test_temperature_matters_because_the_barrier_is_an_energy():
    hot, cold = MTJParams(temperature_k=350.0), MTJParams(temperature_k=250.0)
    assert switching_probability(35e-6, 10e-9, hot) > switching_probability(35e-6, 10e-9, cold)
    assert MTJParams().thermal_stability == pytest.approx(40.0)


@pytest.mark.parametrize("target", [0.1, 0.5, 0.9])
def test_calibration_round_trip(target):
    current = calibrate_current(target, 10e-9)
    assert float(switching_probability(current, 10e-9)) == pytest.approx(target, abs=1e-9)
    assert 0 < current < VALIDITY_LIMIT * 100e-6
    tau = float(switching_time_constant(current))
    assert 1 - math.exp(-10e-9 / tau) == pytest.approx(target, abs=1e-9)


def test_calibration_rejects_unreachable_targets():
    with pytest.raises(ValueError, match="not reachable"):
        calibrate_current(0.5, 1e-15)
    with pytest.raises(ValueError, match="target_p must lie"):
        calibrate_current(1.5)


def test_bitstream_statistics_of_an_ideal_source():
    bits = MTJBitSource(0.3, seed=0).bits(20000)
    stats = stream_statistics(bits)
    assert abs(stats.mean - 0.3) < 4 * math.sqrt(0.3 * 0.7 / 20000)
    assert abs(stats.autocorrelation) < 4 / math.sqrt(20000)
    assert stats.runs_p_value > 1e-4


def test_runs_test_catches_a_correlated_stream():
    # a stream that repeats each bit (as if RESET failed half the time) has too few runs
    bits = np.repeat(MTJBitSource(0.5, seed=1).bits(5000), 2)
    stats = stream_statistics(bits)
    assert stats.autocorrelation > 0.4 and stats.runs_p_value < 1e-6
    alternating = np.tile([True, False], 500)  # too many runs
    assert stream_statistics(alternating).runs_z > 10


def test_device_and_cycle_variation():
    assert variation_sigma(1) == ONE_X_SIGMA == pytest.approx(0.1 / 3)
    chips = [MTJBitSource(0.5, device_sigma=0.05, seed=s).device_offset for s in range(400)]
    assert np.std(chips) == pytest.approx(0.05, rel=0.15)
    source = MTJBitSource(0.5, cycle_sigma=0.1, seed=0)
    p = source.probabilities(20000)
    assert np.std(p) == pytest.approx(0.1, rel=0.05)
    clipped = MTJBitSource(0.98, cycle_sigma=0.2, seed=0).probabilities(1000)
    assert clipped.max() == 1.0 and clipped.min() >= 0.0


def test_mask_source_drives_scale_dropout():
    drop = ScaleDropout(0.3, mask_source=MTJMaskSource(level=0.0, seed=0))
    alpha = torch.tensor([2.0, 3.0])
    dropped = [bool(drop(alpha)[0] == 1.0) for _ in range(4000)]
    assert abs(np.mean(dropped) - 0.3) < 0.03
    model = torch.nn.Sequential(drop)
    source = attach_mtj(model, level=1.0, seed=3)
    assert drop.mask_source is source
    with pytest.raises(ValueError, match="no ScaleDropout"):
        attach_mtj(torch.nn.Linear(2, 2), 1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"tau0_s": 0.0}, "tau0_s must be a positive"), ({"temperature_k": -1.0}, "temperature_k")],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MTJParams(**kwargs)


def test_accuracy_under_variation_restores_the_mask_sources():
    from scaledrop_lib.data.digits import load_digits_splits
    from scaledrop_lib.routines.zoo import load_pretrained
    from scaledrop_lib.studies.variation import accuracy_under_variation

    model, _ = load_pretrained("cnn_var_ideal_0")
    before = [m.mask_source for m in model.modules() if isinstance(m, ScaleDropout)]
    test = load_digits_splits(seed=0).test
    x = torch.stack([test[i][0] for i in range(60)])
    y = torch.stack([test[i][1] for i in range(60)])
    accs = accuracy_under_variation(model, x, y, level=2.0, chips=2, T=3)
    assert len(accs) == 2 and all(0.5 < a <= 1.0 for a in accs)
    after = [m.mask_source for m in model.modules() if isinstance(m, ScaleDropout)]
    assert after == before


def test_bit_source_refuses_nan_sigmas_and_bad_probabilities():
    from scaledrop_lib.hardware.mtj import MTJBitSource

    with pytest.raises(ValueError, match="device_sigma must be finite and >= 0"):
        MTJBitSource(0.5, device_sigma=float("nan"))  # used to never drop
    with pytest.raises(ValueError, match="mu must be finite"):
        MTJBitSource(0.5, mu=float("inf"))
    with pytest.raises(ValueError, match="p must lie in"):
        MTJBitSource(0.5).bits(1000, p=1.7)  # used to be clipped silently
