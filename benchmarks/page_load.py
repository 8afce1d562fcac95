"""Benchmark: how fast the built book's pages show up in a browser (headless Chromium).

Not a test (timings are noisy). Serves a built book (default: what ``make book-check`` wrote,
``_build/stored/_build/html``) on 127.0.0.1 and loads each page ``--repeats`` times in a fresh
browser context (empty cache, as a first visit), printing the medians of

  first paint      the browser's first-contentful-paint: when the reader sees text,
  DOM ready        DOMContentLoaded: the page parsed (plotly.js, deferred, has run by then),
  figures drawn    every plotly figure on the page has its SVG (0 figures: = DOM ready),

in milliseconds, with the page's number of figures and whether it loads plotly.js at all
(the book loads it only on pages with a figure, deferred, so text shows before plotly.js has
been parsed).

    python benchmarks/page_load.py                     # every chapter and the intro
    python benchmarks/page_load.py --repeats 5 PAGE... # chosen pages, relative to the root
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from check_book_browser import find_chromium, serve  # noqa: E402

DEFAULT_PAGES = ["book/intro.html", "book/glossary.html"] + [
    f"notebooks/{p.stem}.html" for p in sorted((ROOT / "notebooks").glob("*.ipynb"))
]

_TIMES_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  return {paint: paint ? paint.startTime : null, dom: nav.domContentLoadedEventEnd,
          figures: document.querySelectorAll('.plotly-graph-div').length,
          plotly: [...document.scripts].some(s => (s.src || '').includes('plotly'))};
}"""
_ALL_DRAWN_JS = """() => [...document.querySelectorAll('.plotly-graph-div')]
  .every(d => d.querySelector('svg.main-svg'))"""


def measure(page, url: str) -> dict[str, float]:
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_function(_ALL_DRAWN_JS, timeout=60_000)
    drawn = page.evaluate("() => performance.now()")
    times = page.evaluate(_TIMES_JS)
    times["drawn"] = drawn if times["figures"] else times["dom"]
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", default=DEFAULT_PAGES)
    parser.add_argument("--html", type=Path, default=ROOT / "_build/stored/_build/html")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not (args.html / "index.html").is_file():
        parser.error(f"no built book at {args.html}; run `make book-check` first")
    chromium = find_chromium()
    if chromium is None:
        parser.error("no Chromium found (Debian package 'chromium')")
    from playwright.sync_api import sync_playwright

    server, base = serve(args.html)
    print(
        f"{'page':34} {'figures':>7} {'plotly.js':>9} {'first paint':>11} {'DOM ready':>9} "
        f"{'figures drawn':>13}  (ms, median of {args.repeats})"
    )
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            for name in args.pages:
                runs = []
                for _ in range(args.repeats):
                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    runs.append(measure(context.new_page(), base + name))
                    context.close()

                def median(key: str, runs=runs) -> float:
                    return statistics.median(r[key] for r in runs if r[key] is not None)

                print(
                    f"{name:34} {runs[0]['figures']:7d} {'yes' if runs[0]['plotly'] else 'no':>9} "
                    f"{median('paint'):11.0f} {median('dom'):9.0f} {median('drawn'):13.0f}"
                )
            browser.close()
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
