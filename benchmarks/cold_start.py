"""Cold start of the dashboard to its first radar chart, on the CPU, in a real browser.

Starts ``streamlit run app.py`` with an EMPTY ``BAMU_HOME`` (so the demo's baseline is trained on
first use, nothing is cached), opens it in headless Chromium, waits for the built-in demo to load,
runs unlearning with the default settings of the Unlearn page and stops the clock when the radar
chart of the result is drawn. Prints one JSON line and writes ``benchmarks/out/cold_start.json``.

    .venv/bin/python -m benchmarks.cold_start            # the page's default method (auto)
    .venv/bin/python -m benchmarks.cold_start --method newton
    .venv/bin/python -m benchmarks.cold_start --method ga

Needs ``/usr/bin/chromium``. The browser flow is the one of ``tests/test_e2e_browser.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", help="unlearning method to pick on the Unlearn page (default: the page's default)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "cold_start.json"))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    from test_e2e_browser import CHROMIUM, browser_tab, cold_start, serve

    if not CHROMIUM.exists():
        print("needs /usr/bin/chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    from dashboard.jobs import compute_threads

    with tempfile.TemporaryDirectory(prefix="bamu-cold-") as home:
        t0 = time.time()
        with serve(Path(home), Path(home) / "streamlit.log") as url:
            server = time.time() - t0
            with browser_tab(url) as tab:
                flow = cold_start(tab, method=args.method)
        total = time.time() - t0
    result = {
        "server_start_s": round(server, 1),
        "demo_loaded_s": round(server + flow["loaded"], 1),
        "unlearning_s": round(flow["unlearning"], 1),
        "first_radar_s": round(server + flow["first_radar"], 1),
        "total_s": round(total, 1),
        "method": args.method or "page default",
        "device": "cpu",
        "app_compute_threads": compute_threads(),
        "cpus": os.cpu_count(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
