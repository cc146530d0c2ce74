"""The workflows the CLI and the dashboard call: load a subject, audit it (unlearn, sweep to come)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn

from ._compat import describe_device, pick_device
from .data import Scenario, load_folder, load_scenario
from .metrics import audit_metrics
from .models import get_arch, load_model, train_baseline
from .training import Progress, predict

__all__ = ["Subject", "load_subject", "audit", "model_card"]


@dataclass
class Subject:
    """What is being audited: a scenario (data with groups) and a model."""

    scenario: Scenario
    model: nn.Module
    arch: str
    model_source: str
    notes: list[str] = field(default_factory=list)


def load_subject(
    *,
    scenario: str | None = None,
    scenario_options: dict | None = None,
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
    num_classes: int | None = None,
    seed: int = 0,
    device: str | None = None,
    progress: Progress | None = None,
) -> Subject:
    """Load data (a built-in scenario or a folder + CSV) and a model (a checkpoint or a baseline).

    Without ``model_path`` the scenario's baseline is trained (cached after the first time).
    """
    if (scenario is None) == (data_dir is None):
        raise ValueError("give either a built-in scenario or a data folder with a metadata CSV")
    if scenario is not None:
        sc = load_scenario(scenario, **(scenario_options or {}))
    else:
        if meta_csv is None:
            raise ValueError("a data folder needs a metadata CSV (--meta)")
        kwargs = {}
        if image_size is not None:
            kwargs["image_size"] = image_size
        if mean is not None:
            kwargs["mean"] = tuple(mean)
        if std is not None:
            kwargs["std"] = tuple(std)
        sc = load_folder(data_dir, meta_csv, label_col=label_col, group_cols=group_cols, seed=seed, **kwargs)
    if group_attr is not None:
        sc = sc.with_group(group_attr)
    if num_classes is not None and num_classes != sc.num_classes:
        raise ValueError(f"--num-classes {num_classes} does not match the data, which has {sc.num_classes} classes")
    arch = arch or sc.default_arch
    get_arch(arch)  # validates the name
    notes = []
    if model_path is not None:
        model = load_model(arch, num_classes=sc.num_classes, checkpoint=model_path, in_channels=sc.image_shape[0])
        source = f"checkpoint {Path(model_path).name}"
    else:
        model, info = train_baseline(sc, arch=arch, seed=seed, device=device, progress=progress)
        source = f"baseline trained on the biased training split ({'cached' if info.cached else f'{info.seconds:.1f} s'})"
        notes.append(source)
    return Subject(scenario=sc, model=model, arch=arch, model_source=source, notes=notes)


def model_card(subject: Subject, device: torch.device | None = None) -> dict:
    """Architecture, parameter count, source and device of the subject's model."""
    params = sum(p.numel() for p in subject.model.parameters())
    dev = device or pick_device()
    return {
        "arch": subject.arch,
        "description": get_arch(subject.arch).description,
        "parameters": int(params),
        "source": subject.model_source,
        "num_classes": subject.scenario.num_classes,
        "device": describe_device(dev),
    }


def audit(
    subject: Subject,
    *,
    split: str = "test",
    device: str | None = None,
    batch_size: int = 512,
) -> dict:
    """Evaluate the model once on ``split`` and return the audit dictionary.

    Layout: ``{"utility", "groups", "fairness", "group_attr", "split", "n", "seconds", "device"}``.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, got {split!r}")
    data = getattr(subject.scenario, split)
    dev = pick_device(device)
    start = time.perf_counter()
    model = subject.model.to(dev)
    logits = predict(model, data, batch_size=batch_size, device=dev)
    y_pred = logits.argmax(1).numpy()
    result = audit_metrics(
        y_true=data.labels,
        y_pred=y_pred,
        groups=data.groups,
        group_names=data.group_names[data.group_attr],
        num_classes=subject.scenario.num_classes,
    )
    subject.model.to("cpu")
    result.update(
        {
            "group_attr": data.group_attr,
            "split": split,
            "n": int(len(data)),
            "seconds": time.perf_counter() - start,
            "device": describe_device(dev),
        }
    )
    return result
