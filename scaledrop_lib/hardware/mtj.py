"""The spintronic random bit source of the Scale-Dropout module (Sec. V-A/B, Eq. 22-23).

Thermally activated switching of an SOT-MTJ (Eq. 23, with the sign the physics needs):

    p_sw = 1 - exp(-t / tau),
    tau  = tau0 * exp[ Delta / (kB * temperature) * (1 - 2 i (pi/2 - i)) ],   i = I / Ic0

The paper prints ``1 - exp(t/tau)``, which would be negative. The bracket vanishes at
i ~ 0.4436 (and again at ~1.127); above the first root the formula no longer describes
thermally activated switching, so the functions here refuse such currents.

The paper gives no device parameters beyond "p = 0.5 at a 10 ns pulse". Defaults (see
:class:`MTJParams`): attempt time tau0 = 1 ns and a barrier Delta = 40 kB T at 300 K, typical
of stochastic MTJs in the literature (e.g. the SOT-MTJ RNG literature the paper cites, [36]);
Ic0 = 100 uA. The barrier is an *energy*, so temperature changes the thermal stability factor.

Variation (Eq. 22): p_hat = p + eps, eps ~ N(mu, sigma^2), clipped to [0, 1]. We draw eps in two
parts: device-to-device (once per chip) and cycle-to-cycle (once per draw). "1x" variation
means sigma = 0.1 / 3 (the paper's 3 sigma of about 10%).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from scaledrop_lib._checks import check_positive_int, check_probability
from scaledrop_lib.layers.dropout import ScaleDropout

BOLTZMANN_J_PER_K = 1.380649e-23


ELECTRON_VOLT_J = 1.602176634e-19


ONE_X_SIGMA = 0.1 / 3  # "1x" variation: 3 sigma = 10 percentage points of probability


SET_PULSE_S = 10e-9


RESET_PULSE_S = 5e-9


#: Where the bracket 1 - 2 i (pi/2 - i) first reaches zero: i = (pi/2 - sqrt(pi^2/4 - 2)) / 2.
VALIDITY_LIMIT = (math.pi / 2 - math.sqrt(math.pi**2 / 4 - 2)) / 2


#: Most bits one :meth:`MTJBitSource.bits` call draws (about 1.7 GB of working memory).
MAX_BITS = 100_000_000


@dataclass(frozen=True)
class MTJParams:
    """Device parameters (SI units, barrier in eV).

    ``delta0_ev`` defaults to 40 kB x 300 K, i.e. a thermal stability factor of 40 at room
    temperature.
    """

    tau0_s: float = 1e-9
    delta0_ev: float = 40 * BOLTZMANN_J_PER_K * 300.0 / ELECTRON_VOLT_J
    ic0_a: float = 100e-6
    temperature_k: float = 300.0

    def __post_init__(self) -> None:
        for name in ("tau0_s", "delta0_ev", "ic0_a", "temperature_k"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")

    @property
    def thermal_stability(self) -> float:
        """Delta / (kB T): the exponent's prefactor."""
        return self.delta0_ev * ELECTRON_VOLT_J / (BOLTZMANN_J_PER_K * self.temperature_k)


def barrier_bracket(i: np.ndarray | float) -> np.ndarray:
    """1 - 2 i (pi/2 - i), the current-reduced barrier of Eq. 23 (i = I / Ic0)."""
    i = np.asarray(i, dtype=float)
    return 1.0 - 2.0 * i * (np.pi / 2 - i)


def _reduced_current(current_a, params: MTJParams) -> np.ndarray:
    i = np.asarray(current_a, dtype=float) / params.ic0_a
    if np.any(~np.isfinite(i)) or np.any(i < 0) or np.any(i >= VALIDITY_LIMIT):
        raise ValueError(
            f"current must satisfy 0 <= I < {VALIDITY_LIMIT:.4f} * Ic0 = "
            f"{VALIDITY_LIMIT * params.ic0_a:.4g} A: beyond that the barrier term of Eq. 23 is "
            "not positive and the thermal-activation model does not apply"
        )
    return i


