"""The sensitivity study: its variants build what they say, its command runs end to end on a
tiny configuration, and the visibility bar is two seed standard deviations."""

import json
import statistics
from dataclasses import fields

import pytest
import torch

from scaledrop_lib.layers.sampling import scale_dropout_layers
from scaledrop_lib.models.units import ScaledBinaryUnit
from scaledrop_lib.routines.results import load_result, read_results_manifest
from scaledrop_lib.routines.train import scale_vectors
from scaledrop_lib.studies import sensitivity
from scaledrop_lib.studies.mechanism import UncertaintySummary
from scaledrop_lib.studies.sensitivity import (
    VARIANTS,
    Variant,
    base_recipe_matches_zoo,
    build_variant,
    visibility_threshold,
)


def variant(name: str) -> Variant:
    return next(v for v in VARIANTS if v.name == name)


def test_variant_names_are_unique_and_departures_are_marked():
    names = [v.name for v in VARIANTS]
    assert len(names) == len(set(names))
    assert {v.name for v in VARIANTS if not v.paper_allows} == {"element masks", "last layer only"}
    assert base_recipe_matches_zoo()


def test_variants_build_the_model_they_describe():
    alphas = torch.cat(
        [a.detach() for a in scale_vectors(build_variant(variant("alpha ~ U[0.5, 1.5]")))]
    )
    assert 0.5 <= float(alphas.min()) < 0.6 and 1.4 < float(alphas.max()) <= 1.5
    shifts = torch.cat(
        [
            u.shift.detach()
            for u in build_variant(variant("beta ~ N(0, 0.5^2)")).modules()
            if isinstance(u, ScaledBinaryUnit)
        ]
    )
    assert 0.4 < float(shifts.std()) < 0.6
    layers = scale_dropout_layers(build_variant(variant("last layer only")))
    assert [layer.scale_dropout.p for _, layer in layers] == [0.0, 0.0, 0.0, 0.2]
    base = build_variant(variant("base"))
    assert all(float(a.detach().sub(1).abs().max()) == 0 for a in scale_vectors(base))
    wide = scale_dropout_layers(build_variant(variant("random U[0, 2]")))
    assert {layer.scale_dropout.random_range for _, layer in wide} == {(0.0, 2.0)}
    assert variant("30 epochs").patience is None and variant("base").patience == 6
    before = build_variant(variant("before BN"))
    assert {u.placement for u in before.modules() if isinstance(u, ScaledBinaryUnit)} == {
        "before_bn"
    }


def test_visibility_bar_is_two_sample_standard_deviations():
    seeds = [
        {"50": {"error_gain": g, "ood_gain": o}}
        for g, o in [(0.01, 0.1), (0.03, 0.0), (-0.01, 0.05)]
    ]
    bar = visibility_threshold({"methods": {"scale_dropout": seeds}})
    assert bar["error_gain"] == pytest.approx(2 * statistics.stdev([0.01, 0.03, -0.01]))
    assert bar["ood_gain"] == pytest.approx(2 * statistics.stdev([0.1, 0.0, 0.05]))


