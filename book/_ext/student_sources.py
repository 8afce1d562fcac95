"""The downloadable notebooks of the public book carry no exercise solutions.

sphinx-exercise's ``hide_solutions`` leaves the ``{solution}`` directives out of the HTML, but
each page's "download source" button serves the chapter's ``.ipynb`` from ``_sources/``,
where the solutions' markdown cell still is. When ``hide_solutions`` is on, this extension
removes from those copies every markdown cell that holds a ``{solution}`` directive, after
the build, so the download matches the page. (The instructors' build keeps them.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

#: A MyST ``{solution}`` directive opening a fence of backticks or colons.
SOLUTION = re.compile(r"^(`{3,}|:{3,})\{solution\}", re.M)


def strip_solutions(notebook: dict[str, Any]) -> int:
    """Drop the markdown cells holding a ``{solution}`` directive; how many were dropped."""
    cells = notebook.get("cells", [])
    kept = [
        c
        for c in cells
        if not (c.get("cell_type") == "markdown" and SOLUTION.search("".join(c.get("source", []))))
    ]
    notebook["cells"] = kept
    return len(cells) - len(kept)


def strip_sources(outdir: Path) -> int:
    """Strip the solutions from every ``.ipynb`` under ``outdir/_sources``; cells dropped."""
    dropped = 0
    for path in sorted((outdir / "_sources").rglob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        removed = strip_solutions(notebook)
        if removed:
            path.write_text(
                json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            dropped += removed
    return dropped


def _build_finished(app: Any, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html" and app.config.hide_solutions:
        strip_sources(Path(app.outdir))


def setup(app: Any) -> dict[str, Any]:
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
