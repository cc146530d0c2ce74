"""Is the race bias of the ``utkface-gender`` baseline real? Train it and measure, per seed.

Run from the repository root (needs the UTKFace folder, see ``bamu_core/data/utkface.py``)::

    .venv/bin/python -m benchmarks.utkface_bias run --seeds 0        # one seed: biased + reference model
    .venv/bin/python -m benchmarks.utkface_bias run --seeds 1,2
    .venv/bin/python -m benchmarks.utkface_bias report               # -> results/utkface_bias.md

Protocol. For every seed the scenario is built with that seed (split and minority subsample) and
its baseline recipe is trained from scratch with the same seed (``train_baseline``, no cache).
:func:`bamu_core.data.utkface.check_bias` then measures, on the balanced test split (100 images
per race x gender cell), accuracy and the demographic-parity (DP) and equalized-odds (EO)
differences over race (class 1 = male positive) with 95 % group-stratified bootstrap intervals
(1,000 resamples), and a chance level: the 95 % quantile of the same gap with race labels
permuted within each true class (2,000 permutations), with its p-value. As a second noise
reference the same recipe is trained on the same split with the minority cell kept whole
(``minority_share=1``); its gaps show what the model does without the removal. Rows accumulate in
``results/utkface_bias.jsonl`` (a rerun of a seed replaces its rows in the report). With
``--minority-cell female/indian --no-reference`` the same is measured with another cell made rare
(the reference keeps every cell whole, so it is the same model for every cell).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from bamu_core.data import load_scenario
from bamu_core.data.utkface import check_bias
from bamu_core.models import train_baseline
from bamu_core.storage import atomic_write

HERE = Path(__file__).parent / "results"
ROWS = HERE / "utkface_bias.jsonl"
REPORT = HERE / "utkface_bias.md"
DEVICE = "CPU, 2 shared cores"
VARIANTS = {"biased": {}, "reference (minority kept whole)": {"minority_share": 1.0}}


def run(seeds: list[int], threads: int, reference: bool, minority_cell: str | None = None) -> None:
    torch.set_num_threads(threads)
    HERE.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        for variant, options in VARIANTS.items():
            if options and not reference:
                continue
            cell = {} if minority_cell is None else {"minority_cell": minority_cell}
            sc = load_scenario("utkface-gender", seed=seed, **cell, **options)
            start = time.perf_counter()
            model, info = train_baseline(sc, seed=seed, use_cache=False)
            seconds = time.perf_counter() - start
            result = check_bias(model, sc)
            row = {
                "seed": seed,
                "variant": variant,
                "options": {k: v for k, v in sc.options.items() if k != "utkface_root"},  # no local paths
                "recipe": info.recipe,
                "train_seconds": round(seconds, 1),
                "threads": threads,
                "device": DEVICE,
                "n_train": len(sc.train),
                "train_cells": {
                    f"{g}/{r}": int(n)
                    for r, counts in zip(sc.train.group_names["race"], sc.train.counts("race"))
                    for g, n in zip(sc.class_names, counts)
                },
                "check": result.as_dict(),
                "torch": torch.__version__,
                "python": platform.python_version(),
                "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            with open(ROWS, "a") as fh:  # one line per write: concurrent seeds do not interleave
                fh.write(json.dumps(row) + "\n")
            print(
                f"{sc.options['minority_cell']} seed {seed} {variant}: {seconds:.0f} s; {result.summary()}", flush=True
            )


def _rows() -> list[dict]:
    latest: dict[tuple, dict] = {}
    if ROWS.exists():
        for line in ROWS.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                latest[(row["options"]["minority_cell"], row["variant"], row["seed"])] = row
    order = {"female/white": 0}  # the scenario's default first
    return [
        latest[k] for k in sorted(latest, key=lambda k: (order.get(k[0], 1), k[0], list(VARIANTS).index(k[1]), k[2]))
    ]


def _ci(check: dict, key: str) -> str:
    low, high = check[f"{key}_ci"]
    return f"{check[key]:.3f} [{low:.3f}, {high:.3f}]"


def report() -> str:
    rows = _rows()
    if not rows:
        raise SystemExit(f"no rows in {ROWS}; run `python -m benchmarks.utkface_bias run` first")
    recipe = rows[0]["recipe"]
    lines = [
        "# utkface-gender: is the baseline's race bias real?",
        "",
        "Written by `python -m benchmarks.utkface_bias report` from `utkface_bias.jsonl` (see the script for the",
        f"protocol). Device: {DEVICE} (torch {rows[0]['torch']}, {rows[0]['threads']} thread(s) per run). Recipe: "
        f"`{recipe['arch']}` from scratch, {recipe['epochs']} epochs, {recipe['optimizer']} lr {recipe['lr']}, "
        f"batch {recipe['batch_size']}, {rows[0]['options']['image_size']} px. Share of the minority cell kept in "
        f"the biased variant: {rows[0]['options']['minority_share']:.0%} (the scenario's default cell is female/white). "
        "Training seconds are wall-clock times with other jobs sharing the cores (and seeds run side by side), so they "
        "are upper bounds.",
        "",
        "Test split: balanced, 100 images per race x gender cell (800). DP / EO: demographic-parity and",
        "equalized-odds differences over race (male = positive), with 95 % bootstrap intervals; chance: the 95 %",
        "quantile of the gap with race permuted within each true class, p its permutation p-value.",
        "",
        "| minority cell | variant | seed | train imgs | minority train | train s | test acc | minority acc | race DP "
        "[95 % CI] | DP chance (p) | race EO [95 % CI] | EO chance (p) | beyond noise |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        c = row["check"]
        lines.append(
            f"| {row['options']['minority_cell']} | {row['variant']} | {row['seed']} | {row['n_train']:,} | {row['train_cells'][row['options']['minority_cell']]:,} | "
            f"{row['train_seconds']:.0f} | {c['accuracy']:.3f} | {c['cell_accuracy'][row['options']['minority_cell']]:.2f} | "
            f"{_ci(c, 'dp')} | {c['dp_null']:.3f} ({c['dp_p']:.3f}) | {_ci(c, 'eo')} | "
            f"{c['eo_null']:.3f} ({c['eo_p']:.3f}) | {'yes' if c['beyond_noise'] else 'no'} |"
        )
    biased, reference = list(VARIANTS)
    # the reference keeps every cell whole: for one seed it is the same model whichever cell is the minority
    refs = {row["seed"]: row["check"] for row in rows if row["variant"] == reference}
    pairs = [row for row in rows if row["variant"] == biased and row["seed"] in refs]
    if pairs:
        lines += ["", "What removing the minority cell adds (biased minus reference, same seed and test split):", ""]
        for row in pairs:
            b, r = row["check"], refs[row["seed"]]
            lines.append(
                f"- {row['options']['minority_cell']}, seed {row['seed']}: race DP {b['dp'] - r['dp']:+.3f}, "
                f"race EO {b['eo'] - r['eo']:+.3f}, accuracy {b['accuracy'] - r['accuracy']:+.3f}"
            )
    lines += ["", "Accuracy per gender/race cell (test, 100 images each):", ""]
    cells = list(rows[0]["check"]["cell_accuracy"])
    lines += ["| minority cell | variant | seed | " + " | ".join(cells) + " |", "|---|---|---|" + "---|" * len(cells)]
    for row in rows:
        acc = row["check"]["cell_accuracy"]
        head = f"| {row['options']['minority_cell']} | {row['variant']} | {row['seed']} | "
        lines.append(head + " | ".join(f"{acc[k]:.2f}" for k in cells) + " |")
    text = "\n".join(lines) + "\n"
    atomic_write(REPORT, lambda tmp: tmp.write_text(text))
    return text


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train and measure for the given seeds")
    r.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    r.add_argument("--threads", type=int, default=int(os.environ.get("BAMU_BENCH_THREADS", "1")))
    r.add_argument("--no-reference", action="store_true", help="skip the model trained with the minority kept")
    r.add_argument("--minority-cell", help="another gender/race cell to make rare (default: the scenario's)")
    sub.add_parser("report", help=f"write {REPORT.name} from the rows")
    args = p.parse_args(argv)
    if args.cmd == "run":
        run([int(s) for s in args.seeds.split(",")], args.threads, not args.no_reference, args.minority_cell)
    else:
        print(report())


if __name__ == "__main__":
    main()
