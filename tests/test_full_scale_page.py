"""The book's "Full-scale results" page (scaledrop_lib/experiments/full_scale.py and
book/_ext/full_scale_page.py): the paper's numbers beside ours, "not run yet" with a command the
CLI accepts, our numbers taken from real result files, clear errors for broken ones."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest
from test_cli import run, workspace  # noqa: F401  (the module-wide tiny training is a fixture)

from scaledrop_lib.experiments.cli import build_parser
from scaledrop_lib.experiments.full_scale import (
    NOT_IN_SCALEDROP,
    NOT_RUN,
    RESULTS_FOLDER,
    SECTIONS,
    ResultFileError,
    build_page,
    build_section,
    read_result_file,
    read_results,
)
from scaledrop_lib.experiments.settings import load_settings
from scaledrop_lib.paper import PAPER_TABLE_V, PAPER_TABLE_VI

ROOT = Path(__file__).resolve().parents[1]
EXTENSIONS = ROOT / "book" / "_ext"


def _load_extension():
    # the extensions import their sibling table_nodes, as jupyter-book lets them
    if str(EXTENSIONS) not in sys.path:
        sys.path.insert(0, str(EXTENSIONS))
    path = ROOT / "book" / "_ext" / "full_scale_page.py"
    spec = importlib.util.spec_from_file_location("full_scale_page", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parsed(command):
    """The command through the CLI's own parser and settings checks; its flags."""
    words = shlex.split(command.text)
    assert words[0] == "scaledrop"
    args = build_parser().parse_args(words[1:])
    flags = {k: v for k, v in vars(args).items() if k not in ("experiment", "config")}
    load_settings(args.experiment, flags)
    return args


def _ours(section):
    """(label, value cells) of every "ours" line."""
    columns = list(section.table.columns)
    at = columns.index("Source")
    return [(row[at + 1], row[at + 2 :]) for row in section.table.rows if row[at] == "ours"]


def _line(section, label_start):
    (found,) = [cells for label, cells in _ours(section) if label.startswith(label_start)]
    return found


def _cell(row, scale=100.0, digits=2, seeds=2):
    """What the page shows for a summary row: mean ± sd in %, and its own n where some seeds
    gave no value (e.g. a metric undefined for one seed's predictions)."""
    if row["mean"] is None:
        return "n/a"
    text = f"{row['mean'] * scale:.{digits}f}"
    text += f" ± {row['sd'] * scale:.{digits}f}" if row["sd"] is not None else ""
    return text + (f" (n = {row['n']})" if row["n"] != seeds else "")


def test_without_result_files_every_row_is_not_run_yet_with_a_command_the_cli_takes(tmp_path):
    sections = build_page(tmp_path / "nothing")
    assert [s.key for s in sections] == list(SECTIONS)
    for section in sections:
        assert not section.sources
        lines = _ours(section)
        assert lines
        for label, cells in lines:
            # no number of ours anywhere: each value is not run yet, not in scaledrop, blank,
            # or (Table III's baseline) another section's
            assert set(cells) <= {NOT_RUN, NOT_IN_SCALEDROP, "", "see Table VI"}, label
        wanted = [(label, cells) for label, cells in lines if NOT_RUN in cells]
        assert wanted and section.commands
        commanded = set()
        for command in section.commands:
            args = _parsed(command)
            assert args.experiment == command.experiment
            assert "--out" in command.text and command.copy_to.startswith(str(RESULTS_FOLDER))
            assert command.copy == (
                f"cp runs/full/results/{command.experiment}.json {command.copy_to}"
            )
            segment = args.experiment == "segment"
            models = [args.seg_model] if segment else args.models
            methods = args.seg_methods if segment else args.methods
            assert args.seeds == [0, 1, 2] and args.epochs == 300 and args.patience == 0
            commanded |= {(model, method) for model in models for method in methods}
        for label, _ in wanted:  # "MC-Scale-Dropout (resnet18)": a command runs it
            method, model = label.split(" (")[0], label.split(" (")[1].split(")")[0]
            assert (model, method) in commanded, (section.key, label)
        # nothing run yet: one command (one per dataset for Table IV), one file per command
        targets = [c.copy_to for c in section.commands]
        assert len(set(targets)) == len(targets)
        assert len(section.commands) == (3 if section.key == "table-iv" else 1)
    # the paper's numbers are paper.py's
    table_vi = next(s for s in sections if s.key == "table-vi")
    paper = {(row[0], row[2]): row[3] for row in table_vi.table.rows if row[1] == "paper"}
    for entry in PAPER_TABLE_VI:
        key = (entry.topology, f"{entry.method} ({entry.bits})")
        if key in paper:
            assert paper[key] == f"{entry.accuracy:.2f}"
    assert len(paper) == 11  # the rows with a counterpart in scaledrop
    table_v = next(s for s in sections if s.key == "table-v")
    (vgg,) = [r for r in table_v.table.rows if r[:3] == ("VGG", "paper", "SpinBayes [31]")]
    assert vgg[3:] == tuple(
        "-" if v is None else f"{v:.2f}" for v in PAPER_TABLE_V["VGG"]["SpinBayes [31]"].values()
    )


