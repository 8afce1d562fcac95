"""Sphinx extension for the book's API reference: one directive documents a whole package.

``.. api-package:: scaledrop_lib.metrics`` (in an ``.rst`` page) renders the package's docstring,
then one section per public module of the package (``automodule`` with ``:members:``), found on
disk at build time: a module added to the package appears in the book without editing any page.
Modules follow the order of the package docstring's "Modules" section, then the alphabet; names
starting with ``_`` are private and skipped. Each object is documented once, where it is
defined: autodoc skips the names a module imports, and a package page shows no members, so
the re-exports in ``__all__`` make no duplicates.

Subpackages get their own page (their own directive). Two checks keep the pages complete:

* a page is read again when its package gains or loses a module (incremental builds);
* a public subpackage of a documented package that no page documents is a warning (fatal under
  ``--warningiserror``), naming the page to add.

And four small fixes keep ``--nitpick`` quiet without hiding a broken link of ours: a reference
by a re-exported or unqualified name is resolved to where the object is defined; a private base
class in "Bases:" gives way to its own bases; an attribute docstring's first line is not read
as a type; tuple types such as ``(int, int)`` stay text. Long constant values are shortened,
and an Enum's signature is left out.

Wired up in ``_config.yml`` under ``sphinx: local_extensions``.
"""

from __future__ import annotations

import enum
import importlib
import pkgutil
from types import ModuleType
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)

SECTION = ["Modules", "-------"]  # the docstring section that maps a package's modules
ENV_KEY = "api_package_modules"  # the env attribute that _pages() keeps
MAX_VALUE = 160  # characters of a constant's value shown after its name
_stash: dict[str, list[str]] = {}  # attribute docstrings as written, while napoleon runs


def _listed(doc: str | None) -> list[str]:
    """Names in the first column of a docstring's "Modules" section, in order."""
    lines = (doc or "").splitlines()
    for i in range(len(lines) - 1):
        if [lines[i].strip(), lines[i + 1].strip()] == SECTION:
            names = []
            for line in lines[i + 2 :]:
                if not line.strip():
                    break
                if not line[0].isspace():  # an indented line continues a description
                    names.append(line.split()[0])
            return names
    return []


def _pages(env: BuildEnvironment) -> dict[str, dict[str, tuple[str, ...]]]:
    """{docname: {package: (module, ...)}}: what each API page documents, kept in the env."""
    if not hasattr(env, ENV_KEY):
        setattr(env, ENV_KEY, {})
    return getattr(env, ENV_KEY)


def public_submodules(package: ModuleType) -> list[tuple[str, bool]]:
    """(dotted name, is a package) of each public module directly inside ``package``."""
    found = {
        info.name: info.ispkg
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    }
    listed = [name for name in _listed(package.__doc__) if name in found]
    order = listed + sorted(set(found) - set(listed))
    return [(f"{package.__name__}.{name}", found[name]) for name in order]


