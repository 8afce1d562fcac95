"""Checkpoints: atomic save, checksummed load, and the file hash the zoo manifest records."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from scaledrop_lib._io import atomic_write

CHECKPOINT_FORMAT = 1


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(
    model: nn.Module, path: str | os.PathLike, metadata: dict[str, Any] | None = None
) -> str:
    """Write ``model``'s weights (and plain-data ``metadata``) atomically; return the SHA-256.

    The file is written to a temporary name in the same folder and renamed into place, so a
    crash never leaves a half-written checkpoint under ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": dict(metadata or {}),
    }
    atomic_write(path, lambda handle: torch.save(payload, handle))
    return file_sha256(path)


def load_checkpoint(
    model: nn.Module, path: str | os.PathLike, sha256: str | None = None
) -> dict[str, Any]:
    """Load weights saved by :func:`save_checkpoint` into ``model``; return the metadata.

    Loads with ``weights_only=True`` (no pickled code runs). Raises ``ValueError`` with the
    reason if the checksum differs from ``sha256``, the file is not a readable checkpoint, or
    its tensors do not fit ``model``; ``FileNotFoundError`` if it is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
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
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {path} is not in scaledrop format {CHECKPOINT_FORMAT}")
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} holds no state dict")
    _check_fits(model, state, path)  # all or nothing: torch would copy tensors until one fails
    model.load_state_dict(state, strict=True)
    return payload["metadata"]


def _check_fits(model: nn.Module, state: dict[str, Any], path: Path) -> None:
    """Raise ValueError unless ``state`` has exactly ``model``'s keys, shapes and dtypes."""
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"checkpoint {path} does not match the model: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    for key, tensor in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor) or value.shape != tensor.shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(
                f"checkpoint {path} does not match the model: {key} is {shape} in the file, "
                f"{tuple(tensor.shape)} in the model"
            )
