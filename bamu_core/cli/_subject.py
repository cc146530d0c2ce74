"""The data and model options every command shares, and loading the subject they name."""

from __future__ import annotations

import argparse
import sys

from ..errors import BamuInputError
from ._common import (
    MAX_CLASSES,
    MAX_IMAGE_SIZE,
    MAX_PER_SPLIT,
    MAX_SEED,
    MIN_IMAGE_SIZE,
    _add_mkdir_option,
    _bounded_int,
    _floats3,
    _option_pair,
)


def _add_subject_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data (one of --scenario, --data/--meta, --celeba-root, --cub-root or --waterbirds-root)")
    g.add_argument("--scenario", help="a built-in scenario (see `bamu scenarios`)")
    g.add_argument(
        "--cifar-root",
        help="CIFAR-10 PNG folder for patch-cifar10 (default: ../shared/data/cifar10 or $BAMU_CIFAR_ROOT)",
    )
    g.add_argument(
        "--scenario-option",
        action="append",
        type=_option_pair,
        metavar="KEY=VALUE",
        help="an option of the --scenario (repeatable; see `bamu scenarios`), e.g. --scenario-option "
        "target_class=cat --scenario-option corner=top-left; VALUE is read as a number, true/false, null or a string",
    )
    g.add_argument("--data", help="image folder; paths in --meta are relative to it")
    g.add_argument("--meta", help="metadata CSV with columns path, label and group column(s)")
    g.add_argument(
        "--audit-only",
        action="store_true",
        help="every row of --meta is a test image, whatever its split column says (audit-only data: needs "
        "--model; a CSV whose split column is test in every row is audit-only anyway)",
    )
    g.add_argument("--label-col", default="label", help="label column in --meta (default: label)")
    g.add_argument(
        "--group-col", action="append", help="group column in --meta (repeatable; default: all other columns)"
    )
    g.add_argument(
        "--group-attr", help="which group attribute to audit (default: the scenario's first, e.g. colour or patch)"
    )
    g.add_argument(
        "--image-size",
        type=_bounded_int(MIN_IMAGE_SIZE, MAX_IMAGE_SIZE),
        help=f"resize --data and dataset images to N x N, {MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE} (default: 64; 224 for a "
        "ViT --arch)",
    )
    g.add_argument(
        "--mean",
        type=_floats3,
        help="normalisation mean R,G,B for --data and datasets (default: ImageNet 0.485,0.456,0.406)",
    )
    g.add_argument(
        "--std",
        type=_floats3,
        help="normalisation std R,G,B for --data and datasets (default: ImageNet 0.229,0.224,0.225)",
    )
    o = p.add_argument_group("official datasets, read from a local copy in the release layout (see README)")
    o.add_argument(
        "--celeba-root",
        metavar="DIR",
        help="CelebA: folder with img_align_celeba/, list_attr_celeba.txt, list_eval_partition.txt",
    )
    o.add_argument("--target", metavar="ATTR", help="CelebA attribute to predict (default: Smiling)")
    o.add_argument(
        "--sensitive",
        metavar="ATTR",
        action="append",
        help="CelebA attribute that defines the groups (repeatable; default: Male)",
    )
    o.add_argument(
        "--cub-root",
        metavar="DIR",
        help="CUB-200-2011: the CUB_200_2011 folder (images/, images.txt, parts/, attributes/ ...)",
    )
    o.add_argument(
        "--group-source",
        choices=["visibility", "attribute"],
        help="CUB groups: part visibility (pose proxy, default) or an attribute",
    )
    o.add_argument(
        "--part",
        help="CUB part whose visibility defines the groups, e.g. beak, 'left eye', or eyes (facing); default: beak",
    )
    o.add_argument(
        "--cub-attribute",
        metavar="NAME",
        help="CUB attribute (name or id) for --group-source attribute, e.g. has_wing_color::blue",
    )
    o.add_argument(
        "--classes", type=_bounded_int(2, 200), metavar="K", help="CUB: keep the first K species, 2..200 (default: all)"
    )
    o.add_argument("--waterbirds-root", metavar="DIR", help="Waterbirds: folder with metadata.csv and the images")
    o.add_argument(
        "--max-per-split",
        type=_bounded_int(1, MAX_PER_SPLIT),
        metavar="N",
        help=f"read at most N images per split, 1..{MAX_PER_SPLIT:,} (seeded subset; default: all)",
    )
    m = p.add_argument_group("model")
    m.add_argument(
        "--model", help="checkpoint (.pt/.pth/.th state dict or .safetensors); default: train the scenario's baseline"
    )
    m.add_argument(
        "--arch",
        help="architecture (see `bamu archs`; default: the scenario's, or for --data the one suited to its size, "
        "as the dashboard suggests)",
    )
    m.add_argument(
        "--epochs",
        type=_bounded_int(1, 1000),
        help="epochs of the baseline trained without --model, 1..1000 (default: the scenario's recipe, or for "
        "--data the number suited to its size)",
    )
    m.add_argument(
        "--num-classes",
        type=_bounded_int(2, MAX_CLASSES),
        help=f"number of classes the checkpoint predicts, 2..{MAX_CLASSES:,} (checked against the data)",
    )
    p.add_argument(
        "--device", choices=["cpu", "cuda", "mps"], help="compute device (default: $BAMU_DEVICE, else cuda, mps, cpu)"
    )
    p.add_argument(
        "--seed", type=_bounded_int(0, MAX_SEED), default=0, help=f"seed for splits and training, 0..{MAX_SEED}"
    )
    p.add_argument(
        "--json",
        dest="json_path",
        help="also write the result as JSON to this file (new or a regular file; never an input, a link or a device)",
    )
    _add_mkdir_option(p)


