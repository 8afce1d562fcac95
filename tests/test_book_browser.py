"""The browser check of the built book (tools/check_book_browser.py) finds what it claims to.

Each check runs on small hand-made pages with one known fault each, so a check that stopped
working would let its fault through here.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from scaledrop_lib.viz.book import figure_html, plotly_js_path

ROOT = Path(__file__).resolve().parents[1]


def _load_checker():
    spec = importlib.util.spec_from_file_location(
        "check_book_browser", ROOT / "tools" / "check_book_browser.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


checker = _load_checker()

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">{head}</head><body>
<main><article class="bd-article" style="width: 600px">{body}</article></main></body></html>"""


def _write(root: Path, name: str, body: str, head: str = "") -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PAGE.format(head=head, body=body), encoding="utf-8")


def test_link_check_finds_missing_pages_and_anchors(tmp_path):
    _write(tmp_path, "index.html", '<h1 id="top">x</h1><a href="sub/a.html#here">ok</a>')
    _write(
        tmp_path,
        "sub/a.html",
        '<p id="here"></p><a href="../index.html#top">ok</a><a href="#nowhere">bad anchor</a>'
        '<a href="missing.html">bad page</a><a href="https://example.org/x.html">external</a>'
        '<a href="mailto:someone@example.org">mail</a>',
    )
    problems = checker.link_problems(tmp_path)
    assert problems == [
        "sub/a.html: link to a missing anchor '#nowhere'",
        "sub/a.html: link to a missing page 'missing.html'",
    ]


def test_pages_skip_the_themes_static_files(tmp_path):
    _write(tmp_path, "index.html", "")
    _write(tmp_path, "_static/x.html", "")
    _write(tmp_path, "_sources/y.html", "")
    assert [p.name for p in checker.book_pages(tmp_path)] == ["index.html"]


@pytest.fixture(scope="module")
def browser():
    chromium = checker.find_chromium()
    assert chromium, "the browser check needs the Debian package 'chromium'"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


def _problems(browser, root: Path, name: str) -> list[str]:
    server, base = checker.serve(root)
    try:
        page = browser.new_page(viewport=checker.VIEWPORT)
        found = checker.check_page(page, base + name, base)
        page.close()
        return found
    finally:
        server.shutdown()


FIGURE = {"data": [{"type": "bar", "x": [1, 2], "y": [3, 4]}], "layout": {"height": 300}}
SLIDER_FIGURE = {
    "data": [{"type": "bar", "x": [1, 2], "y": [3, 4]}],
    "layout": {
        "height": 300,
        "sliders": [
            {
                "steps": [
                    {"label": "a", "method": "restyle", "args": [{"y": [[3, 4]]}]},
                    {"label": "b", "method": "restyle", "args": [{"y": [[1, 9]]}]},
                ]
            }
        ],
    },
}


def _with_plotly(root: Path) -> str:
    (root / "_static").mkdir(exist_ok=True)
    (root / "_static" / "plotly.min.js").write_bytes(plotly_js_path().read_bytes())
    return '<script defer src="_static/plotly.min.js"></script>'


def _menu_figure(colors: list[str]) -> dict:
    """A real static twin with a slider and a drop-down menu (scaledrop_lib.viz.widgets)."""
    import plotly.graph_objects as go

    from scaledrop_lib.viz.widgets import static_slider_figure

    def bars(height: float, color: str) -> go.Figure:
        return go.Figure(go.Bar(x=["a"], y=[height], marker_color=color)).update_layout(
            title=f"{color} {height}", height=300
        )

    figure = static_slider_figure(bars, "height", [1.0, 2.0], menu=("color", colors))
    return json.loads(figure.to_json())


def test_a_clean_page_passes(browser, tmp_path):
    head = _with_plotly(tmp_path)
    body = (
        figure_html(FIGURE, "fig")
        + figure_html(SLIDER_FIGURE, "slides")
        + figure_html(_menu_figure(["red", "blue", "green"]), "menu")
        + "<pre>short</pre>"
        + '<div class="exercise admonition"><p class="admonition-title">Exercise 1</p></div>'
    )
    _write(tmp_path, "good.html", f'<div class="cell_output">{body}</div>', head)
    assert _problems(browser, tmp_path, "good.html") == []


def test_each_fault_is_reported(browser, tmp_path):
    head = _with_plotly(tmp_path)
    undrawn = '<div id="plotly-x" class="plotly-graph-div" style="height:100px"></div>'
    frozen = dict(SLIDER_FIGURE)
    frozen["layout"] = json.loads(json.dumps(SLIDER_FIGURE["layout"]))
    for step in frozen["layout"]["sliders"][0]["steps"]:
        step["args"] = [{"y": [[3, 4]]}]  # every step shows the same data
    same = _menu_figure(["red", "blue"])
    for button in same["layout"]["updatemenus"][0]["buttons"]:
        button["args"] = [{}, {}]  # every entry leaves the figure as it is
    body = (
        undrawn
        + figure_html(frozen, "frozen")
        + figure_html(same, "same")
        + r"<p>an equation left raw: \(x^2\)</p>"
        + r'<mjx-merror data-mjx-error="\tag not allowed in split environment">'
        + "</mjx-merror>"
        + '<div class="cell_output"><pre style="white-space: pre">'
        + "x" * 400
        + "</pre></div>"
        + '<div class="cell_output" style="width: 900px">too wide</div>'
        + '<div class="cell_input"><pre style="white-space: pre; overflow-x: auto">'
        + "y = "
        + "1 + " * 200
        + "1</pre></div>"
        + '<div class="highlight"><pre style="white-space: pre; overflow-x: auto">'
        + "scaledrop variation --data-dir ~/data"
        + " --seeds 0 1 2" * 60
        + "</pre></div>"
        + '<img src="https://example.org/logo.png">'
        + "<script>console.error('broken')</script>"
        + '<div class="solution admonition"><p class="admonition-title">Solution to'
        + ' <a href="#ch1-ex1">Exercise 1</a></p><p>the answer</p></div>'
    )
    _write(tmp_path, "bad.html", body, head)
    found = "\n".join(_problems(browser, tmp_path, "bad.html"))
    assert "figure plotly-x was not drawn" in found
    assert "figure frozen: moving its slider did not change the figure" in found
    assert "figure same: picking a menu entry did not change the figure" in found
    assert r"raw LaTeX left in the text: \(" in found
    assert r"MathJax error: \tag not allowed in split environment" in found
    assert "a text output scrolls sideways" in found
    assert "a code cell scrolls sideways" in found
    assert "a code block scrolls sideways (" in found and '"scaledrop variation' in found
    assert "px wider than the text column" in found
    assert "request to another host: https://example.org/logo.png" in found
    assert "console error: broken" in found
    assert "a solution is shown: Solution to Exercise 1" in found
