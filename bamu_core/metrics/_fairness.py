"""Group fairness and utility metrics from per-group confusion counts (binary and multiclass).

Every metric is a function of the per-group confusion tensor ``C[..., g, t, p]``; the same
vectorised code computes the point estimates (no leading axis) and all bootstrap replicates
(a leading resample axis) at once.

Conventions: binary metrics follow Fairlearn with class 1 as the positive class
(difference = max minus min over groups, ratio = min over max, equalized odds = the larger of
the TPR and FPR differences, a rate whose denominator is empty counts as ``zero_division``,
0 by default, as Fairlearn/scikit-learn do). Multiclass metrics take the worst class: demographic
parity = the largest over classes of the max-min difference of the rate at which each group is
predicted that class; equalized odds and equal opportunity the same over one-vs-rest TPR/FPR;
the DP ratio the smallest per-class min/max ratio. With two classes the multiclass definitions
of DP and EO give the binary values.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import BamuInputError
from ._groups import confusion_from_ids
from ._validation import CheckedInputs, check_inputs

__all__ = [
    "FAIRNESS_KEYS",
    "UTILITY_KEYS",
    "confusion_summary",
    "summary_from_counts",
    "group_metrics",
    "balanced_accuracy",
    "per_class_recall",
    "worst_group_accuracy",
    "accuracy_gap",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "per_class_demographic_parity",
    "equalized_odds_difference",
    "equal_opportunity_difference",
]

UTILITY_KEYS = ("accuracy", "balanced_accuracy")
FAIRNESS_KEYS = (
    "demographic_parity_difference",
    "equalized_odds_difference",
    "worst_group_accuracy",
    "accuracy_gap",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
)


def _quiet(fn, *args, **kwargs):
    """Run a nan-aware NumPy reduction without the all-NaN-slice / 0-division warnings."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


def _divide(num: np.ndarray, den: np.ndarray, fill: float) -> np.ndarray:
    out = _quiet(np.divide, num, den)
    return np.where(den > 0, out, fill)


def confusion_summary(confusion, *, zero_division: float = 0.0) -> dict[str, np.ndarray]:
    """All metrics from per-group confusion counts, vectorised over leading axes.

    Parameters
    ----------
    confusion : array-like, shape (..., n_groups, K, K)
        ``C[..., g, t, p]`` = count of group ``g`` samples with label ``t`` predicted ``p``;
        leading axes (e.g. bootstrap resamples) are carried through. Every group must be non-empty.
    zero_division : float, default 0.0
        Value of a TPR/FPR whose denominator is empty (a group without positives or negatives
        of a class). ``numpy.nan`` leaves such groups out of the TPR/FPR gaps instead.

    Returns
    -------
    dict of numpy.ndarray
        ``accuracy``, ``balanced_accuracy``, ``per_class_recall`` (..., K), ``group_n``,
        ``group_accuracy`` (..., G), ``selection_rate``, ``tpr``, ``fpr`` (..., G, K; one-vs-rest,
        with ``zero_division`` filled in), ``tpr_defined``/``fpr_defined`` (the same with NaN where
        undefined), ``per_class_dp`` and ``per_class_dp_ratio`` (..., K), and the scalars of
        :data:`FAIRNESS_KEYS`.
    """
    c = np.asarray(confusion, dtype=np.float64)
    if c.ndim < 3 or c.shape[-1] != c.shape[-2] or c.shape[-1] < 2:
        raise BamuInputError(f"confusion must have shape (..., n_groups, K, K) with K >= 2, got {c.shape}")
    return summary_from_counts(
        np.diagonal(c, axis1=-2, axis2=-1), c.sum(axis=-1), c.sum(axis=-2), zero_division=zero_division
    )


