"""Calibration: reliability-diagram bins and the expected calibration error (ECE).

The figure drawn from these bins lives in :mod:`scaledrop_lib.viz.figures`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from scaledrop_lib._checks import (
    check_positive_int,
)
from scaledrop_lib.metrics._validation import _check_labels, _check_probs

#: Most confidence bins a calibration function accepts: far above any useful binning, and
#: bounding the bins' arrays (five float64 arrays of n_bins) to a few MiB.
MAX_BINS = 100_000


def _check_bins(n_bins: int) -> int:
    n_bins = check_positive_int("n_bins", n_bins)
    if n_bins > MAX_BINS:
        need = 5 * 8 * n_bins / 2**30
        raise ValueError(
            f"n_bins must be <= {MAX_BINS:,}, got {n_bins:,} (its arrays alone would need "
            f"{need:,.1f} GiB; 15 is the common choice)"
        )
    return n_bins


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin statistics of a reliability diagram.

    ``edges`` (n_bins + 1,) are i / n_bins; the other arrays are (n_bins,). ``accuracy`` and
    ``confidence`` are NaN in empty bins (``counts == 0``).
    """

    edges: np.ndarray
    centers: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray
    counts: np.ndarray


def reliability_diagram_data(
    probs_mean: torch.Tensor, labels: torch.Tensor, n_bins: int = 15
) -> ReliabilityBins:
    """Bin inputs by confidence (max probability) into ``n_bins`` equal-width bins on [0, 1].

    Bin b is (b / n_bins, (b + 1) / n_bins]; a confidence of exactly 0 goes to the first bin
    (and one rounded a hair above 1 to the last). In each bin: the accuracy (argmax ==
    label), the mean confidence and the number of inputs.

    Parameters
    ----------
    probs_mean : torch.Tensor
        One prediction per input (N, C).
    labels : torch.Tensor
        Integer class indices (N,).
    n_bins : int
        Number of bins, 1 to :data:`MAX_BINS`; 15 is the common default.

    Returns
    -------
    ReliabilityBins
    """
    n_bins = _check_bins(n_bins)
    _check_probs("probs_mean", probs_mean, 2)
    labels = _check_labels(labels, probs_mean)
    confidence, predicted = probs_mean.detach().max(dim=1)
    correct = (predicted == labels).double().cpu().numpy()
    conf = confidence.double().cpu().numpy()
    # i / n_bins is the correctly rounded edge; np.linspace's i * (1 / n) can be one ulp off
    edges = np.arange(n_bins + 1) / n_bins
    index = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(index, weights=correct, minlength=n_bins) / counts
        mean_conf = np.bincount(index, weights=conf, minlength=n_bins) / counts
    return ReliabilityBins(edges, (edges[:-1] + edges[1:]) / 2, acc, mean_conf, counts)


def expected_calibration_error(
    probs_mean: torch.Tensor, labels: torch.Tensor, n_bins: int = 15
) -> float:
    """Expected calibration error: ECE = ``sum_b |B_b| / N * |accuracy_b - confidence_b|``.

    The paper reports ECE without its binning; we use ``n_bins`` equal-width confidence bins
    (b / n_bins, (b + 1) / n_bins], confidence 0 in the first bin, as in
    :func:`reliability_diagram_data`. Empty bins contribute nothing.

    Parameters
    ----------
    probs_mean : torch.Tensor
        One prediction per input (N, C).
    labels : torch.Tensor
        Integer class indices (N,).
    n_bins : int
        Number of bins, 1 to :data:`MAX_BINS`, default 15.

    Returns
    -------
    float
        In [0, 1].
    """
    bins = reliability_diagram_data(probs_mean, labels, n_bins)
    filled = bins.counts > 0
    gaps = np.abs(bins.accuracy[filled] - bins.confidence[filled])
    return float((bins.counts[filled] / bins.counts.sum() * gaps).sum())