def switching_time_constant(current_a, params: MTJParams | None = None) -> np.ndarray:
    """tau of Eq. 23b in seconds, for currents in amperes (vectorised)."""
    params = params or MTJParams()
    i = _reduced_current(current_a, params)
    return params.tau0_s * np.exp(params.thermal_stability * barrier_bracket(i))


def switching_probability(current_a, pulse_s, params: MTJParams | None = None) -> np.ndarray:
    """p_sw = 1 - exp(-t / tau) (Eq. 23a with the physical sign), vectorised over both inputs."""
    params = params or MTJParams()
    pulse = np.asarray(pulse_s, dtype=float)
    if np.any(~np.isfinite(pulse)) or np.any(pulse < 0):
        raise ValueError("pulse_s must be finite and >= 0 seconds")
    tau = switching_time_constant(current_a, params)
    return -np.expm1(-pulse / tau)


def calibrate_current(
    target_p: float = 0.5, pulse_s: float = SET_PULSE_S, params: MTJParams | None = None
) -> float:
    """The write current (A) that switches with probability ``target_p`` in ``pulse_s``.

    Solved with Brent's method on the valid current range, where p_sw rises monotonically.
    """
    from scipy.optimize import brentq

    params = params or MTJParams()
    target_p = check_probability("target_p", target_p)
    hi = VALIDITY_LIMIT * params.ic0_a * (1 - 1e-9)
    p_lo = float(switching_probability(0.0, pulse_s, params))
    p_hi = float(switching_probability(hi, pulse_s, params))
    if not p_lo < target_p < p_hi:
        raise ValueError(
            f"target_p = {target_p} is not reachable with a {pulse_s:g} s pulse inside the "
            f"model's valid currents (p ranges from {p_lo:.3g} to {p_hi:.3g})"
        )
    return float(
        brentq(
            lambda c: float(switching_probability(c, pulse_s, params)) - target_p,
            0.0,
            hi,
            xtol=1e-15,
            rtol=1e-12,
        )
    )


def variation_sigma(level: float) -> float:
    """sigma of Eq. 22 for a variation level given in multiples of "1x" (sigma = 0.1/3)."""
    if level < 0:
        raise ValueError(f"level must be >= 0, got {level}")
    return level * ONE_X_SIGMA


