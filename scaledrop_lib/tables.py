"""Tables that show as HTML in a notebook or the book, and as aligned text in a terminal.

A :class:`Table` is the value a chapter cell ends with: Jupyter and the book call its
``_repr_html_`` (a real ``<table>`` that wraps and fits the page), while ``print(table)`` and
a terminal get aligned text. Numbers are formatted per column, so a chapter never builds a
table by hand with f-strings, and the same table renders the same everywhere.

No plotting library is needed (this is core), so studies can return tables too.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: A column format: a format spec (``".4f"``, ``".1%"``, ``",d"``) or a function of the value.
Format = str | Callable[[Any], str]

MISSING = "-"  # a cell with no value (None)
UNDEFINED = "n/a"  # a number that is NaN: undefined, not zero


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class Table:
    """Rows of values under named columns, rendered as HTML or as aligned text.

    Parameters
    ----------
    columns : sequence of str
        Column names, unique.
    rows : sequence of sequence
        One value per column in each row. ``None`` shows as ``-``, NaN as ``n/a``.
    formats : mapping of str to str or callable, optional
        Per column: a format spec applied with ``format(value, spec)`` (e.g. ``".4f"``,
        ``".1%"``), or a function returning the cell's text. Other cells show with ``str``.
    title : str, optional
        Shown above the table (an HTML caption).
    note : str, optional
        Shown below the table (e.g. which numbers are the paper's).

    Raises
    ------
    ValueError
        If column names repeat, a row's length differs from the columns', or a format names
        an unknown column.
    """

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    formats: Mapping[str, Format] = field(default_factory=dict)
    title: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        columns = [str(c) for c in self.columns]
        if not columns:
            raise ValueError("columns must not be empty")
        if len(set(columns)) != len(columns):
            raise ValueError(f"columns must be unique, got {columns}")
        for index, row in enumerate(self.rows):
            if len(row) != len(columns):
                raise ValueError(
                    f"rows[{index}] has {len(row)} values but there are {len(columns)} columns"
                )
        unknown = set(self.formats) - set(columns)
        if unknown:
            raise ValueError(f"formats name unknown columns {sorted(unknown)}")
        object.__setattr__(self, "columns", tuple(columns))
        object.__setattr__(self, "rows", tuple(tuple(row) for row in self.rows))

    @classmethod
    def from_records(
        cls,
        records: Sequence[Mapping[str, Any]],
        columns: Sequence[str] | None = None,
        **options: Any,
    ) -> Table:
        """A table from one mapping per row (columns default to the first record's keys)."""
        if not records:
            raise ValueError("records must not be empty")
        columns = list(columns) if columns is not None else list(records[0])
        for index, record in enumerate(records):
            missing = [c for c in columns if c not in record]
            if missing:
                raise ValueError(f"records[{index}] lacks {missing}")
        return cls(columns, [[record[c] for c in columns] for record in records], **options)

    # ------------------------------------------------------------------ cells

    def cell_text(self, column: str, value: Any) -> str:
        """The text of one cell of ``column`` holding ``value``."""
        if value is None:
            return MISSING
        if _is_number(value) and math.isnan(value):
            return UNDEFINED
        fmt = self.formats.get(column)
        if fmt is None:
            return str(value)
        return fmt(value) if callable(fmt) else format(value, fmt)

    def _numeric(self) -> list[bool]:
        """Per column: all its values are numbers (or missing), so it aligns right."""
        return [
            all(v is None or _is_number(v) for v in column) and any(_is_number(v) for v in column)
            for column in zip(*self.rows, strict=True)
        ] or [False] * len(self.columns)

    def _texts(self) -> list[list[str]]:
        return [
            [self.cell_text(c, v) for c, v in zip(self.columns, row, strict=True)]
            for row in self.rows
        ]

    # ------------------------------------------------------------------ renderings

    def to_text(self) -> str:
        """Aligned plain text: numbers right-aligned, words left-aligned, two spaces apart."""
        texts = self._texts()
        numeric = self._numeric()
        widths = [
            max([len(name), *(len(row[i]) for row in texts)]) for i, name in enumerate(self.columns)
        ]

        def line(cells: Sequence[str]) -> str:
            parts = [
                cell.rjust(w) if right else cell.ljust(w)
                for cell, w, right in zip(cells, widths, numeric, strict=True)
            ]
            return "  ".join(parts).rstrip()

        lines = [self.title] if self.title else []
        lines += [line(self.columns), line(["-" * w for w in widths])]
        lines += [line(row) for row in texts]
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)

    def to_html(self) -> str:
        """An HTML ``<table>`` (escaped), numbers right-aligned in tabular figures."""
        numeric = self._numeric()

        def cell(tag: str, text: str, right: bool) -> str:
            style = ' style="text-align: right"' if right else ""
            return f"<{tag}{style}>{html.escape(text)}</{tag}>"

        head = "".join(cell("th", c, r) for c, r in zip(self.columns, numeric, strict=True))
        body = "".join(
            "<tr>" + "".join(cell("td", t, r) for t, r in zip(row, numeric, strict=True)) + "</tr>"
            for row in self._texts()
        )
        caption = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        table = (
            '<table class="scaledrop-table" style="font-variant-numeric: tabular-nums">'
            f"{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )
        note = f'<p class="scaledrop-table-note">{html.escape(self.note)}</p>' if self.note else ""
        return table + note

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return self.to_text()