def test_tiny_command_writes_both_results_with_their_commands(tmp_path):
    written = sensitivity.main(["--tiny", "--out", str(tmp_path)])
    methods = load_result(sensitivity.METHODS_RESULT, tmp_path)
    sweep = load_result(sensitivity.SWEEP_RESULT, tmp_path)
    assert methods == json.loads(json.dumps(written[sensitivity.METHODS_RESULT]))
    assert set(methods["methods"]) == set(sensitivity.MNIST_EVALUATED)
    sd = methods["methods"]["scale_dropout"][0]
    assert set(sd) == {"20", "50"} and 0 <= sd["50"]["accuracy"] <= 1
    assert len(methods["mechanism"][0]["layers"]) == 4
    assert methods["methods"]["deterministic"][0]["1"]["mutual_information"] == 0.0
    assert [row["variant"]["name"] for row in sweep["rows"]] == ["base", "before BN"]
    manifest = read_results_manifest(tmp_path)
    assert manifest[sensitivity.SWEEP_RESULT]["command"].endswith("--part sweep")
    shift = load_result(sensitivity.SHIFT_RESULT, tmp_path)
    assert shift["angles"] == [0, 90] and set(shift["methods"]) == set(sensitivity.MNIST_EVALUATED)
    assert shift["Ts"] == [3, 5]
    det = sensitivity.shift_record(shift["methods"]["deterministic"][0], 5)["rotation"]
    sampled = shift["methods"]["scale_dropout"][0]
    assert set(sampled) == {"3", "5"} and set(shift["methods"]["ensemble"][0]) == {"5"}
    # independent: the deterministic net's accuracy on the 50 unrotated images
    from scaledrop_lib.data.mnist import load_mnist5k_splits
    from scaledrop_lib.routines.zoo import load_pretrained, mnist_recipe_name

    x, y = (t[:100] for t in load_mnist5k_splits().test.tensors)  # the tiny test set
    chosen = sensitivity.per_class_subset(y, 5)
    x, y = x[chosen], y[chosen]
    net = load_pretrained(mnist_recipe_name("deterministic", 0))[0]
    with torch.no_grad():
        expected = float((net(x).argmax(1) == y).float().mean())
    assert det["accuracy"][0] == pytest.approx(expected)
    assert det["mutual_information"] == [0.0, 0.0]
    assert len(sensitivity.shift_table(shift, "noise", T=3).rows) == len(
        sensitivity.MNIST_EVALUATED
    )
    with pytest.raises(ValueError, match="T must be one of"):
        sensitivity.shift_table(shift, "noise", T=20)
    per_T = sensitivity.shift_samples_table(shift, "rotation")
    assert [str(row[0]) for row in per_T.rows] == [
        str(sensitivity.METHOD_LABELS[m]) for m in sensitivity._SAMPLED
    ]
    from scaledrop_lib.viz import shift_curves_figure

    fig = shift_curves_figure(shift, "rotation", "accuracy", T=5)
    assert len(fig.data) == len(sensitivity.MNIST_EVALUATED)
    with pytest.raises(ValueError, match="kind"):
        shift_curves_figure(shift, "blur")
    variation = load_result(sensitivity.VARIATION_RESULT, tmp_path)
    assert len(variation["ideal"]) == 1 and len(variation["aware"][0]) == 2  # seeds, levels
    assert all(0 <= acc <= 1 for level in variation["ideal"][0] for acc in level)
    assert len(sensitivity.variation_table(variation).rows) == 2
    digits = load_result(sensitivity.DIGITS_RESULT, tmp_path)
    assert digits["workload"] == "8x8 digits" and set(digits["methods"]) == {
        "deterministic",
        "scale_dropout",
    }
    assert [set(r) for r in digits["methods"]["scale_dropout"]] == [{"5", "10"}] * 2
    assert "8x8 digits" in sensitivity.verdict_table(digits, T=10).title
    assert "8x8 digits" in sensitivity.methods_table(digits, T=10, part="calibration").title
    candidates = load_result(sensitivity.CANDIDATES_RESULT, tmp_path)
    base = candidates["candidates"]["base"]
    assert len(base) == 2 and base[0] == sweep["rows"][0]["summary"]  # seed 0 is the sweep's
    table = sensitivity.candidates_table(candidates, methods)
    assert [row[0] for row in table.rows] == ["base"]
    own = [seed["error_gain"] for seed in base]
    assert table.rows[0][2][0] == pytest.approx(sum(own) / 2)


def test_tiny_refuses_to_overwrite_the_package_results():
    with pytest.raises(SystemExit, match="give --out"):
        sensitivity.main(["--tiny"])


def fake_methods(sd_error_auroc, det_error_auroc=(0.90, 0.91, 0.92)):
    """A methods result with three seeds: only the fields the tables read."""

    def summary(**values):
        base = dict.fromkeys((f.name for f in fields(UncertaintySummary)), 0.5)
        return {**base, "samples": 50, **values}

    det = [{"1": summary(error_auroc_reference=a, error_auroc_entropy=a)} for a in det_error_auroc]
    sd = [
        {"50": summary(error_auroc_entropy=a, accuracy=0.95, reference_accuracy=0.94)}
        for a in sd_error_auroc
    ]
    return {"seeds": 3, "methods": {"deterministic": det, "scale_dropout": sd}}


def verdict_of(table, claim_start):
    row = next(r for r in table.rows if r[0].startswith(claim_start))
    return row[3]


