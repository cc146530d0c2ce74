"""``bamu unlearn``: remove a model's bias and print the before / after numbers."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import BamuInputError
from ..results import UnlearnReport
from ._common import _fmt, _hp_pair, _parse_intensity
from ._subject import _add_subject_options, _subject

_METHOD_HELP = "ga, lora, distill, finetune, retrain, newton, counterfactual, random_label, dfr or balanced_finetune"


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
        help="where to save the unlearned weights (default: under BAMU_HOME/unlearned)",
    )
    g.add_argument(
        "--hp",
        action="append",
        type=_hp_pair,
        metavar="KEY=VALUE",
        help="raw hyper-parameter override (repeatable), e.g. --hp steps=30",
    )
    g.add_argument("--retain-max", type=int, metavar="N", help="subsample the retain set to N images")


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


def _cmd_unlearn(args) -> dict:
    from ..forget import get_strategy
    from ..models import save_weights
    from ..storage import bamu_home
    from ..unlearn import get_method
    from ..workflows import unlearn

    get_method(args.method)  # unknown names fail before any data is loaded
    get_strategy(args.forget.partition(":")[0])
    intensity = _parse_intensity(args.intensity)
    if args.out and not args.out.endswith(".safetensors"):
        raise BamuInputError(f"--out must be a .safetensors file, got {args.out!r}")
    if args.retain_max is not None and args.retain_max < 1:
        raise BamuInputError(f"--retain-max must be >= 1, got {args.retain_max}")
    from ..runs import RunStore

    subject = _subject(args)

    def progress(ev):
        if ev.val_acc is not None and (ev.step % 10 == 0 or ev.step == ev.total):
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
        hyperparameters=dict(args.hp or []),
        retain_max=args.retain_max,
        store=RunStore(),
    )
    name = subject.scenario.name.replace(":", "_").replace("/", "_")
    out = (
        Path(args.out)
        if args.out
        else bamu_home() / "unlearned" / f"{name}-{args.method}-i{intensity:g}-s{args.seed}.safetensors"
    )
    save_weights(run.model, out)
    print(f"{subject.scenario.title} | model: {subject.arch} ({subject.model_source})")
    print(f"method {args.method} at intensity {intensity:g}, forget set: {run.forget.n} images ({run.forget.strategy})")
    _print_before_after(run)
    from ..unlearn import status_label

    print(f"status {run.status} ({status_label(run.status)}): {run.message}")
    print(
        f"unlearning took {run.seconds:.2f} s ({run.steps} steps, chose step {run.chosen_step}); test split evaluated "
        "once per model"
    )
    print(f"saved the unlearned model to {out}")
    if run.run_id:
        print(f"score {run.score:.3f}; run {run.run_id} stored: `bamu report {run.run_id} --html report.html`")
    return {**run.to_json(), "model_path": str(out)}
