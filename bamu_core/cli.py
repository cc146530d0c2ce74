"""``bamu``: the workflows without the dashboard."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


class BadInput(Exception):
    """Input the user can fix: exit code 2 and a one-line message."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage is behind --help) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def _one_line(text) -> str:
    """A message on one line (whitespace, newlines included, collapsed)."""
    return " ".join(str(text).split())


def _floats3(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three comma-separated numbers, got {text!r}") from None
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected three comma-separated numbers, got {text!r}")
    return parts  # type: ignore[return-value]


def _add_subject_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data (one of --scenario, --data/--meta, --celeba-root, --cub-root or --waterbirds-root)")
    g.add_argument("--scenario", help="a built-in scenario (see `bamu scenarios`)")
    g.add_argument("--cifar-root", help="CIFAR-10 PNG folder for patch-cifar10 (default: ../shared/data/cifar10 or $BAMU_CIFAR_ROOT)")
    g.add_argument("--data", help="image folder; paths in --meta are relative to it")
    g.add_argument("--meta", help="metadata CSV with columns path, label and group column(s)")
    g.add_argument("--label-col", default="label", help="label column in --meta (default: label)")
    g.add_argument("--group-col", action="append", help="group column in --meta (repeatable; default: all other columns)")
    g.add_argument("--group-attr", help="which group attribute to audit (default: the scenario's first, e.g. colour or patch)")
    g.add_argument("--image-size", type=int, help="resize --data and dataset images to N x N (default: 64; 224 for a ViT --arch)")
    g.add_argument("--mean", type=_floats3, help="normalisation mean R,G,B for --data and datasets (default: ImageNet 0.485,0.456,0.406)")
    g.add_argument("--std", type=_floats3, help="normalisation std R,G,B for --data and datasets (default: ImageNet 0.229,0.224,0.225)")
    o = p.add_argument_group("official datasets, read from a local copy in the release layout (see README)")
    o.add_argument("--celeba-root", metavar="DIR", help="CelebA: folder with img_align_celeba/, list_attr_celeba.txt, list_eval_partition.txt")
    o.add_argument("--target", metavar="ATTR", help="CelebA attribute to predict (default: Smiling)")
    o.add_argument("--sensitive", metavar="ATTR", action="append", help="CelebA attribute that defines the groups (repeatable; default: Male)")
    o.add_argument("--cub-root", metavar="DIR", help="CUB-200-2011: the CUB_200_2011 folder (images/, images.txt, parts/, attributes/ ...)")
    o.add_argument("--group-source", choices=["visibility", "attribute"], help="CUB groups: part visibility (pose proxy, default) or an attribute")
    o.add_argument("--part", help="CUB part whose visibility defines the groups, e.g. beak, 'left eye', or eyes (facing); default: beak")
    o.add_argument("--cub-attribute", metavar="NAME", help="CUB attribute (name or id) for --group-source attribute, e.g. has_wing_color::blue")
    o.add_argument("--classes", type=int, metavar="K", help="CUB: keep only the first K species (default: all 200)")
    o.add_argument("--waterbirds-root", metavar="DIR", help="Waterbirds: folder with metadata.csv and the images")
    o.add_argument("--max-per-split", type=int, metavar="N", help="read at most N images per split (seeded subset; default: all)")
    m = p.add_argument_group("model")
    m.add_argument("--model", help="checkpoint (.pt/.pth/.th state dict or .safetensors); default: train the scenario's baseline")
    m.add_argument("--arch", help="architecture (see `bamu archs`; default: the scenario's)")
    m.add_argument("--num-classes", type=int, help="number of classes the checkpoint predicts (checked against the data)")
    p.add_argument("--device", choices=["cpu", "cuda", "mps"], help="compute device (default: $BAMU_DEVICE, else cuda, mps, cpu)")
    p.add_argument("--seed", type=int, default=0, help="seed for splits and training (default: 0)")
    p.add_argument("--json", dest="json_path", help="also write the result as JSON to this path")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bamu", description="Bias-aware machine unlearning for vision models.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scenarios", help="list built-in scenarios")
    s.add_argument("--json", dest="json_path")
    a = sub.add_parser("archs", help="list model architectures")
    a.add_argument("--json", dest="json_path")
    au = sub.add_parser("audit", help="per-group accuracy and fairness gaps of a model")
    _add_subject_options(au)
    _add_audit_options(au)
    _add_run_commands(sub)
    _add_unlearn_command(sub)
    return p


def _subject(args):
    from .workflows import load_subject

    options = {}
    if args.cifar_root:
        if args.scenario != "patch-cifar10":
            raise BadInput("--cifar-root only applies to --scenario patch-cifar10")
        options["cifar_root"] = args.cifar_root

    dataset, root, dataset_options = _dataset_args(args)

    def progress(step, total, loss):
        if step == 1 or step % 50 == 0 or step == total:
            print(f"  training baseline: step {step}/{total} loss {loss:.3f}", file=sys.stderr, flush=True)

    return load_subject(
        scenario=args.scenario,
        scenario_options=options,
        dataset=dataset,
        dataset_root=root,
        dataset_options=dataset_options,
        data_dir=args.data,
        meta_csv=args.meta,
        label_col=args.label_col,
        group_cols=args.group_col,
        image_size=args.image_size,
        mean=args.mean,
        std=args.std,
        group_attr=args.group_attr,
        model_path=args.model,
        arch=args.arch,
        num_classes=args.num_classes,
        seed=args.seed,
        device=args.device,
        progress=progress,
    )


_DATASET_FLAGS = {
    "celeba": {"target": "--target", "sensitive": "--sensitive"},
    "cub": {"group_source": "--group-source", "part": "--part", "cub_attribute": "--cub-attribute", "classes": "--classes"},
    "waterbirds": {},
}


def _dataset_args(args) -> tuple[str | None, str | None, dict]:
    """Which official dataset the flags name, its root and its loader options."""
    roots = {name: getattr(args, f"{name}_root") for name in _DATASET_FLAGS}
    given = [name for name, root in roots.items() if root]
    if len(given) > 1:
        raise BadInput(f"give one dataset root, not {' and '.join('--' + n + '-root' for n in given)}")
    dataset = given[0] if given else None
    for name, flags in _DATASET_FLAGS.items():
        for attr, flag in flags.items():
            if getattr(args, attr) is not None and name != dataset:
                raise BadInput(f"{flag} only applies with --{name}-root")
    if args.max_per_split is not None and dataset is None:
        raise BadInput("--max-per-split only applies with --celeba-root, --cub-root or --waterbirds-root")
    if dataset is None:
        return None, None, {}
    options = {"max_per_split": args.max_per_split, "progress": _reading_progress}
    if dataset == "celeba":
        options.update({"target": args.target or "Smiling", "sensitive": args.sensitive or ["Male"]})
    elif dataset == "cub":
        options.update({"group_source": args.group_source or "visibility", "part": args.part or "beak"})
        if args.cub_attribute is not None:
            options["attribute"] = args.cub_attribute
        if args.classes is not None:
            options["classes"] = args.classes
    return dataset, roots[dataset], options


def _reading_progress(done: int, total: int) -> None:
    if done == total or done % max(1, total // 10) == 0:
        print(f"  reading images: {done}/{total}", file=sys.stderr, flush=True)


def _print_cards(dataset: dict, model: dict) -> None:
    """The dataset and model cards, short: sizes, preprocessing, test counts, parameters."""
    sizes = " / ".join(f"{s} {dataset['splits'][s]['n']}" for s in ("train", "val", "test"))
    print(f"dataset: {dataset['title']} | images {'x'.join(map(str, dataset['image_shape']))} | {sizes}")
    pre = dataset["preprocessing"]
    norm = pre["normalise"]
    print(
        f"  preprocessing: resize {pre['resize']}; scale {pre['scale']}; normalise mean "
        f"{','.join(f'{v:g}' for v in norm['mean'])} std {','.join(f'{v:g}' for v in norm['std'])}"
    )
    attr = dataset["active_group_attr"]
    counts = dataset["splits"]["test"]["counts"][attr]
    classes = dataset["classes"]
    if len(classes) <= 6:
        rows = [f"{g}: " + ", ".join(f"{c} {n}" for c, n in zip(classes, row)) for g, row in counts.items()]
    else:
        rows = [f"{g}: {sum(row)} over {sum(1 for n in row if n)} classes" for g, row in counts.items()]
    print(f"  test split by {attr} x class: " + " | ".join(rows))
    print(
        f"model: {model['arch']} ({model['family']}), {model['parameters']:,} parameters, input "
        f"{'x'.join(map(str, model['input_shape']))} | Grad-CAM layer {model['gradcam_layer']} | "
        f"LoRA targets {', '.join(model['lora_targets'])}"
    )


def _cmd_scenarios(args) -> dict:
    from .data import list_scenarios, scenario_summary

    rows = [{"name": n, "summary": scenario_summary(n)} for n in list_scenarios()]
    for r in rows:
        print(f"{r['name']:<24} {r['summary']}")
    return {"scenarios": rows}


def _cmd_archs(args) -> dict:
    from .models import get_arch, list_archs

    rows = [{"name": n, "description": get_arch(n).description} for n in list_archs()]
    for r in rows:
        print(f"{r['name']:<20} {r['description']}")
    return {"archs": rows}


def _ints4(text: str) -> tuple[int, int, int, int]:
    try:
        parts = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected four comma-separated integers TOP,LEFT,HEIGHT,WIDTH, got {text!r}") from None
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"expected four comma-separated integers TOP,LEFT,HEIGHT,WIDTH, got {text!r}")
    return parts  # type: ignore[return-value]


def _attr_pair(text: str) -> tuple[str, str]:
    parts = tuple(v.strip() for v in text.split(","))
    if len(parts) != 2 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected two group attributes A,B, got {text!r}")
    return parts  # type: ignore[return-value]


def _add_audit_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("audit")
    g.add_argument("--split", choices=["train", "val", "test"], default="test", help="split to audit (default: test)")
    g.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples for the 95%% intervals (default: 200; 0: none)")
    g.add_argument("--level", type=float, default=0.95, help="coverage of the intervals (default: 0.95)")
    g.add_argument("--intersect", type=_attr_pair, metavar="A,B", help="audit the intersection of two group attributes, e.g. colour,alignment")
    g.add_argument("--region", type=_ints4, metavar="T,L,H,W", help="box for the bias-region saliency score (default: the scenario's patch)")
    g.add_argument("--saliency-per-group", type=int, default=16, help="images per group for the saliency summary (default: 16; 0: skip)")
    g.add_argument("--saliency-method", choices=["auto", "gradcam", "hirescam"], default="auto", help="saliency method (default: auto)")
    g.add_argument("--gallery", metavar="DIR", help="write Grad-CAM overlay PNGs per group into DIR")
    g.add_argument("--gallery-k", type=int, default=4, help="images per group in the gallery (default: 4)")
    g.add_argument(
        "--gallery-rule", choices=["confident", "misclassified", "random"], default="confident",
        help="which images the gallery shows (default: confident)",
    )


def _fmt(value, width: int = 8) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.3f}"


