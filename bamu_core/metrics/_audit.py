"""The audit's metrics (the JSON layout of ``docs/results.md``) from one set of predictions."""

from __future__ import annotations

import numpy as np

from ._bootstrap import DEFAULT_N_BOOT, check_bootstrap, intervals_from_confusion
from ._fairness import FAIRNESS_KEYS, _num, _nums, checked_summary, rows_from_summary
from ._validation import check_inputs

__all__ = ["audit_metrics"]


def audit_metrics(
    *,
    y_true,
    y_pred,
    groups,
    group_names: list[str] | None = None,
    num_classes: int | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    level: float = 0.95,
    seed: int = 0,
    zero_division: float = 0.0,
) -> dict:
    """Utility, per-group rows, fairness gaps and their bootstrap intervals, in one pass.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
        True and predicted class ids in ``0..num_classes-1``; every class must occur in ``y_true``.
    groups : array-like, shape (n,)
        Group ids indexing ``group_names``, or any values when ``group_names`` is omitted
        (use :func:`intersect_groups` for intersectional groups).
    group_names : list of str, optional
        Names of the group ids; every group must have samples.
    num_classes : int, optional
        Number of classes (default: inferred). Two classes: binary with class 1 positive.
    n_boot : int, default 200
        Bootstrap resamples for the intervals; 0 disables them (empty ``*_ci`` entries).
    level : float, default 0.95
        Coverage of the intervals.
    seed : int, default 0
        Seed of the bootstrap.
    zero_division : float, default 0.0
        Value of a TPR/FPR with an empty denominator (Fairlearn's convention).

    Returns
    -------
    dict
        ``utility`` {accuracy, balanced_accuracy}; ``groups`` rows (see :func:`group_metrics`, plus
        ``accuracy_ci``, None without intervals);
        ``fairness`` {demographic_parity_difference, equalized_odds_difference,
        worst_group_accuracy, accuracy_gap, demographic_parity_ratio, equal_opportunity_difference};
        ``utility_ci`` and ``fairness_ci`` ({key: {"low", "high"}}); ``per_class_recall`` and
        ``per_class_dp`` (lists over classes) with ``per_class_recall_ci``/``per_class_dp_ci``;
        ``bootstrap`` (settings) and ``conventions`` (task, positive class, zero_division).
        Undefined values (NaN) are ``None``.

    Raises
    ------
    ValueError
        Length mismatch, empty input, ids out of range, a group without samples, a class
        without samples, a negative ``n_boot`` or ``level`` outside (0, 1).
    """
    check_bootstrap(n_boot, level)
    chk = check_inputs(
        y_true=y_true,
        y_pred=y_pred,
        groups=groups,
        group_names=group_names,
        num_classes=num_classes,
        require_all_classes=True,
    )
    conf, summary = checked_summary(chk, zero_division=zero_division)
    ci = intervals_from_confusion(conf, summary, n_boot=n_boot, level=level, seed=seed, zero_division=zero_division)
    binary = chk.num_classes == 2
    rows = rows_from_summary(summary, conf, chk.group_names)
    for row, acc_ci in zip(rows, ci["group_accuracy"] or [None] * len(rows)):
        row["accuracy_ci"] = acc_ci
    return {
        "utility": {"accuracy": _num(summary["accuracy"]), "balanced_accuracy": _num(summary["balanced_accuracy"])},
        "groups": rows,
        "fairness": {key: _num(summary[key]) for key in FAIRNESS_KEYS},
        "utility_ci": ci["utility"],
        "fairness_ci": ci["fairness"],
        "per_class_recall": _nums(summary["per_class_recall"]),
        "per_class_recall_ci": ci["per_class_recall"],
        "per_class_dp": _nums(summary["per_class_dp"]),
        "per_class_dp_ci": ci["per_class_dp"],
        "bootstrap": ci["bootstrap"],
        "conventions": {
            "task": "binary" if binary else "multiclass",
            "num_classes": chk.num_classes,
            "positive_class": 1 if binary else None,
            "zero_division": None if np.isnan(zero_division) else float(zero_division),
        },
    }
