"""``bamu unlearn``: remove a model's bias and print the before / after numbers."""

from __future__ import annotations

import re
import sys

from ..errors import BamuInputError
from ..results import UnlearnReport
from ._common import MAX_RETAIN, _bounded_int, _check_output, _fmt, _hp_pair, _parse_intensity
from ._subject import _add_subject_options, _subject

_METHOD_HELP = (
    "auto (search the others on validation), ga, lora, distill, finetune, retrain, newton, counterfactual, "
    "random_label, dfr or balanced_finetune"
)


def _add_unlearn_command(sub) -> None:
    u = sub.add_parser("unlearn", help="remove a model's bias by machine unlearning; print before/after metrics")
    _add_subject_options(u)
    g = u.add_argument_group("unlearning")
    g.add_argument("--method", required=True, help=f"unlearning method: {_METHOD_HELP}")
    g.add_argument(
        "--intensity", required=True, help="strength in [0, 1]: 0 = no change, 1 = strongest within the accuracy bound"
    )
    g.add_argument(
        "--forget",
        default="aligned",
        metavar="STRATEGY",
        help="forget set: aligned (default), counterfactual, group:NAME, influence:K or indices:I,J,...",
    )
    g.add_argument(
        "--out",
        metavar="FILE.safetensors",
        help="where to save the unlearned weights: a new or regular file whose folder exists (or --mkdir); never "
        "the --model checkpoint, a link or a file of the run store or caches (default: "
        "BAMU_HOME/unlearned/<scenario>-<method>-i<intensity>-s<seed>-<run id>.safetensors)",
    )
    g.add_argument(
        "--hp",
        action="append",
        type=_hp_pair,
        metavar="KEY=VALUE",
        help="raw hyper-parameter override (repeatable), e.g. --hp steps=30",
    )
    g.add_argument(
        "--budget-s",
        type=float,
        metavar="SECONDS",
        help="--method auto: seconds for the whole search (default 600 on a CPU, 300 on a GPU; it usually ends "
        "sooner); elapsed time, or this process's CPU time with --hp budget_clock=cpu (the same under any load)",
    )
    g.add_argument(
        "--search",
        choices=("quick", "thorough"),
        help="--method auto: search depth; quick = one validation split, dfr / group-balanced fine-tune / "
        "counterfactual at the calibrated rate (about a third of the time); thorough (default) = every method, "
        "two rates, two folds; --hp values override either",
    )
    g.add_argument(
        "--oracle",
        action="store_true",
        help="first retrain the model on the retain set (the retrain oracle: the slowest method); the fairness "
        "score then counts the share of the gap closed towards the oracle's gap instead of towards zero, "
        "and the oracle's numbers are printed and written under 'oracle' in --json",
    )
    g.add_argument(
        "--retain-max",
        type=_bounded_int(1, MAX_RETAIN),
        metavar="N",
        help=f"subsample the retain set to N images, 1..{MAX_RETAIN:,}",
    )
    v = u.add_argument_group("views inside the model (docs/insight.md)")
    v.add_argument("--no-leakage", action="store_true", help="skip the attribute-leakage probe")
    v.add_argument("--no-cohorts", action="store_true", help="skip the worst-slice search in both audits")
    v.add_argument("--no-representation", action="store_true", help="skip CKA per block and the 2-D projection")
    v.add_argument(
        "--no-pairs",
        action="store_true",
        help="skip the counterfactual pairs (the share of predictions that change when only the attribute is flipped)",
    )
    v.add_argument(
        "--relearning",
        action="store_true",
        help="run the relearning stress test: fine-tune copies on bias-aligned images (adds seconds per model)",
    )
    v.add_argument(
        "--relearning-steps",
        type=_bounded_int(1, 10_000),
        default=50,
        metavar="K",
        help="fine-tuning steps of the relearning test, 1..10,000 (default: 50)",
    )
    v.add_argument(
        "--relearning-images",
        type=_bounded_int(1, 100_000),
        default=64,
        metavar="N",
        help="bias-aligned training images the relearning test tunes on, 1..100,000 (default: 64)",
    )


def _print_before_after(run: UnlearnReport) -> None:
    before, after = run.before, run.after
    binary = before.conventions["task"] == "binary"
    print(f"{'':<28}{'before':>10}{'after':>10}")
    for key, label in (("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy")):
        print(f"{label:<28}{_fmt(getattr(before.utility, key), 10)}{_fmt(getattr(after.utility, key), 10)}")
    head = f"{'group (' + before.group_attr + ')':<28}{'n':>6}{'acc before':>12}{'acc after':>11}"
    print(head + (f"{'sel before':>12}{'sel after':>11}" if binary else ""))
    for b, a in zip(before.groups, after.groups):
        line = f"{b.group:<28}{b.n:>6}{_fmt(b.accuracy, 12)}{_fmt(a.accuracy, 11)}"
        print(line + (f"{_fmt(b.selection_rate, 12)}{_fmt(a.selection_rate, 11)}" if binary else ""))
    for key, label in (
        ("demographic_parity_difference", "demographic parity diff."),
        ("equalized_odds_difference", "equalized odds diff."),
        ("worst_group_accuracy", "worst-group accuracy"),
        ("accuracy_gap", "accuracy gap"),
    ):
        print(f"{label:<28}{_fmt(before.fairness.gap(key), 10)}{_fmt(after.fairness.gap(key), 10)}")
    f = run.forget
    print(f"{'forget-set accuracy':<28}{_fmt(f.accuracy_before, 10)}{_fmt(f.accuracy_after, 10)}  ({f.description})")


