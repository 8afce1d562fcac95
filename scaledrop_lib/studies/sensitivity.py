"""Does any setting the paper leaves open make Scale-Dropout's uncertainty visible?

Two parts, both on the 28x28 MNIST workload (:mod:`scaledrop_lib.data.mnist`), both written to
committed result files (:mod:`scaledrop_lib.routines.results`) because they take minutes:

``methods``
    Every method of the zoo (deterministic binary net, MC-Scale-Dropout, SpinDrop,
    Spatial-SpinDrop, Deep Ensemble of 5, full-precision MC-Dropout) over
    :data:`~scaledrop_lib.routines.zoo.MNIST_SEEDS` training seeds, at T = 20 and 50:
    accuracy, NLL, ECE, Brier, MI, error-detection and OOD AUROC beside the deterministic
    softmax entropy, and the per-layer mechanism of each Scale-Dropout model.
``digits``
    The verdicts' two methods (MC-Scale-Dropout and the deterministic binary net) on the 8x8
    digits, five training seeds each, in the methods part's format (chapters 3, 4 and 9).
``shift``
    Every method and seed on rotated (0-180 degrees) and noisy copies of 500 test images (50 per
    class), at T = 20 and 50: accuracy, predictive entropy and MI per level (chapter 4).
``variation``
    Table III: the Scale-Dropout models trained with ideal bits and with 1x MTJ variation,
    evaluated with masks from simulated chips at 0x-3x variation (chapter 6).
``sweep``
    One factor at a time away from the zoo's recipe, one seed each (:data:`VARIANTS`):
    placement, alpha initialisation and learning rate, the shift's size, phi, training length,
    the replacement variant and the random variant's range, layer vs element masks, which
    layers carry a module, p.

``candidates``
    The sweep variants whose one-seed gain clears the visibility bar, retrained with the zoo's
    other two seeds, so a verdict on them rests on three seeds.

"Visible" (issue #20's rule): MC-Scale-Dropout's error-detection or OOD AUROC beats the
deterministic softmax entropy by more than two seed standard deviations (of the paired
difference over the methods part's seeds). A one-seed sweep variant that clears that bar is a
candidate, not a verdict.

Regenerate with ``python -m scaledrop_lib.studies.sensitivity`` (about 45 minutes on 2 CPU
cores; measured per part: methods 11, shift 12, sweep 14 minutes, digits 13 seconds; variation
and candidates a few minutes each), or one part with ``--part``; ``--tiny`` runs a
seconds-long smoke configuration into another folder.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from scaledrop_lib._checks import check_choice, check_positive_int
from scaledrop_lib.data.digits import load_digits_splits
from scaledrop_lib.data.mnist import MNIST_CLASSES, load_mnist5k_splits
from scaledrop_lib.data.shift import add_gaussian_noise, ood_sets, rotate
from scaledrop_lib.kinds import Method
from scaledrop_lib.layers.dropout import check_random_range
from scaledrop_lib.layers.sampling import scale_dropout_layers
from scaledrop_lib.metrics.classification import accuracy
from scaledrop_lib.metrics.predictive import mutual_information, predictive_entropy, predictive_mean
from scaledrop_lib.models.config import NetConfig
from scaledrop_lib.models.mnist import mnist_cnn
from scaledrop_lib.models.units import ScaledBinaryUnit
from scaledrop_lib.paper import PAPER_TABLE_VI
from scaledrop_lib.progress import progress as progress_bar
from scaledrop_lib.routines.results import load_result, save_result
from scaledrop_lib.routines.train import fit, scale_vectors
from scaledrop_lib.routines.zoo import (
    MNIST_SEEDS,
    get_recipe,
    load_mnist_ensemble,
    load_pretrained,
    mnist_recipe_name,
)
from scaledrop_lib.studies.mechanism import layer_mechanisms, uncertainty_summary
from scaledrop_lib.studies.shift import (
    Predictor,
    deterministic_predictor,
    ensemble_predictor,
    mc_predictor,
)
from scaledrop_lib.studies.variation import accuracy_under_variation
from scaledrop_lib.tables import Table

COMMAND = "python -m scaledrop_lib.studies.sensitivity"
METHODS_RESULT = "mnist_methods"
SWEEP_RESULT = "mnist_sweep"
SHIFT_RESULT = "mnist_shift"
VARIATION_RESULT = "mnist_variation"
CANDIDATES_RESULT = "mnist_candidates"
DIGITS_RESULT = "digits_methods"
_GAINS = ("error_gain", "ood_gain")
#: Monte-Carlo passes evaluated for every sampled method (the paper's two settings).
TS = (20, 50)
#: Images per OOD set (D1-D6 analogues around the MNIST test set).
OOD_IMAGES = 500
#: The zoo's recipe, from which every sweep variant changes one factor.
BASE_EPOCHS = 15
BASE_LR = 2e-3
BASE_PATIENCE = 6
BASE_PHI = 1e-5


@dataclass(frozen=True)
class Variant:
    """One sweep setting: the zoo's MC-Scale-Dropout recipe with one factor changed.

    Attributes
    ----------
    name, factor : str
        A short name and the factor it varies.
    description : str
        What changes, in words.
    paper_allows : bool
        Whether the paper's description permits it (False marks a departure: shown beside the
        paper's recipe, never in its place).
    config : dict
        :class:`~scaledrop_lib.models.config.NetConfig` options that change.
    alpha_init : (low, high) or None
        Draw every alpha from U[low, high] instead of starting at 1.
    shift_init_std : float or None
        Draw every learned shift beta from N(0, std^2) instead of 0.
    scale_lr_factor : float
        alpha's learning rate relative to the other parameters.
    phi : float
        Weight of Eq. 17's mean-centring term (1 - mean(alpha))^2.
    epochs : int
        Maximum training epochs (the best validation epoch is kept).
    patience : int or None
        Early-stopping patience in epochs (None: train all ``epochs``).
    random_range : (low, high) or None
        For the random variant: draw a dropped scale from U[low, high], not alpha's range.
    only_last : bool
        Keep a Scale-Dropout module on the last binary layer only (p = 0 elsewhere).
    """

    name: str
    factor: str
    description: str
    paper_allows: bool = True
    config: dict[str, Any] = field(default_factory=dict)
    alpha_init: tuple[float, float] | None = None
    shift_init_std: float | None = None
    scale_lr_factor: float = 1.0
    phi: float = BASE_PHI
    epochs: int = BASE_EPOCHS
    patience: int | None = BASE_PATIENCE
    random_range: tuple[float, float] | None = None
    only_last: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Every sweep setting (one seed each).
VARIANTS: tuple[Variant, ...] = (
    Variant("base", "recipe", "the zoo's recipe: inside BN, alpha = 1, unitary, layer, p = 0.2"),
    Variant("before BN", "placement", "scale before BatchNorm (Eq. 7-8 as printed)",
            config={"placement": "before_bn"}),
    Variant("after BN", "placement", "scale after BatchNorm (Fig. 1's caption)",
            config={"placement": "after_bn"}),
    Variant("alpha ~ U[0.5, 1.5]", "alpha init", "every alpha drawn from U[0.5, 1.5]",
            alpha_init=(0.5, 1.5)),
    Variant("alpha lr x30", "alpha lr", "alpha trains 30x faster than the weights",
            scale_lr_factor=30.0),
    Variant("beta ~ N(0, 0.5^2)", "shift size", "learned shifts start at N(0, 0.5^2), not 0",
            shift_init_std=0.5),
    Variant("phi = 0", "phi", "no mean-centring term in Eq. 17", phi=0.0),
    Variant("phi = 0.01", "phi", "Eq. 17's mean-centring term 1000x stronger", phi=1e-2),
    Variant("5 epochs", "training length", "at most 5 epochs", epochs=5),
    Variant("30 epochs", "training length", "all 30 epochs, no early stopping", epochs=30,
            patience=None),
    Variant("average", "variant", "a dropped scale becomes mean(alpha)",
            config={"variant": "average"}),
    Variant("random", "variant", "a dropped scale becomes U[min alpha, max alpha]",
            config={"variant": "random"}),
    Variant("random U[0.5, 1.5]", "random range", "a dropped scale becomes U[0.5, 1.5]",
            config={"variant": "random"}, random_range=(0.5, 1.5)),
    Variant("random U[0, 2]", "random range", "a dropped scale becomes U[0, 2]",
            config={"variant": "random"}, random_range=(0.0, 2.0)),
    Variant("element masks", "masks", "one Bernoulli draw per channel, not per layer",
            paper_allows=False, config={"granularity": "element"}),
    Variant("last layer only", "modules", "Scale-Dropout on the last binary layer only",
            paper_allows=False, only_last=True),
    Variant("p = 0.1", "p", "dropout probability 0.1", config={"p": 0.1}),
    Variant("p = 0.5", "p", "dropout probability 0.5", config={"p": 0.5}),
    Variant("all three inits", "combined",
            "alpha ~ U[0.5, 1.5], alpha lr x30 and beta ~ N(0, 0.5^2) together",
            alpha_init=(0.5, 1.5), scale_lr_factor=30.0, shift_init_std=0.5),
)  # fmt: skip


def build_variant(variant: Variant, seed: int = 0) -> nn.Module:
    """The untrained MNIST CNN of a sweep variant (initialisation changes applied)."""
    torch.manual_seed(seed)
    model = mnist_cnn(NetConfig(dropout="scale", p=0.2).with_options(**variant.config))
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        if variant.alpha_init is not None:
            low, high = variant.alpha_init
            for alpha in scale_vectors(model):
                alpha.copy_(low + (high - low) * torch.rand(alpha.shape, generator=generator))
        if variant.shift_init_std is not None:
            for unit in model.modules():
                if isinstance(unit, ScaledBinaryUnit) and unit.shift is not None:
                    unit.shift.normal_(0.0, variant.shift_init_std, generator=generator)
    if variant.random_range is not None:
        for _, layer in scale_dropout_layers(model):
            layer.scale_dropout.random_range = check_random_range(variant.random_range, "random")
    if variant.only_last:
        for _, layer in scale_dropout_layers(model)[:-1]:
            layer.scale_dropout.p = 0.0
    return model


def train_variant(
    variant: Variant,
    splits,
    seed: int = 0,
    epochs: int | None = None,
    progress: bool = False,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train a sweep variant on ``splits`` (train/val); return the model and its history."""
    model = build_variant(variant, seed)
    shuffle = torch.Generator().manual_seed(seed)
    history = fit(
        model,
        DataLoader(splits.train, batch_size=64, shuffle=True, generator=shuffle),
        DataLoader(splits.val, batch_size=256),
        epochs=epochs or variant.epochs,
        lr=BASE_LR,
        phi=variant.phi,
        patience=variant.patience,
        seed=seed,
        scale_lr_factor=variant.scale_lr_factor,
        progress=progress,
    )
    return model, history.to_dict()