def summary_from_counts(tp, true_counts, pred_counts, *, zero_division: float = 0.0) -> dict[str, np.ndarray]:
    """:func:`confusion_summary` from the confusion's margins, each shaped (..., n_groups, K).

    ``tp[g, c]`` = correct predictions of class ``c`` in group ``g``, ``true_counts[g, c]`` =
    samples of class ``c``, ``pred_counts[g, c]`` = samples predicted ``c``. Every metric needs
    only these, so resamples never have to materialise K x K matrices.
    """
    tp = np.asarray(tp, dtype=np.float64)
    true_c = np.asarray(true_counts, dtype=np.float64)
    pred_c = np.asarray(pred_counts, dtype=np.float64)
    k = tp.shape[-1]
    n_g = true_c.sum(axis=-1)
    if np.any(n_g == 0):
        raise BamuInputError("confusion has a group with no samples")
    neg_c = n_g[..., None] - true_c
    tpr_def = _divide(tp, true_c, np.nan)
    fpr_def = _divide(pred_c - tp, neg_c, np.nan)
    tpr = np.where(true_c > 0, tpr_def, zero_division)
    fpr = np.where(neg_c > 0, fpr_def, zero_division)
    sel = pred_c / n_g[..., None]
    group_acc = tp.sum(axis=-1) / n_g

    total_tp = tp.sum(axis=-2)  # (..., K)
    recall = _divide(total_tp, true_c.sum(axis=-2), np.nan)

    sel_max, sel_min = sel.max(axis=-2), sel.min(axis=-2)
    per_class_dp = sel_max - sel_min
    per_class_ratio = _divide(sel_min, sel_max, np.nan)
    tpr_gap = _quiet(np.nanmax, tpr, axis=-2) - _quiet(np.nanmin, tpr, axis=-2)
    fpr_gap = _quiet(np.nanmax, fpr, axis=-2) - _quiet(np.nanmin, fpr, axis=-2)
    cls = [1] if k == 2 else slice(None)  # binary: the positive class only (Fairlearn)
    return {
        "accuracy": total_tp.sum(axis=-1) / n_g.sum(axis=-1),
        "balanced_accuracy": _quiet(np.nanmean, recall, axis=-1),
        "per_class_recall": recall,
        "group_n": n_g,
        "group_accuracy": group_acc,
        "selection_rate": sel,
        "tpr": tpr,
        "fpr": fpr,
        "tpr_defined": tpr_def,
        "fpr_defined": fpr_def,
        "per_class_dp": per_class_dp,
        "per_class_dp_ratio": per_class_ratio,
        "demographic_parity_difference": _quiet(np.nanmax, per_class_dp[..., cls], axis=-1),
        "demographic_parity_ratio": _quiet(np.nanmin, per_class_ratio[..., cls], axis=-1),
        "equalized_odds_difference": _quiet(np.nanmax, np.fmax(tpr_gap, fpr_gap)[..., cls], axis=-1),
        "equal_opportunity_difference": _quiet(np.nanmax, tpr_gap[..., cls], axis=-1),
        "worst_group_accuracy": group_acc.min(axis=-1),
        "accuracy_gap": group_acc.max(axis=-1) - group_acc.min(axis=-1),
    }


