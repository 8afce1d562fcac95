"""The experiments: train, evaluate, ood, rotation, variation, samples, accuracy, segment.

Each experiment is a function of a :class:`Context` (settings, resolved device) that trains or
loads what it needs (:mod:`scaledrop_lib.experiments.runs`), measures one record per
(model, method, seed, condition) and returns an :class:`Outcome`; :func:`run_experiment`
summarises the records over the seeds and writes the result files
(:mod:`scaledrop_lib.experiments.output`).

Under ``torchrun`` every process runs the same experiment: the models train data-parallel,
predictions are sharded over the processes and gathered on each
(:func:`scaledrop_lib.experiments.runs.sharded`), so every process computes the same records;
rank 0 alone logs, shows progress, prints and writes the files
(:mod:`scaledrop_lib.experiments.distributed`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
from torch import nn

from scaledrop_lib.data.shift import ood_sets
from scaledrop_lib.experiments.datasets import (
    DATA_SEED,
    ClassificationData,
    load_classification,
    load_natural_sets,
    load_segmentation,
)
from scaledrop_lib.experiments.distributed import (
    all_gather,
    is_main,
    main_first,
    process_group,
    shard,
    world_size,
)
from scaledrop_lib.experiments.measures import (
    cim_costs,
    classification_metrics,
    eq24_detection,
    ood_metrics,
    scale_statistics,
    timed,
    uncertainty_score,
)
from scaledrop_lib.experiments.output import (
    metadata,
    series,
    summarize,
    summary_table,
    write_results,
)
from scaledrop_lib.experiments.runs import (
    Run,
    method_config,
    predictor,
    resolve_device,
    segment_probabilities,
    sharded,
    train_classifiers,
    train_segmenters,
)
from scaledrop_lib.experiments.settings import Settings, SettingsError
from scaledrop_lib.inference.mc import deterministic_predict
from scaledrop_lib.kinds import DropoutKind
from scaledrop_lib.metrics.classification import accuracy, negative_log_likelihood
from scaledrop_lib.metrics.predictive import predictive_entropy
from scaledrop_lib.metrics.segmentation import segmentation_metrics
from scaledrop_lib.paper import METRIC_NAMES, PAPER_TABLE_IV, PAPER_TABLE_VI
from scaledrop_lib.progress import progress as progress_bar
from scaledrop_lib.studies.cifar import ENSEMBLE, precision
from scaledrop_lib.studies.mechanism import layer_mechanisms, uncertainty_summary
from scaledrop_lib.studies.shift import rotation_sweep
from scaledrop_lib.studies.variation import accuracy_under_variation
from scaledrop_lib.viz.figures import reliability_diagram
from scaledrop_lib.viz.plotting import line_figure

#: Table VI's names of our topologies and methods (the rows we can set beside ours).
PAPER_TOPOLOGIES = {"resnet18": "ResNet-18", "resnet20": "ResNet-20", "vgg_small": "VGG"}
PAPER_METHODS = {
    "MC-Scale-Dropout": "Proposed",
    "SpinDrop": "SpinDrop [29]",
    "Spatial-SpinDrop": "Spatial-SpinDrop [35]",
    "deterministic": "IR-Net [22]",  # binary, IR-Net's binarisation, no dropout
}
#: Table IV's U-Net rows are ISIC skin lesions, the data this experiment is meant for.
PAPER_SEGMENTATION = {
    ("unet", "MC-Dropout"): "U-Net, Skin Cancer, MC-Dropout 32/32",
    ("unet", "MC-Scale-Dropout"): "U-Net, Skin Cancer, Proposed 1/4",
}


def log_to_stderr(message: str) -> None:
    """Progress messages go to stderr, results to stdout."""
    print(message, file=sys.stderr, flush=True)


@dataclass
class Context:
    """What every experiment gets: its settings, the resolved device and AMP, a logger."""

    experiment: str
    settings: Settings
    device: str
    amp: bool
    log: Callable[[str], None] = log_to_stderr


@dataclass
class Outcome:
    """An experiment's records (one per model, method, seed, condition), what it adds to
    its JSON file, its figures by name, the title of its table, and quoted references."""

    records: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    references: dict[tuple, float] = field(default_factory=dict)


def _record(run: Run, condition: str = "", **values: Any) -> dict[str, Any]:
    return {
        "model": run.model_name,
        "method": run.method,
        "seed": run.seed,
        "condition": condition,
        **values,
    }


def _trained(ctx: Context, data: ClassificationData, methods: Sequence[str] | None = None):
    s = ctx.settings
    return train_classifiers(
        s, data.train, data.val, data.data_sha256, ctx.device, ctx.amp, ctx.log, methods
    )


def _classifiers(ctx: Context, methods: Sequence[str] | None = None):
    with main_first():  # one process downloads (--download), the others read
        data = load_classification(ctx.settings)
    return data, _trained(ctx, data, methods)


def _predictor(ctx: Context, run: Run, T: int | None = None):
    s = ctx.settings
    return predictor(run, T or s.T, s.eval_batch_size, ctx.amp, ctx.device)


def _checkpoints(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Which trained models a result comes from: checkpoint files and configuration keys."""
    return [
        {
            "model": run.model_name,
            "method": run.method,
            "seed": run.seed,
            "checkpoints": [str(m.path) for m in run.members],
            "config_sha256": [m.metadata.get("config_sha256") for m in run.members],
        }
        for run in runs
    ]


