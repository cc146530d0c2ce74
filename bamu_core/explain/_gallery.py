"""Per-group galleries of Grad-CAM overlays and the saliency summary of an audit."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from ..data import ImageData
from ..errors import BamuInputError
from ..storage import atomic_write_json
from ._gradcam import grad_cam
from ._overlay import colorize, overlay, to_rgb_uint8, write_png
from ._regions import (
    centre_of_mass,
    check_region,
    mask_share,
    mean_saliency,
    region_share,
)

__all__ = [
    "SELECTION_RULES",
    "select_examples",
    "GalleryGroup",
    "Gallery",
    "group_gallery",
    "save_gallery",
    "saliency_summary",
]

SELECTION_RULES = ("confident", "misclassified", "random")


def select_examples(
    *,
    groups,
    k: int,
    rule: str = "confident",
    y_true=None,
    y_pred=None,
    confidence=None,
    seed: int = 0,
    num_groups: int | None = None,
) -> list[np.ndarray]:
    """Up to ``k`` sample indices per group, chosen reproducibly.

    Parameters
    ----------
    groups : array-like of int, shape (n,)
        Group id of every sample.
    k : int
        Images per group (fewer when a group has fewer candidates).
    rule : {"confident", "misclassified", "random"}, default "confident"
        ``confident``: highest confidence in the predicted class first; ``misclassified``: the
        wrong predictions, most confident first; ``random``: a seeded random draw (the same
        ``seed`` and group always give the same images). Ties go to the lower index.
    y_true, y_pred : array-like of int, optional
        Needed by ``misclassified``.
    confidence : array-like of float, optional
        Probability of the predicted class; needed by ``confident`` and ``misclassified``.
    seed : int, default 0
        Seed of the ``random`` rule.
    num_groups : int, optional
        Number of groups (default: the largest id plus one).

    Returns
    -------
    list of numpy.ndarray
        One array of indices per group id.
    """
    if rule not in SELECTION_RULES:
        raise BamuInputError(f"rule must be one of {SELECTION_RULES}, got {rule!r}")
    if k < 1:
        raise BamuInputError(f"k must be >= 1, got {k}")
    g = np.asarray(groups, dtype=np.int64)
    n_groups = int(g.max()) + 1 if num_groups is None and len(g) else int(num_groups or 0)
    if rule in ("confident", "misclassified") and confidence is None:
        raise BamuInputError(f"rule {rule!r} needs confidence (the predicted class's probability)")
    if rule == "misclassified" and (y_true is None or y_pred is None):
        raise BamuInputError("rule 'misclassified' needs y_true and y_pred")
    conf = None if confidence is None else np.asarray(confidence, dtype=np.float64)
    chosen = []
    for gid in range(n_groups):
        members = np.flatnonzero(g == gid)
        if rule == "random":
            rng = np.random.default_rng([seed, gid])
            picked = np.sort(rng.permutation(members)[:k]) if len(members) else members
        else:
            if rule == "misclassified":
                members = members[np.asarray(y_true)[members] != np.asarray(y_pred)[members]]
            order = np.lexsort((members, -conf[members]))  # confidence descending, then index
            picked = members[order][:k]
        chosen.append(picked.astype(np.int64))
    return chosen


def _logits(model: nn.Module, data: ImageData, logits, batch_size: int) -> torch.Tensor:
    if logits is not None:
        out = torch.as_tensor(logits).float()
        if out.ndim != 2 or out.shape[0] != len(data):
            raise BamuInputError(f"logits must have shape (len(data), K) = ({len(data)}, K), got {tuple(out.shape)}")
        return out
    from ..training import predict
    from ._gradcam import _model_device

    return predict(model, data, batch_size=batch_size, device=_model_device(model))


def _targets_for(target, idx: np.ndarray, data: ImageData, preds: np.ndarray):
    if target == "pred":
        return preds[idx]
    if target == "label":
        return data.labels[idx]
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        return np.full(len(idx), int(target), dtype=np.int64)
    raise BamuInputError(f"target must be 'pred', 'label' or a class id, got {target!r}")


def _target_text(target) -> str:
    if target == "pred":
        return "predicted class"
    if target == "label":
        return "true class"
    return f"class {target}"


@dataclass
class GalleryGroup:
    """The gallery images of one group."""

    name: str
    indices: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    confidence: np.ndarray
    maps: torch.Tensor  # (k, H, W) in [0, 1]
    overlays: np.ndarray  # (k, H, W, 3) uint8
    images: np.ndarray  # (k, H, W, 3) uint8, without heat map
    mean_map: torch.Tensor  # (H, W): mean of the group's maps
    region_share: np.ndarray | None = None


@dataclass
class Gallery:
    """Grad-CAM overlays for ``k`` images of each group."""

    groups: list[GalleryGroup]
    layer: str
    rule: str
    target: str
    group_attr: str
    class_names: list[str] = field(default_factory=list)
    region: tuple[int, int, int, int] | None = None
    method: str = "gradcam"


def group_gallery(
    model: nn.Module,
    data: ImageData,
    *,
    k: int = 4,
    rule: str = "confident",
    seed: int = 0,
    logits=None,
    target: str | int = "pred",
    layer: str | nn.Module | None = None,
    region: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    alpha: float = 0.5,
    batch_size: int = 64,
    method: str = "auto",
) -> Gallery:
    """Grad-CAM overlays of ``k`` images per group, chosen by ``rule``.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (left unchanged; runs on its own device).
    data : ImageData
        The images; groups come from its active group attribute.
    k : int, default 4
        Images per group.
    rule : {"confident", "misclassified", "random"}, default "confident"
        How the images are chosen (see :func:`select_examples`).
    seed : int, default 0
        Seed of the ``random`` rule.
    logits : array-like, shape (len(data), K), optional
        The model's logits on ``data`` if already computed (saves one pass).
    target : "pred", "label" or int, default "pred"
        Class each map explains.
    layer : str or torch.nn.Module, optional
        Grad-CAM layer (default: the registered one, else the last Conv2d).
    region : (top, left, height, width), optional
        Box whose saliency share is reported per image (e.g. ``Scenario.bias_region``).
    class_names : sequence of str, optional
        For file names and captions.
    alpha : float, default 0.5
        Heat-map weight in the overlays.
    batch_size : int, default 64
        Images per Grad-CAM batch.
    method : {"auto", "gradcam", "hirescam"}, default "auto"
        Saliency method (see :func:`grad_cam`).

    Returns
    -------
    Gallery
    """
    out = _logits(model, data, logits, batch_size)
    probs = torch.softmax(out, dim=1)
    conf, preds = probs.max(dim=1)
    preds_np, conf_np = preds.numpy(), conf.numpy()
    names = data.group_names[data.group_attr]
    chosen = select_examples(
        groups=data.groups,
        k=k,
        rule=rule,
        y_true=data.labels,
        y_pred=preds_np,
        confidence=conf_np,
        seed=seed,
        num_groups=len(names),
    )
    flat = np.concatenate(chosen) if chosen else np.empty(0, dtype=np.int64)
    h, w = data.image_shape[1:]
    box = None if region is None else check_region(region, (h, w))
    targets = _targets_for(target, flat, data, preds_np)
    images = data.images(flat)
    sal = grad_cam(model, images, targets=targets, layer=layer, batch_size=batch_size, method=method)
    rgb = to_rgb_uint8(images, mean=data.mean.flatten().tolist(), std=data.std.flatten().tolist())
    over = overlay(rgb, sal.maps.numpy(), alpha=alpha)
    groups, start = [], 0
    for gid, idx in enumerate(chosen):
        sl = slice(start, start + len(idx))
        start += len(idx)
        maps = sal.maps[sl]
        groups.append(
            GalleryGroup(
                name=names[gid],
                indices=idx,
                labels=data.labels[idx],
                predictions=preds_np[idx],
                confidence=conf_np[idx],
                maps=maps,
                overlays=over[sl],
                images=rgb[sl],
                mean_map=maps.mean(dim=0) if len(idx) else torch.zeros(h, w),
                region_share=None if box is None else region_share(maps, box),
            )
        )
    return Gallery(
        groups=groups,
        layer=sal.layer,
        rule=rule,
        target=_target_text(target),
        group_attr=data.group_attr,
        class_names=list(class_names or []),
        region=box,
        method=sal.method,
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "group"


def save_gallery(gallery: Gallery, directory: str | Path, *, scale: int = 4) -> list[Path]:
    """Write the overlays, each group's mean map and an ``index.json`` into ``directory``.

    Files: ``<group>_<rank>.png`` (overlay), ``<group>_mean.png`` (the group's mean map in jet
    colours) and ``index.json`` describing every file. Every file is written atomically.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from ..storage import check_output_folder

    # no link, file or device is written through, nothing lands in the run store or a cache;
    # each file is then written atomically and only over a regular file (atomic_write)
    folder = check_output_folder(directory, mkdir=True, flag="gallery folder")
    written, entries = [], []

    def cls(c: int) -> str:
        return gallery.class_names[c] if c < len(gallery.class_names) else str(c)

    for group in gallery.groups:
        slug = _slug(group.name)
        for rank, i in enumerate(group.indices):
            path = write_png(folder / f"{slug}_{rank:02d}.png", group.overlays[rank], scale=scale)
            written.append(path)
            entry = {
                "file": path.name,
                "group": group.name,
                "index": int(i),
                "label": cls(int(group.labels[rank])),
                "prediction": cls(int(group.predictions[rank])),
                "confidence": float(group.confidence[rank]),
            }
            if group.region_share is not None:
                share = float(group.region_share[rank])
                entry["region_share"] = None if np.isnan(share) else share
            entries.append(entry)
        if len(group.indices):
            heat = group.mean_map / max(float(group.mean_map.max()), 1e-12)
            written.append(write_png(folder / f"{slug}_mean.png", colorize(heat.numpy()), scale=scale))
    index = {
        "layer": gallery.layer,
        "method": gallery.method,
        "rule": gallery.rule,
        "target": gallery.target,
        "group_attr": gallery.group_attr,
        "region": None if gallery.region is None else list(gallery.region),
        "images": entries,
    }
    written.append(atomic_write_json(folder / "index.json", index))
    return written


