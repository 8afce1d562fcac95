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


def popcount64(v: np.uint64) -> np.int64:
    """Set bits of one word. SWAR arithmetic: LLVM recognises the pattern and emits popcnt
    (vpopcntq where it vectorises the loop around it)."""
    v = v - ((v >> np.uint64(1)) & M1)
    v = (v & M2) + ((v >> np.uint64(2)) & M2)
    v = (v + (v >> np.uint64(4))) & M4
    return np.int64((v * H01) >> np.uint64(56))


def pack_kernel(x: np.ndarray) -> np.ndarray:
    """Real ``x`` (A, C, S) -> words (A, S, ceil(C/64)): bit c % 64 of word c // 64 is
    ``x[a, c, s] >= 0``."""
    count, channels, size = x.shape
    words = (channels + 63) // 64
    out = np.empty((count, size, words), np.uint64)
    acc = np.empty(size, np.uint64)
    for a in range(count):
        for q in range(words):
            acc[:] = 0
            for j in range(min(64, channels - 64 * q)):
                bit = np.uint64(1) << np.uint64(j)
                for s in range(size):
                    if x[a, 64 * q + j, s] >= 0:  # sign(0) = +1; NaN -> -1, as sign_pm1
                        acc[s] |= bit
            for s in range(size):
                out[a, s, q] = acc[s]
    return out


def linear_kernel(a: np.ndarray, wt: np.ndarray, n_bits: np.int64, out: np.ndarray) -> None:
    """Packed inputs ``a`` (N, words) and weights ``wt`` (words, Cout) -> ``out`` (N, Cout),
    the dot products of ``n_bits`` signs, written in place."""
    batch, words = a.shape
    cout = wt.shape[1]
    mismatches = np.empty(cout, np.int64)
    for i in range(batch):
        mismatches[:] = 0
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
    row = np.empty((w_out, cout), np.int64)  # one output row, channels last, then transposed
    patch = np.empty(k * k * words, np.uint64)
    mismatches = np.empty(cout, np.int64)
    for i in range(batch):
        for oy in range(h_out):
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