def _each(ctx: Context, runs: Sequence[Run]):
    """``runs`` with a progress bar (stderr; ``--no-progress`` or SCALEDROP_PROGRESS=0 hide it)."""
    return progress_bar(
        list(runs), desc=f"{ctx.experiment}: runs", enabled=ctx.settings.progress, leave=False
    )


def _describe(run: Run) -> str:
    return f"{run.model_name} {run.method} (seed {run.seed})"


# ----------------------------------------------------------------------------- experiments


def train(ctx: Context) -> Outcome:
    """Train or load every model x method x seed; per run its epochs, best epoch and
    validation score, and per Scale-Dropout layer the learned scales' mean, spread and mean
    ``|alpha - r|``."""
    _, runs = _classifiers(ctx)
    records, details, curves = [], [], {}
    for run in runs:
        for i, member in enumerate(run.members):
            history = member.metadata.get("history") or {}
            best = history.get("best_epoch")
            val_acc = history.get("val_accuracy") or []
            val_loss = history.get("val_loss") or []
            condition = f"member {i}" if run.method == ENSEMBLE else ""
            records.append(
                _record(
                    run,
                    condition,
                    epochs=member.metadata.get("epochs"),
                    best_epoch=best,
                    val_Acc=val_acc[best] if val_acc and best is not None else None,
                    val_NLL=val_loss[best] if val_loss and best is not None else None,
                )
            )
            curves[f"{_describe(run)}{' ' + condition if condition else ''}"] = val_acc
            details.append(
                {
                    "model": run.model_name,
                    "method": run.method,
                    "seed": run.seed,
                    "member": i,
                    "checkpoint": str(member.path),
                    "loaded": member.loaded,
                    "config_sha256": member.metadata.get("config_sha256"),
                    "history": history,
                }
            )
        if run.config.dropout is DropoutKind.SCALE:
            scales = scale_statistics(run.model)
            details[-1]["scales"] = scales
            for layer in scales:
                records.append(
                    _record(
                        run,
                        f"layer {layer['layer']}",
                        alpha_mean=layer["alpha_mean"],
                        alpha_sd=layer["alpha_sd"],
                        alpha_minus_r=layer["alpha_minus_r"],
                    )
                )
    epochs = max((len(c) for c in curves.values()), default=0)
    figures = {}
    if epochs:
        padded = {name: list(c) + [None] * (epochs - len(c)) for name, c in curves.items()}
        figures[""] = line_figure(
            list(range(1, epochs + 1)),
            padded,
            title="Validation accuracy per epoch (deterministic pass)",
            x_title="epoch",
            y_title="validation accuracy",
        )
    return Outcome(records, {"runs": details}, figures, "Training")


