"""Check that the built book works with the network off.

Usage: python tools/check_book_offline.py [_build/html]   (needs Debian's `chromium`)

Every page: no script or stylesheet is loaded from another host. Each page that holds a plotly
figure or an equation is opened in headless Chromium with every host name unresolvable (so no
CDN can load): every figure must be drawn by plotly.js and no equation may be left as raw
LaTeX (MathJax must have typeset it). Exits 1 on any failure.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: no host name resolves
    "--virtual-time-budget=15000",
    "--dump-dom",
]


EXTERNAL_ASSET = re.compile(
    r'<script[^>]+src="https?://[^"]+"|<link[^>]+href="https?://[^"]+"[^>]*rel="stylesheet"'
    r'|<link[^>]+rel="stylesheet"[^>]*href="https?://[^"]+"'
)


def raw_math(dom: str) -> int:
    """Inline or display LaTeX delimiters left in the page's text (outside scripts and code)."""
    text = re.sub(r"<(script|style|pre)\b.*?</\1>", "", dom, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    return text.count("\\(") + text.count("\\[")


def drawn_figures(page: Path, chromium: str) -> tuple[int, int, int]:
    """(figures on the page, figures plotly drew, raw LaTeX left) for one HTML page."""
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    total = len(re.findall(r'<div id="plotly-[0-9a-f]+"', dom))
    # plotly.js marks each div it has drawn into with the class js-plotly-plot
    drawn = len(re.findall(r'<div id="plotly-[0-9a-f]+" class="[^"]*js-plotly-plot', dom))
    return total, drawn, raw_math(dom)


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "_build/html")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium not found (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    every = sorted(root.rglob("*.html"))
    failed = False
    for page in every:
        for match in EXTERNAL_ASSET.findall(page.read_text()):
            failed = True
            print(f"EXTERNAL {match}  {page.relative_to(root)}")
    marks = ("plotly-graph-div", 'class="math')  # a figure, or an equation for MathJax
    pages = [p for p in every if any(mark in p.read_text() for mark in marks)]
    if not any("plotly-graph-div" in p.read_text() for p in pages):
        print(f"no page with a plotly figure under {root}", file=sys.stderr)
        return 1
    for page in pages:
        total, drawn, raw = drawn_figures(page, chromium)
        status = "ok" if drawn == total and raw == 0 else "BLANK" if drawn != total else "RAWMATH"
        failed |= status != "ok"
        where = page.relative_to(root)
        print(f"{status:7s} {drawn}/{total} figures drawn, {raw} raw equations  {where}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
