"""``bamu``: the workflows without the dashboard."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


class BadInput(Exception):
    """Input the user can fix: exit code 2 and a one-line message."""


def _floats3(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three comma-separated numbers, got {text!r}") from None
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected three comma-separated numbers, got {text!r}")
    return parts  # type: ignore[return-value]


def _add_subject_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data (one of --scenario or --data/--meta)")
    g.add_argument("--scenario", help="a built-in scenario (see `bamu scenarios`)")
    g.add_argument("--cifar-root", help="CIFAR-10 PNG folder for patch-cifar10 (default: ../shared/data/cifar10 or $BAMU_CIFAR_ROOT)")
    g.add_argument("--data", help="image folder; paths in --meta are relative to it")
    g.add_argument("--meta", help="metadata CSV with columns path, label and group column(s)")
    g.add_argument("--label-col", default="label", help="label column in --meta (default: label)")
    g.add_argument("--group-col", action="append", help="group column in --meta (repeatable; default: all other columns)")
    g.add_argument("--group-attr", help="which group attribute to audit (default: the scenario's first, e.g. colour or patch)")
    g.add_argument("--image-size", type=int, help="resize --data images to N x N (default: 64)")
    g.add_argument("--mean", type=_floats3, help="normalisation mean R,G,B for --data (default: ImageNet 0.485,0.456,0.406)")
    g.add_argument("--std", type=_floats3, help="normalisation std R,G,B for --data (default: ImageNet 0.229,0.224,0.225)")
    m = p.add_argument_group("model")
    m.add_argument("--model", help="checkpoint (.pt/.pth/.th state dict or .safetensors); default: train the scenario's baseline")
    m.add_argument("--arch", help="architecture (see `bamu archs`; default: the scenario's)")
    m.add_argument("--num-classes", type=int, help="number of classes the checkpoint predicts (checked against the data)")
    p.add_argument("--device", choices=["cpu", "cuda", "mps"], help="compute device (default: $BAMU_DEVICE, else cuda, mps, cpu)")
    p.add_argument("--seed", type=int, default=0, help="seed for splits and training (default: 0)")
    p.add_argument("--json", dest="json_path", help="also write the result as JSON to this path")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bamu", description="Bias-aware machine unlearning for vision models.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scenarios", help="list built-in scenarios")
    s.add_argument("--json", dest="json_path")
    a = sub.add_parser("archs", help="list model architectures")
    a.add_argument("--json", dest="json_path")
    au = sub.add_parser("audit", help="per-group accuracy and fairness gaps of a model")
    _add_subject_options(au)
    return p


def _subject(args):
    from .workflows import load_subject

    options = {}
    if args.cifar_root:
        if args.scenario != "patch-cifar10":
            raise BadInput("--cifar-root only applies to --scenario patch-cifar10")
        options["cifar_root"] = args.cifar_root

    def progress(step, total, loss):
        if step == 1 or step % 50 == 0 or step == total:
            print(f"  training baseline: step {step}/{total} loss {loss:.3f}", file=sys.stderr, flush=True)

    return load_subject(
        scenario=args.scenario,
        scenario_options=options,
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


def _cmd_audit(args) -> dict:
    from .workflows import audit, model_card

    subject = _subject(args)
    result = audit(subject, device=args.device)
    result["dataset"] = subject.scenario.card()
    result["model"] = model_card(subject)
    u, f = result["utility"], result["fairness"]
    print(f"{subject.scenario.title} | model: {subject.arch} ({subject.model_source})")
    print(f"accuracy {u['accuracy']:.3f}  balanced accuracy {u['balanced_accuracy']:.3f}  (n={result['n']}, {result['split']} split)")
    print(f"{'group (' + result['group_attr'] + ')':<28}{'n':>6}{'accuracy':>10}")
    for g in result["groups"]:
        print(f"{g['group']:<28}{g['n']:>6}{g['accuracy']:>10.3f}")
    print(
        f"accuracy gap (best - worst group) {f['accuracy_gap']:.3f}  worst-group accuracy {f['worst_group_accuracy']:.3f}  "
        f"DP difference {f['demographic_parity_difference']:.3f}  EO difference {f['equalized_odds_difference']:.3f}"
    )
    return result


_COMMANDS = {"scenarios": _cmd_scenarios, "archs": _cmd_archs, "audit": _cmd_audit}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result = _COMMANDS[args.command](args)
        if getattr(args, "json_path", None):
            from .storage import atomic_write_json

            atomic_write_json(Path(args.json_path), result)
    except (BadInput, ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        print(f"bamu {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bamu {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
