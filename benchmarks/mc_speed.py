"""Benchmark: Monte-Carlo Scale-Dropout inference cost relative to one deterministic pass.

Not a test (timings are noisy); every ratio below is measured side by side in one run. The
baseline, one deterministic pass, is the median of 21 timed passes.

    python benchmarks/mc_speed.py                 # digits CNN + VGG-small, batch 64
    python benchmarks/mc_speed.py --quick         # fewer seeds and a smaller VGG batch

For each model, T and p it prints time(MC) / time(one deterministic pass) for
  naive    T plain forward passes (the loop in mc_predict),
  batched  one forward pass on the batch replicated T times,
  prefix   the prefix-shared engine (scaledrop_lib.fastmc), mean over seeded mask draws,
the analytic expectation for the prefix engine (each layer's FLOPs x the expected number of
distinct mask prefixes it runs for, see ``stage_flops``), the same expectation weighting each
layer by its measured time instead of its FLOPs ("timed"), and
the peak extra resident memory of each method (MB, sampled every millisecond).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import psutil
import torch
from torch import nn

from scaledrop_lib.binary import BinaryConv2d, BinaryLinear
from scaledrop_lib.fastmc import expected_distinct_prefixes, prefix_shared_predict
from scaledrop_lib.models import NetConfig, ScaledBinaryUnit, digits_cnn, vgg_small
from scaledrop_lib.scaledrop import mc_mode, seed_dropout, set_dropout_p


class PeakMemory:
    """Peak resident set size above the starting value while the block runs (MB)."""

    def __enter__(self):
        self.process = psutil.Process()
        self.base = self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.001)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.extra_mb = (self.peak - self.base) / 2**20


def timed(fn, repeats: int = 1) -> tuple[float, float]:
    """(best wall time in s, peak extra memory in MB) of ``fn()``."""
    best, memory = float("inf"), 0.0
    for _ in range(repeats):
        with PeakMemory() as peak:
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        memory = max(memory, peak.extra_mb)
    return best, memory


def median_time(fn, repeats: int) -> float:
    """Median wall time of ``repeats`` single calls (a steady baseline: the minimum would
    favour a lucky run, one call alone is noisy)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def stage_flops(model: nn.Sequential, x: torch.Tensor) -> list[tuple[str, float, float]]:
    """(kind, flops before the scale, flops after it) of every top-level module, in order.

    kind is "stochastic" for a Scale-Dropout unit (its binary conv runs once per prefix of
    the earlier masks, its BatchNorm/scale/shift once per prefix including its own mask) and
    "plain" otherwise. FLOPs: 2 per multiply-accumulate of a conv/linear layer, 2 per element
    for BatchNorm, 1 per element for the scale, the shift and each activation, and one per
    pooled input element.
    """
    records: list[tuple[str, float, float]] = []

    def hook_for(module):
        def hook(_m, inputs, out):
            n_out = float(out.numel())
            if isinstance(module, ScaledBinaryUnit):
                layer = module.layer
                if isinstance(layer, BinaryConv2d):
                    conv = 2 * n_out * layer.in_channels * layer.kernel_size**2
                else:
                    conv = 2 * n_out * layer.in_features
                kind = "stochastic" if layer.scale_dropout is not None else "plain"
                records.append((kind, conv, 4 * n_out))  # BN (2), scale (1), shift (1)
            elif isinstance(module, nn.Conv2d):
                k = module.kernel_size[0]
                records.append(("plain", 2 * n_out * module.in_channels * k * k, 0.0))
            elif isinstance(module, nn.Linear):
                records.append(("plain", 2 * n_out * module.in_features, 0.0))
            elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                records.append(("plain", 2 * n_out, 0.0))
            elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
                records.append(("plain", float(inputs[0].numel()), 0.0))
            elif isinstance(module, (nn.Hardtanh, nn.ReLU)):
                records.append(("plain", n_out, 0.0))
            else:
                records.append(("plain", 0.0, 0.0))

        return hook

    hooks = [module.register_forward_hook(hook_for(module)) for module in model]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return records


def analytic_ratio(stages: list[tuple[str, float, float]], p: float, T: int) -> float:
    """Expected prefix-engine FLOPs / FLOPs of one deterministic pass."""
    n_stochastic = sum(kind == "stochastic" for kind, _, _ in stages)
    # entry k: expected distinct prefixes of the first k masks (k = 0 .. n_stochastic)
    distinct = expected_distinct_prefixes([p] * (n_stochastic + 1), T)
    total, seen = 0.0, 0
    for kind, before, after in stages:
        if kind == "stochastic":
            total += before * distinct[seen] + after * distinct[seen + 1]
            seen += 1
        else:
            total += (before + after) * distinct[seen]
    return total / sum(before + after for _, before, after in stages)


def stage_times(model: nn.Sequential, x: torch.Tensor, repeats: int = 3) -> list[float]:
    """Wall time of every top-level module in one deterministic pass (best of ``repeats``)."""
    best = [float("inf")] * len(model)
    starts = [0.0] * len(model)
    hooks = []
    for i, module in enumerate(model):
        hooks.append(
            module.register_forward_pre_hook(
                lambda _m, _inp, i=i: starts.__setitem__(i, time.perf_counter())
            )
        )
        hooks.append(
            module.register_forward_hook(
                lambda _m, _inp, _out, i=i: best.__setitem__(
                    i, min(best[i], time.perf_counter() - starts[i])
                )
            )
        )
    with torch.no_grad():
        for _ in range(repeats):
            model(x)
    for h in hooks:
        h.remove()
    return best


