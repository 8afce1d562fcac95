"""Statistics over repeated runs: the Student-t interval of a mean, and where a curve settles."""

from __future__ import annotations

import math

import numpy as np

from scaledrop_lib.metrics._validation import _check_level


def plateau_T(Ts: list[int], values, tolerance: float) -> int:
    """The smallest T from which every later value stays within ``tolerance`` of the last one.

    ``values`` holds one number per T (e.g. the mean accuracy over seeds), in the order of
    ``Ts`` (increasing). The last T is the reference, so the answer is at most ``Ts[-1]``.
    """
    values = np.asarray(values, dtype=float)
    if len(Ts) != len(values) or len(Ts) == 0:
        raise ValueError(
            f"Ts ({len(Ts)}) and values ({len(values)}) must have the same non-zero length"
        )
    if list(Ts) != sorted(Ts):
        raise ValueError("Ts must increase")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    within = np.abs(values - values[-1]) <= tolerance
    # the first index after the last value outside the band
    outside = np.nonzero(~within)[0]
    return int(Ts[outside[-1] + 1] if len(outside) else Ts[0])


def mean_confidence_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, lower, upper): Student-t confidence interval of the mean of a few numbers.

    For results over a handful of seeds; needs at least two values.
    """
    from scipy.stats import t

    level = _check_level(level)
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size < 2:
        raise ValueError(f"values must hold at least 2 numbers, got {arr.size}")
    mean = float(arr.mean())
    half = float(t.ppf(0.5 + level / 2, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size))
    return mean, mean - half, mean + half
