"""Results on disk: mean ± sd over seeds, one JSON, one CSV and the figures per experiment.

An experiment measures *records*: one per (model, method, seed, condition), a condition being
an OOD set, an angle, a number of samples, a variation level or a layer. :func:`summarize`
groups them over seeds into *summary rows* (model, method, condition, metric, mean, sd, n,
values). Every experiment writes, atomically (``scaledrop_lib._io``), into
``<out>/results/``:

* ``<experiment>.json``: metadata (command, settings, git revision, versions, device, times),
  the records, the summary and what the experiment adds;
* ``<experiment>.csv``: the summary rows;
* ``<experiment>[-<name>].figure.json`` and ``.html``: its plotly figures, as
  :func:`scaledrop_lib.viz.plotting.figure_json` stores them, and a page that draws them
  offline with the ``plotly.min.js`` copied next to it.

The git revision goes into the results only, never into checkpoints: a checkpoint's key is
what decides its weights.
"""

from __future__ import annotations

import csv
import importlib.metadata
import io
import json
import math
import platform
import subprocess
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scaledrop_lib._io import atomic_write, atomic_write_json, atomic_write_text
from scaledrop_lib.tables import Table
from scaledrop_lib.viz.book import PLOTLY_JS, figure_html, plotly_js_path
from scaledrop_lib.viz.plotting import figure_json

#: Columns of every experiment's CSV file (``reference``: the paper's value, where quoted).
CSV_COLUMNS = ("model", "method", "condition", "metric", "mean", "sd", "n", "values", "reference")
#: Keys that identify a record rather than measure something.
RECORD_KEYS = ("model", "method", "seed", "condition")


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def summarize(
    records: Sequence[Mapping[str, Any]], references: Mapping[tuple, float] | None = None
) -> list[dict[str, Any]]:
    """Mean and sample standard deviation (ddof 1; ``None`` for one seed) of every numeric
    measurement over the seeds of each (model, method, condition), in first-seen order.

    Values that are ``None`` (undefined, e.g. AUROC of a constant score) are left out of
    mean and sd; ``n`` counts the values used. ``references`` maps (model, method,
    condition, metric) to a quoted value for the ``reference`` column.
    """
    groups: dict[tuple[str, str, str], dict[str, list]] = {}
    for record in records:
        key = (record["model"], record["method"], record.get("condition", ""))
        metrics = groups.setdefault(key, {})
        for name, value in record.items():
            if name in RECORD_KEYS or isinstance(value, (str, list, dict)):
                continue
            metrics.setdefault(name, []).append(_number(value))
    rows = []
    for (model, method, condition), metrics in groups.items():
        for metric, values in metrics.items():
            used = np.array([v for v in values if v is not None], dtype=float)
            rows.append(
                {
                    "model": model,
                    "method": method,
                    "condition": condition,
                    "metric": metric,
                    "mean": float(used.mean()) if len(used) else None,
                    "sd": float(used.std(ddof=1)) if len(used) > 1 else None,
                    "n": len(used),
                    "values": values,
                    "reference": (references or {}).get((model, method, condition, metric)),
                }
            )
    return rows


def pick(rows: Sequence[Mapping[str, Any]], metric: str, **where: str) -> list[Mapping[str, Any]]:
    """The summary rows of ``metric`` whose fields equal ``where``."""
    return [
        row
        for row in rows
        if row["metric"] == metric and all(row[k] == v for k, v in where.items())
    ]


def series(
    rows: Sequence[Mapping[str, Any]], metric: str, conditions: Sequence[str], label=None
) -> tuple[dict[str, list], dict[str, list]]:
    """For a line figure: ``{label: [mean per condition]}`` and ``{label: [sd ...]}``, one line
    per (model, method); ``label(model, method)`` names it (default: the method, with the
    model when several models are present)."""
    pairs = list(dict.fromkeys((row["model"], row["method"]) for row in rows))
    models = {model for model, _ in pairs}
    if label is None:

        def label(model: str, method: str) -> str:
            return method if len(models) == 1 else f"{model} {method}"

    means: dict[str, list] = {}
    sds: dict[str, list] = {}
    for model, method in pairs:
        found = {row["condition"]: row for row in pick(rows, metric, model=model, method=method)}
        if not found:
            continue
        name = label(model, method)
        means[name] = [found.get(c, {}).get("mean") for c in conditions]
        sds[name] = [found.get(c, {}).get("sd") or 0.0 for c in conditions]
    return means, sds


