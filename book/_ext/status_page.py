"""The book's status page: each chapter's execution time and result, made at build time.

The ``chapter-status`` directive becomes a table with one row per chapter notebook in the
table of contents. Each row comes from the best record at hand:

* the build's own execution (myst-nb's execution data, when ``make book`` ran the notebook or
  took it from its execution cache): method, seconds, result;
* otherwise the record ``make notebooks`` wrote when it last executed the stored outputs
  (``notebooks/execution-status.json``, by ``tools/execute_notebooks.py``), which is what a
  book built from the stored outputs (``make book-check``) shows, with the date of that run.

A chapter with neither says so instead of inventing a time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective
from table_nodes import header_table

STATUS_FILE = Path("notebooks") / "execution-status.json"
HEADERS = ("Chapter", "Executed by", "Run time (s)", "Result")


class chapter_status(nodes.General, nodes.Element):  # docutils names nodes in lower case
    """Placeholder replaced by the table once every document's execution data is known."""


class ChapterStatusDirective(SphinxDirective):
    has_content = False

    def run(self) -> list[nodes.Node]:
        return [chapter_status()]


def _stored_records(srcdir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    path = srcdir / STATUS_FILE
    if not path.is_file():
        return {}, {}
    data = json.loads(path.read_text())
    return data.get("notebooks", {}), data.get("machine", {})


def status_rows(
    docnames: list[str], exec_data: dict[str, dict[str, Any]], stored: dict[str, Any]
) -> list[tuple[str, str, str, str]]:
    """(docname, executed by, seconds, result) for each notebook docname."""
    rows = []
    for docname in docnames:
        live = exec_data.get(docname)
        record = stored.get(Path(docname).name)
        if live:
            seconds = live.get("runtime")
            rows.append(
                (
                    docname,
                    f"this build ({live.get('method', '?')})",
                    "-" if seconds is None else f"{seconds:.1f}",
                    "ok" if live.get("succeeded") else "failed",
                )
            )
        elif record:
            rows.append(
                (
                    docname,
                    f"make notebooks, {record.get('executed', '?')}",
                    f"{record['seconds']:.1f}",
                    str(record.get("result", "?")),
                )
            )
        else:
            rows.append((docname, "no record", "-", "not executed"))
    return rows


def _table(rows: list[tuple[str, str, str, str]], builder: Any, fromdoc: str) -> nodes.table:
    table, body = header_table(HEADERS)
    env = builder.env
    for docname, by, seconds, result in rows:
        title = env.titles[docname].astext() if docname in env.titles else docname
        link = nodes.reference(
            "", title, internal=True, refuri=builder.get_relative_uri(fromdoc, docname)
        )
        cells = [nodes.paragraph("", "", link)] + [
            nodes.paragraph(text=text) for text in (by, seconds, result)
        ]
        body += nodes.row("", *[nodes.entry("", cell) for cell in cells])
    return table


class ChapterStatusTransform(SphinxPostTransform):
    default_priority = 8  # before references are resolved

    def run(self, **kwargs: Any) -> None:
        placeholders = list(self.document.findall(chapter_status))
        if not placeholders:
            return
        env = self.env
        notebooks = sorted(
            d for d in env.found_docs if d.startswith("notebooks/") and d in env.titles
        )
        exec_data = {
            docname: data["exec_data"]
            for docname, data in _metadata(env).items()
            if data.get("exec_data")
        }
        stored, machine = _stored_records(Path(env.srcdir))
        rows = status_rows(notebooks, exec_data, stored)
        for placeholder in placeholders:
            content: list[nodes.Node] = [_table(rows, self.app.builder, env.docname)]
            if machine:
                content.append(
                    nodes.paragraph(
                        text="Stored runs: "
                        + ", ".join(f"{k} {v}" for k, v in sorted(machine.items()))
                        + "."
                    )
                )
            placeholder.replace_self(content)


def _metadata(env: Any) -> dict[str, dict[str, Any]]:
    from myst_nb.sphinx_ import NbMetadataCollector

    return NbMetadataCollector.get_doc_data(env)


def _every_build_renews_the_page(app: Any, env: Any) -> list[str]:
    # the table reads other documents' data: rebuild the page whenever anything was read
    return [d for d in env.found_docs if d.endswith("status")]


def setup(app: Any) -> dict[str, Any]:
    app.add_node(chapter_status)
    app.add_directive("chapter-status", ChapterStatusDirective)
    app.add_post_transform(ChapterStatusTransform)
    app.connect("env-updated", _every_build_renews_the_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