def test_the_committed_folder_builds(tmp_path):
    for section in build_page(ROOT / RESULTS_FOLDER, ROOT):
        assert section.table.rows
    assert (ROOT / RESULTS_FOLDER / "README.md").is_file()


def test_results_of_a_tiny_cli_run_show_on_the_page(workspace, tmp_path):  # noqa: F811
    folder = tmp_path / RESULTS_FOLDER
    folder.mkdir(parents=True)
    files = {}
    for experiment in ("accuracy", "ood", "variation", "segment"):
        result = run(workspace, experiment)
        name = "segment-skin.json" if experiment == "segment" else f"{experiment}.json"
        shutil.copy(result["files"]["json"], folder / name)
        files[experiment] = json.loads((folder / name).read_text())

    def summary(experiment, method, metric, condition=""):
        (row,) = [
            r
            for r in files[experiment]["summary"]
            if r["model"] == ("unet" if experiment == "segment" else "resnet20")
            and r["method"] == method
            and r["metric"] == metric
            and r["condition"].split(" ")[0] == condition
        ]
        return row

    # Table VI: ResNet-20's rows are ours now (two seeds), beside the paper's
    table_vi = build_section("table-vi", folder, tmp_path)
    for method in ("MC-Scale-Dropout", "deterministic", "ensemble"):
        assert _line(table_vi, f"{method} (resnet20), n = 2") == (
            _cell(summary("accuracy", method, "Acc")),
        )
    assert _line(table_vi, "Spatial-SpinDrop (resnet20)") == (NOT_RUN,)
    assert _line(table_vi, "MC-Scale-Dropout (vgg_small)") == (NOT_RUN,)
    (source,) = table_vi.sources
    meta = files["accuracy"]["metadata"]
    assert source.startswith(f"`{RESULTS_FOLDER}/accuracy.json`: ")
    assert meta["finished"] in source and "seeds 0 1" in source
    if meta["git"]:
        assert meta["git"]["commit"][:10] in source
    assert "not the paper's setting: epochs 1 (paper: 300)" in source and "width 0.25" in source
    # what is still missing gets commands that leave resnet20's measured rows alone
    produced = set()
    for command in table_vi.commands:
        args = _parsed(command)
        produced |= {(m, x) for m in args.models for x in args.methods}
        assert command.copy_to != f"{RESULTS_FOLDER}/accuracy.json"  # that one is committed
    assert ("resnet20", "Spatial-SpinDrop") in produced
    assert ("resnet20", "MC-Scale-Dropout") not in produced
    assert {("resnet18", "SpinDrop"), ("vgg_small", "MC-Scale-Dropout")} <= produced

    # Table V: Eq. 24's detection rate per OOD set
    table_v = build_section("table-v", folder, tmp_path)
    expected = tuple(
        _cell(summary("ood", "MC-Scale-Dropout", "Detection", key))
        for key in ("D1", "D2", "D3", "D4", "D5", "D6")
    )
    assert _line(table_v, "MC-Scale-Dropout (resnet20), n = 2") == expected

    # Table III: our ResNet-20 (not in the paper's table), its baseline from Table VI's file
    table_iii = build_section("table-iii", folder, tmp_path)
    line = _line(table_iii, "MC-Scale-Dropout (resnet20), trained without variation")
    assert line[0] == _cell(summary("accuracy", "MC-Scale-Dropout", "Acc"))
    columns = list(table_iii.table.columns)
    for level in ("0x", "2x"):
        index = columns.index(f"Var. {level}") - columns.index("Baseline")
        assert line[index] == _cell(summary("variation", "MC-Scale-Dropout", "Acc", level))

    # Table IV: U-Net on the (fake) skin lesion folder
    table_iv = build_section("table-iv", folder, tmp_path)
    metrics = ("pixel_accuracy", "iou", "auc", "f1", "sensitivity", "specificity", "precision")
    for method in ("MC-Dropout", "MC-Scale-Dropout"):
        line = _line(table_iv, f"{method} (unet), n = 2")
        assert line == tuple(_cell(summary("segment", method, m)) for m in metrics)
    assert all("skin" not in c.copy_to for c in table_iv.commands)

    # the book's directive renders the same section: numbers, commands, sources
    page = _load_extension()
    text = "\n".join(node.astext() for node in page.section_nodes(table_vi))
    assert _cell(summary("accuracy", "MC-Scale-Dropout", "Acc")).replace(
        " ± ", "\u00a0±\u00a0"
    ) in (text)
    assert NOT_RUN in text and "scaledrop accuracy --data-dir ~/data" in text
    assert f"{RESULTS_FOLDER}/accuracy.json" in text