def _nanmean(values: np.ndarray) -> float | None:
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if len(v) else None


def saliency_summary(
    model: nn.Module,
    data: ImageData,
    *,
    per_group: int = 16,
    seed: int = 0,
    logits=None,
    region: Sequence[int] | None = None,
    target: str | int = "pred",
    layer: str | nn.Module | None = None,
    batch_size: int = 64,
    dark_background: float = 0.2,
    method: str = "auto",
) -> dict:
    """Where the model looks, per group: the audit's ``saliency`` block.

    Saliency maps (:func:`grad_cam` with ``method``, for ``target``, by default the predicted
    class) of up to ``per_group`` randomly chosen images of every group (seeded), summarised per
    group as:

    - ``region_share``: mean share of saliency mass inside ``region`` (the bias patch or a user
      box), beside ``region_area``, the share a uniform map would give;
    - ``foreground_share``: for images on a black background (at least ``dark_background`` of all
      pixels black, as in the digit scenarios), the mean share of saliency on the drawn pixels
      (brightest channel at least a quarter of full scale: the strokes), beside
      ``foreground_area``, the strokes' share of the image (what a uniform map would give);
    - ``centre_of_mass``: (row, column) of the group-averaged map as fractions of the image size;
    - ``empty_maps``: images whose map is all zero (no positive evidence at that layer).

    Returns
    -------
    dict
        ``{"method", "layer", "layer_shape", "target", "selection", "images", "region", "region_area",
        "foreground": bool, "groups": [...], "seconds"}``; JSON-ready.
    """
    if per_group < 1:
        raise BamuInputError(f"per_group must be >= 1, got {per_group}")
    start_time = time.perf_counter()
    h, w = data.image_shape[1:]
    box = None if region is None else check_region(region, (h, w))
    # predictions only when the caller has the logits already; otherwise grad_cam finds them per batch
    preds = None if logits is None else _logits(model, data, logits, batch_size).argmax(dim=1).numpy()
    names = data.group_names[data.group_attr]
    chosen = select_examples(groups=data.groups, k=per_group, rule="random", seed=seed, num_groups=len(names))
    flat = np.concatenate(chosen)
    ids = np.concatenate([np.full(len(c), g, dtype=np.int64) for g, c in enumerate(chosen)])
    targets = None if target == "pred" and preds is None else _targets_for(target, flat, data, preds)
    sal = grad_cam(model, data.images(flat), targets=targets, layer=layer, batch_size=batch_size, method=method)
    means = mean_saliency(sal.maps, ids, num_groups=len(names))
    raw = data.images_u8.index_select(0, torch.as_tensor(flat))
    ink = raw.amax(dim=1) >= 64  # (N, H, W): strokes, at least a quarter of full scale in some channel
    foreground = bool((raw.amax(dim=1) <= 5).float().mean() >= dark_background)
    shares = None if box is None else region_share(sal.maps, box)
    fg_shares = mask_share(sal.maps, ink) if foreground else None
    rows = []
    for g, name in enumerate(names):
        m = ids == g
        row: dict = {
            "group": name,
            "images": int(m.sum()),
            "empty_maps": int((sal.maps[torch.as_tensor(m)].flatten(1).amax(1) == 0).sum()),
        }
        if shares is not None:
            row["region_share"] = _nanmean(shares[m])
        if fg_shares is not None:
            row["foreground_share"] = _nanmean(fg_shares[m])
            row["foreground_area"] = float(ink[torch.as_tensor(m)].float().mean()) if m.any() else None
        com = centre_of_mass(means[g]) if m.any() else None
        row["centre_of_mass"] = None if com is None else [round(com[0], 4), round(com[1], 4)]
        rows.append(row)
    return {
        "method": sal.method,
        "layer": sal.layer,
        "layer_shape": list(sal.layer_shape),
        "target": _target_text(target),
        "selection": f"up to {per_group} random images per group (seed {seed})",
        "images": int(len(flat)),
        "region": None if box is None else list(box),
        "region_area": None if box is None else box[2] * box[3] / (h * w),
        "region_share": None if shares is None else _nanmean(shares),
        "foreground": foreground,
        "groups": rows,
        "seconds": time.perf_counter() - start_time,
    }
