"""Evaluating uncertainty under shift: rotation sweeps (Fig. 6) and OOD detection (Table V).

A *predictor* is any callable ``inputs (N, ...) -> samples (S, N, C)`` of softmax
probabilities: T Monte-Carlo passes of one model (:func:`mc_predictor`), the members of an
ensemble (:func:`ensemble_predictor`) or one deterministic pass, S = 1
(:func:`deterministic_predictor`). Every method in a comparison then goes through the same code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from scaledrop_lib._checks import check_positive_int, check_probability
from scaledrop_lib.data.shift import OODSet, add_uniform_noise, rotate
from scaledrop_lib.inference.mc import deterministic_predict, ensemble_predict, mc_predict
from scaledrop_lib.layers.sampling import seed_dropout
from scaledrop_lib.metrics.classification import accuracy
from scaledrop_lib.metrics.ood import auroc, detection_rate, fpr_at_tpr, ood_rule_statistic
from scaledrop_lib.metrics.predictive import mutual_information, predictive_entropy, predictive_mean
from scaledrop_lib.paper import PAPER_TABLE_V
from scaledrop_lib.progress import progress as progress_bar
from scaledrop_lib.tables import Table

#: What the shift studies call to predict, inputs in, MC samples (T, N, C) of probabilities out.
Predictor = Callable[[torch.Tensor], torch.Tensor]


SCORES = ("entropy", "mutual information", "Eq. 24 statistic")
"""OOD scores (higher = more OOD). "Eq. 24 statistic" is minus the max-over-classes 10th
percentile that the paper's rule thresholds: its AUROC judges the rule at every threshold."""


def mc_predictor(model: nn.Module, T: int, seed: int = 0) -> Predictor:
    """T MC passes of ``model``, its dropout generators reseeded with ``seed`` on every call
    (so every input set sees the same sequence of masks, and results are reproducible)."""
    T = check_positive_int("T", T)

    def predict(inputs: torch.Tensor) -> torch.Tensor:
        seed_dropout(model, seed)
        return mc_predict(model, inputs, T)

    return predict


def ensemble_predictor(models: Sequence[nn.Module]) -> Predictor:
    """One deterministic pass per ensemble member: samples (M, N, C)."""
    if len(models) == 0:
        raise ValueError("models must not be empty")
    return lambda inputs: ensemble_predict(list(models), inputs)


def deterministic_predictor(model: nn.Module) -> Predictor:
    """One pass with dropout off: samples (1, N, C)."""
    return lambda inputs: deterministic_predict(model, inputs)[None]


def _check_predictors(predictors: Mapping[str, Predictor]) -> None:
    if not predictors:
        raise ValueError("predictors must name at least one method")
    for name, fn in predictors.items():
        if not callable(fn):
            raise TypeError(f"predictors[{name!r}] must be callable, got {type(fn).__name__}")


@dataclass(frozen=True)
class RotationSweep:
    """Accuracy and mean predictive entropy per method (rows) and angle (columns)."""

    angles: list[float]
    accuracy: dict[str, list[float]]
    entropy: dict[str, list[float]]


def rotation_sweep(
    predictors: Mapping[str, Predictor],
    images: torch.Tensor,
    labels: torch.Tensor,
    angles: Sequence[float],
    progress: bool = True,
) -> RotationSweep:
    """Fig. 6: rotate every test image by each angle and measure each method.

    Accuracy is that of the mean prediction (Eq. 18); entropy is the mean over images of the
    predictive entropy of the mean prediction, in nats.
    """
    _check_predictors(predictors)
    if len(angles) == 0:
        raise ValueError("angles must not be empty")
    if len(images) != len(labels):
        raise ValueError(f"images ({len(images)}) and labels ({len(labels)}) differ in length")
    acc: dict[str, list[float]] = {name: [] for name in predictors}
    ent: dict[str, list[float]] = {name: [] for name in predictors}
    for angle in progress_bar(list(angles), desc="angles", enabled=progress):
        rotated = rotate(images, angle)
        for name, predict in predictors.items():
            samples = predict(rotated)
            acc[name].append(accuracy(predictive_mean(samples), labels))
            ent[name].append(float(predictive_entropy(samples).mean()))
    return RotationSweep([float(a) for a in angles], acc, ent)


