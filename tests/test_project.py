"""The promises the README makes to a new user, checked against the files that keep them."""

import importlib
from pathlib import Path

import scaledrop_lib

ROOT = Path(__file__).resolve().parents[1]


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    first_lines = (ROOT / "README.md").read_text().splitlines()[:6]
    commands = [line.split("#")[0].strip() for line in first_lines if line.startswith("make ")]
    assert commands == ["make book", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_version_is_exposed():
    assert scaledrop_lib.__version__.count(".") == 2


def _listed(docstring: str) -> set[str]:
    """Names in the first column of a docstring's "Modules" section."""
    section = docstring.split("Modules\n-------")[1].split("\n\n")[0]
    return {line.split()[0] for line in section.splitlines() if line and not line[0].isspace()}


def test_package_docstring_maps_every_public_module():
    listed = _listed(scaledrop_lib.__doc__)
    package = ROOT / "scaledrop_lib"
    modules = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")}
    modules |= {p.name for p in package.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert modules - listed == set(), "modules missing from scaledrop_lib's docstring"
    assert listed - modules == set(), "docstring names modules that do not exist"


def test_every_subpackage_docstring_maps_its_modules():
    for init in (ROOT / "scaledrop_lib").glob("*/__init__.py"):
        if init.parent.name == "models":
            continue  # models lists its constructors instead
        module = importlib.import_module(f"scaledrop_lib.{init.parent.name}")
        modules = {p.stem for p in init.parent.glob("*.py") if not p.stem.startswith("_")}
        assert _listed(module.__doc__) == modules, init


def test_every_notebook_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks, "no notebooks found"
    for stem in notebooks:
        assert f"notebooks/{stem}" in toc


def test_lock_file_pins_every_requirement_exactly():
    lines = [
        line
        for line in (ROOT / "requirements-lock.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines
    assert all("==" in line for line in lines), [x for x in lines if "==" not in x]
    names = {line.split("==")[0].lower() for line in lines}
    assert {"torch", "jupyter-book", "nbval", "plotly", "ipywidgets", "numpy"} <= names


def test_no_stored_output_carries_a_progress_bar_or_stderr():
    """Stored outputs are what the book shows: bars belong to live sessions only (the stored
    runs set SCALEDROP_PROGRESS=0), and stderr would show as red boxes in JupyterLab."""
    import json
    import re

    bar = re.compile(r"\d+%\|")
    found = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            for output in cell.get("outputs", []):
                if output.get("output_type") != "stream":
                    continue
                text = "".join(output["text"])
                if output["name"] == "stderr" or bar.search(text):
                    found.append(f"{path.name} cell {cell.get('id')}: {text[:60]!r}")
    assert found == []


def test_stored_runs_turn_progress_bars_off():
    from scaledrop_lib.progress import PROGRESS_ENV

    makefile = (ROOT / "Makefile").read_text()
    for command in (
        "jupyter-book build --warningiserror",
        "pytest $(NBVAL_OPTS)",
        "tools/execute_notebooks.py",
    ):
        line = next(line for line in makefile.splitlines() if command in line)
        assert f"{PROGRESS_ENV}=0" in line, command


def test_publishing_workflow_builds_with_the_make_targets_and_deploys_pages():
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    steps = workflow["jobs"]["build"]["steps"]
    commands = [step.get("run", "") for step in steps]
    assert "make book" in commands and "make test" in commands
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages"))
    assert upload["with"]["path"] == "_build/html"  # where `make book` writes
    deploy = workflow["jobs"]["deploy"]["steps"]
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in deploy)
    makefile = (ROOT / "Makefile").read_text()
    assert "--warningiserror" in makefile.split("\nbook:")[1].split("\n\n")[0]


def test_binder_installs_the_lock_file():
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    assert "-r ../requirements-lock.txt" in lines
    assert (
        (ROOT / "binder" / "requirements.txt").parent.joinpath("../requirements-lock.txt").is_file()
    )
    assert "-e ." in (ROOT / "binder" / "postBuild").read_text()