def evaluate(ctx: Context) -> Outcome:
    """Acc, NLL, ECE, Brier of the mean prediction on the test set; ms per image for the
    method's passes (T for sampled methods, one per ensemble member, else one); stochastic
    units and energy per image on the CIM model."""
    s = ctx.settings
    data, runs = _classifiers(ctx)
    x, y = data.test_images, data.test_labels
    records, first, notes = [], {}, {}
    for run in _each(ctx, runs):
        samples, ms = timed(_predictor(ctx, run), x, ctx.device)
        mean = samples.mean(dim=0)
        if run.sampled:
            costs = cim_costs(run.model, run.config.dropout, s.T)
        else:
            costs = cim_costs(run.model, DropoutKind.NONE, len(run.members))
        note = costs.pop("cim_note")
        if note:
            notes[f"{run.model_name} {run.method}"] = note
        records.append(
            _record(
                run,
                **classification_metrics(mean, y, s.ece_bins),
                passes=len(samples),
                ms_per_image=ms,
                **costs,
            )
        )
        if run.model_name == s.models[0] and run.seed == s.seeds[0]:
            first[run.method] = mean
    figure = reliability_diagram(first, y, s.ece_bins)
    figure.update_layout(
        title=f"Reliability on the CIFAR-10 test set ({s.models[0]}, seed {s.seeds[0]}, T = {s.T})"
    )
    extra = {
        "test_images": len(x),
        "T": s.T,
        "ece_bins": s.ece_bins,
        "cim_notes": notes,
        "checkpoints": _checkpoints(runs),
    }
    return Outcome(records, extra, {"": figure}, "Calibration on the CIFAR-10 test set")


def ood(ctx: Context) -> Outcome:
    """Table V: per OOD set D1-D6 (SVHN as D5, STL-10 as D6) AUROC, AUPR (OOD positive),
    FPR at 95 % TPR with the chosen uncertainty score, and Eq. 24's detection rate; the
    clean test set's Eq. 24 rate is the condition "ID"."""
    s = ctx.settings
    with main_first():  # one process downloads (--download), the others read
        data = load_classification(s)
        natural = load_natural_sets(s)  # before any training: a missing set fails early
    runs = _trained(ctx, data)
    x = data.test_images
    sets = ood_sets(x, n=s.n_ood, seed=DATA_SEED, noise_std=s.noise_std, natural=natural)
    conditions = [f"{key} {ood_set.name}" for key, ood_set in sets.items()]
    records = []
    for run in _each(ctx, runs):
        predict = _predictor(ctx, run)
        in_samples = predict(x)
        in_scores = uncertainty_score(in_samples, s.ood_score)
        records.append(
            _record(run, "ID (CIFAR-10 test)", Detection=eq24_detection(in_samples, s.threshold))
        )
        for condition, ood_set in zip(conditions, sets.values(), strict=True):
            samples = predict(ood_set.images)
            records.append(
                _record(
                    run,
                    condition,
                    **ood_metrics(in_scores, uncertainty_score(samples, s.ood_score)),
                    Detection=eq24_detection(samples, s.threshold),
                )
            )
    rows = summarize(records)
    figures = {}
    for metric, title in (("AUROC", f"AUROC, score = {s.ood_score}"), ("Detection", "Eq. 24")):
        means, sds = series(rows, metric, conditions)
        figures[metric.lower()] = line_figure(
            conditions,
            means,
            errors=sds,
            title=f"OOD detection against the CIFAR-10 test set: {title}",
            x_title="OOD set",
            y_title="AUROC" if metric == "AUROC" else "share of the set flagged",
        )
    extra = {
        "sets": {
            key: {"name": o.name, "description": o.description, "images": len(o.images)}
            for key, o in sets.items()
        },
        "score": s.ood_score,
        "threshold": s.threshold,
        "T": s.T,
        "checkpoints": _checkpoints(runs),
    }
    return Outcome(records, extra, figures, "OOD detection (Table V)")


