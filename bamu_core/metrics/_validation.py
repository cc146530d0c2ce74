"""Input checks shared by every metric: early ``ValueError``s that name the bad argument."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BamuInputError

__all__ = ["CheckedInputs", "check_inputs"]


@dataclass(frozen=True)
class CheckedInputs:
    """Validated metric inputs: int64 arrays, group ids in ``0..len(group_names)-1``."""

    y_true: np.ndarray
    y_pred: np.ndarray
    groups: np.ndarray
    group_names: list[str]
    num_classes: int

    @property
    def num_groups(self) -> int:
        return len(self.group_names)


def _class_ids(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise BamuInputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.number):
        raise BamuInputError(f"{name} must hold integer class ids, got dtype {arr.dtype}")
    out = arr.astype(np.int64)
    if len(arr) and np.issubdtype(arr.dtype, np.floating) and not np.array_equal(out, arr):
        raise BamuInputError(f"{name} must hold integer class ids; pass predictions (argmax), not scores")
    return out


def check_inputs(
    *,
    y_true,
    y_pred,
    groups,
    group_names: list[str] | None = None,
    num_classes: int | None = None,
    require_all_classes: bool = False,
) -> CheckedInputs:
    """Validate and normalise ``y_true``, ``y_pred`` and ``groups``.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
        True and predicted class ids in ``0..num_classes-1``.
    groups : array-like, shape (n,)
        Group of every sample. With ``group_names``: integer ids indexing ``group_names``.
        Without: any values; the groups are the sorted unique values, named by ``str``.
    group_names : list of str, optional
        Name of every group id. Every group must have at least one sample.
    num_classes : int, optional
        Number of classes (default: the largest id in ``y_true``/``y_pred`` plus one, at least 2).
    require_all_classes : bool, default False
        Raise if a class in ``0..num_classes-1`` has no sample in ``y_true`` (per-class recall and
        balanced accuracy are undefined then).

    Raises
    ------
    ValueError
        On a length mismatch, empty input, an id out of range, a group without samples or
        (with ``require_all_classes``) a class without samples.
    """
    yt = _class_ids(y_true, "y_true")
    yp = _class_ids(y_pred, "y_pred")
    g_raw = np.asarray(groups)
    if g_raw.ndim != 1:
        raise BamuInputError(
            f"groups must be one-dimensional, got shape {g_raw.shape}; combine several group columns with "
            "intersect_groups()"
        )
    if not (len(yt) == len(yp) == len(g_raw)):
        raise BamuInputError(
            f"y_true, y_pred and groups must have the same length, got {len(yt)}, {len(yp)} and {len(g_raw)}"
        )
    if len(yt) == 0:
        raise BamuInputError("y_true is empty: metrics need at least one sample")
    if num_classes is None:
        num_classes = max(int(yt.max()), int(yp.max()), 1) + 1
    if num_classes < 2:
        raise BamuInputError(f"num_classes must be at least 2, got {num_classes}")
    for name, arr in (("y_true", yt), ("y_pred", yp)):
        if arr.min() < 0 or arr.max() >= num_classes:
            raise BamuInputError(f"{name} has class ids outside 0..{num_classes - 1} (num_classes={num_classes})")
    if require_all_classes:
        present = np.bincount(yt, minlength=num_classes)
        missing = np.flatnonzero(present == 0)
        if len(missing):
            raise BamuInputError(
                f"class {int(missing[0])} has no samples in y_true ({len(missing)} of {num_classes} classes absent); "
                "per-class recall and balanced accuracy need every class: evaluate on a split that holds all classes "
                "or pass the right num_classes"
            )
    if group_names is None:
        uniques, ids = np.unique(g_raw, return_inverse=True)
        names = [str(u) for u in uniques]
        ids = ids.astype(np.int64).reshape(-1)
    else:
        names = [str(n) for n in group_names]
        if not names:
            raise BamuInputError("group_names is empty")
        ids = _class_ids(g_raw, "groups")
        if ids.min() < 0 or ids.max() >= len(names):
            raise BamuInputError(f"groups has ids outside 0..{len(names) - 1} (one per entry of group_names)")
        counts = np.bincount(ids, minlength=len(names))
        empty = np.flatnonzero(counts == 0)
        if len(empty):
            raise BamuInputError(
                f"group {names[int(empty[0])]!r} has no samples; drop it from group_names or audit data that contains "
                "it"
            )
    return CheckedInputs(y_true=yt, y_pred=yp, groups=ids, group_names=names, num_classes=int(num_classes))
