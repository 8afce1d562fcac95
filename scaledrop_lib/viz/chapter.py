"""The first call of every chapter: seeds, threads and the book's figure style in one line."""

from __future__ import annotations

import torch

from scaledrop_lib._checks import check_positive_int
from scaledrop_lib.routines.train import seed_everything
from scaledrop_lib.viz.plotting import use_book_style


def chapter_setup(seed: int = 0, *, threads: int | None = None) -> None:
    """Seed Python's, numpy's and torch's generators, optionally fix torch's CPU threads, and
    make plotly use the book's style and its small JSON output.

    Parameters
    ----------
    seed : int
        Seed of every global generator (:func:`~scaledrop_lib.routines.train.seed_everything`).
        The library's dropout modules draw from their own generators
        (:func:`~scaledrop_lib.layers.sampling.seed_dropout`).
    threads : int, optional
        ``torch.set_num_threads(threads)``; default: leave torch's choice (one per core).
        Float sums can differ in their last digits between thread counts.
    """
    seed_everything(check_positive_int("seed", seed, minimum=0))
    if threads is not None:
        torch.set_num_threads(check_positive_int("threads", threads))
    use_book_style()
