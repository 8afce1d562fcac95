"""Use a chapter's live widget in JupyterLab, in a real browser, as a student would.

Usage: python tools/check_lab_browser.py [NOTEBOOK] [--screenshots DIR] [--timeout S]

Copies NOTEBOOK (default ``notebooks/06_mtj_module.ipynb``) into a temporary folder, starts
``jupyter lab`` there on 127.0.0.1 with a random token and its own settings folder (carrying
the project's ``tools/jupyterlab-overrides.json``), and drives it with headless Chromium
through Playwright:

1. opens the notebook and runs all cells; no cell may raise;
2. moves the first widget slider and checks that the widget's plotly figure changed;
3. saves, shuts the kernel down, reopens the notebook in a fresh page, and checks that the
   widget shows its figure again, never "Error displaying widget: model not found".

Screenshots of each step go to ``--screenshots`` (default ``_build/screenshots/lab``). Exits 1
on a failed check, 2 when Chromium, Playwright or JupyterLab is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_book_browser import VIEWPORT, find_chromium

ROOT = Path(__file__).resolve().parents[1]
OVERRIDES = ROOT / "tools" / "jupyterlab-overrides.json"
MODEL_NOT_FOUND = "model not found"
#: The plotly figure inside a widget's Output area.
WIDGET_FIGURE = ".jupyter-widgets .js-plotly-plot"


class LabCheckFailed(AssertionError):
    """A check of the JupyterLab session failed."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(folder: Path, port: int, token: str, log: Path) -> subprocess.Popen:
    """``jupyter lab`` serving ``folder`` with its own settings/workspace folders, no network."""
    settings = folder / ".lab-settings"
    env = dict(
        os.environ,
        JUPYTERLAB_SETTINGS_DIR=str(settings / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(settings / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(settings / "runtime"),
        SCALEDROP_PROGRESS="0",
    )
    env.pop(("SCALEDROP_STATIC_TWINS"), None)  # the live rule under test: no twin in a session
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.allow_root=True",  # containers and CI often run as root
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={folder}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    return subprocess.Popen(
        command, cwd=folder, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def wait_for_server(port: int, token: str, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise LabCheckFailed(f"JupyterLab did not answer on port {port} within {timeout:.0f} s")


def wait_until(page, script: str, timeout: float, what: str) -> None:
    """Poll a JavaScript expression until it is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate(script):
            return
        page.wait_for_timeout(500)
    raise LabCheckFailed(f"timed out after {timeout:.0f} s waiting for {what}")


NOTEBOOK_READY = """() => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  return !!(w && w.content && w.sessionContext && w.sessionContext.session
            && w.sessionContext.session.kernel
            && w.sessionContext.session.kernel.status === 'idle');
}"""
ALL_CELLS_RAN = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  return w.sessionContext.session.kernel.status === 'idle'
    && cells.every(c => c.model.executionCount !== null);
}"""
CELL_ERRORS = """() => Array.from(document.querySelectorAll(
  '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
  .filter(e => /Traceback|Error/.test(e.innerText)).map(e => e.innerText.slice(0, 300))"""
FIGURE_STATE = """(selector) => {
  const plot = document.querySelector(selector);
  if (!plot || !plot.data) return null;
  return JSON.stringify([plot.data.map(t => [t.x, t.y, t.z]), plot.layout.title]);
}"""


def open_notebook(page, base: str, name: str, timeout: float) -> None:
    page.goto(f"{base}/lab/tree/{name}", wait_until="domcontentloaded")
    wait_until(page, NOTEBOOK_READY, timeout, "the notebook and an idle kernel")


def move_first_slider(page) -> None:
    """Press End on the first widget slider (keyboard moves are what noUiSlider commits)."""
    handle = page.locator(".jupyter-widgets .noUi-handle").first
    handle.wait_for(state="visible")
    handle.focus()
    page.keyboard.press("End")


def check_lab(notebook: Path, screenshots: Path, timeout: float) -> list[str]:
    """Run the three steps; returns the failures (empty when all hold)."""
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if chromium is None:
        print("check_lab_browser: no Chromium found (Debian package 'chromium')")
        raise SystemExit(2)
    screenshots.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="scaledrop-lab-") as tmp:
        folder = Path(tmp)
        shutil.copy2(notebook, folder / notebook.name)
        shutil.copy2(notebook.parent / "nbval.cfg", folder / "nbval.cfg")
        settings_dir = folder / ".lab-settings" / "user-settings"
        settings_dir.mkdir(parents=True)
        port, token = free_port(), secrets.token_hex(16)
        lab = start_lab(folder, port, token, folder / "lab.log")
        try:
            try:
                wait_for_server(port, token, timeout)
            except LabCheckFailed:
                log_tail = (folder / "lab.log").read_text(errors="replace").splitlines()[-15:]
                print("\n".join(["jupyter lab's log ends:", *log_tail]))
                raise
            base = f"http://127.0.0.1:{port}"
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                context = browser.new_context(viewport=VIEWPORT)
                page = context.new_page()
                page.goto(f"{base}/lab?token={token}", wait_until="domcontentloaded")
                # 1. run all cells
                open_notebook(page, base, notebook.name, timeout)
                page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
                page.wait_for_timeout(1000)
                wait_until(page, ALL_CELLS_RAN, timeout, "every cell to run")
                errors = page.evaluate(CELL_ERRORS)
                failures += [f"a cell raised: {e}" for e in errors]
                page.locator(WIDGET_FIGURE).first.wait_for(state="attached", timeout=30_000)
                page.locator(WIDGET_FIGURE).first.scroll_into_view_if_needed()
                page.screenshot(path=str(screenshots / "1-run-all.png"))
                # 2. a slider moves the figure
                before = page.evaluate(FIGURE_STATE, WIDGET_FIGURE)
                move_first_slider(page)
                try:
                    wait_until(
                        page,
                        f"() => ({FIGURE_STATE})({json.dumps(WIDGET_FIGURE)}) !== "
                        f"{json.dumps(before)}",
                        30,
                        "the figure to change after moving the slider",
                    )
                except LabCheckFailed as error:
                    failures.append(str(error))
                page.screenshot(path=str(screenshots / "2-slider-moved.png"))
                # 3. save, shut the kernel down, reopen in a fresh page
                page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
                wait_until(
                    page,
                    "() => !window.jupyterapp.shell.currentWidget.context.model.dirty",
                    timeout,
                    "the notebook to save",
                )
                page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
                page.close()
                saved = json.loads((folder / notebook.name).read_text())
                if "widgets" not in saved["metadata"]:
                    failures.append("the saved notebook holds no widget state")
                page = context.new_page()
                page.goto(f"{base}/lab/tree/{notebook.name}", wait_until="domcontentloaded")
                wait_until(
                    page,
                    "() => !!(window.jupyterapp && window.jupyterapp.shell.currentWidget"
                    " && window.jupyterapp.shell.currentWidget.content"
                    " && window.jupyterapp.shell.currentWidget.content.widgets.length)",
                    timeout,
                    "the reopened notebook",
                )
                try:
                    page.locator(WIDGET_FIGURE).first.wait_for(state="attached", timeout=30_000)
                    page.locator(WIDGET_FIGURE).first.scroll_into_view_if_needed()
                except Exception:
                    failures.append("the reopened notebook shows no widget figure")
                page.wait_for_timeout(2000)
                page.screenshot(path=str(screenshots / "3-reopened.png"))
                if MODEL_NOT_FOUND in page.inner_text("body"):
                    failures.append(f"the reopened notebook shows {MODEL_NOT_FOUND!r}")
                browser.close()
        finally:
            lab.terminate()
            try:
                lab.wait(timeout=20)
            except subprocess.TimeoutExpired:
                lab.kill()
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "notebook", nargs="?", type=Path, default=ROOT / "notebooks" / "06_mtj_module.ipynb"
    )
    parser.add_argument("--screenshots", type=Path, default=ROOT / "_build/screenshots/lab")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per wait")
    args = parser.parse_args(argv)
    try:
        import jupyterlab  # noqa: F401
        import playwright  # noqa: F401
    except ImportError as error:
        print(f"check_lab_browser: {error.name} is missing (pip install -e '.[book,test]')")
        return 2
    if not args.notebook.is_file():
        parser.error(f"notebook {args.notebook} does not exist")
    started = time.monotonic()
    failures = check_lab(args.notebook.resolve(), args.screenshots, args.timeout)
    for failure in failures:
        print(f"FAIL {failure}")
    print(
        f"check_lab_browser: {args.notebook.name}: {len(failures)} problem(s) in "
        f"{time.monotonic() - started:.0f} s; screenshots in {args.screenshots}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
