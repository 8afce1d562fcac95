"""The loops of :mod:`scaledrop_lib.inference.xnor`, as plain Python for numba to compile.

Nothing here imports numba: ``xnor`` compiles these functions on first use
(``numba.njit(cache=True)``), so the package imports without it. Called uncompiled they are
correct but very slow. Layouts: packed words are ``uint64`` with bit ``c % 64`` of word
``c // 64`` for channel ``c`` and zero padding bits; activations are channels last.
"""

from __future__ import annotations

import numpy as np

M1 = np.uint64(0x5555555555555555)
M2 = np.uint64(0x3333333333333333)
M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
H01 = np.uint64(0x0101010101010101)
ZERO = np.uint64(0)

#: ``numba.prange`` once :mod:`scaledrop_lib.inference.xnor` compiles these functions (it sets
#: this global before compiling); plain ``range`` when they run uncompiled.
prange = range


def popcount64(v: np.uint64) -> np.int64:
    """Set bits of one word. SWAR arithmetic: LLVM recognises the pattern and emits popcnt
    (vpopcntq where it vectorises the loop around it)."""
    v = v - ((v >> np.uint64(1)) & M1)
    v = (v & M2) + ((v >> np.uint64(2)) & M2)
    v = (v + (v >> np.uint64(4))) & M4
    return np.int64((v * H01) >> np.uint64(56))


def pack_pool_kernel(x: np.ndarray, k: np.int64) -> np.ndarray:
    """Real ``x`` (A, C, H, W) -> words (A, H // k, W // k, ceil(C/64)): bit c % 64 of word
    c // 64 is the sign of ``max_pool2d(x, k)[a, c]`` (``>= 0``), without the pooled floats.

    ``k = 1`` packs every position. sign(max) = OR of the signs, except that torch's max
    pooling propagates NaN (and sign_pm1(NaN) is -1): a window holding a NaN gives bit 0.
    """
    count, channels, height, width = x.shape
    h_out = height // k
    w_out = width // k
    size = h_out * w_out
    words = (channels + 63) // 64
    out = np.empty((count, size, words), np.uint64)
    for a in prange(count):
        acc = np.empty(size, np.uint64)
        for q in range(words):
            acc[:] = 0
            for j in range(min(64, channels - 64 * q)):
                c = 64 * q + j
                shift = np.uint64(j)
                if k == 1:  # branch-free and contiguous: vectorised (NaN >= 0 is False)
                    for oy in range(h_out):
                        for ox in range(w_out):
                            acc[oy * w_out + ox] |= np.uint64(x[a, c, oy, ox] >= 0) << shift
                    continue
                for oy in range(h_out):
                    for ox in range(w_out):
                        positive = False
                        nan = False
                        for dy in range(k):
                            for dx in range(k):
                                v = x[a, c, oy * k + dy, ox * k + dx]
                                nan |= v != v
                                positive |= v >= 0  # sign(0) = sign(-0.0) = +1, as sign_pm1
                        acc[oy * w_out + ox] |= np.uint64(positive and not nan) << shift
            for s in range(size):
                out[a, s, q] = acc[s]
    return out.reshape(count, h_out, w_out, words)


def linear_kernel(a: np.ndarray, wt: np.ndarray, n_bits: np.int64, out: np.ndarray) -> None:
    """Packed inputs ``a`` (N, words) and weights ``wt`` (words, Cout) -> ``out`` (N, Cout),
    the dot products of ``n_bits`` signs, written in place."""
    batch, words = a.shape
    cout = wt.shape[1]
    for i in prange(batch):
        mismatches = np.zeros(cout, np.int64)
        for q in range(words):
            b = a[i, q]
            for co in range(cout):  # contiguous: vectorised popcounts
                mismatches[co] += popcount64(b ^ wt[q, co])
        for co in range(cout):
            out[i, co] = n_bits - 2 * mismatches[co]