def timed_expectation(stages, times: list[float], p: float, T: int) -> float:
    """Like :func:`analytic_ratio`, weighting each stage by its measured time, not its FLOPs
    (a stochastic unit's whole time is counted once per prefix of the earlier masks)."""
    n_stochastic = sum(kind == "stochastic" for kind, _, _ in stages)
    distinct = expected_distinct_prefixes([p] * (n_stochastic + 1), T)
    total, seen = 0.0, 0
    for (kind, _, _), t in zip(stages, times, strict=True):
        total += t * distinct[seen]
        seen += kind == "stochastic"
    return total / sum(times)


def randomise(model: nn.Module) -> nn.Module:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            if isinstance(m, (BinaryConv2d, BinaryLinear)):
                m.alpha.copy_(torch.rand(m.alpha.shape, generator=g) + 0.5)
    return model.eval()


def print_stages(model: nn.Sequential, flops, times, p: float, T: int) -> None:
    """Each top-level module's share of FLOPs and of time in one deterministic pass, and how
    often the prefix engine runs it in expectation: where FLOPs and time disagree."""
    n_stochastic = sum(kind == "stochastic" for kind, _, _ in flops)
    distinct = expected_distinct_prefixes([p] * (n_stochastic + 1), T)
    total_flops = sum(before + after for _, before, after in flops)
    total_time = sum(times)
    print(f"  per module at T = {T}, p = {p}: share of FLOPs, share of time, expected runs")
    seen = 0
    for module, (kind, before, after), t in zip(model, flops, times, strict=True):
        print(
            f"    {type(module).__name__:17s} {(before + after) / total_flops:6.3f} "
            f"{t / total_time:6.3f} {distinct[seen]:6.2f}"
        )
        seen += kind == "stochastic"


def run(
    name: str,
    model: nn.Sequential,
    x: torch.Tensor,
    Ts,
    ps,
    seeds: int,
    det_repeats: int = 21,
    stages: bool = False,
) -> None:
    flops = stage_flops(model, x)
    with mc_mode(model), torch.inference_mode():
        model(x)  # warm up
        with mc_mode(model, enabled=False):
            det = median_time(lambda: model(x), det_repeats)
            times = stage_times(model, x)
        print(
            f"\n{name}: batch {x.shape[0]}, one deterministic pass {det * 1e3:.1f} ms "
            f"(median of {det_repeats})"
        )
        if stages:
            print_stages(model, flops, times, 0.2, 20)
        print(
            f"{'T':>4s} {'p':>5s} {'naive':>7s} {'batched':>8s} {'prefix':>7s} "
            f"{'(sd)':>6s} {'analytic':>9s} {'timed':>6s} | peak MB: {'naive':>6s} "
            f"{'batched':>8s} {'prefix':>7s}"
        )
        for T in Ts:
            naive, naive_mem = timed(lambda T=T: [model(x) for _ in range(T)])
            big = x.repeat(T, *([1] * (x.dim() - 1)))
            batched, batched_mem = timed(lambda big=big: model(big))
            for p in ps:
                set_dropout_p(model, p)
                ratios, mem = [], 0.0
                for seed in range(seeds):
                    seed_dropout(model, seed)
                    elapsed, m = timed(lambda T=T: prefix_shared_predict(model, x, T))
                    ratios.append(elapsed / det)
                    mem = max(mem, m)
                sd = statistics.stdev(ratios) if len(ratios) > 1 else 0.0
                print(
                    f"{T:4d} {p:5.2f} {naive / det:7.2f} {batched / det:8.2f} "
                    f"{statistics.mean(ratios):7.2f} {sd:6.2f} "
                    f"{analytic_ratio(flops, p, T):9.2f} "
                    f"{timed_expectation(flops, times, p, T):6.2f} | {naive_mem:15.0f} "
                    f"{batched_mem:8.0f} {mem:7.0f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 seeds, VGG batch 16")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    seeds = 5 if args.quick else args.seeds
    vgg_batch = 16 if args.quick else args.batch
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; ratios are "
        f"time / one deterministic pass; prefix = mean over {seeds} seeded mask draws"
    )
    digits = randomise(digits_cnn(NetConfig(p=0.2)))
    run(
        "digits CNN (2 Scale-Dropout layers)",
        digits,
        torch.rand(args.batch, 1, 8, 8),
        [20, 50],
        [0.1, 0.2, 0.5],
        seeds,
    )
    vgg = randomise(vgg_small(NetConfig(p=0.2)))
    run(
        "binary VGG-small, 32x32x3 (5 Scale-Dropout layers; first conv full precision)",
        vgg,
        torch.rand(vgg_batch, 3, 32, 32),
        [20, 50],
        [0.1, 0.2, 0.5],
        seeds,
        stages=True,
    )


if __name__ == "__main__":
    main()
