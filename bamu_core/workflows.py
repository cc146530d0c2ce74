"""The workflows the CLI and the dashboard call: load a subject, audit it (unlearn, sweep to come)."""
from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn

from ._compat import describe_device, on_device, pick_device
from .data import Scenario, load_dataset, load_folder, load_scenario
from .metrics import DEFAULT_N_BOOT, audit_metrics, check_bootstrap
from .models import baseline_recipe, get_arch, load_model, train_baseline
from .training import Progress, StopRequested, predict

__all__ = ["Subject", "load_subject", "audit", "model_card", "dataset_card"]


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
    num_classes: int | None = None,
    seed: int = 0,
    device: str | None = None,
    progress: Progress | None = None,
) -> Subject:
    """Load data and a model (a checkpoint or a baseline).

    The data is one of: a built-in ``scenario``; a ``data_dir`` with a ``meta_csv``; or an
    official ``dataset`` (``celeba``, ``cub``, ``waterbirds``) read from ``dataset_root`` with
    ``dataset_options`` (e.g. ``{"target": "Smiling", "sensitive": "Male"}``, see
    :func:`bamu_core.data.load_dataset`). ``image_size``, ``mean`` and ``std`` apply to the last two;
    for a vision transformer ``arch`` the image size defaults to the one it was built for (224).
    Without ``model_path`` the scenario's baseline is trained (cached after the first time).
    """
    if sum(x is not None for x in (scenario, data_dir, dataset)) != 1:
        raise ValueError(
            "give either a built-in scenario or a data folder with a metadata CSV, "
            "or an official dataset (celeba, cub, waterbirds) with its root folder: exactly one of them"
        )
    if scenario is not None:
        sc = load_scenario(scenario, **(scenario_options or {}))
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
                raise ValueError(f"dataset {dataset!r} needs its local root folder (dataset_root)")
            sc = load_dataset(dataset, dataset_root, seed=seed, **{**(dataset_options or {}), **kwargs})
        elif meta_csv is None:
            raise ValueError("a data folder needs a metadata CSV (--meta)")
        else:
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
    import json

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
        pre = {"resize": resize, "scale": "pixel / 255", "normalise": {"mean": list(scenario.mean), "std": list(scenario.std)}}
    card["preprocessing"] = pre
    card["source"] = json.loads(json.dumps(options, default=str))
    return card


