"""Resumable training: what ``fit`` saves and checks to continue an interrupted run.

Every random generator training draws from (torch's, CUDA's, numpy's and Python's global ones,
each dropout module's own, the data loaders'), and a fingerprint of the configuration (model
structure, loader settings, tensor data) that a resumed run must match.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from scaledrop_lib.layers.sampling import stochastic_modules
from scaledrop_lib.routines.checkpoints import content_sha256


def loader_generators(loader: Iterable) -> list[torch.Generator]:
    """The distinct torch generators a DataLoader draws from (its own, its sampler's)."""
    sampler = getattr(loader, "sampler", None)
    batch_sampler = getattr(loader, "batch_sampler", None)
    candidates = (
        getattr(loader, "generator", None),
        getattr(sampler, "generator", None),
        getattr(getattr(batch_sampler, "sampler", None), "generator", None),
    )
    found: list[torch.Generator] = []
    for generator in candidates:
        if isinstance(generator, torch.Generator) and all(generator is not g for g in found):
            found.append(generator)
    return found


def loader_batches(loader: Iterable) -> int | None:
    """``len(loader)``, or None where a loader cannot know it before it is iterated."""
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:  # an iterable dataset or a generator: unknown until iterated
        return None


def check_yields(name: str, loader: Iterable) -> None:
    """Refuse a loader that will yield no batch, before any training happens."""
    batches = loader_batches(loader)
    if batches == 0:
        dataset = getattr(loader, "dataset", None)
        size = len(dataset) if hasattr(dataset, "__len__") else "?"
        raise ValueError(
            f"{name} yields no batches (its dataset holds {size} examples, batch_size "
            f"{getattr(loader, 'batch_size', '?')}, drop_last {getattr(loader, 'drop_last', '?')})"
            ": check the data split"
        )


def loader_signature(loader: Iterable) -> dict[str, Any]:
    """What a resumed run's loader must share with the original: type, dataset type and
    size, batch size, ``drop_last``, sampler, number of generators, batch count, and the
    SHA-256 of a ``TensorDataset``'s tensors (other datasets are compared by size only)."""
    signature: dict[str, Any] = {"type": type(loader).__qualname__}
    if isinstance(loader, DataLoader):
        dataset = loader.dataset
        signature.update(
            dataset=type(dataset).__qualname__,
            batch_size=loader.batch_size,
            drop_last=loader.drop_last,
            sampler=type(loader.sampler).__qualname__,
            generators=len(loader_generators(loader)),
        )
        if hasattr(dataset, "__len__"):
            signature["examples"] = len(dataset)
        if isinstance(dataset, TensorDataset):
            signature["data_sha256"] = content_sha256(list(dataset.tensors))
    signature["batches"] = loader_batches(loader)
    return signature


def model_signature(model: nn.Module) -> dict[str, Any]:
    """The model's structure: module names and classes, state shapes and dtypes, dropout p."""
    return {
        "modules": [[name, type(m).__qualname__] for name, m in model.named_modules()],
        "state": [[k, list(v.shape), str(v.dtype)] for k, v in model.state_dict().items()],
        "dropout_p": [[name, float(m.p)] for name, m in stochastic_modules(model)],
    }


def _generator_state(generator: torch.Generator | None) -> dict[str, Any] | None:
    if generator is None:
        return None
    return {"device": str(generator.device), "state": generator.get_state()}


def _make_generator(saved: dict[str, Any] | None) -> torch.Generator | None:
    if saved is None:
        return None
    generator = torch.Generator(device=saved["device"])
    generator.set_state(saved["state"])
    return generator


def rng_state(model: nn.Module, loaders: list[Iterable], cuda: bool) -> dict[str, Any]:
    """Every random generator training draws from, so a resumed run repeats the same draws."""
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if cuda else None,
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": [version, list(internal), gauss],
        "dropout": [_generator_state(m.generator) for _, m in stochastic_modules(model)],
        "loaders": [g.get_state() for loader in loaders for g in loader_generators(loader)],
    }


def set_rng_state(state: dict[str, Any], model: nn.Module, loaders: list[Iterable]) -> None:
    """Put back what :func:`rng_state` recorded: the global generators, each dropout module's
    generator (a fresh one, or none), and the loaders' generators in place."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None:
        torch.cuda.set_rng_state_all(state["cuda"])
    saved = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            saved["name"],
            saved["keys"].numpy().astype(np.uint32),
            saved["pos"],
            saved["has_gauss"],
            saved["cached_gaussian"],
        )
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    for (_, module), generator in zip(stochastic_modules(model), state["dropout"], strict=True):
        module.generator = _make_generator(generator)
    generators = [g for loader in loaders for g in loader_generators(loader)]
    for generator, saved_state in zip(generators, state["loaders"], strict=True):
        generator.set_state(saved_state)


def resume_source(resume: bool | str | os.PathLike, checkpoint: Path | None) -> Path | None:
    """The file to resume from: ``resume`` itself, or ``checkpoint`` if ``resume`` is True and
    that file exists (a first run then starts from scratch)."""
    if resume is True:
        if checkpoint is None:
            raise ValueError("resume=True needs checkpoint=<path> to resume from")
        return checkpoint if checkpoint.exists() else None
    if resume is False or resume is None:
        return None
    if isinstance(resume, (str, os.PathLike)):
        return Path(resume)
    raise TypeError(f"resume must be a bool or a path, got {type(resume).__name__}")


def config_differences(saved: Any, current: dict[str, Any]) -> list[str]:
    """The top-level configuration entries in which ``saved`` and ``current`` differ."""
    if not isinstance(saved, dict):
        return ["everything"]
    keys = sorted(set(saved) | set(current))
    return [k for k in keys if content_sha256(saved.get(k)) != content_sha256(current.get(k))]
