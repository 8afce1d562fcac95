"""Where Scale-Dropout can act: why its Monte-Carlo uncertainty is nearly invisible.

Sign invariance. In a binary unit with the scale inside BatchNorm (the library's default
placement, :mod:`scaledrop_lib.models.units`), channel i outputs
``alpha_i * n_i + beta_i`` with ``n_i`` the normalised pre-activation, and the next binary
layer only sees its sign. For alpha_i > 0,

    sign(alpha_i n + beta_i) = sign(n + beta_i / alpha_i),

so dropping alpha_i to r (Eq. 6; r = 1 for the unitary variant) only moves the channel's
threshold from ``-beta_i / alpha_i`` to ``-beta_i / r``: a shift of
``|beta_i| |1/alpha_i - 1/r|``. When the learned shifts beta are small and alpha stays near r,
the shift is tiny next to the spread of ``n`` (about 1 after BatchNorm), and almost no sign
flips. Only a scale whose output reaches a real-valued consumer (the last binary unit, which
feeds the full-precision classifier through Hardtanh) changes values directly.

This module measures that per layer (:func:`layer_mechanisms`), summarises a method's
uncertainty against the deterministic net's softmax entropy (:func:`uncertainty_summary`), and
shows the Monte-Carlo estimate converging to the exact mixture of 2^L networks
(:func:`mc_convergence`). The training sweep over what the paper leaves open lives in
:mod:`scaledrop_lib.studies.sensitivity`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from scaledrop_lib._checks import check_positive_int
from scaledrop_lib.inference.exact import exact_predictive
from scaledrop_lib.inference.mc import mc_predict
from scaledrop_lib.layers.binary import SignActivation, sign_pm1
from scaledrop_lib.layers.dropout import ScaleDropout
from scaledrop_lib.layers.sampling import sampling, seed_dropout
from scaledrop_lib.metrics.calibration import expected_calibration_error
from scaledrop_lib.metrics.classification import accuracy, brier_score, negative_log_likelihood
from scaledrop_lib.metrics.ood import auroc, detection_rate, fpr_at_tpr, ood_rule
from scaledrop_lib.metrics.predictive import mutual_information, predictive_entropy, predictive_mean
from scaledrop_lib.models.stages import Stage, iter_stages, output_from_binary
from scaledrop_lib.models.units import ScaledBinaryUnit
from scaledrop_lib.studies.shift import Predictor

_REAL_VALUED_LAYERS = (nn.Linear, nn.Conv2d)


@dataclass(frozen=True)
class LayerMechanism:
    """What dropping one layer's scale can do (all means are over the layer's channels).

    Attributes
    ----------
    position : int
        The layer's place among the model's Scale-Dropout layers (0 = first).
    module_index : int
        Its index in the ``nn.Sequential``.
    channels : int
        Output channels (entries of alpha).
    alpha_minus_r : float
        Mean ``|alpha_i - r_i|``: how far the learned scale is from what a drop puts there.
    threshold_shift : float
        Mean ``|beta_i / alpha_i - beta_i / r_i|``, the distance a drop moves each sign
        threshold (NaN where the unit has no learned shift, i.e. not ``inside_bn``).
    presign_spread : float
        Mean standard deviation of the normalised pre-activation ``n_i`` on the inputs (the
        scale the threshold shift should be compared with).
    sign_flip_share : float
        Share of the unit's output signs (over inputs, positions and channels) that differ
        when only this layer's scale is dropped.
    prediction_flip_share : float
        Share of inputs whose predicted class changes when only this layer's scale is
        dropped (every other scale kept).
    real_valued_consumer : bool
        Whether the unit's output reaches a real-valued layer before any sign (then its scale
        changes values, not only signs).
    """

    position: int
    module_index: int
    channels: int
    alpha_minus_r: float
    threshold_shift: float
    presign_spread: float
    sign_flip_share: float
    prediction_flip_share: float
    real_valued_consumer: bool

    @property
    def relative_shift(self) -> float:
        """threshold_shift / presign_spread: the share of the activations' spread a drop
        moves the thresholds by."""
        return self.threshold_shift / self.presign_spread

    def to_dict(self) -> dict:
        return {**asdict(self), "relative_shift": self.relative_shift}


def _scale_stages(model: nn.Module) -> tuple[list[Stage], list[Stage]]:
    stages = list(iter_stages(model))
    carriers = [
        s
        for s in stages
        if s.binary_layer is not None and isinstance(s.binary_layer.scale_dropout, ScaleDropout)
    ]
    if not carriers:
        raise ValueError("model has no binary layer with a ScaleDropout module")
    return stages, carriers


def _real_valued_consumer(stages: list[Stage], index: int) -> bool:
    """Whether the output of stage ``index`` reaches a real-valued layer before any sign."""
    for stage in stages[index + 1 :]:
        if stage.binary_layer is not None:
            return not stage.binary_layer.binarize_input
        if isinstance(stage.module, SignActivation):
            return False
        if isinstance(stage.module, _REAL_VALUED_LAYERS):
            return True
    return True  # the network's output itself is real-valued


def _forward(stages: list[Stage], x: torch.Tensor, scales: Mapping[int, torch.Tensor]):
    """The deterministic forward pass with the scales of some stages overridden; returns the
    logits and each overridden-or-carrier stage's input (by stage index)."""
    inputs: dict[int, torch.Tensor] = {}
    for stage in stages:
        if stage.binary_layer is not None:
            inputs[stage.index] = x
        if stage.index in scales:
            z = stage.binary_layer.binary_output(x)
            x = output_from_binary(stage.module, z, scales[stage.index])
        else:
            x = stage.module(x)
    return x, inputs


