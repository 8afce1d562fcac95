"""Memory budget of Monte-Carlo inference: refuse a request before it exhausts memory."""

from __future__ import annotations

import numpy as np
import torch

#: Monte-Carlo inference refuses to allocate more than this for one request.
MAX_SAMPLE_BYTES = 8 * 2**30


def check_budget(needed_bytes: float, what: str) -> None:
    """Raise ValueError if ``needed_bytes`` exceed :data:`MAX_SAMPLE_BYTES`, saying for what."""
    if needed_bytes > MAX_SAMPLE_BYTES:
        raise ValueError(
            f"{what} need {needed_bytes / 2**30:,.1f} GiB (limit "
            f"{MAX_SAMPLE_BYTES / 2**30:.0f} GiB): lower T or split the inputs"
        )


def check_sample_memory(T: int, one_pass: torch.Tensor, total_rows: int | None = None) -> None:
    """Raise if T passes shaped like ``one_pass`` would exceed :data:`MAX_SAMPLE_BYTES`.

    Called after the first pass, before the other T - 1 (and before the prefix engine stacks
    its T results), so an impossible request fails fast instead of exhausting memory.
    ``total_rows``: the rows of the whole result when ``one_pass`` is its first chunk.
    """
    shape = tuple(one_pass.shape)
    if total_rows is not None and one_pass.dim() > 0:
        shape = (total_rows, *shape[1:])
    needed = T * int(np.prod(shape)) * one_pass.element_size()
    check_budget(needed, f"T = {T:,} passes of shape {shape}")
