"""The dashboard in a real browser: ``streamlit run app.py`` driven by Playwright on Chromium.

One flow through the built-in demo, Load -> Audit -> Unlearn -> Compare -> Report, with a
screenshot of every page under ``tests/artifacts/`` (look at them). Chromium comes from the system
(``apt-get install chromium``): Playwright's own browser download does not work here.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
WIDTH = int(os.environ.get("BAMU_E2E_WIDTH", "1366"))  # the window width; 1920 for a wide check


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(bamu_home: Path, log_path: Path, *, launcher: str = "streamlit", env: dict | None = None):
    """Run ``python -m <launcher> run app.py`` (``streamlit``, or ``dashboard.host_check`` as ``./run.sh``
    does) on a free port with ``BAMU_HOME=bamu_home`` (plus ``env``); yield its URL once healthy."""
    port = _free_port()
    env = dict(os.environ, BAMU_HOME=str(bamu_home), BAMU_DEVICE="cpu", PYTHONUNBUFFERED="1", **(env or {}))
    args = [sys.executable, "-m", launcher, "run", "app.py", "--server.headless", "true", "--server.port", str(port)]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://localhost:{port}"
        try:
            deadline = time.time() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"streamlit did not start: {Path(log_path).read_text()[-2000:]}")
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def browser_tab(url: str, path: str = ""):
    """A Chromium tab (system browser) on ``url/path``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": WIDTH, "height": 900}, accept_downloads=True)
            tab.goto(f"{url}/{path}")
            yield tab
        finally:
            browser.close()