class MTJBitSource:
    """A stochastic MTJ cycled SET (stochastic, 10 ns) / RESET (deterministic, 5 ns).

    Each cycle yields one bit: 1 if the SET pulse switched the junction. Because RESET always
    restores the reference state, cycles are independent Bernoulli draws with probability
    p_hat = clip(p + eps_device + eps_cycle, 0, 1) (Eq. 22).

    Parameters
    ----------
    p : float
        The probability the device was calibrated to.
    device_sigma, cycle_sigma : float
        Standard deviations of the device-to-device (drawn once, at construction: one chip)
        and cycle-to-cycle (drawn every cycle) offsets.
    mu : float
        Mean offset of Eq. 22 (0: an unbiased chip).
    seed : int
        Seeds both the chip's offset and its cycles.
    """

    def __init__(
        self,
        p: float,
        device_sigma: float = 0.0,
        cycle_sigma: float = 0.0,
        mu: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.p = check_probability("p", p)
        for name, value in (
            ("device_sigma", device_sigma),
            ("cycle_sigma", cycle_sigma),
            ("mu", mu),
        ):
            if not math.isfinite(value) or (name != "mu" and value < 0):
                wanted = "finite" if name == "mu" else "finite and >= 0"
                raise ValueError(f"{name} must be {wanted}, got {value}")
        self.cycle_sigma = cycle_sigma
        self.rng = np.random.default_rng(seed)
        self.device_offset = mu + device_sigma * float(self.rng.standard_normal())

    def probabilities(self, n: int, p: float | None = None) -> np.ndarray:
        """The n per-cycle switching probabilities p_hat (after clipping)."""
        base = self.p if p is None else check_probability("p", p)
        noise = self.cycle_sigma * self.rng.standard_normal(n) if self.cycle_sigma else 0.0
        return np.clip(base + self.device_offset + noise, 0.0, 1.0)

    def bits(self, n: int, p: float | None = None) -> np.ndarray:
        """n bits from n SET/RESET cycles (bool array); at most :data:`MAX_BITS` per call."""
        n = check_positive_int("n", n)
        if n > MAX_BITS:
            # the draw needs n float64 probabilities and n uniforms before the n bools
            raise ValueError(
                f"n must be <= {MAX_BITS:,} bits per call, got {n:,} (about "
                f"{17 * n / 2**30:,.1f} GiB of working memory); draw in chunks"
            )
        return self.rng.random(n) < self.probabilities(n, p)

    @property
    def cycle_time_s(self) -> float:
        return SET_PULSE_S + RESET_PULSE_S


@dataclass(frozen=True)
class StreamStatistics:
    """Checks of a bitstream: mean, lag-1 autocorrelation, Wald-Wolfowitz runs test."""

    n: int
    mean: float
    autocorrelation: float
    runs: int
    runs_z: float
    runs_p_value: float


def stream_statistics(bits: np.ndarray) -> StreamStatistics:
    """Mean, lag-1 autocorrelation and the runs test (two-sided normal approximation)."""
    from scipy.stats import norm

    b = np.asarray(bits).astype(float).ravel()
    if b.size < 3:
        raise ValueError("bits must hold at least 3 values")
    n1, n0 = b.sum(), b.size - b.sum()
    if n1 == 0 or n0 == 0:
        raise ValueError("bits must contain both values for the runs test")
    centred = b - b.mean()
    autocorrelation = float((centred[:-1] * centred[1:]).sum() / (centred**2).sum())
    runs = int(1 + np.count_nonzero(b[1:] != b[:-1]))
    n = b.size
    expected = 2 * n1 * n0 / n + 1
    variance = 2 * n1 * n0 * (2 * n1 * n0 - n) / (n**2 * (n - 1))
    z = float((runs - expected) / math.sqrt(variance))
    return StreamStatistics(
        n=int(n),
        mean=float(b.mean()),
        autocorrelation=autocorrelation,
        runs=runs,
        runs_z=z,
        runs_p_value=float(2 * norm.sf(abs(z))),
    )


class MTJMaskSource:
    """Drop bits for :class:`~scaledrop_lib.layers.dropout.ScaleDropout` from an MTJ (one chip).

    Pass it as ``mask_source``; each call draws the requested number of bits with the
    module's p plus this chip's device offset and fresh cycle-to-cycle noise (Eq. 22).
    """

    def __init__(self, level: float = 1.0, device_share: float = 0.5, seed: int = 0) -> None:
        if not 0.0 <= device_share <= 1.0:
            raise ValueError(f"device_share must lie in [0, 1], got {device_share}")
        sigma = variation_sigma(level)
        # split the variance between device-to-device and cycle-to-cycle parts
        self.level = level
        self.source = MTJBitSource(
            0.5,
            device_sigma=sigma * math.sqrt(device_share),
            cycle_sigma=sigma * math.sqrt(1 - device_share),
            seed=seed,
        )

    def __call__(
        self, shape: tuple[int, ...], p: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        n = int(np.prod(shape)) if shape else 1
        bits = self.source.bits(n, p)
        return torch.from_numpy(bits).reshape(shape)


def attach_mtj(model: torch.nn.Module, level: float, seed: int = 0) -> MTJMaskSource:
    """Make every Scale-Dropout module of ``model`` draw from one MTJ chip (one shared source).

    Returns the source; ``level=0`` gives an ideal Bernoulli source (no variation).
    """

    source = MTJMaskSource(level, seed=seed)
    found = False
    for module in model.modules():
        if isinstance(module, ScaleDropout):
            module.mask_source = source
            found = True
    if not found:
        raise ValueError("model has no ScaleDropout modules to drive")
    return source
