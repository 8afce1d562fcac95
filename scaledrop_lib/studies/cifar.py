"""Chapter 4's study on CIFAR-10: train VGG-small variants, then Fig. 6 and Table V.

The book runs chapter 4 on the embedded digits; this script is the CIFAR-10 path with the same
library code, SVHN as D5 and STL-10 as D6 (P:265). It trains for hours on a CPU (pass
``--device cuda`` for a GPU) and is resumable: each trained model is saved under ``--out``,
keyed by the SHA-256 of its full configuration, and reused by a run with the same
configuration; a model interrupted mid-training (Ctrl-C) continues from its last completed
epoch and ends bit-identical to an uninterrupted run.

Usage::

    python -m scaledrop_lib.studies.cifar --data-root ~/data --download --out runs/cifar_shift

Results (test accuracy, the rotation sweep, the OOD tables) are printed and written to
``<out>/results.json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from scaledrop_lib._io import atomic_write_json
from scaledrop_lib.data.files import load_cifar10, load_stl10, load_svhn
from scaledrop_lib.data.shift import DEFAULT_NOISE_STD, ood_sets
from scaledrop_lib.inference.mc import deterministic_predict
from scaledrop_lib.metrics.classification import accuracy
from scaledrop_lib.models.config import NetConfig
from scaledrop_lib.models.vgg import vgg_small
from scaledrop_lib.routines.checkpoints import content_sha256, load_checkpoint, save_checkpoint
from scaledrop_lib.routines.train import fit, seed_everything
from scaledrop_lib.studies.shift import (
    OODReport,
    deterministic_predictor,
    ensemble_predictor,
    mc_predictor,
    ood_report,
    rotation_sweep,
)

#: Methods of the study and how each VGG-small is built (p = 0.2, the paper's default).
CONFIGS: dict[str, NetConfig] = {
    "deterministic": NetConfig(dropout="none"),
    "MC-Scale-Dropout": NetConfig(dropout="scale", p=0.2),
    "SpinDrop": NetConfig(dropout="spin", p=0.2),
    "Spatial-SpinDrop": NetConfig(dropout="spatial_spin", p=0.2),
    "MC-Dropout": NetConfig(dropout="mc", p=0.2, precision="float"),
}
ENSEMBLE = "ensemble"
METHODS = (*CONFIGS, ENSEMBLE)


class FlipCropDataset(Dataset):
    """Random horizontal flip and a random 32x32 crop of the 4-pixel zero-padded image
    (the paper trains with random flips and crops, P:261), seeded per epoch by torch's RNG."""

    def __init__(self, base: TensorDataset, padding: int = 4) -> None:
        self.base = base
        self.padding = padding

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self.base[index]
        if torch.rand(()) < 0.5:
            image = image.flip(-1)
        pad = self.padding
        padded = torch.nn.functional.pad(image, (pad, pad, pad, pad))
        top, left = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,)))
        return padded[:, top : top + image.shape[1], left : left + image.shape[2]], label


def _subset(dataset: TensorDataset, limit: int | None) -> TensorDataset:
    if limit is None or limit >= len(dataset):
        return dataset
    return TensorDataset(*(t[:limit] for t in dataset.tensors))


