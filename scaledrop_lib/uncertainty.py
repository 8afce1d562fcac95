"""Monte-Carlo inference and the uncertainty / calibration / OOD metrics of the book.

Shapes: MC samples of softmax probabilities are (T, N, C): T passes, N inputs, C classes.
Metrics on a single prediction per input take (N, C) (e.g. the predictive mean, Eq. 18).
Every function here is pure (no model, no random numbers) except :func:`mc_predict`,
:func:`deterministic_predict`, :func:`ensemble_predict`, :func:`mc_summary` and
:func:`sweep_T`, which run a model.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from torch import nn

from scaledrop_lib._checks import (
    check_choice,
    check_positive_int,
    check_probability,
    check_tensor_dims,
)

#: Interpolation methods of :func:`percentile_ci` and :func:`ood_rule` (numpy's / torch's names).
INTERPOLATIONS = ("linear", "lower", "higher", "nearest", "midpoint")
_PROB_TOL = 1e-6
# torch.quantile refuses inputs above 2**24 elements in the torch versions pyproject allows
# (pytorch issue 64947); larger sample tensors are processed in chunks of inputs.
_QUANTILE_MAX_ELEMENTS = 2**24


# ------------------------------------------------------------------ validation


def _check_probs(name: str, probs: torch.Tensor, ndim: int) -> torch.Tensor:
    """Raise unless ``probs`` is a non-empty float tensor of ``ndim`` dims with values in [0, 1]."""
    check_tensor_dims(name, probs, ndim)
    if not torch.is_floating_point(probs):
        raise TypeError(f"{name} must be a floating-point tensor, got {probs.dtype}")
    if probs.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(probs.shape)}")
    if not bool(torch.isfinite(probs).all()):
        raise ValueError(f"{name} must be finite (it holds NaN or inf)")
    low, high = float(probs.min()), float(probs.max())
    if low < -_PROB_TOL or high > 1 + _PROB_TOL:
        raise ValueError(f"{name} must hold probabilities in [0, 1], got values in [{low}, {high}]")
    return probs


def _check_labels(labels: torch.Tensor, probs_mean: torch.Tensor) -> torch.Tensor:
    """Labels as int64 on the device of ``probs_mean``: 1-D, one per row, each in [0, C)."""
    labels = torch.as_tensor(labels)
    check_tensor_dims("labels", labels, 1)
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"labels must be integer class indices, got {labels.dtype}")
    n, n_classes = probs_mean.shape
    if labels.shape[0] != n:
        raise ValueError(f"labels must have {n} entries (one per input), got {labels.shape[0]}")
    if bool(((labels < 0) | (labels >= n_classes)).any()):
        raise ValueError(f"labels must lie in [0, {n_classes - 1}] (C = {n_classes} classes)")
    return labels.long().to(probs_mean.device)


def _check_level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, numbers.Real):
        raise TypeError(f"level must be a real number in (0, 1), got {type(level).__name__}")
    if not 0.0 < float(level) < 1.0:  # also rejects NaN
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    return float(level)


def _quantile_over_T(probs: torch.Tensor, qs: list[float], interpolation: str) -> torch.Tensor:
    """Quantiles ``qs`` (in [0, 1]) of the T samples of every (input, class): (len(qs), N, C)."""
    q = torch.tensor(qs, dtype=probs.dtype, device=probs.device)
    T, N, C = probs.shape
    chunk = max(1, _QUANTILE_MAX_ELEMENTS // (T * C))  # inputs per torch.quantile call
    parts = [
        torch.quantile(probs[:, i : i + chunk], q, dim=0, interpolation=interpolation)
        for i in range(0, N, chunk)
    ]
    return torch.cat(parts, dim=1)


# ------------------------------------------------------------------ inference


def _set_sampling(model: nn.Module, enabled: bool) -> list[tuple[nn.Module, str, bool]]:
    """Switch every dropout module of ``model`` to sampling (or not); return what to restore.

    The library's dropout modules (:class:`scaledrop_lib.scaledrop.StochasticModule`), and any
    other module with a boolean ``mc`` switch, sample when ``mc`` is on; plain torch dropout
    samples only in train mode. Saving each flag (rather than calling
    :func:`scaledrop_lib.scaledrop.set_mc_mode` twice) gives back exactly the previous state,
    also an ``mc`` that a caller had switched on.
    """
    saved: list[tuple[nn.Module, str, bool]] = []
    for module in model.modules():
        if isinstance(getattr(module, "mc", None), bool):
            saved.append((module, "mc", module.mc))
            module.mc = enabled
        elif isinstance(module, nn.modules.dropout._DropoutNd):
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
    # every module's own flag: model.train(flag) would overwrite a mixed state (e.g. a
    # BatchNorm frozen in eval mode inside a model that trains)
    training = [(module, module.training) for module in model.modules()]
    model.eval()
    saved = _set_sampling(model, sampling)
    try:
        with torch.inference_mode():
            yield device
    finally:
        _restore(saved)
        for module, flag in training:
            module.training = flag


def _check_inputs(inputs: torch.Tensor) -> torch.Tensor:
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    if inputs.dim() == 0 or inputs.shape[0] == 0:
        raise ValueError(f"inputs must be a non-empty batch (N, ...), got {tuple(inputs.shape)}")
    return inputs


def _batched_outputs(
    model: nn.Module, inputs: torch.Tensor, batch_size: int | None, device, logits: bool = False
):
    def head(x: torch.Tensor) -> torch.Tensor:
        out = model(x.to(device))
        return (out if logits else torch.softmax(out, dim=-1)).cpu()

    if batch_size is None:
        return head(inputs)
    return torch.cat([head(inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)])


def mc_predict(
    model: nn.Module,
    inputs: torch.Tensor,
    T: int,
    *,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    method: str = "auto",
    logits: bool = False,
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
    logits : bool
        Return the softmax *inputs* (logits) of every pass instead of the probabilities
        (e.g. for the paper's Fig. 5, which shows both).

    Returns
    -------
    torch.Tensor
        Softmax probabilities (or logits) (T, N, C), on the CPU.

    Notes
    -----
    Sampling modules: every module with a boolean ``mc`` switch (the library's dropout
    modules) gets ``mc = True``, and plain ``torch.nn`` dropout modules (``Dropout``,
    ``Dropout2d``, ...) alone are put in train mode. Every flag is restored afterwards, also
    when a pass raises. Randomness comes from the modules' own generators (see
    :func:`scaledrop_lib.scaledrop.seed_dropout`); plain torch dropout draws from torch's
    global generator, which this function neither seeds nor touches otherwise.
    """
    from scaledrop_lib.fastmc import prefix_shared_predict, prefix_support, unproven_modules
    from scaledrop_lib.progress import progress as progress_bar

    T = check_positive_int("T", T)
    _check_inputs(inputs)
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
            return prefix_shared_predict(model, inputs.to(device), T, logits=logits)[0].cpu()
        samples = [
            _batched_outputs(model, inputs, batch_size, device, logits=logits)
            for _ in progress_bar(range(T), desc="MC passes", enabled=progress)
        ]
    return torch.stack(samples)