@torch.no_grad()
def layer_mechanisms(model: nn.Module, inputs: torch.Tensor, seed: int = 0) -> list[LayerMechanism]:
    """Measure, for every Scale-Dropout layer, what a drop of that layer alone can change.

    Parameters
    ----------
    model : nn.Sequential
        A trained network with :class:`~scaledrop_lib.layers.dropout.ScaleDropout` on its
        binary layers (any variant, placement and granularity; a dropped layer drops every
        channel).
    inputs : torch.Tensor
        A batch (N, ...), e.g. the test images.
    seed : int
        Seeds the replacement draw of the ``random`` variant.

    Returns
    -------
    list of LayerMechanism
        One per Scale-Dropout layer, in network order.
    """
    if not isinstance(inputs, torch.Tensor) or inputs.dim() == 0 or len(inputs) == 0:
        raise ValueError("inputs must be a non-empty batch tensor (N, ...)")
    stages, carriers = _scale_stages(model)
    torch.manual_seed(seed)  # only the random variant draws
    results = []
    with sampling(model, mc=False):
        reference, stage_inputs = _forward(stages, inputs, {})
        predicted = reference.argmax(dim=1)
        for position, stage in enumerate(carriers):
            layer, unit = stage.binary_layer, stage.module
            alpha = layer.alpha.detach()
            r = layer.scale_dropout.replacement(alpha).detach()
            z = layer.binary_output(stage_inputs[stage.index])
            kept = output_from_binary(unit, z, alpha)
            dropped = output_from_binary(unit, z, r)
            dims = [d for d in range(z.dim()) if d != 1]
            if isinstance(unit, ScaledBinaryUnit) and unit.shift is not None:
                normalised = unit.norm(z)
                beta = unit.shift.detach()
                shift = float((beta / alpha - beta / r).abs().mean())
            else:
                normalised = z
                shift = math.nan
            spread = float(normalised.std(dim=dims).mean())
            logits, _ = _forward(stages, inputs, {stage.index: r})
            results.append(
                LayerMechanism(
                    position=position,
                    module_index=stage.index,
                    channels=int(alpha.numel()),
                    alpha_minus_r=float((alpha - r).abs().mean()),
                    threshold_shift=shift,
                    presign_spread=spread,
                    sign_flip_share=float((sign_pm1(kept) != sign_pm1(dropped)).float().mean()),
                    prediction_flip_share=float((logits.argmax(dim=1) != predicted).float().mean()),
                    real_valued_consumer=_real_valued_consumer(stages, stage.index),
                )
            )
    return results


