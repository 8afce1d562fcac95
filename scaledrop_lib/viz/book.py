"""Jupyter Book glue: plotly figures that draw offline in the HTML book.

Two pieces, both wired up by configuration rather than by notebooks:

* :class:`PlotlyMimeRenderer`, a myst-nb mime-renderer plugin (entry point group
  ``myst_nb.mime_renderers`` in ``pyproject.toml``). It renders plotly's JSON output,
  ``application/vnd.plotly.v1+json``, as a ``<div>`` plus a ``Plotly.newPlot`` call. myst-nb
  would otherwise skip that mime type with a warning (fatal under ``-W``).
* :func:`setup`, a Sphinx extension (``sphinx.extra_extensions`` in ``_config.yml``) that ships
  one copy of the installed ``plotly.min.js`` with the book, so no page needs a CDN, and loads
  it (deferred) only on pages that hold a figure.

The JSON output is also what keeps stored notebooks small: no page or ``.ipynb`` carries its
own 4.8 MB copy of plotly.js.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import plotly

PLOTLY_MIME = "application/vnd.plotly.v1+json"
PLOTLY_JS = "plotly.min.js"


def plotly_js_path() -> Path:
    """Path of the ``plotly.min.js`` that ships inside the installed plotly package."""

    path = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js not found at {path}; is plotly installed fully?")
    return path


def figure_html(figure: dict[str, Any], div_id: str | None = None) -> str:
    """HTML for one plotly figure given as its JSON dict; needs ``Plotly`` loaded on the page.

    The div id is a hash of the figure (stable between builds) unless ``div_id`` is given.
    """
    payload = json.dumps(figure, sort_keys=True, separators=(",", ":"))
    if div_id is None:
        div_id = "plotly-" + hashlib.sha256(payload.encode()).hexdigest()[:16]
    # "</" inside a <script> would end it early; JSON allows the escaped form.
    payload = payload.replace("</", "<\\/")
    height = figure.get("layout", {}).get("height", 450)
    return (
        f'<div id="{div_id}" class="plotly-graph-div" style="width:100%;height:{height}px;">'
        f"</div>\n<script>(function(){{var fig={payload};"
        f"function draw(){{"
        f'Plotly.newPlot("{div_id}",fig.data||[],fig.layout||{{}},'
        f"Object.assign({{responsive:true}},fig.config||{{}}))"
        f".then(function(){{if(fig.frames){{Plotly.addFrames('{div_id}',fig.frames);}}}});}}"
        # plotly.js loads deferred: it has run by DOMContentLoaded, not while the page parses
        f'if(window.Plotly){{draw();}}else{{document.addEventListener("DOMContentLoaded",draw);}}'
        f"}})();</script>"
    )


class PlotlyMimeRenderer:
    """myst-nb plugin: render ``application/vnd.plotly.v1+json`` as raw HTML (html builders).

    Its priority puts the static plotly figure above an ipywidget view, so a
    :class:`scaledrop_lib.viz.widgets.LiveFigure` shows its plotly-slider twin in the book while
    JupyterLab (whose widget renderer ranks first) shows the live controls.
    """

    mime_priority_overrides = (
        ("html", PLOTLY_MIME, 5),
        ("dirhtml", PLOTLY_MIME, 5),
        ("singlehtml", PLOTLY_MIME, 5),
    )

    @staticmethod
    def handle_mime(renderer: Any, data: Any, inline: bool) -> list[Any] | None:
        if inline or data.mime_type != PLOTLY_MIME:
            return None
        from docutils import nodes

        figure = data.content
        if isinstance(figure, str):
            figure = json.loads(figure)
        # The same figure may appear twice on a page: make ids unique but deterministic.
        key = f"{data.cell_index}-{data.output_index}"
        digest = hashlib.sha256((key + json.dumps(figure, sort_keys=True)).encode()).hexdigest()[
            :16
        ]
        html = figure_html(figure, div_id=f"plotly-{digest}")
        return [nodes.raw(text=html, format="html", classes=["output", "text_html"])]


#: Style of :class:`scaledrop_lib.tables.Table` in the book: spaced cells, a ruled header, and a
#: scroll bar instead of a clipped column when a table is wider than the page. Headers and text
#: cells wrap; numbers (right-aligned) never do. Printed text outputs, code cells and the code
#: blocks of text pages (e.g. the commands of the Full-scale results page) wrap at the column
#: instead of scrolling sideways, where their ends would be hidden (tables are Tables, so no
#: printed table relies on long lines).
TABLE_CSS_FILE = "scaledrop-tables.css"
TABLE_CSS = """\
table.scaledrop-table { border-collapse: collapse; margin: 0.4em 0 0.8em; font-size: 0.9em; }
table.scaledrop-table caption { caption-side: top; text-align: left; font-weight: 600;
  padding-bottom: 0.3em; }
