"""What the experiments measure: Acc/NLL/ECE/Brier, AUROC/AUPR/FPR95, timing, CIM costs, scales.

Metric names follow torch-uncertainty's keys where one exists (``Acc``, ``NLL``, ``ECE``,
``Brier``, ``AUROC``, ``AUPR``, ``FPR95``); the values come from :mod:`scaledrop_lib.metrics`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from scaledrop_lib.hardware.cim import (
    CIM_KINDS,
    dropout_module_count,
    energy_per_image,
    map_model,
)
from scaledrop_lib.kinds import DropoutKind
from scaledrop_lib.layers.sampling import scale_dropout_layers
from scaledrop_lib.metrics.calibration import expected_calibration_error
from scaledrop_lib.metrics.classification import accuracy, brier_score, negative_log_likelihood
from scaledrop_lib.metrics.ood import aupr, auroc, detection_rate, fpr_at_tpr, ood_rule_statistic
from scaledrop_lib.metrics.predictive import mutual_information, predictive_entropy

#: Keys of the classification metrics, torch-uncertainty's names.
CLASSIFICATION_KEYS = ("Acc", "NLL", "ECE", "Brier")
#: Keys of the OOD metrics: torch-uncertainty's, and the paper's Eq. 24 detection rate.
OOD_KEYS = ("AUROC", "AUPR", "FPR95", "Detection")


def classification_metrics(
    probs_mean: torch.Tensor, labels: torch.Tensor, n_bins: int = 15
) -> dict[str, float]:
    """Accuracy, negative log-likelihood (nats), ECE (``n_bins`` equal-width bins) and the
    multi-class Brier score (sum over classes) of one prediction per input (N, C)."""
    return {
        "Acc": accuracy(probs_mean, labels),
        "NLL": negative_log_likelihood(probs_mean, labels),
        "ECE": expected_calibration_error(probs_mean, labels, n_bins),
        "Brier": brier_score(probs_mean, labels),
    }


def uncertainty_score(samples: torch.Tensor, score: str) -> torch.Tensor:
    """Per-input OOD score of samples (S, N, C), higher = more OOD: the predictive entropy
    or the mutual information (nats)."""
    if score == "entropy":
        return predictive_entropy(samples)
    if score == "mutual_information":
        return mutual_information(samples)
    raise ValueError(f"unknown score {score!r}; choose entropy or mutual_information")


def ood_metrics(scores_in: torch.Tensor, scores_out: torch.Tensor) -> dict[str, float | None]:
    """AUROC, AUPR (OOD positive) and FPR at 95 % TPR of telling ``scores_out`` from
    ``scores_in``; ``None`` for each where the scores are all equal (e.g. the mutual
    information of one deterministic pass), since no threshold separates anything."""
    both = torch.cat([scores_in.flatten(), scores_out.flatten()])
    if float(both.max() - both.min()) <= 1e-12:
        return {"AUROC": None, "AUPR": None, "FPR95": None}
    return {
        "AUROC": auroc(scores_in, scores_out),
        "AUPR": aupr(scores_in, scores_out),
        "FPR95": fpr_at_tpr(scores_in, scores_out, 0.95),
    }


def eq24_detection(samples: torch.Tensor, threshold: float) -> float:
    """Share of inputs the paper's rule (Eq. 24, 10th percentile) flags as OOD."""
    return detection_rate(ood_rule_statistic(samples) < threshold)


def timed(
    predict: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor, device: str
) -> tuple[torch.Tensor, float]:
    """``predict(inputs)`` and its wall time in milliseconds per input, after one warm-up
    call on a few inputs (kernels, caches); CUDA is synchronised around the timed call."""
    predict(inputs[: min(len(inputs), 8)])
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = predict(inputs)
    if cuda:
        torch.cuda.synchronize()
    return out, 1000.0 * (time.perf_counter() - start) / len(inputs)


def cim_costs(
    model: nn.Module, kind: DropoutKind | str, T: int, input_shape: tuple[int, ...] = (3, 32, 32)
) -> dict[str, Any]:
    """Stochastic units and energy per image of ``T`` passes on the CIM model
    (:mod:`scaledrop_lib.hardware.cim`, Tables II and VII).

    Returns ``stochastic_units`` (dropout modules of the binary layers on the crossbars;
    full-precision first and last layers stay digital), ``rng_energy_pj`` (their random bits
    per image) and ``energy_uj`` (everything per image). All ``None`` for a net the model
    does not price (the full-precision MC-Dropout baseline has no binary layers), with the
    reason in ``cim_note``.
    """
    kind = DropoutKind.parse("kind", kind)
    empty = {"stochastic_units": None, "rng_energy_pj": None, "energy_uj": None}
    if kind not in CIM_KINDS:
        return {**empty, "cim_note": f"the CIM model prices binary nets only, not {kind.value!r}"}
    try:
        mapping = map_model(model, input_shape, float_layers="skip")
    except ValueError as error:
        return {**empty, "cim_note": str(error)}
    energy = energy_per_image(mapping, T, dropout=kind)
    return {
        "stochastic_units": sum(dropout_module_count(kind, m.layer) for m in mapping.layers),
        "rng_energy_pj": energy.by_component["rng"],
        "energy_uj": energy.total_uj,
        "cim_note": None,
    }


@torch.no_grad()
def scale_statistics(model: nn.Module) -> list[dict[str, Any]]:
    """Per Scale-Dropout layer, in module order: its name, channels, the learned scale's
    mean, spread (standard deviation over channels, 0 for one channel) and mean
    ``|alpha - r|``, with ``r`` the value a drop puts there (1 for the unitary variant)."""
    stats = []
    for name, layer in scale_dropout_layers(model):
        alpha = layer.alpha.detach().double().cpu()
        r = layer.scale_dropout.replacement(alpha)
        stats.append(
            {
                "layer": name,
                "channels": int(alpha.numel()),
                "alpha_mean": float(alpha.mean()),
                "alpha_sd": float(alpha.std()) if alpha.numel() > 1 else 0.0,
                "alpha_minus_r": float((alpha - r).abs().mean()),
            }
        )
    return stats
