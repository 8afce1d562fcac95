"""Execute chapter notebooks in place and record how each run went (what `make notebooks` runs).

Usage: python tools/execute_notebooks.py [NOTEBOOK ...] [--status FILE] [--timeout S]

Each notebook (default: every ``notebooks/*.ipynb``) runs top to bottom in its own kernel,
exactly as ``jupyter nbconvert --execute --inplace`` would (nbconvert's ExecutePreprocessor,
cell timeout ``--timeout``, no per-cell timing in the metadata, so stored outputs stay
stable), one after the other (never two torch jobs at once). The wall time and the result of
each run go into ``--status`` (default ``notebooks/execution-status.json``): the book's status
page (book/_ext/status_page.py) shows them. A notebook that fails is not written; its error is
recorded and the command exits 1 after the others have run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

from scaledrop_lib._io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
STATUS = ROOT / "notebooks" / "execution-status.json"


def execute(path: Path, timeout: int) -> dict[str, object]:
    """Run one notebook in place; the record of the run (seconds, result, error)."""
    import nbformat
    from nbconvert.preprocessors import ExecutePreprocessor

    nb = nbformat.read(path, as_version=4)
    preprocessor = ExecutePreprocessor(timeout=timeout, record_timing=False)
    started = time.perf_counter()
    record: dict[str, object] = {"executed": datetime.date.today().isoformat()}
    try:
        preprocessor.preprocess(nb, {"metadata": {"path": str(path.parent)}})
    except Exception as error:  # recorded, reported, and the exit code says so
        record.update(result="failed", error=f"{type(error).__name__}: {str(error)[-500:]}")
    else:
        record["result"] = "ok"
        text = nbformat.writes(nb)  # byte for byte what nbconvert --inplace writes
        atomic_write_text(path, text if text.endswith("\n") else text + "\n")
    record["seconds"] = round(time.perf_counter() - started, 1)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--status", type=Path, default=STATUS)
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    status = json.loads(args.status.read_text()) if args.status.is_file() else {}
    runs = status.setdefault("notebooks", {})
    failed = []
    for path in notebooks:
        print(f"executing {path.name} ...", flush=True)
        record = execute(path.resolve(), args.timeout)
        runs[path.stem] = record
        print(f"  {record['result']} in {record['seconds']} s", flush=True)
        if record["result"] != "ok":
            failed.append(path.name)
            print(f"  {record['error']}", flush=True)
    import torch

    status["machine"] = {
        "cpus": os.cpu_count(),
        "torch threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    status["notebooks"] = dict(sorted(runs.items()))
    atomic_write_text(args.status, json.dumps(status, indent=1, sort_keys=True) + "\n")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