def rotation(ctx: Context) -> Outcome:
    """Fig. 6: accuracy of the mean prediction and mean predictive entropy (nats) of the test
    set rotated by each angle."""
    s = ctx.settings
    data, runs = _classifiers(ctx)
    conditions = [f"{angle:g} deg" for angle in s.angles]
    records = []
    for run in _each(ctx, runs):
        sweep = rotation_sweep(
            {run.method: _predictor(ctx, run)},
            data.test_images,
            data.test_labels,
            s.angles,
            progress=False,
        )
        for condition, acc, ent in zip(
            conditions, sweep.accuracy[run.method], sweep.entropy[run.method], strict=True
        ):
            records.append(_record(run, condition, Acc=acc, entropy=ent))
    rows = summarize(records)
    figures = {}
    for metric, y_title in (("Acc", "accuracy"), ("entropy", "predictive entropy (nats)")):
        means, sds = series(rows, metric, conditions)
        figures[metric.lower()] = line_figure(
            list(s.angles),
            means,
            errors=sds,
            title=f"Rotated CIFAR-10 test images: {y_title} (T = {s.T})",
            x_title="rotation (degrees)",
            y_title=y_title,
        )
    extra = {"angles": s.angles, "T": s.T, "checkpoints": _checkpoints(runs)}
    return Outcome(records, extra, figures, "Rotation (Fig. 6)")


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def variation(ctx: Context) -> Outcome:
    """Table III: MC-Scale-Dropout accuracy (T passes) with the masks drawn by simulated MTJ
    chips at each variation level (multiples of 1x, Eq. 22): the mean over chips, and the
    spread between chips."""
    s = ctx.settings
    scale = [m for m in s.methods if method_config(m, s.p).dropout is DropoutKind.SCALE]
    if not scale:
        raise SettingsError(
            "variation measures nets with Scale-Dropout: put MC-Scale-Dropout in --methods"
        )
    data, runs = _classifiers(ctx, scale)
    x, y = data.test_images, data.test_labels
    conditions = [f"{level:g}x" for level in s.variation_levels]
    records = []
    mine = shard(len(x), s.eval_batch_size)  # under torchrun: this process's batches
    for run in _each(ctx, runs):
        for condition, level in zip(conditions, s.variation_levels, strict=True):
            counts = []  # correct images per chip, batch by batch (each batch is self-seeded)
            with precision(ctx.amp, ctx.device):
                for part in _chunks(len(x), s.eval_batch_size):
                    if not mine.start <= part.start < mine.stop:
                        continue
                    chips = accuracy_under_variation(
                        run.model, x[part], y[part], float(level), chips=s.chips, T=s.T
                    )
                    counts.append(np.asarray(chips) * (part.stop - part.start))
            local = torch.from_numpy(np.stack(counts)) if counts else None
            per_chip = np.zeros(s.chips)
            for batch in (b for part in all_gather(local) if part is not None for b in part):
                per_chip += batch.numpy()  # in batch order, as one process adds them
            per_chip /= len(x)
            records.append(
                _record(
                    run,
                    condition,
                    Acc=float(per_chip.mean()),
                    Acc_chip_sd=float(per_chip.std(ddof=1)) if s.chips > 1 else None,
                    chips=per_chip.tolist(),
                )
            )
    means, sds = series(summarize(records), "Acc", conditions)
    figure = line_figure(
        list(s.variation_levels),
        means,
        errors=sds,
        title=f"Accuracy with MTJ bit sources under variation ({s.chips} chips, T = {s.T})",
        x_title="variation level (multiples of 1x, Eq. 22)",
        y_title="accuracy",
    )
    extra = {
        "levels": s.variation_levels,
        "chips": s.chips,
        "T": s.T,
        "checkpoints": _checkpoints(runs),
    }
    return Outcome(records, extra, {"": figure}, "Device variation (Table III)")


