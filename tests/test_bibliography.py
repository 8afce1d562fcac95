"""The bibliography's author-year labels (book/_ext/author_year.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pybtex.database import Entry, Person, parse_file

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "author_year", ROOT / "book" / "_ext" / "author_year.py"
)
author_year = importlib.util.module_from_spec(spec)
spec.loader.exec_module(author_year)


def entry(authors: list[str], year: str = "2016", **fields: str) -> Entry:
    return Entry(
        "article", fields={"year": year, **fields}, persons={"author": [Person(a) for a in authors]}
    )


def test_labels_follow_the_author_year_citations():
    assert author_year.author_year_label(entry(["Gal, Yarin"])) == "Gal 2016"
    two = entry(["Gal, Yarin", "Ghahramani, Zoubin"])
    assert author_year.author_year_label(two) == "Gal and Ghahramani 2016"
    many = entry(["Ahmed, Soyed Tuhin", "Danouchi, Kamal", "Tahoori, Mehdi"], "2023")
    assert author_year.author_year_label(many) == "Ahmed et al. 2023"
    braced = entry(["{van der} Maaten, Laurens"], "2008")
    assert author_year.author_year_label(braced) == "van der Maaten 2008"
    nobody = Entry("misc", fields={"year": "1998", "title": "Optical digits"})
    assert author_year.author_year_label(nobody) == "Optical 1998"


def test_equal_labels_get_letters_and_every_book_entry_gets_a_distinct_label():
    labels = author_year.AuthorYearLabels().format_labels(
        [entry(["Gal, Yarin"]), entry(["Gal, Yarin"]), entry(["Kendall, Alex"])]
    )
    assert list(labels) == ["Gal 2016a", "Gal 2016b", "Kendall 2016"]
    book = parse_file(ROOT / "book" / "references.bib")
    labels = list(author_year.AuthorYearLabels().format_labels(book.entries.values()))
    assert len(labels) == len(set(labels)) == len(book.entries)
    # pybtex prints LaTeX commands in fields as raw text: the book's entries use none
    assert not any("\\texttt" in str(e.fields) for e in book.entries.values())
