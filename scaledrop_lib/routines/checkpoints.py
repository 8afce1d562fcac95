"""Checkpoints: atomic save, checksummed all-or-nothing load, and the file hash the zoo
manifest records.

A checkpoint (format 2) is a ``torch.save`` dict ``{"format", "kind", "state_dict",
"metadata", "sha256"}`` whose ``sha256`` is :func:`content_sha256` of the state dict and the
metadata: every load recomputes it, so a flipped byte in the tensor data or the metadata is
refused even when the caller has no checksum of the file. The committed zoo files are format 1
(no embedded checksum); they load only with the file's SHA-256 from the manifest.

Training states (:func:`save_training_state`, used by ``fit(checkpoint=...)``) are the same
kind of file with ``kind = "training"``: model, optimiser, random generators and history.
"""

from __future__ import annotations

import hashlib
import numbers
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from scaledrop_lib._io import atomic_write, remove_stale_temporaries

CHECKPOINT_FORMAT = 2
#: Formats without an embedded checksum: they load only with ``sha256=`` (the zoo's files).
LEGACY_FORMATS = (1,)
MODEL_KIND = "model"
TRAINING_KIND = "training"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- content hash


def _sort_key(key: Any) -> tuple[str, str]:
    return type(key).__name__, repr(key)


def _feed(digest: Any, value: Any) -> None:
    """Add an unambiguous encoding of ``value`` (nested plain data and tensors) to ``digest``."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"T{tensor.dtype}{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(value, Mapping):
        digest.update(f"D{len(value)};".encode())
        for key in sorted(value, key=_sort_key):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"{'L' if isinstance(value, list) else 'U'}{len(value)};".encode())
        for item in value:
            _feed(digest, item)
    elif value is None:
        digest.update(b"N;")
    elif isinstance(value, bool):
        digest.update(b"B1;" if value else b"B0;")
    elif isinstance(value, int):
        digest.update(f"I{value};".encode())
    elif isinstance(value, float):
        digest.update(b"F" + struct.pack("<d", value))
    elif isinstance(value, (str, bytes)):
        data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
        digest.update(f"{'S' if isinstance(value, str) else 'Y'}{len(data)};".encode() + data)
    else:
        raise TypeError(f"cannot hash a {type(value).__name__} in a checkpoint")


def content_sha256(value: Any) -> str:
    """Hex SHA-256 of nested plain data and tensors (dtype, shape and bytes of each tensor;
    dict keys in a fixed order), the checksum stored inside every checkpoint."""
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- metadata


def plain_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """``metadata`` as the plain data a checkpoint stores, or ``TypeError`` naming the entry.

    Allowed: dicts with ``str`` keys, lists, tuples, ``str``, ``int``, ``float`` (NaN and inf
    included), ``bool`` and ``None``. Converted: numpy scalars to Python numbers, ``str``/
    ``int``/``float`` subclasses (enums such as ``DropoutKind``) to the plain type, and
    ``os.PathLike`` to ``str``. Refused: arrays, tensors and every other object, so that
    whatever :func:`save_checkpoint` accepts, :func:`load_checkpoint` reads back equal.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    return _plain(metadata, "metadata", set())


