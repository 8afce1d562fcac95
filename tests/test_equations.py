"""The paper's equations on the notation page, and every "Eq. N" in the chapters linked to them.

The notation page (book/notation.md) holds Eq. 1-24, each under a ``(eq-N)=`` label and tagged
with the paper's own number; a chapter's "Eq. N" must be a link to ``eq-N``, so a reader can
always click through to the equation. (The book build resolves the links under -W --nitpick.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTATION = ROOT / "book" / "notation.md"
PAPER_EQUATIONS = range(1, 25)
#: an equation block: its label line, then $$ ... $$ or \begin{equation*} ... \end{equation*}
BLOCK = re.compile(
    r"^\(eq-(\d+)\)=\n(?:\$\$\n(.*?)\n\$\$|\\begin\{equation\*\}\n(.*?)\n\\end\{equation\*\})$",
    re.S | re.M,
)
#: inline code, math and links, where an "Eq. N" is not prose
SKIP = re.compile(r"`[^`]*`|\$\$.*?\$\$|\$[^$\n]*\$|\[[^\]]*\]\([^)]*\)", re.S)


def equations() -> dict[int, str]:
    found = {}
    for match in BLOCK.finditer(NOTATION.read_text()):
        number = int(match.group(1))
        assert number not in found, f"Eq. {number} appears twice on the notation page"
        found[number] = match.group(2) or match.group(3)
    return found


def chapter_markdown() -> dict[str, str]:
    out = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        out[path.name] = "\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
        )
    return out


def test_the_notation_page_has_every_paper_equation_with_its_own_number():
    found = equations()
    assert sorted(found) == list(PAPER_EQUATIONS)
    for number, body in found.items():
        tags = re.findall(r"\\tag\{(\d+)\}", body)
        assert tags == [str(number)], f"Eq. {number} must carry \\tag{{{number}}}, has {tags}"
        # sphinx wraps a $$ block holding a line break in a split environment, where MathJax
        # refuses \tag: such equations must use \begin{equation*}
        if "\\\\" in body:
            assert "\\begin{equation*}" not in body  # the block regex took the inside
            block = re.search(rf"\(eq-{number}\)=\n(\S+)", NOTATION.read_text()).group(1)
            assert block == "\\begin{equation*}", f"Eq. {number} has a line break inside $$"


def test_every_eq_mention_in_the_chapters_links_to_its_equation():
    unlinked, wrong = [], []
    for name, text in chapter_markdown().items():
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                continue  # headings stay plain text (they also appear in the contents)
            for match in re.finditer(r"\[Eq\. (\d+)[^\]]*\]\(([^)]*)\)", line):
                if match.group(2) != f"eq-{match.group(1)}":
                    wrong.append(f"{name}: {match.group(0)}")
            prose = SKIP.sub("", line)
            unlinked += [f"{name}: ...{m.group(0)}..." for m in re.finditer(r"Eq\.\s?\d+", prose)]
    assert not unlinked, "Eq. mentions that are not links to the notation page:\n" + "\n".join(
        unlinked
    )
    assert not wrong, "Eq. links to the wrong label:\n" + "\n".join(wrong)


@pytest.mark.parametrize("number", [6, 14, 23])
def test_the_equations_the_book_reads_differently_say_so_below_them(number):
    text = NOTATION.read_text()
    after = text.split(f"(eq-{number})=", 1)[1].split("(eq-", 1)[0]
    assert "book" in after, f"Eq. {number}: the page must say how the book reads it"
