"""The book's "Full-scale results" page: the paper's numbers beside ours, read from committed files.

The paper's CIFAR-10 and segmentation experiments take hours on a GPU, so the book never runs
them. Someone runs ``scaledrop <experiment>`` (:mod:`scaledrop_lib.experiments.cli`) in the
paper's setting and commits the JSON it writes (``<out>/results/<experiment>.json``) to
``results/full_scale/`` at the top of the repository (:data:`RESULTS_FOLDER`). This module reads
those files and builds, for each table and figure of the paper (:data:`SECTIONS`), a
:class:`Section`: the paper's numbers on one line, ours (mean ± sd over seeds, and how many
seeds) on the next, and for every row not run yet the exact command that produces it and where
to copy its result. ``book/_ext/full_scale_page.py`` turns a section into the page's tables;
``python -m scaledrop_lib.experiments.full_scale`` prints the same page as text.

File names: ``<experiment>.json`` or ``<experiment>-<label>.json`` (several runs of one
experiment, e.g. one per model; a measurement found in two files is an error). Segmentation
results name their dataset first: ``segment-skin.json``, ``segment-breast.json``,
``segment-lung.json`` (:data:`SEGMENTATION_DATASETS`). Other files (``.csv``, figures) are
ignored. A file that is not a ``scaledrop`` result raises :class:`ResultFileError` naming it.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import re
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaledrop_lib.experiments.cli import build_parser
from scaledrop_lib.experiments.commands import PAPER_METHODS, PAPER_TOPOLOGIES
from scaledrop_lib.experiments.settings import EXPERIMENTS, Settings, load_settings
from scaledrop_lib.paper import (
    METRIC_NAMES,
    PAPER_TABLE_III,
    PAPER_TABLE_III_LEVELS,
    PAPER_TABLE_IV,
    PAPER_TABLE_V,
    PAPER_TABLE_VI,
)
from scaledrop_lib.studies.cifar import ENSEMBLE
from scaledrop_lib.tables import Table

#: Where the committed full-scale results live, relative to the repository root.
RESULTS_FOLDER = Path("results") / "full_scale"
#: The flags every command on the page shares: the paper's 300 epochs (Sec. VI-B), trained to
#: the end, three seeds, one output folder (its checkpoints/ are shared by all experiments).
DATA_DIR = "~/data"
OUT = "runs/full"
SEEDS = (0, 1, 2)
PAPER_EPOCHS = 300
#: A row with no result yet, a row no ``scaledrop`` command produces, a cell a committed run
#: did not measure (it chose other conditions), a cell with no value.
NOT_RUN = "not run yet"
NOT_IN_SCALEDROP = "not in scaledrop"
NOT_MEASURED = "-"
BLANK = ""


@dataclass(frozen=True)
class SegmentationDataset:
    """One of Table IV's datasets: its name in the paper, its reference and the folder
    (``images/`` + ``masks/``, put there by hand: none downloads) the command reads."""

    paper_name: str
    reference: str
    folder: str


#: Table IV's datasets, by the label their result files carry (``segment-<label>.json``).
SEGMENTATION_DATASETS: dict[str, SegmentationDataset] = {
    "skin": SegmentationDataset("Skin Cancer", "[41]", f"{DATA_DIR}/isic"),
    "breast": SegmentationDataset("Breast Cancer", "[39]", f"{DATA_DIR}/breast_ultrasound"),
    "lung": SegmentationDataset("Lung CT", "[40]", f"{DATA_DIR}/covid_lung_ct"),
}
_SEG_TOPOLOGIES = {"U-Net": "unet", "SegNet": "segnet"}
_SEG_METHODS = {"MC-Dropout": "MC-Dropout", "Proposed": "MC-Scale-Dropout"}
_SEG_HEADERS = ("Pixel-Acc", "IoU", "AUC", "F1", "Sensitivity", "Specificity", "Precision")
#: Table V's rows and our method for each (None: not in scaledrop). Ref. [35] is
#: Spatial-SpinDrop, the name Table VI gives it.
_OOD_METHODS = {
    "Proposed (MC-Scale-Dropout)": "MC-Scale-Dropout",
    "MC-Spatial-Dropout [35]": "Spatial-SpinDrop",
    "SpinBayes [31]": None,
}
_MODELS = {topology: model for model, topology in PAPER_TOPOLOGIES.items()}
_OUR_METHODS = {name: method for method, name in PAPER_METHODS.items()}
#: Every model in the paper's order (ResNet-18, ResNet-20, VGG).
_MODEL_ORDER = ("resnet18", "resnet20", "vgg_small")
_ROTATION_METHODS = ("MC-Scale-Dropout", "deterministic", "MC-Dropout", ENSEMBLE)
_FILE_NAME = re.compile(r"(?P<experiment>[a-z]+)(?:-(?P<label>[A-Za-z0-9_.-]+))?\.json")


class ResultFileError(ValueError):
    """A committed result file is unreadable, misnamed or not a ``scaledrop`` result, or two
    files hold the same measurement; the message names the file(s)."""


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ResultFile:
    """One committed ``scaledrop`` result: its metadata and its summary rows (mean ± sd over
    seeds per model, method, condition and metric)."""

    path: Path
    name: str
    experiment: str
    label: str
    metadata: Mapping[str, Any]
    rows: tuple[Mapping[str, Any], ...]

    @property
    def dataset(self) -> str:
        """Table IV's dataset label of a ``segment`` file (``""`` for other experiments)."""
        return self.label.split("-")[0] if self.experiment == "segment" else ""

    def provenance(self) -> str:
        """Where the numbers come from: revision, date, device, seeds and settings, and how
        they differ from the paper's setting."""
        meta, settings = self.metadata, self.metadata.get("settings") or {}
        git = meta.get("git")
        if isinstance(git, Mapping) and git.get("commit"):
            revision = f"git {str(git['commit'])[:10]}"
            if git.get("dirty"):
                revision += " with uncommitted changes"
        else:
            revision = "git revision unknown"
        parts = [revision, f"finished {meta.get('finished', '?')}", f"on {meta.get('device', '?')}"]
        seeds = settings.get("seeds")
        if seeds:
            parts.append("seeds " + " ".join(str(s) for s in seeds))
        for key in ("epochs", "T"):
            if key in settings:
                parts.append(f"{key} {settings[key]}")
        text = f"`{self.name}`: " + ", ".join(parts)
        differences = setting_differences(self.experiment, settings)
        if differences:
            text += "; not the paper's setting: " + ", ".join(differences)
        return text


