"""The ``scaledrop`` console script: one subcommand per experiment.

Usage::

    scaledrop --help
    scaledrop train --data-dir ~/data --download --models resnet20 vgg_small --seeds 0 1 2
    scaledrop ood --config cifar.toml --T 50
    scaledrop segment --seg-dir ~/data/isic --seg-size 128

Every experiment trains what it needs first, or loads it: models are kept under
``<out>/checkpoints/`` keyed by their configuration, so ``scaledrop train`` followed by
``scaledrop ood`` with the same settings trains once. An interrupted training (Ctrl-C)
resumes from its last completed epoch when the same command runs again. Results go to
``<out>/results/<experiment>.json``, ``.csv`` and its figures.

Exit status: 0 on success, 2 for a bad setting, 1 for a missing dataset, a corrupt checkpoint
or another error the message explains, 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import MISSING, Field
from pathlib import Path
from typing import Any

from scaledrop_lib.data.files import DownloadError
from scaledrop_lib.experiments.commands import run_experiment
from scaledrop_lib.experiments.datasets import DatasetMissingError
from scaledrop_lib.experiments.settings import (
    EXPERIMENTS,
    LIST_KINDS,
    SettingsError,
    flag_name,
    load_settings,
    option_fields,
)

_TYPES = {"int": int, "int0": int, "float": float, "float0": float, "str": str, "path": Path}


def _default_text(f: Field) -> str:
    default = f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]
    if default is None:
        return ""
    if isinstance(default, list):
        return (
            " (default: "
            + " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in default)
            + ")"
        )
    if isinstance(default, bool):
        return " (default: on)" if default else ""
    return f" (default: {default})"


def _add_option(parser: argparse.ArgumentParser, f: Field) -> None:
    kind = f.metadata["kind"].rstrip("?")
    options: dict[str, Any] = {
        "dest": f.name,
        "default": argparse.SUPPRESS,
        "help": f.metadata["help"] + _default_text(f),
    }
    metavar = f.metadata["metavar"]
    if kind == "bool":
        options["action"] = argparse.BooleanOptionalAction
    elif kind in LIST_KINDS:
        options["type"] = _TYPES[LIST_KINDS[kind]]
        options["nargs"] = len(metavar) if isinstance(metavar, tuple) else "+"
    else:
        options["type"] = _TYPES[kind]
    if f.metadata["choices"] is not None:
        options["metavar"] = metavar or f.name.upper()
        many = "one or more of " if kind in LIST_KINDS else "one of "
        options["help"] += "; " + many + ", ".join(f.metadata["choices"])
    elif metavar is not None:
        options["metavar"] = metavar
    parser.add_argument(flag_name(f.name), **options)


def build_parser() -> argparse.ArgumentParser:
    """``scaledrop`` with one subcommand per experiment, each with the flags it reads."""
    parser = argparse.ArgumentParser(
        prog="scaledrop",
        description="The experiments of Scale-Dropout (arXiv 2311.15816) on real datasets: "
        "binary ResNet-18, ResNet-20 and VGG-small on CIFAR-10 (SVHN and STL-10 as OOD sets), "
        "U-Net / SegNet on an ISIC-style image/mask folder. Each experiment trains what it "
        "needs (or loads it) and writes JSON, CSV and a plotly figure to <out>/results/.",
        epilog="Settings: defaults < --config FILE (TOML; JSON with a .json suffix) < flags. "
        "`scaledrop EXPERIMENT --help` lists an experiment's flags.",
    )
    experiments = parser.add_subparsers(
        dest="experiment", metavar="EXPERIMENT", title="experiments", required=True
    )
    for name, description in EXPERIMENTS.items():
        sub = experiments.add_parser(
            name,
            help=description,
            description=description,
            prog=f"scaledrop {name}",
            allow_abbrev=False,
        )
        sub.add_argument(
            "--config",
            type=Path,
            metavar="FILE",
            help="TOML (or .json) file of settings; flags given here override it",
        )
        for f in option_fields(name):
            _add_option(sub, f)
    return parser


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse ``argv`` and run the experiment; exceptions propagate (for tests and scripts).

    Returns what the experiment's JSON file holds, plus the paths written (``"files"``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    flags = {k: v for k, v in vars(args).items() if k not in ("experiment", "config")}
    settings = load_settings(args.experiment, flags, args.config)
    return run_experiment(args.experiment, settings, argv)


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: :func:`run`, with errors as one message on stderr and an exit
    status instead of a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    prefix = "scaledrop" + (f" {argv[0]}" if argv and argv[0] in EXPERIMENTS else "")
    try:
        run(argv)
    except SettingsError as error:
        print(f"{prefix}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"\n{prefix}: interrupted; run the same command again to resume from the last "
            "completed epoch",
            file=sys.stderr,
        )
        return 130
    except (DatasetMissingError, DownloadError, FileNotFoundError, ValueError) as error:
        print(f"{prefix}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