def test_verdicts_follow_the_two_sd_rule():
    from scaledrop_lib.studies.sensitivity import gains_over_deterministic, verdict_table

    clear_win = fake_methods([0.95, 0.96, 0.97])  # +0.05 each seed
    assert gains_over_deterministic(clear_win, "scale_dropout") == pytest.approx([0.05] * 3)
    assert verdict_of(verdict_table(clear_win), "error detection") == "supported"
    clear_loss = fake_methods([0.85, 0.86, 0.87])
    assert verdict_of(verdict_table(clear_loss), "error detection") == "not supported"
    noisy = fake_methods([0.95, 0.86, 0.93])  # +0.05, -0.05, +0.01
    assert verdict_of(verdict_table(noisy), "error detection") == "mixed"
    # MC accuracy 0.95 vs its own pass 0.94 on every seed (sd 0): supported
    assert verdict_of(verdict_table(clear_win), "accuracy: MC inference") == "supported"


def test_accuracy_table_puts_the_papers_table_vi_beside_ours():
    from scaledrop_lib.paper import PAPER_TABLE_VI
    from scaledrop_lib.studies.sensitivity import accuracy_table

    table = accuracy_table(fake_methods([0.9] * 3), topology="ResNet-20")
    proposed = next(
        r for r in PAPER_TABLE_VI if r.topology == "ResNet-20" and r.method == "Proposed"
    )
    row = next(r for r in table.rows if r[0] == "MC-Scale-Dropout (MC)")
    assert row[3] == pytest.approx(proposed.accuracy / 100) and row[2][0] == pytest.approx(0.95)
    det_row = next(r for r in table.rows if r[0] == "deterministic")
    assert det_row[4] == "IR-Net [22]" and det_row[3] == pytest.approx(0.854)
    with pytest.raises(ValueError, match="topology"):
        accuracy_table(fake_methods([0.9] * 3), topology="LeNet")


def test_candidates_are_the_variants_whose_gain_clears_the_bar():
    from scaledrop_lib.studies.sensitivity import candidate_names

    rows = [
        {"variant": {"name": "a"}, "summary": {"error_gain": 0.02, "ood_gain": 0.0}},
        {"variant": {"name": "b"}, "summary": {"error_gain": 0.001, "ood_gain": float("nan")}},
        {"variant": {"name": "c"}, "summary": {"error_gain": -0.1, "ood_gain": 0.5}},
    ]
    bar = {"error_gain": 0.01, "ood_gain": 0.01}
    assert candidate_names({"rows": rows}, bar) == ["a", "c"]


def test_methods_table_parts_and_units():
    from scaledrop_lib.studies.sensitivity import METHODS_TABLE_PARTS, methods_table

    methods = fake_methods([0.95, 0.96, 0.97])
    for record in methods["methods"]["scale_dropout"]:
        record["50"]["mutual_information"] = 0.004
    tables = {part: methods_table(methods, part=part) for part in METHODS_TABLE_PARTS}
    assert tables["calibration"].columns[2:] == ("accuracy", "NLL", "ECE", "Brier")
    error = tables["error detection"]
    sd_row = next(r for r in error.rows if r[0] == "MC-Scale-Dropout")
    assert sd_row[1] == 50 and sd_row[2][0] == pytest.approx(4.0)  # MI in 10^-3 nats
    assert sd_row[-1][0] == pytest.approx(0.05)  # gain over the deterministic net
    assert "Eq. 24: clean flagged" in tables["OOD detection"].columns
    with pytest.raises(ValueError, match="part"):
        methods_table(methods, part="everything")


def test_variation_verdicts():
    from scaledrop_lib.studies.sensitivity import variation_verdict_table

    def result(ideal, aware):  # per seed: [0x, 1x, 3x] accuracies of one chip
        return {"levels": [0, 1, 3], "chips": 1, "T": 20, "seeds": 3,
                "ideal": [[[a] for a in seed] for seed in ideal],
                "aware": [[[a] for a in seed] for seed in aware]}  # fmt: skip

    flat = [[0.95, 0.95, 0.951], [0.94, 0.941, 0.94], [0.96, 0.96, 0.959]]
    helped = [[0.96, 0.97, 0.96], [0.95, 0.96, 0.95], [0.97, 0.98, 0.97]]
    table = variation_verdict_table(result(flat, helped))
    assert [row[3] for row in table.rows] == ["supported", "supported"]
    falling = [[0.95, 0.94, 0.90], [0.94, 0.93, 0.89], [0.96, 0.95, 0.91]]
    table = variation_verdict_table(result(falling, falling))
    assert [row[3] for row in table.rows] == ["not supported", "mixed"]
    assert table.rows[0][2][0] == pytest.approx(-0.05)