def _plain(value: Any, where: str, active: set[int]) -> Any:
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, numbers.Integral)) and not isinstance(value, np.ndarray):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, str):  # np.str_, str enums: the plain string
        return str.__str__(value)
    if isinstance(value, os.PathLike):
        path = os.fspath(value)
        if isinstance(path, str):
            return path
    if isinstance(value, (Mapping, list, tuple)):
        if id(value) in active:
            raise TypeError(f"{where} contains itself")
        active = active | {id(value)}
        if isinstance(value, Mapping):
            plain = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TypeError(
                        f"{where} has the key {key!r} of type {type(key).__name__}; "
                        "checkpoint metadata keys must be str"
                    )
                plain[str.__str__(key)] = _plain(item, f"{where}[{key!r}]", active)
            return plain
        items = [_plain(item, f"{where}[{i}]", active) for i, item in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    hint = " (use .tolist())" if isinstance(value, (np.ndarray, torch.Tensor)) else ""
    raise TypeError(
        f"{where} is a {type(value).__name__}{hint}; checkpoint metadata holds only dicts, "
        "lists, tuples, str, int, float, bool and None"
    )


# ----------------------------------------------------------------------------- files


def _save(path: str | os.PathLike, kind: str, body: dict[str, Any]) -> str:
    payload = {"format": CHECKPOINT_FORMAT, "kind": kind, **body}
    payload["sha256"] = content_sha256(body)
    atomic_write(path, lambda handle: torch.save(payload, handle))
    return file_sha256(path)


def _load(path: str | os.PathLike, kind: str, sha256: str | None) -> dict[str, Any]:
    """The verified payload of a checkpoint file of ``kind`` (see the module docstring)."""
    path = Path(path)
    remove_stale_temporaries(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"checkpoint {path} is empty (0 bytes): a write was cut short")
    if sha256 is not None:
        actual = file_sha256(path)
        if actual != sha256:
            raise ValueError(
                f"checkpoint {path} has sha256 {actual}, expected {sha256}: the file changed "
                "or is corrupt; regenerate it"
            )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for damaged files
        raise ValueError(f"checkpoint {path} is corrupt or not a checkpoint: {error}") from error
    if not isinstance(payload, dict):
        raise ValueError(f"checkpoint {path} is not a scaledrop checkpoint")
    version = payload.get("format")
    if version in LEGACY_FORMATS and kind == MODEL_KIND:
        if sha256 is None:
            raise ValueError(
                f"checkpoint {path} is in the old format {version}, which stores no checksum: "
                "pass its sha256 (the zoo's manifest records it) or save it again"
            )
        return payload
    if version != CHECKPOINT_FORMAT:
        raise ValueError(
            f"checkpoint {path} is not in scaledrop format {CHECKPOINT_FORMAT} (format {version!r})"
        )
    if payload.get("kind") != kind:
        raise ValueError(
            f"checkpoint {path} holds a {payload.get('kind')!r} state, not a {kind!r} state"
        )
    stored = payload.get("sha256")
    body = {k: v for k, v in payload.items() if k not in ("format", "kind", "sha256")}
    try:
        actual = content_sha256(body)
    except TypeError as error:
        raise ValueError(f"checkpoint {path} holds unexpected data: {error}") from error
    if stored != actual:
        raise ValueError(
            f"checkpoint {path} fails its checksum (stored {stored}, contents {actual}): "
            "the file is corrupt; regenerate it"
        )
    return payload


def save_checkpoint(
    model: nn.Module, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None
) -> str:
    """Write ``model``'s weights (and plain-data ``metadata``) atomically; return the SHA-256.

    The file is written to a temporary name in the same folder and renamed into place, so a
    crash never leaves a half-written checkpoint under ``path``. It stores the
    :func:`content_sha256` of weights and metadata, which every load checks.

    Parameters
    ----------
    model : nn.Module
        Its ``state_dict()`` is saved (on the CPU).
    path : str or os.PathLike
        Target file; parent folders are created.
    metadata : dict, optional
        Plain data (see :func:`plain_metadata`): numpy scalars and paths are converted,
        arrays and other objects refused.

    Returns
    -------
    str
        Hex SHA-256 of the written file (what the zoo's manifest records).

    Raises
    ------
    TypeError
        ``model`` is not a module, or ``metadata`` holds something else than plain data (the
        message names the entry, e.g. ``metadata['history'][2]``). Nothing is written.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    body = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": plain_metadata(metadata),
    }
    return _save(path, MODEL_KIND, body)


def load_checkpoint(
    model: nn.Module, path: str | os.PathLike, sha256: str | None = None
) -> dict[str, Any]:
    """Load weights saved by :func:`save_checkpoint` into ``model``; return the metadata.

    All or nothing: the file's checksum, keys, shapes and dtypes are checked before any
    weight is copied, and if copying still fails the model gets its old weights back.
    Loads with ``weights_only=True`` (no pickled code runs).

    Parameters
    ----------
    model : nn.Module
        Receives the weights (strict: the same keys, shapes and dtypes).
    path : str or os.PathLike
        The checkpoint file.
    sha256 : str, optional
        Expected SHA-256 of the whole file (the zoo's manifest). The embedded content
        checksum is verified either way; files of the old format 1 need this argument.

    Raises
    ------
    FileNotFoundError
        The file is missing.
    ValueError
        The file is empty, truncated, corrupt (either checksum differs), not a model
        checkpoint, or its tensors do not fit ``model``; ``model`` is unchanged.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    payload = _load(path, MODEL_KIND, sha256)
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} holds no state dict")
    metadata = payload.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ValueError(f"checkpoint {path} holds metadata of type {type(metadata).__name__}")
    load_state_all_or_nothing(model, state, f"checkpoint {path}")
    return metadata


def load_state_all_or_nothing(model: nn.Module, state: Mapping[str, Any], source: str) -> None:
    """``model.load_state_dict(state)`` that changes nothing unless every tensor fits.

    Keys, shapes and dtypes are checked first (``ValueError`` naming ``source`` and the
    tensor); if torch still fails part-way, the previous weights are put back.
    """
    check_state_fits(model, state, source)
    backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
    try:
        model.load_state_dict(state, strict=True)
    except Exception as error:
        # copy straight into the live tensors: a module whose loading failed may fail again
        with torch.no_grad():
            for key, tensor in model.state_dict().items():
                tensor.copy_(backup[key])
        raise ValueError(f"{source} does not fit the model: {error}") from error


def check_state_fits(model: nn.Module, state: Mapping[str, Any], source: str) -> None:
    """Raise ValueError unless ``state`` has exactly ``model``'s keys, shapes and dtypes
    (a floating-point tensor may load into another floating-point dtype)."""
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{source} does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for key, tensor in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor) or value.shape != tensor.shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(
                f"{source} does not match the model: {key} is {shape} in the file, "
                f"{tuple(tensor.shape)} in the model"
            )
        same_kind = value.dtype.is_floating_point and tensor.dtype.is_floating_point
        if value.dtype != tensor.dtype and not same_kind:
            raise ValueError(
                f"{source} does not match the model: {key} is {value.dtype} in the file, "
                f"{tensor.dtype} in the model"
            )


def save_training_state(path: str | os.PathLike, state: Mapping[str, Any]) -> str:
    """Write a resumable training state (nested plain data and tensors) atomically with its
    content checksum; return the file's SHA-256. :func:`load_training_state` reads it."""
    content_sha256(state)  # refuse what cannot be stored before writing anything
    return _save(path, TRAINING_KIND, {"state": dict(state)})


def load_training_state(path: str | os.PathLike) -> dict[str, Any]:
    """The state :func:`save_training_state` wrote, after checking its checksum.

    Raises ``FileNotFoundError`` if missing and ``ValueError`` if empty, truncated, corrupt
    or not a training state.
    """
    state = _load(path, TRAINING_KIND, None).get("state")
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} holds no training state")
    return state