def setting_differences(experiment: str, settings: Mapping[str, Any]) -> list[str]:
    """How a run's settings differ from the paper's (300 epochs trained to the end, full-size
    networks, every training and test image, 8000 images per OOD set; p = 0.2 and T = 20 for
    segmentation)."""
    found = []
    if settings.get("epochs", PAPER_EPOCHS) != PAPER_EPOCHS:
        found.append(f"epochs {settings['epochs']} (paper: {PAPER_EPOCHS})")
    patience = settings.get("patience", 0)
    if patience:
        found.append(f"patience {patience}: early stopping (paper: all {PAPER_EPOCHS} epochs)")
    width = "seg_width" if experiment == "segment" else "width"
    if settings.get(width, 1.0) != 1.0:
        found.append(f"{width.replace('_', '-')} {settings[width]} (paper: 1)")
    if experiment != "segment":
        for key in ("train_limit", "test_limit"):
            if settings.get(key) is not None:
                found.append(f"{key.replace('_', '-')} {settings[key]} (paper: all images)")
    if experiment == "ood" and settings.get("n_ood", 8000) != 8000:
        found.append(f"n-ood {settings['n_ood']} (paper: 8000)")
    if experiment == "segment":  # Table IV's caption: p = 0.2, T = 20
        for key, paper in (("p", 0.2), ("T", 20)):
            if settings.get(key, paper) != paper:
                found.append(f"{key} {settings[key]} (paper: {paper})")
    return found


def _fail(name: str, problem: str) -> ResultFileError:
    return ResultFileError(
        f"{name}: {problem}; a full-scale result is the <out>/results/<experiment>.json that "
        f"`scaledrop <experiment>` writes (see {RESULTS_FOLDER}/README.md)"
    )


def _check_row(name: str, index: int, row: Any) -> Mapping[str, Any]:
    if not isinstance(row, Mapping):
        raise _fail(name, f"summary[{index}] is not an object")
    for key in ("model", "method", "condition", "metric"):
        if not isinstance(row.get(key), str):
            raise _fail(name, f"summary[{index}] has no text {key!r}")
    for key in ("mean", "sd"):
        value = row.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise _fail(name, f"summary[{index}] {key} is {value!r}, not a number")
    n = row.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise _fail(name, f"summary[{index}] n is {n!r}, not a count of seeds")
    return row