def test_sweep_table_keeps_the_factors_asked_for():
    from scaledrop_lib.studies.sensitivity import sweep_table

    def row(name, factor):
        return {
            "variant": {"name": name, "factor": factor, "paper_allows": True},
            "summary": {"accuracy": 0.9, "mutual_information": 0.0, "error_gain": 0.0,
                        "ood_gain": 0.0},
            "scales": [{"mean_abs_alpha_minus_1": 0.1}],
            "layers": [{"prediction_flip_share": 0.01}],
        }  # fmt: skip

    sweep = {"T": 50, "rows": [row("base", "recipe"), row("before BN", "placement"),
                               row("p = 0.5", "p")]}  # fmt: skip
    bar = {"error_gain": 0.01, "ood_gain": 0.01}
    assert len(sweep_table(sweep, bar).rows) == 3
    kept = sweep_table(sweep, bar, factors=("recipe", "placement"))
    assert [r[0] for r in kept.rows] == ["base", "before BN"]
    with pytest.raises(ValueError, match="factors"):
        sweep_table(sweep, bar, factors=("colour",))


def test_committed_results_agree_with_each_other():
    """The sweep's base run is the zoo's seed-0 MC-Scale-Dropout model (same recipe, seed and
    loaders), so the two committed files must report the same numbers for it; and every
    candidate's seed-0 entry is its sweep row."""
    methods = load_result(sensitivity.METHODS_RESULT)
    sweep = load_result(sensitivity.SWEEP_RESULT)
    candidates = load_result(sensitivity.CANDIDATES_RESULT)
    base = next(row for row in sweep["rows"] if row["variant"]["name"] == "base")
    assert base["summary"] == methods["methods"]["scale_dropout"][0][str(sweep["T"])]
    assert base["layers"] == methods["mechanism"][0]["layers"]
    rows = {row["variant"]["name"]: row for row in sweep["rows"]}
    # the committed sweep describes today's VARIANTS, every field of them
    assert [row["variant"] for row in sweep["rows"]] == [
        json.loads(json.dumps(v.to_dict())) for v in VARIANTS
    ]
    bar = visibility_threshold(methods)
    assert sorted(candidates["candidates"]) == sorted(sensitivity.candidate_names(sweep, bar))
    for name, seeds in candidates["candidates"].items():
        assert seeds[0] == rows[name]["summary"] and len(seeds) == methods["seeds"]


def test_per_class_subset_takes_the_first_of_every_class():
    from scaledrop_lib.studies.sensitivity import per_class_subset

    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])  # sorted by class, as the test split
    assert per_class_subset(labels, 2).tolist() == [0, 1, 3, 4, 6, 7]
    shuffled = torch.tensor([2, 0, 1, 0, 2, 1])
    assert per_class_subset(shuffled, 1).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="class 0 has 3 inputs, fewer than 4"):
        per_class_subset(labels, 4)


def test_committed_digits_results_are_what_the_zoo_models_give():
    """Recompute the deterministic nets' accuracy and Eq. 24 clean rejection on the 8x8 test
    split with plain torch, independently of the study's evaluation code."""
    from scaledrop_lib.data.digits import load_digits_splits
    from scaledrop_lib.routines.zoo import load_pretrained

    digits = load_result(sensitivity.DIGITS_RESULT)
    x, y = load_digits_splits().test.tensors
    for k, record in enumerate(digits["methods"]["deterministic"]):
        net = load_pretrained(sensitivity.DIGITS_MODELS["deterministic"].format(k))[0]
        with torch.no_grad():
            expected = float((net(x).argmax(1) == y).float().mean())
        assert record["1"]["accuracy"] == pytest.approx(expected)
    assert len(digits["methods"]["scale_dropout"]) == digits["seeds"] == sensitivity.DIGITS_SEEDS
    assert all(set(r) == {"20", "50"} for r in digits["methods"]["scale_dropout"])
