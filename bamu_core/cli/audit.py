"""``bamu scenarios``, ``bamu archs`` and ``bamu audit``."""

from __future__ import annotations

import argparse

from ..results import AuditResult
from ._common import (
    MAX_GALLERY_K,
    MAX_N_BOOT,
    MAX_SALIENCY_PER_GROUP,
    _attr_pair,
    _bounded_float,
    _bounded_int,
    _command_inputs,
    _fmt,
    _fmt_ci,
    _ints4,
)
from ._execution import _add_executor_options, _executor
from ._subject import _print_cards, _subject, settable_scenario_options


def _cmd_scenarios(args) -> dict:
    from ..data import list_scenarios, scenario_summary

    rows = [
        {"name": n, "summary": scenario_summary(n), "options": settable_scenario_options(n)} for n in list_scenarios()
    ]
    for r in rows:
        print(f"{r['name']:<24} {r['summary']}")
        if r["options"]:
            defaults = ", ".join(f"{k}={'null' if v is None else v}" for k, v in r["options"].items())
            print(f"{'':<24} --scenario-option (defaults): {defaults}")
    return {"scenarios": rows}


def _cmd_archs(args) -> dict:
    from ..models import get_arch, list_archs

    rows = [{"name": n, "description": get_arch(n).description} for n in list_archs()]
    for r in rows:
        print(f"{r['name']:<20} {r['description']}")
    return {"archs": rows}


def _add_audit_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("audit")
    g.add_argument(
        "--split",
        choices=["train", "val", "test", "all"],
        default="test",
        help="split to audit (default: test; all: every image of the data, train, val and test together)",
    )
    g.add_argument(
        "--n-boot",
        type=_bounded_int(0, MAX_N_BOOT),
        default=200,
        help=f"bootstrap resamples for the 95%% intervals, 0..{MAX_N_BOOT:,} (default: 200; 0: none)",
    )
    g.add_argument(
        "--level",
        type=_bounded_float(0.0, 1.0, open_low=True, open_high=True),
        default=0.95,
        help="coverage of the intervals, in (0, 1) (default: 0.95)",
    )
    g.add_argument(
        "--intersect",
        type=_attr_pair,
        metavar="A,B",
        help="audit the intersection of two group attributes, e.g. colour,alignment",
    )
    g.add_argument(
        "--region",
        type=_ints4,
        metavar="T,L,H,W",
        help="box for the bias-region saliency score (default: the scenario's patch)",
    )
    g.add_argument(
        "--saliency-per-group",
        type=_bounded_int(0, MAX_SALIENCY_PER_GROUP),
        default=16,
        help=f"images per group for the saliency summary, 0..{MAX_SALIENCY_PER_GROUP:,} (default: 16; 0: skip)",
    )
    g.add_argument(
        "--saliency-method",
        choices=["auto", "gradcam", "hirescam"],
        default="auto",
        help="saliency method (default: auto)",
    )
    g.add_argument(
        "--gallery",
        metavar="DIR",
        help="write Grad-CAM overlay PNGs per group into DIR (created if missing; its parent must exist, or --mkdir)",
    )
    g.add_argument(
        "--gallery-k",
        type=_bounded_int(1, MAX_GALLERY_K),
        default=4,
        help=f"images per group in the gallery, 1..{MAX_GALLERY_K} (default: 4)",
    )
    g.add_argument(
        "--gallery-rule",
        choices=["confident", "misclassified", "random"],
        default="confident",
        help="which images the gallery shows (default: confident)",
    )
    g.add_argument(
        "--no-cohorts",
        action="store_true",
        help="skip the search for the worst slices over the metadata columns (cohorts)",
    )
    _add_executor_options(p, shards=True)


