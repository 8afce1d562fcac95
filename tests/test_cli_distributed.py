"""The ``scaledrop`` command under ``torchrun``: two CPU processes (gloo) against one process.

One module-wide workspace runs ``scaledrop evaluate`` (train, then evaluate) twice on tiny fake
CIFAR-10: in this process, and as ``torchrun --nproc_per_node 2``. Nothing here needs a GPU.

What is compared, and how closely:

* Training cannot be bit-identical: the two processes each take half of every batch (their
  BatchNorm normalises with the statistics of 4 images, not 8), DistributedSampler shuffles
  in another order than the one-process loader, and element-wise masks fall on other images.
  The epoch-mean training loss must agree within :data:`LOSS_TOLERANCE` nats (measured: 0.003
  to 0.07 on these 30 random images, whose loss is about ln 10 = 2.3).
* MC evaluation of one checkpoint with layer-wise Scale-Dropout is bit-identical
  (``torch.equal``): every process reseeds the dropout generators alike and the prefix engine
  draws each pass's masks before the first image, so the sharded passes use the same masks.
* MC segmentation (the naive loop) with Scale-Dropout is bit-identical too: each pass's
  scales are drawn once for all batches.
* MC-Dropout draws element-wise masks per batch of images, so the processes' masks differ
  from one process's: the predictive means must agree within :data:`Z_LIMIT` standard errors
  (a two-sample z-test over T passes, for every image and class).
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from fake_datasets import write_fake_datasets
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from scaledrop_lib.data.files import load_cifar10
from scaledrop_lib.experiments import cli
from scaledrop_lib.experiments.distributed import (
    all_gather,
    gather_cat,
    is_distributed,
    launch_from_env,
    process_group,
    shard,
)
from scaledrop_lib.experiments.measures import classification_metrics
from scaledrop_lib.experiments.runs import Run, build_classifier, method_config, predictor
from scaledrop_lib.routines.checkpoints import load_checkpoint
from scaledrop_lib.routines.train import fit
from scaledrop_lib.studies.cifar import TrainedModel

#: |training loss of 2 processes - of 1 process| per epoch, in nats (see the module docstring).
LOSS_TOLERANCE = 0.1
#: Largest |z| of a predictive mean allowed for MC-Dropout (two-sample z-test, T passes each;
#: 5 standard errors: a chance failure over these 640 (image, class) pairs has p < 1e-3).
Z_LIMIT = 5.0
#: Passes of the script below: few for Scale-Dropout (equality), many for the z-test.
PASSES = {"MC-Scale-Dropout": 8, "MC-Dropout": 100}

TINY = """
data_dir = "data"
models = ["resnet20"]
width = 0.25
methods = ["MC-Scale-Dropout", "MC-Dropout"]
epochs = 2
patience = 0
val_size = 10
batch_size = 8
seeds = [0]
device = "cpu"
progress = false
T = 3
eval_batch_size = 4
"""

#: Samples of trained checkpoints through runs.predictor: under torchrun (sharded) or, run
#: with runpy in this process, as one process. argv: out file, then method=checkpoint pairs.
PREDICT_SCRIPT = """
import sys
from pathlib import Path

import torch

from scaledrop_lib.experiments.distributed import is_main, process_group, world_size
from scaledrop_lib.experiments.runs import Run, build_classifier, method_config, predictor
from scaledrop_lib.routines.checkpoints import load_checkpoint
from scaledrop_lib.studies.cifar import TrainedModel

PASSES = {passes!r}
out, *pairs = sys.argv[1:]
# from dark to bright: the briefly trained nets tell these apart, unlike 64 noise images
levels = torch.linspace(-3, 3, 64)[:, None, None, None]
images = levels + torch.rand((64, 3, 32, 32), generator=torch.Generator().manual_seed(0))
samples = {{}}
with process_group("cpu"):
    for pair in pairs:
        method, path = pair.split("=", 1)
        config = method_config(method, 0.2)
        model = build_classifier("resnet20", config, 0.25)
        metadata = load_checkpoint(model, path)
        member = TrainedModel(model.eval(), Path(path), metadata, loaded=True)
        run = Run("resnet20", method, 0, [member], config)
        samples[method] = predictor(run, PASSES[method], 8, False, "cpu")(images)
    samples["processes"] = world_size()
    if is_main():
        torch.save(samples, out)
"""

#: MC segmentation (the naive loop) of a U-Net with random weights and scales, T = 6 passes,
#: batches of 4, for each run seed in argv[2:]: sharded under torchrun or in one process.
SEGMENT_SCRIPT = """
import sys
from pathlib import Path

import torch

