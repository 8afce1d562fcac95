"""The book's offline plotly rendering: the myst-nb plugin and the Sphinx extension."""

import json
from importlib.metadata import entry_points
from types import SimpleNamespace

from myst_nb.core.render import MimeData, get_mime_priority, load_mime_renders

from scaledrop_lib.viz.book import (
    PLOTLY_JS,
    PLOTLY_MIME,
    TABLE_CSS_FILE,
    PlotlyMimeRenderer,
    figure_html,
    plotly_js_path,
    setup,
)

FIGURE = {"data": [{"type": "bar", "y": [1, 2]}], "layout": {"title": {"text": "</script>"}}}


def test_plugin_is_registered_where_myst_nb_looks():
    names = [ep.value for ep in entry_points(group="myst_nb.mime_renderers")]
    assert "scaledrop_lib.viz.book:PlotlyMimeRenderer" in names
    assert PlotlyMimeRenderer in load_mime_renders()


def test_html_priority_puts_plotly_above_widget_views_and_html():
    order = get_mime_priority("html", [])
    assert order.index(PLOTLY_MIME) < order.index("application/vnd.jupyter.widget-view+json")
    assert order.index(PLOTLY_MIME) < order.index("text/html")


def test_handle_mime_renders_a_raw_html_plot():
    data = MimeData(PLOTLY_MIME, FIGURE, cell_index=3, output_index=0)
    nodes = PlotlyMimeRenderer.handle_mime(None, data, inline=False)
    assert len(nodes) == 1
    html = nodes[0].astext()
    assert nodes[0]["format"] == "html"
    assert "Plotly.newPlot(" in html
    # the figure's "</script>" must not close the script tag early
    assert html.count("</script>") == 1
    payload = html.split("var fig=", 1)[1].split(";function draw()", 1)[0]
    assert json.loads(payload.replace("<\\/", "</")) == FIGURE


def test_handle_mime_ids_are_stable_and_distinct_per_output():
    def div_id(cell, out):
        node = PlotlyMimeRenderer.handle_mime(
            None, MimeData(PLOTLY_MIME, FIGURE, cell_index=cell, output_index=out), False
        )[0]
        return node.astext().split('id="', 1)[1].split('"', 1)[0]

    assert div_id(1, 0) == div_id(1, 0)
    assert div_id(1, 0) != div_id(2, 0)


def test_handle_mime_declines_other_mimes_and_inline_use():
    assert PlotlyMimeRenderer.handle_mime(None, MimeData("text/plain", "x"), False) is None
    assert PlotlyMimeRenderer.handle_mime(None, MimeData(PLOTLY_MIME, FIGURE), True) is None


def test_figure_html_accepts_json_string_content_via_plugin():
    data = MimeData(PLOTLY_MIME, json.dumps(FIGURE), cell_index=0, output_index=0)
    assert "Plotly.newPlot" in PlotlyMimeRenderer.handle_mime(None, data, False)[0].astext()
    assert 'id="given"' in figure_html(FIGURE, div_id="given")


def test_sphinx_extension_ships_plotly_js_and_the_table_css(tmp_path):
    calls = {}
    js_files, css_files = [], []

    app = SimpleNamespace(
        connect=lambda event, fn: calls.setdefault(event, []).append(fn),
        add_js_file=lambda name, **kw: js_files.append((name, kw)),
        add_css_file=lambda name, **kw: css_files.append(name),
        builder=SimpleNamespace(format="html"),
        outdir=str(tmp_path),
    )
    meta = setup(app)
    assert meta["parallel_read_safe"]
    config = SimpleNamespace(html_context={"github_user": "someone"})
    for handler in calls["config-inited"]:
        handler(app, config)
    # an empty mode makes the theme's script log an error on every page
    assert config.html_context == {"github_user": "someone", "default_mode": "light"}
    for handler in calls["builder-inited"]:
        handler(app)
    assert js_files == [] and css_files == [TABLE_CSS_FILE]  # plotly.js: per page, below

    def page(*args):
        for handler in calls["html-page-context"]:
            handler(*args)

    page(app, "text", "page.html", {"body": "<p>no figure</p>"}, None)
    assert js_files == []
    figure = figure_html(FIGURE, div_id="x")
    page(app, "figures", "page.html", {"body": figure}, None)
    assert js_files == [(PLOTLY_JS, {"priority": 1, "defer": "defer"})]
    # each figure waits for the deferred plotly.js when the page parses before it has run
    assert "DOMContentLoaded" in figure and "window.Plotly" in figure
    for handler in calls["build-finished"]:
        handler(app, None)
    shipped = tmp_path / "_static" / PLOTLY_JS
    assert shipped.read_bytes() == plotly_js_path().read_bytes()
    assert shipped.stat().st_size > 1_000_000  # the real plotly.js, not a stub
    css = (tmp_path / "_static" / TABLE_CSS_FILE).read_text()
    assert "table.scaledrop-table" in css  # the class tables.Table writes


def test_pages_load_no_thebe_scripts_from_unpkg():
    from sphinx.builders.html._assets import _JavaScript

    from scaledrop_lib.viz.book import _drop_thebe_scripts

    config = _JavaScript(None, body='const THEBE_JS_URL = "https://unpkg.com/thebe"')
    keep = [_JavaScript("_static/plotly.min.js"), _JavaScript("_static/mathjax/tex-chtml.js")]
    scripts = [keep[0], config, _JavaScript("_static/sphinx-thebe.js"), keep[1]]
    context = {"script_files": scripts}
    _drop_thebe_scripts(None, "page", "page.html", context, None)
    # the same list object: Sphinx adds a page's own scripts (plotly.js) to it afterwards
    assert context["script_files"] is scripts and scripts == keep


def test_mathjax_ships_with_the_book():
    import importlib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    assert "sphinx-mathjax-offline" in (root / "_config.yml").read_text()
    extension = importlib.import_module("sphinx-mathjax-offline")  # how Sphinx loads it
    static = Path(extension.__file__).parent / "static" / "mathjax"
    assert (static / "tex-chtml.js").stat().st_size > 100_000  # the real MathJax, not a stub
    assert any((static / "output" / "chtml" / "fonts").rglob("*.woff"))  # fonts offline too