class ApiPackage(SphinxDirective):
    """``.. api-package:: NAME``: the package's docstring, then each of its public modules."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[Any]:
        name = self.arguments[0]
        try:
            package = importlib.import_module(name)
        except Exception as exc:  # the page says why, the build fails under -W
            raise self.error(f"api-package: cannot import {name}: {exc!r}") from exc
        if not hasattr(package, "__path__"):
            raise self.error(f"api-package: {name} is a module, not a package")
        modules = [mod for mod, ispkg in public_submodules(package) if not ispkg]
        _pages(self.env).setdefault(self.env.docname, {})[name] = tuple(modules)

        # Package docstring only: its members are re-exports, documented in their modules.
        lines = [f".. automodule:: {name}", ""]
        for module in modules:
            title = f"``{module}``"
            lines += [title, "-" * len(title), ""]
            lines += [f".. automodule:: {module}", "   :members:", "   :show-inheritance:", ""]
        source, line = self.get_source_info()
        content = StringList(lines, items=[(source, line)] * len(lines))
        node = nodes.section()  # a holder: its sections become sections of the page
        node.document = self.state.document
        nested_parse_with_titles(self.state, content, node)
        return node.children


def link_module_section(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Turn a package docstring's "Modules" section (plain columns) into a list of links.

    As written, the section would be an RST title followed by paragraphs mangled by the column
    layout; the plain text stays as it is for ``help()`` and the tests that read it.
    """
    if what != "module" or not hasattr(obj, "__path__"):
        return
    for i in range(len(lines) - 1):
        if [lines[i].strip(), lines[i + 1].strip()] == SECTION:
            break
    else:
        return
    end = i + 2
    entries: list[list[str]] = []
    while end < len(lines) and lines[end].strip():
        text = lines[end]
        if text[0].isspace() and entries:
            entries[-1][1] += " " + text.strip()
        else:
            first, _, rest = text.partition(" ")
            entries.append([first, rest.strip()])
        end += 1
    known = {mod.rsplit(".", 1)[1] for mod, _ in public_submodules(obj)}
    block = [".. rubric:: Modules", ""]
    for short, description in entries:
        label = f":mod:`{short} <{name}.{short}>`" if short in known else f"``{short}``"
        block.append(f"* {label}: {description}")
    lines[i:end] = [*block, ""]


def _inline_type_risk(what: str, lines: list[str]) -> bool:
    return what in ("attribute", "data", "property") and bool(lines) and ":" in lines[0]