from scaledrop_lib.experiments.distributed import is_main, process_group, world_size
from scaledrop_lib.experiments.runs import (
    SEGMENTATION_CONFIGS, Run, build_segmenter, segment_probabilities,
)
from scaledrop_lib.studies.cifar import TrainedModel

torch.manual_seed(0)
config = SEGMENTATION_CONFIGS["MC-Scale-Dropout"].with_options(p=0.3)
model = build_segmenter("unet", config, 0.5, 3).eval()
with torch.no_grad():  # scales away from 1, so that dropping one to 1 changes the output
    for name, parameter in model.named_parameters():
        if name.endswith("alpha"):
            parameter.uniform_(0.3, 3.0)
images = torch.rand((20, 3, 16, 16), generator=torch.Generator().manual_seed(1))
member = TrainedModel(model, Path("random"), {}, True)
saved = {"processes": 0}
with process_group("cpu"):
    for seed in map(int, sys.argv[2:]):
        run = Run("unet", "MC-Scale-Dropout", seed, [member], config)
        saved[seed] = segment_probabilities(run, images, 6, 4, False, "cpu")
    saved["processes"] = world_size()
    if is_main():
        torch.save(saved, sys.argv[1])
"""


def torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run --standalone --nproc_per_node 2 ARGS`` on the CPU."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(name, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    done = subprocess.run(
        [*command, "--nproc_per_node", "2", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """``scaledrop evaluate`` in one process (``one/``) and under torchrun (``two/``)."""
    root = tmp_path_factory.mktemp("distributed")
    write_fake_datasets(root / "data")
    config = root / "tiny.toml"
    config.write_text(TINY)
    one = cli.run(["evaluate", "--config", str(config), "--out", str(root / "one")])
    done = torchrun(
        "-m", "scaledrop_lib.experiments", "evaluate", "--config", str(config),
        "--out", str(root / "two"), cwd=root,
    )  # fmt: skip
    two = json.loads((root / "two" / "results" / "evaluate.json").read_text())
    return {"root": root, "one": one, "two": two, "stdout": done.stdout, "stderr": done.stderr}


def _checkpoint(result, method):
    (entry,) = [e for e in result["checkpoints"] if e["method"] == method]
    (path,) = entry["checkpoints"]
    return Path(path)


def _history(path):
    return torch.load(path, weights_only=True)["metadata"]["history"]


def test_two_processes_train_as_one_within_the_tolerance(workspace):
    one, two = workspace["one"], workspace["two"]
    assert two["metadata"]["processes"] == 2 and one["metadata"]["processes"] == 1
    # rank 0 alone printed the table and logged the training
    assert workspace["stdout"].count("Calibration on the CIFAR-10 test set") == 1
    assert workspace["stderr"].count("MC-Dropout (seed 0): training on 2 processes") == 1
    for method in ("MC-Scale-Dropout", "MC-Dropout"):
        a, b = _checkpoint(one, method), _checkpoint(two, method)
        assert a.name != b.name  # the number of processes is part of the model's key
        ha, hb = _history(a), _history(b)
        assert len(ha["train_loss"]) == len(hb["train_loss"]) == 2
        for la, lb in zip(ha["train_loss"], hb["train_loss"], strict=True):
            assert abs(la - lb) <= LOSS_TOLERANCE, (method, ha["train_loss"], hb["train_loss"])
        configs = [torch.load(p, weights_only=True)["metadata"]["config"] for p in (a, b)]
        assert "world_size" not in configs[0] and configs[1]["world_size"] == 2


def test_sharded_evaluation_equals_one_process(workspace):
    """The command's records under torchrun are those of the same checkpoint's samples
    computed here in one process (T = 3, the same seed, the same batches)."""
    two, root = workspace["two"], workspace["root"]
    x, y = load_cifar10(root / "data", train=False).tensors
    config = method_config("MC-Scale-Dropout", 0.2)
    model = build_classifier("resnet20", config, 0.25)
    path = _checkpoint(two, "MC-Scale-Dropout")
    member = TrainedModel(model.eval(), path, load_checkpoint(model, path), loaded=True)
    run = Run("resnet20", "MC-Scale-Dropout", 0, [member], config)
    assert not is_distributed()
    samples = predictor(run, 3, 4, False, "cpu")(x)
    (got,) = [r for r in two["records"] if r["method"] == "MC-Scale-Dropout"]
    for key, value in classification_metrics(samples.mean(dim=0), y).items():
        assert got[key] == value, key


def test_gathered_samples_equal_one_process_or_agree_in_distribution(workspace, monkeypatch):
    root, two = workspace["root"], workspace["two"]
    script = root / "predict.py"
    script.write_text(PREDICT_SCRIPT.format(passes=PASSES))
    pairs = [f"{m}={_checkpoint(two, m)}" for m in PASSES]
    torchrun(str(script), str(root / "two.pt"), *pairs, cwd=root)
    monkeypatch.setattr(sys, "argv", [str(script), str(root / "one.pt"), *pairs])
    runpy.run_path(str(script), run_name="__main__")
    sharded = torch.load(root / "two.pt", weights_only=True)
    single = torch.load(root / "one.pt", weights_only=True)
    assert sharded["processes"] == 2 and single["processes"] == 1
    # layer-wise Scale-Dropout: the same masks in every process, the same samples
    a, b = single["MC-Scale-Dropout"], sharded["MC-Scale-Dropout"]
    assert a.shape == b.shape == (8, 64, 10)
    assert torch.equal(a, b)
    # element-wise MC-Dropout: other masks per image, the same predictive distribution
    a, b = single["MC-Dropout"], sharded["MC-Dropout"]
    assert a.shape == b.shape == (100, 64, 10)
    assert not torch.equal(a, b)
    T = len(a)
    error = ((a.var(dim=0) + b.var(dim=0)) / T).sqrt()
    assert float(error.min()) > 0  # the passes vary: the test below has something to test
    z = (a.mean(dim=0) - b.mean(dim=0)) / error
    assert float(z.abs().max()) < Z_LIMIT
    # the same test tells other images apart: it would catch a gather in the wrong order
    swapped = torch.cat([b[:, 32:], b[:, :32]], dim=1)
    z_swapped = (a.mean(dim=0) - swapped.mean(dim=0)) / error
    assert float(z_swapped.abs().max()) > Z_LIMIT


def test_sharded_scale_dropout_segmentation_equals_one_process(tmp_path):
    # the naive loop draws each pass's scales once for all batches (one_draw_per_pass), so
    # the processes, each on its own batches, use one process's masks. Both runs use one
    # thread per process: a full-precision conv may round its last bit differently with
    # another thread count (measured: 1 ulp on 192 of 8,000 pixels with 2 threads).
    script = tmp_path / "segment.py"
    script.write_text(SEGMENT_SCRIPT)
    torchrun(str(script), str(tmp_path / "two.pt"), "0", cwd=tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "one.pt"), "0", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    sharded = torch.load(tmp_path / "two.pt", weights_only=True)
    single = torch.load(tmp_path / "one.pt", weights_only=True)
    assert sharded["processes"] == 2 and single["processes"] == 1
    assert single[0].shape == sharded[0].shape == (20, 1, 16, 16)
    assert torch.equal(single[0], sharded[0])
    # the masks matter: another run seed's passes give other probabilities
    assert not torch.allclose(single[1], single[0])


def test_shards_are_whole_batches_covering_every_input_once():
    for n, batch, ranks in [(12, 4, 2), (10, 4, 2), (64, 8, 3), (3, 4, 2), (0, 4, 2), (7, None, 3)]:
        parts = [shard(n, batch, ranks, r) for r in range(ranks)]
        assert [i for p in parts for i in range(n)[p]] == list(range(n))
        size = n if batch is None else batch
        assert all(p.start % size == 0 for p in parts if size and p.stop > p.start)
    with pytest.raises(ValueError, match="index must lie in"):
        shard(4, 2, 2, 2)
    assert shard(10, 3) == slice(0, 10)  # one process takes everything


def test_outside_torchrun_everything_is_one_process(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert launch_from_env() is None
    with process_group("cpu") as device:
        assert device == "cpu" and not dist.is_initialized()
    t = torch.arange(3)
    assert all_gather(t)[0] is not None and torch.equal(gather_cat(t), t)
    assert gather_cat(t[None], dim=1).shape == (1, 3)
    with pytest.raises(ValueError, match="LOCAL_RANK are not set"):
        launch_from_env({"RANK": "0", "WORLD_SIZE": "2"})
    with pytest.raises(ValueError, match="RANK must lie in"):
        launch_from_env({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    with pytest.raises(ValueError, match="WORLD_SIZE='two' must be an integer"):
        launch_from_env({"RANK": "0", "WORLD_SIZE": "two", "LOCAL_RANK": "0"})


def test_fit_in_a_one_process_group_equals_plain_fit(tmp_path):
    """``fit(distributed=True)`` with DDP over one process takes the very steps of ``fit``:
    the distributed path adds no error of its own (loss sums, buffers, decisions)."""

    def train(distributed):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(96, 4, generator=g)
        y = (x[:, 0] > 0).long()
        loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, generator=g)
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
        history = fit(
            model, loader, DataLoader(TensorDataset(x, y), 48), epochs=3, lr=0.05,
            progress=False, distributed=distributed,
        )  # fmt: skip
        return history, model.state_dict()

    with pytest.raises(ValueError, match="initialised torch.distributed process group"):
        train(True)
    plain = train(False)
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        grouped = train(True)
    finally:
        dist.destroy_process_group()
    assert grouped[0] == plain[0]
    for key, value in plain[1].items():
        assert torch.equal(grouped[1][key], value), key


#: Trains a small net on both ranks, each on its half of the data (DistributedSampler), with
#: fit(distributed=True) ("ddp") or fit alone ("local": no gradient averaging), and saves
#: each rank's final weights. argv: mode, output folder.
SYNC_SCRIPT = """
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from scaledrop_lib.experiments.distributed import process_group, rank
from scaledrop_lib.routines.train import fit

