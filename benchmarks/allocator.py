"""Keep freed memory in the process while timing CPU inference (glibc only).

PyTorch's CPU tensors come from ``malloc``. glibc serves large blocks (by default above a
threshold that adapts up to 32 MB) with a fresh ``mmap`` and gives them back on ``free``; the
next tensor of that size then page-faults on every 4 KiB page, and the kernel zeroes each
page. For binary VGG-small at batch 64 the first layer's activations are 33.5 MB each, and on
our 2-core machine those page faults made an element-wise op on them 3-6x slower (12-14 ms vs
2-4 ms for ``torch.sign``) and one deterministic pass 30-40% slower. That is a property of the
allocator, not of the network, and it hits a single pass harder than the prefix-shared engine
(whose live activations keep pages mapped), so benchmarks measure with :func:`steady_allocator`.

:func:`steady_allocator` turns ``mmap`` off for ``malloc`` and stops it from returning memory at
the top of the heap, so freed pages are reused without faults; on exit it restores glibc's
documented defaults (the adaptive mmap threshold stays off until the process ends) and trims
the heap. Elsewhere (macOS, musl, Windows) it does nothing and yields ``False``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

# mallopt parameter numbers and glibc's documented defaults (man 3 mallopt)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -2, -3, -4
GLIBC_DEFAULTS = {
    M_TRIM_THRESHOLD: 128 * 1024,
    M_TOP_PAD: 128 * 1024,
    M_MMAP_THRESHOLD: 128 * 1024,
    M_MMAP_MAX: 65536,
}


@cache
def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc with ``mallopt`` and ``malloc_trim``, else ``None``."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


def allocator_tunable() -> bool:
    """True where :func:`steady_allocator` can change the allocator (Linux with glibc)."""
    return _glibc() is not None


def release_free_memory() -> bool:
    """Return freed heap memory to the operating system (``malloc_trim(0)``).

    Call it before measuring peak resident memory under :func:`steady_allocator`, whose heap
    otherwise keeps every page touched so far. Returns ``False`` where it cannot.
    """
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def _set(libc: ctypes.CDLL, settings: dict[int, int]) -> bool:
    # mallopt returns 1 on success, 0 on error; apply every setting even if one fails
    return all([libc.mallopt(option, value) == 1 for option, value in settings.items()])


@contextmanager
def steady_allocator(keep_bytes: int = 1 << 30) -> Iterator[bool]:
    """Serve every allocation from the heap and keep up to ``keep_bytes`` of freed memory.

    Parameters
    ----------
    keep_bytes : int
        Free memory at the top of the heap that ``malloc`` keeps instead of returning it
        (``M_TRIM_THRESHOLD``).

    Yields
    ------
    bool
        Whether the settings took effect (``False`` off glibc: then nothing changed).
    """
    # checked here, not with the library's helpers: importing the library would load torch,
    # scipy and their thread pools before the allocator settings a measurement depends on
    if isinstance(keep_bytes, bool) or not isinstance(keep_bytes, int):
        raise TypeError(f"keep_bytes must be an integer, got {type(keep_bytes).__name__}")
    if keep_bytes < 1:
        raise ValueError(f"keep_bytes must be >= 1, got {keep_bytes}")
    if keep_bytes >= 2**31:
        raise ValueError(f"keep_bytes must be below 2**31 (a C int), got {keep_bytes}")
    libc = _glibc()
    if libc is None:
        yield False
        return
    applied = _set(libc, {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: keep_bytes})
    try:
        yield applied
    finally:
        _set(libc, GLIBC_DEFAULTS)
        libc.malloc_trim(0)