def training_config(
    name: str, config: NetConfig, seed: int, data_sha256: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Everything that decides the weights of one trained model of the study: its cache key."""
    return {
        "method": name,
        "net": config.to_dict(),
        "seed": seed,
        "epochs": args.epochs,
        "lr": args.lr,
        "patience": args.patience,
        "batch_size": args.batch_size,
        "augmentation": "flip + crop, padding 4",
        "device": torch.device(args.device).type,
        "data_sha256": data_sha256,
    }


def data_fingerprint(train: TensorDataset, val: TensorDataset) -> str:
    """SHA-256 of the training and validation tensors (any change of data retrains)."""
    return content_sha256([list(train.tensors), list(val.tensors)])


def _train(
    name: str,
    config: NetConfig,
    seed: int,
    data: tuple[TensorDataset, TensorDataset],
    args: argparse.Namespace,
    data_sha256: str | None = None,
) -> torch.nn.Module:
    """Train one model, or load it from ``args.out`` when a run with the same configuration
    saved it.

    The file name carries the first 16 hex digits of the configuration's SHA-256
    (:func:`training_config`: method, network, seed, epochs, lr, patience, batch size,
    device type and the data's fingerprint), so changing ``--epochs`` or ``--lr`` trains a
    new model; the loader checks the file's embedded checksum and the full configuration
    hash in its metadata. While training, ``fit`` writes a resumable state after every epoch
    (``<file stem>.training.pt``): an interrupted run continues where it stopped and ends with
    the same weights as an uninterrupted one.
    """
    train, val = data
    data_sha256 = data_sha256 or data_fingerprint(train, val)
    settings = training_config(name, config, seed, data_sha256, args)
    key = content_sha256(settings)
    stem = f"{name.replace(' ', '_')}_seed{seed}_{key[:16]}"
    path = Path(args.out) / f"{stem}.pt"
    state_path = Path(args.out) / f"{stem}.training.pt"
    torch.manual_seed(seed)
    model = vgg_small(config)
    if path.is_file():
        metadata = load_checkpoint(model, path)
        if metadata.get("config_sha256") != key:
            raise ValueError(
                f"{path} holds a model of another configuration (sha256 "
                f"{metadata.get('config_sha256')}, expected {key}): delete it to retrain"
            )
        print(f"{name} (seed {seed}): loaded {path}")
        return model.to(args.device)
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(
        FlipCropDataset(train), batch_size=args.batch_size, shuffle=True, generator=generator
    )
    val_loader = DataLoader(val, batch_size=256)
    history = fit(
        model,
        train_loader,
        val_loader,
        epochs=args.epochs,
        lr=args.lr,
        patience=args.patience,
        seed=seed,
        device=args.device,
        checkpoint=state_path,
        resume=True,
    )
    metadata = {
        "method": name,
        "seed": seed,
        "epochs": history.epochs,
        "config": settings,
        "config_sha256": key,
    }
    save_checkpoint(model, path, metadata)
    state_path.unlink(missing_ok=True)  # the finished model replaces the resumable state
    return model


def load_cifar_study_data(
    root: str | Path, download: bool, val_size: int = 5000
) -> dict[str, TensorDataset]:
    """CIFAR-10 train/val/test (the last ``val_size`` training images validate), the SVHN
    test split and the STL-10 test split resized to 32x32, all in pixel space [0, 1]."""

    full = load_cifar10(root, train=True, download=download)
    if not 0 < val_size < len(full):
        raise ValueError(f"val_size must be in (0, {len(full)}), got {val_size}")
    images, labels = full.tensors
    return {
        "train": TensorDataset(images[:-val_size], labels[:-val_size]),
        "val": TensorDataset(images[-val_size:], labels[-val_size:]),
        "test": load_cifar10(root, train=False, download=download),
        "svhn": load_svhn(root, split="test", download=download),
        "stl10": load_stl10(root, split="test", size=32, download=download),
    }


def run_study(args: argparse.Namespace) -> dict[str, Any]:
    """Train (or load) every method, then evaluate accuracy, rotation and OOD detection."""
    seed_everything(args.seed)
    unknown = set(args.methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {list(METHODS)}")
    data = load_cifar_study_data(args.data_root, args.download, args.val_size)
    train = _subset(data["train"], args.train_limit)
    data_sha256 = data_fingerprint(train, data["val"])
    x_test, y_test = (t[: args.test_limit] for t in data["test"].tensors)
    predictors = {}
    test_accuracy = {}
    for name in args.methods:
        if name == ENSEMBLE:
            members = [
                _train(
                    ENSEMBLE,
                    CONFIGS["deterministic"],
                    100 + i,
                    (train, data["val"]),
                    args,
                    data_sha256,
                )
                for i in range(args.ensemble_size)
            ]
            predictors[name] = ensemble_predictor(members)
        else:
            model = _train(name, CONFIGS[name], args.seed, (train, data["val"]), args, data_sha256)
            predictors[name] = (
                deterministic_predictor(model)
                if CONFIGS[name].dropout == "none"
                else mc_predictor(model, args.T, seed=args.seed)
            )
            test_accuracy[f"{name} (dropout off)"] = accuracy(
                deterministic_predict(model, x_test), y_test
            )
        test_accuracy[name] = accuracy(predictors[name](x_test).mean(0), y_test)
    sets = ood_sets(
        x_test,
        n=args.n_ood,
        seed=args.seed,
        noise_std=args.noise_std,
        natural={
            "D5": ("SVHN", data["svhn"].tensors[0]),
            "D6": ("STL-10", data["stl10"].tensors[0]),
        },
    )
    report = ood_report(predictors, x_test, sets, threshold=args.threshold)
    sweep = rotation_sweep(predictors, x_test, y_test, args.angles)
    results = {
        "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "test_accuracy": test_accuracy,
        "rotation": {"angles": sweep.angles, "accuracy": sweep.accuracy, "entropy": sweep.entropy},
        "ood": _report_dict(report),
    }
    atomic_write_json(Path(args.out) / "results.json", results)
    _print(results, report)
    return results


def _report_dict(report: OODReport) -> dict[str, Any]:
    return {
        "set_names": report.set_names,
        "detection": report.detection,
        "in_distribution_flagged": report.false_positive,
        "auroc": report.auroc,
        "fpr_at_95_tpr": report.fpr95,
    }


def _print(results: dict[str, Any], report: OODReport) -> None:
    print("\nTest accuracy")
    for name, value in results["test_accuracy"].items():
        print(f"  {name:34s} {value:.4f}")
    rotation = results["rotation"]
    print("\nRotation (accuracy / mean predictive entropy)")
    for name in rotation["accuracy"]:
        acc = " ".join(f"{a:.3f}" for a in rotation["accuracy"][name])
        ent = " ".join(f"{e:.3f}" for e in rotation["entropy"][name])
        print(f"  {name:18s} acc {acc}\n  {'':18s} ent {ent}")
    print("\nEq. 24 detection rate (ours, CIFAR-10)")
    print(report.table("detection"))
    print("\nAUROC, predictive entropy as score")
    print(report.table("auroc", "entropy"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scaledrop_lib.studies.cifar",
        description="Chapter 4 on CIFAR-10: rotation (Fig. 6) and OOD detection (Table V).",
    )
    parser.add_argument("--data-root", type=Path, required=True, help="folder with the datasets")
    parser.add_argument("--download", action="store_true", help="fetch missing datasets once")
    parser.add_argument("--out", type=Path, default=Path("runs/cifar_shift"))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), metavar="METHOD")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--T", type=int, default=20, help="MC passes")
    parser.add_argument("--n-ood", type=int, default=8000, help="images per OOD set (paper)")
    parser.add_argument("--noise-std", type=float, default=DEFAULT_NOISE_STD)
    parser.add_argument("--threshold", type=float, default=0.95, help="Eq. 24 threshold")
    parser.add_argument("--angles", type=float, nargs="+", default=[0, 15, 30, 45, 60, 75, 90])
    parser.add_argument("--ensemble-size", type=int, default=5)
    parser.add_argument("--val-size", type=int, default=5000)
    parser.add_argument("--train-limit", type=int, default=None, help="use fewer train images")
    parser.add_argument("--test-limit", type=int, default=None, help="use fewer test images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help='"cuda" for a GPU')
    return parser


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_study(build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