def _print_audit(result: AuditResult, title: str) -> None:
    u, f = result.utility, result.fairness
    binary = result.conventions["task"] == "binary"
    level = result.bootstrap["level"]
    print(title)
    print(
        f"accuracy {u.accuracy:.3f} {_fmt_ci(result.utility_ci.get('accuracy'))}  balanced accuracy "
        f"{u.balanced_accuracy:.3f} {_fmt_ci(result.utility_ci.get('balanced_accuracy'))}  (n={result.n}, "
        f"{result.split} split)"
    )
    head = f"{'group (' + result.group_attr + ')':<28}{'n':>6}{'accuracy':>10}"
    head += f"{'sel.rate':>10}" if binary else ""
    print(head + f"{'TPR':>8}{'FPR':>8}  accuracy CI")
    for g in result.groups:
        line = f"{g.group:<28}{g.n:>6}{_fmt(g.accuracy, 10)}"
        line += _fmt(g.selection_rate, 10) if binary else ""
        print(line + _fmt(g.tpr) + _fmt(g.fpr) + "  " + _fmt_ci(g.accuracy_ci))
    if not binary:
        print("  (multiclass: TPR = mean recall over classes, FPR = mean one-vs-rest false-positive rate)")
    ci_head = f"{level:.0%} CI" if result.bootstrap["n_boot"] else ""
    print(f"{'fairness':<36}{'value':>8}  {ci_head}")
    labels = [
        ("demographic_parity_difference", "demographic parity difference"),
        ("demographic_parity_ratio", "demographic parity ratio"),
        ("equalized_odds_difference", "equalized odds difference"),
        ("equal_opportunity_difference", "equal opportunity difference"),
        ("worst_group_accuracy", "worst-group accuracy"),
        ("accuracy_gap", "accuracy gap (best - worst group)"),
    ]
    for key, label in labels:
        print(f"{label:<36}{_fmt(f.gap(key))}  {_fmt_ci(result.fairness_ci.get(key))}")
    tc = result.target_class
    if tc:
        print(
            f"target class '{tc.name}': DP {_fmt(tc.dp, 0)} {_fmt_ci(tc.dp_ci)}  recall {_fmt(tc.recall, 0)} "
            f"{_fmt_ci(tc.recall_ci)}  (max over classes: DP {_fmt(f.demographic_parity_difference, 0)})"
        )
    sal = result.saliency or {}
    if sal.get("enabled"):
        print(f"saliency ({sal['method']} on {sal['layer']}, {sal['images']} images, {sal['target']}):")
        for row in sal["groups"]:
            parts = [f"  {row['group']:<26}"]
            if "region_share" in row:
                parts.append(f"bias-region share {_fmt(row['region_share'], 0)} (uniform {sal['region_area']:.3f})")
            if "foreground_share" in row:
                parts.append(
                    f"share on strokes {_fmt(row['foreground_share'], 0)} (area {_fmt(row['foreground_area'], 0)})"
                )
            com = row.get("centre_of_mass")
            parts.append("centre -" if com is None else f"centre ({com[0]:.2f}, {com[1]:.2f})")
            print("  ".join(parts))
    if result.gallery is not None:
        print(f"gallery: {result.gallery['files']} files in {result.gallery['dir']}")
    if result.cohorts is not None:
        print(f"cohorts: {result.cohorts.reading}")


def _print_warnings(result: AuditResult, prefix: str = "") -> None:
    """One line per warning of the audit (nothing when there is none)."""
    for w in result.warnings or ():
        print(f"{prefix}warning ({w.code}): {w.message}")


def _cmd_audit(args) -> dict:
    from ..insight import InsightOptions
    from ..workflows import audit, dataset_card, model_card

    if args.gallery:  # before any work: the folder is checked (and created) now, each file when written
        from ..storage import check_output_folder

        files, folders = _command_inputs(args)
        check_output_folder(args.gallery, inputs=files, input_folders=folders, mkdir=args.mkdir, flag="--gallery")
    executor = _executor(args)  # bad executor options (or no ray) fail before a baseline is trained
    subject = _subject(args)
    result = audit(
        subject,
        split=args.split,
        device=args.device,
        n_boot=args.n_boot,
        level=args.level,
        seed=args.seed,
        intersect=args.intersect,
        saliency_per_group=args.saliency_per_group,
        saliency_method=args.saliency_method,
        region=args.region,
        gallery_dir=args.gallery,
        gallery_k=args.gallery_k,
        gallery_rule=args.gallery_rule,
        insight=InsightOptions(cohorts=not args.no_cohorts),
        executor=executor,
        shards=args.shards,
    )
    cards = {"dataset": dataset_card(subject.scenario), "model": model_card(subject)}
    _print_cards(cards["dataset"], cards["model"])
    _print_audit(result, f"{subject.scenario.title} | model: {subject.arch} ({subject.model_source})")
    _print_warnings(result)
    return {**result.to_json(), **cards}
