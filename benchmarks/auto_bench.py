"""``auto`` and the strong baselines, three seeds that vary the data.

Run: ``.venv/bin/python -m benchmarks.auto_bench`` (the digit scenarios: writes
``benchmarks/results/auto_digits.md`` and the raw rows ``auto_digits.json``) and
``.venv/bin/python -m benchmarks.auto_bench --scenarios utkface-gender --out
benchmarks/results/auto_utkface`` (the face scenario, which needs the UTKFace folder);
``--seeds 0,1,2``, ``--intensity 0.75``.

For every seed the scenario is drawn again (``load_scenario(name, seed=seed)``: the images, the
colours and the train / validation / test split change), its biased baseline is trained with that
seed, and every method runs through :func:`bamu_core.workflows.unlearn` at the same intensity
with the same seed. Checkpoints, ``auto``'s candidates and DFR's fit use the validation split
only; every number below is on the test split, which chooses nothing.

- ``binary-colored-digits``: groups = colour; headline = demographic-parity (DP) difference.
- ``colored-digits``: groups = alignment (colour-aligned vs colour-conflicting digits); headline =
  best-minus-worst group accuracy gap.
- ``utkface-gender``: gender from faces, groups = race (four groups, balanced test split);
  headline = demographic-parity difference, with the equalized-odds difference beside it.
  ``utkface-gender-val100`` is the same with 100 validation images per race x gender cell instead
  of 50 (taken from the training pool, so its baseline differs): ``--scenarios
  utkface-gender-val100 --out benchmarks/results/auto_utkface_val100``.

Rows: ``auto`` (every candidate, including ``counterfactual``, which needs a bias generator);
``auto (no generator)`` (the same search without it); the baselines ``dfr``,
``balanced_finetune`` and ``finetune without selection`` (the last step of a fine-tune on the
retain set, no validation); the paper's ``ga``, ``lora``, ``distill``; and ``counterfactual`` in
its own block. Cut = 1 - gap after / gap before; mean and 95 % t-interval over the seeds (n = 3 is
few: the intervals are wide). Torch runs on one thread; times are wall seconds on this machine,
which may be shared, so compare them within a table only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from bamu_core.data import load_scenario
from bamu_core.forget import select_forget
from bamu_core.metrics import audit_metrics
from bamu_core.models import train_baseline
from bamu_core.storage import atomic_write, atomic_write_json
from bamu_core.training import predict
from bamu_core.unlearn import INTENSITY_TABLE, get_method
from bamu_core.workflows import Subject, scenario_hyperparameters, unlearn

SCENARIOS = {
    "binary-colored-digits": {"attr": "colour", "headline": "demographic_parity_difference", "goal": 0.90},
    "colored-digits": {"attr": "alignment", "headline": "accuracy_gap", "goal": 0.70},
    "utkface-gender": {
        "attr": "race",
        "headline": "demographic_parity_difference",
        "goal": 0.50,
        "also": "equalized_odds_difference",
    },
    # the same with twice the validation images (100 per race x gender cell instead of 50, taken
    # from the training pool): does a larger held-out set let auto show what dfr does?
    "utkface-gender-val100": {
        "load": "utkface-gender",
        "options": {"val_per_cell": 100},
        "attr": "race",
        "headline": "demographic_parity_difference",
        "goal": 0.50,
        "also": "equalized_odds_difference",
    },
    # the patch shortcut: headline = the largest per-class parity gap between patched and clean
    # images (max over classes), beside it the target class's gap; points = clean accuracy and the
    # target's recall on clean images (the goal allows -1 and -5 points)
    "patch-cifar10": {
        "attr": "patch",
        "headline": "dp_max",
        "goal": 0.80,
        "also": "dp_target",
        "points": ("clean_accuracy", "target_recall_clean"),
    },
    "patch-cifar10-cat-top-left": {
        "load": "patch-cifar10",
        "options": {"target_class": "cat", "corner": "top-left"},
        "attr": "patch",
        "headline": "dp_max",
        "goal": 0.80,
        "also": "dp_target",
        "points": ("clean_accuracy", "target_recall_clean"),
    },
}
NO_GENERATOR = [c for c in INTENSITY_TABLE["auto"]["candidates"] if c != "counterfactual"]
ROWS = (
    ("auto", "auto", {}),
    ("auto (no generator)", "auto", {"candidates": NO_GENERATOR}),
    ("dfr", "dfr", {}),
    ("balanced_finetune", "balanced_finetune", {}),
    ("finetune without selection", None, {}),
    ("ga", "ga", {}),
    ("lora", "lora", {}),
    ("distill", "distill", {}),
    ("counterfactual", "counterfactual", {}),
)
GENERATOR_ROWS = {"auto", "counterfactual"}  # may use the counterfactual images
HERE = Path(__file__).parent / "results"


def _scenario_metrics(model, sc, spec: dict) -> dict:
    """The test metrics of ``model``; for the patch scenarios also the clean / patched views."""
    out = _test_metrics(model, sc.test, spec["attr"], sc.num_classes)
    if spec.get("load", "") == "patch-cifar10" or spec["attr"] == "patch":
        from .cifar_patch import _bias_metrics

        out.update(_bias_metrics(model, sc))
    return out


def _test_metrics(model, data, attr: str, num_classes: int) -> dict:
    pred = predict(model, data).argmax(1).numpy()
    m = audit_metrics(
        y_true=data.labels,
        y_pred=pred,
        groups=data.attrs[attr],
        group_names=data.group_names[attr],
        num_classes=num_classes,
        n_boot=0,
    )
    return {"accuracy": m["utility"]["accuracy"], **{k: m["fairness"][k] for k in SCENARIO_KEYS}}


SCENARIO_KEYS = ("demographic_parity_difference", "equalized_odds_difference", "accuracy_gap")


def _finetune_without_selection(subject: Subject, intensity: float, seed: int):
    """A fine-tune on the retain set for the table's step budget; the last step is kept."""
    sc = subject.scenario
    forget, retain = select_forget(sc, "aligned").split(sc.train, seed=seed)
    t0 = time.perf_counter()
    hp = scenario_hyperparameters(sc, "finetune", intensity, subject.arch)  # as unlearn() would set it
    res = get_method("finetune").run(
        subject.model, forget, retain, intensity=intensity, val=None, seed=seed, hyperparameters=hp
    )
    return res.model, res.status, time.perf_counter() - t0, res.steps, None


