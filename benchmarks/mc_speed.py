"""Benchmark: Monte-Carlo Scale-Dropout inference cost relative to one deterministic pass.

Not a test (timings are noisy); every ratio below is measured side by side in one run.

    python benchmarks/mc_speed.py                 # digits CNN + VGG-small, batch 64
    python benchmarks/mc_speed.py --quick         # fewer seeds and a smaller VGG batch

For each model, T and p it prints time(MC) / time(one deterministic pass) for
  naive    T plain forward passes (the loop in mc_predict),
  batched  one forward pass on the batch replicated T times,
  prefix   the prefix-shared engine (scaledrop_lib.fastmc), mean over seeded mask draws,
the analytic expectation for the prefix engine (layer FLOPs x expected distinct prefixes), and
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


def layer_flops(model: nn.Sequential, x: torch.Tensor) -> list[tuple[bool, float]]:
    """(is stochastic, multiply-accumulates) of every conv/linear layer, in order."""
    records = []

    def hook_for(layer, stochastic):
        def hook(_m, _i, out):
            if isinstance(layer, (nn.Conv2d, BinaryConv2d)):
                k = (
                    layer.kernel_size
                    if isinstance(layer.kernel_size, int)
                    else layer.kernel_size[0]
                )
                macs = out.numel() * layer.in_channels * k * k
            else:
                macs = out.numel() * layer.in_features
            records.append((stochastic, float(macs)))

        return hook

    hooks = []
    for module in model:
        if isinstance(module, ScaledBinaryUnit):
            stochastic = module.layer.scale_dropout is not None
            hooks.append(module.register_forward_hook(hook_for(module.layer, stochastic)))
        elif isinstance(module, (nn.Conv2d, nn.Linear, BinaryConv2d, BinaryLinear)):
            hooks.append(module.register_forward_hook(hook_for(module, False)))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return records


def analytic_ratio(flops: list[tuple[bool, float]], p: float, T: int) -> float:
    """Expected prefix-engine cost / one pass, counting conv/linear MACs only."""
    n_stochastic = sum(s for s, _ in flops)
    # entry k: distinct prefixes of the first k masks (k = 0 .. n_stochastic)
    distinct = expected_distinct_prefixes([p] * (n_stochastic + 1), T)
    total, seen = 0.0, 0
    for stochastic, macs in flops:
        total += macs * distinct[seen]
        seen += stochastic
    return total / sum(m for _, m in flops)


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


def run(name: str, model: nn.Sequential, x: torch.Tensor, Ts, ps, seeds: int) -> None:
    flops = layer_flops(model, x)
    with mc_mode(model), torch.inference_mode():
        model(x)  # warm up
        with mc_mode(model, enabled=False):
            det, _ = timed(lambda: model(x), repeats=3)
        print(f"\n{name}: batch {x.shape[0]}, one deterministic pass {det * 1e3:.1f} ms")
        print(
            f"{'T':>4s} {'p':>5s} {'naive':>7s} {'batched':>8s} {'prefix':>7s} "
            f"{'(sd)':>6s} {'analytic':>9s} | peak MB: {'naive':>6s} {'batched':>8s} "
            f"{'prefix':>7s}"
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
                    f"{analytic_ratio(flops, p, T):9.2f} | {naive_mem:15.0f} "
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
    )


if __name__ == "__main__":
    main()
