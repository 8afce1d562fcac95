"""Benchmark: Monte-Carlo Scale-Dropout with the packed (XNOR-popcount) backend, against one
fp32 deterministic pass, on binary VGG-small.

Not a test (timings are noisy, nothing is asserted about them). Every ratio is measured side
by side in one run: each repeat times one fp32 deterministic pass and then the variant, back
to back, and divides the two; the table shows the median ratio over repeats (each repeat
draws new masks, so the MC rows also carry the draw-to-draw spread, printed as min-max).

    python benchmarks/xnor_mc.py                 # batch 64, 5 repeats, torch's threads
    python benchmarks/xnor_mc.py --quick         # batch 16, 3 repeats, T = 20 only

Rows:
  det xnor        one deterministic pass with the packed backend (mc_predict's
                  deterministic twin, ``deterministic_predict(backend="xnor")``)
  prefix fp32     the prefix-shared engine with fp32 binary layers (``backend="torch"``)
  prefix+xnor     the prefix-shared engine with packed binary layers (``backend="xnor"``)
  analytic        the popcount limit of prefix+xnor: for each binary layer, its expected
                  number of distinct mask prefixes (``expected_distinct_prefixes``) x its
                  XOR-popcount word operations, divided by the kernel's measured
                  throughput (words per second on VGG-small's conv4, measured in this run),
                  over the same fp32 deterministic pass: what MC would cost if only the
                  popcounts counted (BatchNorm, packing and the fp32 first layer are free)
and the peak extra resident memory of one call (MB, sampled every millisecond; separate
runs after returning free memory to the system).

Goal of the issue: T = 20, p = 0.2, batch 64 at <= 1.0x one fp32 deterministic pass; it must
reach <= 1.5x. Threads: torch's default (the machine's cores) for every variant; the numba
kernels use torch's count and never run at the same time as torch's threads.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from allocator import steady_allocator
from mc_speed import peak_memory, randomise
from xnor_layers import cpu_description

from scaledrop_lib.inference.mc import deterministic_predict
from scaledrop_lib.inference.prefix import expected_distinct_prefixes, prefix_shared_predict
from scaledrop_lib.inference.program import BinaryRunner, build_program
from scaledrop_lib.inference.xnor import _conv_weights, _run_conv, pack_signs, xnor_available
from scaledrop_lib.layers.binary import BinaryConv2d
from scaledrop_lib.layers.sampling import sampling, seed_dropout, set_dropout_p
from scaledrop_lib.models import NetConfig, ScaledBinaryUnit, vgg_small

GOAL, MUST = 1.0, 1.5


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def popcount_throughput(repeats: int = 5) -> float:
    """64-bit XOR-popcount word operations per second of the conv kernel (VGG conv4 shape)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 256, 16, 16, generator=g)
    w = torch.randn(256, 256, 3, 3, generator=g)
    packed_x, packed_w = pack_signs(x), pack_signs(w)
    wt, wpop = _conv_weights(packed_w.bits)
    run = lambda: _run_conv(packed_x.bits, 256, wt, wpop, 1, 1, torch.float32)  # noqa: E731
    run()  # compiled and warm
    seconds = statistics.median(timed(run) for _ in range(repeats))
    words = 16 * 16 * 16 * 256 * 9 * 4  # N x H x W x Cout x taps x words per tap
    return words / seconds