def deterministic_predict(
    model: nn.Module,
    inputs: torch.Tensor,
    *,
    batch_size: int | None = None,
    device=None,
    logits: bool = False,
) -> torch.Tensor:
    """One pass with every dropout module off (the point estimate): softmax (N, C), on the CPU.

    The whole model is in eval mode and every ``mc`` switch is off for the call; all flags are
    restored afterwards. ``batch_size``, ``device`` and ``logits`` are as in
    :func:`mc_predict`.
    """
    _check_inputs(inputs)
    with _inference(model, sampling=False, device=device, batch_size=batch_size) as device:
        return _batched_outputs(model, inputs, batch_size, device, logits=logits)


def ensemble_predict(models: list[nn.Module], inputs: torch.Tensor) -> torch.Tensor:
    """Softmax of each ensemble member, deterministic: (M, N, C), usable like MC samples."""
    if not models:
        raise ValueError("models must not be empty")
    return torch.stack([deterministic_predict(m, inputs) for m in models])


# ------------------------------------------------------------------ Eq. 18-21


def predictive_mean(probs: torch.Tensor) -> torch.Tensor:
    """Eq. 18: the mean of the T softmax samples, the MC prediction.

    Parameters
    ----------
    probs : torch.Tensor
        MC samples (T, N, C) of softmax probabilities.

    Returns
    -------
    torch.Tensor
        (N, C).
    """
    return _check_probs("probs", probs, 3).mean(dim=0)


def predictive_variance(probs: torch.Tensor) -> torch.Tensor:
    """Eq. 19: the variance of the T samples per input and class, dividing by T.

    The paper's estimator is the population variance (divide by T), not the unbiased one
    (T - 1) that ``torch.var`` uses by default; at T = 20 they differ by 5 %.

    Parameters
    ----------
    probs : torch.Tensor
        MC samples (T, N, C).

    Returns
    -------
    torch.Tensor
        (N, C); zero when T = 1.
    """
    return _check_probs("probs", probs, 3).var(dim=0, correction=0)