def _print_insight(run: UnlearnReport) -> None:
    """One line per view inside the model."""
    if run.leakage is not None:
        print(f"leakage: {run.leakage.reading}")
    if run.before.cohorts is not None and run.after.cohorts is not None:
        print(f"cohorts: before, {run.before.cohorts.reading}; after, {run.after.cohorts.reading}")
    if run.representation is not None:
        print(f"representation: {run.representation.reading}")
    if run.relearning is not None:
        print(f"relearning: {run.relearning.reading}")
    if run.pairs is not None:
        print(f"counterfactual pairs: {run.pairs.reading}")


def _print_search(search: dict) -> None:
    """The candidates ``auto`` tried, judged on the held-out validation half."""
    metric = search["metric"].replace("_", " ")
    print(f"auto: candidates judged on the held-out validation half ({metric}; * Pareto set)")
    print(f"  {'candidate':<26}{'status':<16}{'seconds':>8}{'gain':>8}{'accuracy':>10}")
    for c in search["candidates"]:
        mark = "*" if c["pareto"] else (" " if c["admissible"] or c["gain"] is None else "x")
        chosen = "  <- chosen" if c["label"] == search["chosen"] else ""
        print(
            f"{mark} {c['label']:<26}{c['status']:<16}{c['seconds']:>8.1f}{_fmt(c['gain'], 8)}"
            f"{_fmt(c['val_accuracy'], 10)}{chosen}"
        )


def _cmd_unlearn(args) -> dict:
    from ..forget import get_strategy
    from ..insight import InsightOptions
    from ..models import save_weights
    from ..storage import bamu_home
    from ..unlearn import get_method, search_overrides
    from ..workflows import unlearn

    get_method(args.method)  # unknown names fail before any data is loaded
    get_strategy(args.forget.partition(":")[0])
    intensity = _parse_intensity(args.intensity)
    if args.out and not args.out.endswith(".safetensors"):
        raise BamuInputError(f"--out must be a .safetensors file, got {args.out!r}")
    _check_output(args, args.out, "--out", taken=args.outputs_taken)  # before any work
    hyperparameters = _check_hp(args.method, intensity, dict(args.hp or []))
    if args.search is not None:
        if args.method != "auto":
            raise BamuInputError("--search applies to --method auto only")
        hyperparameters = {**search_overrides(args.search), **hyperparameters}
    if args.budget_s is not None:
        if args.method != "auto":
            raise BamuInputError("--budget-s applies to --method auto only")
        if not 0 < args.budget_s <= 86400:
            raise BamuInputError(f"--budget-s must be in (0, 86400] seconds, got {args.budget_s:g}")
        hyperparameters["budget_s"] = float(args.budget_s)
    from ..runs import RunStore

    subject = _subject(args)
    oracle = None
    if args.oracle:
        if args.method == "retrain":
            raise BamuInputError("--oracle: the method is retrain already; drop --oracle")
        print("retraining the oracle on the retain set (this is the slow part) ...", file=sys.stderr, flush=True)
        oracle = unlearn(
            subject,
            method="retrain",
            intensity=1.0,
            forget=args.forget,
            device=args.device,
            seed=args.seed,
            retain_max=args.retain_max,
            store=None,
            n_boot=0,
            gradcam_images=0,
        )

    def progress(ev):
        if args.method == "auto" and ev.phase.startswith("auto: ") and " of " not in ev.phase:
            print(
                f"  {ev.phase} ({ev.step}/{ev.total}): held-out validation accuracy {ev.val_acc:.3f}, "
                f"gap {ev.val_fairness:.3f}",
                file=sys.stderr,
                flush=True,
            )
        elif args.method != "auto" and ev.val_acc is not None and (ev.step % 10 == 0 or ev.step == ev.total):
            print(
                f"  {args.method}: step {ev.step}/{ev.total} validation accuracy {ev.val_acc:.3f} DP {ev.val_dp:.3f}",
                file=sys.stderr,
                flush=True,
            )

    run = unlearn(
        subject,
        method=args.method,
        intensity=intensity,
        forget=args.forget,
        device=args.device,
        seed=args.seed,
        progress=progress,
        hyperparameters=hyperparameters,
        retain_max=args.retain_max,
        store=RunStore(),
        reference_gap=_oracle_target(oracle),
        insight=InsightOptions(
            leakage=not args.no_leakage,
            cohorts=not args.no_cohorts,
            representation=not args.no_representation,
            pairs=not args.no_pairs,
            relearning=args.relearning,
            relearning_steps=args.relearning_steps,
            relearning_images=args.relearning_images,
            oracle=oracle.model if oracle is not None else None,
        ),
    )
    if args.out:
        out = _check_output(args, args.out, "--out")  # again: something may have appeared there meanwhile
    else:  # one file per run: the run id (or a fresh one when the run was not stored) keeps them apart
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", subject.scenario.name)
        run_id = run.run_id or RunStore.new_run_id()
        out = bamu_home() / "unlearned" / f"{name}-{args.method}-i{intensity:g}-s{args.seed}-{run_id}.safetensors"
        out.parent.mkdir(parents=True, exist_ok=True)
    save_weights(run.model, out, mkdir=False)
    print(f"{subject.scenario.title} | model: {subject.arch} ({subject.model_source})")
    print(f"method {args.method} at intensity {intensity:g}, forget set: {run.forget.n} images ({run.forget.strategy})")
    _print_before_after(run)
    _print_insight(run)
    if run.search:
        _print_search(run.search)
    from ..unlearn import status_label

    if oracle is not None:
        used = _oracle_target(oracle) is not None
        print(
            f"oracle (retrain on the retain set, {oracle.seconds:.1f} s): accuracy "
            f"{_fmt(oracle.after.utility.accuracy).strip()}, demographic parity diff. "
            f"{_fmt(_oracle_gap(oracle)).strip()}; "
            + (
                "the fairness score counts the gap closed towards it"
                if used
                else "no fairer than the original model, so it is not the fairness target (the score counts the "
                "gap closed towards 0); retraining without this forget set does not remove the bias"
            )
        )
    print(f"status {run.status} ({status_label(run.status)}): {run.message}")
    from ..report import validation_words, verdict
    from .audit import _print_warnings

    print(f"in plain words: {verdict(run)}")
    if run.after is not None:
        _print_warnings(run.after, prefix="after unlearning, ")
    used = validation_words(run)
    if used:
        print(used)
    print(
        f"unlearning took {run.seconds:.2f} s ({run.steps} steps, chose step {run.chosen_step}); test split evaluated "
        "once per model"
    )
    print(f"saved the unlearned model to {out}{f' (run {run.run_id})' if run.run_id else ''}")
    if run.run_id:
        print(f"score {run.score:.3f}; run {run.run_id} stored: `bamu report {run.run_id} --html report.html`")
    doc = {**run.to_json(), "model_path": str(out)}
    if oracle is not None:
        doc["oracle"] = {
            "method": "retrain",
            "status": oracle.status,
            "seconds": oracle.seconds,
            "accuracy": oracle.after.utility.accuracy,
            "demographic_parity_difference": _oracle_gap(oracle),
            "fairness_target": _oracle_target(oracle) is not None,
            "forget_accuracy": oracle.forget.accuracy_after,
        }
    return doc