def _subject(args):
    from ..workflows import load_subject

    options = _scenario_option_args(args)
    if args.cifar_root:
        if args.scenario != "patch-cifar10":
            raise BamuInputError("--cifar-root only applies to --scenario patch-cifar10")
        options["cifar_root"] = args.cifar_root

    dataset, root, dataset_options = _dataset_args(args)
    if args.audit_only and args.data is None:
        raise BamuInputError("--audit-only only applies with --data and --meta")

    def progress(ev):
        if ev.step == 1 or ev.step % 50 == 0 or ev.step == ev.total:
            print(f"  training baseline: step {ev.step}/{ev.total} loss {ev.loss:.3f}", file=sys.stderr, flush=True)

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
        epochs=args.epochs,
        num_classes=args.num_classes,
        seed=args.seed,
        device=args.device,
        progress=progress,
        audit_only=args.audit_only,
    )


#: Scenario options that have their own flag (refused as --scenario-option).
_OPTION_FLAGS = {"seed": "--seed", "cifar_root": "--cifar-root"}


def settable_scenario_options(name: str) -> dict[str, object]:
    """The options of scenario ``name`` that ``--scenario-option`` may set, with their defaults."""
    from ..data import scenario_options

    return {k: v for k, v in scenario_options(name).items() if k not in _OPTION_FLAGS}


def _scenario_option_args(args) -> dict:
    """The ``--scenario-option`` pairs as scenario options, each name checked against the scenario's."""
    pairs = getattr(args, "scenario_option", None) or []
    if not pairs:
        return {}
    if args.scenario is None:
        raise BamuInputError("--scenario-option only applies with --scenario")
    allowed = settable_scenario_options(args.scenario)  # an unknown scenario: its own error
    options: dict = {}
    for key, value in pairs:
        if key in _OPTION_FLAGS:
            raise BamuInputError(f"--scenario-option {key}=...: set it with {_OPTION_FLAGS[key]} instead")
        if key not in allowed:
            raise BamuInputError(
                f"--scenario-option {key}: {args.scenario} has no option {key!r}; "
                f"its options are {', '.join(allowed) or 'none'}"
            )
        if key in options:
            raise BamuInputError(f"--scenario-option {key} is given twice")
        options[key] = value
    return options


_DATASET_FLAGS = {
    "celeba": {"target": "--target", "sensitive": "--sensitive"},
    "cub": {
        "group_source": "--group-source",
        "part": "--part",
        "cub_attribute": "--cub-attribute",
        "classes": "--classes",
    },
    "waterbirds": {},
}


def _dataset_args(args) -> tuple[str | None, str | None, dict]:
    """Which official dataset the flags name, its root and its loader options."""
    roots = {name: getattr(args, f"{name}_root") for name in _DATASET_FLAGS}
    given = [name for name, root in roots.items() if root]
    if len(given) > 1:
        raise BamuInputError(f"give one dataset root, not {' and '.join('--' + n + '-root' for n in given)}")
    dataset = given[0] if given else None
    for name, flags in _DATASET_FLAGS.items():
        for attr, flag in flags.items():
            if getattr(args, attr) is not None and name != dataset:
                raise BamuInputError(f"{flag} only applies with --{name}-root")
    if args.max_per_split is not None and dataset is None:
        raise BamuInputError("--max-per-split only applies with --celeba-root, --cub-root or --waterbirds-root")
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


def _reading_progress(ev) -> None:
    if ev.step == ev.total or ev.step % max(1, ev.total // 10) == 0:
        print(f"  reading images: {ev.step}/{ev.total}", file=sys.stderr, flush=True)


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