def samples(ctx: Context) -> Outcome:
    """Fig. 7: accuracy, NLL and mean predictive entropy of the mean of the first T passes,
    for each T of ``--Ts`` (nested: one draw of max(Ts) passes per run)."""
    s = ctx.settings
    sampled = [m for m in s.methods if m != ENSEMBLE and method_config(m, s.p).dropout != "none"]
    if not sampled:
        raise SettingsError("samples needs a sampled method in --methods (not only "
                            "deterministic or ensemble)")  # fmt: skip
    skipped = sorted(set(s.methods) - set(sampled))
    if skipped:
        ctx.log(f"samples: skipping {', '.join(skipped)} (no MC sampling)")
    data, runs = _classifiers(ctx, sampled)
    Ts = sorted(s.Ts)
    conditions = [f"T={T}" for T in Ts]
    records = []
    for run in _each(ctx, runs):
        probs = _predictor(ctx, run, max(Ts))(data.test_images)
        for condition, T in zip(conditions, Ts, strict=True):
            mean = probs[:T].mean(dim=0)
            records.append(
                _record(
                    run,
                    condition,
                    Acc=accuracy(mean, data.test_labels),
                    NLL=negative_log_likelihood(mean, data.test_labels),
                    entropy=float(predictive_entropy(probs[:T]).mean()),
                )
            )
    means, sds = series(summarize(records), "Acc", conditions)
    figure = line_figure(
        Ts,
        means,
        errors=sds,
        title="Accuracy against the number of Monte-Carlo samples",
        x_title="T (MC samples)",
        y_title="accuracy",
        log_x=True,
    )
    extra = {"Ts": Ts, "checkpoints": _checkpoints(runs)}
    return Outcome(records, extra, {"": figure}, "MC samples (Fig. 7)")


def accuracy_table(ctx: Context) -> Outcome:
    """Table VI: test accuracy of the mean prediction per topology and method (and, for
    sampled methods, of the deterministic pass), beside the paper's number where it reports
    the same method (``reference``)."""
    s = ctx.settings
    data, runs = _classifiers(ctx)
    x, y = data.test_images, data.test_labels
    records = []
    for run in _each(ctx, runs):
        values = {"Acc": accuracy(_predictor(ctx, run)(x).mean(dim=0), y)}
        if run.sampled:

            def dropout_off(inputs: torch.Tensor, run: Run = run) -> torch.Tensor:
                with precision(ctx.amp, ctx.device):
                    return deterministic_predict(run.model, inputs, batch_size=s.eval_batch_size)

            off = sharded(dropout_off, s.eval_batch_size)(x)
            values["Acc_dropout_off"] = accuracy(off.float(), y)
        records.append(_record(run, **values))
    references, paper = {}, []
    for row in PAPER_TABLE_VI:
        for model, topology in PAPER_TOPOLOGIES.items():
            for method, name in PAPER_METHODS.items():
                if row.topology == topology and row.method == name:
                    paper.append({"model": model, "method": method, **asdict(row)})
                    if model in s.models and method in s.methods:
                        references[(model, method, "", "Acc")] = row.accuracy / 100
    rows = summarize(records)
    by_method, errors = {}, {}
    for method in s.methods:
        found = {r["model"]: r for r in rows if r["method"] == method and r["metric"] == "Acc"}
        by_method[method] = [found[m]["mean"] for m in s.models]
        errors[method] = [found[m]["sd"] or 0.0 for m in s.models]
    for method in s.methods:
        quoted = [references.get((m, method, "", "Acc")) for m in s.models]
        if any(v is not None for v in quoted):
            by_method[f"paper: {method}"] = quoted
    figure = line_figure(
        list(s.models),
        by_method,
        errors=errors,
        title=f"CIFAR-10 test accuracy (T = {s.T}) beside the paper's Table VI",
        x_title="topology",
        y_title="accuracy",
    )
    extra = {
        "T": s.T,
        "paper": paper,
        "paper_note": "arXiv 2311.15816, Table VI (percent)",
        "checkpoints": _checkpoints(runs),
    }
    return Outcome(records, extra, {"": figure}, "Accuracy (Table VI)", references)