def _fmt_ci(ci) -> str:
    if not ci or ci.get("low") is None or ci.get("high") is None:
        return ""
    return f"[{ci['low']:.3f}, {ci['high']:.3f}]"


def _print_audit(result: dict, title: str) -> None:
    u, f = result["utility"], result["fairness"]
    uci, fci = result.get("utility_ci", {}), result.get("fairness_ci", {})
    binary = result["conventions"]["task"] == "binary"
    level = result["bootstrap"]["level"]
    print(title)
    print(
        f"accuracy {u['accuracy']:.3f} {_fmt_ci(uci.get('accuracy'))}  balanced accuracy {u['balanced_accuracy']:.3f} "
        f"{_fmt_ci(uci.get('balanced_accuracy'))}  (n={result['n']}, {result['split']} split)"
    )
    head = f"{'group (' + result['group_attr'] + ')':<28}{'n':>6}{'accuracy':>10}"
    head += f"{'sel.rate':>10}" if binary else ""
    print(head + f"{'TPR':>8}{'FPR':>8}  accuracy CI")
    for g in result["groups"]:
        line = f"{g['group']:<28}{g['n']:>6}{_fmt(g['accuracy'], 10)}"
        line += _fmt(g["selection_rate"], 10) if binary else ""
        print(line + _fmt(g["tpr"]) + _fmt(g["fpr"]) + "  " + _fmt_ci(g.get("accuracy_ci")))
    if not binary:
        print("  (multiclass: TPR = mean recall over classes, FPR = mean one-vs-rest false-positive rate)")
    ci_head = f"{level:.0%} CI" if result["bootstrap"]["n_boot"] else ""
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
        print(f"{label:<36}{_fmt(f[key])}  {_fmt_ci(fci.get(key))}")
    tc = result.get("target_class")
    if tc:
        print(
            f"target class '{tc['name']}': DP {_fmt(tc['dp'], 0)} {_fmt_ci(tc['dp_ci'])}  recall {_fmt(tc['recall'], 0)} "
            f"{_fmt_ci(tc['recall_ci'])}  (max over classes: DP {_fmt(f['demographic_parity_difference'], 0)})"
        )
    sal = result.get("saliency") or {}
    if sal.get("enabled"):
        print(f"saliency ({sal['method']} on {sal['layer']}, {sal['images']} images, {sal['target']}):")
        for row in sal["groups"]:
            parts = [f"  {row['group']:<26}"]
            if "region_share" in row:
                parts.append(f"bias-region share {_fmt(row['region_share'], 0)} (uniform {sal['region_area']:.3f})")
            if "foreground_share" in row:
                parts.append(f"share on strokes {_fmt(row['foreground_share'], 0)} (area {_fmt(row['foreground_area'], 0)})")
            com = row.get("centre_of_mass")
            parts.append("centre -" if com is None else f"centre ({com[0]:.2f}, {com[1]:.2f})")
            print("  ".join(parts))
    if "gallery" in result:
        print(f"gallery: {result['gallery']['files']} files in {result['gallery']['dir']}")


