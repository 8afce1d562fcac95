"""The status page (book/_ext/status_page.py) and the record tools/execute_notebooks.py keeps."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
EXTENSIONS = ROOT / "book" / "_ext"


def _load(name: str, path: Path):
    # the extensions import their sibling table_nodes, as jupyter-book lets them
    if str(EXTENSIONS) not in sys.path:
        sys.path.insert(0, str(EXTENSIONS))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


status_page = _load("status_page", ROOT / "book" / "_ext" / "status_page.py")
execute_notebooks = _load("execute_notebooks", ROOT / "tools" / "execute_notebooks.py")


def test_rows_prefer_this_build_then_the_stored_run_and_never_invent_a_time():
    live = {"notebooks/a": {"method": "cache", "runtime": 12.345, "succeeded": True}}
    stored = {
        "a": {"executed": "2026-01-01", "seconds": 99.0, "result": "ok"},
        "b": {"executed": "2026-01-02", "seconds": 7.25, "result": "failed"},
    }
    rows = status_page.status_rows(["notebooks/a", "notebooks/b", "notebooks/c"], live, stored)
    assert rows == [
        ("notebooks/a", "this build (cache)", "12.3", "ok"),
        ("notebooks/b", "make notebooks, 2026-01-02", "7.2", "failed"),
        ("notebooks/c", "no record", "-", "not executed"),
    ]


def test_the_committed_record_covers_every_chapter_and_says_each_ran():
    record = json.loads((ROOT / status_page.STATUS_FILE).read_text())
    chapters = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert set(record["notebooks"]) == chapters
    for name, run in record["notebooks"].items():
        assert run["result"] == "ok", name
        assert run["seconds"] > 0, name


def _notebook(path: Path, code: str) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path.write_text(nbformat.writes(nb))


def test_execute_records_time_and_result_and_keeps_a_failed_notebook_unwritten(tmp_path):
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    _notebook(good, "print(6 * 7)")
    _notebook(bad, "raise RuntimeError('broken on purpose')")
    before = bad.read_text()
    status = tmp_path / "status.json"
    code = execute_notebooks.main([str(good), str(bad), "--status", str(status), "--timeout", "60"])
    assert code == 1
    record = json.loads(status.read_text())
    assert record["notebooks"]["good"]["result"] == "ok"
    assert record["notebooks"]["good"]["seconds"] >= 0
    assert record["notebooks"]["bad"]["result"] == "failed"
    assert "broken on purpose" in record["notebooks"]["bad"]["error"]
    assert "42" in nbformat.read(good, as_version=4).cells[0].outputs[0]["text"]
    assert bad.read_text() == before  # not written


def test_make_notebooks_goes_through_the_tool():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nnotebooks:", 1)[1].split("\n\n", 1)[0]
    assert "tools/execute_notebooks.py" in recipe


student_sources = _load("student_sources", ROOT / "book" / "_ext" / "student_sources.py")


def test_the_downloadable_notebooks_lose_their_solution_cells_and_keep_the_rest(tmp_path):
    sources = tmp_path / "_sources" / "notebooks"
    sources.mkdir(parents=True)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        (sources / path.name).write_text(path.read_text())
    assert student_sources.strip_sources(tmp_path) >= 10  # every chapter has solutions
    for path in sorted(sources.glob("*.ipynb")):
        stripped = json.loads(path.read_text())
        original = json.loads((ROOT / "notebooks" / path.name).read_text())
        text = "\n".join("".join(c["source"]) for c in stripped["cells"])
        assert "{solution}" not in text, path.name
        assert "{exercise}" in text, path.name  # the exercises stay
        kept_code = [c["source"] for c in stripped["cells"] if c["cell_type"] == "code"]
        assert kept_code == [c["source"] for c in original["cells"] if c["cell_type"] == "code"]


def test_a_rewritten_notebook_keeps_its_file_mode(tmp_path):
    path = tmp_path / "n.ipynb"
    _notebook(path, "x = 1")
    path.chmod(0o644)
    assert execute_notebooks.main([str(path), "--status", str(tmp_path / "s.json")]) == 0
    assert path.stat().st_mode & 0o777 == 0o644