def segment(ctx: Context) -> Outcome:
    """Table IV: the seven segmentation metrics of the mean foreground probability (T MC
    passes, or one deterministic pass) on the folder's test split, and ms per image."""
    s = ctx.settings
    with main_first():
        data = load_segmentation(s)
    runs = train_segmenters(s, data, ctx.device, ctx.amp, ctx.log)
    images, masks = data["test"].tensors
    records = []
    for run in _each(ctx, runs):

        def predict(inputs: torch.Tensor, run: Run = run) -> torch.Tensor:
            return segment_probabilities(run, inputs, s.T, s.eval_batch_size, ctx.amp, ctx.device)

        probs, ms = timed(predict, images, ctx.device)
        records.append(_record(run, **segmentation_metrics(probs, masks), ms_per_image=ms))
    references = {
        (model, method, "", metric): PAPER_TABLE_IV[name][metric] / 100
        for (model, method), name in PAPER_SEGMENTATION.items()
        if model == s.seg_model and method in s.seg_methods
        for metric in METRIC_NAMES
    }
    rows = summarize(records)
    means, sds = {}, {}
    for method in s.seg_methods:
        found = {r["metric"]: r for r in rows if r["method"] == method}
        means[method] = [found[m]["mean"] for m in METRIC_NAMES]
        sds[method] = [found[m]["sd"] or 0.0 for m in METRIC_NAMES]
    figure = line_figure(
        list(METRIC_NAMES),
        means,
        errors=sds,
        title=f"Segmentation of the test split ({s.seg_model}, T = {s.T})",
        x_title="metric",
        y_title="value",
    )
    extra = {
        "test_images": len(images),
        "split": {name: len(part) for name, part in data.items()},
        "T": s.T,
        "paper_note": "references: arXiv 2311.15816, Table IV (U-Net, skin cancer)",
        "checkpoints": _checkpoints(runs),
    }
    return Outcome(records, extra, {"": figure}, "Segmentation (Table IV)", references)


#: The function of each experiment (the keys of
#: :data:`scaledrop_lib.experiments.settings.EXPERIMENTS`).

#: What the mechanism experiment records per Scale-Dropout layer (see LayerMechanism).
MECHANISM_METRICS = (
    "alpha_minus_r",
    "threshold_shift",
    "relative_shift",
    "sign_flip_share",
    "prediction_flip_share",
)
#: ... and per run, from the uncertainty summary against the deterministic softmax.
UNCERTAINTY_METRICS = (
    "entropy_gain",
    "mutual_information",
    "error_auroc_entropy",
    "error_auroc_reference",
    "ood_auroc_entropy",
    "ood_auroc_reference",
)