@dataclass(frozen=True)
class UncertaintySummary:
    """A sampled predictor's uncertainty against a deterministic reference's softmax.

    AUROCs are for telling errors (or OOD inputs) from correct (or in-distribution) inputs,
    higher score = more uncertain; each predictor is judged on its own errors. ``reference``
    is the deterministic softmax entropy every uncertainty method must beat.

    Attributes
    ----------
    samples : int
        Samples per input (T for MC, members for an ensemble).
    accuracy, reference_accuracy : float
        Accuracy of the predictive mean and of the reference pass.
    nll, ece, brier : float
        Of the predictive mean (ECE with 15 bins); ``reference_*`` of the reference pass.
    mutual_information : float
        Mean MI in nats (epistemic uncertainty).
    entropy_gain : float
        Mean (predictive entropy - reference entropy): what sampling adds.
    error_auroc_entropy, error_auroc_mi, error_auroc_reference : float
        Error detection by predictive entropy, by MI, and by the reference entropy.
    ood_auroc_entropy, ood_auroc_mi, ood_auroc_reference : float
        Mean over the OOD sets of the same AUROCs (in-distribution: the clean inputs).
    ood_fpr95_entropy, ood_fpr95_reference : float
        Mean over the OOD sets of the FPR at 95 % TPR (entropy as the score).
    eq24_ood_rate, eq24_clean_rate : float
        The paper's rule (Eq. 24) on the method's samples: mean share of each OOD set flagged,
        and the share of the clean inputs wrongly flagged.
    reference_eq24_ood_rate, reference_eq24_clean_rate : float
        The same for the reference pass (one sample: flagged when max softmax < 0.95).
    """

    samples: int
    accuracy: float
    reference_accuracy: float
    nll: float
    reference_nll: float
    ece: float
    reference_ece: float
    brier: float
    reference_brier: float
    mutual_information: float
    entropy_gain: float
    error_auroc_entropy: float
    error_auroc_mi: float
    error_auroc_reference: float
    ood_auroc_entropy: float
    ood_auroc_mi: float
    ood_auroc_reference: float
    ood_fpr95_entropy: float
    ood_fpr95_reference: float
    eq24_ood_rate: float
    eq24_clean_rate: float
    reference_eq24_ood_rate: float
    reference_eq24_clean_rate: float

    @property
    def error_gain(self) -> float:
        """Error-detection AUROC of the predictive entropy minus the reference's."""
        return self.error_auroc_entropy - self.error_auroc_reference

    @property
    def ood_gain(self) -> float:
        """Mean OOD AUROC of the predictive entropy minus the reference's."""
        return self.ood_auroc_entropy - self.ood_auroc_reference

    def to_dict(self) -> dict:
        return {**asdict(self), "error_gain": self.error_gain, "ood_gain": self.ood_gain}


def _error_auroc(scores: torch.Tensor, wrong: torch.Tensor) -> float:
    if bool(wrong.all()) or not bool(wrong.any()):
        return math.nan  # no errors (or nothing right): nothing to detect
    return auroc(scores[~wrong], scores[wrong])


def uncertainty_summary(
    sample: Predictor,
    reference: Predictor,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    ood_inputs: Mapping[str, torch.Tensor] | Sequence[torch.Tensor] = (),
) -> UncertaintySummary:
    """Summarise ``sample`` (inputs -> (S, N, C) probabilities) against ``reference``.

    Parameters
    ----------
    sample : callable
        The method, e.g. :func:`~scaledrop_lib.studies.shift.mc_predictor` or
        :func:`~scaledrop_lib.studies.shift.ensemble_predictor`.
    reference : callable
        The deterministic baseline, e.g.
        :func:`~scaledrop_lib.studies.shift.deterministic_predictor` of the same model (or of
        an ensemble's first member); its MI is 0 by construction.
    inputs, labels : torch.Tensor
        Clean test inputs (N, ...) and labels (N,).
    ood_inputs : mapping or sequence of torch.Tensor
        OOD sets; empty gives NaN OOD AUROCs.
    """
    sets = list(ood_inputs.values()) if isinstance(ood_inputs, Mapping) else list(ood_inputs)
    probs, ref = sample(inputs), reference(inputs)
    mean, ref_mean = predictive_mean(probs), predictive_mean(ref)
    entropy, ref_entropy = predictive_entropy(probs), predictive_entropy(ref)
    mi = mutual_information(probs)
    wrong, ref_wrong = mean.argmax(1) != labels, ref_mean.argmax(1) != labels
    ood_scores: dict[str, list[float]] = {
        key: [] for key in ("entropy", "mi", "reference", "fpr", "fpr_ref", "rule", "rule_ref")
    }
    for images in sets:
        out, out_ref = sample(images), reference(images)
        out_entropy, out_ref_entropy = predictive_entropy(out), predictive_entropy(out_ref)
        ood_scores["entropy"].append(auroc(entropy, out_entropy))
        ood_scores["mi"].append(auroc(mi, mutual_information(out)))
        ood_scores["reference"].append(auroc(ref_entropy, out_ref_entropy))
        ood_scores["fpr"].append(fpr_at_tpr(entropy, out_entropy))
        ood_scores["fpr_ref"].append(fpr_at_tpr(ref_entropy, out_ref_entropy))
        ood_scores["rule"].append(detection_rate(ood_rule(out)))
        ood_scores["rule_ref"].append(detection_rate(ood_rule(out_ref)))

    def mean_of(values: list[float]) -> float:
        return float(sum(values) / len(values)) if values else math.nan

    return UncertaintySummary(
        samples=int(probs.shape[0]),
        accuracy=accuracy(mean, labels),
        reference_accuracy=accuracy(ref_mean, labels),
        nll=negative_log_likelihood(mean, labels),
        reference_nll=negative_log_likelihood(ref_mean, labels),
        ece=expected_calibration_error(mean, labels),
        reference_ece=expected_calibration_error(ref_mean, labels),
        brier=brier_score(mean, labels),
        reference_brier=brier_score(ref_mean, labels),
        mutual_information=float(mi.mean()),
        entropy_gain=float((entropy - ref_entropy).mean()),
        error_auroc_entropy=_error_auroc(entropy, wrong),
        error_auroc_mi=_error_auroc(mi, wrong),
        error_auroc_reference=_error_auroc(ref_entropy, ref_wrong),
        ood_auroc_entropy=mean_of(ood_scores["entropy"]),
        ood_auroc_mi=mean_of(ood_scores["mi"]),
        ood_auroc_reference=mean_of(ood_scores["reference"]),
        ood_fpr95_entropy=mean_of(ood_scores["fpr"]),
        ood_fpr95_reference=mean_of(ood_scores["fpr_ref"]),
        eq24_ood_rate=mean_of(ood_scores["rule"]),
        eq24_clean_rate=detection_rate(ood_rule(probs)),
        reference_eq24_ood_rate=mean_of(ood_scores["rule_ref"]),
        reference_eq24_clean_rate=detection_rate(ood_rule(ref)),
    )