def _cmd_audit(args) -> dict:
    from .workflows import audit, dataset_card, model_card

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
    )
    result["dataset"] = dataset_card(subject.scenario)
    result["model"] = model_card(subject)
    _print_cards(result["dataset"], result["model"])
    _print_audit(result, f"{subject.scenario.title} | model: {subject.arch} ({subject.model_source})")
    return result


_COMMANDS = {"scenarios": _cmd_scenarios, "archs": _cmd_archs, "audit": _cmd_audit}


# --- unlearning: bamu unlearn -----------------------------------------------------------------

_METHOD_HELP = "ga, lora, distill, finetune, retrain, newton, counterfactual or random_label"


def _hp_pair(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


def _add_unlearn_command(sub) -> None:
    u = sub.add_parser("unlearn", help="remove a model's bias by machine unlearning; print before/after metrics")
    _add_subject_options(u)
    g = u.add_argument_group("unlearning")
    g.add_argument("--method", required=True, help=f"unlearning method: {_METHOD_HELP}")
    g.add_argument("--intensity", required=True, help="strength in [0, 1]: 0 = no change, 1 = strongest within the accuracy bound")
    g.add_argument(
        "--forget",
        default="aligned",
        metavar="STRATEGY",
        help="forget set: aligned (default), counterfactual, group:NAME, influence:K or indices:I,J,...",
    )
    g.add_argument("--out", metavar="FILE.safetensors", help="where to save the unlearned weights (default: under BAMU_HOME/unlearned)")
    g.add_argument("--hp", action="append", type=_hp_pair, metavar="KEY=VALUE", help="raw hyper-parameter override (repeatable), e.g. --hp steps=30")
    g.add_argument("--retain-max", type=int, metavar="N", help="subsample the retain set to N images")


def _parse_intensity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"--intensity must be a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise BadInput(f"--intensity must be in [0, 1], got {value:g}")
    return value


def _print_before_after(run) -> None:
    before, after = run["before"], run["after"]
    binary = before["conventions"]["task"] == "binary"
    print(f"{'':<28}{'before':>10}{'after':>10}")
    for key, label in (("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy")):
        print(f"{label:<28}{_fmt(before['utility'][key], 10)}{_fmt(after['utility'][key], 10)}")
    head = f"{'group (' + before['group_attr'] + ')':<28}{'n':>6}{'acc before':>12}{'acc after':>11}"
    print(head + (f"{'sel before':>12}{'sel after':>11}" if binary else ""))
    for b, a in zip(before["groups"], after["groups"]):
        line = f"{b['group']:<28}{b['n']:>6}{_fmt(b['accuracy'], 12)}{_fmt(a['accuracy'], 11)}"
        print(line + (f"{_fmt(b['selection_rate'], 12)}{_fmt(a['selection_rate'], 11)}" if binary else ""))
    for key, label in (
        ("demographic_parity_difference", "demographic parity diff."),
        ("equalized_odds_difference", "equalized odds diff."),
        ("worst_group_accuracy", "worst-group accuracy"),
        ("accuracy_gap", "accuracy gap"),
    ):
        print(f"{label:<28}{_fmt(before['fairness'][key], 10)}{_fmt(after['fairness'][key], 10)}")
    f = run["forget"]
    print(f"{'forget-set accuracy':<28}{_fmt(f['accuracy_before'], 10)}{_fmt(f['accuracy_after'], 10)}  ({f['description']})")


def _cmd_unlearn(args) -> dict:
    from .forget import get_strategy
    from .models import save_weights
    from .storage import bamu_home
    from .unlearn import get_method
    from .workflows import unlearn

    get_method(args.method)  # unknown names fail before any data is loaded
    get_strategy(args.forget.partition(":")[0])
    intensity = _parse_intensity(args.intensity)
    if args.out and not args.out.endswith(".safetensors"):
        raise BadInput(f"--out must be a .safetensors file, got {args.out!r}")
    if args.retain_max is not None and args.retain_max < 1:
        raise BadInput(f"--retain-max must be >= 1, got {args.retain_max}")
    from .runs import RunStore

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
    out = Path(args.out) if args.out else bamu_home() / "unlearned" / f"{name}-{args.method}-i{intensity:g}-s{args.seed}.safetensors"
    save_weights(run.model, out)
    print(f"{subject.scenario.title} | model: {subject.arch} ({subject.model_source})")
    print(f"method {args.method} at intensity {intensity:g}, forget set: {run['forget']['n']} images ({run['forget']['strategy']})")
    _print_before_after(run)
    print(f"status {run.status}: {run.message}")
    print(f"unlearning took {run.seconds:.2f} s ({run.steps} steps, chose step {run.chosen_step}); test split evaluated once per model")
    print(f"saved the unlearned model to {out}")
    if run.run_id:
        print(f"score {run.score:.3f}; run {run.run_id} stored: `bamu report {run.run_id} --html report.html`")
    return {**run.to_json(), "model_path": str(out)}


_COMMANDS.update(unlearn=_cmd_unlearn)


# --- stored runs: bamu runs, bamu report ------------------------------------------------------


def _add_run_commands(sub) -> None:
    r = sub.add_parser("runs", help="list, compare or delete stored runs (BAMU_HOME/runs)")
    r.add_argument("--status", choices=["running", "complete", "failed", "cancelled"], help="only runs with this status")
    r.add_argument("--kind", help="only runs of this kind (e.g. unlearn)")
    r.add_argument("--limit", type=int, help="at most N runs, newest first")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"), help="show two runs side by side (B - A)")
    g.add_argument("--delete", metavar="RUN_ID", help="delete a run and its files")
    r.add_argument("--json", dest="json_path", help="also write the listing / comparison as JSON to this path")
    rep = sub.add_parser("report", help="write a stored run's self-contained HTML report and JSON / CSV exports")
    rep.add_argument("run_id", metavar="RUN_ID", help="a run id from `bamu runs`")
    rep.add_argument("--html", dest="html_path", help="write the HTML report here (opens offline)")
    rep.add_argument("--json", dest="export_json", help="write the JSON export (run, full result, score definitions) here")
    rep.add_argument("--csv", dest="csv_path", help="write the CSV table (one row per before / after number) here")
    sw = sub.add_parser("sweep", help="unlearn with every method x intensity; write a table and the fairness-utility Pareto plot")
    _add_subject_options(sw)
    sw.add_argument("--methods", required=True, type=_names, help="comma-separated unlearning methods, e.g. ga,lora,finetune")
    sw.add_argument("--intensities", type=_levels, default=[0.0, 0.25, 0.5, 0.75, 1.0],
                    help="comma-separated intensities in [0, 1] (default: 0,0.25,0.5,0.75,1)")
    sw.add_argument("--forget", default="aligned", help="forget strategy for every run (default: aligned)")
    sw.add_argument("--out", required=True, help="folder for sweep.csv, sweep.json and pareto.html")
    sw.add_argument("--no-store", action="store_true", help="do not keep the individual runs in the run store")


def _names(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def _levels(text: str) -> list[float]:
    try:
        levels = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers in [0, 1], got {text!r}") from None
    if not levels or any(not 0.0 <= x <= 1.0 for x in levels):
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers in [0, 1], got {text!r}")
    return levels


def _cell(value, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _cmd_runs(args) -> dict:
    from .runs import RunStore

    store = RunStore()
    if args.delete:
        store.delete(args.delete)
        print(f"deleted run {args.delete}")
        return {"deleted": args.delete}
    if args.compare:
        cmp = store.compare(*args.compare)
        print(f"{'metric':<40}{'A':>10}{'B':>10}{'B - A':>10}")
        for row in cmp["rows"]:
            print(f"{row['metric']:<40}{_cell(row['a']):>10}{_cell(row['b']):>10}{_cell(row['delta'], '+.3f'):>10}")
        return cmp
    records = store.list(status=args.status, kind=args.kind, limit=args.limit)
    if not records:
        print(f"no runs in {store.root}")
    else:
        print(f"{'run':<26}{'created':<18}{'status':<11}{'method':<16}{'intensity':>10}{'score':>8}{'DP after':>10}  scenario")
    for r in records:
        m = r.summary.get("metrics") or {}
        print(
            f"{r.run_id:<26}{r.to_dict()['created_iso'][:16]:<18}{r.status:<11}{(r.method or '-')[:15]:<16}"
            f"{_cell(r.intensity, '.2f'):>10}{_cell(r.score):>8}{_cell(m.get('dp_after')):>10}  {r.scenario or '-'}"
        )
    return {"root": str(store.root), "runs": [r.to_dict() for r in records]}


def _cmd_report(args) -> dict:
    from .report import write_report

    if not (args.html_path or args.export_json or args.csv_path):
        raise BadInput("give at least one of --html PATH, --json PATH, --csv PATH")
    written = write_report(args.run_id, html_path=args.html_path, json_path=args.export_json, csv_path=args.csv_path)
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return {k: str(v) for k, v in written.items()}


def _cmd_sweep(args) -> dict:
    from .unlearn import get_method
    from .workflows import sweep

    for name in args.methods:
        get_method(name)  # fail on a typo before loading data or training a baseline
    subject = _subject(args)
    total = len(args.methods) * len(args.intensities)

    def progress(done, total, row):
        print(f"  [{done}/{total}] {row['method']} @ {row['intensity']:g}: {row['status']}", file=sys.stderr, flush=True)

    options = {"store": None} if args.no_store else {}
    result = sweep(
        subject, methods=args.methods, intensities=args.intensities, forget=args.forget, device=args.device,
        seed=args.seed, progress=progress, **options,
    )
    from .report import write_sweep

    written = write_sweep(result, args.out)
    print(f"{subject.scenario.title} | {total} runs | original: accuracy {result.before['accuracy']:.3f}, DP {result.before['dp']:.3f}")
    print(f"{'method':<16}{'intensity':>10}{'accuracy':>10}{'DP':>8}{'score':>8}  {'status':<14}pareto")
    for r in result.rows:
        print(
            f"{(r['method'] or '-')[:15]:<16}{_cell(r['intensity'], '.2f'):>10}{_cell(r['accuracy']):>10}{_cell(r['dp']):>8}"
            f"{_cell(r['score']):>8}  {(r['status'] or '-'):<14}{'*' if r['pareto'] else ''}"
        )
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return {**result.to_dict(), "files": {k: str(v) for k, v in written.items()}}


_COMMANDS.update(runs=_cmd_runs, report=_cmd_report, sweep=_cmd_sweep)


def main(argv: list[str] | None = None) -> int:
    import warnings

    args = _parser().parse_args(argv)

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"bamu {args.command}: warning: {_one_line(message)}", file=sys.stderr, flush=True)

    try:
        with warnings.catch_warnings():  # restores the warning display on the way out
            warnings.showwarning = show_warning
            result = _COMMANDS[args.command](args)
        if getattr(args, "json_path", None):
            from .storage import atomic_write_json

            atomic_write_json(Path(args.json_path), result)
    except (BadInput, ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError) as exc:
        print(f"bamu {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except MemoryError as exc:
        print(f"bamu {args.command}: error: out of memory: {_one_line(exc) or 'use a smaller dataset or image size'}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"bamu {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
