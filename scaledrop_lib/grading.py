"""Grading helpers for the course assignments (``assignments/``, graded with nbgrader).

An assignment asks students to write functions the library already has. Three helpers keep
the exercise honest:

- :func:`off_limits` replaces named library functions (and classes) with stubs that raise
  :class:`OffLimitsError` when a notebook calls them, in the defining module and in every
  ``scaledrop_lib`` namespace that re-exports them. The library's own code keeps working: a
  stub called from inside ``scaledrop_lib`` forwards to the original.
- :func:`library_reference` hands the original back to the (hidden) tests, which compare the
  student's function with it.
- :func:`check_own` asserts that a function is the student's own: defined in the notebook and
  calling nothing from ``scaledrop_lib``.

Nothing here imports another part of the package at module level (modules are looked up by
name when :func:`off_limits` runs), so this module sits at the top of the dependency order and
needs no plotting code.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

PACKAGE = "scaledrop_lib"

__all__ = ["OffLimitsError", "check_own", "library_reference", "off_limits"]


class OffLimitsError(RuntimeError):
    """Raised when a notebook calls a library function that an assignment put off limits."""


#: name given to off_limits -> the original object
_ORIGINALS: dict[str, Any] = {}
#: (module name, attribute) -> the original object it held before it was stubbed
_PATCHED: dict[tuple[str, str], Any] = {}


def _message(name: str) -> str:
    return (
        f"{name} is off limits in this assignment: write your own implementation "
        "instead of calling the library's."
    )


def _called_from_library(depth: int = 2) -> bool:
    """Whether the frame ``depth`` levels above this helper's caller runs library code."""
    caller = sys._getframe(depth).f_globals.get("__name__", "")
    return caller.startswith(PACKAGE + ".") and caller != __name__


def _function_stub(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def stub(*args: Any, **kwargs: Any) -> Any:
        if _called_from_library():
            return original(*args, **kwargs)
        raise OffLimitsError(_message(name))

    stub.__doc__ = _message(name)
    del stub.__wrapped__  # inspect.unwrap must not lead a student to the original
    stub.__off_limits_original__ = original  # type: ignore[attr-defined]
    return stub


class _OffLimitsMeta(type):
    """Metaclass of class stubs: calling, subclassing or reading attributes raises, but
    ``isinstance``/``issubclass`` and the library's own use still see the original class."""

    _off_limits_name: str
    __off_limits_original__: type

    def __new__(mcls, cls_name: str, bases: tuple[type, ...], namespace: dict[str, Any]):
        for base in bases:
            if isinstance(base, _OffLimitsMeta):
                raise OffLimitsError(_message(base._off_limits_name))
        return super().__new__(mcls, cls_name, bases, namespace)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if _called_from_library():
            return cls.__off_limits_original__(*args, **kwargs)
        raise OffLimitsError(_message(cls._off_limits_name))

    def __getattr__(cls, attr: str) -> Any:
        if attr.startswith("__") or _called_from_library():
            return getattr(cls.__off_limits_original__, attr)
        raise OffLimitsError(_message(cls._off_limits_name))

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls.__off_limits_original__)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls.__off_limits_original__)


def _class_stub(name: str, original: type) -> type:
    namespace = {
        "__doc__": _message(name),
        "__module__": original.__module__,
        "__qualname__": original.__qualname__,
        "_off_limits_name": name,
        "__off_limits_original__": original,
    }
    return _OffLimitsMeta(original.__name__, (), namespace)


def _resolve(name: str) -> tuple[str, str, Any] | None:
    """(module name, attribute, object) for a dotted ``scaledrop_lib`` path, or None."""
    if not isinstance(name, str) or not (name == PACKAGE or name.startswith(PACKAGE + ".")):
        return None
    module_name, _, attr = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    if not attr or not hasattr(module, attr):
        return None
    obj = getattr(module, attr)
    obj = getattr(obj, "__off_limits_original__", obj)  # already stubbed: the original
    if not (inspect.isfunction(obj) or inspect.isclass(obj) or callable(obj)):
        return None
    return module_name, attr, obj


def _library_modules() -> Iterator[tuple[str, types.ModuleType]]:
    for module_name, module in list(sys.modules.items()):
        if module is None or module_name == __name__:
            continue
        if module_name == PACKAGE or module_name.startswith(PACKAGE + "."):
            yield module_name, module


def off_limits(names: list[str]) -> None:
    """Put library functions or classes off limits for the rest of the session.

    Each name's attribute is replaced, in its defining module and in every imported
    ``scaledrop_lib`` module or package that binds the same object under the same name, by a
    stub that raises :class:`OffLimitsError` when called from outside the library. The
    originals stay available to the tests through :func:`library_reference`. Calling it again
    for the same name is harmless.

    Parameters
    ----------
    names : list of str
        Dotted paths such as ``"scaledrop_lib.metrics.ood.auroc"`` (a package path such as
        ``"scaledrop_lib.metrics.auroc"`` works too).

    Raises
    ------
    ValueError
        If a name does not resolve to a function or class of ``scaledrop_lib``; the message
        lists every such name, and nothing is patched.
    """
    if isinstance(names, str):
        raise TypeError("names must be a list of dotted paths, not one string")
    resolved = {name: _resolve(name) for name in names}
    unknown = [name for name, found in resolved.items() if found is None]
    if unknown:
        raise ValueError(
            f"unknown library names for off_limits: {', '.join(map(str, unknown))} "
            "(expected dotted paths such as 'scaledrop_lib.metrics.ood.auroc')"
        )
    for name, found in resolved.items():
        assert found is not None
        _, attr, original = found
        _ORIGINALS[name] = original
        canonical = f"{original.__module__}.{original.__qualname__}"
        _ORIGINALS.setdefault(canonical, original)
        if inspect.isclass(original):
            stub: Any = _class_stub(name, original)
        else:
            stub = _function_stub(name, original)
        for module_name, module in _library_modules():
            current = module.__dict__.get(attr)
            if current is original or getattr(current, "__off_limits_original__", None) is (
                original
            ):
                _PATCHED.setdefault((module_name, attr), original)
                setattr(module, attr, stub)