def audit(
    subject: Subject,
    *,
    split: str = "test",
    device: str | None = None,
    batch_size: int = 512,
    n_boot: int = DEFAULT_N_BOOT,
    level: float = 0.95,
    seed: int = 0,
    intersect: Sequence[str] | None = None,
    saliency_per_group: int = 16,
    saliency_method: str = "auto",
    region: Sequence[int] | None = None,
    gallery_dir: str | Path | None = None,
    gallery_k: int = 4,
    gallery_rule: str = "confident",
) -> dict:
    """Evaluate the model once on ``split`` and return the audit dictionary.

    The model runs once over the split; every metric and bootstrap interval comes from those
    predictions. Saliency maps need gradients and are computed for a small seeded sample.

    Parameters
    ----------
    subject : Subject
        Data and model (see :func:`load_subject`).
    split : {"train", "val", "test"}, default "test"
        Which split to audit.
    device : str, optional
        Compute device (default: :func:`pick_device`).
    batch_size : int, default 512
        Images per inference batch.
    n_boot : int, default 200
        Bootstrap resamples for the confidence intervals (0: none).
    level : float, default 0.95
        Coverage of the intervals.
    seed : int, default 0
        Seed of the bootstrap, the saliency sample and the ``random`` gallery rule.
    intersect : (str, str), optional
        Audit the intersection of two group attributes (e.g. ``("colour", "alignment")``).
    saliency_per_group : int, default 16
        Images per group for the saliency summary (0 skips it).
    saliency_method : {"auto", "gradcam", "hirescam"}, default "auto"
        See :func:`bamu_core.explain.grad_cam`.
    region : (top, left, height, width), optional
        Box for the bias-region score (default: the scenario's ``bias_region``, e.g. the
        patch of ``patch-cifar10``).
    gallery_dir : path, optional
        Also write overlay PNGs of ``gallery_k`` images per group chosen by ``gallery_rule``
        (``confident``, ``misclassified`` or ``random``) into this folder.

    Returns
    -------
    dict
        The audit JSON of DESIGN.md (``utility``, ``groups``, ``fairness``, ``saliency``) with
        the fields of :func:`bamu_core.metrics.audit_metrics` (``utility_ci``, ``fairness_ci``,
        ``per_class_recall``, ``per_class_dp`` ...), plus ``target_class`` (DP and recall of the
        scenario's target class, when it has one), ``gallery`` (when written), ``group_attr``,
        ``split``, ``n``, ``seconds``, ``timing`` and ``device``. ``saliency`` (see
        :func:`bamu_core.explain.saliency_summary`) reports per group the share of saliency inside
        the bias region when there is one (``region_share`` vs ``region_area``), and for images
        on a black background (the digit scenarios) the share on the strokes (``foreground_share``
        vs ``foreground_area``); always the centre of mass of the group-averaged map.
    """
    from .explain import check_region, group_gallery, saliency_summary, save_gallery

    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, got {split!r}")
    check_bootstrap(n_boot, level)
    if saliency_per_group < 0:
        raise ValueError(f"saliency_per_group must be >= 0, got {saliency_per_group}")
    if gallery_dir is not None and gallery_k < 1:
        raise ValueError(f"gallery k must be >= 1, got {gallery_k}")
    if gallery_rule not in ("confident", "misclassified", "random"):
        raise ValueError(f"gallery_rule must be confident, misclassified or random, got {gallery_rule!r}")
    data = getattr(subject.scenario, split)
    if intersect is not None:
        if len(intersect) != 2:
            raise ValueError(f"intersect needs two group attributes, got {list(intersect)}")
        data = data.with_intersection(*intersect)
    scenario_region = None if subject.scenario.bias_region is None else tuple(subject.scenario.bias_region)
    region = scenario_region if region is None else check_region(region, data.image_shape[1:])
    region_source = None if region is None else ("scenario bias region" if region == scenario_region else "user box")
    dev = pick_device(device)
    timing = {}
    start = time.perf_counter()
    device_copy = contextlib.ExitStack()  # the subject's model may be shared: it is never moved
    model = device_copy.enter_context(on_device(subject.model, dev))
    logits = predict(model, data, batch_size=batch_size, device=dev)
    timing["inference"] = time.perf_counter() - start
    y_pred = logits.argmax(1).numpy()
    t0 = time.perf_counter()
    result = audit_metrics(
        y_true=data.labels,
        y_pred=y_pred,
        groups=data.groups,
        group_names=data.group_names[data.group_attr],
        num_classes=subject.scenario.num_classes,
        n_boot=n_boot,
        level=level,
        seed=seed,
    )
    timing["metrics"] = time.perf_counter() - t0
    target = subject.scenario.target_class
    if target is not None:
        result["target_class"] = {
            "index": int(target),
            "name": subject.scenario.class_names[target],
            "dp": result["per_class_dp"][target],
            "dp_ci": result["per_class_dp_ci"][target] if result["per_class_dp_ci"] else None,
            "recall": result["per_class_recall"][target],
            "recall_ci": result["per_class_recall_ci"][target] if result["per_class_recall_ci"] else None,
        }
    try:
        t0 = time.perf_counter()
        if saliency_per_group:
            result["saliency"] = {
                "enabled": True,
                "region_source": region_source,
                **saliency_summary(
                    model, data, per_group=saliency_per_group, seed=seed, logits=logits, region=region, method=saliency_method
                ),
            }
        else:
            result["saliency"] = {"enabled": False, "images": 0, "groups": []}
        timing["saliency"] = time.perf_counter() - t0
        if gallery_dir is not None:
            t0 = time.perf_counter()
            gallery = group_gallery(
                model,
                data,
                k=gallery_k,
                rule=gallery_rule,
                seed=seed,
                logits=logits,
                region=region,
                class_names=subject.scenario.class_names,
                method=saliency_method,
            )
            files = save_gallery(gallery, gallery_dir)
            result["gallery"] = {"dir": str(gallery_dir), "files": len(files), "k": gallery_k, "rule": gallery_rule}
            timing["gallery"] = time.perf_counter() - t0
    finally:
        device_copy.close()
    result.update(
        {
            "group_attr": data.group_attr,
            "split": split,
            "n": int(len(data)),
            "seconds": time.perf_counter() - start,
            "timing": timing,
            "device": describe_device(dev),
        }
    )
    return result


# --------------------------------------------------------------------------------------------
# before / after assessment of an unlearned model: privacy, radar, score, run store
# --------------------------------------------------------------------------------------------

__all__ += ["evaluate_unlearning"]


def _gradcam_strip(model: nn.Module, data, indices, *, device, scale: int = 4) -> bytes:
    """Grad-CAM overlays of ``data[indices]`` side by side (white gaps) as PNG bytes."""
    import io

    from PIL import Image

    from .explain import grad_cam, overlay, to_rgb_uint8

    x = data.images(indices)
    with on_device(model, device) as model:
        maps = grad_cam(model, x.to(device), method="auto").maps
    rgb = overlay(to_rgb_uint8(x, mean=data.mean.flatten().tolist(), std=data.std.flatten().tolist()), maps.numpy(), alpha=0.45)
    n, h, w, _ = rgb.shape
    gap = 2
    strip = np.full((h, n * w + (n - 1) * gap, 3), 255, dtype=np.uint8)
    for i in range(n):
        strip[:, i * (w + gap) : i * (w + gap) + w] = rgb[i]
    pic = Image.fromarray(strip).resize((strip.shape[1] * scale, h * scale), Image.NEAREST)
    buf = io.BytesIO()
    pic.save(buf, format="PNG")
    return buf.getvalue()