def normal_ci(probs: torch.Tensor, level: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 20: mean -/+ Q * sigma / sqrt(T), Q the standard-normal quantile (1.96 at 95 %).

    This is a confidence interval of the *mean* prediction (Eq. 18), not of a single pass: it
    shrinks as 1/sqrt(T), whereas the spread of the samples (Eq. 21, :func:`percentile_ci`)
    does not. The two answer different questions and need not agree.

    Parameters
    ----------
    probs : torch.Tensor
        MC samples (T, N, C) of probabilities; for logits use :func:`sample_mean_ci`.
    level : float
        Coverage in (0, 1); Q = ``scipy.stats.norm.ppf(0.5 + level / 2)``.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Lower and upper bounds, each (N, C). sigma is the square root of Eq. 19 (divide by
        T); the bounds are not clipped to [0, 1].
    """
    _check_probs("probs", probs, 3)
    return sample_mean_ci(probs, level)


def sample_mean_ci(samples: torch.Tensor, level: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 20 for any real-valued MC samples (T, N, C), e.g. the logits of Fig. 5.

    mean over T -/+ Q * sigma / sqrt(T), with sigma the population standard deviation
    (divide by T, as Eq. 19) and Q = ``scipy.stats.norm.ppf(0.5 + level / 2)``.
    """
    from scipy.stats import norm

    check_tensor_dims("samples", samples, 3)
    if not torch.is_floating_point(samples):
        raise TypeError(f"samples must be a floating-point tensor, got {samples.dtype}")
    if samples.numel() == 0 or not bool(torch.isfinite(samples).all()):
        raise ValueError("samples must be non-empty and finite")
    level = _check_level(level)
    q = float(norm.ppf(0.5 + level / 2))
    mean = samples.mean(dim=0)
    sigma = samples.var(dim=0, unbiased=False).sqrt()
    half = q * sigma / math.sqrt(samples.shape[0])
    return mean - half, mean + half


def percentile_ci(
    probs: torch.Tensor, level: float = 0.95, interpolation: str = "linear"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 21: the (100 - k)/2-th and (100 + k)/2-th percentiles of the T samples, k = 100 * level.

    The spread of the *samples* themselves (it does not shrink as T grows).

    Parameters
    ----------
    probs : torch.Tensor
        MC samples (T, N, C).
    level : float
        Coverage in (0, 1), e.g. 0.95 for the 2.5th and 97.5th percentiles.
    interpolation : {"linear", "lower", "higher", "nearest", "midpoint"}
        How a percentile between two order statistics is read, as ``torch.quantile``'s
        ``interpolation`` and numpy's ``method`` (same definitions). The paper does not say;
        at T = 20 "linear" and "lower" differ.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Lower and upper bounds, each (N, C).
    """
    level = _check_level(level)
    _check_probs("probs", probs, 3)
    check_choice("interpolation", interpolation, INTERPOLATIONS)
    bounds = _quantile_over_T(probs, [(1 - level) / 2, (1 + level) / 2], interpolation)
    return bounds[0], bounds[1]


# ------------------------------------------------------------------ entropy, MI


def _entropy(p: torch.Tensor) -> torch.Tensor:
    # 0 * log 0 = 0: the where keeps log's -inf (and its NaN product) out of the sum
    return -(torch.where(p > 0, p * torch.log(p.clamp_min(1e-300)), torch.zeros_like(p))).sum(-1)


def predictive_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the predictive mean (Eq. 18), per input: the total uncertainty.

    H[p_bar] = -sum_c p_bar_c log p_bar_c, with 0 log 0 = 0; between 0 (one-hot) and log C
    (uniform).

    Parameters
    ----------
    probs : torch.Tensor
        MC samples (T, N, C).

    Returns
    -------
    torch.Tensor
        (N,).
    """
    return _entropy(predictive_mean(probs))


def expected_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Mean over the T passes of each pass's entropy (nats), per input: the aleatoric part.

    Parameters
    ----------
    probs : torch.Tensor
        MC samples (T, N, C).

    Returns
    -------
    torch.Tensor
        (N,).
    """
    return _entropy(_check_probs("probs", probs, 3)).mean(dim=0)


def mutual_information(probs: torch.Tensor) -> torch.Tensor:
    """Predictive entropy minus expected entropy (nats), per input: the epistemic part.

    Zero when all T passes agree; never negative in exact arithmetic (Jensen's inequality),
    so the tiny negatives that rounding leaves are clamped to 0.

    Parameters
    ----------
    probs : torch.Tensor
        MC samples (T, N, C).

    Returns
    -------
    torch.Tensor
        (N,).
    """
    return (predictive_entropy(probs) - expected_entropy(probs)).clamp_min(0.0)


# ------------------------------------------------------------------ scoring rules


def accuracy(probs_mean: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of inputs whose most probable class (first one on ties) is the label.

    Parameters
    ----------
    probs_mean : torch.Tensor
        One prediction per input (N, C), e.g. :func:`predictive_mean`.
    labels : torch.Tensor
        Integer class indices (N,).
    """
    _check_probs("probs_mean", probs_mean, 2)
    labels = _check_labels(labels, probs_mean)
    return float((probs_mean.argmax(dim=1) == labels).float().mean())


def negative_log_likelihood(probs_mean: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over inputs of -log p(label), in nats.

    The probability of the label is clamped at 1e-12 so a confident mistake costs
    -log(1e-12) ~ 27.6 instead of infinity.

    Parameters
    ----------
    probs_mean : torch.Tensor
        One prediction per input (N, C).
    labels : torch.Tensor
        Integer class indices (N,).
    """
    _check_probs("probs_mean", probs_mean, 2)
    labels = _check_labels(labels, probs_mean)
    picked = probs_mean.gather(1, labels[:, None]).squeeze(1)
    return float(-torch.log(picked.clamp_min(1e-12)).mean())


def brier_score(probs_mean: torch.Tensor, labels: torch.Tensor) -> float:
    """Multi-class Brier score: mean over inputs of sum_c (p_c - onehot_c)^2, in [0, 2].

    This is the sum over all C classes (Brier's original definition). For two classes it is
    twice scikit-learn's ``brier_score_loss``, which scores only the positive class.

    Parameters
    ----------
    probs_mean : torch.Tensor
        One prediction per input (N, C).
    labels : torch.Tensor
        Integer class indices (N,).
    """
    _check_probs("probs_mean", probs_mean, 2)
    labels = _check_labels(labels, probs_mean)
    onehot = torch.nn.functional.one_hot(labels, probs_mean.shape[1]).to(probs_mean.dtype)
    return float(((probs_mean - onehot) ** 2).sum(dim=1).mean())


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
        Number of bins (>= 1); 15 is the common default.

    Returns
    -------
    ReliabilityBins
    """
    n_bins = check_positive_int("n_bins", n_bins)
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
    """Expected calibration error: ECE = sum_b |B_b| / N * |accuracy_b - confidence_b|.

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
        Number of bins (>= 1), default 15.

    Returns
    -------
    float
        In [0, 1].
    """
    bins = reliability_diagram_data(probs_mean, labels, n_bins)
    filled = bins.counts > 0
    gaps = np.abs(bins.accuracy[filled] - bins.confidence[filled])
    return float((bins.counts[filled] / bins.counts.sum() * gaps).sum())


def reliability_diagram(
    probs_by_method: dict[str, torch.Tensor], labels: torch.Tensor, n_bins: int = 15
) -> go.Figure:
    """Accuracy against mean confidence per bin, one line per method, and the diagonal.

    Parameters
    ----------
    probs_by_method : dict of str to torch.Tensor
        Method name -> one prediction per input (N, C). Names in
        :data:`scaledrop_lib.plotting.METHOD_COLORS` get their fixed colour.
    labels : torch.Tensor
        Integer class indices (N,), shared by all methods.
    n_bins : int
        Number of equal-width confidence bins (as :func:`expected_calibration_error`).

    Returns
    -------
    plotly.graph_objects.Figure
        The diagonal of perfect calibration first, then one trace per method (empty bins
        left out), its ECE in the legend.
    """
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
    half: P(score_out > score_in) + 0.5 P(score_out = score_in), which equals the
    trapezoidal area under the ROC curve (scikit-learn's ``roc_auc_score``).

    Parameters
    ----------
    scores_in, scores_out : array-like or torch.Tensor
        Scores of the in-distribution and OOD inputs (any shape, flattened), finite.

    Returns
    -------
    float
        In [0, 1]; 0.5 for indistinguishable scores.
    """
    from scipy.stats import rankdata

    s_in, s_out = _scores("scores_in", scores_in), _scores("scores_out", scores_out)
    ranks = rankdata(np.concatenate([s_in, s_out]))  # average ranks: a tie counts half
    rank_sum_out = ranks[len(s_in) :].sum()
    u = rank_sum_out - len(s_out) * (len(s_out) + 1) / 2
    return float(u / (len(s_in) * len(s_out)))


def aupr(scores_in, scores_out) -> float:
    """Area under the precision-recall curve with OOD as the positive class (average precision).

    AP = sum_n (R_n - R_{n-1}) P_n over the thresholds at every distinct score, highest
    first, R_0 = 0 (scikit-learn's ``average_precision_score``: a step function, no
    interpolation). Tied scores enter together.

    Parameters
    ----------
    scores_in, scores_out : array-like or torch.Tensor
        Scores of the in-distribution and OOD inputs (higher = more OOD), finite.

    Returns
    -------
    float
        In [0, 1]; the OOD fraction for uninformative scores.
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
    """False-positive rate on in-distribution inputs when a fraction ``tpr`` of OOD is caught.

    The threshold t is the largest one with fraction(scores_out >= t) >= ``tpr`` (that is, the
    ceil(tpr * n_out)-th largest OOD score); the result is fraction(scores_in >= t). An input
    is flagged when its score is >= t.

    Parameters
    ----------
    scores_in, scores_out : array-like or torch.Tensor
        Scores of the in-distribution and OOD inputs (higher = more OOD), finite.
    tpr : float
        Required detection rate in (0, 1], default 0.95 (FPR@95TPR).

    Returns
    -------
    float
        In [0, 1].
    """
    s_in, s_out = _scores("scores_in", scores_in), _scores("scores_out", scores_out)
    if isinstance(tpr, bool) or not isinstance(tpr, numbers.Real):
        raise TypeError(f"tpr must be a real number in (0, 1], got {type(tpr).__name__}")
    if not 0.0 < tpr <= 1.0:
        raise ValueError(f"tpr must lie in (0, 1], got {tpr!r}")
    ordered = np.sort(s_out)[::-1]
    # number of OOD scores that must be >= t; the 1e-9 keeps float products such as
    # 0.07 * 100 = 7.000000000000001 from asking for 8 (7 / 100 >= 0.07 already holds)
    needed = math.ceil(tpr * len(ordered) - 1e-9)
    threshold = ordered[needed - 1]
    return float((s_in >= threshold).mean())


def ood_rule_statistic(
    probs: torch.Tensor, percentile: float = 10.0, interpolation: str = "linear"
) -> torch.Tensor:
    """The quantity Eq. 24 thresholds: max over classes of the ``percentile``-th percentile of
    the T softmax samples, per input (N,). Low = OOD; use its negative as an OOD score
    (e.g. for :func:`auroc`, to judge the rule at every threshold at once).
    """
    _check_probs("probs", probs, 3)
    check_choice("interpolation", interpolation, INTERPOLATIONS)
    if isinstance(percentile, bool) or not isinstance(percentile, numbers.Real):
        raise TypeError(f"percentile must be a real number, got {type(percentile).__name__}")
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"percentile must lie in [0, 100], got {percentile!r}")
    return _quantile_over_T(probs, [percentile / 100], interpolation)[0].max(dim=1).values


def ood_rule(
    probs: torch.Tensor,
    threshold: float = 0.95,
    percentile: float = 10.0,
    interpolation: str = "linear",
) -> torch.Tensor:
    """The paper's OOD rule (Eq. 24): flag an input if max_c percentile_T(p_c) < threshold.

    For each class, take the ``percentile``-th percentile of its T softmax samples; the input
    is OOD when even the best class's percentile stays below ``threshold``, i.e. the model
    is not confident in any class in at least (100 - percentile) % of the passes. The
    paper's wording (P:285-287) is muddled; this is how PAPER-NOTES reads it.

    Parameters
    ----------
    probs : torch.Tensor
        MC samples (T, N, C).
    threshold : float
        In [0, 1], the paper's 0.95.
    percentile : float
        In [0, 100], the paper's 10.
    interpolation : {"linear", "lower", "higher", "nearest", "midpoint"}
        As in :func:`percentile_ci`; at T = 20 "linear" and "lower" differ, and the paper
        does not say which it used.

    Returns
    -------
    torch.Tensor
        Bool (N,), True = flagged as OOD.
    """
    threshold = check_probability("threshold", threshold)
    return ood_rule_statistic(probs, percentile, interpolation) < threshold


def detection_rate(flags: torch.Tensor) -> float:
    """Fraction of inputs flagged, e.g. by :func:`ood_rule` on OOD (or in-distribution) data.

    Parameters
    ----------
    flags : torch.Tensor
        Bool (N,), or integers 0/1.
    """
    flags = torch.as_tensor(flags)
    check_tensor_dims("flags", flags, 1)
    if flags.numel() == 0:
        raise ValueError("flags must not be empty")
    if flags.dtype != torch.bool and not bool(((flags == 0) | (flags == 1)).all()):
        raise ValueError("flags must be booleans (or 0/1)")
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
