"""How long unlearning takes on the digit scenarios, on one CPU thread, and how much of it is validation.

Run: ``.venv/bin/python -m benchmarks.speed_digits`` (writes ``benchmarks/results/speed_digits.md``);
``--repeats 3``, ``--intensity 0.75``, ``--scenarios``.

For each method the method alone runs (``UnlearningMethod.run``: no before / after audits, no
membership inference, no views) on the scenario's seed-0 baseline with the bias-aligned forget set,
``--repeats`` times, and the median wall time is reported with the share of it spent judging
checkpoints on the validation split (the time inside :meth:`bamu_core.unlearn._select.Judge.evaluate`
and ``evaluate_logits``, measured by wrapping them). ``auto`` runs once per search depth (quick and
thorough). Goals: a single method <= 3 s with validation <= 25 % of it; ``auto`` <= 60 s. The
machine may be shared: the load average at start and end is printed with the table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from pathlib import Path

import torch

from bamu_core.data import load_scenario
from bamu_core.forget import select_forget
from bamu_core.models import train_baseline
from bamu_core.storage import atomic_write
from bamu_core.unlearn import get_method, search_overrides
from bamu_core.unlearn._select import Judge

OUT = Path(__file__).parent / "results" / "speed_digits.md"
METHODS = ("ga", "lora", "distill", "newton", "dfr", "balanced_finetune", "counterfactual", "finetune")


@contextlib.contextmanager
def _timed_validation(clock: list[float]):
    """Add the seconds spent in ``Judge.evaluate_logits`` (every validation pass ends there) to ``clock``."""
    original = Judge.evaluate_logits
    original_eval = Judge.evaluate
    depth = [0]

    def timed(fn):
        def wrapper(self, *args, **kwargs):
            depth[0] += 1
            t = time.perf_counter()
            try:
                return fn(self, *args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:  # evaluate calls evaluate_logits: count the outer call once
                    clock[0] += time.perf_counter() - t

        return wrapper

    Judge.evaluate_logits, Judge.evaluate = timed(original), timed(original_eval)
    try:
        yield
    finally:
        Judge.evaluate_logits, Judge.evaluate = original, original_eval


def measure(name: str, methods, intensity: float, repeats: int) -> list[dict]:
    sc = load_scenario(name)
    model, _ = train_baseline(sc)
    forget, retain = select_forget(sc, "aligned").split(sc.train, seed=0)
    rows = []
    runs = [(m, {}) for m in methods] + [("auto", search_overrides("quick")), ("auto", {})]
    for method, hp in runs:
        if get_method(method).needs_counterfactual and not forget.has_counterfactual:
            continue
        label = method if method != "auto" else f"auto ({'quick' if hp else 'thorough'})"
        times, shares, statuses = [], [], []
        for _ in range(1 if method == "auto" else repeats):
            clock = [0.0]
            with _timed_validation(clock):
                t = time.perf_counter()
                res = get_method(method).run(
                    model, forget, retain, intensity=intensity, val=sc.val, hyperparameters=hp, seed=0
                )
                wall = time.perf_counter() - t
            times.append(wall)
            shares.append(clock[0] / wall if wall > 0 else 0.0)
            statuses.append(res.status)
        rows.append(
            {
                "scenario": name,
                "method": label,
                "seconds": statistics.median(times),
                "validation_share": statistics.median(shares),
                "runs": len(times),
                "status": ", ".join(sorted(set(statuses))),
            }
        )
        print(rows[-1], flush=True)
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenarios", default="binary-colored-digits,colored-digits")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--intensity", type=float, default=0.75)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    load0 = os.getloadavg()[0]
    rows = []
    for name in args.scenarios.split(","):
        rows += measure(name, args.methods.split(","), args.intensity, args.repeats)
    load1 = os.getloadavg()[0]
    lines = [
        "# Unlearning speed on the digit scenarios (one CPU thread)",
        "",
        f"Made by `python -m benchmarks.speed_digits --repeats {args.repeats} --intensity {args.intensity}` on "
        f"{time.strftime('%Y-%m-%d')}: CPU ({os.cpu_count()} cores, shared; load average {load0:.1f} at start, "
        f"{load1:.1f} at end), torch {torch.__version__} on one thread; seed-0 baselines, forget set = bias-aligned "
        "images. The method alone (no audits, no membership inference, no views); median of the repeats "
        "(`auto`: one run per search depth). Validation = time spent judging checkpoints on the validation split.",
        "",
        "| scenario | method | seconds | validation share | runs | status |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['method']} | {r['seconds']:.2f} | {r['validation_share']:.0%} | {r['runs']} | "
            f"{r['status']} |"
        )
    lines += ["", "Goals: a single method <= 3 s with validation <= 25 % of it; `auto` <= 60 s.", ""]
    text = "\n".join(lines)
    atomic_write(args.out, lambda tmp: tmp.write_text(text))
    print(text)


if __name__ == "__main__":
    main()
