"""Read the built book in a real browser, page by page, as a student offline would.

Usage: python tools/check_book_browser.py [HTML_DIR] [--screenshots DIR] [--pages GLOB]

Serves HTML_DIR (default ``_build/html``) on 127.0.0.1 and opens every page in headless
Chromium through Playwright (the Debian package ``chromium``; Playwright's own browser download
is not needed). For every page it checks:

* no console error and no uncaught exception;
* no request to any host but the local server (the book must work offline);
* every plotly figure drew (plotly.js made an SVG with data in it);
* no raw ``\\(``, ``\\[`` or ``$$`` left in the text and no MathJax error box (MathJax typeset
  every equation);
* no figure, table, image or output wider than the text column (a wide table may scroll inside
  its own box; no text output, code cell or code block may scroll sideways);
* on each page with a static slider or menu (a widget's plotly twin), moving the slider and
  picking the menu's last entry each change the figure;
* no solution of an exercise (sphinx-exercise's ``.solution`` element): the public book leaves
  them out (``hide_solutions``), ``make book-instructors`` builds the edition that has them;

and once: every internal link and anchor resolves, and the search page returns results with
excerpts. A screenshot of each page goes to ``--screenshots`` (default
``_build/screenshots``). Exits 1 on any failure, listing each; 2 when Chromium or Playwright is
missing.
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import html
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: Where Debian's ``chromium`` package puts the browser binary (``/usr/bin/chromium`` is a
#: shell wrapper around it).
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser")
#: Pages that are not the book's reading pages (generated indexes are still link-checked).
SKIPPED_DIRS = ("_static", "_sources", "_images")
VIEWPORT = {"width": 1280, "height": 900}
SEARCH_TERM = "dropout"


def find_chromium() -> str | None:
    """The Chromium binary to drive, or None."""
    for candidate in CHROMIUM_CANDIDATES:
        path = candidate if Path(candidate).is_file() else shutil.which(candidate)
        if path:
            return str(path)
    return None


def book_pages(root: Path) -> list[Path]:
    """Every HTML page of the built book (not the theme's static files or page sources)."""
    return sorted(
        p
        for p in root.rglob("*.html")
        if not any(part in SKIPPED_DIRS for part in p.relative_to(root).parts)
    )


_HREF = re.compile(r"<a\s[^>]*?href=\"([^\"]*)\"", re.S)
_ID = re.compile(r"\s(?:id|name)=\"([^\"]+)\"")


@functools.cache
def _anchors(page: Path) -> frozenset[str]:
    return frozenset(html.unescape(a) for a in _ID.findall(page.read_text(encoding="utf-8")))


def link_problems(root: Path) -> list[str]:
    """Internal links that point to a missing page or a missing anchor, as messages."""
    problems = []
    for page in book_pages(root):
        text = page.read_text(encoding="utf-8")
        for href in sorted(set(html.unescape(h) for h in _HREF.findall(text))):
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith("//"):
                continue  # another site, mailto:, javascript: ...
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if parts.path.endswith("/") or target.is_dir():
                target = target / "index.html"
            where = page.relative_to(root)
            if not target.is_file():
                problems.append(f"{where}: link to a missing page {href!r}")
                continue
            fragment = unquote(parts.fragment)
            if fragment and target.suffix == ".html" and fragment not in _anchors(target):
                problems.append(f"{where}: link to a missing anchor {href!r}")
    return problems


@functools.cache
def _quiet_handler(root: str):
    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=root, **kwargs)

        def log_message(self, format, *args):
            pass

    return Handler


