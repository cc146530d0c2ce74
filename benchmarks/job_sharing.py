"""A small job of one session beside another session's long job, with a real ``JobManager``.

Session "A" starts a long job (unlearning with ``auto`` on ``colored-digits``, its search budget cut
from 600 to ``--long-budget`` = 120 s so that the run stays short); ``--delay`` seconds
after it started, session "B" submits a small one (``newton`` on ``binary-colored-digits``). The
script measures B's wait (``started - created``) and B's run time (``finished - started``), and the
same small job's run time on an idle manager, each the median of ``--repeats`` repeats. With the
cap set to 1 (one job at a time per device, the behaviour before fair sharing) it measures B's wait
again, ``--old-repeats`` times: it should equal what was left of A's job when B was submitted.

Both subjects are loaded first (their baselines trained from scratch in a temporary
``BAMU_HOME``), outside the measurements. Each job sets its torch threads as the dashboard's jobs
do (``$BAMU_THREADS``, else all cores but one). Nothing is saved in a run store. In the shared
repeats A is cancelled once B has finished (its remaining time is not what is measured there).

    .venv/bin/python -m benchmarks.job_sharing                 # prints JSON, writes the result file
    .venv/bin/python -m benchmarks.job_sharing --repeats 1 --old-repeats 0 --no-write   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "job_sharing.md"
GOAL_S = 10.0


def _threads() -> int:
    env = os.environ.get("BAMU_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, (os.cpu_count() or 2) - 1)


def _unlearn_job(subject, method: str, hyperparameters: dict | None = None):
    def fn(progress, should_stop):
        import torch

        from bamu_core.workflows import unlearn

        torch.set_num_threads(_threads())  # as dashboard.jobs does, in the job's own thread
        return unlearn(
            subject,
            method=method,
            intensity=0.5,
            forget="aligned",
            hyperparameters=hyperparameters,
            seed=0,
            progress=progress,
            should_stop=should_stop,
            store=None,
        )

    return fn


def _await_running(job, timeout: float = 60.0) -> None:
    end = time.time() + timeout
    while job.state == "queued" and time.time() < end:
        time.sleep(0.01)
    if job.state != "running":
        raise RuntimeError(f"the long job did not start: {job.state} {job.error}")


def _side_by_side(cap: int, long_fn, small_fn, delay: float) -> dict:
    from bamu_core.jobs import JobManager

    manager = JobManager(max_concurrent=cap)
    try:
        a = manager.submit(long_fn, kind="unlearn", label="long", owner="A")
        _await_running(a)
        time.sleep(max(0.0, a.started + delay - time.time()))
        b = manager.submit(small_fn, kind="unlearn", label="small", owner="B")
        manager.wait(b.id, timeout=1800)
        if b.state != "done":
            raise RuntimeError(f"the small job ended {b.state}: {b.error}")
        a_was_running = a.state == "running"
        if cap > 1:
            manager.cancel(a.id)
        manager.wait(a.id, timeout=1800)
        row = {
            "small_wait_s": round(b.started - b.created, 2),
            "small_run_s": round(b.finished - b.started, 2),
            "long_still_running_when_small_finished": a_was_running,
        }
        if cap == 1:
            if a.state != "done":
                raise RuntimeError(f"the long job ended {a.state}: {a.error}")
            row["long_left_when_small_submitted_s"] = round(a.finished - b.created, 2)
            row["long_run_s"] = round(a.finished - a.started, 2)
        return row
    finally:
        manager.shutdown(timeout=60)


def _alone(small_fn) -> float:
    from bamu_core.jobs import JobManager

    manager = JobManager()
    try:
        job = manager.submit(small_fn, kind="unlearn", label="small", owner="B")
        manager.wait(job.id, timeout=1800)
        if job.state != "done":
            raise RuntimeError(f"the small job ended {job.state}: {job.error}")
        return round(job.finished - job.started, 2)
    finally:
        manager.shutdown(timeout=60)


def _median(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if key in r]
    return round(statistics.median(values), 2) if values else None


def measure(args) -> dict:
    load_start = os.getloadavg()
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="bamu-sharing-") as home:
        os.environ["BAMU_HOME"] = home  # baselines trained from scratch, nothing cached beforehand
        import torch

        from bamu_core.jobs import DEFAULT_MAX_CONCURRENT
        from bamu_core.workflows import load_subject

        torch.set_num_threads(_threads())
        t = time.time()
        long_subject = load_subject(scenario=args.long_scenario)
        small_subject = load_subject(scenario=args.small_scenario)
        prepare_s = time.time() - t
        long_fn = _unlearn_job(
            long_subject, args.long_method, {"budget_s": args.long_budget} if args.long_method == "auto" else None
        )
        small_fn = _unlearn_job(small_subject, args.small_method)

        alone = [_alone(small_fn) for _ in range(args.repeats)]
        print(f"small job alone: {alone} s", file=sys.stderr, flush=True)
        shared = []
        for i in range(args.repeats):
            shared.append(_side_by_side(DEFAULT_MAX_CONCURRENT, long_fn, small_fn, args.delay))
            print(f"shared repeat {i + 1}: {shared[-1]}", file=sys.stderr, flush=True)
        old = []
        for i in range(args.old_repeats):
            old.append(_side_by_side(1, long_fn, small_fn, args.delay))
            print(f"cap 1 repeat {i + 1}: {old[-1]}", file=sys.stderr, flush=True)
    load_end = os.getloadavg()
    return {
        "long_job": f"unlearn {args.long_method} on {args.long_scenario} (owner A)"
        + (f", search budget {args.long_budget:.0f} s" if args.long_method == "auto" else ""),
        "small_job": f"unlearn {args.small_method} on {args.small_scenario} (owner B)",
        "small_submitted_after_long_started_s": args.delay,
        "repeats": args.repeats,
        "cap": DEFAULT_MAX_CONCURRENT,
        "fair_sharing": {
            "small_wait_s_median": _median(shared, "small_wait_s"),
            "small_run_s_median": _median(shared, "small_run_s"),
            "rows": shared,
        },
        "small_alone_run_s_median": round(statistics.median(alone), 2) if alone else None,
        "small_alone_rows_s": alone,
        "one_at_a_time_cap_1": {
            "small_wait_s_median": _median(old, "small_wait_s"),
            "long_left_when_small_submitted_s_median": _median(old, "long_left_when_small_submitted_s"),
            "long_run_s_median": _median(old, "long_run_s"),
            "small_run_s_median": _median(old, "small_run_s"),
            "rows": old,
        },
        "goal_small_wait_s": GOAL_S,
        "prepare_s": round(prepare_s, 1),
        "total_s": round(time.time() - t0, 1),
        "device": "cpu",
        "cpus": os.cpu_count(),
        "torch_threads_per_job": _threads(),
        "load_average_1min_start": round(load_start[0], 2),
        "load_average_1min_end": round(load_end[0], 2),
        "python": platform.python_version(),
    }


def write_markdown(r: dict, path: Path = RESULT) -> None:
    fs, old = r["fair_sharing"], r["one_at_a_time_cap_1"]
    verdict = "meets" if fs["small_wait_s_median"] is not None and fs["small_wait_s_median"] <= GOAL_S else "misses"
    lines = [
        "# A small job beside another session's long job",
        "",
        "Written by `.venv/bin/python -m benchmarks.job_sharing` (a real `bamu_core.jobs.JobManager`,",
        "real workflows). Session A starts the long job; "
        f"{r['small_submitted_after_long_started_s']:.0f} s after it started, session B submits the small one.",
        "",
        f"- long job: {r['long_job']}",
        f"- small job: {r['small_job']}",
        f"- device: CPU, {r['cpus']} cores shared with other work, {r['torch_threads_per_job']} torch thread per job;"
        f" 1-minute load average {r['load_average_1min_start']} at the start, {r['load_average_1min_end']} at the end",
        f"- medians of {r['repeats']} repeats (cap 1: {len(old['rows'])});"
        f" whole run {r['total_s']:.0f} s, of which {r['prepare_s']:.0f} s training both baselines",
        "",
        "| | B waits (s) | B runs (s) | note |",
        "|---|---|---|---|",
        f"| fair sharing (cap {r['cap']}, the default) | **{fs['small_wait_s_median']}** | {fs['small_run_s_median']}"
        " | A keeps running beside B |",
        f"| small job alone | – | {r['small_alone_run_s_median']} | idle manager |",
    ]
    if old["rows"]:
        lines.append(
            f"| one at a time (`BAMU_MAX_CONCURRENT_JOBS=1`, as before) | {old['small_wait_s_median']} |"
            f" {old['small_run_s_median']} | A had {old['long_left_when_small_submitted_s_median']} s left"
            f" (of {old['long_run_s_median']} s) when B was submitted |"
        )
    lines += [
        "",
        f"Goal: B waits at most {GOAL_S:.0f} s; this run {verdict} it. B's run time beside A against alone is"
        " the price of sharing the cores.",
    ]
    if old["rows"] and fs["small_run_s_median"] and r["small_alone_run_s_median"]:
        shared_total = fs["small_wait_s_median"] + fs["small_run_s_median"]
        old_total = old["small_wait_s_median"] + old["small_run_s_median"]
        slower = fs["small_run_s_median"] / r["small_alone_run_s_median"]
        lines.append(
            f"B's result came {shared_total:.1f} s after it was submitted (median) against {old_total:.1f} s one at"
            f" a time; beside A it ran {slower:.1f} times slower than alone, the cores being shared by A, B and"
            " the machine's other work."
        )
    lines += [
        "",
        "Rerun: `.venv/bin/python -m benchmarks.job_sharing` (options: `--repeats`, `--old-repeats`, `--delay`,"
        " `--long-method`, `--long-budget`, `--long-scenario`, `--small-method`, `--small-scenario`).",
        "",
        "```json",
        json.dumps(r, indent=1),
        "```",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--old-repeats", type=int, default=1, help="repeats with the cap at 1 (each waits for A)")
    parser.add_argument("--delay", type=float, default=3.0, help="seconds between A's start and B's submission")
    parser.add_argument("--long-method", default="auto")
    parser.add_argument("--long-budget", type=float, default=120.0, help="auto's search budget in s (page: 600)")
    parser.add_argument("--long-scenario", default="colored-digits")
    parser.add_argument("--small-method", default="newton")
    parser.add_argument("--small-scenario", default="binary-colored-digits")
    parser.add_argument("--no-write", action="store_true", help="print the JSON only")
    args = parser.parse_args(argv)
    result = measure(args)
    print(json.dumps(result))
    if not args.no_write:
        write_markdown(result)
        print(f"wrote {RESULT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
