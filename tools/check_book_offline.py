"""Check that every plotly figure in the built book draws with the network off.

Usage: python tools/check_book_offline.py [_build/html]   (needs Debian's `chromium`)

Opens each page that holds a plotly figure in headless Chromium with every host name
unresolvable (so no CDN can load), lets scripts run, and counts the figures that plotly.js
actually drew (an ``svg.main-svg`` inside the figure's div). Exits 1 if any figure is blank.
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


def drawn_figures(page: Path, chromium: str) -> tuple[int, int]:
    """(figures on the page, figures plotly drew) for one HTML page."""
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
    return total, drawn


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "_build/html")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium not found (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    pages = sorted(p for p in root.rglob("*.html") if "plotly-graph-div" in p.read_text())
    if not pages:
        print(f"no page with a plotly figure under {root}", file=sys.stderr)
        return 1
    failed = False
    for page in pages:
        total, drawn = drawn_figures(page, chromium)
        status = "ok" if total and drawn == total else "BLANK"
        failed |= status != "ok"
        print(f"{status:5s} {drawn}/{total} figures drawn offline  {page.relative_to(root)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
