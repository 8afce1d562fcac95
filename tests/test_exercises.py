"""The chapters' exercises (sphinx-exercise directives in their markdown) and their solutions.

Every chapter ends with an "## Exercises" section of at least five ``{exercise}`` directives,
labelled ``ch<N>-ex<k>`` after the notebook's number, each of one kind named at the start of its
title (Recall, Try this, Coding; a Coding exercise also carries ``:class: coding``), and each
with exactly one ``{solution}``. The public book leaves the solutions out (``hide_solutions``
in ``_config.yml``); ``make book-instructors`` builds the edition that shows them, and the
browser check of ``make book-check`` fails on any solution in a page of the public book.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MIN_EXERCISES = 5
KINDS = ("Recall", "Try this", "Coding")
NUMBERS = "zero one two three four five six seven eight nine ten".split()
#: a MyST directive fenced by backticks or colons: its name, argument, options and content
DIRECTIVE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{(?P<name>exercise|solution)\}[ \t]*(?P<argument>[^\n]*)\n"
    r"(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.S | re.M,
)
EXERCISES_HEADING = re.compile(r"^## Exercises\s*$", re.M)
#: the old form of a solution: an admonition folded into a drop-down
DROPDOWN = re.compile(r"\{dropdown\}|:class:[^\n]*\bdropdown\b|\{admonition\}\s*Solution")


def markdown_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def options(body: str) -> dict[str, str]:
    """The ``:name: value`` lines at the start of a directive's body."""
    found = {}
    for line in body.splitlines():
        match = re.fullmatch(r":([\w-]+):\s*(.*)", line.strip())
        if not match:
            break
        found[match.group(1)] = match.group(2).strip()
    return found


def directives(path: Path, name: str) -> list[dict]:
    out = []
    for text in markdown_cells(path):
        for match in DIRECTIVE.finditer(text):
            if match.group("name") == name:
                body = match.group("body")
                out.append({"argument": match.group("argument").strip(), **options(body)})
    return out


def exercises_section(path: Path) -> str:
    """The markdown from the "## Exercises" heading to the end of the notebook."""
    text = "\n".join(markdown_cells(path))
    headings = list(EXERCISES_HEADING.finditer(text))
    assert len(headings) == 1, f"{path.name}: expected one '## Exercises' heading"
    return text[headings[0].start() :]


def chapter_prefix(path: Path) -> str:
    return f"ch{int(path.name[:2])}-ex"


def test_there_are_chapter_notebooks():
    assert len(NOTEBOOKS) >= 10


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_chapter_ends_with_enough_exercises_with_its_own_labels(path):
    exercises = directives(path, "exercise")
    assert len(exercises) >= MIN_EXERCISES, f"{path.name}: {len(exercises)} exercises"
    labels = [e.get("label", "") for e in exercises]
    prefix = chapter_prefix(path)
    assert all(re.fullmatch(rf"{prefix}\d+", label) for label in labels), labels
    assert len(set(labels)) == len(labels), f"{path.name}: duplicate labels {labels}"
    # every exercise sits in the exercises section, which ends the chapter
    section = exercises_section(path)
    assert len([m for m in DIRECTIVE.finditer(section) if m["name"] == "exercise"]) == len(labels)
    after_heading = section.split("\n", 1)[1]
    assert not re.search(r"^## ", after_heading, re.M), f"{path.name}: a section after Exercises"
    count = re.match(r"## Exercises\s+(\w+) exercises", section)
    assert count and count.group(1).lower() == NUMBERS[len(labels)], "the count is stale"


def test_exercise_labels_are_unique_across_the_book():
    labels = [e.get("label") for path in NOTEBOOKS for e in directives(path, "exercise")]
    assert len(set(labels)) == len(labels)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_exactly_one_solution_in_its_chapter(path):
    labels = [e["label"] for e in directives(path, "exercise")]
    targets = [s["argument"] for s in directives(path, "solution")]
    assert sorted(targets) == sorted(labels), (
        f"{path.name}: solutions {sorted(targets)} for exercises {sorted(labels)}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_exercise_names_its_kind_and_each_chapter_has_a_coding_one(path):
    coding = 0
    for exercise in directives(path, "exercise"):
        kind = exercise["argument"].split(":", 1)[0]
        assert kind in KINDS, f"{path.name} {exercise['label']}: title {exercise['argument']!r}"
        classes = exercise.get("class", "").split()
        assert ("coding" in classes) == (kind == "Coding"), exercise
        coding += kind == "Coding"
    assert coding >= 1, f"{path.name} has no coding exercise"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_inline_dropdown_solution_is_left(path):
    found = DROPDOWN.findall(exercises_section(path))
    assert not found, f"{path.name}: {found}; solutions go into {{solution}} directives"


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def test_the_public_book_leaves_the_solutions_out():
    sphinx = _config()["sphinx"]
    assert "sphinx_exercise" in sphinx["extra_extensions"]
    assert sphinx["config"]["hide_solutions"] is True


def test_the_instructors_build_turns_the_solutions_on():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nbook-instructors:")[1].split("\n\n")[0]
    substitution = re.search(r"-e 's\|(\^[^|]*hide_solutions[^|]*)\|([^|]*)\|'", recipe)
    assert substitution, "book-instructors must rewrite hide_solutions in its copy of _config.yml"
    pattern, replacement = substitution.groups()
    config = (ROOT / "_config.yml").read_text()
    assert len(re.findall(pattern, config, re.M)) == 1, "the sed pattern misses _config.yml"
    flipped = yaml.safe_load(re.sub(pattern, replacement, config, flags=re.M))
    assert flipped["sphinx"]["config"]["hide_solutions"] is False
    assert "--path-output $(INSTRUCTORS)" in recipe and "execute_notebooks" in recipe


def test_the_instructors_page_lists_every_assignment_with_its_points():
    page = (ROOT / "book" / "instructors.md").read_text()
    assert "book/instructors" in (ROOT / "_toc.yml").read_text()
    assert "make book-instructors" in page
    sources = sorted((ROOT / "assignments" / "source").glob("*/*.ipynb"))
    for source in sources:
        name = source.parent.name
        rows = [line for line in page.splitlines() if line.startswith(f"| `{name}` |")]
        assert len(rows) == 1, f"{name} needs one row in the assignments table"
        header = "".join(json.loads(source.read_text())["cells"][0]["source"])
        points = re.search(r"\*\*Points:\*\*\s*(\d+) points in total", header)
        if points:
            assert f"| {points.group(1)} (" in rows[0], f"{name}: points differ from its header"
