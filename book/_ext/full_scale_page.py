"""The book's "Full-scale results" page: the paper's numbers beside ours, made at build time.

The ``full-scale`` directive takes one section of
:mod:`scaledrop_lib.experiments.full_scale` (``table-iii``, ``table-iv``, ``table-v``,
``table-vi``, ``figure-6``, ``figure-7``) and becomes what the paper prints, a table with the
paper's line and ours for each row, where our numbers come from (file, git revision, date,
settings), and for every row not run yet the command that produces it. Our numbers are read
from the committed result files in ``results/full_scale/`` when the book is built; the library
module owns that format and is tested without Sphinx. A malformed result file stops the build
with an error naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.util.docutils import SphinxDirective
from table_nodes import header_table

from scaledrop_lib.experiments.full_scale import (
    NOT_IN_SCALEDROP,
    NOT_RUN,
    RESULTS_FOLDER,
    ResultFileError,
    Section,
    build_section,
)

#: Our lines whose every value reads alike become one cell spanning the value columns.
_SPANNING = (NOT_RUN, NOT_IN_SCALEDROP)


def _text(text: str) -> str:
    # mean ± sd stays on one line in a narrow cell
    return text.replace(" ± ", "\u00a0±\u00a0")


def _table(section: Section) -> nodes.table:
    columns = list(section.table.columns)
    first_value = columns.index("Source") + 2  # Source, then the row's label
    table, body = header_table(
        columns, classes=("colwidths-auto", "scaledrop-table", "full-scale-table")
    )
    for line in section.table.rows:
        values = [v for v in line[first_value:] if v]
        entries = [nodes.entry("", nodes.paragraph(text=_text(c))) for c in line[:first_value]]
        spans = len(columns) - first_value > 1
        if spans and values and len(set(values)) == 1 and values[0] in _SPANNING:
            span = nodes.entry("", nodes.paragraph(text=values[0]))
            span["morecols"] = len(columns) - first_value - 1
            entries.append(span)
        else:
            entries += [nodes.entry("", nodes.paragraph(text=_text(c))) for c in line[first_value:]]
        classes = ["paper-line"] if line[first_value - 2] == "paper" else ["ours-line"]
        body += nodes.row("", *entries, classes=classes)
    return table


def _inline(text: str) -> list[nodes.Node]:
    """Text with its `backquoted` parts (flags, paths) as literals, which the builder never
    turns into typographic dashes or quotes."""
    parts = text.split("`")
    return [
        nodes.literal(text=part) if index % 2 else nodes.Text(part)
        for index, part in enumerate(parts)
        if part
    ]


def _bullets(items: list[str]) -> nodes.bullet_list:
    found = nodes.bullet_list()
    for item in items:
        found += nodes.list_item("", nodes.paragraph("", "", *_inline(item)))
    return found


def section_nodes(section: Section) -> list[nodes.Node]:
    """The section as docutils nodes: the paper's account, the table, our sources, the
    commands for what is not run yet, the notes."""
    found: list[nodes.Node] = [
        nodes.paragraph("", "", nodes.strong(text="The paper: "), *_inline(section.paper)),
        _table(section),
    ]
    if section.table.note:
        found.append(nodes.paragraph(text=section.table.note, classes=["scaledrop-table-note"]))
    if section.sources:
        found.append(nodes.paragraph("", "", nodes.strong(text="Ours from:")))
        found.append(_bullets(list(section.sources)))
    else:
        found.append(
            nodes.paragraph(
                "",
                "",
                nodes.strong(text="Ours: "),
                nodes.Text("no result file in "),
                nodes.literal(text=f"{RESULTS_FOLDER}/"),
                nodes.Text(" yet."),
            )
        )
    for command in section.commands:
        found.append(
            nodes.paragraph(
                "",
                "",
                nodes.strong(text="Not run yet: "),
                *_inline(f"{command.produces}. This command {command.cost}; then commit "),
                nodes.literal(text=command.copy_to),
                nodes.Text(":"),
            )
        )
        code = f"{command.text}\n{command.copy}"
        found.append(nodes.literal_block(code, code, language="bash"))
    if section.notes:
        found.append(_bullets(list(section.notes)))
    return found


class FullScaleDirective(SphinxDirective):
    """``{full-scale} <section>``: one table or figure of the paper beside our results."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        root = Path(self.env.srcdir)
        folder = root / RESULTS_FOLDER
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                self.env.note_dependency(str(path))
        try:
            section = build_section(self.arguments[0], folder, root)
        except KeyError as error:
            raise self.error(str(error.args[0])) from None
        except ResultFileError as error:
            raise self.error(f"full-scale results: {error}") from None
        return section_nodes(section)


def _every_build_renews_the_page(app: Any, env: Any, added: Any, changed: Any, removed: Any):
    # a result file added since the last build is no dependency yet: read the page again
    return [d for d in env.found_docs if d.endswith("full_scale")]


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("full-scale", FullScaleDirective)
    app.connect("env-get-outdated", _every_build_renews_the_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
