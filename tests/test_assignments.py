"""The course assignments (assignments/, graded with nbgrader), checked the way a course uses them.

Static checks read every source notebook: it names its chapter, learning goals, time and
points, and its off-limits list is the one its setup cell enforces. The rest runs nbgrader
itself, as a subprocess of this interpreter, in one real course directory built in a
temporary folder (a copy of ``nbgrader_config.py``, which makes its own folder the course
root, and of ``source/``):

1. ``nbgrader generate_assignment`` writes the student versions to ``release/``; they hold no
   solution, hidden test or model answer, in any cell, output or metadata;
2. every release notebook executes to its end (``nbconvert --execute --allow-errors``) and
   every autograded test cell in it fails: the solutions are really gone;
3. the source notebooks, submitted as a student's work, get every autograded point from
   ``nbgrader autograde`` (read from the gradebook), with the written answers left for
   manual grading;
4. a submission with two known wrong answers, one caught only by the hidden tests, loses
   exactly those cells' points;
5. ``nbgrader generate_feedback`` writes an HTML feedback file per submission.

nbgrader runs once per step for all assignments together, to keep the module's time down.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "assignments"
ASSIGNMENTS = sorted(
    d.name for d in (COURSE / "source").iterdir() if (d / f"{d.name}.ipynb").is_file()
)
STUDENT = "student"
WRONG_STUDENT = "wrong_student"
#: The known wrong answers: grade_id of the solution cell -> its replacement, in
#: WRONG_ASSIGNMENT (cells no later part calls). The first fails a visible test (0 log 0
#: computed as nan); the second returns the right numbers by calling the library, so only
#: the hidden check_own fails.
WRONG_ASSIGNMENT = "a3_uncertainty_metrics"
WRONG_CELLS = {
    "entropies": (
        "def entropy(p):\n"
        "    return -(p * torch.log(p)).sum(dim=-1)\n\n\n"
        "def predictive_entropy(probs):\n"
        "    return entropy(probs.mean(dim=0))\n\n\n"
        "def expected_entropy(probs):\n"
        "    return entropy(probs).mean(dim=0)\n\n\n"
        "def mutual_information(probs):\n"
        "    return (predictive_entropy(probs) - expected_entropy(probs)).clamp_min(0.0)\n"
    ),
    "scores": (
        "def negative_log_likelihood(probs_mean, labels):\n"
        "    picked = probs_mean[torch.arange(len(labels)), labels].clamp_min(1e-12)\n"
        "    return float(-torch.log(picked).mean())\n\n\n"
        "def brier_score(probs_mean, labels):\n"
        '    name = "scaledrop_lib.metrics.classification.brier_score"\n'
        "    return library_reference(name)(probs_mean, labels)\n"
    ),
}
#: The test cells the wrong answers must fail, and the message each failure must carry.
WRONG_GRADES = {"entropies_tests": "0 log 0", "scores_tests": "uses scaledrop_lib"}


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def nbgrader_meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def source(cell: dict) -> str:
    text = cell["source"]
    return text if isinstance(text, str) else "".join(text)


def is_autograded_test(cell: dict) -> bool:
    meta = nbgrader_meta(cell)
    return cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution")


def is_written_answer(cell: dict) -> bool:
    meta = nbgrader_meta(cell)
    return cell["cell_type"] == "markdown" and meta.get("grade") and meta.get("solution")


def source_notebook(name: str) -> dict:
    return read(COURSE / "source" / name / f"{name}.ipynb")


# ----------------------------------------------------------------------------- static checks


def test_at_least_six_assignments():
    assert len(ASSIGNMENTS) >= 6, ASSIGNMENTS
    assert (COURSE / "nbgrader_config.py").is_file()


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_header_states_chapter_goals_time_and_points(name):
    nb = source_notebook(name)
    header = nb["cells"][0]
    assert nbgrader_meta(header).get("grade_id") == "header" and nbgrader_meta(header)["locked"]
    text = source(header)
    chapters = re.findall(r"notebooks/(\d\d_\w+)\.ipynb", text)
    assert re.search(r"\*\*Chapters?:\*\*", text) and chapters, "no chapter named"
    for chapter in chapters:
        assert (ROOT / "notebooks" / f"{chapter}.ipynb").is_file(), chapter
    goals = re.search(r"\*\*Learning goals\.\*\*(.*?)\n\n\*\*", text, re.S)
    assert goals and len(re.findall(r"^\d\. ", goals.group(1), re.M)) >= 3, "learning goals"
    time = re.search(r"\*\*Time:\*\* about (\d+(?:\.\d+)?) hours", text)
    assert time and 2 <= float(time.group(1)) <= 4, "time estimate of 2-4 hours"

    graded = [c for c in nb["cells"] if nbgrader_meta(c).get("grade")]
    total = sum(nbgrader_meta(c)["points"] for c in graded)
    auto = sum(nbgrader_meta(c)["points"] for c in graded if is_autograded_test(c))
    stated = re.search(r"\*\*Points:\*\* (\d+) points in total: (\d+) points autograded", text)
    assert stated, "the header must state the total points"
    assert (int(stated.group(1)), int(stated.group(2))) == (total, auto)
    assert len(graded) >= 4 and total >= 20
    assert any(is_written_answer(c) for c in nb["cells"]), "a written, hand-graded answer"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_off_limits_list_and_cell_structure(name):
    nb = source_notebook(name)
    header, setup = source(nb["cells"][0]), nb["cells"][1]
    assert nbgrader_meta(setup).get("grade_id") == "setup" and nbgrader_meta(setup)["locked"]
    enforced = re.findall(r'"(scaledrop_lib\.[\w.]+)"', source(setup))
    listed = re.findall(r"^- `(scaledrop_lib\.[\w.]+)`", header, re.M)
    assert "off_limits(" in source(setup) and enforced, "the setup cell calls off_limits"
    assert listed == enforced, "the header lists exactly what the setup cell puts off limits"

    ids = [nbgrader_meta(c)["grade_id"] for c in nb["cells"] if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), "grade_ids must be unique"
    for cell in nb["cells"]:
        meta = nbgrader_meta(cell)
        if cell["cell_type"] == "code":
            assert not cell["outputs"] and cell["execution_count"] is None, "source has outputs"
        if meta:
            assert meta["schema_version"] == 3
        if cell["cell_type"] == "code" and meta.get("solution"):
            text = source(cell)
            assert "### BEGIN SOLUTION" in text and "### END SOLUTION" in text, meta["grade_id"]
        if is_autograded_test(cell):
            hidden = source(cell).split("### BEGIN HIDDEN TESTS")
            assert meta["locked"] and meta["points"] > 0, meta["grade_id"]
            assert any("check_own(" in part for part in hidden[1:]), meta["grade_id"]
    assert any("library_reference(" in source(c) for c in nb["cells"] if is_autograded_test(c))


# ----------------------------------------------------------------------------- the course


def run(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited with {done.returncode}\n"
            f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-6000:]}"
        )


def nbgrader(*args: str, course: Path, env: dict[str, str]) -> None:
    run([sys.executable, "-m", "nbgrader", *args], course, env)


def wrong_submission(nb: dict) -> dict:
    nb = json.loads(json.dumps(nb))
    replaced = set()
    for cell in nb["cells"]:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in WRONG_CELLS:
            cell["source"] = WRONG_CELLS[grade_id]
            replaced.add(grade_id)
    assert replaced == set(WRONG_CELLS), "the wrong answers' cells are missing"
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A course directory after generate_assignment, autograde, feedback and a run of every
    release notebook (executed copies in ``executed/``)."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(COURSE / "nbgrader_config.py", course)
    shutil.copytree(COURSE / "source", course / "source")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "SCALEDROP_PROGRESS": "0",
        # nbgrader creates its gradebook with the `alembic` script next to this interpreter
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        # no user-level Jupyter/nbgrader configuration: only the course's own
        "JUPYTER_CONFIG_DIR": str(course / ".jupyter"),
    }
    nbgrader("generate_assignment", "*", "--force", course=course, env=env)

    for name in ASSIGNMENTS:
        target = course / "submitted" / STUDENT / name
        target.mkdir(parents=True)
        shutil.copy(course / "source" / name / f"{name}.ipynb", target)
    wrong = course / "submitted" / WRONG_STUDENT / WRONG_ASSIGNMENT
    wrong.mkdir(parents=True)
    wrong_nb = wrong_submission(source_notebook(WRONG_ASSIGNMENT))
    (wrong / f"{WRONG_ASSIGNMENT}.ipynb").write_text(json.dumps(wrong_nb, indent=1))
    nbgrader("autograde", "*", "--force", course=course, env=env)
    nbgrader("generate_feedback", "*", "--force", course=course, env=env)

    releases = [str(course / "release" / n / f"{n}.ipynb") for n in ASSIGNMENTS]
    execute = ["--to", "notebook", "--execute", "--allow-errors"]
    timeout = ["--ExecutePreprocessor.timeout=300", "--output-dir", str(course / "executed")]
    run([sys.executable, "-m", "nbconvert", *execute, *timeout, *releases], course, env)
    return course


def secrets_of(nb: dict) -> set[str]:
    """Distinctive lines of the solutions, hidden tests and model answers of a source notebook:
    lines of 12 characters or more that appear nowhere else in it, not even inside a line."""
    secret, public = set(), set()
    for cell in nb["cells"]:
        hidden = is_written_answer(cell)
        for line in source(cell).splitlines():
            text = line.strip()
            if text in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS"):
                hidden = True
            elif text in ("### END SOLUTION", "### END HIDDEN TESTS"):
                hidden = is_written_answer(cell)
            elif text:
                (secret if hidden else public).add(text)
    everywhere_else = "\n".join(public)
    return {line for line in secret if len(line) >= 12 and line not in everywhere_else}


def strings_in(value) -> list[str]:
    """Every string anywhere in a JSON value (sources, outputs, metadata)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, v in value.items() for s in [key, *strings_in(v)]]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_holds_no_solution(course, name):
    release = read(course / "release" / name / f"{name}.ipynb")
    secrets = secrets_of(source_notebook(name))
    assert len(secrets) >= 10, "too few distinctive solution lines to check"
    texts = strings_in(release)
    leaked = sorted(line for line in secrets if any(line in text for text in texts))
    assert leaked == [], f"release of {name} leaks: {leaked[:5]}"
    for cell in release["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
        text = source(cell)
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        if nbgrader_meta(cell).get("solution"):
            assert "NotImplementedError" in text or text == "YOUR ANSWER HERE", text[:200]


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_runs_to_the_end_and_every_test_fails(course, name):
    executed = read(course / "executed" / f"{name}.ipynb")
    code = [c for c in executed["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] is not None for c in code), "not executed to the end"
    tests = [c for c in code if is_autograded_test(c)]
    assert len(tests) >= 4
    for cell in code:
        errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
        grade_id = nbgrader_meta(cell).get("grade_id")
        if is_autograded_test(cell):
            assert errors, f"{grade_id} passes without a solution"
        else:
            assert not errors, f"{grade_id} fails in the release: {errors[0]['ename']}"


def gradebook_grades(course: Path, name: str, student: str):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        submission = gb.find_submission(name, student)
        grades = {
            g.name: (g.auto_score, g.max_score, g.needs_manual_grade, g.cell_type)
            for nb in submission.notebooks
            for g in nb.grades
        }
        return grades, submission.max_score, submission.code_score, submission.max_code_score


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_solutions_get_full_marks(course, name):
    grades, max_score, code_score, max_code_score = gradebook_grades(course, name, STUDENT)
    nb = source_notebook(name)
    assert max_score == sum(nbgrader_meta(c).get("points", 0) for c in nb["cells"])
    for grade_id, (auto, maximum, manual, cell_type) in grades.items():
        if cell_type == "code":
            assert auto == maximum, f"{name}/{grade_id}: {auto} of {maximum}"
        else:  # the written answers wait for the instructor
            assert manual, f"{name}/{grade_id} should need manual grading"
    assert code_score == max_code_score > 0
    autograded = read(course / "autograded" / STUDENT / name / f"{name}.ipynb")
    errors = [o for c in autograded["cells"] for o in c.get("outputs", [])]
    assert not [o for o in errors if o["output_type"] == "error"], "a cell failed"


def test_wrong_answers_lose_exactly_their_points(course):
    grades, _, code_score, max_code_score = gradebook_grades(
        course, WRONG_ASSIGNMENT, WRONG_STUDENT
    )
    for grade_id, (auto, maximum, _, cell_type) in grades.items():
        if cell_type == "code":
            expected = 0 if grade_id in WRONG_GRADES else maximum
            assert auto == expected, f"{grade_id}: {auto} of {maximum}"
    lost = sum(grades[g][1] for g in WRONG_GRADES)
    assert code_score == max_code_score - lost < max_code_score
    nb = read(
        course / "autograded" / WRONG_STUDENT / WRONG_ASSIGNMENT / f"{WRONG_ASSIGNMENT}.ipynb"
    )
    for cell in nb["cells"]:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in WRONG_GRADES:
            errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
            assert errors and WRONG_GRADES[grade_id] in errors[0]["evalue"], grade_id


@pytest.mark.parametrize("student", [STUDENT, WRONG_STUDENT])
def test_feedback_is_generated(course, student):
    names = ASSIGNMENTS if student == STUDENT else [WRONG_ASSIGNMENT]
    for name in names:
        html = course / "feedback" / student / name / f"{name}.html"
        assert html.is_file(), html
        text = html.read_text()
        assert "<html" in text.lower() and "Score:" in text, name