def run_seed(name: str, seed: int, intensity: float, log, rows_wanted=None) -> list[dict]:
    spec = SCENARIOS[name]
    sc = load_scenario(spec.get("load", name), seed=seed, **spec.get("options", {})).with_group(spec["attr"])
    t0 = time.perf_counter()
    model, info = train_baseline(sc, seed=seed)
    log(
        f"{name} seed {seed}: baseline {'from the cache' if info.cached else 'trained'} in {time.perf_counter() - t0:.0f} s"
    )
    subject = Subject(scenario=sc, model=model, arch=info.arch, model_source="baseline")
    before = _scenario_metrics(model, sc, spec)
    val_per_group = dict(zip(sc.val.group_names[spec["attr"]], np.bincount(sc.val.groups).tolist()))
    log(f"{name} seed {seed}: baseline {before}, validation images per group {val_per_group}")
    rows = []
    for label, method, hp in ROWS:
        if rows_wanted is not None and label not in rows_wanted:
            continue
        if method is not None and get_method(method).needs_counterfactual and not sc.train.has_counterfactual:
            continue  # no bias generator in this data
        if method is None:
            net, status, seconds, steps, chosen = _finetune_without_selection(subject, intensity, seed)
            search = None
        else:
            run = unlearn(
                subject,
                method=method,
                intensity=intensity,
                seed=seed,
                hyperparameters=hp,
                n_boot=0,
                mia_samples=200,
                gradcam_images=0,
            )
            net, status, seconds, steps, search = run.model, run.status, run.seconds, run.steps, run.search
            chosen = search["chosen"] if search else run.chosen_step
        after = _scenario_metrics(net, sc, spec)
        h = spec["headline"]
        row = {
            "scenario": name,
            "seed": seed,
            "row": label,
            "status": status,
            "seconds": seconds,
            "steps": steps,
            "chosen": chosen,
            "before": before,
            "after": after,
            "cut": 1.0 - after[h] / before[h] if before[h] > 0 else float("nan"),
            "cut_also": (1.0 - after[spec["also"]] / before[spec["also"]]) if "also" in spec else None,
            "accuracy_change": after["accuracy"] - before["accuracy"],
            **{f"{k}_change": after[k] - before[k] for k in spec.get("points", ())},
            "validation_per_group": val_per_group,
        }
        if search:
            row["candidates"] = [
                {k: c[k] for k in ("label", "status", "seconds", "gain", "val_accuracy", "admissible")}
                for c in search["candidates"]
            ]
            row["gain_noise"] = search.get("gain_noise")
            row["passed_over"] = search.get("passed_over")
        rows.append(row)
        log(
            f"  {label:<28} {h} {before[h]:.3f} -> {after[h]:.3f} (cut {row['cut']:.0%}), accuracy "
            f"{before['accuracy']:.3f} -> {after['accuracy']:.3f}, {seconds:.1f} s, {status}, chose {chosen}"
        )
    return rows


