"""Atomic file writes: write to a temporary file in the same folder, then rename into place,
so a crash or a full disk never leaves a half-written file under the final name.

A writer killed between the two steps (``kill -9``, power loss) leaves its temporary file
behind. Temporary files are named ``<target name>.<8 random characters>.tmp`` and carry an
exclusive ``flock`` while they are written; :func:`remove_stale_temporaries` (called by every
write, and by the checkpoint loaders) deletes those of one target that no live writer holds,
and nothing else. Without ``fcntl`` (Windows) stale files are left alone.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

#: POSIX file locks; without them (Windows) stale temporary files cannot be told from live
#: ones and are left alone.
fcntl = importlib.import_module("fcntl") if importlib.util.find_spec("fcntl") else None

TEMP_SUFFIX = ".tmp"

#: ``tempfile.mkstemp``'s random part: 8 characters of this alphabet.
_RANDOM_PART = r"[a-z0-9_]{8}"


def temporary_pattern(path: str | os.PathLike) -> re.Pattern[str]:
    """The names :func:`atomic_write` gives its temporary files for ``path``."""
    return re.compile(re.escape(Path(path).name) + r"\." + _RANDOM_PART + re.escape(TEMP_SUFFIX))


def _try_lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; False if someone holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed :func:`atomic_write` of ``path`` left behind.

    Only files in ``path``'s folder named ``<name>.<8 characters>.tmp`` (our own pattern) are
    candidates, and of those only the ones no running writer holds locked. Returns the
    removed paths.
    """
    path = Path(path)
    if fcntl is None or not path.parent.is_dir():
        return []
    pattern = temporary_pattern(path)
    removed = []
    for candidate in sorted(path.parent.iterdir()):
        if not pattern.fullmatch(candidate.name) or not candidate.is_file():
            continue
        try:
            fd = os.open(candidate, os.O_RDONLY)
        except FileNotFoundError:  # its writer renamed it meanwhile
            continue
        try:
            if _try_lock(fd):  # no writer holds it: it is an orphan
                candidate.unlink(missing_ok=True)
                removed.append(candidate)
        finally:
            os.close(fd)
    return removed


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every system can open folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _locked_temporary(path: Path) -> tuple[int, int, str]:
    """A new temporary file for ``path``: (write fd, lock fd, name), the lock held.

    A cleaner may delete the file between its creation and our lock; then it is no longer
    linked under its name and we make another one.
    """
    while True:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=TEMP_SUFFIX, dir=path.parent)
        if fcntl is None:
            return fd, -1, tmp
        lock_fd = os.dup(fd)  # the lock lives until lock_fd closes, after the rename
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        try:
            linked = os.stat(tmp).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            linked = False
        if linked:
            return fd, lock_fd, tmp
        os.close(lock_fd)
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(handle)`` on a temporary binary file next to ``path``, flush it to disk,
    then rename it to ``path`` (creating parent folders); return the path.

    Temporary files that an earlier, killed write of ``path`` left behind are removed first
    (:func:`remove_stale_temporaries`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, lock_fd, tmp = _locked_temporary(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; these are ordinary data files
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        if lock_fd >= 0:
            os.close(lock_fd)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, creating parent folders; return the path."""
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    """``data`` as indented, key-sorted JSON with a final newline, written atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
