"""The committed checkpoints: intact, loadable, and what their metadata says they are."""

import json

import pytest

from scaledrop_lib.data.digits import load_digits_splits
from scaledrop_lib.routines.checkpoints import file_sha256
from scaledrop_lib.routines.train import evaluate
from scaledrop_lib.routines.zoo import (
    MANIFEST,
    RECIPES,
    checkpoint_path,
    load_pretrained,
    read_manifest,
)


def test_every_recipe_has_a_checkpoint_with_the_manifest_checksum():
    manifest = read_manifest()
    assert sorted(manifest) == sorted(RECIPES)
    for name, entry in manifest.items():
        assert file_sha256(checkpoint_path(name)) == entry["sha256"], name


@pytest.mark.parametrize("name", ["cnn_scale_dropout", "cnn_mc_dropout_float", "cnn_ensemble_0"])
def test_loaded_model_reproduces_its_recorded_test_accuracy(name):
    model, metadata = load_pretrained(name)
    test_loader = load_digits_splits(seed=0).loaders(batch_size=256)[2]
    _, acc = evaluate(model, test_loader)
    assert acc == pytest.approx(metadata["test_accuracy"], abs=1e-9)
    assert acc > 0.9
    assert metadata["config"] == json.loads(json.dumps(metadata["config"]))  # plain data


def test_load_refuses_a_modified_file(tmp_path, monkeypatch):
    import scaledrop_lib.routines.zoo as zoo

    name = "cnn_deterministic"
    copy = tmp_path / f"{name}.pt"
    data = bytearray(checkpoint_path(name).read_bytes())
    data[-10] ^= 0xFF
    copy.write_bytes(bytes(data))
    monkeypatch.setattr(zoo, "CHECKPOINT_DIR", tmp_path)
    monkeypatch.setattr(zoo, "checkpoint_path", lambda n: tmp_path / f"{n}.pt")
    with pytest.raises(ValueError, match="sha256"):
        zoo.load_pretrained(name)


def test_unknown_and_missing_names_are_clear(monkeypatch, tmp_path):
    import scaledrop_lib.routines.zoo as zoo

    with pytest.raises(ValueError, match="unknown pretrained model 'resnet'"):
        load_pretrained("resnet")
    monkeypatch.setattr(zoo, "checkpoint_path", lambda n: tmp_path / f"{n}.pt")
    with pytest.raises(
        FileNotFoundError, match="python -m scaledrop_lib.routines.rebuild_zoo cnn_float"
    ):
        zoo.load_pretrained("cnn_float")


def test_manifest_is_plain_json():
    assert json.loads(MANIFEST.read_text())


def test_rebuild_command_runs_and_refuses_unknown_names_before_training():
    import subprocess
    import sys

    from scaledrop_lib.routines.zoo import REBUILD_COMMAND, read_manifest

    assert all(entry["command"].startswith(REBUILD_COMMAND) for entry in read_manifest().values())
    command = [sys.executable, "-W", "error::RuntimeWarning", *REBUILD_COMMAND.split()[1:]]
    shown = subprocess.run([*command, "--help"], capture_output=True, text=True, check=True)
    assert "Retrain the book's pretrained checkpoints" in shown.stdout
    refused = subprocess.run([*command, "no_such_model"], capture_output=True, text=True)
    assert refused.returncode != 0 and "unknown pretrained model 'no_such_model'" in refused.stderr


def test_every_mnist_method_has_three_seeds_and_reproduces_its_accuracy():
    from scaledrop_lib.data.mnist import load_mnist5k_splits
    from scaledrop_lib.routines.zoo import (
        MNIST_METHODS,
        MNIST_SEEDS,
        load_mnist_ensemble,
        mnist_recipe_name,
        recipes_of_task,
    )

    names = recipes_of_task("mnist")
    # every method, 4 more ensemble members and the variation-aware net (Table III), per seed
    assert len(names) == MNIST_SEEDS * (len(MNIST_METHODS) + 4 + 1) and MNIST_SEEDS >= 3
    model, metadata = load_pretrained(mnist_recipe_name("scale_dropout", 0))
    test_loader = load_mnist5k_splits().loaders(batch_size=500)[2]
    assert evaluate(model, test_loader)[1] == pytest.approx(metadata["test_accuracy"], abs=1e-9)
    assert metadata["test_accuracy"] > 0.9
    members = load_mnist_ensemble(1)
    assert len(members) == 5
    seeds = {
        load_pretrained(mnist_recipe_name("ensemble", 1, m))[1]["recipe"]["seed"] for m in range(5)
    }
    assert len(seeds) == 5
    with pytest.raises(ValueError, match="seed_index"):
        load_mnist_ensemble(MNIST_SEEDS)


def test_a_manifest_entry_without_sha256_is_a_clear_error(monkeypatch):
    import scaledrop_lib.routines.zoo as zoo

    name = next(iter(zoo.read_manifest()))
    broken = {name: {"command": "x"}}
    monkeypatch.setattr(zoo, "read_manifest", lambda: broken)
    with pytest.raises(ValueError, match=f"no sha256 for '{name}'"):
        zoo.load_pretrained(name)
