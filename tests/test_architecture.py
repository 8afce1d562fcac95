"""The package's shape: dependencies point one way, the core needs no plotting stack, and every
internal import is visible at the top of its module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "scaledrop_lib"

#: Rank of every top-level part: a module may import parts of a strictly lower rank, or
#: modules of its own subpackage. ``viz`` is the only part allowed to import plotly/ipywidgets;
#: ``experiments`` (the command) loads them through ``viz``, so it is not core either.
RANKS = {
    "_checks": 0,
    "_io": 0,
    "progress": 0,
    "paper": 0,
    "tables": 0,
    "kinds": 0,
    "layers": 1,
    "metrics": 1,
    "data": 1,
    "models": 2,
    "inference": 3,
    "hardware": 3,
    "routines": 4,
    "studies": 5,
    "viz": 6,
    "grading": 7,
    "experiments": 8,  # the scaledrop command: writes viz's figures, so it sits above viz
}
#: Third-party packages that may be imported inside a function: optional or slow to import,
#: and needed by one function each (the loaders, the bundled photos, scipy's special cases);
#: fcntl (stdlib, POSIX only) locks temporary files where the platform has it.
LAZY_ALLOWED = {"scipy", "torchvision", "sklearn", "skimage", "PIL", "docutils", "fcntl"}
#: numba (the optional [fast] extra) compiles inference.xnor's kernels, and llvmlite (numba's
#: own dependency) reports the CPU's popcount features there: the package imports without them.
LAZY_ALLOWED |= {"numba", "llvmlite"}
BOOK_ONLY = ("plotly", "ipywidgets")
#: Parts that load plotly: viz itself, and the command above it that writes its figures.
NOT_CORE = ("viz", "experiments")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def part(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def internal_imports(path: Path) -> list[tuple[str, bool]]:
    """(imported scaledrop_lib module, at module level?) for every import in ``path``."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                targets.append(sub if sub in MODULES else node.module)
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        for target in targets:
            if target.split(".")[0] == "scaledrop_lib":
                found.append((target, id(node) in top))
    return found


def test_every_internal_import_is_at_module_level():
    hidden = [
        f"{name} imports {target} inside a function"
        for name, path in MODULES.items()
        for target, at_top in internal_imports(path)
        if not at_top
    ]
    assert hidden == []


def test_lazy_third_party_imports_are_the_documented_ones():
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
                root = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                root = root.split(".")[0]
                if root != "scaledrop_lib":
                    assert root in LAZY_ALLOWED, f"{name} imports {root} inside a function"


def test_implementation_modules_never_import_a_package_init():
    # re-exports are for users; inside the package every import names the defining module
    packages = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    for name, path in MODULES.items():
        if path.name == "__init__.py":
            continue
        for target, _ in internal_imports(path):
            assert target not in packages, f"{name} imports the package {target}"


def dependency_graph() -> dict[str, set[str]]:
    return {
        name: {target for target, _ in internal_imports(path) if target in MODULES}
        for name, path in MODULES.items()
        if path.name != "__init__.py"
    }


def test_no_import_cycles():
    graph = dependency_graph()
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert cycles == []


def test_a_cycle_would_be_found(monkeypatch):
    # the detector itself can fail: a two-module cycle is reported
    fake = {"a": {"b"}, "b": {"a"}}
    monkeypatch.setattr(sys.modules[__name__], "dependency_graph", lambda: fake)
    with pytest.raises(AssertionError):
        test_no_import_cycles()


def test_dependencies_point_down_the_layers():
    assert set(RANKS) == {part(name) for name in MODULES if part(name)} - {"checkpoints"}
    upward = [
        f"{name} -> {target}"
        for name, targets in dependency_graph().items()
        for target in targets
        if part(target) != part(name) and RANKS[part(target)] >= RANKS[part(name)]
    ]
    assert upward == []


def test_core_imports_without_plotly_or_ipywidgets():
    core = sorted(name for name in MODULES if part(name) not in NOT_CORE)
    script = (
        "import importlib, sys\n"
        f"for name in {core!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {BOOK_ONLY!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout


def test_viz_is_the_part_that_loads_plotly():
    # the check above can fail: importing viz does load plotly
    script = "import sys, scaledrop_lib.viz; print('plotly' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "True"