mode, out = sys.argv[1], Path(sys.argv[2])
with process_group("cpu"):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 4, generator=g)
    y = (x[:, 0] > 0).long()
    data = TensorDataset(x, y)
    loader = DataLoader(data, batch_size=8, sampler=DistributedSampler(data, seed=0))
    torch.manual_seed(1)  # the same initial weights on both ranks
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    fit(model, loader, DataLoader(data, 48), epochs=2, lr=0.05, progress=False,
        distributed=mode == "ddp")
    torch.save(model.state_dict(), out / f"{mode}-rank{rank()}.pt")
"""


def test_ranks_end_with_the_same_weights_only_when_gradients_are_averaged(tmp_path):
    # each rank sees other images: equal weights at the end are DDP's gradient averaging
    # (and rank 0's buffers and decisions), not a coincidence: without it they differ
    script = tmp_path / "sync.py"
    script.write_text(SYNC_SCRIPT)
    for mode in ("ddp", "local"):
        torchrun(str(script), mode, str(tmp_path), cwd=tmp_path)
    weights = {
        mode: [torch.load(tmp_path / f"{mode}-rank{r}.pt") for r in (0, 1)]
        for mode in ("ddp", "local")
    }
    first, second = weights["ddp"]
    for key, value in first.items():
        if key.endswith("num_batches_tracked"):
            continue
        assert torch.equal(second[key], value), key
    first, second = weights["local"]
    assert not torch.equal(first["0.weight"], second["0.weight"])


#: Validates a small net on both ranks with the sharded validation and with plain
#: ``evaluate`` (the one-process reference, also run on each rank), for loaders of 5 batches
#: (ranks get 3 and 2), 1 batch (rank 1 gets none) and segmentation; saves what each rank got.
VALIDATION_SCRIPT = """
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from scaledrop_lib.experiments.distributed import process_group, rank
from scaledrop_lib.routines.train import _evaluate_sharded, _task, evaluate

