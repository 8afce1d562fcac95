"""Benchmark: the ``scaledrop`` command end to end on generated data in the real on-disk
formats, on the CPU and, where one is present, on a GPU in fp32 and with mixed precision.

Not a test (timings are noisy, nothing is asserted about them). It writes random CIFAR-10
python batches, an SVHN ``.mat`` and STL-10 binaries (the writers the tests use), then runs
``scaledrop train`` and ``scaledrop evaluate`` for each setting in one process, one after the
other, each into its own output folder, and prints a table:

  setting            where and how: ``cpu``, ``cuda fp32``, ``cuda amp`` (bf16 autocast)
  train img/s        training images x epochs / wall-clock seconds of ``train`` (data loading,
                     model building and validation included: what a user waits for)
  eval ms/img        ``evaluate``'s own ``ms_per_image`` for its T Monte-Carlo passes
  Acc, NLL           ``evaluate``'s metrics; labels are random, so the point is not the value
                     but how far each setting is from the first row (same seed, same data)

    python benchmarks/command_throughput.py                    # CPU only here
    python benchmarks/command_throughput.py --device cuda      # + cuda fp32 and cuda amp
    python benchmarks/command_throughput.py --no-cpu --images 20000 --epochs 2

A GPU and the CPU never make the same floating-point choices (other kernels, TF32 off by
default, other summation orders), so their metrics differ a little even in fp32; bf16
autocast differs more. The table shows how much.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fake_datasets import write_fake_datasets
from xnor_layers import cpu_description

from scaledrop_lib.experiments import cli


def settings_to_run(device: str, cpu: bool) -> list[tuple[str, list[str]]]:
    """(name, extra flags) of every setting: the CPU first (the reference row), then the GPU
    in fp32 and with bf16 autocast."""
    runs = [("cpu", ["--device", "cpu"])] if cpu else []
    if device.startswith("cuda"):
        runs += [
            (f"{device} fp32", ["--device", device]),
            (f"{device} amp", ["--device", device, "--amp"]),
        ]
    return runs


def one_setting(data: Path, out: Path, args: argparse.Namespace, flags: list[str]) -> dict:
    """Train, then evaluate, one setting (the command's own output goes to ``out/log.txt``);
    returns its row."""
    common = [
        "--data-dir", str(data), "--out", str(out), "--no-progress",
        "--models", args.model, "--width", str(args.width), "--methods", args.method,
        "--seeds", "0", "--val-size", str(args.images // 10), "--epochs", str(args.epochs),
        "--patience", "0", "--batch-size", str(args.batch_size), *flags,
    ]  # fmt: skip
    out.mkdir(parents=True)
    with open(out / "log.txt", "w") as log, redirect_stdout(log), redirect_stderr(log):
        start = time.perf_counter()
        cli.run(["train", *common])
        train_s = time.perf_counter() - start
        trained = sorted((out / "checkpoints").rglob("*.pt"))
        result = cli.run(["evaluate", *common, "--T", str(args.T)])
    if sorted((out / "checkpoints").rglob("*.pt")) != trained:
        raise RuntimeError(f"evaluate trained a model of its own: see {out / 'log.txt'}")
    (record,) = [r for r in result["records"] if r["method"] == args.method]
    return {
        "train img/s": (args.images - args.images // 10) * args.epochs / train_s,
        "eval ms/img": record["ms_per_image"],
        "Acc": record["Acc"],
        "NLL": record["NLL"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU row")
    parser.add_argument("--images", type=int, default=1000, help="CIFAR-10 training images")
    parser.add_argument("--test", type=int, default=500, help="CIFAR-10 test images")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--model", default="resnet20", help="vgg_small, resnet18 or resnet20")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--method", default="MC-Scale-Dropout")
    parser.add_argument("--T", type=int, default=20, help="Monte-Carlo passes of evaluate")
    args = parser.parse_args()
    if args.images < 50 or args.images % 5:
        parser.error("--images must be a multiple of 5 (five CIFAR batches), at least 50")
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {device}: torch sees no CUDA device here")
    runs = settings_to_run(device, not args.no_cpu)
    if not runs:
        parser.error("nothing to run: --no-cpu needs --device cuda on a machine with a GPU")

    print(f"torch {torch.__version__}, Python {platform.python_version()}, {cpu_description()}")
    print(f"CPU threads {torch.get_num_threads()}", end="")
    if torch.cuda.is_available():
        print(f"; GPU {torch.cuda.get_device_name()}", end="")
    print(
        f"\n{args.model} width {args.width}, {args.method}, {args.images} training images "
        f"(a tenth validates), {args.test} test images, {args.epochs} epoch(s), "
        f"batch {args.batch_size}, T = {args.T}\n"
    )
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        write_fake_datasets(data, n_train=args.images, n_test=args.test, n_svhn=50, n_stl=20)
        for name, flags in runs:
            rows[name] = one_setting(data, Path(folder) / name.replace(" ", "-"), args, flags)
            print(f"  {name}: done", flush=True)
    first = next(iter(rows.values()))
    print(f"\n{'setting':<16}{'train img/s':>12}{'eval ms/img':>12}{'Acc':>8}{'NLL':>8}"
          f"{'dAcc':>9}{'dNLL':>10}")  # fmt: skip
    for name, row in rows.items():
        print(
            f"{name:<16}{row['train img/s']:>12.1f}{row['eval ms/img']:>12.3f}"
            f"{row['Acc']:>8.3f}{row['NLL']:>8.3f}{row['Acc'] - first['Acc']:>+9.3f}"
            f"{row['NLL'] - first['NLL']:>+10.4f}"
        )


if __name__ == "__main__":
    main()
