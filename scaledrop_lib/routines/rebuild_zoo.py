"""The command that retrains the zoo: ``python -m scaledrop_lib.routines.rebuild_zoo [names]``.

A module of its own, so that running it does not re-import :mod:`~scaledrop_lib.routines.zoo`,
which the package already imports for :func:`~scaledrop_lib.routines.zoo.load_pretrained`.
"""

from __future__ import annotations

import argparse

from scaledrop_lib.routines.zoo import RECIPES, TASKS, build, get_recipe, recipes_of_task


def main(argv: list[str] | None = None) -> None:
    """Retrain the named recipes (default: all) and rewrite the manifest."""
    parser = argparse.ArgumentParser(
        prog="python -m scaledrop_lib.routines.rebuild_zoo",
        description="Retrain the book's pretrained checkpoints.",
    )
    parser.add_argument(
        "names", nargs="*", help=f"recipes to build (default: all of {len(RECIPES)})"
    )
    parser.add_argument(
        "--task",
        choices=TASKS,
        help="build every recipe that trains on this data (added to the names)",
    )
    args = parser.parse_args(argv)
    for name in args.names:
        get_recipe(name)  # an unknown name fails before any training starts
    names = list(args.names) + (recipes_of_task(args.task) if args.task else [])
    build(names or None)


if __name__ == "__main__":
    main()
