"""What is audited: a subject (data with groups and a model), how it is loaded, and its cards."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn

from .._compat import describe_device, pick_device
from ..data import Scenario, load_dataset, load_folder, load_scenario
from ..errors import BamuInputError
from ..models import get_arch, load_model, suggest_baseline, train_baseline
from ..progress import Progress

__all__ = ["Subject", "load_subject", "model_card", "dataset_card", "training_rows_problem", "require_training_rows"]


@dataclass
class Subject:
    """What is being audited: a scenario (data with groups) and a model."""

    scenario: Scenario
    model: nn.Module
    arch: str
    model_source: str
    notes: list[str] = field(default_factory=list)


def training_rows_problem(scenario: Scenario, *, doing: str = "unlearning") -> str | None:
    """Why ``doing`` (training or unlearning) cannot run on this data, or ``None`` when it can.

    Audit-only data (every row of the metadata CSV is ``split=test``) has no training or
    validation images: a model can be audited on it, but not trained or unlearned.
    """
    if scenario.audit_only or len(scenario.train) == 0 or len(scenario.val) == 0:
        return (
            f"{doing} needs training rows, and every image of {scenario.name} is a test image (audit-only data): "
            "this data can audit a model checkpoint, but not train or unlearn one; add rows with split=train "
            "and split=val to the metadata CSV"
        )
    return None


def require_training_rows(scenario: Scenario, *, doing: str = "unlearning") -> None:
    """Raise :class:`BamuInputError` with :func:`training_rows_problem`'s reason, if any."""
    problem = training_rows_problem(scenario, doing=doing)
    if problem is not None:
        raise BamuInputError(problem)


