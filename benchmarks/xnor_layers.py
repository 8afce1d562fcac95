"""Benchmark: the bit-packed XNOR-popcount path against fp32 on VGG-small's conv layers.

Not a test (timings are noisy, nothing is asserted about them); every ratio is measured side
by side in one run: each repeat times the fp32 and the packed variants of one layer back to
back, and the table shows medians over the repeats.

    python benchmarks/xnor_layers.py            # batch 64, 7 repeats
    python benchmarks/xnor_layers.py --quick    # batch 8, 5 repeats

Threads: torch runs with ``--threads`` intra-op threads (default 1, set here) and the numba
kernels with as many (they follow torch's count); the two never run at once.

Columns per layer (VGG-small built with ``binary_first_last=True``, so that conv1 is binary
too; in the default configuration conv1 is full precision):
  fp32     F.conv2d on ±1 float32 tensors (signs taken beforehand),
  pack     pack_signs of the layer's input (sign and pack 64 channels per uint64),
  xnor     xnor_conv2d on the packed input and packed weights (int32 out),
  p+x      pack + xnor,
  fp/x     fp32 / xnor (the kernel alone), fp/(p+x) fp32 / (pack + xnor),
  layer    layer.binary_output(x) (sign, IR-Net weights, fp32 conv) against
           binary_layer_xnor_forward(layer, x, packed) (pack, kernel, float32 output), and
           their ratio.
Packing the weights (pack_layer, once per layer) is shown separately (wpack).

    python benchmarks/xnor_layers.py --small-layers --threads 2

times whole layers with few input channels instead (batch 256, the shapes of the digits and
28x28 nets and a 3-channel first layer): the measurement behind ``backend="auto"``'s rule of
packing only from 16 input channels on (scaledrop_lib.inference.program).

Timings run under allocator.steady_allocator (unless ``--allocator default``), as in
mc_speed.py: otherwise every fresh output tensor (torch's and numba's alike) page-faults on
each 4 KiB page, which on the shared 2-core machine costs milliseconds per layer.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import platform
import statistics
import time
from collections.abc import Callable

import numba
import torch
import torch.nn.functional as F
from allocator import steady_allocator

from scaledrop_lib.inference.xnor import (
    binary_layer_xnor_forward,
    pack_layer,
    pack_signs,
    xnor_available,
    xnor_conv2d,
)
from scaledrop_lib.layers.binary import BinaryConv2d, sign_pm1
from scaledrop_lib.models import NetConfig, ScaledBinaryUnit, vgg_small

CPU_FLAGS = ("popcnt", "avx2", "avx512f", "avx512_vpopcntdq")


def cpu_description() -> str:
    """The CPU model and which popcount-relevant flags /proc/cpuinfo lists."""
    try:
        with open("/proc/cpuinfo") as handle:
            text = handle.read()
    except OSError:
        return f"{platform.machine()} (no /proc/cpuinfo)"
    lines = text.splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in lines if "model name" in ln), "")
    flags_line = next((ln for ln in lines if ln.startswith("flags")), "")
    flags = set(flags_line.split(":", 1)[1].split()) if flags_line else set()
    marks = ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in CPU_FLAGS)
    return f"{model or platform.machine()}; {marks}"


def vgg_conv_layers() -> list[tuple[str, BinaryConv2d, tuple[int, int, int]]]:
    """(name, layer, input shape C x H x W) of every binary conv of VGG-small, in order."""
    model = vgg_small(NetConfig(binary_first_last=True)).eval()
    found = []

    def hook(unit, args):
        if isinstance(unit.layer, BinaryConv2d):
            found.append((f"conv{len(found) + 1}", unit.layer, tuple(args[0].shape[1:])))

    units = [m for m in model.modules() if isinstance(m, ScaledBinaryUnit)]
    handles = [unit.register_forward_pre_hook(hook) for unit in units]
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    for handle in handles:
        handle.remove()
    return found


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_layer(layer: BinaryConv2d, x: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median seconds of each variant; the variants of one repeat run back to back."""
    packed = pack_layer(layer)
    w_pm1 = layer.binary_weight()
    x_pm1 = sign_pm1(x)
    packed_w = pack_signs(w_pm1)
    packed_x = pack_signs(x)
    stride, padding = layer.stride, layer.padding
    ref = F.conv2d(x_pm1, w_pm1, stride=stride, padding=padding)
    out = xnor_conv2d(packed_x, packed_w, stride, padding)
    assert torch.equal(out.to(ref.dtype), ref), "packed result differs"  # a sanity check
    assert torch.equal(binary_layer_xnor_forward(layer, x, packed), layer.binary_output(x))
    variants = {
        "fp32": lambda: F.conv2d(x_pm1, w_pm1, stride=stride, padding=padding),
        "pack": lambda: pack_signs(x),
        "xnor": lambda: xnor_conv2d(packed_x, packed_w, stride, padding),
        "fp32 layer": lambda: layer.binary_output(x),
        "xnor layer": lambda: binary_layer_xnor_forward(layer, x, packed),
        "wpack": lambda: pack_layer(layer),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            times[name].append(timed(fn))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 8, 5 repeats")
    parser.add_argument("--batch", type=int, default=None, help="override the batch size")
    parser.add_argument("--repeats", type=int, default=None, help="override the repeats")
    parser.add_argument("--threads", type=int, default=1, help="torch's and numba's threads")
    parser.add_argument(
        "--small-layers", action="store_true", help="layers with 1-32 input channels instead"
    )
    parser.add_argument(
        "--allocator", choices=("steady", "default"), default="steady", help="see the docstring"
    )
    args = parser.parse_args()
    batch = args.batch or (8 if args.quick else 64)
    repeats = args.repeats or (5 if args.quick else 7)

    torch.set_num_threads(args.threads)
    available, reason = xnor_available()
    if not available:
        raise SystemExit(f"the packed path cannot run here: {reason}")
    steady = steady_allocator() if args.allocator == "steady" else contextlib.nullcontext(False)
    with torch.no_grad(), steady as tuned:
        env = {k: os.environ.get(k, "unset") for k in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")}
        print(f"CPU: {cpu_description()}")
        print(
            f"threads: torch {torch.get_num_threads()} (intra-op), numba kernels the same "
            f"(pool size {numba.config.NUMBA_NUM_THREADS}); env {env}"
        )
        print(f"xnor: {reason}")
        print(f"allocator: {'steady (glibc mmap off)' if tuned else 'as it comes'}")
        if args.small_layers:
            small_layers(args.batch or 256, repeats)
            return
        print(f"VGG-small binary convs, batch {batch}, median of {repeats} repeats, ms\n")
        print(HEADER)
        print("-" * len(HEADER))
        totals = dict.fromkeys(("fp32", "pack", "xnor", "fp32 layer", "xnor layer"), 0.0)
        torch.manual_seed(0)
        for name, layer, (channels, height, width) in vgg_conv_layers():
            x = torch.randn(batch, channels, height, width)
            t = bench_layer(layer, x, repeats)
            for key in totals:
                totals[key] += t[key]
            print(row(name, f"{channels}->{layer.out_channels} @{height}x{width}", t))
        print("-" * len(HEADER))
        print(row("total", "", totals))


#: (Cin, Cout, H = W) of the small layers: the digits / 28x28 nets' shapes and a first layer.
SMALL_LAYERS = ((1, 16, 28), (3, 128, 32), (6, 16, 14), (8, 16, 28), (16, 32, 14), (32, 32, 14))


def small_layers(batch: int, repeats: int) -> None:
    """Whole binary layers (sign, pack, product, float output) against fp32 by input channels."""
    print(f"small binary convs, batch {batch}, median of {repeats} repeats, ms\n")
    print(f"{'Cin->Cout @HxW':17} {'fp32 layer':>10} {'xnor layer':>10} {'ratio':>6}")
    torch.manual_seed(0)
    for cin, cout, size in SMALL_LAYERS:
        layer = BinaryConv2d(cin, cout, 3, padding=1, bias=False).eval()
        x = torch.randn(batch, cin, size, size)
        packed = pack_layer(layer)
        assert torch.equal(binary_layer_xnor_forward(layer, x, packed), layer.binary_output(x))
        fp32_call = functools.partial(layer.binary_output, x)
        xnor_call = functools.partial(binary_layer_xnor_forward, layer, x, packed)
        fp32 = statistics.median(timed(fp32_call) for _ in range(repeats))
        xnor = statistics.median(timed(xnor_call) for _ in range(repeats))
        shape = f"{cin}->{cout} @{size}x{size}"
        print(f"{shape:17} {fp32 * 1e3:10.2f} {xnor * 1e3:10.2f} {fp32 / xnor:6.2f}")


HEADER = (
    f"{'layer':6} {'Cin->Cout @HxW':17} {'fp32':>8} {'pack':>7} {'xnor':>7} {'p+x':>7} "
    f"{'fp/x':>6} {'fp/(p+x)':>8} | {'fp32 lay':>8} {'xnor lay':>8} {'ratio':>6} | "
    f"{'wpack':>6}"
)


def row(name: str, shape: str, t: dict[str, float]) -> str:
    """One line of the table from median seconds (``wpack`` left blank when absent)."""
    both = t["pack"] + t["xnor"]
    wpack = f"{t['wpack'] * 1e3:6.2f}" if "wpack" in t else ""
    return (
        f"{name:6} {shape:17} {t['fp32'] * 1e3:8.2f} {t['pack'] * 1e3:7.2f} "
        f"{t['xnor'] * 1e3:7.2f} {both * 1e3:7.2f} {t['fp32'] / t['xnor']:6.1f} "
        f"{t['fp32'] / both:8.1f} | {t['fp32 layer'] * 1e3:8.2f} "
        f"{t['xnor layer'] * 1e3:8.2f} {t['fp32 layer'] / t['xnor layer']:6.1f} | {wpack}"
    )


if __name__ == "__main__":
    main()
