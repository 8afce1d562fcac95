"""Numbers the chapters' prose quotes from the committed study results.

The tables above the prose are checked by nbval; these sentences are typed by hand, so each one
here is recomputed from the same committed result files and must still read as the text says.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scaledrop_lib.routines.results import load_result
from scaledrop_lib.studies import sensitivity as s

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def prose(notebook: str) -> str:
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return " ".join(text.split())  # line breaks inside sentences do not matter


def _mean(values):
    return sum(values) / len(values)


@pytest.fixture(scope="module")
def sweep_rows():
    return {row["variant"]["name"]: row for row in load_result(s.SWEEP_RESULT)["rows"]}


def test_chapter_9_sweep_sentences(sweep_rows):
    text = prose("09_mechanism.ipynb")
    wide, base = sweep_rows["random U[0, 2]"], sweep_rows["base"]
    mi = wide["summary"]["mutual_information"]
    assert f"to {mi:.2f} nats" in text
    assert f"raises MI {round(mi / base['summary']['mutual_information'], -1):.0f}-fold" in text
    assert f"OOD AUROC falls by {-wide['summary']['ood_gain']:.2f}" in text
    assert f"best validation epoch {sweep_rows['30 epochs']['best_epoch']}" in text


def test_chapter_4_ood_sentences():
    methods = load_result(s.METHODS_RESULT)
    text = prose("04_shift_ood.ipynb")
    spatial = s.gains_over_deterministic(methods, "spatial_spin_dropout", "ood", 50)
    mean, sd = s._mean_sd(spatial)
    assert f"(${mean:+.2f} \\pm {sd:.2f}$)" in text
    clean = [
        a - b
        for a, b in zip(
            s.metric_over_seeds(methods, "scale_dropout", "eq24_clean_rate", 50),
            s.metric_over_seeds(methods, "deterministic", "reference_eq24_clean_rate", 50),
            strict=True,
        )
    ]
    mean, sd = s._mean_sd(clean)
    assert f"rejects {100 * mean:.1f} ± {100 * sd:.1f} points more clean digits" in text


def test_chapter_4_shift_sentences():
    shift = load_result(s.SHIFT_RESULT)
    text = prose("04_shift_ood.ipynb")
    largest = [1e3 * max(s.shift_record(r, 50)["rotation"]["mutual_information"])
               for r in shift["methods"]["scale_dropout"]]  # fmt: skip
    mean, sd = s._mean_sd([v / 1e3 for v in largest])
    assert f"largest MI is {mean:.3f} ± {sd:.3f} nats" in text


def test_chapter_3_calibration_sentence():
    methods = load_result(s.METHODS_RESULT)
    text = prose("03_mc_uncertainty.ipynb")
    ece = {
        m: _mean(s.metric_over_seeds(methods, m, "ece", 50))
        for m in ("scale_dropout", "deterministic")
    }
    nll = {
        m: _mean(s.metric_over_seeds(methods, m, "nll", 50))
        for m in ("scale_dropout", "deterministic")
    }
    assert f"ECE {ece['scale_dropout']:.3f} against {ece['deterministic']:.3f}" in text
    assert f"NLL {nll['scale_dropout']:.3f} against {nll['deterministic']:.3f}" in text