def _oracle_target(oracle) -> float | None:
    """The oracle's gap when it is below the original model's (a target worth closing towards), else None."""
    gap = _oracle_gap(oracle)
    if gap is None or oracle.before is None:
        return None
    return gap if gap < oracle.before.fairness.demographic_parity_difference else None


def _oracle_gap(oracle) -> float | None:
    """The retrain oracle's test DP gap (the fairness axis's target), or None without an oracle."""
    if oracle is None or oracle.after is None:
        return None
    return oracle.after.fairness.demographic_parity_difference


#: Hyper-parameters a --hp override may set at most (a larger value is refused naming the limit).
_HP_LIMITS = {
    "steps": (0, 1_000_000),
    "batch_size": (1, 65_536),
    "epochs": (0, 10_000),
    "patience": (0, 1_000_000),
    "eval_every": (0, 1_000_000),  # 0: sized to a quarter of the run's time
    "eval_size": (1, 1_000_000),
    "rank": (1, 4_096),
}


def _check_hp(method: str, intensity: float, overrides: dict) -> dict:
    """``--hp`` overrides checked against the method's own values: known names, the same kind of value, bounds."""
    import math

    from ..unlearn import resolve_hyperparameters

    if not overrides:
        return overrides
    try:
        defaults = resolve_hyperparameters(method, intensity, None)
        resolve_hyperparameters(method, intensity, overrides)  # unknown names
    except BamuInputError as exc:
        raise BamuInputError(f"--hp: {exc}") from None
    for key, value in overrides.items():
        default, given = defaults.get(key), f"--hp {key}={value}"
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise BamuInputError(f"{given}: {key} must be true or false")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise BamuInputError(f"{given}: {key} must be an integer, e.g. --hp {key}={default}")
            low, high = _HP_LIMITS.get(key, (0, None))
            if value < low or (high is not None and value > high):
                span = f"{low}..{high:,}" if high is not None else f">= {low}"
                raise BamuInputError(f"{given}: {key} must be an integer in {span}")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise BamuInputError(f"{given}: {key} must be a finite number, e.g. --hp {key}={default:g}")
            overrides[key] = float(value)
    return overrides