def _mean_ci(values) -> tuple[float, float, float]:
    """Mean and 95 % t-interval (nan half-width for n < 2)."""
    from scipy import stats

    v = np.asarray([x for x in values if x == x], dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if len(v) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return m, m - half, m + half


def _floor_lines(name: str, headline: str, original: float) -> list[str]:
    """The scenario's noise floor (``noise_floor.json``, when measured) and the largest cut it leaves."""
    path = HERE / "noise_floor.json"
    rows = json.loads(path.read_text())["rows"] if path.exists() else []
    mine = [r[headline] for r in rows if r["scenario"] == name and r.get(headline) is not None]
    if not mine:
        return [f"Noise floor of this gap: not measured (`python -m benchmarks.noise_floor --scenarios {name}`).", ""]
    m, lo, hi = _mean_ci(mine)
    ci = f" [{lo:.3f}, {hi:.3f}]" if lo == lo else ""
    best = f"{1 - m / original:.0%}" if original > 0 else "-"
    return [
        f"Noise floor (the same gap of a model trained without the bias, `noise_floor.md`, {len(mine)} seeds): "
        f"{m:.3f}{ci}; a model at the floor would show a cut of about {best}.",
        "",
    ]


def _cell(values, pct: bool = True, points: bool = False) -> str:
    m, lo, hi = _mean_ci(values)
    if m != m:
        return "-"
    scale, unit = (100.0, " %") if pct else ((100.0, " pts") if points else (1.0, ""))
    fmt = "{:+.1f}" if points else "{:.0f}"
    if lo != lo:
        return f"{fmt.format(m * scale)}{unit}"
    return f"{fmt.format(m * scale)} [{fmt.format(lo * scale)}, {fmt.format(hi * scale)}]{unit}"


def as_returned(row: dict) -> dict:
    """The row as bamu hands its model back: a ``no_change`` run returns the original model, so its
    cut and changes are 0 (rows measured before that rule kept a within-noise checkpoint's numbers;
    the JSON keeps them as measured)."""
    if row.get("status") != "no_change" or "before" not in row:
        return row
    zero = {k: 0.0 for k in row if k == "accuracy_change" or k.endswith("_change")}
    return {
        **row,
        "after": row["before"],
        "cut": 0.0,
        "cut_also": 0.0 if row.get("cut_also") is not None else None,
        **zero,
    }


_CHANGED = ("ok", "stopped_early", "complete")


def returned_original_lines(rows: list[dict], *, max_drop: float = 0.01) -> list[str]:
    """Per seed, whether the rows that returned the original model (``no_change``: a cut of 0) rank
    below the best debiasing row (the largest cut among rows that changed the model, accuracy at
    most ``max_drop`` below the original's). ``rows`` as returned (:func:`as_returned`)."""
    lines = []
    for seed in sorted({r["seed"] for r in rows}):
        mine = [r for r in rows if r["seed"] == seed]
        kept = [r["row"] for r in mine if r["status"] == "no_change"]
        debiasing = [
            r for r in mine if r["status"] in _CHANGED and r["accuracy_change"] >= -max_drop and r["cut"] == r["cut"]
        ]
        if not kept:
            continue
        if not debiasing:
            lines.append(
                f"- seed {seed}: {', '.join(kept)} returned the original; no row cut the gap within the bound."
            )
            continue
        best = max(debiasing, key=lambda r: r["cut"])
        verdict = "below" if best["cut"] > 0 else "**not below**"
        lines.append(
            f"- seed {seed}: {', '.join(kept)} returned the original (cut 0), {verdict} the best debiasing row "
            f"{best['row']} (cut {best['cut']:.0%}, accuracy {100 * best['accuracy_change']:+.1f} pts)."
        )
    return (["Rows that returned the original rank below the best debiasing row:", "", *lines]) if lines else []


def report(rows: list[dict], meta: dict) -> str:
    rows = [as_returned(r) for r in rows]
    out = [
        "# `auto` and strong baselines",
        "",
        "Generated by `"
        + " ".join(["python -m benchmarks.auto_bench", meta.get("argv", "")]).strip()
        + "`"
        + f" on {meta['date']}: device {meta['device']}, "
        f"{meta['cpus']} CPU cores (torch on 1 thread), torch {meta['torch']}; intensity {meta['intensity']}, "
        f"seeds {', '.join(map(str, meta['seeds']))} (each seed draws the data, the split and the baseline "
        "again). Everything chosen on the validation split; numbers on the test split. Cells: mean "
        "[95 % t-interval] over the seeds.",
        "",
    ]
    for name, spec in SCENARIOS.items():
        mine = [r for r in rows if r["scenario"] == name]
        if not mine:
            continue
        h = spec["headline"].replace("_", " ")
        also = spec.get("also", "").replace("_", " ")
        first = {}  # one row per seed: every row of a seed shares its original model
        for r in mine:
            first.setdefault(r["seed"], r)
        base = [r["before"][spec["headline"]] for r in first.values()]
        acc = [r["before"]["accuracy"] for r in first.values()]
        points = spec.get("points", ())
        pcols = "".join(f" {k.replace('_', ' ')} change |" for k in points)
        options = f", options {spec['options']}" if spec.get("options") else ""
        out += [
            f"## {name} (groups: {spec['attr']}; headline: {h}{options})",
            "",
            f"Original model: {h} {np.mean(base):.3f}, accuracy {np.mean(acc):.3f} (mean over seeds). "
            f"Goal for `auto`: a cut of at least {spec['goal']:.0%} without losing accuracy.",
            "",
            *_floor_lines(name, spec["headline"], float(np.mean(base))),
            f"| method | {h} cut |{f' {also} cut |' if also else ''} accuracy change |{pcols} seconds | "
            "status per seed | chosen (per seed) |",
            "|---|---|---|---|---|---|" + ("---|" if also else "") + "---|" * len(points),
        ]
        generator = any(r["row"] == "counterfactual" for r in mine)  # the data has counterfactual images
        special = GENERATOR_ROWS if generator else set()
        for block, labels in (
            ("", [lab for lab, _m, _h in ROWS if lab not in special]),
            ("needs a bias generator", [lab for lab, _m, _h in ROWS if lab in special]),
        ):
            if not any(r["row"] in labels for r in mine):
                continue
            if block:
                out.append(f"| *{block}* | | | | | |" + (" |" if also else "") + " |" * len(points))
            for label in labels:
                rs = [r for r in mine if r["row"] == label]
                if not rs:
                    continue
                secs = np.median([r["seconds"] for r in rs])
                statuses = ", ".join(r["status"] for r in rs)
                chosen = ", ".join(str(r["chosen"]) for r in rs) if rs[0]["row"].startswith("auto") else ""
                extra = f" {_cell([r['cut_also'] for r in rs])} |" if also else ""
                pts = "".join(f" {_cell([r[f'{k}_change'] for r in rs], pct=False, points=True)} |" for k in points)
                out.append(
                    f"| {label} | {_cell([r['cut'] for r in rs])} |{extra} "
                    f"{_cell([r['accuracy_change'] for r in rs], pct=False, points=True)} |{pts} {secs:.1f} (median) | "
                    f"{statuses} | {chosen} |"
                )
        vals = {json.dumps(r["validation_per_group"]) for r in first.values()}
        out += ["", f"Validation images per group (per seed): {'; '.join(sorted(vals))}.", ""]
        out += [*returned_original_lines(mine), ""]
    out += [
        "## How to read this",
        "",
        "- `auto` cuts the validation split in two halves, stratified by group x class: every candidate selects "
        "its checkpoint (and `dfr` fits) on one half and is judged on the other, both ways round; the mean "
        "held-out gain chooses, a winner within twice its standard error is `no_change` (the original model), "
        "and the winner is run once more selecting on the whole split. Its seconds are the whole search "
        "(on a machine whose 2 cores other jobs may share: compare times within a table).",
        "- `finetune without selection` keeps the last step of a retain-set fine-tune: no validation data at all.",
        "- `counterfactual` and `auto` (which may pick it) use the scenario's bias generator (colour-swapped "
        "images on the digits, the patch removed / stamped on CIFAR-10); `auto (no generator)` is the number to "
        "compare with on data that has none.",
        "- Three seeds give wide intervals; a cut whose interval reaches below the goal has not shown it.",
        "- A `no_change` row counts as a cut of 0 and no accuracy change: bamu returns the original model for it.",
        "",
    ]
    return "\n".join(out)


def _meta(seeds, intensity) -> dict:
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "device": "cpu" if not torch.cuda.is_available() else torch.cuda.get_device_name(0),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "seeds": list(seeds),
        "intensity": intensity,
    }


