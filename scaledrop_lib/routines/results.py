"""Committed result files: evaluations too slow to run live in a chapter.

A study's command writes ``results/<name>.json`` and records the file's SHA-256 and the
command that regenerates it in ``results/manifest.json``; :func:`load_result` refuses a file
whose checksum differs, and names the command when the file is missing. The same scheme as
the checkpoint zoo (:mod:`scaledrop_lib.routines.zoo`), for JSON instead of weights.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from scaledrop_lib._io import atomic_write_json
from scaledrop_lib.routines.checkpoints import file_sha256

RESULTS_DIR = Path(__file__).parent.parent / "results"
_NAME = re.compile(r"^[a-z0-9_]+$")


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name must be lower-case letters, digits and _, got {name!r}")
    return name


def result_path(name: str, folder: Path | None = None) -> Path:
    """Where result ``name`` lives (``folder`` defaults to the package's results folder)."""
    return (folder or RESULTS_DIR) / f"{_check_name(name)}.json"


def read_results_manifest(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """``{name: {"sha256": ..., "command": ...}}`` of the folder's results (empty if none)."""
    path = (folder or RESULTS_DIR) / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def save_result(name: str, data: Any, command: str, folder: Path | None = None) -> str:
    """Write ``data`` as ``<name>.json`` atomically and record its SHA-256 and ``command``.

    Returns the SHA-256. ``data`` must be plain JSON (dicts, lists, str, finite or NaN
    floats, ints, bools, None): anything else raises ``TypeError`` before a file is written.
    """
    folder = folder or RESULTS_DIR
    json.dumps(data)  # refuse non-JSON data before touching any file
    path = atomic_write_json(result_path(name, folder), data)
    sha = file_sha256(path)
    manifest = read_results_manifest(folder)
    manifest[name] = {"sha256": sha, "command": command}
    atomic_write_json(folder / "manifest.json", manifest)
    return sha


def load_result(name: str, folder: Path | None = None) -> Any:
    """The committed result ``name``, checked against the manifest's SHA-256.

    Raises
    ------
    FileNotFoundError
        If the file or its manifest entry is missing (the message names the command).
    ValueError
        If the file's checksum differs from the manifest.
    """
    path = result_path(name, folder)
    entry = read_results_manifest(folder).get(name)
    if entry is None or not path.is_file():
        hint = f"; create it with `{entry['command']}`" if entry else ""
        raise FileNotFoundError(f"no result {name!r} at {path}{hint}")
    if "sha256" not in entry:
        raise ValueError(f"results manifest entry {name!r} has no sha256")
    actual = file_sha256(path)
    if actual != entry["sha256"]:
        raise ValueError(
            f"result {name!r} at {path}: sha256 {actual[:12]}... differs from the manifest's "
            f"{entry['sha256'][:12]}...; regenerate it with `{entry['command']}`"
        )
    return json.loads(path.read_text())
