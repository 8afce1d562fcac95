"""Small pretrained checkpoints, so chapters load models instead of training them.

Each entry of ``RECIPES`` says how a model is built and trained. ``python -m
scaledrop_lib.routines.zoo`` (or ``make zoo``) retrains every entry and rewrites
``checkpoints/manifest.json`` with the files' SHA-256; :func:`load_pretrained` refuses a file
whose checksum differs from the manifest. Training curves are stored in each checkpoint's
metadata, so a chapter can plot them without retraining.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from scaledrop_lib._checks import check_choice
from scaledrop_lib._io import atomic_write_json
from scaledrop_lib.data.digits import load_digits_splits
from scaledrop_lib.data.lesions import load_lesion_splits
from scaledrop_lib.data.mnist import load_mnist5k_splits
from scaledrop_lib.hardware.mtj import attach_mtj
from scaledrop_lib.inference.segment import deterministic_segment
from scaledrop_lib.layers.sampling import apply_layerwise_p
from scaledrop_lib.metrics.segmentation import pooled_iou
from scaledrop_lib.models.config import NetConfig
from scaledrop_lib.models.digits import digits_cnn, digits_mlp
from scaledrop_lib.models.mnist import mnist_cnn
from scaledrop_lib.models.segnets import segnet, unet
from scaledrop_lib.routines.checkpoints import load_checkpoint, save_checkpoint
from scaledrop_lib.routines.train import History, evaluate, fit

CHECKPOINT_DIR = Path(__file__).parent.parent / "checkpoints"
MANIFEST = CHECKPOINT_DIR / "manifest.json"
REBUILD_COMMAND = "python -m scaledrop_lib.routines.rebuild_zoo"
ENSEMBLE_SIZE = 5
VARIATION_SEEDS = 5
#: Training seeds of every 28x28 MNIST method (verdicts rest on >= 3 seeds).
MNIST_SEEDS = 3

ARCHITECTURES: dict[str, Callable[[NetConfig], nn.Module]] = {
    "digits_cnn": digits_cnn,
    "digits_mlp": digits_mlp,
    "unet": unet,
    "segnet": segnet,
    "mnist_cnn": mnist_cnn,
}

#: What a recipe trains on: the embedded 8x8 digits or the 28x28 MNIST digits
#: (classification, :mod:`scaledrop_lib.data.mnist`), or procedural lesions (segmentation,
#: :mod:`scaledrop_lib.data.lesions`).
TASKS = ("digits", "lesions", "mnist")


@dataclass(frozen=True)
class Recipe:
    """How one pretrained model is made (on the digits split or the lesion splits, seed 0)."""

    architecture: str
    config: NetConfig
    task: str = "digits"
    seed: int = 0
    epochs: int = 40
    lr: float = 2e-3
    patience: int = 12
    batch_size: int = 64
    notes: str = ""
    #: (small_p, large_p) for the layer-dependent rule of Sec. III-D, or None for one p
    layerwise_p: tuple[float, float] | None = None
    #: train with masks from an MTJ chip at this variation level (Eq. 22; None: ideal bits)
    mtj_level: float | None = None

    def __post_init__(self) -> None:
        check_choice("task", self.task, TASKS)
        check_choice("architecture", self.architecture, tuple(ARCHITECTURES))

    def build(self) -> nn.Module:
        """A freshly initialised model of this recipe."""

        torch.manual_seed(self.seed)
        model = ARCHITECTURES[self.architecture](self.config)
        if self.layerwise_p is not None:
            apply_layerwise_p(model, *self.layerwise_p)
        if self.mtj_level is not None:
            attach_mtj(model, self.mtj_level, seed=self.seed)
        return model


def _digits_recipes() -> dict[str, Recipe]:
    """Every model the chapters use: digits CNN (16-32-32) and, for chapter 5, the lesion
    U-Net / SegNet; p = 0.2 unless the name says."""
    sd = NetConfig(dropout="scale", p=0.2)
    recipes = {
        "cnn_float": Recipe("digits_cnn", NetConfig(dropout="none", precision="float")),
        "cnn_deterministic": Recipe("digits_cnn", NetConfig(dropout="none")),
        "cnn_scale_dropout": Recipe("digits_cnn", sd),
        "cnn_sd_average": Recipe("digits_cnn", sd.with_options(variant="average")),
        "cnn_sd_random": Recipe("digits_cnn", sd.with_options(variant="random")),
        "cnn_sd_element": Recipe("digits_cnn", sd.with_options(granularity="element")),
        "cnn_sd_p10": Recipe("digits_cnn", sd.with_options(p=0.1)),
        "cnn_sd_p50": Recipe("digits_cnn", sd.with_options(p=0.5)),
        "cnn_sd_layerwise": Recipe(
            "digits_cnn", sd, layerwise_p=(0.2, 0.5), notes="Sec. III-D: 20% small, 50% large"
        ),
        "cnn_sd_before_bn": Recipe("digits_cnn", sd.with_options(placement="before_bn")),
        "cnn_sd_after_bn": Recipe("digits_cnn", sd.with_options(placement="after_bn")),
        "cnn_mc_dropout_float": Recipe(
            "digits_cnn", NetConfig(dropout="mc", p=0.2, precision="float")
        ),
        "cnn_spin_dropout": Recipe("digits_cnn", NetConfig(dropout="spin", p=0.2)),
        "cnn_spatial_spin_dropout": Recipe("digits_cnn", NetConfig(dropout="spatial_spin", p=0.2)),
    }
    for seed in range(VARIATION_SEEDS):  # Table III analogue (chapter 6)
        recipes[f"cnn_var_ideal_{seed}"] = Recipe("digits_cnn", sd, seed=200 + seed)
        recipes[f"cnn_var_aware_{seed}"] = Recipe(
            "digits_cnn", sd, seed=200 + seed, mtj_level=1.0, notes="trained with 1x MTJ variation"
        )
    for member in range(ENSEMBLE_SIZE):
        recipes[f"cnn_ensemble_{member}"] = Recipe(
            "digits_cnn", NetConfig(dropout="none"), seed=100 + member, notes="ensemble member"
        )
    # chapter 5: binary weights, 4-bit PACT activations, Scale-Dropout p = 0.2 (Table IV)
    seg = {"task": "lesions", "epochs": 40, "patience": 10, "batch_size": 32}
    recipes["seg_unet_sd"] = Recipe("unet", sd, **seg)
    recipes["seg_segnet_sd"] = Recipe("segnet", sd, **seg)
    recipes["seg_unet_mc_float"] = Recipe(
        "unet", NetConfig(dropout="mc", p=0.2, precision="float"), notes="32/32 MC-Dropout", **seg
    )
    return recipes


def mnist_recipe_name(method: str, seed_index: int, member: int = 0) -> str:
    """The zoo name of a 28x28 MNIST model: ``mnist_<method>_s<seed>`` (``_m<member>`` for
    ensemble members 1-4; member 0 of an ensemble is that seed's deterministic net)."""
    if method == "ensemble":
        return (
            mnist_recipe_name("deterministic", seed_index)
            if member == 0
            else (f"mnist_ensemble_s{seed_index}_m{member}")
        )
    return f"mnist_{method}_s{seed_index}"


#: The 28x28 MNIST methods and their configs (p = 0.2 for every dropout, as in the paper).
MNIST_METHODS: dict[str, NetConfig] = {
    "deterministic": NetConfig(dropout="none"),
    "scale_dropout": NetConfig(dropout="scale", p=0.2),
    "spin_dropout": NetConfig(dropout="spin", p=0.2),
    "spatial_spin_dropout": NetConfig(dropout="spatial_spin", p=0.2),
    "mc_dropout_float": NetConfig(dropout="mc", p=0.2, precision="float"),
    "float": NetConfig(dropout="none", precision="float"),
}


def _mnist_recipes() -> dict[str, Recipe]:
    """Every method on the 28x28 MNIST CNN (:func:`~scaledrop_lib.models.mnist.mnist_cnn`),
    ``MNIST_SEEDS`` training seeds each; seed index k trains with seed 10 k (+ member). Plus
    ``mnist_var_aware_s<k>``: MC-Scale-Dropout trained with masks from a 1x-variation MTJ chip
    (Table III)."""
    common = {"task": "mnist", "epochs": 15, "lr": 2e-3, "patience": 6}
    recipes = {}
    for k in range(MNIST_SEEDS):
        for method, config in MNIST_METHODS.items():
            recipes[mnist_recipe_name(method, k)] = Recipe(
                "mnist_cnn", config, seed=10 * k, **common
            )
        recipes[mnist_recipe_name("var_aware", k)] = Recipe(
            "mnist_cnn",
            MNIST_METHODS["scale_dropout"],
            seed=10 * k,
            mtj_level=1.0,
            notes="trained with 1x MTJ variation (Table III)",
            **common,
        )
        for member in range(1, ENSEMBLE_SIZE):
            recipes[mnist_recipe_name("ensemble", k, member)] = Recipe(
                "mnist_cnn",
                MNIST_METHODS["deterministic"],
                seed=10 * k + member,
                notes="ensemble member",
                **common,
            )
    return recipes


RECIPES: dict[str, Recipe] = {**_digits_recipes(), **_mnist_recipes()}


def recipes_of_task(task: str) -> list[str]:
    """The recipe names that train on ``task`` (one of :data:`TASKS`), sorted."""
    check_choice("task", task, TASKS)
    return sorted(name for name, recipe in RECIPES.items() if recipe.task == task)


def checkpoint_path(name: str) -> Path:
    return CHECKPOINT_DIR / f"{name}.pt"


def read_manifest() -> dict[str, dict[str, Any]]:
    if not MANIFEST.is_file():
        return {}
    return json.loads(MANIFEST.read_text())


def _write_manifest(manifest: dict[str, dict[str, Any]]) -> None:
    atomic_write_json(MANIFEST, manifest)


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown pretrained model {name!r}; known: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


def train_recipe(name: str, progress: bool = True) -> tuple[nn.Module, History, dict[str, float]]:
    """Train one recipe from scratch; return (model, history, test scores).

    The scores are ``{"test_accuracy": ...}`` for digits and ``{"test_iou": ...}`` (pooled
    IoU of the deterministic pass on the lesion test split) for lesions.
    """
    recipe = get_recipe(name)
    if recipe.task == "lesions":
        lesions = load_lesion_splits()
        model = recipe.build()
        shuffle = torch.Generator().manual_seed(recipe.seed)
        seg_history = fit(
            model,
            DataLoader(
                lesions.train, batch_size=recipe.batch_size, shuffle=True, generator=shuffle
            ),
            DataLoader(lesions.val, batch_size=64),
            task="segmentation",
            epochs=recipe.epochs,
            lr=recipe.lr,
            patience=recipe.patience,
            seed=recipe.seed,
            progress=progress,
        )
        images, masks = lesions.test.tensors
        return model, seg_history, {"test_iou": lesion_test_iou(model, images, masks)}
    splits = load_mnist5k_splits(seed=0) if recipe.task == "mnist" else load_digits_splits(seed=0)
    train_loader, val_loader, test_loader = splits.loaders(recipe.batch_size, seed=recipe.seed)
    model = recipe.build()
    history = fit(
        model,
        train_loader,
        val_loader,
        epochs=recipe.epochs,
        lr=recipe.lr,
        patience=recipe.patience,
        seed=recipe.seed,
        progress=progress,
    )
    _, test_accuracy = evaluate(model, test_loader)
    return model, history, {"test_accuracy": test_accuracy}


def lesion_test_iou(model: nn.Module, images, masks) -> float:
    """Pooled IoU of the deterministic pass (probability > 0.5) against the masks."""
    return pooled_iou(deterministic_segment(model, images) > 0.5, masks > 0.5)


def build(names: list[str] | None = None, progress: bool = True) -> dict[str, Any]:
    """Retrain the named recipes (default: all), save them and update the manifest."""
    manifest = read_manifest()
    for name in names or sorted(RECIPES):
        model, history, scores = train_recipe(name, progress)
        metadata = {
            "name": name,
            "recipe": {k: v for k, v in asdict(get_recipe(name)).items() if k != "config"},
            "config": get_recipe(name).config.to_dict(),
            "history": history.to_dict(),
            **scores,
        }
        sha = save_checkpoint(model, checkpoint_path(name), metadata)
        manifest[name] = {"sha256": sha, **scores, "command": f"{REBUILD_COMMAND} {name}"}
        summary = ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
        print(f"{name}: {summary}, sha256 {sha[:12]}", flush=True)
        _write_manifest(manifest)  # after every model: an interrupted rebuild keeps its work
    return manifest


def load_ensemble() -> list[nn.Module]:
    """The five deterministic BNNs of the deep-ensemble baseline (different seeds)."""
    return [load_pretrained(f"cnn_ensemble_{m}")[0] for m in range(ENSEMBLE_SIZE)]


def load_mnist_ensemble(seed_index: int) -> list[nn.Module]:
    """The five deterministic 28x28 BNNs of ensemble ``seed_index`` (member 0 is
    ``mnist_deterministic_s<seed_index>``)."""
    if not 0 <= seed_index < MNIST_SEEDS:
        raise ValueError(f"seed_index must be in 0..{MNIST_SEEDS - 1}, got {seed_index}")
    return [
        load_pretrained(mnist_recipe_name("ensemble", seed_index, m))[0]
        for m in range(ENSEMBLE_SIZE)
    ]


def load_pretrained(name: str) -> tuple[nn.Module, dict[str, Any]]:
    """The committed checkpoint ``name`` in eval mode, and its metadata (history, accuracy).

    Raises ``FileNotFoundError`` naming the rebuild command if the file is missing, and
    ``ValueError`` if its checksum differs from the manifest or the manifest gives none.
    """
    recipe = get_recipe(name)
    path = checkpoint_path(name)
    entry = read_manifest().get(name)
    if entry is None or not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint for {name!r} at {path}; create it with `{REBUILD_COMMAND} {name}`"
        )
    sha256 = entry.get("sha256") if isinstance(entry, dict) else None
    if not isinstance(sha256, str):
        raise ValueError(
            f"the checkpoint manifest {MANIFEST} has no sha256 for {name!r}; rebuild it with "
            f"`{REBUILD_COMMAND} {name}`"
        )
    model = recipe.build()
    metadata = load_checkpoint(model, path, sha256=sha256)
    model.eval()
    return model, metadata