def git_revision(folder: Path | None = None) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git checkout this package runs from, or ``None`` when it
    is not one (an installed wheel) or git is missing."""
    folder = folder or Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()

    try:
        top = Path(git("rev-parse", "--show-toplevel")).resolve()
        if top != folder.resolve():  # e.g. site-packages inside some other repository
            return None
        return {
            "commit": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        }
    except (OSError, subprocess.SubprocessError):
        return None


def _version() -> str | None:
    try:
        return importlib.metadata.version("scaledrop")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
        return None


def metadata(
    experiment: str,
    settings: Mapping[str, Any],
    argv: Sequence[str],
    device: str,
    amp: bool,
    started: datetime,
) -> dict[str, Any]:
    """What a result file says about how it was made."""
    return {
        "experiment": experiment,
        "command": ["scaledrop", *argv],
        "settings": dict(settings),
        "git": git_revision(),
        "versions": {
            "scaledrop": _version(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "device": device,
        "amp": amp,
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    """The summary rows as CSV (:data:`CSV_COLUMNS`; empty cells for ``None``; ``values`` as
    a JSON list)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        cells = []
        for column in CSV_COLUMNS:
            value = row.get(column)
            if column == "values":
                value = json.dumps(value)
            cells.append("" if value is None else value)
        writer.writerow(cells)
    return buffer.getvalue()


def _json_safe(value: Any) -> Any:
    """NaN and infinities as ``None`` (strict JSON), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _page(title: str, figures: Sequence[dict[str, Any]]) -> str:
    divs = "\n".join(figure_html(figure) for figure in figures)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{title}</title><script src='{PLOTLY_JS}' defer></script></head>\n"
        f"<body style='max-width:760px;margin:auto;font-family:sans-serif'>\n{divs}\n"
        "</body></html>\n"
    )


def write_results(
    folder: Path,
    experiment: str,
    result: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    figures: Mapping[str, Any],
) -> dict[str, Path]:
    """Write ``<experiment>.json`` (``result``), ``.csv`` (``rows``) and each figure
    (``<experiment>-<name>.figure.json``, or ``<experiment>.figure.json`` for the name
    ``""``) plus ``<experiment>.html`` showing them all; return the paths by kind."""
    folder = Path(folder)
    paths = {
        "json": atomic_write_json(folder / f"{experiment}.json", _json_safe(dict(result))),
        "csv": atomic_write_text(folder / f"{experiment}.csv", csv_text(rows)),
    }
    stored = []
    for name, figure in figures.items():
        data = figure_json(figure)
        stem = f"{experiment}-{name}" if name else experiment
        paths[f"figure-{name}" if name else "figure"] = atomic_write_json(
            folder / f"{stem}.figure.json", data
        )
        stored.append(data)
    if stored:
        script = folder / PLOTLY_JS
        source = plotly_js_path()
        if not script.is_file() or script.stat().st_size != source.stat().st_size:
            atomic_write(script, lambda handle: handle.write(source.read_bytes()))
        paths["html"] = atomic_write_text(
            folder / f"{experiment}.html", _page(f"scaledrop {experiment}", stored)
        )
    return paths


def _cell(row: Mapping[str, Any] | None) -> str:
    if row is None:  # not measured for this row
        return "-"
    if row["mean"] is None:  # undefined
        return "n/a"
    sd = "" if row["sd"] is None else f" ± {row['sd']:.4g}"
    return f"{row['mean']:.4g}{sd}"


def summary_table(rows: Sequence[Mapping[str, Any]], title: str) -> Table:
    """The summary as a terminal/HTML table: one row per (model, method, condition), one
    column per metric, ``mean ± sd`` over seeds."""
    metrics = list(dict.fromkeys(row["metric"] for row in rows))
    keys = list(dict.fromkeys((r["model"], r["method"], r["condition"]) for r in rows))
    index = {(r["model"], r["method"], r["condition"], r["metric"]): r for r in rows}
    with_condition = any(condition for _, _, condition in keys)
    columns = ["model", "method", *(["condition"] if with_condition else []), *metrics]
    body = [
        [
            model,
            method,
            *([condition] if with_condition else []),
            *(_cell(index.get((model, method, condition, m))) for m in metrics),
        ]
        for model, method, condition in keys
    ]
    note = "mean ± sd over seeds (no sd for one seed); n/a: undefined; -: not measured"
    return Table(columns, body, title=title, note=note)