@dataclass(frozen=True)
class OODReport:
    """OOD detection of several methods on several sets.

    Attributes
    ----------
    detection : dict
        ``detection[method][set_key]``: fraction of the set flagged by Eq. 24.
    false_positive : dict
        ``false_positive[method]``: fraction of the in-distribution test set flagged.
    auroc, fpr95 : dict
        ``auroc[score][method][set_key]``: in-distribution vs the set, higher score = more
        OOD; FPR at 95 % TPR likewise. ``None`` where the score is constant for a method
        (mutual information of a single deterministic pass).
    set_names : dict
        ``set_names[set_key]``: the set's short name.
    statistic : dict
        ``statistic[method]["ID" or set_key]``: the Eq. 24 statistic per input (N,), kept so
        the rule can be re-run at other thresholds (:meth:`threshold_curve`) without new passes.
    """

    detection: dict[str, dict[str, float]]
    false_positive: dict[str, float]
    auroc: dict[str, dict[str, dict[str, float | None]]]
    fpr95: dict[str, dict[str, dict[str, float | None]]]
    set_names: dict[str, str]
    statistic: dict[str, dict[str, torch.Tensor]]

    def threshold_curve(
        self, method: str, set_key: str, thresholds: Sequence[float]
    ) -> tuple[list[float], list[float]]:
        """Eq. 24 at each threshold: (fraction of in-distribution flagged, fraction of the set
        flagged). The paper's rule is one point on this curve (threshold 0.95)."""
        if method not in self.statistic:
            raise ValueError(f"unknown method {method!r}; known: {sorted(self.statistic)}")
        if set_key not in self.set_names:
            raise ValueError(f"unknown set {set_key!r}; known: {sorted(self.set_names)}")
        stat_in, stat_out = self.statistic[method]["ID"], self.statistic[method][set_key]
        fpr = [float((stat_in < t).float().mean()) for t in thresholds]
        tpr = [float((stat_out < t).float().mean()) for t in thresholds]
        return fpr, tpr

    def table(self, metric: str = "detection", score: str = "entropy") -> Table:
        """Methods as rows, sets as columns, in percent.

        ``metric="detection"``: the Eq. 24 detection rate per set, plus the share of the
        in-distribution test set flagged ("ID flagged"). ``"auroc"`` / ``"fpr95"``: AUROC or
        FPR at 95 % TPR with ``score`` as the OOD score ("n/a" where it is undefined).
        """
        keys = list(self.set_names)
        if metric == "detection":
            title = "Eq. 24 detection rate per OOD set; ID flagged: clean test inputs flagged"
            columns = ["method", *keys, "ID flagged"]
            rows = [
                [m, *(self.detection[m][k] for k in keys), self.false_positive[m]]
                for m in self.detection
            ]
        elif metric in ("auroc", "fpr95"):
            if score not in SCORES:
                raise ValueError(f"score must be one of {SCORES}, got {score!r}")
            values = getattr(self, metric)[score]
            name = "AUROC" if metric == "auroc" else "FPR at 95 % TPR"
            title = f"{name}, OOD score = {score} (in-distribution: the clean test set)"
            columns = ["method", *keys]
            rows = [
                [m, *(math.nan if values[m][k] is None else values[m][k] for k in keys)]
                for m in values
            ]
        else:
            raise ValueError(f"metric must be 'detection', 'auroc' or 'fpr95', got {metric!r}")
        return Table(columns, rows, formats=dict.fromkeys(columns[1:], ".1%"), title=title)


def _score(samples: torch.Tensor, score: str) -> torch.Tensor:
    if score == "entropy":
        return predictive_entropy(samples)
    return mutual_information(samples)