def checked_summary(chk: CheckedInputs, *, zero_division: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Confusion counts and their summary for validated inputs."""
    conf = confusion_from_ids(chk.y_true, chk.y_pred, chk.groups, chk.num_groups, chk.num_classes)
    return conf, confusion_summary(conf, zero_division=zero_division)


def _summary(y_true, y_pred, groups, num_classes, zero_division, *, require_all_classes=False) -> dict[str, np.ndarray]:
    chk = check_inputs(
        y_true=y_true, y_pred=y_pred, groups=groups, num_classes=num_classes, require_all_classes=require_all_classes
    )
    return checked_summary(chk, zero_division=zero_division)[1]


_PARAMS = """
    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
        True and predicted class ids in ``0..num_classes-1``.
    groups : array-like, shape (n,)
        Group of every sample (any values; see :func:`intersect_groups` for several attributes).
    num_classes : int, optional
        Number of classes (default: the largest id plus one). Two classes: binary, class 1 positive.

    Raises
    ------
    ValueError
        Length mismatch, empty input or class ids out of range.
"""


def _documented(fn):
    fn.__doc__ = (fn.__doc__ or "").rstrip() + "\n" + _PARAMS
    return fn


@_documented
def balanced_accuracy(*, y_true, y_pred, groups=None, num_classes: int | None = None) -> float:
    """Mean over classes of the per-class recall (every class must occur in ``y_true``)."""
    groups = np.zeros(len(np.asarray(y_true)), dtype=np.int64) if groups is None else groups
    return float(_summary(y_true, y_pred, groups, num_classes, 0.0, require_all_classes=True)["balanced_accuracy"])


@_documented
def per_class_recall(*, y_true, y_pred, groups=None, num_classes: int | None = None) -> list[float]:
    """Recall (accuracy on the samples of that class) of every class; every class must occur."""
    groups = np.zeros(len(np.asarray(y_true)), dtype=np.int64) if groups is None else groups
    return _summary(y_true, y_pred, groups, num_classes, 0.0, require_all_classes=True)["per_class_recall"].tolist()


@_documented
def worst_group_accuracy(*, y_true, y_pred, groups, num_classes: int | None = None) -> float:
    """The lowest accuracy of any group."""
    return float(_summary(y_true, y_pred, groups, num_classes, 0.0)["worst_group_accuracy"])


@_documented
def accuracy_gap(*, y_true, y_pred, groups, num_classes: int | None = None) -> float:
    """Best minus worst group accuracy."""
    return float(_summary(y_true, y_pred, groups, num_classes, 0.0)["accuracy_gap"])


@_documented
def demographic_parity_difference(*, y_true, y_pred, groups, num_classes: int | None = None) -> float:
    """Max minus min over groups of the selection rate (binary: P(pred = 1); multiclass: worst class)."""
    return float(_summary(y_true, y_pred, groups, num_classes, 0.0)["demographic_parity_difference"])


@_documented
def demographic_parity_ratio(*, y_true, y_pred, groups, num_classes: int | None = None) -> float:
    """Min over max of the groups' selection rates (binary); multiclass: the smallest per-class ratio.

    NaN when no group is ever predicted the (positive) class, as in Fairlearn.
    """
    return float(_summary(y_true, y_pred, groups, num_classes, 0.0)["demographic_parity_ratio"])


@_documented
def per_class_demographic_parity(*, y_true, y_pred, groups, num_classes: int | None = None) -> list[float]:
    """For every class: max minus min over groups of the rate of being predicted that class."""
    return _summary(y_true, y_pred, groups, num_classes, 0.0)["per_class_dp"].tolist()


@_documented
def equalized_odds_difference(
    *, y_true, y_pred, groups, num_classes: int | None = None, zero_division: float = 0.0
) -> float:
    """The larger of the TPR and FPR differences between groups (multiclass: worst one-vs-rest class).

    ``zero_division`` (default 0.0, Fairlearn's convention) is the rate of a group without positives
    (TPR) or negatives (FPR); ``numpy.nan`` leaves such groups out of that difference.
    """
    return float(_summary(y_true, y_pred, groups, num_classes, zero_division)["equalized_odds_difference"])


@_documented
def equal_opportunity_difference(
    *, y_true, y_pred, groups, num_classes: int | None = None, zero_division: float = 0.0
) -> float:
    """Max minus min over groups of the TPR (multiclass: worst class's recall difference).

    ``zero_division`` (default 0.0, Fairlearn's convention) is the TPR of a group without positives;
    ``numpy.nan`` leaves such groups out.
    """
    return float(_summary(y_true, y_pred, groups, num_classes, zero_division)["equal_opportunity_difference"])


def _num(x) -> float | None:
    """A JSON-safe float: NaN becomes None."""
    x = float(x)
    return None if np.isnan(x) else x


def _nums(xs) -> list[float | None]:
    return [_num(x) for x in np.asarray(xs).ravel()]


def rows_from_summary(summary: dict[str, np.ndarray], confusion: np.ndarray, group_names: list[str]) -> list[dict]:
    """The audit JSON's per-group rows from a point-estimate summary."""
    k = confusion.shape[-1]
    rows = []
    for g, name in enumerate(group_names):
        sel, tpr, fpr = summary["selection_rate"][g], summary["tpr"][g], summary["fpr"][g]
        row: dict = {"group": name, "n": int(summary["group_n"][g]), "accuracy": _num(summary["group_accuracy"][g])}
        if k == 2:
            row.update(selection_rate=_num(sel[1]), tpr=_num(tpr[1]), fpr=_num(fpr[1]))
        else:
            row.update(
                selection_rate=_nums(sel),
                tpr=_num(_quiet(np.nanmean, summary["tpr_defined"][g])),
                fpr=_num(_quiet(np.nanmean, summary["fpr_defined"][g])),
            )
        row.update(
            selection_rate_per_class=_nums(sel),
            tpr_per_class=_nums(tpr),
            fpr_per_class=_nums(fpr),
            confusion=confusion[g].astype(int).tolist(),
        )
        rows.append(row)
    return rows


def group_metrics(
    *,
    y_true,
    y_pred,
    groups,
    group_names: list[str] | None = None,
    num_classes: int | None = None,
    zero_division: float = 0.0,
) -> list[dict]:
    """One row per group: ``group, n, accuracy, selection_rate, tpr, fpr`` and per-class details.

    Binary (two classes): ``selection_rate`` = P(pred = 1), ``tpr``/``fpr`` for class 1, as in
    Fairlearn. Multiclass: ``selection_rate`` is the list of per-class rates of being predicted
    each class; ``tpr`` the mean recall over the classes present in the group (the group's balanced
    accuracy) and ``fpr`` the mean one-vs-rest false-positive rate over the classes with negatives.
    Every row also has ``selection_rate_per_class``, ``tpr_per_class``, ``fpr_per_class`` (one-vs-rest,
    ``zero_division`` filled in) and ``confusion`` (K x K counts, rows = true class).

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
        True and predicted class ids.
    groups : array-like, shape (n,)
        Group ids indexing ``group_names``, or any values when ``group_names`` is omitted.
    group_names : list of str, optional
        Names of the group ids; every group must have samples.
    num_classes : int, optional
        Number of classes (default: inferred).
    zero_division : float, default 0.0
        Value of a rate with an empty denominator.

    Returns
    -------
    list of dict
        Undefined values (NaN) are ``None``.

    Raises
    ------
    ValueError
        Length mismatch, empty input, ids out of range, or a group without samples.
    """
    chk = check_inputs(y_true=y_true, y_pred=y_pred, groups=groups, group_names=group_names, num_classes=num_classes)
    conf, summary = checked_summary(chk, zero_division=zero_division)
    return rows_from_summary(summary, conf, chk.group_names)