def _summary_file(path, experiment="ood", **row):
    entry = {"model": "vgg_small", "method": "MC-Scale-Dropout", "condition": "D1 noise"}
    entry |= {"metric": "Detection", "mean": 0.5, "sd": None, "n": 1, **row}
    path.write_text(json.dumps({"metadata": {"experiment": experiment}, "summary": [entry]}))
    return path


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("ood.json", '{"metadata": {"experiment": "ood"}, "summary": [', "is not valid JSON"),
        ("ood.json", "[1, 2]", "holds no JSON object"),
        ("ood.json", '{"summary": []}', "has no 'metadata' object"),
        ("ood.json", '{"metadata": {"experiment": "ood"}}', "has no 'summary' list"),
        ("ood.json", '{"metadata": {"experiment": "rotation"}, "summary": []}', "'rotation'"),
        ("notes.json", "{}", "the name must be <experiment>[-<label>].json"),
        ("segment.json", "{}", "segment-skin.json"),
    ],
)
def test_a_malformed_result_file_is_an_error_naming_it(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(ResultFileError, match=re.escape(message)) as error:
        build_page(tmp_path, tmp_path.parent)
    assert f"{tmp_path.name}/{name}" in str(error.value)


def test_a_bad_summary_row_or_a_measurement_in_two_files_is_an_error(tmp_path):
    bad = _summary_file(tmp_path / "ood.json", mean="high")
    with pytest.raises(ResultFileError, match=r"ood\.json: summary\[0\] mean is 'high'"):
        read_result_file(bad)
    _summary_file(tmp_path / "ood.json")
    assert read_results(tmp_path).files[0].rows[0]["mean"] == 0.5
    _summary_file(tmp_path / "ood-again.json")
    with pytest.raises(ResultFileError, match=r"ood-again\.json and .*ood\.json both hold"):
        read_results(tmp_path)
    # figures and CSV files copied along are not results
    (tmp_path / "ood-again.json").unlink()
    (tmp_path / "ood-auroc.figure.json").write_text("{}")
    (tmp_path / "ood.csv").write_text("model\n")
    section = build_section("table-v", tmp_path)
    assert _line(section, "MC-Scale-Dropout (vgg_small), n = 1")[0] == "50.00"
