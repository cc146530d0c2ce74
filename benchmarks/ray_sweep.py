"""Wall time of one sweep in this process and on an embedded local Ray.

Run from the repository root (ray installed: ``pip install -r requirements-ray.txt``)::

    .venv/bin/python -m benchmarks.ray_sweep            # writes benchmarks/results/ray_sweep.md

The sweep is the one ``tests/test_ray_executor.py`` checks: colored-digits with a one-epoch
baseline per seed, methods ga and finetune x intensities 0, 0.5, 1 x seeds 0, 1, 2 (18 runs,
three unlearning steps each, no bootstrap, no extra views). The baselines are trained and cached
once before any timing, so every contender only loads them. Contenders, timed alternately
``--repeats`` times (medians reported, since the CPU may be shared):

- ``local``: ``sweep(..., executor=None)``, the plain loop, torch's default threads;
- ``local, 1 thread``: ``InProcessExecutor(threads=1)`` (the numbers Ray must equal);
- ``ray``: ``RayExecutor(num_cpus=N, cpus_per_task=1)`` including starting and stopping Ray.

The script also checks that the Ray rows equal the one-thread rows to 1e-6.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "ray_sweep.md"
NUMBERS = ("accuracy", "dp", "eo", "worst_group_accuracy", "forget_accuracy", "mia_auc", "score")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--num-cpus", type=int, default=2, help="CPUs of the embedded Ray (default: 2)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    os.environ.setdefault("BAMU_HOME", tempfile.mkdtemp(prefix="bamu-ray-bench-"))
    os.environ.setdefault("BAMU_DEVICE", "cpu")

    from bamu_core.execution import InProcessExecutor, RayExecutor
    from bamu_core.insight import InsightOptions
    from bamu_core.workflows import SubjectRecipe, sweep

    spec = SubjectRecipe("colored-digits", epochs=1)
    grid = {"methods": ["ga", "finetune"], "intensities": [0.0, 0.5, 1.0], "seeds": [0, 1, 2]}
    quick = {
        "store": None,
        "n_boot": 0,
        "gradcam_images": 0,
        "mia_samples": 50,
        "insight": InsightOptions.off(),
        "hyperparameters": {"steps": 3, "eval_size": 32, "noise_factor": 0.0, "max_recall_drop": 1.0},
    }
    for seed in grid["seeds"]:
        spec(seed)  # train and cache the baselines before any timing
    contenders = {
        "local": lambda: sweep(spec, **grid, **quick),
        "local, 1 thread": lambda: sweep(spec, executor=InProcessExecutor(threads=1), **grid, **quick),
        "ray": lambda: sweep(spec, executor=RayExecutor(num_cpus=args.num_cpus, cpus_per_task=1), **grid, **quick),
    }
    times: dict[str, list[float]] = {k: [] for k in contenders}
    rows = {}
    for r in range(args.repeats):
        for name, run in contenders.items():
            t0 = time.perf_counter()
            rows[name] = run().rows
            times[name].append(time.perf_counter() - t0)
            print(f"repeat {r + 1}: {name} {times[name][-1]:.1f} s", flush=True)
    same = all(
        abs((getattr(a, k) or 0.0) - (getattr(b, k) or 0.0)) <= 1e-6
        for a, b in zip(rows["ray"], rows["local, 1 thread"])
        for k in NUMBERS
    )
    med = {k: statistics.median(v) for k, v in times.items()}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# Sweep wall time: in process vs an embedded local Ray",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} CPU(s), "
        f"load average {load:.1f} at the end (the machine is shared: read the ratio, not the seconds), "
        f"median of {args.repeats}.",
        "",
        "18 runs: colored-digits, ga and finetune x intensities 0, 0.5, 1 x seeds 0, 1, 2 "
        f"(`python -m benchmarks.ray_sweep`); Ray with {args.num_cpus} CPUs, 1 per task, start and stop included.",
        "",
        "| contender | median s | runs (s) | ratio to local |",
        "|---|---:|---|---:|",
    ]
    for name, v in times.items():
        lines.append(
            f"| {name} | {med[name]:.1f} | {', '.join(f'{x:.1f}' for x in v)} | {med[name] / med['local']:.2f} |"
        )
    lines += ["", f"Ray rows equal the one-thread in-process rows to 1e-6: {'yes' if same else 'NO'}.", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
