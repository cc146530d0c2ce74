"""Counterfactual pairs: does the prediction change when only the sensitive attribute changes?

Where the data can flip its attribute (:attr:`ImageData.has_counterfactual`: the colour swapped on
the coloured digits, the patch added or removed on patch-CIFAR-10), every test image and its
counterfactual form a pair that differs in the attribute alone. The *flip rate* is the share of
pairs whose predicted class differs: 0 for a model that ignores the attribute, 1 for one that
predicts from it alone. Its interval is the group-stratified percentile bootstrap of
:func:`bamu_core.metrics.bootstrap_confusion` (images resampled within each group of the original
image). A handful of example pairs are kept for the picture grid.

This is the view of a colour bias: Grad-CAM shows where a model looks, and a colour is everywhere.
"""

from __future__ import annotations

import io
import time

import numpy as np
import torch.nn as nn

from .._compat import on_device, pick_device
from ..data import ImageData
from ..errors import BamuInputError
from ..metrics import bootstrap_confusion, check_bootstrap
from ..results import CounterfactualPair, CounterfactualPairs, FlipRate, GroupFlipRate, Interval
from ..training import predict
from .relearning import sample_indices

__all__ = [
    "flip_attribute",
    "predictions_on_pairs",
    "flip_rate",
    "pick_examples",
    "counterfactual_pairs",
    "pairs_reading",
    "pairs_picture",
]

METHOD = "share of pairs whose predicted class changes; group-stratified percentile bootstrap"


def flip_attribute(scenario) -> tuple[str, bool]:
    """What a scenario's counterfactual images flip, and whether that sits in a region of the image:
    ``(scenario.bias_attr or the first flipped attribute, scenario.bias_region is not None)``."""
    data = scenario.test
    attr = scenario.bias_attr or next((f for f in data.flips if f != "alignment"), None) or "attribute"
    return str(attr), scenario.bias_region is not None


def predictions_on_pairs(model: nn.Module, data: ImageData, indices=None, *, device="cpu"):
    """``model``'s predicted class on ``data[indices]`` and on their counterfactuals (two int arrays)."""
    if not data.has_counterfactual:
        raise BamuInputError("this dataset has no counterfactual images")
    with on_device(model, device) as m:
        original, flipped = (
            predict(m, data, indices=indices, batch_size=256, device=device, counterfactual=cf).argmax(1).numpy()
            for cf in (False, True)
        )
    return original, flipped


def flip_rate(
    changed, groups=None, group_names=None, *, n_boot: int = 200, level: float = 0.95, seed: int = 0
) -> FlipRate:
    """The share of ``changed`` (one bool per pair), overall and per group, with bootstrap intervals.

    The pairs are resampled with replacement within each group (group sizes fixed,
    :func:`bamu_core.metrics.bootstrap_confusion` on a flipped / not flipped table per group);
    the interval is the ``level`` percentile interval, widened to hold the estimate. ``n_boot=0``
    gives no intervals.
    """
    check_bootstrap(n_boot, level)
    changed = np.asarray(changed, dtype=bool)
    n = len(changed)
    if n == 0:
        return FlipRate()
    groups = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    if groups.shape != changed.shape:
        raise BamuInputError(f"groups has {groups.shape[0]} entries for {n} pairs")
    present = np.unique(groups)
    names = list(group_names) if group_names is not None else [str(g) for g in range(int(present.max()) + 1)]
    sizes = np.array([(groups == g).sum() for g in present])
    flips = np.array([(changed & (groups == g)).sum() for g in present])
    rates = flips / sizes
    overall = float(flips.sum() / n)
    ci = [None] * (len(present) + 1)
    if n_boot:
        conf = np.zeros((len(present), 2, 2), dtype=np.int64)  # [group, flipped, flipped]: the diagonal only
        conf[:, 0, 0] = sizes - flips
        conf[:, 1, 1] = flips
        reps = bootstrap_confusion(conf, n_boot=n_boot, seed=seed)[:, :, 1, 1]  # (n_boot, groups) flip counts
        samples = np.column_stack([reps.sum(axis=1) / n, reps / sizes])
        estimates = np.r_[overall, rates]
        alpha = (1.0 - level) / 2.0
        lo, hi = np.quantile(samples, [alpha, 1.0 - alpha], axis=0)
        lo, hi = np.fmin(lo, estimates), np.fmax(hi, estimates)
        ci = [Interval(low=float(a), high=float(b)) for a, b in zip(lo, hi)]
    return FlipRate(
        n=n,
        flipped=int(flips.sum()),
        rate=overall,
        ci=ci[0],
        groups=[
            GroupFlipRate(group=names[g], n=int(s), flipped=int(f), rate=float(r), ci=c)
            for g, s, f, r, c in zip(present, sizes, flips, rates, ci[1:])
        ],
    )


