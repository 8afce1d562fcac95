"""Progress bars that read well everywhere the book's code runs.

Plain-text tqdm bars, redrawn in place (carriage returns). In a Jupyter kernel they go to
stdout (JupyterLab shows stderr in red boxes); in a terminal to stderr, away from a command's
results. ``tqdm.auto`` would draw ipywidgets, which are blank in the static book.

Stored notebook outputs carry no bars: ``make notebooks``, ``make book`` and nbval run with
``SCALEDROP_PROGRESS=0`` (:data:`PROGRESS_ENV`), which turns every bar off, so only a live
reader (JupyterLab, a terminal) sees them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.std import tqdm

T = TypeVar("T")

# Compact bar without the rate, whose value changes from run to run; the elapsed time
# in brackets is the only timing part (sanitised by nbval, see notebooks/nbval.cfg).
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} [{elapsed}]{postfix}"


#: Environment variable that turns every progress bar off when set to 0, off, false or no.
PROGRESS_ENV = "SCALEDROP_PROGRESS"


def progress_enabled() -> bool:
    """Whether bars are allowed at all (see :data:`PROGRESS_ENV`)."""
    return os.environ.get(PROGRESS_ENV, "1").strip().lower() not in ("0", "off", "false", "no")


def _in_kernel() -> bool:
    """Whether this code runs in a Jupyter kernel (JupyterLab, nbconvert, nbval)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and hasattr(shell, "kernel")


def progress(
    iterable: Iterable[T],
    *,
    desc: str,
    total: int | None = None,
    enabled: bool = True,
    **kwargs: Any,
) -> tqdm:
    """Wrap ``iterable`` in a text progress bar (ASCII, redrawn at most every 0.5 s; stdout in a
    Jupyter kernel, stderr elsewhere; off everywhere when :data:`PROGRESS_ENV` says so).

    Parameters
    ----------
    iterable : iterable
        What to iterate over.
    desc : str
        Label shown before the bar.
    total : int, optional
        Number of items when ``len(iterable)`` is not available.
    enabled : bool
        ``False`` hides the bar (for nested or library-internal loops); :data:`PROGRESS_ENV`
        can only turn it off, never on.
    **kwargs
        Passed to :class:`tqdm.std.tqdm` (e.g. ``leave=False``).
    """
    options: dict[str, Any] = {
        "desc": desc,
        "total": total,
        "file": sys.stdout if _in_kernel() else sys.stderr,
        "ascii": True,
        "mininterval": 0.5,
        "bar_format": BAR_FORMAT,
        "disable": not (enabled and progress_enabled()),
        "dynamic_ncols": False,
        "ncols": 80,
    }
    options.update(kwargs)
    return tqdm(iterable, **options)
