"""Bibliography labels that match the author-year citations in the text.

The chapters cite with ``bibtex_reference_style: author_year`` ("Ahmed et al. (2023)"), but
pybtex's built-in label styles print alpha or numeric labels ("[ADH+23]", "[1]") in the
bibliography itself. This extension registers a pybtex formatting style, ``authoryear``, whose
labels are "Ahmed et al. 2023" (one author: "Gal 2016"; two: "Gal and Ghahramani 2016"), with
a, b, ... appended when two entries would share a label, and entries sorted by author, year and
title. ``_config.yml`` selects it with ``bibtex_default_style: authoryear``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle

_LATEX = re.compile(r"\\[a-zA-Z]+\s*|[{}\\]")


def _plain(text: str) -> str:
    """A name without LaTeX braces or commands (``{van der} Maaten`` -> ``van der Maaten``)."""
    return _LATEX.sub("", text).strip()


def author_year_label(entry: Any) -> str:
    """``Surname YEAR``, ``Surname and Surname YEAR`` or ``Surname et al. YEAR`` of an entry
    (editors when there are no authors; the organisation or title word when neither)."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    year = _plain(entry.fields.get("year", "n.d."))
    names = [_plain(" ".join(p.prelast_names + p.last_names)) for p in persons]
    if not names:
        fallback = entry.fields.get("organization") or entry.fields.get("title", "Anonymous")
        return f"{_plain(fallback).split()[0]} {year}"
    if len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who} {year}"


class AuthorYearLabels(BaseLabelStyle):
    """pybtex label style: :func:`author_year_label`, made unique with a, b, ..."""

    def format_labels(self, sorted_entries: Iterable[Any]) -> Iterator[str]:
        entries = list(sorted_entries)
        labels = [author_year_label(e) for e in entries]
        counts = Counter(labels)
        seen: Counter[str] = Counter()
        for label in labels:
            if counts[label] > 1:
                yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label]]
                seen[label] += 1
            else:
                yield label


class AuthorYearStyle(UnsrtStyle):
    """pybtex formatting style: unsrt's entries, author-year labels, sorted by author."""

    default_label_style = "authoryear"
    default_sorting_style = "author_year_title"


def setup(app: Any) -> dict[str, Any]:
    register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabels)
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