def layer_words(model, x: torch.Tensor) -> list[int]:
    """XOR-popcount word operations of each binary conv in one pass (in forward order)."""
    counts: list[int] = []

    def hook(unit, args, out):
        layer = unit.layer
        words = -(-layer.in_channels // 64) * layer.kernel_size**2
        counts.append(out.shape[0] * out.shape[2] * out.shape[3] * out.shape[1] * words)

    units = [
        m
        for m in model.modules()
        if isinstance(m, ScaledBinaryUnit) and isinstance(m.layer, BinaryConv2d)
    ]
    handles = [unit.register_forward_hook(hook) for unit in units]
    with torch.inference_mode(), sampling(model, mc=False):
        model(x)
    for handle in handles:
        handle.remove()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 16, 3 repeats, T = 20")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    args = parser.parse_args()
    batch = args.batch or (16 if args.quick else 64)
    repeats = args.repeats or (3 if args.quick else 5)
    settings = [(20, 0.2)] if args.quick else [(t, p) for t in (20, 50) for p in (0.1, 0.2, 0.5)]

    available, reason = xnor_available()
    if not available:
        raise SystemExit(f"the packed path cannot run here: {reason}")
    torch.manual_seed(0)
    model = randomise(vgg_small(NetConfig(p=0.2)))
    x = torch.randn(batch, 3, 32, 32)
    program = build_program(model)
    runner = BinaryRunner(program.binary_layers(), "xnor")
    assert all(runner.is_packed(layer) for layer in program.binary_layers())

    def fp32_pass():
        with torch.inference_mode(), sampling(model, mc=False):
            model(x)

    def mc(T: int, backend: str):
        with torch.inference_mode(), sampling(model, mc=True):
            return prefix_shared_predict(model, x, T, backend=backend)

    det_xnor = lambda: deterministic_predict(model, x, backend="xnor")  # noqa: E731
    with steady_allocator():
        # exactness first (a benchmark of a wrong result is worthless)
        seed_dropout(model, 0)
        fp32_samples = mc(20, "torch")[0]
        seed_dropout(model, 0)
        assert torch.equal(mc(20, "xnor")[0], fp32_samples), "packed samples differ"
        throughput = popcount_throughput()
        words = layer_words(model, x)
        for _ in range(2):  # warm: kernels loaded, allocator settled
            fp32_pass(), det_xnor(), mc(20, "xnor")

        print(f"CPU: {cpu_description()}")
        print(f"threads: torch {torch.get_num_threads()}, numba kernels the same; xnor: {reason}")
        print(
            f"binary VGG-small (fp32 first conv and classifier), batch {batch}, {repeats} repeats"
        )
        print(
            f"popcount throughput (conv kernel, VGG conv4 shape): {throughput / 1e9:.2f} G words/s"
        )
        base = statistics.median(timed(fp32_pass) for _ in range(repeats))
        print(f"one fp32 deterministic pass: {base * 1e3:.0f} ms (median)\n")
        header = f"{'variant':14} {'T':>3} {'p':>4} {'ratio':>6} {'min-max':>11} "
        header += f"{'analytic':>8} {'MB':>7}"
        print(header)
        print("-" * len(header))

        def ratio_row(name, fn, T="", p="", analytic=None, memory=True):
            ratios = []
            for _ in range(repeats):
                ratios.append(timed(fn) / timed(fp32_pass))
            mb = "" if args.no_memory or not memory else f"{peak_memory(fn):7.0f}"
            spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
            an = "" if analytic is None else f"{analytic:8.2f}"
            print(
                f"{name:14} {T!s:>3} {p!s:>4} {statistics.median(ratios):6.2f} {spread:>11} "
                f"{an:>8} {mb}"
            )
            return statistics.median(ratios)

        ratio_row("fp32 pass", fp32_pass)
        ratio_row("det xnor", det_xnor)
        results = {}
        for T, p in settings:
            set_dropout_p(model, p)
            runs = expected_distinct_prefixes([p] * len(words), T)
            analytic = sum(r * w for r, w in zip(runs, words, strict=True)) / throughput / base
            ratio_row("prefix fp32", lambda T=T: mc(T, "torch"), T, p, memory=False)
            results[T, p] = ratio_row("prefix+xnor", lambda T=T: mc(T, "xnor"), T, p, analytic)
        set_dropout_p(model, 0.2)
        main_ratio = results.get((20, 0.2))
        if main_ratio is not None:
            verdict = (
                "meets the goal"
                if main_ratio <= GOAL
                else ("meets the must" if main_ratio <= MUST else "MISSES the must")
            )
            print(
                f"\nT = 20, p = 0.2: prefix+xnor {main_ratio:.2f}x one fp32 pass: {verdict} "
                f"(goal <= {GOAL}x, must <= {MUST}x)"
            )
        print(
            f"expected distinct prefixes at T = 20, p = 0.2: "
            f"{np.round(expected_distinct_prefixes([0.2] * len(words), 20), 2).tolist()}"
        )


if __name__ == "__main__":
    main()