def read_result_file(path: str | Path, name: str | None = None) -> ResultFile:
    """Read and check one committed result file.

    Parameters
    ----------
    path : str or Path
        ``<experiment>.json`` or ``<experiment>-<label>.json`` as ``scaledrop`` wrote it.
    name : str, optional
        How messages and the page name the file (default: ``path``).

    Raises
    ------
    ResultFileError
        The name is not ``<experiment>[-<label>].json`` (for ``segment``, the label starts
        with a dataset of :data:`SEGMENTATION_DATASETS`), the file is not JSON, or it lacks
        the metadata and summary rows ``scaledrop`` writes; the message names the file.
    """
    path = Path(path)
    name = name or str(path)
    match = _FILE_NAME.fullmatch(path.name)
    if match is None or match["experiment"] not in EXPERIMENTS:
        raise _fail(
            name,
            f"the name must be <experiment>[-<label>].json, <experiment> one of "
            f"{', '.join(EXPERIMENTS)}",
        )
    experiment, label = match["experiment"], match["label"] or ""
    if experiment == "segment" and label.split("-")[0] not in SEGMENTATION_DATASETS:
        raise _fail(
            name,
            "segmentation results name their dataset: "
            + ", ".join(f"segment-{d}.json" for d in SEGMENTATION_DATASETS),
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(name, f"cannot be read ({error})") from None
    except json.JSONDecodeError as error:
        raise _fail(name, f"is not valid JSON ({error})") from None
    if not isinstance(data, Mapping):
        raise _fail(name, "holds no JSON object")
    metadata, summary = data.get("metadata"), data.get("summary")
    if not isinstance(metadata, Mapping):
        raise _fail(name, "has no 'metadata' object")
    if metadata.get("experiment") != experiment:
        raise _fail(
            name,
            f"holds the results of {metadata.get('experiment')!r}, but its name "
            f"says {experiment!r}",
        )
    if not isinstance(summary, list):
        raise _fail(name, "has no 'summary' list")
    rows = tuple(_check_row(name, i, row) for i, row in enumerate(summary))
    return ResultFile(path, name, experiment, label, metadata, rows)


@dataclass(frozen=True)
class Lookup:
    """Where one of our numbers comes from: an experiment's summary row, and how it shows.

    ``condition`` matches a row's condition exactly or as its first word (``"D1"`` matches
    ``"D1 Gaussian noise"``); ``scale`` and ``digits`` turn the value into the page's unit
    (100 for percent).
    """

    experiment: str
    model: str
    method: str
    metric: str
    condition: str = ""
    dataset: str = ""
    scale: float = 100.0
    digits: int = 2
    elsewhere: str = ""  # another section whose command produces it (shown while missing)


@dataclass(frozen=True)
class Found:
    """One summary row of a committed file: mean and sd over ``n`` seeds (``None``: undefined,
    or one seed for sd)."""

    mean: float | None
    sd: float | None
    n: int
    file: ResultFile


class Results:
    """Every committed result file of a folder, indexed by experiment, dataset, model, method,
    condition and metric.

    Raises
    ------
    ResultFileError
        Two files hold the same measurement (naming both).
    """

    def __init__(self, files: Iterable[ResultFile] = ()) -> None:
        self.files = tuple(files)
        self._rows: dict[tuple[str, str, str, str, str], list[tuple[str, Found]]] = {}
        seen: dict[tuple, ResultFile] = {}
        for file in self.files:
            for row in file.rows:
                key = (file.experiment, file.dataset, row["model"], row["method"], row["metric"])
                full = (*key, row["condition"])
                if full in seen and seen[full] is not file:
                    raise ResultFileError(
                        f"{seen[full].name} and {file.name} both hold {row['metric']} of "
                        f"{row['model']} {row['method']}"
                        + (f" ({row['condition']})" if row["condition"] else "")
                        + ": keep one of them"
                    )
                seen[full] = file
                found = Found(row["mean"], row["sd"], row["n"], file)
                self._rows.setdefault(key, []).append((row["condition"], found))

    def find(self, lookup: Lookup) -> Found | None:
        """The summary row ``lookup`` names, or ``None`` when no file holds it."""
        key = (lookup.experiment, lookup.dataset, lookup.model, lookup.method, lookup.metric)
        candidates = self._rows.get(key, [])
        for condition, found in candidates:
            if condition == lookup.condition:
                return found
        for condition, found in candidates:
            if lookup.condition and condition.split(" ")[0] == lookup.condition:
                return found
        return None

    def of(self, experiment: str, dataset: str | None = None) -> list[ResultFile]:
        """The files of ``experiment`` (and, for ``segment``, of one dataset)."""
        return [
            f
            for f in self.files
            if f.experiment == experiment and (dataset is None or f.dataset == dataset)
        ]

    def pairs(self, experiment: str, dataset: str = "") -> list[tuple[str, str]]:
        """Every (model, method) the files of ``experiment`` hold, in the order found."""
        return list(
            dict.fromkeys(
                (row["model"], row["method"])
                for f in self.of(experiment, dataset if experiment == "segment" else None)
                for row in f.rows
            )
        )

    def conditions(self, experiment: str) -> list[str]:
        """Every condition the files of ``experiment`` hold, in the order found."""
        return list(dict.fromkeys(r["condition"] for f in self.of(experiment) for r in f.rows))


def read_results(folder: str | Path, name_root: str | Path | None = None) -> Results:
    """Every result file (``*.json`` but not ``*.figure.json``) in ``folder``; messages and the
    page name each file relative to ``name_root`` (default: as ``folder/<file>``)."""
    folder = Path(folder)
    if not folder.is_dir():
        return Results()
    files = []
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(".figure.json"):
            continue
        try:
            name = str(path.relative_to(name_root)) if name_root is not None else str(path)
        except ValueError:
            name = str(path)
        files.append(read_result_file(path, name))
    return Results(files)


# ----------------------------------------------------------------------------- commands


def _shell_word(word: str) -> str:
    """``word`` for a shell; ``~/...`` stays unquoted so the shell expands it."""
    if word.startswith("~/") and shlex.quote(word[2:]) == word[2:]:
        return word
    return shlex.quote(word)


@functools.lru_cache(maxsize=1)
def _parser() -> argparse.ArgumentParser:
    return build_parser()


def check_command(argv: Sequence[str]) -> None:
    """Parse ``argv`` (without ``scaledrop``) with the command's own parser and settings checks.

    Raises
    ------
    ValueError
        The command would be refused; the message says why.
    """
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit:
        raise ValueError(f"scaledrop refuses {' '.join(argv)!r}") from None
    flags = {k: v for k, v in vars(args).items() if k not in ("experiment", "config")}
    load_settings(args.experiment, flags)


@dataclass(frozen=True)
class Command:
    """A command that produces rows not run yet, and where its result file goes."""

    produces: str
    argv: tuple[str, ...]
    copy_to: str
    networks: int
    segmentation: bool = False

    @property
    def experiment(self) -> str:
        return self.argv[0]

    @property
    def text(self) -> str:
        """The command line, as it is typed."""
        return " ".join(["scaledrop", *(_shell_word(w) for w in self.argv)])

    @property
    def copy(self) -> str:
        """The command that commits its result where the page reads it."""
        return f"cp {OUT}/results/{self.experiment}.json {self.copy_to}"

    @property
    def cost(self) -> str:
        """What it trains, and the run time's order of magnitude (not measured here)."""
        what = "the folder's images" if self.segmentation else "CIFAR-10"
        hours = "" if self.segmentation else ": hours on a GPU each"
        return (
            f"trains {self.networks} networks, {PAPER_EPOCHS} epochs each on {what}{hours} "
            f"(not measured here); a network already in `{OUT}/checkpoints/` is loaded instead"
        )


def _command_argv(
    experiment: str, models: Sequence[str], methods: Sequence[str], dataset: str = ""
) -> list[str]:
    common = ["--seeds", *map(str, SEEDS), "--epochs", str(PAPER_EPOCHS), "--patience", "0"]
    if experiment == "segment":
        where = SEGMENTATION_DATASETS[dataset].folder
        argv = ["segment", "--seg-dir", where, "--seg-model", *models, "--seg-methods", *methods]
    else:
        argv = [experiment, "--data-dir", DATA_DIR, "--download", "--models", *models]
        argv += ["--methods", *methods]
    return [*argv, *common, "--out", OUT]


def _networks(models: Sequence[str], methods: Sequence[str]) -> int:
    members = Settings().ensemble_size
    return len(models) * len(SEEDS) * sum(members if m == ENSEMBLE else 1 for m in methods)


def commands_for(
    missing: Sequence[Lookup], results: Results, folder: str | Path = RESULTS_FOLDER
) -> list[Command]:
    """The fewest commands that produce every (model, method) of the ``missing`` cells: one
    per experiment (and dataset) when nothing of it is committed yet, else one per group of
    models that miss the same methods, each with its own result file name."""
    wanted: dict[tuple[str, str], dict[str, list[str]]] = {}
    for lookup in missing:
        if not lookup.elsewhere:
            by_model = wanted.setdefault((lookup.experiment, lookup.dataset), {})
            methods = by_model.setdefault(lookup.model, [])
            if lookup.method not in methods:
                methods.append(lookup.method)
    commands: list[Command] = []
    used: set[str] = set()
    for (experiment, dataset), by_model in wanted.items():
        merged: dict[tuple[str, ...], list[str]] = {}
        order = {m: i for i, m in enumerate(_MODEL_ORDER)}
        for model in sorted(by_model, key=lambda m: order.get(m, len(order))):
            merged.setdefault(tuple(by_model[model]), []).append(model)
        batches = [(models, list(methods)) for methods, models in merged.items()]
        stem = f"{experiment}-{dataset}" if dataset else experiment
        fresh = not results.of(experiment, dataset or None)
        if fresh:
            # nothing run yet: one command for every model and method (the extra pairs it
            # measures show as rows of ours), one result file
            models = sorted(
                {m for ms, _ in batches for m in ms}, key=lambda m: order.get(m, len(order))
            )
            methods = list(dict.fromkeys(m for _, ms in batches for m in ms))
            batches = [(models, methods)]
        for models, methods in batches:
            argv = _command_argv(experiment, models, methods, dataset)
            check_command(argv)
            if fresh:
                target = f"{stem}.json"
            else:
                base, k = f"{stem}-{'-'.join(models)}", 1
                target = f"{base}.json"
                while target in used or (Path(folder) / target).exists():
                    k += 1
                    target = f"{base}-{k}.json"
            used.add(target)
            produces = f"{', '.join(_display(m) for m in models)}: {', '.join(methods)}"
            if dataset:
                produces = f"{SEGMENTATION_DATASETS[dataset].paper_name}, {produces}"
            networks = len(methods) * len(SEEDS) if dataset else _networks(models, methods)
            commands.append(
                Command(
                    produces,
                    tuple(argv),
                    str(RESULTS_FOLDER / target),
                    networks,
                    segmentation=bool(dataset),
                )
            )
    return commands


# ----------------------------------------------------------------------------- sections


def _display(model: str) -> str:
    return PAPER_TOPOLOGIES.get(model, {"unet": "U-Net", "segnet": "SegNet"}.get(model, model))


@dataclass(frozen=True)
class Row:
    """One row of a section: the paper's line (if the paper prints one) and our line.

    ``paper_label`` is ``None`` for a row the paper prints no numbers for. ``ours`` holds one
    entry per value column: a :class:`Lookup`, or ``BLANK`` where the row has no such value.
    ``counterpart=False``: no ``scaledrop`` command measures this row. ``wanted``: a missing
    cell says :data:`NOT_RUN` and gets a command (default: rows the paper prints); other rows
    are ours only, shown when a file holds them.
    """

    shared: tuple[str, ...]
    paper_label: str | None
    paper: tuple[float | str | None, ...]
    ours_label: str
    ours: tuple[Lookup | str, ...]
    counterpart: bool = True
    wanted: bool | None = None

    @property
    def in_paper(self) -> bool:
        return self.paper_label is not None

    @property
    def commanded(self) -> bool:
        return self.in_paper if self.wanted is None else self.wanted


@dataclass(frozen=True)
class Section:
    """One table or figure of the paper with ours beside it, ready for the page.

    Attributes
    ----------
    key, title : str
        The directive's argument (``table-vi``) and the heading.
    paper : str
        What the paper prints or shows (for a figure: what its text says).
    table : Table
        The rows: the paper's line, then ours (mean ± sd over seeds, ``n`` seeds).
    commands : tuple of Command
        One per group of rows not run yet.
    sources : tuple of str
        Each result file used: revision, date, settings.
    notes : tuple of str
        Units, mappings, rows without a counterpart and why.
    """

    key: str
    title: str
    paper: str
    table: Table
    commands: tuple[Command, ...]
    sources: tuple[str, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_text(self) -> str:
        """The section as plain text (a terminal, the tests)."""
        lines = [self.title, "=" * len(self.title), "", "The paper: " + self.paper, ""]
        lines += [self.table.to_text(), ""]
        if self.sources:
            lines.append("Ours from:")
            lines += [f"  {source}" for source in self.sources]
        else:
            lines.append(f"Ours: no result file in {RESULTS_FOLDER}/ yet.")
        for command in self.commands:
            lines += [
                "",
                f"Not run yet: {command.produces}. Run (it {command.cost}):",
                f"  {command.text}",
                f"  {command.copy}",
            ]
        if self.notes:
            lines.append("")
            lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)


def _paper_text(value: float | str | None) -> str:
    if value is None:
        return "-"  # printed as "-" in the paper
    if isinstance(value, str):
        return value
    return f"{value:.2f}"


def _ours_text(found: Found | None, lookup: Lookup, n: int, not_run: bool) -> str:
    if found is None:
        if lookup.elsewhere:
            return f"see {lookup.elsewhere}"
        return NOT_RUN if not_run else NOT_MEASURED
    if found.mean is None or not math.isfinite(found.mean):
        return "n/a"
    text = f"{found.mean * lookup.scale:.{lookup.digits}f}"
    if found.sd is not None:
        text += f" ± {found.sd * lookup.scale:.{lookup.digits}f}"
    if found.n != n:
        text += f" (n = {found.n})"
    return text


def _grouped(rows: Sequence[Row]) -> list[Row]:
    """``rows`` with rows of the same shared keys together (rows of ours only join the
    paper's rows of their topology), otherwise in order."""
    first: dict[tuple[str, ...], int] = {}
    for index, row in enumerate(rows):
        first.setdefault(row.shared, index)
    return [row for _, row in sorted(enumerate(rows), key=lambda p: (first[p[1].shared], p[0]))]


def _build(
    key: str,
    title: str,
    paper: str,
    shared_headers: Sequence[str],
    label_header: str,
    value_headers: Sequence[str],
    rows: Sequence[Row],
    results: Results,
    folder: Path,
    notes: Sequence[str] = (),
) -> Section:
    """A section's table, sources and commands. A row's cells of one experiment that no file
    holds say :data:`NOT_RUN` (and get a command) when the row is wanted and that experiment
    holds nothing of the row; cells a committed run left out (other conditions) say
    :data:`NOT_MEASURED`."""
    columns = [*shared_headers, "Source", label_header, *value_headers]
    lines: list[list[str]] = []
    missing: list[Lookup] = []
    used: dict[str, ResultFile] = {}
    for row in _grouped(rows):
        if row.in_paper:
            lines.append([*row.shared, "paper", row.paper_label, *map(_paper_text, row.paper)])
        shared = [BLANK] * len(row.shared) if row.in_paper else list(row.shared)
        if not row.counterpart:
            cells = [BLANK if c == BLANK else NOT_IN_SCALEDROP for c in row.ours]
            lines.append([*shared, "ours", row.ours_label, *cells])
            continue
        lookups = [c for c in row.ours if isinstance(c, Lookup)]
        found = {c: results.find(c) for c in lookups}
        ran = {c.experiment for c, hit in found.items() if hit is not None and not c.elsewhere}
        counts = [hit.n for hit in found.values() if hit is not None]
        n = max(counts) if counts else 0
        cells = []
        for cell in row.ours:
            if not isinstance(cell, Lookup):
                cells.append(BLANK)
                continue
            hit = found[cell]
            not_run = hit is None and row.commanded and cell.experiment not in ran
            if not_run:
                missing.append(cell)
            if hit is not None:
                used[hit.file.name] = hit.file
            cells.append(_ours_text(hit, cell, n, not_run))
        label = row.ours_label + (f", n = {n}" if n else "")
        lines.append([*shared, "ours", label, *cells])
    commands = commands_for(missing, results, folder)
    note = (
        f"{NOT_MEASURED}: not measured by the committed run (its settings chose other "
        "conditions); n/a: undefined for every seed."
    )
    table = Table(columns, lines, note=note)
    sources = tuple(f.provenance() for f in used.values())
    return Section(key, title, paper, table, tuple(commands), sources, tuple(notes))


def _number_conditions(
    results: Results, experiment: str, defaults: Sequence[float], pattern: str
) -> list[float]:
    """The default values of a condition sweep, and any others a file holds, in order."""
    values = set(map(float, defaults))
    for condition in results.conditions(experiment):
        match = re.fullmatch(pattern, condition)
        if match:
            values.add(float(match[1]))
    return sorted(values)


def table_iii(results: Results, folder: Path) -> Section:
    """Table III: MC-Scale-Dropout accuracy with dropout bits from MTJs under variation."""
    levels = _number_conditions(
        results, "variation", Settings().variation_levels, r"([0-9.eE+-]+)x"
    )
    headers = ["Baseline", *(f"Var. {level:g}x" for level in levels)]

    def ours(model: str, method: str) -> tuple[Lookup | str, ...]:
        baseline = Lookup("accuracy", model, method, "Acc", elsewhere="Table VI")
        return (
            baseline,
            *(Lookup("variation", model, method, "Acc", f"{v:g}x") for v in levels),
        )

    rows = []
    for topology, paper in PAPER_TABLE_III.items():
        model = _MODELS[topology]

        def at(values: Sequence[float]) -> tuple[float | str, ...]:
            by_level = dict(zip(PAPER_TABLE_III_LEVELS, values, strict=True))
            return tuple(by_level.get(v, BLANK) for v in levels)

        rows.append(
            Row(
                (topology,),
                "trained w/o Spin-ScaleDrop",
                (paper["baseline"], *at(paper["trained without"])),
                f"MC-Scale-Dropout ({model}), trained without variation",
                ours(model, "MC-Scale-Dropout"),
            )
        )
        rows.append(
            Row(
                (topology,),
                "trained w/ Spin-ScaleDrop",
                (BLANK, *at(paper["trained with"])),
                "trained with variation",
                (BLANK, *(NOT_IN_SCALEDROP for _ in levels)),
                counterpart=False,
            )
        )
    covered = {(_MODELS[t], "MC-Scale-Dropout") for t in PAPER_TABLE_III}
    for model, method in results.pairs("variation"):
        if (model, method) not in covered:
            rows.append(
                Row(
                    (_display(model),),
                    None,
                    (),
                    f"{method} ({model}), trained without variation",
                    ours(model, method),
                )
            )
    return _build(
        "table-iii",
        "Table III: device variation",
        "Table III (Sec. VI-E3) prints the CIFAR-10 accuracy (%) of MC-Scale-Dropout ResNet-18 "
        "and VGG whose dropout bits come from spintronic (MTJ) modules at 0x to 3x the device "
        "variation, for networks trained without and with that variation, beside the "
        "algorithmic baseline (Table VI's accuracy). Its text reports +0.13 % for ResNet-18 and "
        "-0.19 % for VGG when networks trained without variation meet up to 3x of it, and a "
        "negligible effect of the variation level.",
        ["Topology"],
        "Networks",
        headers,
        rows,
        results,
        folder,
        notes=[
            "Ours: accuracy in %, mean ± sd over seeds of each seed's mean over the simulated "
            "chips; the baseline is Table VI's MC-Scale-Dropout accuracy (the accuracy "
            "command of the Table VI section produces it).",
            "scaledrop has no variation-aware training, so the paper's 'trained w/' rows have "
            "no counterpart here; chapter 6 trains such networks on the book's small data.",
        ],
    )


def table_iv(results: Results, folder: Path) -> Section:
    """Table IV: segmentation metrics of U-Net and SegNet on three medical datasets."""
    datasets = {d.paper_name: label for label, d in SEGMENTATION_DATASETS.items()}
    rows, covered = [], set()
    for name, values in PAPER_TABLE_IV.items():
        topology, dataset_name, method_bits = name.split(", ")
        paper_method, bits = method_bits.rsplit(" ", 1)
        model, dataset = _SEG_TOPOLOGIES[topology], datasets[dataset_name]
        method = _SEG_METHODS.get(paper_method)
        paper = tuple(values[m] for m in METRIC_NAMES)
        shared = (topology, dataset_name)
        if method is None:
            rows.append(
                Row(
                    shared,
                    f"{paper_method} {bits}",
                    paper,
                    paper_method,
                    tuple(NOT_IN_SCALEDROP for _ in METRIC_NAMES),
                    counterpart=False,
                )
            )
            continue
        covered.add((dataset, model, method))
        lookups = tuple(Lookup("segment", model, method, m, dataset=dataset) for m in METRIC_NAMES)
        rows.append(Row(shared, f"{paper_method} {bits}", paper, f"{method} ({model})", lookups))
    for dataset, info in SEGMENTATION_DATASETS.items():
        for model, method in results.pairs("segment", dataset):
            if (dataset, model, method) not in covered:
                lookups = tuple(
                    Lookup("segment", model, method, m, dataset=dataset) for m in METRIC_NAMES
                )
                rows.append(
                    Row(
                        (_display(model), info.paper_name), None, (), f"{method} ({model})", lookups
                    )
                )
    folders = "; ".join(
        f"{d.paper_name} {d.reference}: `{d.folder}`" for d in SEGMENTATION_DATASETS.values()
    )
    return _build(
        "table-iv",
        "Table IV: segmentation",
        "Table IV (Sec. VI-E1) prints seven segmentation metrics (%) of U-Net on skin cancer "
        "and Bayesian SegNet on breast ultrasound and COVID-19 lung CT images, p = 0.2 and "
        "T = 20: MC-Dropout with 32-bit weights and activations against Scale-Dropout "
        "('Proposed') with binary weights and 4-bit activations.",
        ["Topology", "Dataset"],
        "Method",
        _SEG_HEADERS,
        rows,
        results,
        folder,
        notes=[
            "Ours: % of the folder's test split (`--seg-split`), mean ± sd over seeds.",
            "None of these datasets downloads: put each one's images/ and masks/ (an "
            f"ISIC-style folder) where its command reads it ({folders}).",
            "scaledrop segment has no SpinDrop method, so that row has no counterpart here.",
        ],
    )


def table_v(results: Results, folder: Path) -> Section:
    """Table V: the share of each OOD set D1-D6 that Eq. 24 flags."""
    sets = ("D1", "D2", "D3", "D4", "D5", "D6")

    def lookups(model: str, method: str) -> tuple[Lookup, ...]:
        return tuple(Lookup("ood", model, method, "Detection", key) for key in sets)

    rows, covered = [], set()
    for topology, methods in PAPER_TABLE_V.items():
        model = _MODELS[topology]
        for paper_method, values in methods.items():
            method = _OOD_METHODS[paper_method]
            paper = tuple(values[key] for key in sets)
            if method is None:
                rows.append(
                    Row(
                        (topology,),
                        paper_method,
                        paper,
                        paper_method,
                        tuple(NOT_IN_SCALEDROP for _ in sets),
                        counterpart=False,
                    )
                )
                continue
            covered.add((model, method))
            rows.append(
                Row((topology,), paper_method, paper, f"{method} ({model})", lookups(model, method))
            )
    for model, method in results.pairs("ood"):
        if (model, method) not in covered:
            row = Row((_display(model),), None, (), f"{method} ({model})", lookups(model, method))
            rows.append(row)
    return _build(
        "table-v",
        "Table V: out-of-distribution detection",
        "Table V (Sec. VI-F) prints, per topology trained on CIFAR-10, the share (%) of each "
        "OOD set that Eq. 24 flags (10th percentile of the T softmax outputs below 0.95): D1 "
        "Gaussian noise, D2 uniform noise, D3 and D4 CIFAR-10 with Gaussian and uniform "
        "noise, D5 SVHN, D6 STL-10, 8000 images each; '-' where the paper prints none.",
        ["Topology"],
        "Method",
        sets,
        rows,
        results,
        folder,
        notes=[
            "Ours: the Detection column of the ood result (% of the set flagged), mean ± sd "
            "over seeds; the same file holds AUROC, AUPR and FPR95 per set.",
            "Ref. [35] of Table V, 'MC-Spatial Dropout', is Spatial-SpinDrop (so named in "
            "Table VI); SpinBayes [31] is not in scaledrop.",
        ],
    )


def table_vi(results: Results, folder: Path) -> Section:
    """Table VI: CIFAR-10 test accuracy per topology and method."""
    rows, covered, others = [], set(), []
    for entry in PAPER_TABLE_VI:
        model, method = _MODELS[entry.topology], _OUR_METHODS.get(entry.method)
        if method is None:
            others.append(f"{entry.topology} {entry.method}")
            continue
        covered.add((model, method))
        rows.append(
            Row(
                (entry.topology,),
                f"{entry.method} ({entry.bits})",
                (entry.accuracy,),
                f"{method} ({model})",
                (Lookup("accuracy", model, method, "Acc"),),
            )
        )
    extra = [p for p in results.pairs("accuracy") if p not in covered]
    order = {m: i for i, m in enumerate(_MODEL_ORDER)}
    for model, method in sorted(extra, key=lambda p: order.get(p[0], len(order))):
        lookup = Lookup("accuracy", model, method, "Acc")
        rows.append(Row((_display(model),), None, (), f"{method} ({model})", (lookup,)))
    rows.sort(key=lambda r: order.get(_MODELS.get(r.shared[0], ""), len(order)))
    return _build(
        "table-vi",
        "Table VI: CIFAR-10 accuracy",
        "Table VI (Sec. VI-E1) prints the CIFAR-10 test accuracy (%) of binary ResNet-18, "
        "ResNet-20 and VGG with the proposed MC-Scale-Dropout beside other binary and "
        "full-precision methods; the paper used layer-wise dropout rates (Sec. III-D: 10-20 % "
        "on small layers, e.g. 50 % on large ones) without printing them per layer.",
        ["Topology"],
        "Method",
        ["Accuracy (%)"],
        rows,
        results,
        folder,
        notes=[
            "Ours: accuracy of the mean prediction (T passes for sampled methods) on the "
            "10,000 test images, mean ± sd over seeds; p = 0.2 in every layer "
            "(`--layerwise-p SMALL LARGE` sets two rates).",
            "Our 'deterministic' is a binary network with IR-Net's binarisation and no "
            "dropout, the paper's IR-Net row. The paper's rows with no counterpart here: "
            + ", ".join(others)
            + ".",
        ],
    )


def figure_6(results: Results, folder: Path) -> Section:
    """Fig. 6: accuracy and predictive entropy of rotated test images (VGG)."""
    angles = _number_conditions(results, "rotation", Settings().angles, r"([0-9.eE+-]+) deg")
    measures = (("Accuracy (%)", "Acc", 100.0, 2), ("Entropy (nats)", "entropy", 1.0, 3))
    expected = [("vgg_small", method) for method in _ROTATION_METHODS]
    pairs = expected + [p for p in results.pairs("rotation") if p not in expected]
    rows = [
        Row(
            (_display(model), measure),
            None,
            (),
            f"{method} ({model})",
            tuple(
                Lookup(
                    "rotation",
                    model,
                    method,
                    metric,
                    f"{a:g} deg",
                    scale=scale,
                    digits=digits,
                )
                for a in angles
            ),
            wanted=(model, method) in expected,
        )
        for measure, metric, scale, digits in measures
        for model, method in pairs
    ]
    return _build(
        "figure-6",
        "Fig. 6: rotated test images",
        "Fig. 6 (Sec. VI-F) is a figure without printed numbers: the VGG model on every "
        "CIFAR-10 test image rotated continuously up to 90 degrees. Its text: accuracy falls "
        "and predictive entropy rises as the images rotate, with a similar fall in accuracy "
        "for MC-Scale-Dropout, a deterministic network, MC-Dropout and a deep ensemble of "
        "five, and 'significantly more predictive entropy' for MC-Scale-Dropout.",
        ["Topology", "Measure"],
        "Method",
        [f"{a:g}°" for a in angles],
        rows,
        results,
        folder,
        notes=[
            "Ours: accuracy (%) of the mean prediction and mean predictive entropy (nats) of "
            "the rotated test set, mean ± sd over seeds; the ensemble has "
            f"{Settings().ensemble_size} members (`--ensemble-size`).",
        ],
    )


def figure_7(results: Results, folder: Path) -> Section:
    """Fig. 7: accuracy against the number of Monte-Carlo samples T."""
    Ts = _number_conditions(results, "samples", Settings().Ts, r"T=([0-9]+)")
    expected = [(model, "MC-Scale-Dropout") for model in _MODEL_ORDER]
    pairs = expected + [p for p in results.pairs("samples") if p not in expected]
    rows = [
        Row(
            (_display(model),),
            None,
            (),
            f"{method} ({model})",
            tuple(Lookup("samples", model, method, "Acc", f"T={T:g}") for T in Ts),
            wanted=(model, method) in expected,
        )
        for model, method in pairs
    ]
    return _build(
        "figure-7",
        "Fig. 7: accuracy against the number of MC samples",
        "Fig. 7 (Sec. VI-E2) is a figure without printed numbers: CIFAR-10 accuracy against "
        "the number of Monte-Carlo samples T for several topologies. Its text: sampling raises "
        "ResNet-20's accuracy from 84.63 % to 86.05 % (the T of each is not printed), and "
        "accuracy plateaus around T = 20 to 50 (T = 20 for the larger and T = 50 for the "
        "smaller models).",
        ["Topology"],
        "Method",
        [f"T = {T:g}" for T in Ts],
        rows,
        results,
        folder,
        notes=[
            "Ours: accuracy (%) of the mean of the first T passes (nested draws), mean ± sd "
            "over seeds."
        ],
    )


#: The page's sections, in the paper's order, by the key the book's directive takes.
SECTIONS = {
    "table-iii": table_iii,
    "table-iv": table_iv,
    "table-v": table_v,
    "table-vi": table_vi,
    "figure-6": figure_6,
    "figure-7": figure_7,
}


def build_section(key: str, folder: str | Path, name_root: str | Path | None = None) -> Section:
    """The section ``key`` of :data:`SECTIONS` from the result files in ``folder``.

    Raises
    ------
    KeyError
        ``key`` is not a section.
    ResultFileError
        A result file is malformed (the message names it).
    """
    if key not in SECTIONS:
        raise KeyError(f"no full-scale section {key!r}; choose from {', '.join(SECTIONS)}")
    return SECTIONS[key](read_results(folder, name_root), Path(folder))


def build_page(folder: str | Path, name_root: str | Path | None = None) -> list[Section]:
    """Every section of the page, in the paper's order."""
    results = read_results(folder, name_root)
    return [make(results, Path(folder)) for make in SECTIONS.values()]


def main(argv: Sequence[str] | None = None) -> int:
    """Print the page as text: ``python -m scaledrop_lib.experiments.full_scale [FOLDER]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=RESULTS_FOLDER)
    args = parser.parse_args(argv)
    try:
        sections = build_page(args.folder)
    except ResultFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("\n\n".join(section.to_text() for section in sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