def _one_per_group(data, k: int, seed: int) -> np.ndarray:
    """Up to ``k`` test indices, one from each group in turn (seeded), for the Grad-CAM strips."""
    rng = np.random.default_rng(seed)
    pools = [rng.permutation(np.flatnonzero(data.groups == g)).tolist() for g in range(len(data.group_names[data.group_attr]))]
    out: list[int] = []
    while len(out) < k and any(pools):
        for pool in pools:
            if pool and len(out) < k:
                out.append(pool.pop())
    return np.array(sorted(out), dtype=np.int64)


def _assess(
    subject: Subject,
    *,
    unlearned: nn.Module,
    forget_indices,
    retain_indices=None,
    before: dict | None = None,
    after: dict | None = None,
    seconds: float,
    reference_forget_accuracy: float | None = None,
    retrain_seconds: float | None = None,
    device: str | None = None,
    seed: int = 0,
    mia_samples: int = 2000,
    gradcam_images: int = 8,
) -> tuple[dict, dict]:
    """Privacy, radar, score (and the audits if not given) of an unlearned model vs the original.

    Returns ``(parts, artifacts)``: ``parts`` holds ``before, after, forget_accuracy {before,
    after}, privacy, radar, score, dataset, model, environment, gradcam, timings``; ``artifacts``
    the Grad-CAM strips as PNG bytes.
    """
    import importlib.util

    from .privacy import membership_inference, model_outputs
    from .report import environment_info
    from .scoring import composite_score, radar_axes

    sc = subject.scenario
    train = sc.train
    forget_idx = np.unique(np.asarray(forget_indices, dtype=np.int64))
    if len(forget_idx) < 2:
        raise ValueError(f"forget_indices needs at least 2 training samples, got {len(forget_idx)}")
    if forget_idx[0] < 0 or forget_idx[-1] >= len(train):
        raise ValueError(f"forget_indices must lie in 0..{len(train) - 1}")
    if retain_indices is None:
        retain_idx = np.setdiff1d(np.arange(len(train)), forget_idx)
    else:
        retain_idx = np.asarray(retain_indices, dtype=np.int64)
    if len(retain_idx) > mia_samples:
        retain_idx = np.sort(np.random.default_rng(seed).choice(retain_idx, size=mia_samples, replace=False))
    dev = pick_device(device)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    if before is None:
        before = audit(subject, device=device, seed=seed, saliency_per_group=0)
        timings["audit_before"] = time.perf_counter() - t0
    if after is None:
        t0 = time.perf_counter()
        after = audit(replace(subject, model=unlearned), device=device, seed=seed, saliency_per_group=0)
        timings["audit_after"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    outputs = {}
    for name, model in (("before", subject.model), ("after", unlearned)):
        with on_device(model, dev) as model:
            outputs[name] = {
                "forget": model_outputs(model, train, indices=forget_idx, device=dev),
                "retain": model_outputs(model, train, indices=retain_idx, device=dev),
                "test": model_outputs(model, sc.test, device=dev),
            }
    forget_acc = {k: float((o["forget"].logits.argmax(1) == o["forget"].labels).mean()) for k, o in outputs.items()}
    mia = {k: membership_inference(**o, seed=seed, max_samples=mia_samples) for k, o in outputs.items()}
    timings["privacy"] = time.perf_counter() - t0

    efficiency = retrain_seconds is not None
    radar = {
        name: radar_axes(
            audit=audit_, original_audit=before, forget_accuracy=forget_acc[name], privacy=mia[name],
            reference_forget_accuracy=reference_forget_accuracy,
            seconds=(0.0 if name == "before" else float(seconds)) if efficiency else None,
            retrain_seconds=retrain_seconds,
        )
        for name, audit_ in (("before", before), ("after", after))
    }

    artifacts: dict = {}
    gradcam = None
    if gradcam_images and importlib.util.find_spec("captum") is None:
        gradcam = {"skipped": "captum is not installed (pip install captum) so no Grad-CAM images were made"}
    elif gradcam_images:
        t0 = time.perf_counter()
        picks = _one_per_group(sc.test, gradcam_images, seed)
        artifacts["gradcam_before.png"] = _gradcam_strip(subject.model, sc.test, picks, device=dev)
        artifacts["gradcam_after.png"] = _gradcam_strip(unlearned, sc.test, picks, device=dev)
        names = sc.test.group_names[sc.test.group_attr]
        shown = ", ".join(f"{names[sc.test.groups[i]]} {sc.class_names[sc.test.labels[i]]}" for i in picks)
        gradcam = {
            "test_indices": picks.tolist(),
            "files": ["gradcam_before.png", "gradcam_after.png"],
            "caption": f"The same {len(picks)} test images for both models, left to right ({sc.test.group_attr} and class): "
            f"{shown}. Red = the regions that drive the predicted class (Grad-CAM).",
        }
        timings["gradcam"] = time.perf_counter() - t0

    parts = {
        "before": before,
        "after": after,
        "forget_accuracy": forget_acc,
        "privacy": {"mia_before": mia["before"], "mia_after": mia["after"]},
        "radar": radar,
        "score": composite_score(radar["after"]),
        "dataset": dataset_card(sc),
        "model": model_card(subject, dev),
        "environment": environment_info(device),
        "gradcam": gradcam,
        "timings": timings,
    }
    return parts, artifacts


def _run_artifacts(unlearned: nn.Module, parts: dict, extra: dict) -> dict:
    """What the run store keeps of an unlearning run: weights, both audits, the Grad-CAM strips."""
    return {"unlearned.safetensors": unlearned, "audit_before.json": parts["before"], "audit_after.json": parts["after"], **extra}


def evaluate_unlearning(
    subject: Subject,
    *,
    unlearned: nn.Module,
    forget_indices,
    retain_indices=None,
    method: str,
    intensity: float,
    seconds: float,
    status: str = "ok",
    message: str = "",
    settings: dict | None = None,
    forget_info: dict | None = None,
    before: dict | None = None,
    reference_forget_accuracy: float | None = None,
    retrain_seconds: float | None = None,
    device: str | None = None,
    seed: int = 0,
    mia_samples: int = 2000,
    gradcam_images: int = 8,
    store=None,
    config: dict | None = None,
) -> dict:
    """Measure a model unlearned elsewhere against the original and (optionally) store the run.

    :func:`unlearn` does the same for the registered methods; this is for a model from anywhere.
    Both models run once over the forget set, a retain sample (at most ``mia_samples``) and the
    test split; from those outputs come the forget-set accuracies and the membership-inference
    attacks (:func:`bamu_core.privacy.membership_inference`). Test audits come from :func:`audit`.
    The radar axes and the composite score are :mod:`bamu_core.scoring`'s.

    Parameters
    ----------
    subject : Subject
        The original model and its scenario (the model is not changed).
    unlearned : torch.nn.Module
        The model after unlearning.
    forget_indices, retain_indices : array-like of int
        Indices into ``subject.scenario.train``; retain defaults to the complement.
    method, intensity, seconds, status, message, settings :
        How the unlearned model was made (reported as given; ``seconds`` = unlearning wall time).
    forget_info : dict, optional
        Extra facts about the forget set for the report (``strategy``, ``description``).
    before : dict, optional
        The original model's test audit if already computed.
    reference_forget_accuracy : float, optional
        The retrain oracle's accuracy on the forget set (default reference: test accuracy).
    retrain_seconds : float, optional
        Time to retrain from scratch; adds the efficiency axis.
    store : RunStore or None
        Where to save the run (weights, audits, Grad-CAM strips); ``None`` saves nothing.
    config : dict, optional
        What the run store keeps as the run's configuration (default: scenario, method, intensity).

    Returns
    -------
    dict
        The unlearn JSON of DESIGN.md (``run_id, method, intensity, before, after, forget,
        privacy, radar, score, seconds, status``) plus ``message``, ``dataset``, ``model``,
        ``settings``, ``gradcam``, ``timings`` and ``environment``. ``run_id`` is ``None`` when
        not stored.
    """
    parts, artifacts = _assess(
        subject, unlearned=unlearned, forget_indices=forget_indices, retain_indices=retain_indices, before=before,
        seconds=seconds, reference_forget_accuracy=reference_forget_accuracy, retrain_seconds=retrain_seconds,
        device=device, seed=seed, mia_samples=mia_samples, gradcam_images=gradcam_images,
    )
    result = {
        "run_id": None,
        "method": method,
        "intensity": float(intensity),
        "before": parts["before"],
        "after": parts["after"],
        "forget": {
            "n": int(len(np.unique(np.asarray(forget_indices)))),
            "accuracy_before": parts["forget_accuracy"]["before"],
            "accuracy_after": parts["forget_accuracy"]["after"],
            "reference_accuracy": reference_forget_accuracy,
            **(forget_info or {}),
        },
        "privacy": parts["privacy"],
        "radar": parts["radar"],
        "score": parts["score"],
        "seconds": float(seconds),
        "status": status,
        "message": message,
        "dataset": parts["dataset"],
        "model": parts["model"],
        "settings": dict(settings or {}),
        "gradcam": parts["gradcam"],
        "timings": {"unlearning": float(seconds), **parts["timings"]},
        "environment": parts["environment"],
    }
    if store is not None:
        run_id = store.new_run_id()
        result["run_id"] = run_id
        store.save(
            kind="unlearn",
            run_id=run_id,
            result=result,
            artifacts=_run_artifacts(unlearned, parts, artifacts),
            config=config or {"scenario": subject.scenario.name, "method": method, "intensity": float(intensity), "seed": seed},
        )
    return result


# --------------------------------------------------------------------------------------------
# unlearning: choose a forget set, run a method, audit the model before and after
# --------------------------------------------------------------------------------------------

__all__ += ["unlearn", "UnlearnRun", "retrain_recipe", "scenario_hyperparameters"]


@dataclass(eq=False)
class UnlearnRun(Mapping):
    """What :func:`unlearn` returns: the unlearned model and its measurements.

    It reads like the unlearn JSON of DESIGN.md (``run["after"]``, ``run.get("status")``,
    ``dict(run)``; see :meth:`to_json`) and also carries the objects a caller needs to save or
    inspect the run: ``model`` (the unlearned nn.Module, on the CPU), ``result`` (the method's
    :class:`~bamu_core.unlearn.UnlearnResult`, e.g. ``result.extras["lora"]``) and ``forget_set``.
    """

    method: str
    intensity: float
    before: dict
    after: dict
    forget: dict
    seconds: float
    status: str
    message: str
    chosen_step: int
    steps: int
    hyperparameters: dict
    timings: dict
    model: nn.Module = field(repr=False)
    result: object = field(repr=False)
    forget_set: object = field(repr=False)
    run_id: str | None = None
    privacy: dict = field(default_factory=dict)
    radar: dict = field(default_factory=dict)
    score: float | None = None
    details: dict = field(default_factory=dict, repr=False)  # dataset, model, settings, gradcam, environment

    def to_json(self) -> dict:
        """``method, intensity, before, after, forget, seconds, status`` plus ``message``,
        ``chosen_step``, ``steps``, ``hyperparameters``, ``selection`` (validation metrics of the
        original and of the chosen checkpoint), ``history`` (progress events) and ``timings``;
        then ``run_id``, ``privacy``, ``radar``, ``score`` and the report's ``dataset``, ``model``,
        ``settings``, ``gradcam``, ``environment``."""
        return {
            "run_id": self.run_id,
            "method": self.method,
            "intensity": self.intensity,
            "before": self.before,
            "after": self.after,
            "forget": self.forget,
            "seconds": self.seconds,
            "status": self.status,
            "message": self.message,
            "chosen_step": self.chosen_step,
            "steps": self.steps,
            "hyperparameters": self.hyperparameters,
            "selection": self.result.extras.get("selection"),
            "history": [e.to_json() for e in self.result.history],
            "timings": self.timings,
            "privacy": self.privacy,
            "radar": self.radar,
            "score": self.score,
            **self.details,
        }

    def __getitem__(self, key):
        return self.to_json()[key]

    def __iter__(self):
        return iter(self.to_json())

    def __len__(self) -> int:
        return len(self.to_json())


def retrain_recipe(scenario: Scenario, arch: str | None = None) -> dict:
    """The scenario's baseline recipe (:func:`bamu_core.models.baseline_recipe`) for ``arch`` as
    ``retrain`` hyper-parameters: epochs, lr, batch size, optimizer, and the starting point
    (``init`` pretrained weights, ``reinit`` layers), which only the recipe's own architecture has."""
    recipe = baseline_recipe(scenario, {"arch": arch})
    reinit = recipe.get("reinit") or []
    return {"epochs": int(recipe["epochs"]), "lr": float(recipe["lr"]), "batch_size": int(recipe["batch_size"]),
            "optimizer": recipe["optimizer"], "init": recipe.get("init"),
            "reinit": [reinit] if isinstance(reinit, str) else list(reinit)}


def scenario_hyperparameters(scenario: Scenario, method: str, intensity: float, arch: str | None = None) -> dict:
    """The scenario's defaults for ``method`` at ``intensity``: for ``retrain`` its baseline recipe
    (:func:`retrain_recipe`); for the other methods its ``unlearning`` entries, which were set for
    the scenario's own model and so apply only when ``arch`` is None or that architecture.

    Precedence, lowest first: the intensity table (the method's row over ``COMMON``), the
    scenario's ``"all"`` entry, the scenario's entry for the method, the user's overrides (given
    to :func:`unlearn`). Names the method lacks are left out.
    """
    from .unlearn import at_intensity, resolve_hyperparameters

    if method == "retrain":
        return retrain_recipe(scenario, arch)
    if arch is not None and arch != baseline_recipe(scenario)["arch"]:
        return {}
    known = resolve_hyperparameters(method, float(intensity))
    row = {**scenario.unlearning.get("all", {}), **scenario.unlearning.get(method, {})}
    return {k: v for k, v in at_intensity(row, float(intensity)).items() if k in known}


def unlearn(
    subject: Subject,
    *,
    method: str,
    intensity: float,
    forget: str = "aligned",
    device: str | None = None,
    seed: int = 0,
    progress: Callable | None = None,
    should_stop: Callable[[], bool] | None = None,
    hyperparameters: dict | None = None,
    forget_options: dict | None = None,
    retain_max: int | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    saliency_per_group: int = 0,
    store=True,
    mia_samples: int = 2000,
    gradcam_images: int = 8,
    reference_forget_accuracy: float | None = None,
    retrain_seconds: float | None = None,
    original_audit: dict | None = None,
) -> UnlearnRun:
    """Choose a forget set, run an unlearning method, and audit the model before and after.

    Parameters
    ----------
    subject : Subject
        The model (never modified) and its scenario. Checkpoints are chosen on
        ``subject.scenario.val``; the audits are on ``test``, which chooses nothing.
    method : str
        A registered method (:func:`bamu_core.unlearn.list_methods`).
    intensity : float
        In [0, 1]; 0 returns the model unchanged (see :mod:`bamu_core.unlearn._intensity`).
    forget : str
        A forget strategy (:func:`bamu_core.forget.list_strategies`), e.g. ``"aligned"``,
        ``"counterfactual"``, ``"group:blue"``, ``"influence:100"``, ``"indices:1,2,3"``.
    device, seed :
        Where and how reproducibly to run.
    progress : callable, optional
        ``progress(event)`` with a :class:`~bamu_core.unlearn.ProgressEvent` after every step.
    should_stop : callable, optional
        Checked before every step and before the run is saved; once true, :class:`StopRequested`
        is raised and nothing of the run is kept but its ``cancelled`` row.
    hyperparameters : dict, optional
        Raw overrides of the intensity table and of the scenario's own defaults
        (:func:`scenario_hyperparameters`; for ``retrain`` the scenario's baseline recipe).
    forget_options : dict, optional
        Options of the forget strategy (e.g. ``{"attr": "colour"}``).
    retain_max : int, optional
        Subsample the retain set (the complement of the forget set) to this many images.
    n_boot, saliency_per_group :
        Passed to :func:`audit` (saliency is off by default: it needs gradients).
    store : RunStore, True or None
        Where the run is saved (weights, audits, Grad-CAM strips, the unlearn JSON): ``True`` (the
        default) the store under ``BAMU_HOME``, ``None`` or ``False`` nowhere. The run's row is
        written (``running``) before the method starts and completed at the end; an exception marks
        it ``failed``, a killed process leaves it to be marked ``failed`` by the next ``RunStore()``.
    mia_samples, gradcam_images, reference_forget_accuracy, retrain_seconds :
        See :func:`evaluate_unlearning`: membership inference, Grad-CAM strips, the retrain
        oracle's forget-set accuracy and retraining time (for the forgetting and efficiency axes).
    original_audit : dict, optional
        The original model's audit made with the same ``device``, ``n_boot``, ``seed`` and
        ``saliency_per_group`` (a sweep passes its first run's ``before``), so it is not measured again.

    Returns
    -------
    UnlearnRun
        Reads like the unlearn JSON of DESIGN.md (``run_id, method, intensity, before, after,
        forget, privacy, radar, score, seconds, status``, see :meth:`UnlearnRun.to_json`).

    Raises
    ------
    ValueError
        Unknown method or strategy, intensity outside [0, 1], bad hyper-parameters, or an empty
        forget or retain set.
    StopRequested
        ``should_stop()`` turned true: the run is stored as ``cancelled``, with no artifacts.
    """
    from .forget import select_forget
    from .unlearn import get_method, resolve_hyperparameters

    runner = get_method(method)
    if not isinstance(intensity, (int, float)) or not 0.0 <= float(intensity) <= 1.0:
        raise ValueError(f"intensity must be a number in [0, 1], got {intensity!r}")
    hp = {**scenario_hyperparameters(subject.scenario, method, float(intensity), subject.arch), **(hyperparameters or {})}
    resolve_hyperparameters(method, float(intensity), hp)  # unknown names fail before any work
    sc = subject.scenario
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    forget_set = select_forget(sc, forget, model=subject.model, device=device, **(forget_options or {}))
    forget_data, retain_data = forget_set.split(sc.train, retain_max=retain_max, seed=seed)
    timings["forget_selection"] = time.perf_counter() - t0

    if store is True:
        from .runs import RunStore

        store = RunStore()
    # The run is in the store from here on: a process killed midway leaves a "running" row that
    # the next RunStore() marks failed; a cancelled or failed run leaves its row and no artifacts.
    handle = None
    if store is not None and store is not False:  # (an empty RunStore is falsy: it has a length)
        config = {"scenario": sc.name, "method": method, "intensity": float(intensity), "forget": forget, "seed": seed}
        handle = store.start(kind="unlearn", config=config)
    with handle if handle is not None else contextlib.nullcontext():
        result = runner.run(
            subject.model,
            forget_data,
            retain_data,
            intensity=float(intensity),
            device=device,
            progress=progress,
            should_stop=should_stop,
            val=sc.val,
            hyperparameters=hp,
            seed=seed,
        )
        timings["unlearning"] = result.seconds
        if result.status == "cancelled":  # no evaluation of a run the user stopped
            raise StopRequested(f"unlearning was cancelled ({result.message.split(';')[0]}); nothing was saved")

        t0 = time.perf_counter()
        audit_options = {"device": device, "n_boot": n_boot, "seed": seed, "saliency_per_group": saliency_per_group}
        before = original_audit if original_audit is not None else audit(subject, **audit_options)
        after = audit(replace(subject, model=result.model), **audit_options)
        timings["evaluation"] = time.perf_counter() - t0

        parts, artifacts = _assess(
            subject, unlearned=result.model, forget_indices=forget_set.indices, retain_indices=forget_set.retain(),
            before=before, after=after, seconds=result.seconds, reference_forget_accuracy=reference_forget_accuracy,
            retrain_seconds=retrain_seconds, device=device, seed=seed, mia_samples=mia_samples, gradcam_images=gradcam_images,
        )
        timings.update(parts["timings"])
        settings = {"forget_strategy": forget, "forget_options": forget_options or {}, "seed": seed, "steps": result.steps,
                    "chosen_step": result.chosen_step, "hyperparameters": result.hyperparameters}
        run = UnlearnRun(
            method=method,
            intensity=float(intensity),
            before=before,
            after=after,
            forget={
                "n": len(forget_set),
                "accuracy_before": parts["forget_accuracy"]["before"],  # from the privacy pass's forget-set logits
                "accuracy_after": parts["forget_accuracy"]["after"],
                "strategy": forget_set.strategy,
                "description": forget_set.description,
                "retain_n": len(retain_data),
            },
            seconds=result.seconds,
            status=result.status,
            message=result.message,
            chosen_step=result.chosen_step,
            steps=result.steps,
            hyperparameters=result.hyperparameters,
            timings=timings,
            model=result.model,
            result=result,
            forget_set=forget_set,
            privacy=parts["privacy"],
            radar=parts["radar"],
            score=parts["score"],
            details={k: parts[k] for k in ("dataset", "model", "gradcam", "environment")} | {"settings": settings},
        )
        if should_stop is not None and should_stop():
            raise StopRequested("unlearning was cancelled while its result was being measured; nothing was saved")
        if handle is not None:
            run.run_id = handle.run_id
            for name, value in _run_artifacts(run.model, parts, artifacts).items():
                handle.add(name, value)
            handle.complete(run.to_json())
    return run


# --------------------------------------------------------------------------------------------
# sweep: methods x intensities, a table and the fairness-utility Pareto front
# --------------------------------------------------------------------------------------------

__all__ += ["sweep", "SweepResult", "sweep_row", "SWEEP_COLUMNS"]

SWEEP_COLUMNS = (
    "method", "intensity", "status", "run_id", "accuracy", "balanced_accuracy", "dp", "eo", "worst_group_accuracy",
    "fairness", "forget_accuracy", "mia_auc", "utility_axis", "fairness_axis", "forgetting_axis", "privacy_axis",
    "score", "seconds", "pareto", "message",
)


def sweep_row(result: dict) -> dict:
    """One sweep table row from an unlearn result: ``SWEEP_COLUMNS`` (``pareto`` filled by :func:`sweep`).

    ``accuracy`` is the test accuracy after unlearning; ``fairness`` = 1 - demographic parity
    difference after (the radar's fairness axis); ``dp``/``eo`` the DP and EO differences after.
    """
    after = result.get("after") or {}
    radar = (result.get("radar") or {}).get("after") or {}
    fair = after.get("fairness") or {}
    dp = fair.get("demographic_parity_difference")
    return {
        "method": result.get("method"),
        "intensity": result.get("intensity"),
        "status": result.get("status"),
        "run_id": result.get("run_id"),
        "accuracy": (after.get("utility") or {}).get("accuracy"),
        "balanced_accuracy": (after.get("utility") or {}).get("balanced_accuracy"),
        "dp": dp,
        "eo": fair.get("equalized_odds_difference"),
        "worst_group_accuracy": fair.get("worst_group_accuracy"),
        "fairness": None if dp is None else 1.0 - dp,
        "forget_accuracy": (result.get("forget") or {}).get("accuracy_after"),
        "mia_auc": ((result.get("privacy") or {}).get("mia_after") or {}).get("auc"),
        "utility_axis": radar.get("utility"),
        "fairness_axis": radar.get("fairness"),
        "forgetting_axis": radar.get("forgetting"),
        "privacy_axis": radar.get("privacy"),
        "score": result.get("score"),
        "seconds": result.get("seconds"),
        "pareto": False,
        "message": result.get("message", ""),
    }


@dataclass
class SweepResult:
    """A sweep's table (one row per method x intensity), its Pareto front and the original model.

    ``front`` holds the indices of the rows on the fairness-utility Pareto front (test accuracy
    and 1 - DP difference, both maximised), sorted by accuracy. ``before`` is the original
    model's point (``accuracy``, ``fairness``, ``dp``).
    """

    rows: list[dict]
    front: list[int]
    before: dict
    x: str = "accuracy"
    y: str = "fairness"
    title: str = "Fairness vs utility"

    def table(self):
        """The rows as a pandas DataFrame with :data:`SWEEP_COLUMNS`."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(SWEEP_COLUMNS))

    def to_dict(self) -> dict:
        return {"title": self.title, "rows": self.rows, "front": self.front, "before": self.before, "x": self.x, "y": self.y}

    def figure(self):
        """The Pareto plot (plotly): points per method with intensities, the front, the original."""
        from .report import pareto_figure

        return pareto_figure(
            self.rows, self.front, x=self.x, y=self.y, before=self.before, title=self.title,
            x_label="Test accuracy after unlearning", y_label="Fairness (1 - demographic parity difference)",
        )

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write ``sweep.csv``, ``sweep.json`` and ``pareto.html`` (self-contained) into ``folder``."""
        from .storage import atomic_write, atomic_write_json

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = {
            "csv": atomic_write(folder / "sweep.csv", lambda p: self.table().to_csv(p, index=False, float_format="%.6g")),
            "json": atomic_write_json(folder / "sweep.json", self.to_dict()),
        }
        try:
            import plotly.io as pio
        except ImportError:  # pragma: no cover - plotly is a UI dependency
            return out
        page = pio.to_html(self.figure(), include_plotlyjs=True, full_html=True, config={"displaylogo": False})
        out["html"] = atomic_write(folder / "pareto.html", lambda p: p.write_text(page, encoding="utf-8"))
        return out


def sweep(
    subject: Subject,
    *,
    methods: Sequence[str],
    intensities: Sequence[float],
    forget: str = "aligned",
    device: str | None = None,
    seed: int = 0,
    progress: Callable[[int, int, dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    **unlearn_options,
) -> SweepResult:
    """Run :func:`unlearn` for every method x intensity and find the fairness-utility Pareto front.

    Parameters
    ----------
    subject : Subject
        The original model and its data.
    methods : sequence of str
        Registered unlearning methods (see :func:`bamu_core.unlearn.list_methods`).
    intensities : sequence of float
        Intensities in [0, 1].
    forget : str
        The forget strategy every run uses (see :func:`bamu_core.forget.list_strategies`).
    progress : callable, optional
        ``progress(done, total, row)`` after each run.
    should_stop : callable, optional
        Checked before each run and passed on to it; once true the sweep ends with the rows so far.
    **unlearn_options
        Passed to every :func:`unlearn` call (e.g. ``store=None`` to keep the runs out of the run store).

    Returns
    -------
    SweepResult
        A run that raises is recorded as a row with status ``failed`` and the error as its message;
        bad arguments raise ``ValueError`` before anything runs.
    """
    from .scoring import pareto_front
    from .unlearn import get_method

    methods = [str(m).strip() for m in methods if str(m).strip()]
    if not methods:
        raise ValueError("methods is empty: give at least one unlearning method")
    for m in methods:
        get_method(m)  # unknown names raise ValueError listing the available ones
    try:
        levels = [float(x) for x in intensities]
    except (TypeError, ValueError):
        raise ValueError(f"intensities must be numbers in [0, 1], got {list(intensities)!r}") from None
    if not levels:
        raise ValueError("intensities is empty: give at least one intensity in [0, 1]")
    if "original_audit" in unlearn_options:
        raise ValueError("sweep() audits the original model itself; do not pass original_audit")
    bad = [x for x in levels if not 0.0 <= x <= 1.0]
    if bad:
        raise ValueError(f"intensities must lie in [0, 1], got {bad}")
    before = None
    rows: list[dict] = []
    total = len(methods) * len(levels)
    for m in methods:
        for x in levels:
            if should_stop is not None and should_stop():
                break
            try:
                result = unlearn(
                    subject, method=m, intensity=x, forget=forget, device=device, seed=seed, should_stop=should_stop,
                    original_audit=before, **unlearn_options,
                )
                row = sweep_row(result)
                before = before or result.get("before")
            except (KeyboardInterrupt, ValueError):
                raise
            except StopRequested:  # cancelled: the rows so far are the sweep
                break
            except Exception as exc:  # one failing configuration does not end the sweep
                row = {**{c: None for c in SWEEP_COLUMNS}, "method": m, "intensity": x, "status": "failed",
                       "pareto": False, "message": f"{type(exc).__name__}: {exc}"}
            rows.append(row)
            if progress is not None:
                progress(len(rows), total, row)
    front = pareto_front([r if r["status"] != "failed" else {} for r in rows], x="accuracy", y="fairness")
    for i in front:
        rows[i]["pareto"] = True
    if before is None:  # every run failed or was cancelled: measure the original directly
        before = audit(subject, device=device, saliency_per_group=0)
    dp0 = before["fairness"]["demographic_parity_difference"]
    before_point = {"accuracy": before["utility"]["accuracy"], "fairness": 1.0 - dp0, "dp": dp0}
    title = f"{subject.scenario.title}: fairness vs test accuracy, {len(methods)} method(s) x {len(levels)} intensities"
    return SweepResult(rows=rows, front=front, before=before_point, title=title)