def scale_statistics(model: nn.Module) -> list[dict[str, float]]:
    """Per Scale-Dropout layer: mean ``|alpha - 1|``, min and max alpha, mean ``|beta|``."""
    rows = []
    for _, layer in scale_dropout_layers(model):
        alpha = layer.alpha.detach()
        rows.append(
            {
                "mean_abs_alpha_minus_1": float((alpha - 1).abs().mean()),
                "alpha_min": float(alpha.min()),
                "alpha_max": float(alpha.max()),
                "p": float(layer.scale_dropout.p),
            }
        )
    # a layer's learned shift beta lives in its unit (none outside a unit, or outside BN)
    shift_of = {id(m.layer): m.shift for m in model.modules() if isinstance(m, ScaledBinaryUnit)}
    for row, (_, layer) in zip(rows, scale_dropout_layers(model), strict=True):
        shift = shift_of.get(id(layer))
        row["mean_abs_beta"] = math.nan if shift is None else float(shift.detach().abs().mean())
    return rows


@dataclass(frozen=True)
class EvaluationData:
    """The clean test images and labels, and the OOD sets, every evaluation uses."""

    images: torch.Tensor
    labels: torch.Tensor
    ood: dict[str, torch.Tensor]


def evaluation_data(n_test: int | None = None, n_ood: int = OOD_IMAGES) -> EvaluationData:
    """The MNIST test split (optionally its first ``n_test`` images) and D1-D6 around it."""
    test: TensorDataset = load_mnist5k_splits(seed=0).test
    images, labels = test.tensors
    if n_test is not None:
        images, labels = images[:n_test], labels[:n_test]
    sets = ood_sets(images, n=n_ood, seed=0)
    return EvaluationData(images, labels, {key: s.images for key, s in sets.items()})


def _summaries(model: nn.Module, data: EvaluationData, Ts: Sequence[int]) -> dict[str, dict]:
    reference = deterministic_predictor(model)
    return {
        str(T): uncertainty_summary(
            mc_predictor(model, T), reference, data.images, data.labels, data.ood
        ).to_dict()
        for T in Ts
    }


#: The zoo method names evaluated in the methods part, in table order.
MNIST_EVALUATED = (
    "deterministic",
    "scale_dropout",
    "spin_dropout",
    "spatial_spin_dropout",
    "ensemble",
    "mc_dropout_float",
    "float",
)
#: The evaluated methods that sample T Monte-Carlo passes.
_SAMPLED = ("scale_dropout", "spin_dropout", "spatial_spin_dropout", "mc_dropout_float")


