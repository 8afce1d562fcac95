"""Monte-Carlo inference and the uncertainty / calibration / OOD metrics of the book.

Shapes: MC samples of softmax probabilities are (T, N, C): T passes, N inputs, C classes.
Metrics on a single prediction per input take (N, C) (e.g. the predictive mean).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from torch import nn

from scaledrop_lib._checks import check_choice, check_positive_int, check_tensor_dims

INTERPOLATIONS = ("linear", "lower", "higher", "nearest", "midpoint")
_PROB_TOL = 1e-6


# ------------------------------------------------------------------ validation


def _check_probs(name: str, probs: torch.Tensor, ndim: int) -> torch.Tensor:
    check_tensor_dims(name, probs, ndim)
    if not torch.is_floating_point(probs):
        raise TypeError(f"{name} must be a floating-point tensor, got {probs.dtype}")
    if probs.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    if not bool(torch.isfinite(probs).all()):
        raise ValueError(f"{name} must be finite")
    if float(probs.min()) < -_PROB_TOL or float(probs.max()) > 1 + _PROB_TOL:
        raise ValueError(f"{name} must hold probabilities in [0, 1]")
    return probs


def _check_labels(labels: torch.Tensor, n: int) -> torch.Tensor:
    labels = torch.as_tensor(labels)
    check_tensor_dims("labels", labels, 1)
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise TypeError(f"labels must be integer class indices, got {labels.dtype}")
    if labels.shape[0] != n:
        raise ValueError(f"labels must have {n} entries (one per input), got {labels.shape[0]}")
    return labels.long()


def _check_level(level: float) -> float:
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    return float(level)


# ------------------------------------------------------------------ inference


def _set_sampling(model: nn.Module, enabled: bool) -> list[tuple[nn.Module, str, bool]]:
    """Switch every dropout module of ``model`` to sampling; return what to restore."""
    from scaledrop_lib.scaledrop import StochasticModule

    saved: list[tuple[nn.Module, str, bool]] = []
    for module in model.modules():
        if isinstance(module, StochasticModule):
            saved.append((module, "mc", module.mc))
            module.mc = enabled
        elif isinstance(module, nn.modules.dropout._DropoutNd):
            # plain torch dropout samples only in train mode
            saved.append((module, "training", module.training))
            module.training = enabled
    return saved


def _restore(saved: list[tuple[nn.Module, str, bool]]) -> None:
    for module, attribute, value in saved:
        setattr(module, attribute, value)


@contextlib.contextmanager
def _inference(
    model: nn.Module, sampling: bool, device: str | torch.device | None, batch_size: int | None
) -> Iterator[str | torch.device]:
    """Eval mode with dropout sampling on or off, no autograd; restores every flag after.

    Yields the device to run on (default: where the model's parameters are).
    """
    if batch_size is not None:
        check_positive_int("batch_size", batch_size)
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else "cpu"
    was_training = model.training
    model.eval()
    saved = _set_sampling(model, sampling)
    try:
        with torch.inference_mode():
            yield device
    finally:
        _restore(saved)
        model.train(was_training)


def _batched_softmax(model: nn.Module, inputs: torch.Tensor, batch_size: int | None, device):
    if batch_size is None:
        return torch.softmax(model(inputs.to(device)), dim=-1).cpu()
    parts = [
        torch.softmax(model(inputs[i : i + batch_size].to(device)), dim=-1).cpu()
        for i in range(0, len(inputs), batch_size)
    ]
    return torch.cat(parts)


def mc_predict(
    model: nn.Module,
    inputs: torch.Tensor,
    T: int,
    *,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    method: str = "auto",
) -> torch.Tensor:
    """T stochastic forward passes with dropout on at inference: softmax samples (T, N, C).

    BatchNorm uses its running statistics (eval mode) while every dropout module samples
    (Sec. IV-B). The model's mode flags are restored afterwards.

    Two engines give identical results for the same masks: the naive loop (one pass at a time
    over the whole input; replicating the batch T times was measured slower on CPU), and the
    prefix-shared engine of :mod:`scaledrop_lib.fastmc`, which computes each layer's binary
    output once per distinct prefix of Scale-Dropout masks.

    Parameters
    ----------
    model : nn.Module
        Returns logits (N, C).
    inputs : torch.Tensor
        A batch of inputs (N, ...).
    T : int
        Number of Monte-Carlo passes (>= 1).
    batch_size : int, optional
        Split the inputs into chunks of this size (memory).
    device : str or torch.device, optional
        Where to run (default: where the model's parameters are).
    progress : bool
        Show a progress bar over the passes (naive loop only).
    method : {"auto", "naive", "prefix"}
        ``"auto"`` (default) uses the prefix-shared engine when it can prove the model safe
        and no ``batch_size`` is given, else the naive loop, warning only if a module is
        unknown to the engine (element-wise masks, other dropout and residual nets are known
        cases that simply need the loop). ``"prefix"`` asks for the engine and warns whenever
        it falls back; ``"naive"`` always loops.
    """
    from scaledrop_lib.fastmc import prefix_shared_predict, prefix_support, unproven_modules
    from scaledrop_lib.progress import progress as progress_bar

    T = check_positive_int("T", T)
    check_choice("method", method, ("auto", "naive", "prefix"))
    use_prefix = False
    if method != "naive":
        reason = prefix_support(model)
        if batch_size is not None:
            reason = "batch_size splits the input (each chunk draws its own masks)"
        if not reason:
            use_prefix = True
        elif method == "prefix" or unproven_modules(model):
            warnings.warn(
                f"prefix-shared MC not used, running the naive loop: {reason}", stacklevel=2
            )
    with _inference(model, sampling=True, device=device, batch_size=batch_size) as device:
        if use_prefix:
            return prefix_shared_predict(model, inputs.to(device), T)[0].cpu()
        samples = [
            _batched_softmax(model, inputs, batch_size, device)
            for _ in progress_bar(range(T), desc="MC passes", enabled=progress)
        ]
    return torch.stack(samples)


def deterministic_predict(
    model: nn.Module, inputs: torch.Tensor, *, batch_size: int | None = None, device=None
) -> torch.Tensor:
    """One pass with every dropout module off (point estimate): softmax (N, C)."""
    with _inference(model, sampling=False, device=device, batch_size=batch_size) as device:
        return _batched_softmax(model, inputs, batch_size, device)


def ensemble_predict(models: list[nn.Module], inputs: torch.Tensor) -> torch.Tensor:
    """Softmax of each ensemble member, deterministic: (M, N, C), usable like MC samples."""
    if not models:
        raise ValueError("models must not be empty")
    return torch.stack([deterministic_predict(m, inputs) for m in models])


# ------------------------------------------------------------------ Eq. 18-21


def predictive_mean(probs: torch.Tensor) -> torch.Tensor:
    """Eq. 18: mean of the T samples, (N, C)."""
    return _check_probs("probs", probs, 3).mean(dim=0)


def predictive_variance(probs: torch.Tensor) -> torch.Tensor:
    """Eq. 19: variance of the T samples, dividing by T (not T - 1), (N, C)."""
    return _check_probs("probs", probs, 3).var(dim=0, correction=0)


def normal_ci(probs: torch.Tensor, level: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 20: mean -/+ Q * sigma / sqrt(T), Q the standard-normal quantile (1.96 at 95%).

    A confidence interval of the *mean* prediction: it shrinks as 1/sqrt(T). sigma is the
    square root of Eq. 19. Returns (lower, upper), each (N, C).
    """
    from scipy.stats import norm

    level = _check_level(level)
    q = float(norm.ppf(0.5 + level / 2))
    mean = predictive_mean(probs)
    half = q * predictive_variance(probs).sqrt() / math.sqrt(probs.shape[0])
    return mean - half, mean + half


def percentile_ci(
    probs: torch.Tensor, level: float = 0.95, interpolation: str = "linear"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 21: the (100-k)/2 and (100+k)/2 percentiles of the T samples, each (N, C).

    The spread of the *samples* (does not shrink with T). ``interpolation`` is numpy's /
    torch's quantile method; at T = 20 "linear" and "lower" differ.
    """
    level = _check_level(level)
    _check_probs("probs", probs, 3)
    check_choice("interpolation", interpolation, INTERPOLATIONS)
    qs = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=probs.dtype)
    bounds = torch.quantile(probs, qs, dim=0, interpolation=interpolation)
    return bounds[0], bounds[1]


# ------------------------------------------------------------------ entropy, MI


def _entropy(p: torch.Tensor) -> torch.Tensor:
    # 0 * log 0 = 0
    return -(torch.where(p > 0, p * torch.log(p.clamp_min(1e-300)), torch.zeros_like(p))).sum(-1)


def predictive_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the predictive mean, per input (N,): total uncertainty."""
    return _entropy(predictive_mean(probs))


def expected_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Mean over the T passes of each pass's entropy (nats), (N,): the aleatoric part."""
    return _entropy(_check_probs("probs", probs, 3)).mean(dim=0)


def mutual_information(probs: torch.Tensor) -> torch.Tensor:
    """Predictive entropy - expected entropy (nats), (N,): the epistemic part.

    Never negative in exact arithmetic (Jensen); rounding negatives are clamped to 0.
    """
    return (predictive_entropy(probs) - expected_entropy(probs)).clamp_min(0.0)


# ------------------------------------------------------------------ scoring rules


def accuracy(probs_mean: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of inputs whose most probable class is the label."""
    _check_probs("probs_mean", probs_mean, 2)
    labels = _check_labels(labels, probs_mean.shape[0])
    return float((probs_mean.argmax(dim=1) == labels).float().mean())


def negative_log_likelihood(probs_mean: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over inputs of -log p(label) (probabilities clamped at 1e-12)."""
    _check_probs("probs_mean", probs_mean, 2)
    labels = _check_labels(labels, probs_mean.shape[0])
    picked = probs_mean.gather(1, labels[:, None]).squeeze(1)
    return float(-torch.log(picked.clamp_min(1e-12)).mean())


def brier_score(probs_mean: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over inputs of sum_c (p_c - onehot_c)^2: the multi-class Brier score, in [0, 2]."""
    _check_probs("probs_mean", probs_mean, 2)
    labels = _check_labels(labels, probs_mean.shape[0])
    onehot = torch.nn.functional.one_hot(labels, probs_mean.shape[1]).to(probs_mean.dtype)
    return float(((probs_mean - onehot) ** 2).sum(dim=1).mean())


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin statistics of a reliability diagram (NaN accuracy/confidence in empty bins)."""

    edges: np.ndarray
    centers: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray
    counts: np.ndarray


def reliability_diagram_data(
    probs_mean: torch.Tensor, labels: torch.Tensor, n_bins: int = 15
) -> ReliabilityBins:
    """Bin inputs by confidence (max probability) into ``n_bins`` equal-width bins on [0, 1].

    Bins are (lo, hi]; a confidence of exactly 0 goes to the first bin.
    """
    n_bins = check_positive_int("n_bins", n_bins)
    _check_probs("probs_mean", probs_mean, 2)
    labels = _check_labels(labels, probs_mean.shape[0])
    confidence, predicted = probs_mean.max(dim=1)
    correct = (predicted == labels).double().numpy()
    conf = confidence.double().numpy()
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(index, weights=correct, minlength=n_bins) / counts
        mean_conf = np.bincount(index, weights=conf, minlength=n_bins) / counts
    return ReliabilityBins(edges, (edges[:-1] + edges[1:]) / 2, acc, mean_conf, counts)


def expected_calibration_error(
    probs_mean: torch.Tensor, labels: torch.Tensor, n_bins: int = 15
) -> float:
    """ECE = sum_b |B_b| / N * |accuracy_b - confidence_b| over 15 equal-width bins by default."""
    bins = reliability_diagram_data(probs_mean, labels, n_bins)
    filled = bins.counts > 0
    gaps = np.abs(bins.accuracy[filled] - bins.confidence[filled])
    return float((bins.counts[filled] / bins.counts.sum() * gaps).sum())


def reliability_diagram(
    probs_by_method: dict[str, torch.Tensor], labels: torch.Tensor, n_bins: int = 15
) -> go.Figure:
    """Accuracy against confidence per method, with the diagonal of perfect calibration."""
    from scaledrop_lib.plotting import METHOD_COLORS

    if not probs_by_method:
        raise ValueError("probs_by_method must name at least one method")
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot", "color": "#999"}
        )
    )
    for name, probs in probs_by_method.items():
        bins = reliability_diagram_data(probs, labels, n_bins)
        filled = bins.counts > 0
        ece = expected_calibration_error(probs, labels, n_bins)
        fig.add_trace(
            go.Scatter(
                x=np.round(bins.confidence[filled], 4),
                y=np.round(bins.accuracy[filled], 4),
                mode="lines+markers",
                name=f"{name} (ECE {ece:.3f})",
                line={"color": METHOD_COLORS.get(name)},
                customdata=bins.counts[filled],
                hovertemplate="confidence %{x:.3f}<br>accuracy %{y:.3f}<br>%{customdata} inputs",
            )
        )
    fig.update_layout(
        title=f"Reliability diagram ({n_bins} equal-width confidence bins)",
        xaxis_title="mean confidence in bin",
        yaxis_title="accuracy in bin",
        xaxis_range=[0, 1.02],
        yaxis_range=[0, 1.02],
    )
    return fig


# ------------------------------------------------------------------ OOD detection


def _scores(name: str, scores) -> np.ndarray:
    arr = np.asarray(torch.as_tensor(scores).detach().cpu(), dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def auroc(scores_in, scores_out) -> float:
    """Area under the ROC curve for telling OOD (positive) from in-distribution inputs.

    Higher score = more OOD. Computed as the Mann-Whitney U statistic with ties counted
    half: P(score_out > score_in) + 0.5 P(equal).
    """
    s_in, s_out = _scores("scores_in", scores_in), _scores("scores_out", scores_out)
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([s_in, s_out]))  # average ranks for ties
    rank_sum_out = ranks[len(s_in) :].sum()
    u = rank_sum_out - len(s_out) * (len(s_out) + 1) / 2
    return float(u / (len(s_in) * len(s_out)))


def aupr(scores_in, scores_out) -> float:
    """Average precision with OOD as the positive class: sum_n (R_n - R_{n-1}) P_n.

    Thresholds at every distinct score, highest first (scikit-learn's definition).
    """
    s_in, s_out = _scores("scores_in", scores_in), _scores("scores_out", scores_out)
    scores = np.concatenate([s_in, s_out])
    positive = np.concatenate([np.zeros(len(s_in)), np.ones(len(s_out))])
    order = np.argsort(-scores, kind="mergesort")
    scores, positive = scores[order], positive[order]
    # last index of each run of equal scores: a threshold takes the whole tie group
    last = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
    tp = np.cumsum(positive)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / len(s_out)
    recall_prev = np.r_[0.0, recall[:-1]]
    return float(((recall - recall_prev) * precision).sum())


def fpr_at_tpr(scores_in, scores_out, tpr: float = 0.95) -> float:
    """False-positive rate on in-distribution inputs when ``tpr`` of OOD inputs are caught.

    The threshold t is the largest one with fraction(scores_out >= t) >= tpr; the FPR is
    fraction(scores_in >= t).
    """
    s_in, s_out = _scores("scores_in", scores_in), _scores("scores_out", scores_out)
    if not 0.0 < tpr <= 1.0:
        raise ValueError(f"tpr must lie in (0, 1], got {tpr!r}")
    ordered = np.sort(s_out)[::-1]
    needed = math.ceil(tpr * len(ordered) - 1e-9)  # number of OOD scores that must be >= t
    threshold = ordered[needed - 1]
    return float((s_in >= threshold).mean())


def ood_rule(
    probs: torch.Tensor,
    threshold: float = 0.95,
    percentile: float = 10.0,
    interpolation: str = "linear",
) -> torch.Tensor:
    """The paper's OOD rule (Eq. 24): flag an input if max_c percentile_T(p_c) < threshold.

    For each class, take the ``percentile``-th percentile of its T softmax samples; the input
    is OOD when even the best class's percentile stays below ``threshold`` (the model is not
    consistently confident). Returns a bool tensor (N,).
    """
    _check_probs("probs", probs, 3)
    check_choice("interpolation", interpolation, INTERPOLATIONS)
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"percentile must lie in [0, 100], got {percentile!r}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold!r}")
    q = torch.quantile(
        probs, torch.tensor(percentile / 100, dtype=probs.dtype), dim=0, interpolation=interpolation
    )
    return q.max(dim=1).values < threshold


def detection_rate(flags: torch.Tensor) -> float:
    """Fraction of inputs flagged (e.g. by :func:`ood_rule`)."""
    flags = torch.as_tensor(flags)
    if flags.numel() == 0:
        raise ValueError("flags must not be empty")
    return float(flags.float().mean())


@dataclass(frozen=True)
class MCSummary:
    """Headline numbers of a model on labelled inputs (means over inputs)."""

    deterministic_accuracy: float
    mc_accuracy: float
    predictive_entropy: float
    mutual_information: float
    variance: float


def mc_summary(
    model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, T: int = 20
) -> MCSummary:
    """Deterministic and MC accuracy, mean predictive entropy, mutual information and Eq. 19
    variance (summed over classes) of ``model`` with ``T`` passes.

    Seed the model's dropout (:func:`scaledrop_lib.scaledrop.seed_dropout`) for
    reproducible numbers.
    """
    probs = mc_predict(model, inputs, T)
    return MCSummary(
        deterministic_accuracy=accuracy(deterministic_predict(model, inputs), labels),
        mc_accuracy=accuracy(predictive_mean(probs), labels),
        predictive_entropy=float(predictive_entropy(probs).mean()),
        mutual_information=float(mutual_information(probs).mean()),
        variance=float(predictive_variance(probs).sum(dim=1).mean()),
    )


@dataclass(frozen=True)
class TSweep:
    """Accuracy and mean predictive entropy of the MC mean after the first T passes.

    ``accuracy[s, i]`` and ``entropy[s, i]`` belong to seed ``seeds[s]`` and ``Ts[i]``.
    """

    Ts: list[int]
    seeds: list[int]
    accuracy: np.ndarray
    entropy: np.ndarray


def sweep_T(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    Ts: list[int],
    seeds: list[int],
) -> TSweep:
    """How the MC estimate settles as T grows, for several seeds of the dropout masks.

    For each seed the model's dropout modules are reseeded
    (:func:`scaledrop_lib.scaledrop.seed_dropout`) and ``max(Ts)`` passes are drawn once; the
    estimate at T uses the first T of them (nested samples, as one would take them).
    """
    from scaledrop_lib.scaledrop import seed_dropout

    if not Ts or not seeds:
        raise ValueError("Ts and seeds must not be empty")
    for T in Ts:
        check_positive_int("T", T)
    acc = np.zeros((len(seeds), len(Ts)))
    ent = np.zeros((len(seeds), len(Ts)))
    for s, seed in enumerate(seeds):
        seed_dropout(model, seed)
        probs = mc_predict(model, inputs, max(Ts))
        for i, T in enumerate(Ts):
            acc[s, i] = accuracy(probs[:T].mean(dim=0), labels)
            ent[s, i] = float(predictive_entropy(probs[:T]).mean())
    return TSweep(list(Ts), list(seeds), acc, ent)


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