out = Path(sys.argv[1])
with process_group("cpu"):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(37, 4, generator=g)
    y = torch.randint(0, 3, (37,), generator=g)
    images = torch.randn(9, 1, 6, 6, generator=g)
    masks = (torch.rand(9, 1, 6, 6, generator=g) > 0.6).float()
    torch.manual_seed(1)
    classifier = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    segmenter = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 1))
    cases = {
        "five batches": (classifier, TensorDataset(x, y), 8, "classification"),
        "one batch": (classifier, TensorDataset(x, y), 64, "classification"),
        "segmentation": (segmenter, TensorDataset(images, masks), 4, "segmentation"),
    }
    found = {}
    for name, (model, data, batch_size, task) in cases.items():
        loader = DataLoader(data, batch_size)
        found[name] = {
            "sharded": _evaluate_sharded(model, loader, "cpu", _task(task)),
            "one process": evaluate(model, loader, "cpu", task),
        }
    torch.save(found, out / f"validation-rank{rank()}.pt")
"""


def test_sharded_validation_equals_one_process(tmp_path):
    script = tmp_path / "validation.py"
    script.write_text(VALIDATION_SCRIPT)
    torchrun(str(script), str(tmp_path), cwd=tmp_path)
    first, second = (torch.load(tmp_path / f"validation-rank{r}.pt") for r in (0, 1))
    assert first.keys() == {"five batches", "one batch", "segmentation"}
    for name, got in first.items():
        # every rank decides alike only if it gets the very same numbers
        assert got["sharded"] == second[name]["sharded"], name
        (loss, score), (one_loss, one_score) = got["sharded"], got["one process"]
        assert score == one_score, name  # from summed integer counts
        assert loss == pytest.approx(one_loss, rel=1e-12), name  # another order of a sum
