"""The HTML report of a real run in headless Chromium at a laptop (1366 x 768) and a desktop
(1920 x 1080) window: nothing is wider than the window, tables scroll inside their own box, and the
screenshots ``tests/artifacts/report_1366.png`` / ``report_1920.png`` show the whole page (look at them).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# a long message without spaces and long settings: they must wrap, not widen the page
LONG = "checkpoint-" + "x" * 180
LONG_WORDS = " ".join(["the run stopped early because the validation gap stopped improving"] * 4)

# Every element whose right edge is past the window, unless a box that clips or scrolls it
# horizontally (overflow-x other than visible) holds it and itself ends inside the window.
_OFFENDERS = """() => {
  const width = window.innerWidth, out = [];
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== "visible") return p.getBoundingClientRect().right <= width + 0.5;
    }
    return false;
  };
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= width + 0.5 || clipped(el)) continue;
    const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && el.className.baseVal === undefined
      ? "." + String(el.className).trim().replace(/\\s+/g, ".") : "");
    out.push(name + " right=" + Math.round(r.right));
  }
  return out.slice(0, 20);
}"""

# Each table's box: the table's width and the box's, whether the box must scroll to show it all.
_TABLES = """() => Array.from(document.querySelectorAll(".table-scroll")).map(b => ({
  section: b.closest("section") ? b.closest("section").id : "",
  table: Math.round(b.scrollWidth), box: Math.round(b.clientWidth)}))"""


@pytest.fixture(scope="module")
def report_path(binary_digits, tmp_path_factory) -> Path:
    """The report of a real stored run: a briefly trained binary colored-digits model unlearned with
    gradient ascent (both audits, privacy, radar, Grad-CAM), plus a long message and settings. Binary:
    the per-group table has all four metrics before and after (11 columns), the widest table."""
    from bamu_core.models import train_baseline
    from bamu_core.report import build_report
    from bamu_core.runs import RunStore
    from bamu_core.workflows import Subject, unlearn

    model, _ = train_baseline(binary_digits, epochs=2, use_cache=False)
    subject = Subject(scenario=binary_digits, model=model, arch="small_cnn", model_source="baseline (2 epochs)")
    store = RunStore(tmp_path_factory.mktemp("store"))
    run = unlearn(subject, method="ga", intensity=0.5, forget="aligned", store=store, n_boot=20)
    record = store.get(run.run_id)
    result = dict(record.result, message=f"{LONG_WORDS} {LONG}")
    result["settings"] = dict(result.get("settings") or {}, note=LONG)
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(build_report(result, artifacts=record.artifacts, run=record.to_dict()), encoding="utf-8")
    return path


@pytest.mark.parametrize("width,height", [(1366, 768), (1920, 1080)])
def test_the_report_fits_its_window(report_path, artifacts_dir, width, height):
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://") else r.abort())
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(report_path.as_uri())
            page.wait_for_selector("#radar .js-plotly-plot svg .polar", timeout=30_000)
            page.wait_for_selector("#groups .js-plotly-plot svg", timeout=30_000)
            page.wait_for_timeout(300)  # plotly's responsive resize
            scroll_width, inner_width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            offenders = page.evaluate(_OFFENDERS)
            tables = page.evaluate(_TABLES)
            page.screenshot(path=str(artifacts_dir / f"report_{width}.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert scroll_width <= inner_width, f"the page is {scroll_width} px wide in a {inner_width} px window"
    assert offenders == [], f"past the right edge of a {width} px window: {offenders}"
    # at these widths every table of the report fits its card: no scrolling needed to read a row
    assert tables and all(t["table"] <= t["box"] for t in tables), tables
    assert (artifacts_dir / f"report_{width}.png").stat().st_size > 20_000