def conv_kernel(
    a: np.ndarray,
    wt: np.ndarray,
    wpop: np.ndarray,
    k: np.int64,
    stride: np.int64,
    padding: np.int64,
    n_bits: np.int64,
    out: np.ndarray,
) -> None:
    """Packed input ``a`` (N, H, W, words), packed weights ``wt`` (k*k*words, Cout,
    tap-major) and the set bits ``wpop`` (k, k, Cout) of each tap's weights -> ``out``
    (N, Cout, H_out, W_out), ``F.conv2d``'s ±1 sums with zero padding, written in place."""
    batch, height, width, words = a.shape
    cout = wt.shape[1]
    h_out, w_out = out.shape[2], out.shape[3]
    for r in prange(batch * h_out):  # one output row per task
        i = r // h_out
        oy = r % h_out
        row = np.empty((w_out, cout), np.int64)  # the row, channels last, then transposed
        patch = np.empty(k * k * words, np.uint64)
        mismatches = np.empty(cout, np.int64)
        y0 = oy * stride - padding
        for ox in range(w_out):
            x0 = ox * stride - padding
            t = 0
            inside = 0
            for ky in range(k):
                for kx in range(k):
                    y = y0 + ky
                    x = x0 + kx
                    if 0 <= y < height and 0 <= x < width:
                        inside += 1
                        for q in range(words):
                            patch[t + q] = a[i, y, x, q]
                    else:  # zero padding: zero bits, removed below
                        for q in range(words):
                            patch[t + q] = ZERO
                    t += words
            mismatches[:] = 0
            j = 0
            while j + 4 <= t:  # four words per pass: a quarter of the stores to mismatches
                b0, b1, b2, b3 = patch[j], patch[j + 1], patch[j + 2], patch[j + 3]
                for co in range(cout):  # contiguous: vectorised popcounts
                    mismatches[co] += (
                        popcount64(b0 ^ wt[j, co])
                        + popcount64(b1 ^ wt[j + 1, co])
                        + popcount64(b2 ^ wt[j + 2, co])
                        + popcount64(b3 ^ wt[j + 3, co])
                    )
                j += 4
            while j < t:
                b = patch[j]
                for co in range(cout):
                    mismatches[co] += popcount64(b ^ wt[j, co])
                j += 1
            if inside < k * k:  # a padded tap's zero bits mismatch its +1 weight bits
                for ky in range(k):
                    for kx in range(k):
                        y = y0 + ky
                        x = x0 + kx
                        if not (0 <= y < height and 0 <= x < width):
                            for co in range(cout):
                                mismatches[co] -= wpop[ky, kx, co]
            valid = inside * n_bits
            for co in range(cout):
                row[ox, co] = valid - 2 * mismatches[co]
        for co in range(cout):
            for ox in range(w_out):
                out[i, co, oy, ox] = row[ox, co]


def max_pool_kernel(x: np.ndarray, k: np.int64, out: np.ndarray) -> None:
    """``F.max_pool2d(x, k)`` (stride k, no padding) of real ``x`` (N, C, H, W) into ``out``,
    bit for bit: torch's CPU loop, scanning each window row by row and taking a value when it
    is greater than the maximum so far or NaN (so the first of equal values wins, -0.0
    before 0.0 included, and NaN propagates). Starting from the window's first value instead
    of -inf changes nothing: a first -inf or NaN is what torch keeps too."""
    count, channels, height, width = x.shape
    h_out = height // k
    w_out = width // k
    for r in prange(count * channels):
        a = r // channels
        c = r % channels
        for oy in range(h_out):
            for ox in range(w_out):
                y0 = oy * k
                x0 = ox * k
                best = x[a, c, y0, x0]
                for dy in range(k):
                    for dx in range(k):
                        v = x[a, c, y0 + dy, x0 + dx]
                        # a select, not a branch: random data would mispredict half the time
                        best = v if (v > best) | (v != v) else best
                out[a, c, oy, ox] = best
