"""The glossary (book/glossary.md) is linked from the chapters: every term at least once."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def glossary_terms() -> list[str]:
    text = (ROOT / "book" / "glossary.md").read_text()
    body = text.split("```{glossary}", 1)[1].split("```", 1)[0]
    # a term is a line at the left margin; its definition is indented below it
    return [line.strip() for line in body.splitlines() if line and not line[0].isspace()]


def linked_terms() -> dict[str, set[str]]:
    linked: dict[str, set[str]] = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        for match in re.finditer(r"\{term\}`([^`]*)`", text):
            target = match.group(1)
            explicit = re.fullmatch(r".*<(.+)>", target, re.S)
            linked.setdefault(explicit.group(1) if explicit else target, set()).add(path.stem)
    return linked


def test_the_glossary_has_the_terms_the_chapters_need():
    terms = glossary_terms()
    assert len(terms) == len(set(terms))
    for needed in ("Brier score", "NLL", "Reliability diagram", "SOT / STT", "im2col"):
        assert needed in terms


def test_every_glossary_term_is_linked_from_a_chapter_and_every_link_has_a_term():
    terms, linked = set(glossary_terms()), linked_terms()
    assert terms - set(linked) == set(), "glossary terms no chapter links with {term}"
    assert set(linked) - terms == set(), "{term} links to terms the glossary lacks"