def evaluate_methods(
    data: EvaluationData, Ts: Sequence[int] = TS, seeds: int = MNIST_SEEDS, progress: bool = True
) -> dict[str, Any]:
    """The methods part: every zoo method and seed (see the module docstring)."""
    out: dict[str, Any] = {"Ts": list(Ts), "seeds": seeds, "methods": {}, "mechanism": []}
    jobs = [(k, method) for k in range(seeds) for method in MNIST_EVALUATED]
    for k, method in progress_bar(jobs, desc="methods x seeds", enabled=progress):
        record = out["methods"].setdefault(method, [])
        if method not in _SAMPLED:  # one deterministic pass, or the ensemble's members
            predict = method_predictor(method, k, T=1)
            # the ensemble is judged against its first member, the seed's deterministic net
            reference = predict if method != "ensemble" else method_predictor("deterministic", k, 1)
            summary = uncertainty_summary(predict, reference, data.images, data.labels, data.ood)
            record.append({str(summary.samples): summary.to_dict()})
            continue
        model = load_pretrained(mnist_recipe_name(method, k))[0]
        record.append(_summaries(model, data, Ts))
        if method == "scale_dropout":
            out["mechanism"].append(
                {
                    "layers": [m.to_dict() for m in layer_mechanisms(model, data.images)],
                    "scales": scale_statistics(model),
                }
            )
    return out


def method_predictor(method: str, seed_index: int, T: int) -> Predictor:
    """The predictor of a zoo method (see :data:`MNIST_EVALUATED`) for one training seed:
    T MC passes (seeded), the 5 ensemble members, or one deterministic pass."""
    check_choice("method", method, MNIST_EVALUATED)
    if method == "ensemble":
        return ensemble_predictor(load_mnist_ensemble(seed_index))
    model = load_pretrained(mnist_recipe_name(method, seed_index))[0]
    return mc_predictor(model, T) if method in _SAMPLED else deterministic_predictor(model)


#: The 8x8 digits models the digits part pairs per training seed: MC-Scale-Dropout nets of the
#: chapter 6 set (``cnn_var_ideal_<k>``, seed 200 + k) and deterministic binary nets of the
#: ensemble (``cnn_ensemble_<k>``, seed 100 + k); both the digits CNN recipe, 5 seeds each.
DIGITS_MODELS = {"scale_dropout": "cnn_var_ideal_{}", "deterministic": "cnn_ensemble_{}"}
#: Training seeds per method of the digits part (the zoo has five 8x8 nets of each).
DIGITS_SEEDS = 5


def digits_evaluation_data() -> EvaluationData:
    """The 8x8 digits test split (360 images) and D1-D6 built around it."""
    images, labels = load_digits_splits().test.tensors
    sets = ood_sets(images, seed=0)
    return EvaluationData(images, labels, {key: s.images for key, s in sets.items()})


def evaluate_digits_methods(
    data: EvaluationData | None = None,
    Ts: Sequence[int] = TS,
    seeds: int = DIGITS_SEEDS,
    progress: bool = True,
) -> dict[str, Any]:
    """The digits part: the verdicts' two methods on the 8x8 workload, in the methods part's
    format (so :func:`verdict_table` and :func:`methods_table` read it): MC-Scale-Dropout and
    the deterministic binary net, :data:`DIGITS_SEEDS` training seeds each (see
    :data:`DIGITS_MODELS`; a seed index pairs two independently trained nets)."""
    seeds = check_positive_int("seeds", seeds)
    if seeds > DIGITS_SEEDS:
        raise ValueError(f"seeds must be at most {DIGITS_SEEDS} (the zoo's 8x8 seeds), got {seeds}")
    data = data or digits_evaluation_data()
    out: dict[str, Any] = {"workload": "8x8 digits", "Ts": list(Ts), "seeds": seeds,
                           "models": DIGITS_MODELS, "methods": {}, "mechanism": []}  # fmt: skip
    for k in progress_bar(range(seeds), desc="digits seeds", enabled=progress):
        det = load_pretrained(DIGITS_MODELS["deterministic"].format(k))[0]
        predict = deterministic_predictor(det)
        summary = uncertainty_summary(predict, predict, data.images, data.labels, data.ood)
        out["methods"].setdefault("deterministic", []).append({"1": summary.to_dict()})
        model = load_pretrained(DIGITS_MODELS["scale_dropout"].format(k))[0]
        out["methods"].setdefault("scale_dropout", []).append(_summaries(model, data, Ts))
        out["mechanism"].append(
            {
                "layers": [m.to_dict() for m in layer_mechanisms(model, data.images)],
                "scales": scale_statistics(model),
            }
        )
    return out


#: Rotation angles (degrees) and Gaussian noise levels (pixel sd) of the shift part.
SHIFT_ANGLES = (0, 30, 60, 90, 120, 150, 180)
SHIFT_NOISE = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
#: Test images the shift part uses (the first SHIFT_IMAGES / 10 of each class) and its MC
#: passes (T = 20 is the first 20 of the 50 passes).
SHIFT_IMAGES = 500
SHIFT_TS = TS


def per_class_subset(labels: torch.Tensor, per_class: int) -> torch.Tensor:
    """Indices of the first ``per_class`` inputs of every class, in order (the test split is
    sorted by class, so its first N images are not a sample of all classes)."""
    per_class = check_positive_int("per_class", per_class)
    chosen = []
    for label in torch.unique(labels).tolist():
        members = torch.nonzero(labels == label).flatten()
        if len(members) < per_class:
            raise ValueError(f"class {label} has {len(members)} inputs, fewer than {per_class}")
        chosen.append(members[:per_class])
    return torch.sort(torch.cat(chosen)).values


