"""Per-group confusion counts (the one table every metric is computed from) and intersectional groups."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import BamuInputError
from ._validation import check_inputs

__all__ = ["group_confusion", "intersect_groups"]


def confusion_from_ids(
    y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, num_groups: int, num_classes: int
) -> np.ndarray:
    """Counts ``C[g, t, p]`` of samples in group ``g`` with label ``t`` predicted ``p`` (validated ids)."""
    k = num_classes
    cell = (groups * k + y_true) * k + y_pred
    return np.bincount(cell, minlength=num_groups * k * k).reshape(num_groups, k, k)


def group_confusion(
    *, y_true, y_pred, groups, group_names: list[str] | None = None, num_classes: int | None = None
) -> np.ndarray:
    """Confusion matrix of every group.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
        True and predicted class ids.
    groups : array-like, shape (n,)
        Group ids (indexing ``group_names``) or, without ``group_names``, any group values.
    group_names : list of str, optional
        Names of the group ids.
    num_classes : int, optional
        Number of classes (default: inferred from the ids).

    Returns
    -------
    numpy.ndarray of int64, shape (n_groups, num_classes, num_classes)
        ``C[g, t, p]`` = number of samples of group ``g`` with label ``t`` predicted as ``p``.
    """
    chk = check_inputs(y_true=y_true, y_pred=y_pred, groups=groups, group_names=group_names, num_classes=num_classes)
    return confusion_from_ids(chk.y_true, chk.y_pred, chk.groups, chk.num_groups, chk.num_classes)


def intersect_groups(
    *, groups: Sequence, names: Sequence[Sequence[str]] | None = None, sep: str = " & "
) -> tuple[np.ndarray, list[str]]:
    """Intersectional groups from two or more group columns.

    Parameters
    ----------
    groups : sequence of array-like, each shape (n,)
        One group column per attribute (integer ids when ``names`` is given, else any values).
    names : sequence of list of str, optional
        Names of each column's ids. Without it, each column's values are named by ``str``.
    sep : str, default " & "
        Joins the per-attribute names (the data layer's ``ImageData.with_intersection`` uses the same).

    Returns
    -------
    ids : numpy.ndarray of int64, shape (n,)
        Intersectional group id of every sample; only combinations that occur get an id, ordered
        lexicographically by the per-column ids.
    group_names : list of str
        Name of every intersectional group, e.g. ``"blue & conflicting"``.

    Raises
    ------
    ValueError
        Fewer than two columns, columns of different lengths, or ``names`` not matching the columns.
    """
    cols = [np.asarray(c) for c in groups]
    if len(cols) < 2:
        raise BamuInputError(f"groups must hold at least two group columns to intersect, got {len(cols)}")
    lengths = {len(c) for c in cols}
    if len(lengths) != 1 or any(c.ndim != 1 for c in cols):
        raise BamuInputError(
            f"every group column must be one-dimensional with the same length, got lengths {[len(c) for c in cols]}"
        )
    if names is not None and len(names) != len(cols):
        raise BamuInputError(f"names must have one list per group column: {len(names)} lists for {len(cols)} columns")
    coded, labels = [], []
    for i, col in enumerate(cols):
        if names is None:
            uniq, ids = np.unique(col, return_inverse=True)
            coded.append(ids.reshape(-1).astype(np.int64))
            labels.append([str(u) for u in uniq])
        else:
            if len(col) and (not np.issubdtype(col.dtype, np.integer) or col.min() < 0 or col.max() >= len(names[i])):
                raise BamuInputError(f"group column {i} must hold integer ids in 0..{len(names[i]) - 1} (one per name)")
            coded.append(col.astype(np.int64))
            labels.append([str(n) for n in names[i]])
    stacked = np.stack(coded, axis=1)
    combos, ids = np.unique(stacked, axis=0, return_inverse=True)
    out_names = [sep.join(labels[j][int(v)] for j, v in enumerate(row)) for row in combos]
    return ids.reshape(-1).astype(np.int64), out_names
