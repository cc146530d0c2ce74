"""Group fairness metrics from predictions, labels and group ids (binary and multiclass)."""
from __future__ import annotations

import numpy as np

__all__ = ["group_metrics", "audit_metrics"]


def _check(y_true, y_pred, groups):
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    groups = np.asarray(groups)
    if not (len(y_true) == len(y_pred) == len(groups)):
        raise ValueError(
            f"y_true, y_pred and groups must have the same length, got {len(y_true)}, {len(y_pred)}, {len(groups)}"
        )
    if len(y_true) == 0:
        raise ValueError("y_true is empty")
    return y_true.astype(np.int64), y_pred.astype(np.int64), groups.astype(np.int64)


def group_metrics(*, y_true, y_pred, groups, group_names: list[str], num_classes: int) -> list[dict]:
    """Per-group ``n``, ``accuracy``, ``selection_rate``, ``tpr`` and ``fpr``.

    Binary (``num_classes == 2``): selection rate = P(pred = 1), TPR and FPR for class 1, as in
    Fairlearn. Multiclass: selection rate is the per-class rate of being predicted each class
    (a list), TPR the mean per-class recall (macro) and FPR the mean one-vs-rest false-positive
    rate. A group with no sample raises ``ValueError``.
    """
    y_true, y_pred, groups = _check(y_true, y_pred, groups)
    rows = []
    for g, name in enumerate(group_names):
        m = groups == g
        if not m.any():
            raise ValueError(f"group {name!r} has no samples")
        yt, yp = y_true[m], y_pred[m]
        row = {"group": name, "n": int(m.sum()), "accuracy": float((yt == yp).mean())}
        if num_classes == 2:
            row["selection_rate"] = float((yp == 1).mean())
            row["tpr"] = _rate(yp[yt == 1] == 1)
            row["fpr"] = _rate(yp[yt == 0] == 1)
        else:
            row["selection_rate"] = [float((yp == c).mean()) for c in range(num_classes)]
            tprs = [_rate(yp[yt == c] == c) for c in range(num_classes)]
            fprs = [_rate(yp[yt != c] == c) for c in range(num_classes)]
            row["tpr"] = _nanmean(tprs)
            row["fpr"] = _nanmean(fprs)
        rows.append(row)
    return rows


def _rate(hits: np.ndarray) -> float:
    return float(hits.mean()) if len(hits) else float("nan")


def _nanmean(values) -> float:
    arr = np.array([v for v in values if v == v], dtype=float)
    return float(arr.mean()) if len(arr) else float("nan")


def audit_metrics(*, y_true, y_pred, groups, group_names: list[str], num_classes: int) -> dict:
    """Utility, per-group rows and fairness gaps in the audit JSON layout of DESIGN.md."""
    y_true, y_pred, groups = _check(y_true, y_pred, groups)
    rows = group_metrics(y_true=y_true, y_pred=y_pred, groups=groups, group_names=group_names, num_classes=num_classes)
    recalls = [(y_pred[y_true == c] == c).mean() for c in range(num_classes) if (y_true == c).any()]
    acc = [r["accuracy"] for r in rows]
    if num_classes == 2:
        sel = np.array([r["selection_rate"] for r in rows])
        dp = float(sel.max() - sel.min())
    else:
        sel = np.array([r["selection_rate"] for r in rows])  # groups x classes
        dp = float((sel.max(axis=0) - sel.min(axis=0)).max())
    tpr = np.array([r["tpr"] for r in rows], dtype=float)
    fpr = np.array([r["fpr"] for r in rows], dtype=float)
    eo = float(max(np.nanmax(tpr) - np.nanmin(tpr), np.nanmax(fpr) - np.nanmin(fpr)))
    return {
        "utility": {
            "accuracy": float((y_true == y_pred).mean()),
            "balanced_accuracy": float(np.mean(recalls)),
        },
        "groups": rows,
        "fairness": {
            "demographic_parity_difference": dp,
            "equalized_odds_difference": eo,
            "worst_group_accuracy": float(min(acc)),
            "accuracy_gap": float(max(acc) - min(acc)),
        },
    }
