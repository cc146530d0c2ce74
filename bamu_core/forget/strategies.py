"""The built-in forget strategies: a subgroup, the bias-aligned samples, the samples right only
through the bias (counterfactual identification), the most bias-influential samples, a list."""

from __future__ import annotations

import numpy as np
import torch

from .._compat import on_device, pick_device
from ..data import ImageData, Scenario
from ..errors import BamuInputError
from ..models.introspect import ArchLike, classifier_layer
from ..training import predict
from ._api import ForgetSet, register_strategy
from ._influence import (
    LastLayer,
    bias_gradient,
    counterfactual_bias,
    features,
    soft_parity_bias,
)

__all__ = ["ALIGNED_GROUP_NAMES", "aligned_mask"]

# Names of the bias-aligned group in a split's ``alignment`` attribute: the digit scenarios call
# it "aligned" (group id 0), patch-cifar10 "patched target" (group id 1).
ALIGNED_GROUP_NAMES = ("aligned", "patched target")


def _group_id(data: ImageData, attr: str, group) -> int:
    names = data.group_names[attr]
    if isinstance(group, str) and not group.isdigit():
        if group not in names:
            raise BamuInputError(f"group {group!r} is not a group of {attr!r}; choose one of {names}")
        return names.index(group)
    gid = int(group)
    if not 0 <= gid < len(names):
        raise BamuInputError(f"group id {gid} is out of range for {attr!r} (0..{len(names) - 1})")
    return gid


def _attr(data: ImageData, attr: str | None, fallback: str | None) -> str:
    attr = attr or fallback or data.group_attr
    if attr not in data.attrs:
        raise BamuInputError(f"unknown group attribute {attr!r}; choose one of {sorted(data.attrs)}")
    return attr


@register_strategy("group", summary="every training image of one subgroup")
def group(scenario: Scenario, *, group, attr: str | None = None, model=None, device=None) -> ForgetSet:
    """All training images whose attribute ``attr`` (default: the active group attribute) is ``group``.

    ``group`` is a group name (e.g. ``"blue"``) or id. Shorthand: ``"group:blue"``.
    """
    train = scenario.train
    attr = _attr(train, attr, None)
    gid = _group_id(train, attr, group)
    idx = np.flatnonzero(train.attrs[attr] == gid)
    name = train.group_names[attr][gid]
    return ForgetSet(
        idx,
        "group",
        f"{len(idx)} training images of group '{name}' ({attr})",
        len(train),
        details={"attr": attr, "group": name},
    )


group.main_option = "group"


def aligned_mask(data: ImageData, *, bias_attr: str | None = None, lift: float = 1.5) -> tuple[np.ndarray, str]:
    """Which items are bias-aligned, and the rule that decided.

    Rule 1: if the split has an ``alignment`` attribute, the aligned items are its group named
    ``"aligned"`` or ``"patched target"`` (:data:`ALIGNED_GROUP_NAMES`). Rule 2 otherwise: an item
    is aligned when its (bias group, class) pair is over-represented in this split,
    ``P(class | group) >= lift * P(class)``.
    """
    if "alignment" in data.attrs:
        names = data.group_names["alignment"]
        hits = [i for i, n in enumerate(names) if n in ALIGNED_GROUP_NAMES]
        if len(hits) != 1:
            raise BamuInputError(
                f"cannot tell which 'alignment' group is bias-aligned among {names}; use the 'group' strategy"
            )
        return data.attrs["alignment"] == hits[0], f"alignment = '{names[hits[0]]}'"
    attr = _attr(data, bias_attr, None)
    if lift <= 1:
        raise BamuInputError(f"lift must be > 1, got {lift}")
    table = data.counts(attr).astype(float)  # groups x classes
    p_class = table.sum(0) / max(table.sum(), 1)
    p_given = table / np.maximum(table.sum(1, keepdims=True), 1)
    over = p_given >= lift * p_class[None, :]
    mask = over[data.attrs[attr], data.labels]
    return mask, f"({attr}, class) pairs with P(class | {attr}) >= {lift:g} x P(class)"


@register_strategy("aligned", summary="the bias-aligned training images (bias attribute agrees with the shortcut)")
def aligned(scenario: Scenario, *, attr: str | None = None, lift: float = 1.5, model=None, device=None) -> ForgetSet:
    """The bias-aligned training images; see :func:`aligned_mask` for the rule."""
    train = scenario.train
    mask, rule = aligned_mask(train, bias_attr=attr or scenario.bias_attr, lift=lift)
    idx = np.flatnonzero(mask)
    return ForgetSet(
        idx, "aligned", f"{len(idx)} bias-aligned training images ({rule})", len(train), details={"rule": rule}
    )


