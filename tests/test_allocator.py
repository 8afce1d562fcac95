"""steady_allocator keeps freed memory mapped (so timings skip page faults) and restores
glibc's behaviour on exit; elsewhere it is a no-op that says so."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import allocator  # benchmarks/allocator.py (pytest puts benchmarks/ on sys.path)
import pytest
from allocator import allocator_tunable, release_free_memory, steady_allocator

BENCHMARKS = Path(allocator.__file__).parent

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def test_tunable_exactly_on_glibc():
    assert allocator_tunable() == GLIBC


# run in a fresh interpreter: malloc's state is process-wide, and a heap fragmented by other
# tests may serve a large block from a free chunk instead of a fresh mmap
RSS_SCRIPT = """
import psutil, torch
from allocator import release_free_memory, steady_allocator

MB = 2**20
rss = lambda: psutil.Process().memory_info().rss


def kept_after_free(size_mb=96):
    release_free_memory()
    before = rss()
    block = torch.ones(size_mb * MB // 4)  # ones: every page is touched
    del block
    return (rss() - before) // MB


outside = kept_after_free()
with steady_allocator() as applied:
    inside = kept_after_free()
    block = torch.ones(96 * MB // 4)
    del block
    before = rss()
    trimmed = release_free_memory()
    released = (before - rss()) // MB
after = kept_after_free()
print(outside, applied, inside, trimmed, released, after)
"""


@pytest.mark.skipif(not GLIBC, reason="mallopt/malloc_trim exist only in glibc")
def test_freed_memory_is_kept_inside_and_returned_outside():
    result = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(BENCHMARKS)},
    )
    outside, applied, inside, trimmed, released, after = result.stdout.split()
    assert int(outside) < 16  # glibc's default: a 96 MB block is mmap-ed, unmapped on free
    assert applied == "True"
    assert int(inside) > 80  # heap memory stays mapped for reuse ...
    assert trimmed == "True"
    assert int(released) > 80  # ... until it is trimmed
    assert int(after) < 16  # defaults restored


def test_no_op_without_glibc(monkeypatch):
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    assert not allocator_tunable()
    assert not release_free_memory()
    with steady_allocator() as applied:
        assert applied is False


def test_keep_bytes_is_validated():
    with pytest.raises(ValueError, match="keep_bytes"):
        with steady_allocator(0):
            pass
    with pytest.raises(ValueError, match="keep_bytes must be below"):
        with steady_allocator(2**31):
            pass
    with pytest.raises(TypeError, match="keep_bytes"):
        with steady_allocator(1.5):
            pass