def load_subject(
    *,
    scenario: str | None = None,
    scenario_options: dict | None = None,
    dataset: str | None = None,
    dataset_root: str | Path | None = None,
    dataset_options: dict | None = None,
    data_dir: str | Path | None = None,
    meta_csv: str | Path | None = None,
    label_col: str = "label",
    group_cols: Sequence[str] | None = None,
    image_size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    group_attr: str | None = None,
    model_path: str | Path | None = None,
    arch: str | None = None,
    epochs: int | None = None,
    data_name: str | None = None,
    num_classes: int | None = None,
    seed: int = 0,
    device: str | None = None,
    progress: Progress | None = None,
    audit_only: bool = False,
) -> Subject:
    """Load data and a model (a checkpoint or a baseline).

    The data is one of: a built-in ``scenario`` with its ``scenario_options`` (e.g.
    ``{"target_class": "cat", "corner": "top-left"}`` for ``patch-cifar10``; see
    :func:`bamu_core.data.scenario_options`); a ``data_dir`` with a ``meta_csv``; or an
    official ``dataset`` (``celeba``, ``cub``, ``waterbirds``) read from ``dataset_root`` with
    ``dataset_options`` (e.g. ``{"target": "Smiling", "sensitive": "Male"}``, see
    :func:`bamu_core.data.load_dataset`). ``image_size``, ``mean`` and ``std`` apply to the last two;
    for a vision transformer ``arch`` the image size defaults to the one it was built for (224).
    ``seed`` draws a built-in scenario's data (its splits, colours or patch placement; a ``seed``
    in ``scenario_options`` wins) and seeds baseline training and the folder loader's split.
    Without ``model_path`` the scenario's baseline is trained (cached after the first time) for
    ``epochs`` (default: its recipe's). Data that brings no training recipe of its own (a folder,
    an official dataset) gets the architecture and epochs :func:`~bamu_core.models.suggest_baseline`
    chooses from its size, unless ``arch`` / ``epochs`` are given; why is in the subject's ``notes``.
    ``data_name`` names a folder dataset (its title and name; default: the folder's name), e.g.
    after the uploaded archive it came from.
    ``audit_only`` makes every row of ``meta_csv`` a test image (see :func:`bamu_core.data.load_folder`;
    a CSV whose split column says ``test`` everywhere is audit-only anyway): such data needs a
    ``model_path``, since no baseline can be trained on it.
    """
    if sum(x is not None for x in (scenario, data_dir, dataset)) != 1:
        raise BamuInputError(
            "give either a built-in scenario or a data folder with a metadata CSV, "
            "or an official dataset (celeba, cub, waterbirds) with its root folder: exactly one of them"
        )
    if scenario is not None:
        # the seed draws the scenario's data (splits, colours, patches) as well as training
        sc = load_scenario(scenario, **{"seed": seed, **(scenario_options or {})})
    else:
        kwargs = {}
        if image_size is None and arch is not None and get_arch(arch).family == "vit":
            image_size = get_arch(arch).default_image_size
        if image_size is not None:
            kwargs["image_size"] = image_size
        if mean is not None:
            kwargs["mean"] = tuple(mean)
        if std is not None:
            kwargs["std"] = tuple(std)
        if dataset is not None:
            if dataset_root is None:
                raise BamuInputError(f"dataset {dataset!r} needs its local root folder (dataset_root)")
            sc = load_dataset(dataset, dataset_root, seed=seed, **{**(dataset_options or {}), **kwargs})
        elif meta_csv is None:
            raise BamuInputError("a data folder needs a metadata CSV (--meta)")
        else:
            sc = load_folder(
                data_dir,
                meta_csv,
                label_col=label_col,
                group_cols=group_cols,
                seed=seed,
                audit_only=audit_only,
                **kwargs,
            )
            if data_name:
                sc = replace(sc, name=f"folder:{data_name}", title=f"Image folder {data_name}")
    if group_attr is not None:
        sc = sc.with_group(group_attr)
    if num_classes is not None and num_classes != sc.num_classes:
        raise BamuInputError(f"--num-classes {num_classes} does not match the data, which has {sc.num_classes} classes")
    if data_name and data_dir is None:
        raise BamuInputError("data_name only applies to a data folder (data_dir with meta_csv)")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise BamuInputError(f"epochs must be a whole number >= 1, got {epochs!r}")
    notes = []
    if model_path is None:
        problem = training_rows_problem(sc, doing="training a baseline")
        if problem is not None:
            raise BamuInputError(
                f"{problem}; to audit it, give the model to audit (--model, or a checkpoint on the dashboard's "
                "Load page)"
            )
    if model_path is None and "arch" not in sc.baseline:  # no recipe of its own: one suited to its size
        choice = suggest_baseline(len(sc.train), sc.image_shape[1], sc.num_classes)
        if arch is None:
            notes.append(f"{choice.arch} chosen for {len(sc.train):,} training images because {choice.why}")
        arch = arch or choice.arch
        epochs = epochs or choice.epochs
    arch = arch or sc.default_arch
    get_arch(arch)  # validates the name
    if model_path is not None:
        model = load_model(arch, num_classes=sc.num_classes, checkpoint=model_path, in_channels=sc.image_shape[0])
        source = f"checkpoint {Path(model_path).name}"
    else:
        model, info = train_baseline(sc, arch=arch, epochs=epochs, seed=seed, device=device, progress=progress)
        source = (
            f"baseline trained on the biased training split ({'cached' if info.cached else f'{info.seconds:.1f} s'})"
        )
        notes.append(source)
    return Subject(scenario=sc, model=model, arch=arch, model_source=source, notes=notes)


def model_card(subject: Subject, device: torch.device | None = None) -> dict:
    """Architecture, parameter count, source and device of the subject's model, and the layers
    Grad-CAM and LoRA use."""
    params = sum(p.numel() for p in subject.model.parameters())
    dev = device or pick_device()
    spec = get_arch(subject.arch)
    return {
        "arch": subject.arch,
        "description": spec.description,
        "family": spec.family,
        "parameters": int(params),
        "source": subject.model_source,
        "num_classes": subject.scenario.num_classes,
        "input_shape": list(subject.scenario.image_shape),
        "gradcam_layer": spec.gradcam_layer,
        "lora_targets": list(spec.lora_targets),
        "classifier": spec.classifier,
        "device": describe_device(dev),
    }


def dataset_card(scenario: Scenario) -> dict:
    """:meth:`Scenario.card` (sizes, classes, counts per group x class per split, image shape)
    plus ``preprocessing`` (how images became tensors) and ``source`` (what it was read from)."""
    card = scenario.card()
    options = dict(scenario.options)
    pre = options.pop("preprocessing", None)
    if pre is None:
        c, h, w = scenario.image_shape
        resize = (
            f"whole image, bilinear, to {h}x{w} (aspect ratio not kept, no crop)"
            if "image_size" in options
            else f"none: generated or stored at {h}x{w}"
        )
        pre = {
            "resize": resize,
            "scale": "pixel / 255",
            "normalise": {"mean": list(scenario.mean), "std": list(scenario.std)},
        }
    card["preprocessing"] = pre
    card["source"] = json.loads(json.dumps(options, default=str))
    return card