def save_results(stem: Path, rows: list[dict], meta: dict, report_fn) -> str:
    """Write ``stem``.json (the raw rows and ``meta``, re-rendered by ``--report-only``) and
    ``stem``.md (``report_fn(rows, meta)``); returns the Markdown."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(stem.with_suffix(".json"), {"meta": meta, "rows": rows})
    text = report_fn(rows, meta)
    atomic_write(stem.with_suffix(".md"), lambda tmp: tmp.write_text(text))
    return text


def _save_partial(stem: Path, rows: list[dict], seeds, intensity) -> None:
    """The rows so far (``<stem>.partial.json``), so that a long run interrupted keeps its work."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(stem.with_suffix(".partial.json"), {"meta": _meta(seeds, intensity), "rows": rows})


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--intensity", type=float, default=0.75)
    p.add_argument("--scenarios", default="binary-colored-digits,colored-digits")
    p.add_argument("--out", default=str(HERE / "auto_digits"), help="path stem of the .md and .json written")
    p.add_argument("--report-only", action="store_true", help="rewrite the .md from the .json of --out")
    p.add_argument("--rows", default=None, help="comma-separated row labels to run (default: every row)")
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep the rows of --out's .json that this run does not redo (same scenario, seed and row label)",
    )
    args = p.parse_args(argv)
    stem = Path(args.out)
    if args.report_only:
        doc = json.loads(stem.with_suffix(".json").read_text())
        text = report(doc["rows"], doc["meta"])
        atomic_write(stem.with_suffix(".md"), lambda tmp: tmp.write_text(text))
        print(text)
        return
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for name in args.scenarios.split(","):
        for seed in seeds:
            wanted = set(args.rows.split(",")) if args.rows else None
            rows += run_seed(name, seed, args.intensity, lambda s: print(s, flush=True), wanted)
            _save_partial(stem, rows, seeds, args.intensity)
    meta = _meta(seeds, args.intensity)
    meta["argv"] = " ".join(argv if argv is not None else __import__("sys").argv[1:])
    if args.merge and stem.with_suffix(".json").exists():
        old = json.loads(stem.with_suffix(".json").read_text())
        redone = {(r["scenario"], r["seed"], r["row"]) for r in rows}
        kept = [r for r in old["rows"] if (r["scenario"], r["seed"], r["row"]) not in redone]
        rows = kept + rows
        meta["argv"] = f"{old['meta'].get('argv', '')}; then {meta['argv']} (rows redone: {len(redone)})"
    text = save_results(stem, rows, meta, report)
    stem.with_suffix(".partial.json").unlink(missing_ok=True)
    print(text)


if __name__ == "__main__":
    main()