@pytest.fixture(scope="module")
def page(bamu_home, binary_baseline, artifacts_dir):
    """The app (``streamlit run``) with the test session's BAMU_HOME, open in a Chromium tab."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent (install it with `apt-get install chromium`)")
    # the first visit of the fresh server is a page's own address, as from a bookmark
    with serve(bamu_home, artifacts_dir / "streamlit.log") as url, browser_tab(url, "audit") as tab:
        yield tab


def _idle(tab, timeout: float = 120.0) -> None:
    """Wait until the script has finished running (no "running" indicator, no spinner)."""
    tab.wait_for_timeout(400)
    end = time.time() + timeout
    while time.time() < end:
        busy = tab.locator("[data-testid='stStatusWidget'], [data-testid='stSpinner']").count()
        if not busy:
            return
        tab.wait_for_timeout(250)
    raise AssertionError("the app stayed busy")


def _shot(tab, artifacts_dir: Path, name: str) -> Path:
    """A screenshot of the whole page (the main area scrolls, so the viewport grows to fit it)."""
    _idle(tab)
    tab.wait_for_timeout(800)  # charts finish drawing
    height = tab.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]'); return m ? m.scrollHeight : 900; }"
    )
    tab.set_viewport_size({"width": WIDTH, "height": min(max(900, int(height) + 40), 8000)})
    tab.wait_for_timeout(800)
    path = artifacts_dir / (f"page_{name}.png" if WIDTH == 1366 else f"page_{name}_{WIDTH}.png")
    tab.screenshot(path=str(path))
    tab.set_viewport_size({"width": WIDTH, "height": 900})
    return path


def _go(tab, label: str) -> None:
    """Switch page with the sidebar navigation (keeps the browser session)."""
    tab.locator("[data-testid='stSidebarNav'] a", has_text=label).first.click()
    _idle(tab)


def _pick_on_projection(tab) -> None:
    """Drag a box over the left half of the original model's embedding projection: the images of the
    picked points appear under the charts."""
    charts = tab.locator("[data-testid='stPlotlyChart']")
    target = next(
        (charts.nth(i) for i in range(charts.count()) if "original (PCA)" in charts.nth(i).inner_text()), None
    )
    assert target is not None, "no projection chart on the Compare page"
    target.scroll_into_view_if_needed()
    tab.wait_for_timeout(800)
    box = target.locator(".nsewdrag").first.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.05, box["y"] + box["height"] * 0.05
    x1, y1 = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.95
    tab.mouse.move(x0, y0)
    tab.mouse.down()
    tab.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
    tab.mouse.move(x1, y1, steps=5)
    tab.mouse.up()
    tab.get_by_text("Picked test images").first.wait_for(timeout=60_000)
    _idle(tab)
    _no_traceback(tab)


def _no_traceback(tab) -> None:
    assert tab.locator("[data-testid='stException']").count() == 0
    assert tab.get_by_text("unexpected error").count() == 0


def test_the_whole_flow_on_the_built_in_demo(page, artifacts_dir):
    timings = walk_through(page, artifacts_dir)
    assert timings["unlearning"] < 900


def walk_through(tab, artifacts_dir: Path, *, method: str | None = None) -> dict:
    """Load -> Audit -> Unlearn (switching pages while it runs) -> Compare -> Report; screenshots."""
    timings, start = {}, time.time()
    # a bookmarked page opens inside the app (its navigation and sidebar), not alone
    tab.get_by_role("heading", name="Audit").wait_for(timeout=300_000)
    nav = tab.locator("[data-testid='stSidebarNav']")
    nav.get_by_text("Report / history").wait_for(timeout=60_000)
    assert nav.get_by_text("app", exact=True).count() == 0
    _go(tab, "Load")
    # Load: the demo opens loaded, with its dataset and model cards
    tab.get_by_role("heading", name="Binary coloured digits").wait_for(timeout=300_000)
    tab.get_by_text("Model card").wait_for()
    timings["loaded"] = time.time() - start
    _no_traceback(tab)
    sidebar = tab.locator("[data-testid='stSidebar']").inner_text()
    assert "binary-colored-digits" in sidebar and "small_cnn" in sidebar
    _shot(tab, artifacts_dir, "1_load")

    # Audit: metrics, charts, confusion matrices, Grad-CAM
    _go(tab, "Audit")
    tab.get_by_text("Demographic parity gap").first.wait_for(timeout=60_000)
    tab.get_by_text("Where the model looks").wait_for(timeout=60_000)
    tab.locator("[data-testid='stPlotlyChart'] .js-plotly-plot").nth(2).wait_for(timeout=60_000)  # drawn lazily
    _no_traceback(tab)
    _shot(tab, artifacts_dir, "2_audit")

    # Unlearn: start a run, leave the page while it runs, come back to its result
    _go(tab, "Unlearn")
    tab.get_by_text("Forget set preview").wait_for(timeout=60_000)
    if method is not None:
        _select(tab, "Method", method)
    t0 = time.time()
    tab.get_by_role("button", name="Run unlearning").click()
    tab.get_by_text("Unlearning with").first.wait_for(timeout=30_000)
    _go(tab, "Audit")
    tab.get_by_text("Demographic parity gap").first.wait_for(timeout=60_000)
    _go(tab, "Unlearn")
    # auto's search may use its whole 600 s budget on a loaded machine, and measuring comes after it
    tab.get_by_text("Result:").wait_for(timeout=900_000)
    timings["unlearning"] = time.time() - t0
    tab.locator("[data-testid='stPlotlyChart'] .js-plotly-plot").first.wait_for(timeout=60_000)
    timings["first_radar"] = time.time() - start
    _no_traceback(tab)
    _shot(tab, artifacts_dir, "3_unlearn")

    # Compare: radar, per-group bars, before / after table, Grad-CAM strips
    _go(tab, "Compare")
    tab.get_by_text("Scores before and after").first.wait_for(timeout=60_000)
    tab.locator("[data-testid='stPlotlyChart'] .js-plotly-plot").nth(1).wait_for(timeout=60_000)
    _no_traceback(tab)
    _shot(tab, artifacts_dir, "4_compare")
    _pick_on_projection(tab)

    # Report / history: the run is listed and its HTML report downloads
    _go(tab, "Report")
    tab.get_by_role("button", name="HTML report").wait_for(timeout=60_000)
    with tab.expect_download(timeout=120_000) as download:
        tab.get_by_role("button", name="HTML report").click()
    html = Path(download.value.path()).read_text(encoding="utf-8")
    assert "<html" in html.lower() and "plotly" in html.lower()
    _no_traceback(tab)
    _shot(tab, artifacts_dir, "5_report")
    return timings


def cold_start(tab, *, method: str | None = None) -> dict:
    """From the first page to the first radar chart: wait for the demo, run unlearning, see its radar.

    Returns seconds since the call: ``loaded`` (demo data and baseline ready), ``unlearning`` (the
    run itself, from the click) and ``first_radar`` (the radar chart drawn).
    """
    timings, start = {}, time.time()
    tab.get_by_role("heading", name="Binary coloured digits").wait_for(timeout=600_000)
    timings["loaded"] = time.time() - start
    _go(tab, "Unlearn")
    tab.get_by_text("Forget set preview").wait_for(timeout=60_000)
    if method is not None:
        _select(tab, "Method", method)
    t0 = time.time()
    tab.get_by_role("button", name="Run unlearning").click()
    tab.get_by_text("Result:").wait_for(timeout=600_000)
    timings["unlearning"] = time.time() - t0
    tab.locator("[data-testid='stPlotlyChart'] .js-plotly-plot").first.wait_for(timeout=60_000)
    timings["first_radar"] = time.time() - start
    _no_traceback(tab)
    return timings


def _select(tab, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label``."""
    box = tab.locator("[data-testid='stSelectbox']", has_text=label).first
    box.click()
    tab.get_by_role("option", name=option).first.click()
    _idle(tab)