def library_reference(name: str) -> Any:
    """The original library object behind a name passed to :func:`off_limits`.

    Parameters
    ----------
    name : str
        The dotted path exactly as given to :func:`off_limits` (or the defining module's
        path of the same object).

    Raises
    ------
    ValueError
        If ``name`` was never put off limits.
    """
    try:
        return _ORIGINALS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"{name!r} was not put off limits; library_reference only returns names passed to "
            "off_limits"
        ) from None


def _restore() -> None:
    """Undo every :func:`off_limits` (for the library's own tests; not for notebooks)."""
    for (module_name, attr), original in _PATCHED.items():
        module = sys.modules.get(module_name)
        if module is not None:
            setattr(module, attr, original)
    _PATCHED.clear()
    _ORIGINALS.clear()


def _is_library(obj: Any) -> bool:
    """Whether ``obj`` is a library module, or a function, class or instance of the library."""
    if isinstance(obj, types.ModuleType):
        name = obj.__name__
    else:
        name = getattr(obj, "__module__", None)
        if not isinstance(name, str):
            name = getattr(type(obj), "__module__", "")
    return isinstance(name, str) and (name == PACKAGE or name.startswith(PACKAGE + "."))


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _functions_of(obj: Any) -> list[types.FunctionType]:
    """The Python functions that make up ``obj``: itself, or a class's methods."""
    if inspect.isfunction(obj):
        return [obj]
    found = []
    for value in vars(obj).values():
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, property):
            found += [f for f in (value.fget, value.fset, value.fdel) if inspect.isfunction(f)]
        elif inspect.isfunction(value):
            found.append(value)
    return found


def _library_uses(func: types.FunctionType, seen: set[int]) -> list[str]:
    """Names in ``func`` (and the notebook functions it calls) bound to library objects."""
    if id(func) in seen:
        return []
    seen.add(id(func))
    hits: list[str] = []
    bound: dict[str, Any] = {}
    for code in _code_objects(func.__code__):
        for name in code.co_names:
            if name in func.__globals__:
                bound[name] = func.__globals__[name]
        for const in code.co_consts:
            if isinstance(const, str) and const.startswith(PACKAGE):
                hits.append(repr(const))
    for name, cell in zip(func.__code__.co_freevars, func.__closure__ or (), strict=False):
        try:
            bound[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    defaults = list(func.__defaults__ or ()) + list((func.__kwdefaults__ or {}).values())
    bound.update({f"<default {i}>": value for i, value in enumerate(defaults)})
    for name, value in bound.items():
        if _is_library(value):
            hits.append(name)
        elif getattr(value, "__module__", None) == "__main__" and (
            inspect.isfunction(value) or inspect.isclass(value)
        ):
            for inner in _functions_of(value):
                hits += _library_uses(inner, seen)
    return hits


def check_own(func: Any, name: str | None = None) -> None:
    """Assert that ``func`` is the student's own work.

    It must be a function or class defined in the notebook (``__module__ == "__main__"``)
    whose code, including nested functions, methods and the notebook functions it calls,
    refers to nothing from ``scaledrop_lib`` (no library function, class or module bound to a
    name it uses, captured in a closure or given as a default).

    Parameters
    ----------
    func : callable
        The student's implementation.
    name : str, optional
        How to call it in messages (default: its ``__name__``).

    Raises
    ------
    AssertionError
        With a message saying what is wrong.
    """
    label = name or getattr(func, "__name__", repr(func))
    if not (inspect.isfunction(func) or inspect.isclass(func)):
        raise AssertionError(
            f"{label} must be a function or class you define in this notebook, "
            f"got a {type(func).__name__}"
        )
    if func.__module__ != "__main__":
        raise AssertionError(
            f"{label} comes from the module {func.__module__!r}, not from this notebook: "
            "define it yourself in the solution cell"
        )
    if inspect.isclass(func):
        borrowed = [c.__qualname__ for c in func.__mro__[1:] if _is_library(c)]
        if borrowed:
            raise AssertionError(
                f"{label} inherits from the library ({', '.join(borrowed)}): write your own"
            )
    seen: set[int] = set()
    hits = [hit for f in _functions_of(func) for hit in _library_uses(f, seen)]
    if hits:
        names = ", ".join(sorted(set(hits)))
        raise AssertionError(
            f"{label} uses scaledrop_lib ({names}): the graded function must be your own "
            "code, calling no library function"
        )