def serve(root: Path) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``root`` on 127.0.0.1 (a free port) from a daemon thread; (server, base URL)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _quiet_handler(str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


# The in-page checks, one JavaScript function each; each returns a list of problem strings.
_FIGURES_JS = """() => [...document.querySelectorAll('.plotly-graph-div')].flatMap(div => {
  const drawn = div.classList.contains('js-plotly-plot') && div.querySelector('svg.main-svg')
    && (div.data || []).length > 0;
  return drawn ? [] : [`figure ${div.id} was not drawn`];
})"""

_RAW_MATH_JS = """() => {
  const body = document.querySelector('article') || document.body;
  const copy = body.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, .highlight, mjx-container, textarea')
    .forEach(e => e.remove());
  const text = copy.textContent;
  const raw = ['\\\\(', '\\\\[', '$$'].filter(mark => text.includes(mark))
    .map(mark => `raw LaTeX left in the text: ${mark}`);
  // an equation MathJax could not typeset shows as a red error box (mjx-merror)
  const errors = [...document.querySelectorAll('mjx-merror')]
    .map(e => `MathJax error: ${e.getAttribute('data-mjx-error') || e.textContent}`);
  return raw.concat(errors);
}"""

_WIDTH_JS = """() => {
  const column = document.querySelector('article.bd-article') || document.querySelector('main');
  if (!column) return [];
  const right = column.getBoundingClientRect().right + 1;
  const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const box = e => {  // a wide table may scroll inside its own box: judge that box
    for (let a = e.parentElement; a && a !== column; a = a.parentElement) {
      if (scrolls(a)) return a;
    }
    return e;
  };
  const problems = [];
  const seen = new Set();
  const selector = '.cell_output, .plotly-graph-div, .cell_output table, article img';
  for (const e of document.querySelectorAll(selector)) {
    const judged = e.tagName === 'TABLE' ? box(e) : e;
    if (seen.has(judged)) continue;
    seen.add(judged);
    const r = judged.getBoundingClientRect();
    if (r.width > 0 && r.right > right) {
      const what = e.id || e.className || e.tagName;
      problems.push(`${e.tagName.toLowerCase()} ${what} is ${Math.round(r.right - right)} px
        wider than the text column`.replace(/\\s+/g, ' '));
    }
  }
  for (const pre of column.querySelectorAll('pre')) {
    if (pre.scrollWidth > pre.clientWidth + 1) {
      const start = pre.textContent.trim().slice(0, 40);
      const what = pre.closest('.cell_input') ? 'a code cell'
        : pre.closest('.cell_output') ? 'a text output' : 'a code block';
      problems.push(`${what} scrolls sideways (${pre.scrollWidth} > ${pre.clientWidth} px):
        "${start}"`.replace(/\\s+/g, ' '));
    }
  }
  return problems;
}"""

_SOLUTIONS_JS = """() => [...document.querySelectorAll('.solution')].map(e => {
  const title = e.querySelector('.admonition-title') || e;
  return `a solution is shown: ${title.textContent.trim().slice(0, 60)}`;
})"""

_SLIDERS_JS = """() => [...document.querySelectorAll('.plotly-graph-div')]
  .filter(d => d.layout && (d.layout.sliders || []).length > 0).map(d => d.id)"""

_MENUS_JS = """() => [...document.querySelectorAll('.plotly-graph-div')]
  .filter(d => d.layout && (d.layout.updatemenus || []).length > 0).map(d => d.id)"""

_STATE_JS = """id => {
  const d = document.getElementById(id);
  return JSON.stringify([d.data, d.layout.title, d.layout.annotations]);
}"""


def _click(page, locator, across: float = 0.5) -> bool:
    """Scroll ``locator`` into view and click it with the mouse, ``across`` of its width from
    the left and half-way down, as a reader would; False if it has no visible box."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    if box is None:
        return False
    page.mouse.click(box["x"] + across * box["width"], box["y"] + box["height"] / 2)
    return True


def _move_slider(page, div_id: str) -> str | None:
    """Click near the far end of a figure's first slider; a problem string if nothing changed."""
    before = page.evaluate(_STATE_JS, div_id)
    if not _click(page, page.locator(f"#{div_id} .slider-rail-touch-rect").first, 0.9):
        return f"figure {div_id}: its slider is not visible"
    page.wait_for_timeout(600)
    if page.evaluate(_STATE_JS, div_id) == before:
        return f"figure {div_id}: moving its slider did not change the figure"
    return None


def _pick_last_menu_entry(page, div_id: str) -> str | None:
    """Open a figure's first drop-down menu and pick its last entry, as a reader would; a
    problem string if the entry cannot be reached or nothing changed."""
    before = page.evaluate(_STATE_JS, div_id)
    if not _click(page, page.locator(f"#{div_id} .updatemenu-header").first):
        return f"figure {div_id}: its menu is not visible"
    page.wait_for_timeout(400)
    entries = page.locator(f"#{div_id} .updatemenu-dropdown-button")
    last = entries.nth(entries.count() - 1).bounding_box() if entries.count() else None
    figure = page.locator(f"#{div_id}").bounding_box()
    inside = (
        last is not None
        and figure is not None
        and (
            figure["y"] <= last["y"]
            and last["y"] + last["height"] <= figure["y"] + figure["height"]
        )
    )
    if not inside:
        return f"figure {div_id}: its menu's last entry is outside the figure (clipped)"
    page.mouse.click(last["x"] + last["width"] / 2, last["y"] + last["height"] / 2)
    page.wait_for_timeout(600)
    if page.evaluate(_STATE_JS, div_id) == before:
        return f"figure {div_id}: picking a menu entry did not change the figure"
    return None


def check_page(page, url: str, local: str) -> list[str]:
    """Open one page and run every in-page check; problems as messages."""
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console error: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"uncaught exception: {e}"))

    def only_local(route):
        if route.request.url.startswith(local) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            problems.append(f"request to another host: {route.request.url}")
            route.abort()

    page.route("**/*", only_local)
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    # MathJax typesets asynchronously after load
    page.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || null")
    page.wait_for_timeout(300)
    for script in (_FIGURES_JS, _RAW_MATH_JS, _WIDTH_JS, _SOLUTIONS_JS):
        problems += page.evaluate(script)
    for div_id in page.evaluate(_SLIDERS_JS):
        problem = _move_slider(page, div_id)
        if problem:
            problems.append(problem)
    for div_id in page.evaluate(_MENUS_JS):
        problem = _pick_last_menu_entry(page, div_id)
        if problem:
            problems.append(problem)
    return problems


