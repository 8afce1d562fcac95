"""The docutils table both build-time pages make: a header row and an empty body to fill.

Shared by the status page (``status_page.py``) and the full-scale results page
(``full_scale_page.py``); jupyter-book puts this folder on ``sys.path`` for its
``local_extensions``, so they import it by name.
"""

from __future__ import annotations

from collections.abc import Sequence

from docutils import nodes


def header_table(
    headers: Sequence[str], classes: Sequence[str] = ("colwidths-auto",)
) -> tuple[nodes.table, nodes.tbody]:
    """A table with one header row of ``headers`` (equal column widths, the theme sizes them
    to their content under ``colwidths-auto``) and its empty body, for the caller's rows."""
    table = nodes.table(classes=list(classes))
    group = nodes.tgroup(cols=len(headers))
    table += group
    for _ in headers:
        group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    group += head
    head += nodes.row("", *[nodes.entry("", nodes.paragraph(text=h)) for h in headers])
    body = nodes.tbody()
    group += body
    return table, body