table.scaledrop-table th, table.scaledrop-table td { padding: 0.2em 0.5em; white-space: nowrap;
  border-bottom: 1px solid #dddddd; }
table.scaledrop-table th, table.scaledrop-table td:not([style*="right"]) { white-space: normal;
  min-width: 4.5em; }
table.scaledrop-table thead th { border-bottom: 2px solid #888888; }
p.scaledrop-table-note { font-size: 0.85em; color: #555555; margin-top: 0; }
div.cell_output:has(table.scaledrop-table) { overflow-x: auto; }
div.cell_output pre { white-space: pre-wrap; overflow-wrap: anywhere; }
div.highlight pre { white-space: pre-wrap; overflow-wrap: anywhere; }
"""


#: The theme's colour mode until the reader picks one. The theme's own default is empty, which
#: its script rejects with a console error on every page; the figures are drawn on white.
DEFAULT_THEME_MODE = "light"


def _set_default_theme_mode(app: Any, config: Any) -> None:
    # pydata-sphinx-theme reads the mode from the template context, not its theme options
    context = dict(config.html_context or {})
    context.setdefault("default_mode", DEFAULT_THEME_MODE)
    config.html_context = context


def _add_static_files(app: Any) -> None:
    if app.builder.format == "html":
        app.add_css_file(TABLE_CSS_FILE)


def _add_plotly_where_needed(
    app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    # plotly.min.js is 4.8 MB: only pages with a figure load it, and deferred, so the text shows
    # at once (each figure's script waits for DOMContentLoaded, by which time it has run).
    # priority 1: before anything else (e.g. require.js, which would otherwise make plotly.js
    # register as an AMD module instead of setting window.Plotly).
    if app.builder.format == "html" and 'class="plotly-graph-div"' in context.get("body", ""):
        app.add_js_file(PLOTLY_JS, priority=1, defer="defer")


def _copy_static_files(app: Any, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        static = Path(app.outdir) / "_static"
        static.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plotly_js_path(), static / PLOTLY_JS)
        (static / TABLE_CSS_FILE).write_text(TABLE_CSS)


def _is_thebe_script(script: Any) -> bool:
    """sphinx-thebe's loader and its config (which names a URL on unpkg.com)."""
    name = str(getattr(script, "filename", script) or "")
    body = str(getattr(script, "attributes", {}).get("body", ""))
    return name.endswith("sphinx-thebe.js") or "THEBE_JS_URL" in body


def _drop_thebe_scripts(
    app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    # jupyter-book always loads sphinx-thebe; the book has no live kernel (launch_buttons.thebe
    # is false), so its scripts only name an outside host and declare THEBE_JS_URL twice
    # in place: Sphinx's per-page add_js_file (used below for plotly.js) appends to this list
    scripts = context.get("script_files")
    if scripts:
        scripts[:] = [s for s in scripts if not _is_thebe_script(s)]


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension entry point: ship plotly.min.js and the tables' CSS with the book, and
    leave sphinx-thebe's unused scripts out of its pages."""
    app.connect("config-inited", _set_default_theme_mode)
    app.connect("builder-inited", _add_static_files)
    app.connect("build-finished", _copy_static_files)
    app.connect("html-page-context", _drop_thebe_scripts)
    app.connect("html-page-context", _add_plotly_where_needed)
    # env_version: bump it when the HTML of a figure changes, so Sphinx rebuilds the pickled
    # doctrees that hold the old HTML (2: figures wait for the deferred plotly.js)
    return {
        "parallel_read_safe": True,
        "parallel_write_safe": True,
        "version": "2",
        "env_version": 2,
    }