@dataclass(frozen=True)
class Convergence:
    """How fast the MC mean approaches the exact mixture mean (see :func:`mc_convergence`).

    Attributes
    ----------
    Ts : list of int
        Numbers of passes.
    mean_abs_error : list of float
        Mean over inputs, classes and repeats of ``|MC mean at T - exact mean|``.
    predicted : list of float
        The central-limit prediction of the same quantity, mean of
        ``sqrt(2 / pi) * sqrt(variance / T)`` (falls as 1 / sqrt(T)).
    n_networks : int
        2^L, the number of networks in the mixture.
    distinct : list of float
        Mean number of distinct networks among the first T passes (passes whose outputs
        differ on the inputs; at most 2^L).
    """

    Ts: list[int]
    mean_abs_error: list[float]
    predicted: list[float]
    n_networks: int
    distinct: list[float]


@torch.no_grad()
def mc_convergence(
    model: nn.Module, inputs: torch.Tensor, Ts: Sequence[int], repeats: int = 5, seed: int = 0
) -> Convergence:
    """MC estimates (Eq. 18) at each T against the exact mixture mean of 2^L networks.

    Each repeat draws ``max(Ts)`` passes with dropout seed ``seed + repeat`` and takes the
    running mean at every T. Needs a model :func:`~scaledrop_lib.inference.exact.exact_predictive`
    supports (layer-wise masks, unitary or average variant).
    """
    Ts = sorted({check_positive_int("T", T) for T in Ts})
    if not Ts:
        raise ValueError("Ts must not be empty")
    repeats = check_positive_int("repeats", repeats)
    mixture = exact_predictive(model, inputs)
    exact = mixture.mean.double()
    errors = torch.zeros(len(Ts), dtype=torch.float64)
    distinct = torch.zeros(len(Ts), dtype=torch.float64)
    for repeat in range(repeats):
        seed_dropout(model, seed + repeat)
        samples = mc_predict(model, inputs, Ts[-1])  # the prefix engine: cheap at large T
        running = samples.double().cumsum(dim=0)
        _, network = torch.unique(samples.flatten(1), dim=0, return_inverse=True)
        for i, T in enumerate(Ts):
            errors[i] += float((running[T - 1] / T - exact).abs().mean())
            distinct[i] += len(set(network[:T].tolist()))
    scale = math.sqrt(2.0 / math.pi)
    predicted = [float(scale * mixture.mc_standard_error(T).mean()) for T in Ts]
    return Convergence(
        Ts=Ts,
        mean_abs_error=[float(e) / repeats for e in errors],
        predicted=predicted,
        n_networks=mixture.n_networks,
        distinct=[float(d) / repeats for d in distinct],
    )
