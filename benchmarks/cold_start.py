"""Cold start of the dashboard to its first radar chart, on the CPU, in a real browser.

Starts ``streamlit run app.py`` with an EMPTY ``BAMU_HOME`` (so the demo's baseline is trained on
first use, nothing is cached), opens it in headless Chromium, waits for the built-in demo to load,
runs unlearning with the default settings of the Unlearn page and stops the clock when the radar
chart of the result is drawn. Prints one JSON line and writes ``benchmarks/out/cold_start.json``.

    .venv/bin/python -m benchmarks.cold_start            # the page's default method (auto)
    .venv/bin/python -m benchmarks.cold_start --method newton
    .venv/bin/python -m benchmarks.cold_start --method ga
    .venv/bin/python -m benchmarks.cold_start --repeats 3 --method newton --md benchmarks/results/cold_start.md

Needs ``/usr/bin/chromium``. The browser flow is the one of ``tests/test_e2e_browser.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bamu_core.storage import atomic_write

ROOT = Path(__file__).resolve().parent.parent


def _one(method: str | None) -> dict:
    from test_e2e_browser import browser_tab, cold_start, serve

    from dashboard.jobs import compute_threads

    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bamu-cold-") as home:
        t0 = time.time()
        with serve(Path(home), Path(home) / "streamlit.log") as url:
            server = time.time() - t0
            with browser_tab(url) as tab:
                flow = cold_start(tab, method=method)
        total = time.time() - t0
    return {
        "server_start_s": round(server, 1),
        "demo_loaded_s": round(server + flow["loaded"], 1),
        "unlearning_s": round(flow["unlearning"], 1),
        "first_radar_s": round(server + flow["first_radar"], 1),
        "total_s": round(total, 1),
        "method": method or "page default",
        "device": "cpu",
        "app_compute_threads": compute_threads(),
        "cpus": os.cpu_count(),
        "load_average_1min_at_start": round(load_start, 2),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
    }


def report(runs: list[dict], command: str) -> str:
    """The runs as a markdown table, with the median time to the first radar per method."""
    lines = [
        "# Dashboard cold start to the first radar chart",
        "",
        f"Made by `{command}` on {time.strftime('%Y-%m-%d')}: CPU ({runs[0]['cpus']} cores, shared), "
        f"{runs[0]['app_compute_threads']} compute thread(s) in the app; an empty `BAMU_HOME` per run (the demo's "
        "baseline is trained on first use); headless Chromium. Load average = 1-minute load of the machine "
        "(the benchmark's own server and browser included).",
        "",
        "| method | first radar (s) | demo loaded (s) | unlearning (s) | load average start / end |",
        "|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['method']} | {r['first_radar_s']} | {r['demo_loaded_s']} | {r['unlearning_s']} | "
            f"{r['load_average_1min_at_start']} / {r['load_average_1min_at_end']} |"
        )
    lines += [""]
    for method in dict.fromkeys(r["method"] for r in runs):
        times = sorted(r["first_radar_s"] for r in runs if r["method"] == method)
        lines.append(
            f"- {method}: median {statistics.median(times):.1f} s to the first radar over {len(times)} run(s) "
            f"(range {times[0]}-{times[-1]} s)."
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--method",
        action="append",
        help="unlearning method to pick on the Unlearn page (repeatable; default: the page's default)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs per method")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "cold_start.json"))
    parser.add_argument(
        "--md", help="also write the runs as a markdown table here (e.g. benchmarks/results/cold_start.md)"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    from test_e2e_browser import CHROMIUM

    if not CHROMIUM.exists():
        print("needs /usr/bin/chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    runs = []
    for method in args.method or [None]:
        for _ in range(max(1, args.repeats)):
            runs.append(_one(method))
            print(json.dumps(runs[-1]), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(runs if len(runs) > 1 else runs[0], indent=2) + "\n")
    if args.md:
        command = "python -m benchmarks.cold_start " + " ".join(argv if argv is not None else sys.argv[1:])
        atomic_write(Path(args.md), lambda tmp: tmp.write_text(report(runs, command.strip())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
