"""The views inside the model (``bamu_core.insight``) on built-in scenarios: what they say and what they cost.

Run: ``.venv/bin/python -m benchmarks.insight_digits`` (writes ``benchmarks/results/insight_digits.md`` and
the raw numbers ``insight_digits.json``). On CIFAR-10 with the patch shortcut (needs the CIFAR-10 folder):
``python -m benchmarks.insight_digits --scenarios patch-cifar10 --methods dfr balanced_finetune counterfactual
--repeats 0 --out benchmarks/results/insight_cifar.md`` (``--repeats 0`` skips the cost measurement).

Torch and BLAS run on one thread. For each scenario the biased baseline (seed 0, cached under ``BAMU_HOME``)
is unlearned with a few methods (forget set: the bias-aligned images, intensity 0.5); a model
retrained without the forget set (``retrain``) is the oracle of the leakage probe, the CKA and the
relearning stress test (50 steps on 64 bias-aligned images). The added time is the median over
three runs of ``newton`` with the default views on against ``InsightOptions.off()``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from bamu_core.insight import InsightOptions
from bamu_core.storage import atomic_write, atomic_write_json
from bamu_core.workflows import load_subject, unlearn

RESULTS = Path(__file__).parent / "results" / "insight_digits.md"
METHODS = ("newton", "finetune", "dfr")


def _cost(subject, repeats: int) -> dict:
    on, off, views = [], [], []
    for _ in range(repeats):
        t = time.perf_counter()
        run = unlearn(subject, method="newton", intensity=0.5, seed=0)
        on.append(time.perf_counter() - t)
        views.append(run.timings["insight_views"] + run.before.timing["cohorts"] + run.after.timing["cohorts"])
        t = time.perf_counter()
        unlearn(subject, method="newton", intensity=0.5, seed=0, insight=InsightOptions.off())
        off.append(time.perf_counter() - t)
    return {
        "with_views_s": statistics.median(on),
        "without_s": statistics.median(off),
        "views_s": statistics.median(views),
    }


def _flips(pairs) -> dict | None:
    """The counterfactual flip rates before / after with their intervals (None: no pairs view)."""
    if pairs is None or pairs.before is None:
        return None
    out = {"n": pairs.n, "reading": pairs.reading}
    for k in ("before", "after"):
        f = getattr(pairs, k)
        if f is not None:
            out[k] = {"rate": f.rate, "ci": [f.ci.low, f.ci.high] if f.ci is not None else None}
    return out


def _row(run, label: str) -> dict:
    leak, rep, rel = run.leakage, run.representation, run.relearning
    return {
        "method": label,
        "dp_before": run.before.fairness.demographic_parity_difference,
        "dp_after": run.after.fairness.demographic_parity_difference,
        "leakage": {k: getattr(leak, k).auc for k in ("original", "unlearned", "oracle") if getattr(leak, k)},
        "leakage_outputs": {
            k: getattr(leak.output, k).auc for k in ("original", "unlearned", "oracle") if getattr(leak.output, k)
        }
        if leak.output is not None
        else {},
        "cka_min": min(b.unlearned for b in rep.blocks),
        "cka_last": rep.blocks[-1].unlearned,
        "cka_oracle_min": min(b.oracle for b in rep.blocks if b.oracle is not None),
        "cka_blocks": [{"block": b.block, "unlearned": b.unlearned, "oracle": b.oracle} for b in rep.blocks],
        "steps_to_half": {
            k: getattr(rel, k).steps_to_half for k in ("unlearned", "original", "oracle") if rel and getattr(rel, k)
        },
        "dp_curves": {k: getattr(rel, k).dp for k in ("unlearned", "original", "oracle") if rel and getattr(rel, k)},
        "worst_slice_after": run.after.cohorts.slices[0].label if run.after.cohorts.slices else None,
        "flips": _flips(run.pairs),
        "readings": {
            "leakage": leak.reading,
            "cohorts_before": run.before.cohorts.reading,
            "cohorts_after": run.after.cohorts.reading,
            "representation": rep.reading,
            "relearning": rel.reading if rel else "not run (--no-relearning)",
        },
        "seconds": {k: v for k, v in run.timings.items() if k.startswith("insight")},
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenarios", nargs="+", default=["binary-colored-digits", "colored-digits"])
    p.add_argument("--methods", nargs="+", default=list(METHODS), help="method or method@intensity, e.g. dfr@0.75")
    p.add_argument("--intensity", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=3, help="runs per timing (0: no timing)")
    p.add_argument("--out", type=Path, default=RESULTS, help="the markdown table (the JSON beside it)")
    p.add_argument("--no-relearning", action="store_true", help="skip the relearning stress test (slow on CIFAR)")
    p.add_argument("--render", action="store_true", help="only rewrite the markdown from --out's JSON")
    args = p.parse_args(argv)
    if args.render:
        out = json.loads(args.out.with_suffix(".json").read_text())
        _write_markdown(out, args.out)
        return
    torch.set_num_threads(1)
    out: dict = {"threads": 1, "seed": 0, "device": "cpu", "scenarios": {}}
    out["command"] = (
        "python -m benchmarks.insight_digits " + " ".join(argv if argv is not None else sys.argv[1:])
    ).strip()
    for name in args.scenarios:
        subject = load_subject(scenario=name, device="cpu")
        entry = {"cost": _cost(subject, args.repeats) if args.repeats else None, "runs": []}
        oracle = unlearn(subject, method="retrain", intensity=1.0, seed=0, insight=InsightOptions.off()).model
        options = InsightOptions(relearning=not args.no_relearning, oracle=oracle)
        for spec in args.methods:  # "method" or "method@intensity"
            method, _, level = spec.partition("@")
            run = unlearn(subject, method=method, intensity=float(level or args.intensity), seed=0, insight=options)
            entry["runs"].append({**_row(run, spec), "status": run.status})
            print(name, method, run.status, f"{run.seconds:.0f} s", flush=True)
        out["scenarios"][name] = entry
        print(name, json.dumps(entry["cost"]), flush=True)
    out["intensity"] = args.intensity
    out["repeats"] = args.repeats
    atomic_write_json(args.out.with_suffix(".json"), out)
    _write_markdown(out, args.out)


def _flip_cell(row: dict) -> str:
    f = row.get("flips")
    if not f or "before" not in f:
        return "-"

    def one(x):
        ci = f" [{100 * x['ci'][0]:.0f}, {100 * x['ci'][1]:.0f}]" if x.get("ci") else ""
        return f"{100 * x['rate']:.0f} %{ci}"

    return one(f["before"]) + (f" -> {one(f['after'])}" if "after" in f else "")


def _write_markdown(out: dict, path: Path) -> None:
    command, intensity, repeats = (
        out.get("command", "python -m benchmarks.insight_digits"),
        out["intensity"],
        out.get("repeats", 3),
    )
    lines = [
        f"# Views inside the model on {', '.join(out['scenarios'])}",
        "",
        f"Made by `{command}` (CPU, one torch and BLAS thread, seed 0; forget set: bias-aligned "
        f"images; intensity {intensity}; oracle: `retrain` without the forget set; relearning: 50 steps on 64 "
        "bias-aligned images). Counterfactual flips: the share of test images whose predicted class changes when only "
        "the sensitive attribute is flipped (the pairs view), with its 95 % bootstrap interval. Leakage: within-class probe AUC (chance 0.5), original / unlearned / oracle, on the "
        "penultimate features and on the logits (outputs). "
        "CKA: lowest over blocks, and of the classifier input. Steps to half: unlearned / original / oracle "
        "(- = not within 50).",
        "",
    ]
    for name, entry in out["scenarios"].items():
        c = entry["cost"]
        lines += [f"## {name}", ""]
        if c is not None:
            lines += [
                f"Added time of the default views (leakage, cohorts, representation) on a `newton` run: "
                f"{c['views_s']:.2f} s measured inside the run; whole run {c['without_s']:.2f} s -> "
                f"{c['with_views_s']:.2f} s (median of {repeats}).",
                "",
            ]
        lines += [
            "| method | status | DP before | DP after | counterfactual flips before -> after | leakage | leakage in outputs | "
            "CKA min / last | oracle CKA min | steps to half | oracle DP at 0 -> 50 | worst slice after |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in entry["runs"]:
            leak = " / ".join(f"{v:.2f}" for v in r["leakage"].values())
            leak_out = " / ".join(f"{v:.2f}" for v in r.get("leakage_outputs", {}).values()) or "-"
            steps = " / ".join("-" if v is None else str(v) for v in r["steps_to_half"].values())
            curve = r["dp_curves"].get("oracle") or []
            oracle_dp = f"{curve[0]:.2f} -> {curve[-1]:.2f}" if curve else "-"
            lines.append(
                f"| {r['method']} | {r.get('status', '-')} | {r['dp_before']:.3f} | {r['dp_after']:.3f} | {_flip_cell(r)} | {leak} | {leak_out} | {r['cka_min']:.3f} / "
                f"{r['cka_last']:.3f} | {r['cka_oracle_min']:.3f} | {steps} | {oracle_dp} | "
                f"{r['worst_slice_after'] or '-'} |"
            )
        with_blocks = [r for r in entry["runs"] if r.get("cka_blocks")]
        lines += ["", "CKA with the original, per block (unlearned / oracle):", ""] if with_blocks else []
        for r in with_blocks:
            cells = ", ".join(
                f"{b['block']} {b['unlearned']:.3f}" + (f" / {b['oracle']:.3f}" if b["oracle"] is not None else "")
                for b in r.get("cka_blocks", [])
            )
            lines.append(f"- {r['method']}: {cells}")
        curves = [(r["method"], r["dp_curves"]) for r in entry["runs"] if r.get("dp_curves")]
        if curves:
            lines += [
                "",
                "Relearning curves: test DP every 5 steps of fine-tuning on 64 bias-aligned images (0 -> 50):",
                "",
            ]
            for i, (method, by_model) in enumerate(curves):
                for model, dp in by_model.items():
                    if model == "oracle" and i:  # the same oracle under every method
                        continue
                    who = {"unlearned": f"{method}, unlearned", "original": f"{method}'s original", "oracle": "oracle"}
                    values = " ".join("-" if v is None else f"{v:.2f}" for v in dp)
                    lines.append(f"- {who.get(model, model)}: {values}")
        lines += ["", "Readings:", ""]
        for r in entry["runs"]:
            lines += [f"- **{r['method']}**"] + [f"  - {k}: {v}" for k, v in r["readings"].items()]
        lines.append("")
    text = "\n".join(lines)
    atomic_write(path, lambda tmp: tmp.write_text(text))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