def check_search(page, base: str) -> list[str]:
    """The search page finds a word every chapter uses, and shows excerpts."""
    page.goto(f"{base}search.html?q={SEARCH_TERM}", wait_until="load")
    try:
        page.wait_for_selector("#search-results li", timeout=15_000)
    except Exception:  # Playwright's TimeoutError
        return [f"search for {SEARCH_TERM!r} returned no results"]
    page.wait_for_timeout(1500)  # excerpts arrive one page at a time
    results = page.locator("#search-results li").count()
    excerpts = page.locator("#search-results li p.context").count()
    if excerpts == 0:
        return [f"search for {SEARCH_TERM!r}: {results} results but no excerpts"]
    return []


def iter_problems(root: Path, shots: Path, pattern: str, chromium: str) -> Iterator[str]:
    from playwright.sync_api import sync_playwright

    pages = [p for p in book_pages(root) if fnmatch.fnmatch(str(p.relative_to(root)), pattern)]
    yield from link_problems(root)
    server, base = serve(root)
    shots.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            for path in pages:
                name = str(path.relative_to(root))
                page = browser.new_page(viewport=VIEWPORT)
                found = check_page(page, base + name, base)
                shot = shots / (name.replace("/", "__") + ".png")
                page.screenshot(path=str(shot), full_page=True)
                page.close()
                print(f"{'ok' if not found else 'FAIL':4s}  {name}", flush=True)
                yield from (f"{name}: {problem}" for problem in found)
            page = browser.new_page(viewport=VIEWPORT)
            yield from (f"search.html: {problem}" for problem in check_search(page, base))
            browser.close()
    finally:
        server.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?", default="_build/html", type=Path)
    parser.add_argument("--screenshots", default=Path("_build/screenshots"), type=Path)
    parser.add_argument("--pages", default="*", help="only pages matching this glob")
    args = parser.parse_args(argv)
    if not (args.root / "index.html").is_file():
        print(f"no built book at {args.root} (run make book first)", file=sys.stderr)
        return 2
    chromium = find_chromium()
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("playwright is not installed (it is in requirements-lock.txt)", file=sys.stderr)
        return 2
    if chromium is None:
        print("Chromium not found: install the Debian package 'chromium'", file=sys.stderr)
        return 2
    problems = list(iter_problems(args.root, args.screenshots, args.pages, chromium))
    for problem in problems:
        print(f"PROBLEM {problem}")
    print(f"{len(problems)} problems; screenshots in {args.screenshots}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
