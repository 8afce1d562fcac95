"""Progress bars that read well everywhere the book's code runs.

Plain-text tqdm bars on stderr: JupyterLab redraws them in place (carriage returns), and the
book build, nbval and CI logs keep only the final line once the ``\\r`` updates are merged.
``tqdm.auto`` would draw ipywidgets, which are blank in the static book.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.std import tqdm

T = TypeVar("T")

# Compact bar without the rate, whose value changes from run to run; the elapsed time
# in brackets is the only timing part (sanitised by nbval, see notebooks/nbval.cfg).
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} [{elapsed}]{postfix}"


def progress(
    iterable: Iterable[T],
    *,
    desc: str,
    total: int | None = None,
    enabled: bool = True,
    **kwargs: Any,
) -> tqdm:
    """Wrap ``iterable`` in a text progress bar (stderr, ASCII, redrawn at most every 0.5 s).

    Parameters
    ----------
    iterable : iterable
        What to iterate over.
    desc : str
        Label shown before the bar.
    total : int, optional
        Number of items when ``len(iterable)`` is not available.
    enabled : bool
        ``False`` hides the bar (for nested or library-internal loops).
    **kwargs
        Passed to :class:`tqdm.std.tqdm` (e.g. ``leave=False``).
    """
    options: dict[str, Any] = {
        "desc": desc,
        "total": total,
        "file": sys.stderr,
        "ascii": True,
        "mininterval": 0.5,
        "bar_format": BAR_FORMAT,
        "disable": not enabled,
        "dynamic_ncols": False,
        "ncols": 80,
    }
    options.update(kwargs)
    return tqdm(iterable, **options)
