"""Paper setting: CIFAR-10 with a synthetic patch bias, ResNet-20, every method, seeds that vary the data.

Run from the repository root, one part per seed (each part fits the 2-core CPU in under an hour;
rows accumulate in ``benchmarks/results/cifar_patch.jsonl``, one per seed x method x intensity, and
a rerun of a seed replaces that seed's rows)::

    .venv/bin/python -m benchmarks.cifar_patch runs --seeds 0
    .venv/bin/python -m benchmarks.cifar_patch runs --seeds 1
    .venv/bin/python -m benchmarks.cifar_patch runs --seeds 2
    .venv/bin/python -m benchmarks.cifar_patch report       # -> cifar_patch.md and the Pareto plot

A variant of the scenario (another target class and corner, no settings set for it) goes to its own
files: ``runs --seeds 0 --option target_class=cat --option corner=top-left --out
benchmarks/results/cifar_patch_cat_top_left`` (and ``report`` with the same options and ``--out``).

Protocol. For every seed the scenario is drawn again (``load_scenario("patch-cifar10", seed=seed)``:
which training, validation and test images carry the patch changes; the images of each split are
fixed by CIFAR-10's file order) and its biased
baseline is trained with that seed (the scenario's recipe: the pretrained ResNet-20 from
``../shared/models``, ``layer3`` and ``linear`` re-initialised, 4 epochs of SGD on the patch-biased
training subset; cached under ``BAMU_HOME``). A seed whose baseline has a target-class DP under 5
points stops the part: there is no shortcut to remove. The forget set is the bias-aligned training
images (patched airplanes). In the same process, one after the other on one torch thread: the
retrain oracle (the baseline recipe on the retain set, trained afresh: it is the time reference),
then every method of the plan through :func:`bamu_core.workflows.unlearn` (checkpoints chosen on
the validation split; the composite gets the oracle's forget accuracy, gap and time). Everything
reported is on the test split (10,000 images, half patched), which chooses nothing.

The headline is chosen on validation (nested selection): for every seed, among the runs that
changed the model, the one with the largest validation gain of its selection metric (the paired
parity gap); once over every method and once without ``counterfactual`` (which is handed the bias
generator). Metrics (``_bias_metrics``): clean / patched accuracy are the whole test set without /
with the patch (from the counterfactual images); DP max = max over classes of the difference
between the patched and unpatched test images' rates of being predicted that class; target DP = the
same for the target class (airplane) only, reported with its recall on clean images so that no
method can win by ceasing to predict it; paired DP = the target-class rate with the patch minus
without it on the same images (no sampling noise from the split). *Oracle gap closed* = (target DP
before - after) / (before - the oracle's). The noise floor (a model trained without the bias,
``noise_floor.md``) bounds what any cut can show.
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
from bamu_core.insight import InsightOptions
from bamu_core.models import train_baseline
from bamu_core.storage import atomic_write
from bamu_core.training import predict
from bamu_core.unlearn import get_method
from bamu_core.workflows import Subject, evaluate_unlearning, scenario_hyperparameters, unlearn

from ._pareto import write_pareto

HERE = Path(__file__).parent / "results"
ROWS = HERE / "cifar_patch.jsonl"
REPORT = HERE / "cifar_patch.md"
#: method -> intensities run for every seed; ``finetune without selection`` keeps a retain-set
#: fine-tune's last step (no validation data at all)
PLAN = {
    "ga": (0.5, 0.75, 1.0),
    "lora": (0.5, 0.75, 1.0),
    "distill": (0.5, 0.75, 1.0),
    "dfr": (0.75,),
    "balanced_finetune": (0.75,),
    "finetune": (0.75,),
    "finetune without selection": (0.75,),
    "newton": (0.75,),
    "counterfactual": (0.75,),
}
GENERATOR = ("counterfactual",)  # handed the bias generator: a block of their own
MIN_TARGET_DP = 0.05
PAPER = {"dp_improvement": 0.3028}
GOAL = {"dp_improvement": 0.80, "max_clean_drop": 0.01, "max_recall_drop": 0.05}
PAPER_METHOD_GOAL = {"dp_improvement": 0.60, "max_clean_drop": 0.015, "max_recall_drop": 0.05}
_CHANGED = ("ok", "stopped_early", "complete")
_MIN_TARGET_DP = MIN_TARGET_DP  # --per-class runs (smoke) skip the check
_OPTIONS: dict = {}  # --option: a variant of the scenario (target class, corner, ...)
_PER_CLASS: int | None = None  # --per-class: a small subset for smoke runs (not for reported numbers)


def _scenario(seed: int):
    options = {} if _PER_CLASS is None else {"per_class": _PER_CLASS, "val_per_class": max(2, _PER_CLASS // 5)}
    return load_scenario("patch-cifar10", seed=seed, **_OPTIONS, **options).with_group("patch")


def _floor_name(options: dict) -> str:
    """The noise-floor scenario of a variant (``auto_bench.SCENARIOS``' name with these options)."""
    from .auto_bench import SCENARIOS

    for name, spec in SCENARIOS.items():
        if spec.get("load", name) == "patch-cifar10" and spec.get("options", {}) == options:
            return name
    return "patch-cifar10 " + json.dumps(options)  # not measured: the floor line says so


def _views(model, sc) -> dict:
    """Predictions on the test set as given, all clean and all patched (two inference passes)."""
    d = sc.test
    given = predict(model, d).argmax(1).numpy()
    flipped = predict(model, d, counterfactual=True).argmax(1).numpy()
    patched = d.attrs["patch"] == 1
    clean = np.where(patched, flipped, given)
    with_patch = np.where(patched, given, flipped)
    return {"given": given, "clean": clean, "patched": with_patch}


def _bias_metrics(model, sc) -> dict:
    d, t = sc.test, sc.target_class
    v = _views(model, sc)
    patched = d.attrs["patch"] == 1
    pred = v["given"]
    rates = np.array([[(pred[g] == c).mean() for c in range(sc.num_classes)] for g in (~patched, patched)])
    per_class_dp = np.abs(rates[1] - rates[0])
    paired = np.array([(v["patched"] == c).mean() - (v["clean"] == c).mean() for c in range(sc.num_classes)])
    non_target = d.labels != t
    return {
        "clean_accuracy": float((v["clean"] == d.labels).mean()),
        "patched_accuracy": float((v["patched"] == d.labels).mean()),
        "test_accuracy": float((pred == d.labels).mean()),
        "dp_max": float(per_class_dp.max()),
        "dp_target": float(per_class_dp[t]),
        "dp_paired_target": float(abs(paired[t])),
        "dp_paired_max": float(np.abs(paired).max()),
        "target_recall_clean": float((v["clean"][d.labels == t] == t).mean()),
        "nontarget_patched_called_target": float((v["patched"][non_target] == t).mean()),
        "nontarget_clean_called_target": float((v["clean"][non_target] == t).mean()),
    }


def _machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": "cpu" if not torch.cuda.is_available() else torch.cuda.get_device_name(0),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }


def _load_rows(path: Path | None = None) -> list[dict]:
    path = path or ROWS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _save_seed(seed: int, redo: set, mine: list[dict]) -> None:
    """Replace the stored rows of ``seed`` whose method is in ``redo`` by ``mine``; read, merge
    and write under a lock, so that parts for different seeds may run side by side."""
    import fcntl

    ROWS.parent.mkdir(parents=True, exist_ok=True)
    with open(ROWS.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = [r for r in _load_rows() if not (r["seed"] == seed and r["method"] in redo)] + mine
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
        atomic_write(ROWS, lambda p: p.write_text(text))


def _row(seed, method, intensity, run, before, after, oracle) -> dict:
    """One stored row from ``run`` (an :class:`~bamu_core.results.UnlearnReport`) and the test
    metrics before / after (:func:`_bias_metrics`)."""
    mia = run.privacy.mia_after if run.privacy is not None else None
    return {
        "seed": seed,
        "method": method,
        "intensity": intensity,
        "status": run.status,
        "before": before,
        "after": after,
        "seconds": run.seconds,
        "retrain_seconds": oracle["seconds"] if oracle else None,
        "oracle": oracle["after"] if oracle else None,
        "forget_accuracy": run.forget.accuracy_after if run.forget is not None else None,
        "mia_auc": mia.auc if mia is not None else None,
        "score": run.score,
        "score_before": run.radar.score_before if run.radar is not None else None,
        "chosen_step": run.chosen_step,
        "steps": run.steps,
        "val_gain": (run.selection or {}).get("val_gain"),
        "validation_per_group": (run.selection or {}).get("validation_per_group"),
        "machine": _machine(),
        "options": dict(_OPTIONS),
    }


def _finetune_without_selection(subject, intensity: float, refs: dict, common: dict):
    """A fine-tune on the retain set for the intensity's step budget, its last step kept (no
    validation data), measured like every other run (:func:`bamu_core.workflows.evaluate_unlearning`)."""
    sc, seed = subject.scenario, common["seed"]
    fs = select_forget(sc, "aligned")
    forget, retain = fs.split(sc.train, seed=seed)
    t0 = time.perf_counter()
    hp = scenario_hyperparameters(sc, "finetune", intensity, subject.arch)  # as unlearn() would set it
    res = get_method("finetune").run(
        subject.model, forget, retain, intensity=intensity, val=None, seed=seed, hyperparameters=hp
    )
    return evaluate_unlearning(
        subject,
        unlearned=res.model,
        forget_indices=fs.indices,
        retain_indices=fs.retain(seed=seed),
        method="finetune without selection",
        intensity=intensity,
        seconds=time.perf_counter() - t0,
        status=res.status,
        seed=seed,
        mia_samples=common["mia_samples"],
        gradcam_images=0,
        before=common.get("original_audit"),
        insight=common["insight"],
        **refs,
    )


def part_runs(seeds, plan: dict) -> None:
    """Run ``plan`` for every seed (oracle first, then the methods, back to back in this process)."""
    torch.set_num_threads(1)
    for seed in seeds:
        sc = _scenario(seed)
        model, info = train_baseline(sc, seed=seed)
        before = _bias_metrics(model, sc)
        print(
            f"seed {seed}: baseline {'cached' if info.cached else f'trained in {info.seconds:.0f} s'}: {before}",
            flush=True,
        )
        if before["dp_target"] < _MIN_TARGET_DP:
            raise SystemExit(
                f"seed {seed}: the baseline did not learn the shortcut (target DP {before['dp_target']:.3f})"
            )
        subject = Subject(scenario=sc, model=model, arch=info.arch, model_source="patch-biased baseline")
        # no views inside the model (they are insight_cifar.md's subject and cost minutes per run here)
        common = dict(
            forget="aligned",
            seed=seed,
            store=None,
            n_boot=0,
            gradcam_images=0,
            mia_samples=1000,
            insight=InsightOptions.off(),
        )
        redo = set(plan) | {"retrain"}
        oracle_run = unlearn(subject, method="retrain", intensity=1.0, hyperparameters={"use_cache": False}, **common)
        oracle = {"seconds": oracle_run.seconds, "after": _bias_metrics(oracle_run.model, sc)}
        oracle_gap = oracle_run.after.fairness.demographic_parity_difference
        common["original_audit"] = oracle_run.before  # the original's audit, once
        mine = [_row(seed, "retrain", 1.0, oracle_run, before, oracle["after"], oracle)]
        mine[0]["baseline_seconds"] = info.seconds
        mine[0]["baseline_cached"] = info.cached
        print(f"seed {seed}: retrain oracle {oracle_run.seconds:.0f} s: {oracle['after']}", flush=True)
        _save_seed(seed, redo, mine)
        for method, levels in plan.items():
            for x in levels:
                refs = dict(
                    reference_forget_accuracy=oracle_run.forget.accuracy_after,
                    reference_gap=oracle_gap,
                    retrain_seconds=oracle_run.seconds,
                )
                if method == "finetune without selection":
                    run = _finetune_without_selection(subject, x, refs, common)
                else:
                    run = unlearn(subject, method=method, intensity=x, **refs, **common)
                after = _bias_metrics(run.model, sc)
                mine.append(_row(seed, method, x, run, before, after, oracle))
                _save_seed(seed, redo, mine)
                print(
                    f"seed {seed} {method} {x}: dp max {before['dp_max']:.3f}->{after['dp_max']:.3f} "
                    f"clean {before['clean_accuracy']:.3f}->{after['clean_accuracy']:.3f} "
                    f"recall {before['target_recall_clean']:.3f}->{after['target_recall_clean']:.3f} "
                    f"{run.status} step {run.chosen_step}/{run.steps} {run.seconds:.0f} s score {run.score:.3f}",
                    flush=True,
                )


# ------------------------------------------------------------------------------------------------
# the report
# ------------------------------------------------------------------------------------------------


def _cut(row, key="dp_max") -> float:
    b = row["before"][key]
    return 1.0 - row["after"][key] / b if b > 0 else float("nan")


def _points(row, key) -> float:
    return 100.0 * (row["after"][key] - row["before"][key])


def _oracle_closed(row) -> float:
    """Share of the gap between the original and the oracle closed, on the target-class DP."""
    if not row.get("oracle"):
        return float("nan")
    b, o = row["before"]["dp_target"], row["oracle"]["dp_target"]
    return (b - row["after"]["dp_target"]) / (b - o) if b > o else float("nan")


def _train_seconds(oracle_row: dict) -> str:
    """The baseline's training time of that seed (from the cache: trained by an earlier run)."""
    t = oracle_row.get("baseline_seconds")
    if t is None:
        return "-"
    return f"{t:.0f}" + (" (cached)" if oracle_row.get("baseline_cached") else "")


def _ci(values, fmt="{:.0f}", scale=1.0) -> str:
    from .auto_bench import _mean_ci

    m, lo, hi = _mean_ci([v * scale for v in values if v is not None])
    if m != m:
        return "-"
    if lo != lo:
        return fmt.format(m)
    return f"{fmt.format(m)} [{fmt.format(lo)}, {fmt.format(hi)}]"


def _median(values) -> float:
    v = [x for x in values if x is not None and x == x]
    return float(np.median(v)) if v else float("nan")


def nested_choice(rows: list[dict], *, exclude=()) -> dict | None:
    """The row of one seed chosen on validation: the largest validation gain among the runs that
    changed the model (the oracle and ``exclude`` left out); None when none did."""
    cand = [
        r
        for r in rows
        if r["method"] != "retrain"
        and r["method"] not in exclude
        and r["status"] in _CHANGED
        and r.get("val_gain") is not None
    ]
    return max(cand, key=lambda r: r["val_gain"]) if cand else None


def ranking_check(rows: list[dict]) -> list[str]:
    """Per seed: do the runs that returned the original (``no_change``) score below the best
    debiasing run (the changed run with the largest test cut within the goal's accuracy bound)?"""
    out = []
    for seed in sorted({r["seed"] for r in rows}):
        mine = [r for r in rows if r["seed"] == seed and r["method"] != "retrain" and r.get("score") is not None]
        kept = [r for r in mine if r["status"] == "no_change"]
        debiasing = [
            r
            for r in mine
            if r["status"] in _CHANGED and _points(r, "clean_accuracy") >= -100 * GOAL["max_clean_drop"] and _cut(r) > 0
        ]
        if not debiasing:
            out.append(f"- seed {seed}: no run cut the gap within the accuracy bound; nothing to rank against.")
            continue
        best = max(debiasing, key=_cut)
        if not kept:
            out.append(
                f"- seed {seed}: no run returned the original; best debiasing run {best['method']} "
                f"{best['intensity']:g} (cut {_cut(best):.0%}) scores {best['score']:.3f}, the original "
                f"{best['score_before']:.3f}."
            )
            continue
        top = max(r["score"] for r in kept)
        verdict = "below" if top < best["score"] else "**not below**"
        names = ", ".join(f"{r['method']} {r['intensity']:g}" for r in kept)
        out.append(
            f"- seed {seed}: the runs that returned the original ({names}) score at most {top:.3f}, {verdict} "
            f"the best debiasing run {best['method']} {best['intensity']:g} (cut {_cut(best):.0%}, score {best['score']:.3f})."
        )
    return out


def part_report() -> str:
    from .auto_bench import _floor_lines

    rows = _load_rows()
    if not rows:
        raise SystemExit(f"no rows in {ROWS}: run the 'runs' part first")
    seeds = sorted({r["seed"] for r in rows})
    variants = {json.dumps(r.get("options") or {}, sort_keys=True) for r in rows}
    if len(variants) > 1:
        raise SystemExit(f"{ROWS} mixes scenario variants {sorted(variants)}: one file (--out) per variant")
    options = json.loads(variants.pop())
    floor = _floor_name(options)
    oracles = {r["seed"]: r for r in rows if r["method"] == "retrain"}
    machines = sorted({json.dumps({k: r["machine"][k] for k in ("device", "cpus", "torch")}) for r in rows})
    base = [r["before"] for r in oracles.values()]
    lines = [
        "# CIFAR-10 patch bias (the paper's setting)"
        + (f": variant {', '.join(f'{k}={v}' for k, v in options.items())}" if options else ""),
        "",
        f"Produced by `python -m benchmarks.cifar_patch runs --seeds S{_intensities_arg(rows)}{_argv_tail(options)}` "
        "(one part per seed) and "
        f"`python -m benchmarks.cifar_patch report{_argv_tail(options)}` from the rows in `{ROWS.name}`; the protocol is "
        f"the module docstring of `benchmarks/cifar_patch.py`. Seeds {', '.join(map(str, seeds))} (each draws which "
        f"images carry the patch again and trains again; the split is fixed by file order); machine {'; '.join(machines)}, torch on one thread. "
        "Checkpoints and the headline rows are chosen on the validation split; every number is on the test split. "
        "Cells: mean [95 % t-interval] over the seeds (n = 3 is few: wide).",
        "",
        "Method settings: "
        + (
            "the intensity table with this scenario's hand-set defaults for its network (`PATCH_CIFAR10_UNLEARNING` "
            "in `bamu_core/data/scenarios.py`, set on seed 0 of this default variant)."
            if not options
            else "the generic intensity table (no settings were set for this variant; only the selection metric, "
            "the parity gap, is the scenario's)."
        ),
        "",
        "## The biased baselines and the oracle",
        "",
        "| seed | clean acc | patched acc | DP max | target DP | paired target DP | target recall | oracle target DP | oracle clean acc | baseline train s | retrain s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for seed in seeds:
        o = oracles.get(seed)
        if o is None:
            continue
        b, a = o["before"], o["after"]
        lines.append(
            f"| {seed} | {b['clean_accuracy']:.3f} | {b['patched_accuracy']:.3f} | {b['dp_max']:.3f} | {b['dp_target']:.3f} | "
            f"{b.get('dp_paired_target', float('nan')):.3f} | {b['target_recall_clean']:.3f} | {a['dp_target']:.3f} | "
            f"{a['clean_accuracy']:.3f} | {_train_seconds(o)} | {o['seconds']:.0f} |"
        )
    mean_max = float(np.mean([b["dp_max"] for b in base])) if base else float("nan")
    mean_target = float(np.mean([b["dp_target"] for b in base])) if base else float("nan")
    lines += [
        "",
        "DP max. " + _floor_lines(floor, "dp_max", mean_max)[0],
        "",
        "Target DP. " + _floor_lines(floor, "dp_target", mean_target)[0],
        "",
    ]
    # --- nested headline
    lines += ["## Chosen on validation", ""]
    for title, exclude in (("every method", ()), ("without the bias generator", GENERATOR)):
        picks = [(s, nested_choice([r for r in rows if r["seed"] == s], exclude=exclude)) for s in seeds]
        got = [w for _s, w in picks if w is not None]
        if not got:
            lines.append(f"- **{title}**: no run changed the model.")
            continue
        lines.append(
            f"- **{title}**: DP max cut {_ci([_cut(w) for w in got], '{:.0f}', 100)} %, target DP cut "
            f"{_ci([_cut(w, 'dp_target') for w in got], '{:.0f}', 100)} %, oracle gap closed "
            f"{_ci([_oracle_closed(w) for w in got], '{:.0f}', 100)} %, clean accuracy "
            f"{_ci([_points(w, 'clean_accuracy') for w in got], '{:+.1f}')} pts, target recall "
            f"{_ci([_points(w, 'target_recall_clean') for w in got], '{:+.1f}')} pts (per seed: "
            + ", ".join(f"{w['method']} {w['intensity']:g}" for w in got)
            + f"; {len(got)} of {len(seeds)} seeds)."
        )
    lines += [
        "",
        f"Goal: a DP max cut of at least {GOAL['dp_improvement']:.0%} with clean accuracy at least "
        f"-{100 * GOAL['max_clean_drop']:g} pt and target recall at least -{100 * GOAL['max_recall_drop']:g} pts; "
        f"the paper reports a {PAPER['dp_improvement']:.0%} DP improvement on CIFAR-10.",
        "",
    ]
    # --- every run, ranked by the composite
    head = (
        "| rank | method | intensity | n | DP max cut | target DP cut | paired target DP cut | oracle gap closed | "
        "clean acc (pts) | target recall (pts) | forget acc | MIA AUC | score | seconds | × retrain | status |"
    )
    groups: dict = {}
    for r in rows:
        if r["method"] != "retrain":
            groups.setdefault((r["method"], r["intensity"]), []).append(r)
    lines += [
        "## Every run, ranked by the composite score",
        "",
        "Score = the composite of `bamu_core.scoring` (its formula is printed in every report; fairness is the "
        "share of the original gap closed towards the oracle's, utility is centred on the original; the original "
        "model scores "
        + _ci([r["score_before"] for r in rows if r.get("score_before") is not None], "{:.3f}")
        + "). A `no_change` run returned the original model: its numbers are the original's.",
        "",
    ]
    for block, keep in (("", lambda m: m not in GENERATOR), ("needs a bias generator", lambda m: m in GENERATOR)):
        mine = {k: v for k, v in groups.items() if keep(k[0])}
        if not mine:
            continue
        if block:
            lines += [f"*{block}*", ""]
        lines += [head, "|" + "---|" * (head.count("|") - 1)]
        ranked = sorted(mine.items(), key=lambda kv: -np.mean([r["score"] for r in kv[1]]))
        for i, ((method, x), rs) in enumerate(ranked, 1):
            ratio = _median([r["seconds"] / r["retrain_seconds"] for r in rs if r.get("retrain_seconds")])
            lines.append(
                f"| {i} | {method} | {x:g} | {len(rs)} | {_ci([_cut(r) for r in rs], '{:.0f}', 100)} % | "
                f"{_ci([_cut(r, 'dp_target') for r in rs], '{:.0f}', 100)} % | "
                f"{_ci([_cut(r, 'dp_paired_target') for r in rs], '{:.0f}', 100)} % | "
                f"{_ci([_oracle_closed(r) for r in rs], '{:.0f}', 100)} % | "
                f"{_ci([_points(r, 'clean_accuracy') for r in rs], '{:+.1f}')} | "
                f"{_ci([_points(r, 'target_recall_clean') for r in rs], '{:+.1f}')} | "
                f"{_ci([r['forget_accuracy'] for r in rs], '{:.3f}')} | {_ci([r['mia_auc'] for r in rs], '{:.3f}')} | "
                f"{_ci([r['score'] for r in rs], '{:.3f}')} | {_median([r['seconds'] for r in rs]):.0f} (median) | "
                f"{ratio:.2f} | {', '.join(r['status'] for r in sorted(rs, key=lambda r: r['seed']))} |"
            )
        lines.append("")
    lines += [
        "### Runs that returned the original rank below the best debiasing run",
        "",
        *ranking_check(rows),
        "",
        "### The paper's methods against their goal",
        "",
        f"Goal for each of ga, lora, distill (no generator): a DP max cut of at least {PAPER_METHOD_GOAL['dp_improvement']:.0%} "
        f"at a clean-accuracy loss of at most {100 * PAPER_METHOD_GOAL['max_clean_drop']:g} pts and the target recall "
        f"within {100 * PAPER_METHOD_GOAL['max_recall_drop']:g} pts; the intensity of each seed chosen on validation "
        "(the largest validation gain among that method's runs that changed the model).",
        "",
    ]
    for method in ("ga", "lora", "distill"):
        picks = [nested_choice([r for r in rows if r["seed"] == s and r["method"] == method]) for s in seeds]
        got = [w for w in picks if w is not None]
        if not got:
            lines.append(f"- {method}: no run changed the model.")
            continue
        met = sum(
            _cut(w) >= PAPER_METHOD_GOAL["dp_improvement"]
            and _points(w, "clean_accuracy") >= -100 * PAPER_METHOD_GOAL["max_clean_drop"]
            and _points(w, "target_recall_clean") >= -100 * PAPER_METHOD_GOAL["max_recall_drop"]
            for w in got
        )
        lines.append(
            f"- {method}: cut {_ci([_cut(w) for w in got], '{:.0f}', 100)} %, clean accuracy "
            f"{_ci([_points(w, 'clean_accuracy') for w in got], '{:+.1f}')} pts, target recall "
            f"{_ci([_points(w, 'target_recall_clean') for w in got], '{:+.1f}')} pts (intensities "
            + ", ".join(f"{w['intensity']:g}" for w in got)
            + f"): goal met on {met} of {len(got)} seeds."
        )
    lines += [
        "",
        "## How to read this",
        "",
        "- Times: every run of a seed was measured in one process on one torch thread, right after the retrain "
        "oracle trained afresh; × retrain is the median over seeds of the method's seconds (selection included, "
        "audits excluded) over the oracle's. The cores may have been shared with other work: compare within a table.",
        "- `finetune without selection` keeps the last step of a retain-set fine-tune: no validation data.",
        "- `dfr` refits the last layer on a group-balanced sample of the validation split; `balanced_finetune` "
        "reweights the retain set by group x class.",
        "- The test images' patch is synthetic, so each test image has its counterfactual: the paired DP has no "
        "between-image sampling noise, the DP max has a floor (see above).",
        "",
    ]
    text = "\n".join(lines)
    atomic_write(REPORT, lambda p: p.write_text(text))
    _pareto(groups)
    return text


def _value(text: str):
    """A scenario option's value from the command line: an int or a float when it reads as one."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _intensities_arg(rows: list[dict]) -> str:
    """`` --intensities ...`` when every method of the rows ran at one set of intensities other than
    the plan's (the runs command that made them), else ``""``."""
    used: dict[str, set] = {}
    for r in rows:
        if r["method"] in PLAN:
            used.setdefault(r["method"], set()).add(float(r["intensity"]))
    levels = {tuple(sorted(v)) for v in used.values()}
    if len(levels) != 1 or all(set(PLAN[m]) == v for m, v in used.items()):
        return ""
    return " --intensities " + ",".join(f"{x:g}" for x in levels.pop())


def _argv_tail(options: dict) -> str:
    out = "".join(f" --option {k}={v}" for k, v in options.items())
    return out + (f" --out {ROWS.with_suffix('')}" if ROWS != HERE / "cifar_patch.jsonl" else "")


def _pareto(groups) -> None:
    series: dict = {}
    for (method, x), rs in groups.items():
        series.setdefault(method, []).append(
            (
                x,
                float(np.mean([r["after"]["dp_max"] for r in rs])),
                float(np.mean([r["after"]["clean_accuracy"] for r in rs])),
            )
        )
    origin = [r["before"] for rs in groups.values() for r in rs]
    if origin:
        o = (0.0, float(np.mean([b["dp_max"] for b in origin])), float(np.mean([b["clean_accuracy"] for b in origin])))
        for pts in series.values():
            pts.append(o)
    write_pareto(
        series,
        title="patch-cifar10: DP max vs clean accuracy (test split, mean over seeds)",
        xlabel="DP max (lower is fairer)",
        ylabel="clean accuracy",
        stem=ROWS.with_name(ROWS.stem + "_pareto"),
    )


def main(argv=None) -> None:
    global _PER_CLASS, _MIN_TARGET_DP, _OPTIONS, ROWS, REPORT
    p = argparse.ArgumentParser(prog="python -m benchmarks.cifar_patch", description=__doc__.split("\n")[0])
    p.add_argument("part", choices=["runs", "report"])
    p.add_argument("--seeds", default="0")
    p.add_argument("--methods", default=",".join(PLAN), help="comma-separated subset of the plan")
    p.add_argument("--intensities", help="comma-separated intensities for every method (default: the plan's)")
    p.add_argument("--per-class", type=int, help="use N images per class (smoke runs only; rows go to the same file)")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a scenario option, e.g. --option target_class=cat --option corner=top-left (a variant: use its own --out)",
    )
    p.add_argument("--out", help="path stem of the rows (.jsonl) and the report (.md); default results/cifar_patch")
    args = p.parse_args(argv)
    _OPTIONS = {k: _value(v) for k, v in (kv.split("=", 1) for kv in args.option)}
    if args.out:
        ROWS, REPORT = Path(args.out).with_suffix(".jsonl"), Path(args.out).with_suffix(".md")
    elif _OPTIONS:
        raise SystemExit("a scenario variant (--option) needs its own --out")
    _PER_CLASS = args.per_class
    _MIN_TARGET_DP = MIN_TARGET_DP if args.per_class is None else 0.0
    if args.part == "runs":
        names = args.methods.split(",")
        unknown = [m for m in names if m not in PLAN]
        if unknown:
            raise SystemExit(f"unknown method(s) {unknown}; the plan has {list(PLAN)}")
        levels = tuple(float(x) for x in args.intensities.split(",")) if args.intensities else None
        part_runs([int(s) for s in args.seeds.split(",")], {m: levels or PLAN[m] for m in names})
    print(part_report())


if __name__ == "__main__":
    main()