def stash_attribute_docstring(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Before napoleon: keep the text of an attribute docstring whose first line has a colon."""
    if _inline_type_risk(what, lines):
        _stash[name] = list(lines)


def restore_attribute_docstring(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """After napoleon: put that text back, so its first line is not read as ``type: text``.

    napoleon takes the part of an attribute docstring's first line before a colon as its type
    (Google style); in these NumPy-style docstrings "Table VII: energy of ..." is prose, and
    "Table VII" would become a broken type link.
    """
    original = _stash.pop(name, None)
    if original is not None:
        lines[:] = original


def _public_bases(bases: list | tuple) -> list:
    public: list = []
    for base in bases:
        private = getattr(base, "__name__", "").startswith("_")
        for cls in _public_bases(getattr(base, "__bases__", ())) if private else [base]:
            if cls not in public:
                public.append(cls)
    return public


def drop_private_bases(app: Sphinx, name: str, obj: Any, options: Any, bases: list) -> None:
    """In "Bases:", a private class (``_Mixin``, no entry to link to) gives way to its bases."""
    public = _public_bases(bases)
    bases[:] = [base for base in public if base is not object] if len(public) > 1 else public


def hide_enum_signature(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, signature: str, annotation: str
) -> tuple[str, None] | None:
    """An Enum is not called to make one: show ``Method``, not ``Method(value, names=None)``."""
    if what == "class" and isinstance(obj, type) and issubclass(obj, enum.Enum):
        return "", None
    return None


def _canonical(target: str) -> str | None:
    """Where the object named ``target`` is defined: ``pkg.name`` -> ``pkg.module.name``."""
    parts = target.split(".")
    for i in range(len(parts), 0, -1):  # the longest importable module prefix
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except Exception:  # not a module (or a module that does not import): try shorter
            continue
        name = obj.__name__
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return None
            obj = getattr(obj, attr)
            module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
            if isinstance(module, str) and isinstance(qualname, str):
                name = f"{module}.{qualname}"
            else:
                name = f"{name}.{attr}"
        return name
    return None


def resolve_own_names(app: Sphinx, env: BuildEnvironment, node: Any, contnode: Any) -> Any:
    """Resolve a reference to one of our objects by a name other than where it is documented.

    Two cases, both unambiguous: a re-export (``scaledrop_lib.metrics.auroc`` is
    ``scaledrop_lib.metrics.ood.auroc``, found by importing it), and a function or class named
    without its module (``:func:`seed_dropout``` in another module), when exactly one module of
    ours defines that name. Anything else stays unresolved, so --nitpick still reports it.
    """
    if node.get("refdomain") != "py":
        return None
    if node["reftype"] == "class" and ("(" in node["reftarget"] or ")" in node["reftarget"]):
        return contnode  # part of a tuple in a NumPy type, "(int, int)": text, not a name
    roots = {pkg.split(".")[0] for packages in _pages(env).values() for pkg in packages}
    target, module = node["reftarget"], node.get("py:module") or ""
    if not roots or not (target.split(".")[0] in roots or module.split(".")[0] in roots):
        return None
    domain = env.get_domain("py")
    objects = domain.objects  # type: ignore[attr-defined]
    types = set(domain.objtypes_for_role(node["reftype"]) or ())
    full = [name for name in (target, f"{module}.{target}") if name.split(".")[0] in roots]
    names = {_canonical(name) for name in full}  # imports only our own modules
    found = {name for name in names if name in objects and objects[name].objtype in types}
    if not found:
        found = {
            name
            for name, entry in objects.items()
            if name.split(".")[0] in roots
            and name.endswith("." + target)
            and entry.objtype in types & {"function", "class", "exception"}
        }
    if len(found) != 1:
        return None
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], found.pop(), node, contnode
    )


def shorten_values(app: Sphinx, doctree: nodes.document) -> None:
    """Cut a constant's value on its signature line (``= {...}``) to ``MAX_VALUE`` characters.

    Whole tables (``scaledrop_lib.paper``) would otherwise fill a screen in the signature.
    """
    for annotation in doctree.findall(addnodes.desc_annotation):
        if any(child.astext() == "=" for child in annotation.children):
            for text in list(annotation.findall(nodes.Text)):
                if len(text) > MAX_VALUE:
                    text.parent.replace(text, nodes.Text(text[: MAX_VALUE - 2] + " …"))


def outdated_pages(
    app: Sphinx, env: BuildEnvironment, added: set, changed: set, removed: set
) -> list[str]:
    """Pages whose package gained or lost a module since they were read."""
    pages = []
    for docname, packages in _pages(env).items():
        for package, modules in packages.items():
            try:
                now = public_submodules(importlib.import_module(package))
            except Exception:
                now = None  # reading the page again reports the error
            if now is None or tuple(mod for mod, ispkg in now if not ispkg) != modules:
                pages.append(docname)
                break
    return pages


def check_complete(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn about a public subpackage of a documented package that no page documents."""
    pages = _pages(env)
    documented = {package for packages in pages.values() for package in packages}
    for docname, packages in sorted(pages.items()):
        for package in packages:
            try:
                subpackages = public_submodules(importlib.import_module(package))
            except Exception:
                continue  # the page itself already reported it
            for sub, ispkg in subpackages:
                if ispkg and sub not in documented:
                    logger.warning(
                        "subpackage %s is in no API page: add a page with "
                        "`.. api-package:: %s` to _toc.yml",
                        sub,
                        sub,
                        location=docname,
                        type="api_package",
                        subtype="missing",
                    )


def purge_doc(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    _pages(env).pop(docname, None)


def merge_info(app: Sphinx, env: BuildEnvironment, docnames: set, other: BuildEnvironment) -> None:
    _pages(env).update({doc: pkgs for doc, pkgs in _pages(other).items() if doc in docnames})


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.autodoc")
    app.add_directive("api-package", ApiPackage)
    # napoleon processes docstrings at the default priority, 500
    app.connect("autodoc-process-docstring", link_module_section, priority=400)
    app.connect("autodoc-process-docstring", stash_attribute_docstring, priority=400)
    app.connect("autodoc-process-docstring", restore_attribute_docstring, priority=600)
    app.connect("autodoc-process-bases", drop_private_bases)
    app.connect("autodoc-process-signature", hide_enum_signature)
    app.connect("missing-reference", resolve_own_names)
    app.connect("doctree-read", shorten_values)
    app.connect("env-get-outdated", outdated_pages)
    app.connect("env-check-consistency", check_complete)
    app.connect("env-purge-doc", purge_doc)
    app.connect("env-merge-info", merge_info)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