def pick_examples(changed_before, changed_after=None, k: int = 8, *, seed: int = 0) -> np.ndarray:
    """Up to ``k`` positions (sorted): half (at most) among the pairs whose prediction flipped
    before, the rest among the others, preferring the ones unlearning changed (seeded)."""
    before = np.asarray(changed_before, dtype=bool)
    after = before if changed_after is None else np.asarray(changed_after, dtype=bool)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(before))
    flipped = order[before[order]][: k // 2]
    rest = order[~np.isin(order, flipped)]
    rest = rest[np.argsort(~(before[rest] != after[rest]), kind="stable")]  # changed by unlearning first
    return np.sort(np.r_[flipped, rest[: k - len(flipped)]]).astype(np.int64)


def _pct(rate: FlipRate | None) -> str:
    if rate is None or rate.rate is None:
        return "n/a"
    text = f"{100 * rate.rate:.0f} %"
    if rate.ci is not None and rate.ci.low is not None and rate.ci.high is not None:
        text += f" [{100 * rate.ci.low:.0f}, {100 * rate.ci.high:.0f}]"
    return text


def pairs_reading(pairs: CounterfactualPairs) -> str:
    """One sentence: the flip rate before (and after) unlearning, with its 95 % interval."""
    change = f"the {pairs.attr} is added or removed" if pairs.spatial else f"the {pairs.attr} changes"
    if pairs.after is None:
        return (
            f"{_pct(pairs.before)} of the predictions change when only {change} "
            f"(0 % would mean the model ignores the {pairs.attr})."
        )
    return (
        f"Before: {_pct(pairs.before)} of predictions change when only {change}; after: {_pct(pairs.after)} "
        f"(0 % would mean the model ignores the {pairs.attr})."
    )


def counterfactual_pairs(
    original: nn.Module,
    data: ImageData,
    *,
    unlearned: nn.Module | None = None,
    attr: str = "attribute",
    spatial: bool = False,
    class_names=None,
    examples: int = 8,
    max_images: int = 5000,
    n_boot: int = 200,
    level: float = 0.95,
    split: str = "test",
    seed: int = 0,
    device=None,
) -> CounterfactualPairs:
    """The flip rate of ``original`` (and ``unlearned``) on ``data``'s pairs, with a few examples.

    At most ``max_images`` images are used (a seeded sample); groups are those of ``data``'s active
    attribute, by the original image. Raises :class:`BamuInputError` when ``data`` has no
    counterfactual images.
    """
    if not data.has_counterfactual:
        raise BamuInputError("this dataset has no counterfactual images: the attribute cannot be flipped")
    t0 = time.perf_counter()
    dev = pick_device(device)
    idx = sample_indices(len(data), max_images, seed)
    groups = data.groups[idx]
    names = data.group_names[data.group_attr]
    preds = {"before": predictions_on_pairs(original, data, idx, device=dev)}
    if unlearned is not None:
        preds["after"] = predictions_on_pairs(unlearned, data, idx, device=dev)
    changed = {k: o != f for k, (o, f) in preds.items()}
    rates = {k: flip_rate(c, groups, names, n_boot=n_boot, level=level, seed=seed) for k, c in changed.items()}
    picks = pick_examples(changed["before"], changed.get("after"), examples, seed=seed)
    shown = []
    for p in picks:
        pair = CounterfactualPair(index=int(idx[p]), label=int(data.labels[idx[p]]), group=names[groups[p]])
        for k, (o, f) in preds.items():
            setattr(pair, f"{k}_original", int(o[p]))
            setattr(pair, f"{k}_flipped", int(f[p]))
        shown.append(pair)
    classes = list(class_names) if class_names is not None else [str(c) for c in range(int(data.labels.max()) + 1)]
    out = CounterfactualPairs(
        attr=attr,
        spatial=bool(spatial),
        split=split,
        group_attr=data.group_attr,
        n=len(idx),
        classes=classes,
        before=rates["before"],
        after=rates.get("after"),
        examples=shown,
        n_boot=int(n_boot),
        level=float(level),
        seed=int(seed),
        method=f"{METHOD} ({n_boot} resamples)" if n_boot else METHOD.split(";")[0],
    )
    out.reading = pairs_reading(out)
    out.seconds = time.perf_counter() - t0
    return out


def pairs_picture(data: ImageData, indices, *, per_row: int = 4, scale: int = 3) -> bytes:
    """PNG bytes of the pairs ``data[indices]`` (original | counterfactual), ``per_row`` pairs a row."""
    from PIL import Image

    idx = np.asarray(indices, dtype=np.int64)
    if not len(idx):
        raise BamuInputError("no pairs to draw")
    if not data.has_counterfactual:
        raise BamuInputError("this dataset has no counterfactual images")
    pics = [data.images_u8[idx].numpy(), data.counterfactual_u8[idx].numpy()]
    if pics[0].shape[1] == 1:
        pics = [np.repeat(p, 3, axis=1) for p in pics]
    orig, flip = (p.transpose(0, 2, 3, 1) for p in pics)
    n, h, w, _ = orig.shape
    inner, outer = 1, 6
    cols = min(per_row, n)
    rows = -(-n // cols)
    pair_w = 2 * w + inner
    grid = np.full((rows * h + (rows - 1) * outer, cols * pair_w + (cols - 1) * outer, 3), 255, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        top, left = r * (h + outer), c * (pair_w + outer)
        grid[top : top + h, left : left + w] = orig[i]
        grid[top : top + h, left + w + inner : left + pair_w] = flip[i]
    pic = Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST)
    buf = io.BytesIO()
    pic.save(buf, format="PNG")
    return buf.getvalue()