@register_strategy(
    "counterfactual",
    summary="images the model gets right only through the bias (right as is, wrong with the bias flipped)",
    needs_model=True,
)
def counterfactual(scenario: Scenario, *, model, device=None, batch_size: int = 512) -> ForgetSet:
    """FMD's counterfactual identification: correct on the image, wrong on its counterfactual.

    Needs counterfactual images (``ImageData.images(idx, counterfactual=True)``): the same image
    with the bias attribute flipped (colour swapped, patch added or removed).
    """
    train = scenario.train
    if not train.has_counterfactual:
        raise BamuInputError(
            "the 'counterfactual' forget strategy needs counterfactual images, which this dataset lacks"
        )
    dev = pick_device(device)
    with on_device(model, dev) as model:  # a shared model is never moved
        pred = predict(model, train, device=dev, batch_size=batch_size).argmax(1).numpy()
        pred_cf = predict(model, train, device=dev, batch_size=batch_size, counterfactual=True).argmax(1).numpy()
    idx = np.flatnonzero((pred == train.labels) & (pred_cf != train.labels))
    return ForgetSet(
        idx,
        "counterfactual",
        f"{len(idx)} training images the model gets right only with their bias attribute (wrong once it is flipped)",
        len(train),
        details={
            "correct": int((pred == train.labels).sum()),
            "correct_counterfactual": int((pred_cf == train.labels).sum()),
        },
    )


@register_strategy(
    "influence",
    summary="the k training images whose removal most reduces the model's bias (last-layer influence)",
    needs_model=True,
)
def influence(
    scenario: Scenario,
    *,
    model,
    k: int | str = 100,
    damping: float = 0.01,
    device=None,
    batch_size: int = 512,
    arch: ArchLike = None,
) -> ForgetSet:
    """Top-``k`` training images by their estimated effect on the bias (FMD's influence ranking).

    The bias is measured on the validation split: the mean squared change of the softmax when the
    bias attribute is flipped if counterfactual images exist, else a smooth demographic-parity
    gap over the active groups. The effect of removing image ``i`` on the bias ``B`` is the
    influence ``-(1/n) grad B^T H^{-1} grad loss_i`` of the last layer; the ``k`` images whose
    removal lowers ``B`` most are chosen. ``arch`` names the model's architecture, which says
    where its classifier is (default: recognised from the model). Shorthand: ``"influence:100"``.
    """
    k = int(k)
    train, val = scenario.train, scenario.val
    if not 1 <= k < len(train):
        raise BamuInputError(f"k must be in 1..{len(train) - 1}, got {k}")
    dev = pick_device(device)
    with on_device(model, dev) as model:  # a shared model is never moved
        _, head = classifier_layer(model, arch)
        phi_train = features(model, train, device=dev, batch_size=batch_size, arch=arch)
        phi_val = features(model, val, device=dev, batch_size=batch_size, arch=arch)
        layer = LastLayer.from_linear(head, phi_train, damping=damping)
        if val.has_counterfactual:
            phi_cf = features(model, val, device=dev, batch_size=batch_size, counterfactual=True, arch=arch)
            measure, what = (lambda th: counterfactual_bias(layer, phi_val, phi_cf, th)), "counterfactual output change"
        else:
            measure, what = (lambda th: soft_parity_bias(layer, phi_val, val.groups, th)), "smooth parity gap"
    direction = layer.solve(bias_gradient(layer, measure))
    # change of B when item i is removed: +(1/n) grad_B^T H^-1 grad_loss_i; most negative first
    effect = layer.per_sample_dot(phi_train, train.labels, direction) / len(train)
    order = torch.argsort(effect).numpy()
    idx = order[:k]
    return ForgetSet(
        idx,
        "influence",
        f"the {k} training images whose removal most reduces the {what} on validation (last-layer influence)",
        len(train),
        details={"k": k, "measure": what, "effect": {int(i): float(effect[i]) for i in idx}},
    )


influence.main_option = "k"


@register_strategy("indices", summary="an explicit list of training indices")
def indices(scenario: Scenario, *, indices, model=None, device=None) -> ForgetSet:
    """Exactly the given training indices (a list, an array, or a comma-separated string).

    Shorthand: ``"indices:3,17,42"``.
    """
    if isinstance(indices, str):
        try:
            values = [int(v) for v in indices.replace(" ", "").split(",") if v]
        except ValueError:
            raise BamuInputError(f"indices must be comma-separated integers, got {indices!r}") from None
    else:
        values = [int(v) for v in np.asarray(indices).ravel()]
    n = len(scenario.train)
    bad = [v for v in values if not 0 <= v < n]
    if bad:
        raise BamuInputError(f"indices {bad[:3]} are outside the training split (0..{n - 1})")
    return ForgetSet(np.asarray(values, dtype=np.int64), "indices", f"{len(set(values))} listed training images", n)


indices.main_option = "indices"