def mechanism(ctx: Context) -> Outcome:
    """Chapter 9's mechanism study at full scale, on every MC-Scale-Dropout run.

    Per Scale-Dropout layer (``nn.Sequential`` models, i.e. VGG-small): how far the learned
    scales are from the value a drop puts there, how far a drop moves each sign threshold
    (absolute and relative to the pre-activations' spread), and the share of signs and of
    predictions that change when only that layer's scale is dropped
    (:func:`scaledrop_lib.studies.mechanism.layer_mechanisms`). Per run: the uncertainty the
    T passes add over the deterministic softmax (entropy gain, mutual information) and how
    well each tells errors and OOD inputs apart
    (:func:`scaledrop_lib.studies.mechanism.uncertainty_summary`; D1-D6 built without the
    SVHN/STL-10 files: the bundled natural photos stand in for D5/D6). ResNets have no
    per-layer rows (their blocks are not a chain of stages); ``train`` records their scales.
    """
    s = ctx.settings
    method = "MC-Scale-Dropout"
    if method not in s.methods:
        raise SettingsError(f"mechanism studies {method}: add it to --methods")
    data = load_classification(s)
    runs = _trained(ctx, data, [method])
    x, y = data.test_images, data.test_labels
    ood = {key: o.images for key, o in ood_sets(x, n=s.n_ood, seed=DATA_SEED).items()}
    records, notes = [], {}
    for run in _each(ctx, runs):
        model = run.model
        device = next(model.parameters()).device
        if isinstance(model, nn.Sequential):
            with precision(ctx.amp, ctx.device):
                layers = layer_mechanisms(model, x.to(device), seed=run.seed)
            for layer in layers:
                values = layer.to_dict()
                records.append(
                    _record(
                        run,
                        f"layer {layer.position + 1}",
                        **{k: values[k] for k in MECHANISM_METRICS},
                        real_valued_consumer=float(layer.real_valued_consumer),
                    )
                )
        else:
            notes[run.model_name] = "no per-layer rows: not a chain of stages (see train)"

        def reference(inputs: torch.Tensor, run: Run = run) -> torch.Tensor:
            with precision(ctx.amp, ctx.device):
                return deterministic_predict(run.model, inputs, batch_size=s.eval_batch_size)[
                    None
                ].float()

        summary = uncertainty_summary(_predictor(ctx, run), reference, x, y, ood).to_dict()
        records.append(_record(run, "whole net", **{k: summary[k] for k in UNCERTAINTY_METRICS}))
    rows = summarize(records)
    conditions = list(
        dict.fromkeys(r["condition"] for r in records if r["condition"] != "whole net")
    )
    figures = {}
    if conditions:
        means, sds = series(rows, "sign_flip_share", conditions)
        figures[""] = line_figure(
            conditions,
            means,
            errors=sds,
            title="Share of signs a single dropped scale flips, per Scale-Dropout layer",
            x_title="Scale-Dropout layer",
            y_title="share of signs flipped",
        )
    extra = {"T": s.T, "test_images": len(x), "notes": notes, "checkpoints": _checkpoints(runs)}
    return Outcome(records, extra, figures, "Where Scale-Dropout acts (chapter 9, full scale)")


COMMANDS: dict[str, Callable[[Context], Outcome]] = {
    "train": train,
    "evaluate": evaluate,
    "ood": ood,
    "rotation": rotation,
    "variation": variation,
    "samples": samples,
    "accuracy": accuracy_table,
    "segment": segment,
    "mechanism": mechanism,
}


def run_experiment(
    experiment: str,
    settings: Settings,
    argv: Sequence[str] = (),
    log: Callable[[str], None] = log_to_stderr,
    stdout: TextIO | None = None,
) -> dict[str, Any]:
    """Run one experiment, write its files under ``<out>/results/``, print its table.

    Returns what its JSON file holds, plus ``"files"``: the paths written.

    Under ``torchrun`` (two or more processes) every process runs it within the process group
    (:func:`~scaledrop_lib.experiments.distributed.process_group`: gloo on the CPU, NCCL with
    one GPU per process) and returns the same records; only rank 0 logs, shows progress bars,
    prints and writes files (the others return ``"files": {}``). The metadata records the
    number of processes.
    """
    if experiment not in COMMANDS:
        raise SettingsError(f"unknown experiment {experiment!r}; choose from {list(COMMANDS)}")
    started = datetime.now(timezone.utc)
    with process_group(resolve_device(settings.device)) as device:
        main = is_main()
        if not main:
            log = _quiet
            settings = settings.with_values(progress=False)
        amp = settings.amp
        if amp and not device.startswith("cuda"):
            log("note: --amp ignored on CPU (mixed precision is for GPUs)")
            amp = False
        ctx = Context(experiment, settings, device, amp, log)
        outcome = COMMANDS[experiment](ctx)
        rows = summarize(outcome.records, outcome.references)
        result = {
            "metadata": {
                **metadata(experiment, settings.to_dict(), argv, device, amp, started),
                "processes": world_size(),
            },
            **outcome.extra,
            "records": outcome.records,
            "summary": rows,
        }
        if not main:
            return {**result, "files": {}}
        folder = Path(settings.out) / "results"
        paths = write_results(folder, experiment, result, rows, outcome.figures)
    stream = stdout or sys.stdout
    print(summary_table(rows, outcome.title), file=stream)
    for kind, path in paths.items():
        print(f"{kind:>14}: {path}", file=stream)
    return {**result, "files": {kind: str(path) for kind, path in paths.items()}}


def _quiet(message: str) -> None:
    """The log of processes other than rank 0: rank 0 says it once."""