def _shift_record(samples: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    return {
        "accuracy": accuracy(predictive_mean(samples), labels),
        "entropy": float(predictive_entropy(samples).mean()),
        "mutual_information": float(mutual_information(samples).mean()),
    }


def evaluate_shift(
    images: torch.Tensor,
    labels: torch.Tensor,
    angles: Sequence[float] = SHIFT_ANGLES,
    noise: Sequence[float] = SHIFT_NOISE,
    Ts: Sequence[int] = SHIFT_TS,
    seeds: int = MNIST_SEEDS,
    progress: bool = True,
) -> dict[str, Any]:
    """The shift part: every zoo method and seed on rotated (Fig. 6, extended to 180 degrees)
    and noisy copies of ``images``: accuracy of the mean, mean predictive entropy and mean MI.

    The MC methods draw ``max(Ts)`` passes once; a smaller T uses the first T of them.

    Returns ``{"angles", "noise", "Ts", "seeds", "methods": {method: [per seed: {samples:
    {"rotation": {metric: [per angle]}, "noise": {metric: [per level]}}}]}}`` where
    ``samples`` is each T (as a string) for MC methods, "1" for one pass and "5" for the
    ensemble (see :func:`shift_record`).
    """
    Ts = sorted({check_positive_int("Ts", T) for T in Ts})
    rotated = [rotate(images, float(a)) for a in angles]
    noisy = [add_gaussian_noise(images, float(std), seed=1) for std in noise]
    out: dict[str, Any] = {"angles": list(angles), "noise": list(noise), "Ts": Ts,
                           "seeds": seeds, "methods": {}}  # fmt: skip
    jobs = [(k, method) for k in range(seeds) for method in MNIST_EVALUATED]
    for k, method in progress_bar(jobs, desc="shift: methods x seeds", enabled=progress):
        predict = method_predictor(method, k, Ts[-1])
        record: dict[str, dict[str, dict[str, list[float]]]] = {}
        for kind, inputs in (("rotation", rotated), ("noise", noisy)):
            samples = [predict(x) for x in inputs]
            counts = Ts if method in _SAMPLED else [len(samples[0])]
            for T in counts:
                rows = [_shift_record(s[:T], labels) for s in samples]
                entry = record.setdefault(str(T), {})
                entry[kind] = {key: [r[key] for r in rows] for key in rows[0]}
        out["methods"].setdefault(method, []).append(record)
    return out


def shift_record(record: dict[str, Any], T: int) -> dict[str, Any]:
    """One seed's shift curves of a method at T passes (one-pass methods and the ensemble
    have one entry, whatever T)."""
    return record[_samples_key(record, T)]


def shift_table(shift: dict[str, Any], kind: str = "rotation", T: int = 50) -> Table:
    """Per method (mean ± sd over seeds): accuracy with no shift and at the strongest shift,
    the largest rise of the mean predictive entropy, and the largest mean MI (10^-3 nats)."""
    check_choice("kind", kind, ("rotation", "noise"))
    if T not in shift["Ts"]:
        raise ValueError(f"T must be one of the study's {shift['Ts']}, got {T!r}")
    levels = shift["angles"] if kind == "rotation" else shift["noise"]
    last = f"{levels[-1]:g}°" if kind == "rotation" else f"sd {levels[-1]:g}"
    columns = ["method", "accuracy, none", f"accuracy, {last}", "largest entropy rise",
               "largest MI (mnats)"]  # fmt: skip
    rows = []
    for method in _ordered(shift):
        seeds = [shift_record(record, T)[kind] for record in shift["methods"][method]]
        rows.append(
            [METHOD_LABELS[method],
             _mean_sd([r["accuracy"][0] for r in seeds]),
             _mean_sd([r["accuracy"][-1] for r in seeds]),
             _mean_sd([max(r["entropy"]) - r["entropy"][0] for r in seeds]),
             _mean_sd([1e3 * max(r["mutual_information"]) for r in seeds])]
        )  # fmt: skip
    return Table(
        columns,
        rows,
        formats={
            columns[1]: _pm(".2%"),
            columns[2]: _pm(".2%"),
            columns[3]: _pm(".3f"),
            columns[4]: _pm(".1f"),
        },
        title=f"{kind.capitalize()} on 28x28 MNIST ({shift['seeds']} seeds, mean ± sd, "
        f"T = {T} for the MC methods)",
        note="largest entropy rise: the maximum over shift levels of the mean predictive "
        "entropy (nats) minus its unshifted value; MI is 0 for the deterministic and float nets "
        "(one pass).",
    )


def shift_samples_table(shift: dict[str, Any], kind: str = "rotation") -> Table:
    """The MC methods at each T of the study: accuracy at the strongest shift and the largest
    mean MI (10^-3 nats), mean ± sd over seeds; does T = 20 tell a different story from 50?"""
    check_choice("kind", kind, ("rotation", "noise"))
    levels = shift["angles"] if kind == "rotation" else shift["noise"]
    last = f"{levels[-1]:g}°" if kind == "rotation" else f"sd {levels[-1]:g}"
    Ts = shift["Ts"]
    columns = ["method"]
    columns += [f"accuracy, {last}, T = {T}" for T in Ts]
    columns += [f"largest MI (mnats), T = {T}" for T in Ts]
    rows = []
    for method in (m for m in _ordered(shift) if m in _SAMPLED):
        per_T = [[shift_record(r, T)[kind] for r in shift["methods"][method]] for T in Ts]
        rows.append(
            [METHOD_LABELS[method]]
            + [_mean_sd([r["accuracy"][-1] for r in seeds]) for seeds in per_T]
            + [_mean_sd([1e3 * max(r["mutual_information"]) for r in seeds]) for seeds in per_T]
        )
    formats = {c: _pm(".2%") for c in columns[1 : 1 + len(Ts)]}
    formats.update({c: _pm(".1f") for c in columns[1 + len(Ts) :]})
    return Table(
        columns,
        rows,
        formats=formats,
        title=f"{kind.capitalize()}: T = {' vs '.join(map(str, Ts))} passes "
        f"({shift['seeds']} seeds, mean ± sd)",
        note=f"T = {Ts[0]} uses the first {Ts[0]} of the same {Ts[-1]} passes.",
    )


#: Variation levels (multiples of the paper's 1x, Eq. 22) and simulated chips of Table III.
VARIATION_LEVELS = (0, 1, 2, 3)
VARIATION_CHIPS = 3
VARIATION_TRAININGS = {"ideal": "scale_dropout", "aware": "var_aware"}


def evaluate_variation(
    images: torch.Tensor,
    labels: torch.Tensor,
    levels: Sequence[float] = VARIATION_LEVELS,
    chips: int = VARIATION_CHIPS,
    T: int = 20,
    seeds: int = MNIST_SEEDS,
    progress: bool = True,
) -> dict[str, Any]:
    """The variation part (Table III): MC-Scale-Dropout accuracy (T passes) with masks from
    ``chips`` simulated MTJ chips at each variation level, for the models trained with ideal
    bits (``mnist_scale_dropout_s<k>``) and with 1x variation (``mnist_var_aware_s<k>``).

    Returns ``{"levels", "chips", "T", "seeds", "ideal": [per seed: [per level: [per chip]]],
    "aware": ...}``.
    """
    out: dict[str, Any] = {"levels": list(levels), "chips": chips, "T": T, "seeds": seeds}
    jobs = [(training, k) for training in VARIATION_TRAININGS for k in range(seeds)]
    for training, k in progress_bar(jobs, desc="variation: trainings x seeds", enabled=progress):
        model = load_pretrained(mnist_recipe_name(VARIATION_TRAININGS[training], k))[0]
        per_level = [
            accuracy_under_variation(model, images, labels, float(level), chips=chips, T=T)
            for level in levels
        ]
        out.setdefault(training, []).append(per_level)
    return out


def variation_table(variation: dict[str, Any]) -> Table:
    """Table III analogue: accuracy (mean ± sd over training seeds of each seed's mean over
    chips) per training and variation level."""
    levels = [f"{level:g}x" for level in variation["levels"]]
    labels = {"ideal": "trained w/o variation", "aware": "trained w/ 1x variation"}
    rows = []
    for training, label in labels.items():
        seeds = variation[training]
        rows.append(
            [label, *(_mean_sd([statistics.fmean(seed[i]) for seed in seeds])
                      for i in range(len(levels)))]
        )  # fmt: skip
    return Table(
        ["training", *levels],
        rows,
        formats=dict.fromkeys(levels, _pm(".2%")),
        title=f"Table III analogue on 28x28 MNIST: MC-Scale-Dropout accuracy, T = "
        f"{variation['T']}, {variation['chips']} chips per level",
        note=f"mean ± sd over {variation['seeds']} training seeds (each seed: the mean over its "
        "chips). Ours, not the paper's.",
    )


def variation_verdict_table(variation: dict[str, Any]) -> Table:
    """The paper's Table III claims against our measurement, per training seed:

    * variation does not hurt: accuracy at the strongest level minus at 0x (models trained
      with ideal bits); "not supported" only if it falls by more than two seed sds;
    * variation-aware training helps: aware minus ideal at 1x (same seed), judged like
      :func:`verdict_table`'s rows.
    """
    levels = variation["levels"]
    if 1 not in levels or len(levels) < 2:
        raise ValueError("variation must include level 1 and at least one other level")
    one = levels.index(1)

    def chip_mean(training: str, index: int) -> list[float]:
        return [statistics.fmean(seed[index]) for seed in variation[training]]

    drop = [a - b for a, b in zip(chip_mean("ideal", -1), chip_mean("ideal", 0), strict=True)]
    mean, sd = _mean_sd(drop)
    bar = 2 * sd if math.isfinite(sd) else math.inf
    harm = ("not supported", f"falls by more than two seed sds ({bar:.3g})") if mean < -bar else (
        "supported", f"no fall beyond two seed sds ({bar:.3g})")  # fmt: skip
    aware = [a - b for a, b in zip(chip_mean("aware", one), chip_mean("ideal", one), strict=True)]
    rows = [
        [f"variation does not hurt ({levels[-1]:g}x vs 0x)",
         "ResNet-18 91.61 % -> 91.58 %, VGG 90.26 % -> 90.30 %", (mean, sd), *harm],
        ["variation-aware training helps (at 1x)",
         "ResNet-18 91.78 % vs 91.65 %, VGG 90.52 % vs 90.28 %", _mean_sd(aware),
         *_difference_verdict(aware, True)],
    ]  # fmt: skip
    return Table(
        ["claim (Table III)", "paper's numbers", "ours: difference", "verdict", "why"],
        rows,
        formats={"ours: difference": _pm("+.4f")},
        title=f"Table III's claims on 28x28 MNIST ({variation['seeds']} seeds, T = "
        f"{variation['T']})",
        note="difference in accuracy (each seed's mean over chips); mean ± sd over seeds. The "
        "paper's numbers are single runs on CIFAR-10.",
    )


def run_sweep(
    data: EvaluationData,
    variants: Sequence[Variant] = VARIANTS,
    T: int = 50,
    seed: int = 0,
    epochs: int | None = None,
    train_limit: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The sweep part: train and evaluate each variant (one seed)."""
    splits = _limited_splits(train_limit)
    rows = []
    for variant in progress_bar(list(variants), desc="sweep variants", enabled=progress):
        model, history = train_variant(variant, splits, seed, epochs)
        rows.append(
            {
                "variant": variant.to_dict(),
                "best_epoch": history["best_epoch"],
                "summary": _summaries(model, data, [T])[str(T)],
                "layers": [m.to_dict() for m in layer_mechanisms(model, data.images)],
                "scales": scale_statistics(model),
            }
        )
    return {"T": T, "seed": seed, "rows": rows}


def candidate_names(sweep: dict[str, Any], bar: Mapping[str, float]) -> list[str]:
    """Sweep variants whose error or OOD gain over their own deterministic pass exceeds the
    visibility ``bar`` (one seed: candidates to check on more seeds)."""
    return [row["variant"]["name"] for row in sweep["rows"] if _above_bar(row["summary"], bar)]


def _above_bar(summary: Mapping[str, float], bar: Mapping[str, float]) -> bool:
    """Whether a one-seed gain (error or OOD) over the own deterministic pass clears ``bar``."""
    return any(math.isfinite(summary[key]) and summary[key] > bar[key] for key in _GAINS)


def run_candidates(
    data: EvaluationData,
    sweep: dict[str, Any],
    names: Sequence[str],
    seeds: int = MNIST_SEEDS,
    epochs: int | None = None,
    train_limit: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Retrain the named sweep variants with the zoo's other training seeds (10 k), so each has
    ``seeds`` seeds; seed 0 is the sweep's own run. Summaries at the sweep's T."""
    if sweep["seed"] != 0:
        raise ValueError("the sweep must have run with seed 0 (the zoo's first seed)")
    T = sweep["T"]
    splits = _limited_splits(train_limit)
    by_name = {row["variant"]["name"]: row for row in sweep["rows"]}
    variants = {v.name: v for v in VARIANTS}
    rows: dict[str, list[dict[str, Any]]] = {}
    jobs = [(name, k) for name in names for k in range(1, seeds)]
    for name in names:
        if name not in by_name or name not in variants:
            raise ValueError(f"unknown sweep variant {name!r}")
        rows[name] = [by_name[name]["summary"]]
    for name, k in progress_bar(jobs, desc="candidate seeds", enabled=progress):
        model, _ = train_variant(variants[name], splits, 10 * k, epochs)
        rows[name].append(_summaries(model, data, [T])[str(T)])
    return {"T": T, "seeds": seeds, "candidates": rows}


def _limited_splits(train_limit: int | None):
    splits = load_mnist5k_splits(seed=0)
    if train_limit is None:
        return splits
    return type(splits)(
        TensorDataset(*(t[:train_limit] for t in splits.train.tensors)),
        TensorDataset(*(t[:train_limit] for t in splits.val.tensors)),
        splits.test,
    )


def candidates_table(candidates: dict[str, Any], methods: dict[str, Any]) -> Table:
    """The sweep's candidates over seeds: gains over their own deterministic pass and over the
    deterministic binary net of the same seed (the baseline "visible" is defined against)."""
    T = candidates["T"]
    columns = ["variant", "accuracy", "error gain, own pass", "error gain, binary net",
               "OOD gain, binary net", "visible?"]  # fmt: skip
    det_error = metric_over_seeds(methods, "deterministic", "error_auroc_reference", T)
    det_ood = metric_over_seeds(methods, "deterministic", "ood_auroc_reference", T)
    rows = []
    for name, seeds in candidates["candidates"].items():
        error = [s["error_auroc_entropy"] for s in seeds]
        # zip without strict: a --tiny run has fewer method seeds than candidate seeds
        vs_net = [e - d for e, d in zip(error, det_error, strict=False)]
        ood_vs_net = [s["ood_auroc_entropy"] - d for s, d in zip(seeds, det_ood, strict=False)]
        verdicts = [_difference_verdict(v, True)[0] for v in (vs_net, ood_vs_net)]
        rows.append(
            [name, _mean_sd([s["accuracy"] for s in seeds]),
             _mean_sd([s["error_gain"] for s in seeds]), _mean_sd(vs_net), _mean_sd(ood_vs_net),
             "yes" if "supported" in verdicts else "no"]
        )  # fmt: skip
    return Table(
        columns,
        rows,
        formats={
            "accuracy": _pm(".2%"),
            "error gain, own pass": _pm("+.3f"),
            "error gain, binary net": _pm("+.3f"),
            "OOD gain, binary net": _pm("+.3f"),
        },
        title=f"The sweep's candidates on {candidates['seeds']} training seeds (T = {T})",
        note="accuracy of the MC mean; gains: AUROC of the MC predictive entropy minus the "
        "model's own deterministic pass, or minus the deterministic binary net of the same "
        "seed. visible: a gain over the binary net (error or OOD) beyond two seed sds. Seeds "
        "0, 10, 20 as in the zoo.",
    )


def visibility_threshold(methods: dict[str, Any], T: int = 50) -> dict[str, float]:
    """Two seed standard deviations of MC-Scale-Dropout's paired AUROC gains over its own
    deterministic pass (error detection and OOD), from the methods part."""
    seeds = methods["methods"]["scale_dropout"]
    out = {}
    for gain in ("error_gain", "ood_gain"):
        values = [s[str(T)][gain] for s in seeds]
        out[gain] = 2 * statistics.stdev(values) if len(values) > 1 else math.nan
    return out


#: How the book names each evaluated zoo method.
METHOD_LABELS: dict[str, Method] = {
    "deterministic": Method.DETERMINISTIC,
    "scale_dropout": Method.MC_SCALE_DROPOUT,
    "spin_dropout": Method.SPINDROP,
    "spatial_spin_dropout": Method.SPATIAL_SPINDROP,
    "ensemble": Method.ENSEMBLE,
    "mc_dropout_float": Method.MC_DROPOUT,
    "float": Method.FLOAT,
}


def _samples_key(record: dict[str, Any], T: int) -> str:
    """The summary of a record to use: T passes for MC methods, else its only entry."""
    return str(T) if str(T) in record else next(iter(record))


def metric_over_seeds(
    methods: dict[str, Any], method: str, metric: str, T: int = 50
) -> list[float]:
    """``metric`` of ``method`` per training seed (T passes for MC methods)."""
    if method not in methods["methods"]:
        raise ValueError(f"unknown method {method!r}; known: {sorted(methods['methods'])}")
    return [float(r[_samples_key(r, T)][metric]) for r in methods["methods"][method]]


def gains_over_deterministic(
    methods: dict[str, Any], method: str, task: str = "error", T: int = 50
) -> list[float]:
    """Per seed: ``method``'s AUROC (predictive entropy) minus the deterministic binary net's
    softmax-entropy AUROC, for ``task`` "error" (error detection) or "ood" (mean over D1-D6)."""
    if task not in ("error", "ood"):
        raise ValueError(f"task must be 'error' or 'ood', got {task!r}")
    own = metric_over_seeds(methods, method, f"{task}_auroc_entropy", T)
    base = metric_over_seeds(methods, "deterministic", f"{task}_auroc_reference", T)
    return [a - b for a, b in zip(own, base, strict=True)]


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    sd = statistics.stdev(finite) if len(finite) > 1 else math.nan
    return statistics.fmean(finite), sd


def _pm(spec: str):
    """A cell format for (mean, sd) pairs: "mean ± sd" (the sd never signed)."""
    sd_spec = spec.lstrip("+")

    def show(pair: tuple[float, float]) -> str:
        mean, sd = pair
        if math.isnan(mean):
            return "n/a"
        if not math.isfinite(sd):
            return format(mean, spec)
        return f"{format(mean, spec)}\u00a0±\u00a0{format(sd, sd_spec)}"  # never wrapped

    return show


def workload_of(methods: dict[str, Any]) -> str:
    """The workload a methods-format result measured (the MNIST parts predate the key)."""
    return methods.get("workload", "28x28 MNIST")


def _ordered(methods: dict[str, Any]) -> list[str]:
    """The evaluated methods in table order (known ones first, in MNIST_EVALUATED order)."""
    known = [m for m in MNIST_EVALUATED if m in methods["methods"]]
    return known + sorted(set(methods["methods"]) - set(known))


#: The parts of :func:`methods_table` (one table would not fit a page).
METHODS_TABLE_PARTS = ("calibration", "error detection", "OOD detection")


def methods_table(methods: dict[str, Any], T: int = 50, part: str = "error detection") -> Table:
    """Every method of a methods-format result (28x28 MNIST or 8x8 digits), mean ± sd over
    the training seeds (T passes).

    ``part="calibration"``: accuracy, NLL, ECE and Brier score of the predictive mean.
    ``part="error detection"``: mean MI (in 10^-3 nats), the AUROC of the predictive entropy
    for telling errors from correct predictions, and its gain over the deterministic binary
    net's softmax entropy (same seed). ``part="OOD detection"``: the same AUROC and gain for
    OOD inputs (mean over D1-D6), and the Eq. 24 rule's share of OOD inputs flagged and of
    clean test inputs wrongly flagged.
    """
    check_choice("part", part, METHODS_TABLE_PARTS)
    metrics = {
        "calibration": {"accuracy": ("accuracy", ".2%"), "NLL": ("nll", ".3f"),
                        "ECE": ("ece", ".3f"), "Brier": ("brier", ".3f")},
        "error detection": {"MI (mnats)": ("mutual_information", ".1f"),
                            "AUROC": ("error_auroc_entropy", ".3f")},
        "OOD detection": {"AUROC": ("ood_auroc_entropy", ".3f"),
                          "Eq. 24: OOD flagged": ("eq24_ood_rate", ".1%"),
                          "Eq. 24: clean flagged": ("eq24_clean_rate", ".1%")},
    }[part]  # fmt: skip
    gain = {"error detection": "error", "OOD detection": "ood"}.get(part)
    columns = ["method", "T", *metrics] + (["AUROC gain"] if gain else [])
    scale = {"mutual_information": 1e3}
    rows = []
    for method in _ordered(methods):
        samples = int(metric_over_seeds(methods, method, "samples", T)[0])
        row: list[Any] = [METHOD_LABELS.get(method, method), samples if samples > 1 else None]
        for key, _ in metrics.values():
            factor = scale.get(key, 1.0)
            row.append(_mean_sd([factor * v for v in metric_over_seeds(methods, method, key, T)]))
        if gain:
            row.append(_mean_sd(gains_over_deterministic(methods, method, gain, T)))
        rows.append(row)
    formats = {name: _pm(spec) for name, (_, spec) in metrics.items()}
    formats["AUROC gain"] = _pm("+.3f")
    notes = {
        "calibration": "Accuracy, NLL, ECE (15 bins) and Brier score of the predictive mean. ",
        "error detection": "MI in 10^-3 nats; AUROC of the predictive entropy for telling "
        "errors from correct predictions; gain: minus the deterministic binary net's "
        "softmax-entropy AUROC of the same seed. ",
        "OOD detection": "AUROC of the predictive entropy, mean over D1-D6; gain: minus the "
        "deterministic binary net's of the same seed; Eq. 24 (threshold 0.95, 10th "
        "percentile): mean share of each OOD set flagged, and of the clean test images. ",
    }
    return Table(
        columns,
        rows,
        formats={k: v for k, v in formats.items() if k in columns},
        title=f"{workload_of(methods)}, {part} ({methods['seeds']} seeds, mean ± sd, T = {T})",
        note="T: MC passes (members for the ensemble; - for one deterministic pass). "
        + notes[part]
        + "Ours, not the paper's.",
    )


def sweep_table(
    sweep: dict[str, Any], bar: Mapping[str, float], factors: Sequence[str] | None = None
) -> Table:
    """One row per sweep variant: accuracy, MI, ``|alpha - 1|``, the largest per-layer
    prediction flip share, and the AUROC gains over the model's own deterministic pass,
    marked "candidate" where a gain exceeds ``bar`` (two seed sds of the base recipe);
    departures from the paper are marked in the variant's name. ``factors`` keeps only the
    variants of those factors (e.g. ``("recipe", "placement")``)."""
    known = {row["variant"]["factor"] for row in sweep["rows"]}
    for factor in factors or ():
        check_choice("factors", factor, tuple(sorted(known)))
    columns = ["variant", "accuracy", "MI (nats)", "mean |alpha-1|", "max flips",
               "error gain", "OOD gain", "visible?"]  # fmt: skip
    rows = []
    for row in sweep["rows"]:
        summary, variant = row["summary"], row["variant"]
        if factors is not None and variant["factor"] not in factors:
            continue
        name = variant["name"] + ("" if variant["paper_allows"] else " (departure)")
        rows.append(
            [
                name,
                summary["accuracy"],
                summary["mutual_information"],
                statistics.fmean(s["mean_abs_alpha_minus_1"] for s in row["scales"]),
                max(layer["prediction_flip_share"] for layer in row["layers"]),
                summary["error_gain"],
                summary["ood_gain"],
                "candidate" if _above_bar(summary, bar) else "no",
            ]
        )
    return Table(
        columns,
        rows,
        formats={
            "accuracy": ".2%",
            "MI (nats)": ".1e",
            "mean |alpha-1|": ".3f",
            "max flips": ".1%",
            "error gain": "+.3f",
            "OOD gain": "+.3f",
        },
        title=f"One factor at a time (one seed, T = {sweep['T']})",
        note="accuracy of the MC mean; max flips: the largest share of predictions one layer's "
        "drop changes; gains: AUROC of the MC predictive entropy minus the same model's "
        f"deterministic softmax entropy. Visible bar (two seed sds of the base recipe): error "
        f"{bar['error_gain']:.3f}, OOD {bar['ood_gain']:.3f}; candidate: above it on this seed.",
    )


#: Our method -> (bit-widths W/A, Bayesian inference, the paper's Table VI row name).
_TABLE_VI_ROWS: dict[str, tuple[str, bool, str | None]] = {
    "float": ("32/32", False, "FP"),
    "deterministic": ("1/1", False, "IR-Net [22]"),
    "spin_dropout": ("1/1", True, "SpinDrop [29]"),
    "spatial_spin_dropout": ("1/1", True, "Spatial-SpinDrop [35]"),
    "scale_dropout": ("1/1", True, "Proposed"),
    "ensemble": ("1/1", True, None),
    "mc_dropout_float": ("32/32", True, None),
}


def accuracy_table(methods: dict[str, Any], T: int = 50, topology: str = "VGG") -> Table:
    """Table VI analogue: clean accuracy of every method we train (mean ± sd over seeds, T
    passes for MC methods) beside the paper's Table VI row for the same method on CIFAR-10
    (``topology``: "VGG", "ResNet-18" or "ResNet-20"; "-" where the paper has no such row)."""
    published = {row.method: row.accuracy for row in PAPER_TABLE_VI if row.topology == topology}
    if not published:
        raise ValueError(f"topology must be VGG, ResNet-18 or ResNet-20, got {topology!r}")
    rows = []
    for method, (bits, bayesian, paper_row) in _TABLE_VI_ROWS.items():
        if method not in methods["methods"]:
            continue
        ours = _mean_sd(metric_over_seeds(methods, method, "accuracy", T))
        paper = published.get(paper_row) if paper_row else None
        label = f"{METHOD_LABELS[method]}{' (MC)' if bayesian else ''}"
        rows.append([label, bits, ours, None if paper is None else paper / 100, paper_row or "-"])
    columns = ["method", "W/A", "ours: MNIST 28x28", f"paper: {topology}, CIFAR-10", "paper's row"]
    return Table(
        columns,
        rows,
        formats={columns[2]: _pm(".2%"), columns[3]: ".2%"},
        title=f"Table VI analogue: clean test accuracy (ours: {methods['seeds']} seeds, "
        f"mean ± sd, T = {T})",
        note="Different data and networks: compare the ordering of methods, not the numbers. "
        "Our deterministic binary net is IR-Net-style (IR-Net's Eq. 12-16 binarisation).",
    )


def _difference_verdict(values: list[float], higher_is_better: bool) -> tuple[str, str]:
    """(verdict, reason) for paired per-seed differences (method - baseline)."""
    mean, sd = _mean_sd(values)
    if math.isnan(mean):
        return "not measured", "no finite values"
    bar = 2 * sd if math.isfinite(sd) else math.inf
    better = mean if higher_is_better else -mean
    if better > bar:
        return "supported", f"better by more than two seed sds ({2 * sd:.3g})"
    if better < -bar:
        return "not supported", f"worse by more than two seed sds ({2 * sd:.3g})"
    return "mixed", f"within two seed sds ({2 * sd:.3g}) of no difference"


#: The claim groups of :func:`verdict_table` (a chapter shows the ones it is about).
VERDICT_TOPICS = ("accuracy", "calibration", "error detection", "OOD detection")


def verdict_table(
    methods: dict[str, Any], T: int = 50, topics: Sequence[str] = VERDICT_TOPICS
) -> Table:
    """The paper's claims for MC-Scale-Dropout against our measurement on one workload
    (28x28 MNIST from the methods part, or 8x8 digits from the digits part).

    Each row pairs MC-Scale-Dropout with the deterministic binary net of the same training
    seed; a claim is "supported" when the mean difference beats two seed standard deviations
    in the claimed direction, "not supported" when it does so in the other direction, and
    "mixed" otherwise. ``topics`` selects claim groups (see :data:`VERDICT_TOPICS`).
    """
    for topic in topics:
        check_choice("topics", topic, VERDICT_TOPICS)
    sd_ = "scale_dropout"

    def own_vs_det(metric: str, det_metric: str | None = None) -> list[float]:
        own = metric_over_seeds(methods, sd_, metric, T)
        base = metric_over_seeds(methods, "deterministic", det_metric or metric, T)
        return [a - b for a, b in zip(own, base, strict=True)]

    claims = [
        ("accuracy: MC inference raises accuracy", "ResNet-20 84.63 % -> 86.05 % (P:313)",
         [a - b for a, b in zip(metric_over_seeds(methods, sd_, "accuracy", T),
                                metric_over_seeds(methods, sd_, "reference_accuracy", T),
                                strict=True)], True),
        ("accuracy: on par with the binary net", "VGG 90.45 % vs IR-Net 90.40 % (Table VI)",
         own_vs_det("accuracy"), True),
        ("calibration: lower ECE than the binary net", "not reported",
         own_vs_det("ece"), False),
        ("calibration: lower NLL than the binary net", "not reported",
         own_vs_det("nll"), False),
        ("error detection: beats the softmax entropy", "not reported",
         gains_over_deterministic(methods, sd_, "error", T), True),
        ("OOD detection: beats the softmax entropy (AUROC)", "detection rate 77.8-100 % (Table V)",
         gains_over_deterministic(methods, sd_, "ood", T), True),
        ("OOD detection: lower FPR@95 than the softmax entropy", "not reported",
         own_vs_det("ood_fpr95_entropy", "ood_fpr95_reference"), False),
        ("OOD detection: Eq. 24 flags more OOD inputs", "77.8-100 % of each set (Table V)",
         own_vs_det("eq24_ood_rate", "reference_eq24_ood_rate"), True),
        ("OOD detection: Eq. 24 rejects no more clean inputs", "not reported",
         own_vs_det("eq24_clean_rate", "reference_eq24_clean_rate"), False),
    ]  # fmt: skip
    rows = []
    for claim, paper, values, higher in claims:
        if not any(claim.startswith(topic) for topic in topics):
            continue
        verdict, reason = _difference_verdict(values, higher)
        rows.append([claim, paper, _mean_sd(values), verdict, reason])
    return Table(
        ["claim (MC-Scale-Dropout)", "paper's number", "ours: difference", "verdict", "why"],
        rows,
        formats={"ours: difference": _pm("+.4f")},
        title=f"The paper's claims on {workload_of(methods)} ({methods['seeds']} seeds, "
        f"T = {T}, the paper's recipe: unitary, layer-wise, p = 0.2)",
        note="difference: MC-Scale-Dropout minus the deterministic binary net of the same seed "
        "(the first row: minus its own deterministic pass); mean ± sd over seeds.",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=COMMAND,
        description="Evaluate every MNIST method over seeds and sweep what the paper leaves "
        "open; writes the committed result files the mechanism chapter reads.",
    )
    parser.add_argument(
        "--part",
        choices=("methods", "digits", "shift", "variation", "sweep", "candidates", "all"),
        default="all",
        help="candidates: retrain the sweep's candidates on the zoo's other seeds (reads the "
        "methods and sweep results from --out)",
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="smoke test: 2 variants, 1 epoch, 300 training images, 100 test images",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="results folder (default: the package's)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the study and write ``mnist_methods.json``, ``mnist_sweep.json`` and
    ``mnist_candidates.json`` (see the module docstring)."""
    args = build_parser().parse_args(argv)
    if args.tiny and args.out is None:
        raise SystemExit("--tiny writes a smoke result: give --out, not the package folder")
    data = evaluation_data(100, 20) if args.tiny else evaluation_data()
    written: dict[str, Any] = {}
    if args.part in ("methods", "all"):
        methods = evaluate_methods(data, seeds=1 if args.tiny else MNIST_SEEDS)
        save_result(METHODS_RESULT, methods, f"{COMMAND} --part methods", args.out)
        written[METHODS_RESULT] = methods
    if args.part in ("digits", "all"):
        digits = evaluate_digits_methods(
            digits_evaluation_data(),
            Ts=(5, 10) if args.tiny else TS,
            seeds=2 if args.tiny else DIGITS_SEEDS,
        )
        save_result(DIGITS_RESULT, digits, f"{COMMAND} --part digits", args.out)
        written[DIGITS_RESULT] = digits
    if args.part in ("shift", "all"):
        per_class = 5 if args.tiny else SHIFT_IMAGES // MNIST_CLASSES
        chosen = per_class_subset(data.labels, per_class)
        shift = evaluate_shift(
            data.images[chosen],
            data.labels[chosen],
            angles=(0, 90) if args.tiny else SHIFT_ANGLES,
            noise=(0.0, 0.5) if args.tiny else SHIFT_NOISE,
            Ts=(3, 5) if args.tiny else SHIFT_TS,
            seeds=1 if args.tiny else MNIST_SEEDS,
        )
        save_result(SHIFT_RESULT, shift, f"{COMMAND} --part shift", args.out)
        written[SHIFT_RESULT] = shift
    if args.part in ("variation", "all"):
        n = 50 if args.tiny else None
        variation = evaluate_variation(
            data.images[:n],
            data.labels[:n],
            levels=(0, 1) if args.tiny else VARIATION_LEVELS,
            chips=1 if args.tiny else VARIATION_CHIPS,
            T=5 if args.tiny else 20,
            seeds=1 if args.tiny else MNIST_SEEDS,
        )
        save_result(VARIATION_RESULT, variation, f"{COMMAND} --part variation", args.out)
        written[VARIATION_RESULT] = variation
    if args.part in ("sweep", "all"):
        sweep = run_sweep(
            data,
            VARIANTS[:2] if args.tiny else VARIANTS,
            T=10 if args.tiny else 50,
            epochs=1 if args.tiny else None,
            train_limit=300 if args.tiny else None,
        )
        save_result(SWEEP_RESULT, sweep, f"{COMMAND} --part sweep", args.out)
        written[SWEEP_RESULT] = sweep
    if args.part in ("candidates", "all"):
        methods = written.get(METHODS_RESULT) or load_result(METHODS_RESULT, args.out)
        sweep = written.get(SWEEP_RESULT) or load_result(SWEEP_RESULT, args.out)
        names = candidate_names(sweep, visibility_threshold(methods))
        candidates = run_candidates(
            data,
            sweep,
            [VARIANTS[0].name] if args.tiny else names,
            seeds=2 if args.tiny else MNIST_SEEDS,
            epochs=1 if args.tiny else None,
            train_limit=300 if args.tiny else None,
        )
        save_result(CANDIDATES_RESULT, candidates, f"{COMMAND} --part candidates", args.out)
        written[CANDIDATES_RESULT] = candidates
    return written


def base_recipe_matches_zoo() -> bool:
    """Whether the sweep's base recipe is the zoo's MC-Scale-Dropout recipe (a test checks)."""
    recipe = get_recipe(mnist_recipe_name("scale_dropout", 0))
    return (recipe.epochs, recipe.lr, recipe.patience) == (BASE_EPOCHS, BASE_LR, BASE_PATIENCE)


if __name__ == "__main__":
    main()
