"""The ``scaledrop`` command end to end, on tiny fake datasets in the official file formats.

One module-wide workspace trains tiny ResNet-20s (width 0.25) once; every experiment then
loads them. Numbers are checked against independent computations (scikit-learn, numpy) of
the same predictions, never against stored values.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import shutil
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_datasets import write_fake_datasets, write_lesion_folder
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    jaccard_score,
    log_loss,
    roc_auc_score,
)

import scaledrop_lib.experiments.settings as settings_module
import scaledrop_lib.routines.train as train_module
from scaledrop_lib.data.files import load_cifar10, load_stl10, load_svhn
from scaledrop_lib.data.shift import ood_sets
from scaledrop_lib.experiments import cli
from scaledrop_lib.experiments.commands import COMMANDS
from scaledrop_lib.experiments.datasets import load_classification, load_segmentation
from scaledrop_lib.experiments.runs import (
    SEGMENTATION_CONFIGS,
    build_classifier,
    build_segmenter,
    method_config,
)
from scaledrop_lib.experiments.settings import EXPERIMENTS, SettingsError, load_settings
from scaledrop_lib.hardware.cim import EnergyCosts
from scaledrop_lib.inference.mc import deterministic_predict, mc_predict
from scaledrop_lib.layers.binary import BinaryConv2d, BinaryLinear
from scaledrop_lib.layers.sampling import seed_dropout
from scaledrop_lib.paper import PAPER_TABLE_VI
from scaledrop_lib.routines.checkpoints import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]

TINY = """
models = ["resnet20"]
width = 0.25
methods = ["deterministic", "MC-Scale-Dropout", "ensemble"]
ensemble_size = 2
epochs = 1
val_size = 10
batch_size = 8
seeds = [0, 1]
device = "cpu"
progress = false
T = 3
n_ood = 7
angles = [0, 90]
variation_levels = [0, 2]
chips = 2
Ts = [1, 3]
seg_size = 16
seg_width = 0.25
seg_split = [0.6, 0.2, 0.2]
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Fake CIFAR-10 / SVHN / STL-10 and a lesion folder, a tiny config, one `train` run."""
    root = tmp_path_factory.mktemp("scaledrop")
    write_fake_datasets(root / "data")
    write_lesion_folder(root / "data" / "isic", n=10, size=16)
    config = root / "tiny.toml"
    config.write_text(f'data_dir = "data"\nout = "run"\n{TINY}')
    trained = cli.run(["train", "--config", str(config)])
    return {"root": root, "config": config, "out": root / "run", "train": trained}


def run(workspace, experiment, *flags):
    return cli.run([experiment, "--config", str(workspace["config"]), *flags])


def records(result, **where):
    return [r for r in result["records"] if all(r[k] == v for k, v in where.items())]


def test_help_lists_every_experiment():
    script = Path(sys.executable).parent / "scaledrop"
    assert script.is_file(), "pip install -e . creates the console script"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    listed = [line.split()[0] for line in out.stdout.splitlines() if line.startswith("    ")]
    assert set(EXPERIMENTS) <= set(listed)
    assert set(COMMANDS) == set(EXPERIMENTS)  # one function per listed experiment
    assert list(EXPERIMENTS) == [
        "train",
        "evaluate",
        "ood",
        "rotation",
        "variation",
        "samples",
        "accuracy",
        "segment",
        "mechanism",
    ]


def test_train_writes_results_with_the_revision_and_learned_scales(workspace):
    result, out = workspace["train"], workspace["out"]
    for kind in ("json", "csv", "figure", "html"):
        assert Path(result["files"][kind]).is_file()
    saved = json.loads((out / "results" / "train.json").read_text())
    assert saved["summary"] == json.loads(json.dumps(result["summary"]))
    # the git revision is in the results, never in a checkpoint
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    if head:
        assert saved["metadata"]["git"]["commit"] == head
    checkpoints = sorted((out / "checkpoints" / "resnet20").glob("*.pt"))
    assert len(checkpoints) == 2 * (1 + 1 + 2)  # seeds x (deterministic, SD, 2 members)
    if head:
        assert all(head.encode() not in path.read_bytes() for path in checkpoints)
    # per layer, the learned scales' statistics, recomputed from the saved weights
    details = next(
        d for d in result["runs"] if d["method"] == "MC-Scale-Dropout" and d["seed"] == 1
    )
    model = build_classifier("resnet20", method_config("MC-Scale-Dropout", 0.2), 0.25)
    load_checkpoint(model, details["checkpoint"])
    alphas = {
        name: m.alpha.detach().double().numpy()
        for name, m in model.named_modules()
        if isinstance(m, (BinaryConv2d, BinaryLinear))
    }
    assert [s["layer"] for s in details["scales"]] == list(alphas)
    for stats in details["scales"]:
        alpha = alphas[stats["layer"]]
        assert stats["alpha_mean"] == pytest.approx(alpha.mean())
        assert stats["alpha_sd"] == pytest.approx(alpha.std(ddof=1))
        assert stats["alpha_minus_r"] == pytest.approx(np.abs(alpha - 1).mean())
    # mean and sample sd over the two seeds, and the CSV holds the same summary
    values = [r["val_Acc"] for r in records(result, method="deterministic")]
    row = next(
        r for r in result["summary"] if r["method"] == "deterministic" and r["metric"] == "val_Acc"
    )
    assert row["mean"] == pytest.approx(np.mean(values))
    assert row["sd"] == pytest.approx(np.std(values, ddof=1))
    with open(out / "results" / "train.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(result["summary"])
    assert float(rows[0]["mean"]) == pytest.approx(result["summary"][0]["mean"])


def _model(workspace, result, method, seed, member=0):
    entry = next(e for e in result["checkpoints"] if e["method"] == method and e["seed"] == seed)
    model = build_classifier("resnet20", method_config(method, 0.2), 0.25)
    load_checkpoint(model, entry["checkpoints"][member])
    return model.eval()


def _ece(probs, labels, bins=15):
    confidence, predicted = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (confidence > lo) & (confidence <= hi) if lo > 0 else (confidence <= hi)
        if inside.any():
            gap = abs((predicted[inside] == labels[inside]).mean() - confidence[inside].mean())
            total += inside.mean() * gap
    return total


def test_evaluate_metrics_match_scikit_learn(workspace):
    result = run(workspace, "evaluate")
    x, y = load_cifar10(workspace["root"] / "data", train=False).tensors
    for method in ("deterministic", "MC-Scale-Dropout", "ensemble"):
        model = _model(workspace, result, method, 0)
        if method == "MC-Scale-Dropout":
            seed_dropout(model, 0)
            probs = mc_predict(model, x, 3).mean(0)
        elif method == "ensemble":
            other = _model(workspace, result, method, 0, member=1)
            probs = (deterministic_predict(model, x) + deterministic_predict(other, x)) / 2
        else:
            probs = deterministic_predict(model, x)
        p, labels = probs.double().numpy(), y.numpy()
        (got,) = records(result, method=method, seed=0)
        assert got["Acc"] == pytest.approx(accuracy_score(labels, p.argmax(1)))
        normalised = p / p.sum(1, keepdims=True)  # float32 softmax sums are 1 to ~1e-7
        nll = log_loss(labels, normalised, labels=range(10))
        assert got["NLL"] == pytest.approx(nll, rel=1e-5)
        brier = ((p - np.eye(10)[labels]) ** 2).sum(1).mean()
        assert got["Brier"] == pytest.approx(brier, rel=1e-5)
        assert got["ECE"] == pytest.approx(_ece(p, labels), abs=1e-6)
        assert got["ms_per_image"] > 0
    # CIM: one Scale-Dropout module per binary layer, one RNG bit per module per pass
    model = _model(workspace, result, "MC-Scale-Dropout", 0)
    binary = sum(isinstance(m, (BinaryConv2d, BinaryLinear)) for m in model.modules())
    (sd,) = records(result, method="MC-Scale-Dropout", seed=1)
    assert sd["stochastic_units"] == binary
    assert sd["rng_energy_pj"] == pytest.approx(3 * binary * EnergyCosts().rng)
    (det,) = records(result, method="deterministic", seed=0)
    assert det["stochastic_units"] == 0 and det["rng_energy_pj"] == 0


def test_ood_metrics_match_scikit_learn(workspace):
    result = run(workspace, "ood")
    data = workspace["root"] / "data"
    x = load_cifar10(data, train=False).tensors[0]
    natural = {
        "D5": ("SVHN", load_svhn(data).tensors[0]),
        "D6": ("STL-10", load_stl10(data, size=32).tensors[0]),
    }
    sets = ood_sets(x, n=7, seed=0, natural=natural)
    assert set(result["sets"]) == {"D1", "D2", "D3", "D4", "D5", "D6"}
    model = _model(workspace, result, "MC-Scale-Dropout", 1)

    def entropy(images):
        seed_dropout(model, 1)
        mean = mc_predict(model, images, 3).mean(0).double()
        return -(mean * mean.clamp_min(1e-300).log()).sum(1).numpy()

    s_in = entropy(x)
    for key in ("D2", "D5", "D6"):
        s_out = entropy(sets[key].images)
        truth = np.r_[np.zeros(len(s_in)), np.ones(len(s_out))]
        scores = np.r_[s_in, s_out]
        (got,) = records(
            result, method="MC-Scale-Dropout", seed=1, condition=f"{key} {sets[key].name}"
        )
        assert got["AUROC"] == pytest.approx(roc_auc_score(truth, scores), abs=1e-6)
        assert got["AUPR"] == pytest.approx(average_precision_score(truth, scores), abs=1e-6)
        threshold = np.sort(s_out)[::-1][int(np.ceil(0.95 * len(s_out))) - 1]
        assert got["FPR95"] == pytest.approx((s_in >= threshold).mean())
        assert 0 <= got["Detection"] <= 1
    assert Path(result["files"]["figure-auroc"]).is_file()


def test_shift_and_table_experiments_agree_with_each_other(workspace, capsys):
    acc = run(workspace, "accuracy")
    rot = run(workspace, "rotation", "--amp")
    assert "--amp ignored on CPU" in capsys.readouterr().err
    assert rot["metadata"]["amp"] is False
    samples = run(workspace, "samples")
    variation = run(workspace, "variation")
    for seed in (0, 1):
        (mc,) = records(acc, method="MC-Scale-Dropout", seed=seed)
        # the same T = 3 passes with the same masks: a 0-degree rotation is the identity,
        # and T = 3 is the last of the samples' nested draws
        (upright,) = records(rot, method="MC-Scale-Dropout", seed=seed, condition="0 deg")
        (three,) = records(samples, method="MC-Scale-Dropout", seed=seed, condition="T=3")
        assert upright["Acc"] == mc["Acc"] == three["Acc"]
        assert len(records(variation, seed=seed)) == 2  # two levels, Scale-Dropout only
    assert {r["method"] for r in samples["records"]} == {"MC-Scale-Dropout"}
    assert {r["method"] for r in variation["records"]} == {"MC-Scale-Dropout"}
    assert all(0 <= r["Acc"] <= 1 and len(r["chips"]) == 2 for r in variation["records"])
    # Table VI's number for the paper's ResNet-20 beside ours
    paper = next(
        r.accuracy for r in PAPER_TABLE_VI if r.topology == "ResNet-20" and r.method == "Proposed"
    )
    (row,) = [
        r for r in acc["summary"] if r["method"] == "MC-Scale-Dropout" and r["metric"] == "Acc"
    ]
    assert row["reference"] == pytest.approx(paper / 100)
    for result in (acc, rot, samples, variation):
        for path in result["files"].values():
            assert Path(path).is_file()


def test_segment_metrics_match_scikit_learn(workspace):
    result = run(workspace, "segment")
    assert result["split"] == {"train": 6, "val": 2, "test": 2}
    assert {r["method"] for r in result["records"]} == set(SEGMENTATION_CONFIGS)
    entry = next(
        e for e in result["checkpoints"] if e["method"] == "deterministic" and e["seed"] == 1
    )
    model = build_segmenter("unet", SEGMENTATION_CONFIGS["deterministic"], 0.25)
    load_checkpoint(model, entry["checkpoints"][0])
    settings = load_settings("segment", {}, workspace["config"])
    test = load_segmentation(settings)["test"]
    images, masks = test.tensors
    with torch.no_grad():
        probs = torch.sigmoid(model.eval()(images))
    predicted = (probs >= 0.5).numpy().ravel()
    truth = masks.numpy().ravel().astype(bool)
    (got,) = records(result, method="deterministic", seed=1)
    assert got["iou"] == pytest.approx(jaccard_score(truth, predicted, zero_division=0))
    assert got["pixel_accuracy"] == pytest.approx(accuracy_score(truth, predicted))


def test_resume_after_an_interrupt_ends_where_an_uninterrupted_run_does(tmp_path, monkeypatch):
    write_fake_datasets(tmp_path / "data")
    flags = [
        "--data-dir", str(tmp_path / "data"), "--models", "resnet20", "--width", "0.25",
        "--methods", "MC-Scale-Dropout", "--epochs", "2", "--patience", "0", "--val-size",
        "10", "--batch-size", "8", "--device", "cpu", "--no-progress",
    ]  # fmt: skip
    cli.run(["train", *flags, "--out", str(tmp_path / "whole")])
    (whole,) = (tmp_path / "whole" / "checkpoints" / "resnet20").glob("*.pt")

    original = train_module.save_training_state

    def save_then_stop(path, state):
        original(path, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "save_training_state", save_then_stop)
    out = tmp_path / "cut"
    assert cli.main(["train", *flags, "--out", str(out)]) == 130
    monkeypatch.undo()
    folder = out / "checkpoints" / "resnet20"
    (state,) = folder.glob("*.training.pt")
    assert not [p for p in folder.glob("*.pt") if not p.name.endswith(".training.pt")]
    # a damaged training state is an error naming the file, not a silent restart
    good = state.read_bytes()
    state.write_bytes(good[: len(good) // 2])
    assert cli.main(["train", *flags, "--out", str(out)]) == 1
    state.write_bytes(good)
    epochs_run = []  # fit validates once per epoch: the resumed run trains epoch 2 only
    validate = train_module.evaluate
    monkeypatch.setattr(
        train_module, "evaluate", lambda *a, **k: epochs_run.append(1) or validate(*a, **k)
    )
    result = cli.run(["train", *flags, "--out", str(out)])
    assert len(epochs_run) == 1
    (resumed,) = folder.glob("*.pt")
    assert resumed.name == whole.name and not state.exists()
    assert result["runs"][0]["history"]["best_epoch"] in (0, 1)
    a, b = torch.load(whole, weights_only=True), torch.load(resumed, weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key


def test_ctrl_c_says_how_to_resume(tmp_path, monkeypatch, capsys):
    write_fake_datasets(tmp_path / "data")
    flags = [
        "train", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
        "--models", "resnet20", "--width", "0.25", "--methods", "deterministic",
        "--epochs", "1", "--val-size", "10", "--batch-size", "8", "--no-progress",
    ]  # fmt: skip

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "save_training_state", stop)
    assert cli.main(flags) == 130
    assert "run the same command again to resume" in capsys.readouterr().err


def test_corrupt_checkpoint_is_an_error_naming_the_file(workspace, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(workspace["out"] / "checkpoints", out / "checkpoints")
    victim = next((out / "checkpoints" / "resnet20").glob("deterministic_seed0_*.pt"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    victim.write_bytes(bytes(data))
    argv = ["evaluate", "--config", str(workspace["config"]), "--out", str(out)]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert str(victim) in err and "delete" in err


def test_missing_datasets_are_errors_naming_the_folder(workspace, tmp_path, capsys):
    assert cli.main(["train", "--data-dir", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "none") in err and "--download" in err
    (tmp_path / "empty").mkdir()
    assert cli.main(["evaluate", "--data-dir", str(tmp_path / "empty")]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "empty" / "cifar-10-batches-py") in err and "--download" in err
    # CIFAR-10 but no SVHN: ood stops before training anything
    (tmp_path / "partial").mkdir()
    shutil.copytree(
        workspace["root"] / "data" / "cifar-10-batches-py",
        tmp_path / "partial" / "cifar-10-batches-py",
    )
    argv = ["ood", "--data-dir", str(tmp_path / "partial"), "--out", str(tmp_path / "run")]
    assert cli.main(argv) == 2  # the 40 fake images are fewer than the default --val-size
    assert "--val-size" in capsys.readouterr().err
    argv += ["--val-size", "10"]
    assert cli.main(argv) == 1
    assert str(tmp_path / "partial" / "test_32x32.mat") in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert cli.main(["segment", "--seg-dir", str(tmp_path / "no-isic")]) == 1
    assert str(tmp_path / "no-isic") in capsys.readouterr().err
    assert cli.main(["evaluate"]) == 2
    assert "--data-dir is required" in capsys.readouterr().err


def test_download_goes_through_torchvision_only_when_asked(tmp_path, monkeypatch):
    import torchvision.datasets

    calls = []

    class FakeCIFAR10:
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            if not Path(root, "cifar-10-batches-py").exists():
                write_fake_datasets(Path(root))

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    settings = load_settings("train", {"data_dir": tmp_path / "data", "val_size": 10})
    with pytest.raises(FileNotFoundError):
        load_classification(settings)
    assert calls == []
    data = load_classification(settings.with_values(download=True))
    assert calls and all(download for _, _, download in calls)
    assert len(data.train) == 30 and len(data.test_images) == 12


def test_a_failed_download_is_one_clear_message(tmp_path, monkeypatch, capsys):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    argv = ["train", "--data-dir", str(tmp_path / "data"), "--download", "--no-progress"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"scaledrop train: error: downloading CIFAR-10 into {tmp_path / 'data'}")
    assert "Name or service not known" in err and "Traceback" not in err


def test_settings_come_from_defaults_then_the_file_then_the_flags(tmp_path, monkeypatch):
    config = tmp_path / "sub" / "c.toml"
    config.parent.mkdir()
    config.write_text('data-dir = "data"\nT = 5\nseeds = [0, 1, 2]\n[ood]\nT = 6\n')
    assert load_settings("evaluate", {}, config).T == 5
    assert load_settings("ood", {}, config).T == 6
    assert load_settings("ood", {"T": 7}, config).T == 7
    assert load_settings("ood", {}, config).seeds == [0, 1, 2]
    assert load_settings("ood", {}, config).data_dir == config.parent / "data"
    assert load_settings("ood", {}).T == 20  # the default
    json_config = tmp_path / "c.json"
    json_config.write_text('{"epochs": 3, "methods": ["MC-Scale-Dropout"]}')
    assert load_settings("train", {}, json_config).epochs == 3
    config.write_text("epoks = 3\n")
    with pytest.raises(SettingsError, match=r"unknown setting 'epoks' \(did you mean 'epochs'"):
        load_settings("train", {}, config)
    config.write_text('epochs = "ten"\n')
    with pytest.raises(SettingsError, match=f"{config}.*'epochs' must be an integer"):
        load_settings("train", {}, config)
    config.write_text('methods = ["MC-Scale-Droput"]\n')
    with pytest.raises(SettingsError, match="did you mean 'MC-Scale-Dropout'"):
        load_settings("train", {}, config)
    monkeypatch.setattr(settings_module, "tomllib", None)
    with pytest.raises(SettingsError, match=r"Python 3\.11.*JSON"):
        load_settings("train", {}, config)
    assert load_settings("train", {}, json_config).epochs == 3  # JSON still reads


def test_bad_flags_exit_with_status_2_naming_the_flag(capsys):
    assert cli.main(["evaluate", "--p", "1.5", "--data-dir", "x"]) == 2
    assert "--p must lie in [0, 1]" in capsys.readouterr().err
    assert cli.main(["segment", "--seg-size", "20", "--seg-dir", "x"]) == 2
    assert "--seg-size must be a multiple of 8" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # an experiment's own flags only
        cli.main(["train", "--angles", "0", "90"])


# ------------------------------------------------------------------ mechanism


def test_mechanism_rows_come_from_the_trained_scales(workspace):
    # VGG-small is a chain of stages: per-layer rows (ResNet-20: the whole-net row only)
    result = run(workspace, "mechanism", "--models", "vgg_small", "resnet20", "--seeds", "0")
    layers = records(result, model="vgg_small", method="MC-Scale-Dropout", seed=0)
    layers = [r for r in layers if r["condition"].startswith("layer")]
    assert [r["condition"] for r in layers] == [f"layer {i}" for i in range(1, 6)]
    entry = next(e for e in result["checkpoints"] if e["model"] == "vgg_small")
    model = build_classifier("vgg_small", method_config("MC-Scale-Dropout", 0.2), 0.25)
    load_checkpoint(model, entry["checkpoints"][0])
    scales = [m.alpha.detach() for m in model.modules() if isinstance(m, BinaryConv2d)]
    assert len(scales) == 5
    for row, alpha in zip(layers, scales, strict=True):
        # unitary Scale-Dropout puts r = 1 where it drops: mean |alpha - 1| from the weights
        assert row["alpha_minus_r"] == pytest.approx(float((alpha - 1).abs().mean()), rel=1e-5)
        assert 0 <= row["sign_flip_share"] <= 1 and 0 <= row["prediction_flip_share"] <= 1
    assert not records(result, model="resnet20", condition="layer 1")
    assert "resnet20" in result["notes"]
    whole = records(result, model="resnet20", condition="whole net")
    assert len(whole) == 1 and whole[0]["mutual_information"] >= 0


def test_mechanism_entropy_gain_is_what_the_samples_say(workspace):
    from scaledrop_lib.experiments.datasets import load_classification

    result = run(workspace, "mechanism", "--seeds", "1")
    (row,) = records(result, model="resnet20", seed=1, condition="whole net")
    model = _model(workspace, result, "MC-Scale-Dropout", 1)
    settings = load_settings("mechanism", {}, workspace["config"])
    x = load_classification(settings).test_images
    seed_dropout(model, 1)
    sampled = mc_predict(model, x, 3).mean(0)
    reference = deterministic_predict(model, x)
    entropy = lambda p: torch.special.entr(p).sum(-1)  # noqa: E731  (nats, 0 log 0 = 0)
    gain = float((entropy(sampled) - entropy(reference)).mean())
    assert row["entropy_gain"] == pytest.approx(gain, rel=1e-4, abs=1e-6)


def test_mechanism_needs_scale_dropout_among_the_methods(workspace, capsys):
    code = cli.main(
        ["mechanism", "--config", str(workspace["config"]), "--methods", "deterministic"]
    )
    assert code == 2 and "add it to --methods" in capsys.readouterr().err


def test_the_gpu_check_script_runs_on_the_cpu(tmp_path):
    # benchmarks/command_throughput.py is what a machine with a GPU runs (train + evaluate on
    # generated data in the real formats, CPU vs cuda fp32 vs cuda amp); here its CPU row
    script = ROOT / "benchmarks" / "command_throughput.py"
    flags = ["--images", "50", "--test", "20", "--T", "2", "--width", "0.25", "--batch-size", "16"]
    done = subprocess.run(
        [sys.executable, str(script), "--device", "cpu", *flags],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "SCALEDROP_PROGRESS": "0"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    header, row = done.stdout.splitlines()[-2:]
    assert header.split()[:3] == ["setting", "train", "img/s"]
    name, images_per_s, ms_per_image, acc, nll, d_acc, d_nll = row.split()
    assert name == "cpu" and float(images_per_s) > 0 and float(ms_per_image) > 0
    assert 0 <= float(acc) <= 1 and float(nll) > 0 and float(d_acc) == float(d_nll) == 0