def ood_report(
    predictors: Mapping[str, Predictor],
    in_images: torch.Tensor,
    sets: Mapping[str, OODSet],
    threshold: float = 0.95,
    percentile: float = 10.0,
    progress: bool = True,
) -> OODReport:
    """Table V and more: Eq. 24 detection rates, the in-distribution false-positive rate,
    and AUROC / FPR@95%TPR with predictive entropy and mutual information as scores.

    Parameters
    ----------
    predictors : mapping of str to Predictor
        Method name -> predictor.
    in_images : torch.Tensor
        In-distribution test images (the negatives).
    sets : mapping of str to OODSet
        E.g. :func:`scaledrop_lib.data.shift.ood_sets`.
    threshold, percentile : float
        Eq. 24's parameters (the paper's 0.95 and 10th percentile; linear interpolation).
    """
    _check_predictors(predictors)
    threshold = check_probability("threshold", threshold)
    if not sets:
        raise ValueError("sets must not be empty")
    detection: dict[str, dict[str, float]] = {}
    false_positive: dict[str, float] = {}
    statistic: dict[str, dict[str, torch.Tensor]] = {}
    aurocs = {s: {} for s in SCORES}
    fprs = {s: {} for s in SCORES}
    for method, predict in progress_bar(list(predictors.items()), desc="methods", enabled=progress):
        in_samples = predict(in_images)
        statistic[method] = {"ID": ood_rule_statistic(in_samples, percentile)}
        false_positive[method] = detection_rate(statistic[method]["ID"] < threshold)
        in_scores = {s: _score(in_samples, s) for s in SCORES[:2]}
        in_scores[SCORES[2]] = -statistic[method]["ID"]
        detection[method] = {}
        for s in SCORES:
            aurocs[s][method], fprs[s][method] = {}, {}
        for key, ood in sets.items():
            samples = predict(ood.images)
            statistic[method][key] = ood_rule_statistic(samples, percentile)
            detection[method][key] = detection_rate(statistic[method][key] < threshold)
            for s in SCORES:
                out_scores = -statistic[method][key] if s == SCORES[2] else _score(samples, s)
                both = torch.cat([in_scores[s], out_scores])
                if float(both.max() - both.min()) <= 1e-12:  # e.g. MI of one pass: always 0
                    aurocs[s][method][key] = fprs[s][method][key] = None
                    continue
                aurocs[s][method][key] = auroc(in_scores[s], out_scores)
                fprs[s][method][key] = fpr_at_tpr(in_scores[s], out_scores, 0.95)
    names = {key: ood.name for key, ood in sets.items()}
    return OODReport(detection, false_positive, aurocs, fprs, names, statistic)


@dataclass(frozen=True)
class NoiseLadder:
    """One image under uniform noise of increasing strength, with T MC samples per step.

    ``images`` (S, C, H, W), ``logits`` and ``probs`` (S, T, C); ``probs`` is the softmax of
    ``logits`` (the same passes).
    """

    strengths: list[float]
    images: torch.Tensor
    logits: torch.Tensor
    probs: torch.Tensor


def noise_ladder(
    model: nn.Module,
    image: torch.Tensor,
    strengths: Sequence[float],
    T: int,
    seed: int = 0,
    noise_seed: int = 0,
) -> NoiseLadder:
    """Fig. 5: add U(-s, s) noise to one image for each strength s and run T MC passes.

    Every step uses the same noise pattern (``noise_seed``) scaled by its strength and the
    same dropout masks (``seed``), so only the strength changes along the ladder.
    """
    if not isinstance(image, torch.Tensor) or image.dim() != 3:
        raise ValueError("image must be one image tensor (C, H, W)")
    if len(strengths) == 0:
        raise ValueError("strengths must not be empty")
    T = check_positive_int("T", T)
    images = torch.cat([add_uniform_noise(image[None], s, seed=noise_seed) for s in strengths])
    seed_dropout(model, seed)
    logits = mc_predict(model, images, T, logits=True).transpose(0, 1)  # (S, T, C)
    return NoiseLadder([float(s) for s in strengths], images, logits, logits.softmax(dim=-1))


def paper_table_v() -> Table:
    """The paper's Table V (CIFAR-10; D5 = SVHN, D6 = STL-10): Eq. 24 detection rate in %."""
    keys = ["D1", "D2", "D3", "D4", "D5", "D6"]
    rows = [
        [topology, method, *(row[k] for k in keys)]
        for topology, methods in PAPER_TABLE_V.items()
        for method, row in methods.items()
    ]
    return Table(
        ["topology", "method", *keys],
        rows,
        formats=dict.fromkeys(keys, ".2f"),
        title="The paper's Table V (CIFAR-10; D5 = SVHN, D6 = STL-10), detection rate in %",
        note="The paper's numbers, not ours; '-' where the paper gives none.",
    )
