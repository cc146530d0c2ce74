"""The dashboard's tables (pandas DataFrames) built from the library's results, free of Streamlit.

- data: :func:`counts_table` (images per group x class);
- an audit: :func:`overall_table`, :func:`group_table`, :func:`gaps_above`;
- Grad-CAM: :func:`region_scores`;
- unlearning: :func:`editable_hyperparameters`, :func:`hyperparameter_overrides`,
  :func:`before_after_table`;
- stored runs: :func:`runs_table`, :func:`compare_table`.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from bamu_core.report import report_rows
from bamu_core.results import AuditResult, Interval, UnlearnReport
from bamu_core.workflows import method_hyperparameter_rows, method_hyperparameters

__all__ = [
    "GAP_NAMES",
    "UTILITY_NAMES",
    "counts_table",
    "overall_table",
    "group_table",
    "gaps_above",
    "region_scores",
    "editable_hyperparameters",
    "hyperparameter_overrides",
    "before_after_table",
    "runs_table",
    "compare_table",
]


def counts_table(scenario, *, split: str = "train", attr: str | None = None):
    """A DataFrame of counts per group (rows) x class (columns) with totals."""
    data = getattr(scenario, split)
    attr = attr or data.group_attr
    table = data.counts(attr)
    n_classes = scenario.num_classes
    if table.shape[1] < n_classes:  # a class absent from this split
        table = np.pad(table, ((0, 0), (0, n_classes - table.shape[1])))
    frame = pd.DataFrame(table, index=data.group_names[attr], columns=scenario.class_names)
    frame.index.name = attr
    frame["total"] = frame.sum(axis=1)
    return frame


GAP_NAMES = {
    "demographic_parity_difference": "Demographic parity difference",
    "equalized_odds_difference": "Equalized odds difference",
    "equal_opportunity_difference": "Equal opportunity difference",
    "accuracy_gap": "Accuracy gap (best - worst group)",
}
UTILITY_NAMES = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "worst_group_accuracy": "Worst-group accuracy",
}


def _ci_text(ci: Interval | dict | None) -> str:
    if not ci:
        return ""
    lo, hi = (ci.low, ci.high) if isinstance(ci, Interval) else (ci.get("low"), ci.get("high"))
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and math.isfinite(lo) and math.isfinite(hi):
        return f"{lo:.3f} – {hi:.3f}"
    return ""


def overall_table(result: AuditResult, *, threshold: float):
    """Overall utility and fairness gaps of an audit with their CIs and a flag above ``threshold``.

    Columns: metric, value, 95 % CI (empty when the audit has no intervals), above threshold
    (gaps only: True / False; utility rows: None).
    """
    u, f = result.utility, result.fairness
    rows = []
    for key, name in UTILITY_NAMES.items():
        value = getattr(u, key, None)
        if value is None and key in type(f).__dataclass_fields__:
            value = f.gap(key)
        if value is not None:
            rows.append({"metric": name, "value": value, "CI": _ci_text(result.ci(key)), "above threshold": None})
    for key, name in GAP_NAMES.items():
        value = f.gap(key)
        if value is not None:
            rows.append(
                {
                    "metric": name,
                    "value": value,
                    "CI": _ci_text(result.fairness_ci.get(key)),
                    "above threshold": bool(value > threshold),
                }
            )
    return pd.DataFrame(rows)


def group_table(result: AuditResult):
    """Per-group rows of an audit: group, n, accuracy, selection rate, TPR, FPR (binary: scalars)."""
    rows = []
    with_ci = any(r.accuracy_ci for r in result.groups)
    for r in result.groups:
        row = {"group": r.group, "n": r.n, "accuracy": r.accuracy}
        if with_ci:
            row["accuracy CI"] = _ci_text(r.accuracy_ci)
        sel = r.selection_rate
        if not isinstance(sel, (list, tuple)):
            row["selection rate"] = sel
        row["TPR"] = r.tpr
        row["FPR"] = r.fpr
        rows.append(row)
    return pd.DataFrame(rows)


def gaps_above(result: AuditResult, *, threshold: float) -> list[str]:
    """Names of the fairness gaps above ``threshold``."""
    f = result.fairness
    return [name for key, name in GAP_NAMES.items() if isinstance(f.gap(key), (int, float)) and f.gap(key) > threshold]


def region_scores(gallery):
    """Per-group mean share of saliency inside the gallery's region, beside the share a uniform
    (flat) map would put there (the region's share of the image).

    Returns None when the gallery has no region.
    """
    if gallery.region is None:
        return None
    rows = []
    for g in gallery.groups:
        shares = np.asarray(g.region_share if g.region_share is not None else [], dtype=float)
        shares = shares[~np.isnan(shares)]
        rows.append(
            {
                "group": g.name,
                "images": len(g.indices),
                "bias-region score": float(shares.mean()) if len(shares) else None,
            }
        )
    frame = pd.DataFrame(rows)
    h, w = gallery.groups[0].maps.shape[-2:] if gallery.groups and len(gallery.groups[0].maps) else (None, None)
    if h:
        frame["share if saliency were uniform"] = gallery.region[2] * gallery.region[3] / (h * w)
    return frame


def editable_hyperparameters(method: str, intensity: float, subject=None):
    """The numeric hyper-parameters of ``method`` at ``intensity`` (with the defaults of the
    subject's scenario for its model, see :func:`bamu_core.workflows.method_hyperparameters`)
    as a DataFrame to edit: name, value, and what it does (from the method's config)."""
    rows = [
        {"hyper-parameter": r.name, "value": float(r.value), "what it does": r.help}
        for r in method_hyperparameter_rows(method, intensity, subject)
        if isinstance(r.value, (int, float)) and not isinstance(r.value, bool)
    ]
    return pd.DataFrame(rows, columns=["hyper-parameter", "value", "what it does"])


def hyperparameter_overrides(method: str, intensity: float, edited, subject=None) -> dict:
    """The values changed in an edited :func:`editable_hyperparameters` table (ints stay ints)."""
    hp = method_hyperparameters(method, intensity, subject)
    out = {}
    for name, value in zip(edited["hyper-parameter"], edited["value"]):
        if name not in hp or value is None or value != value:
            continue
        old = hp[name]
        new = int(round(value)) if isinstance(old, int) and not isinstance(old, bool) else float(value)
        if new != old:
            out[name] = new
    return out


_BETTER = {  # which way is better, for the arrows of the before / after table
    "accuracy": "↑",
    "balanced_accuracy": "↑",
    "worst_group_accuracy": "↑",
    "demographic_parity_ratio": "↑",
    "demographic_parity_difference": "↓",
    "equalized_odds_difference": "↓",
    "equal_opportunity_difference": "↓",
    "accuracy_gap": "↓",
    "efficacy": "↑",
    "advantage": "↓",
    "tpr_at_1pct_fpr": "→ 0.01",
    "auc": "→ 0.5",
    "attack_accuracy": "→ 0.5",
    "auc_vs_all_test": "(not class-matched)",
}


_WORDS = {  # metric names that read badly with underscores replaced
    "tpr_at_1pct_fpr": "true-positive rate at 1 % false positives",
    "auc": "AUC",
    "auc_vs_all_test": "AUC vs all test images",
}


def before_after_table(run: UnlearnReport):
    """Headline before / after numbers of an unlearn result (from :func:`bamu_core.report.report_rows`)."""
    rows = []
    for r in report_rows(run):
        if r["section"] not in ("utility", "fairness", "forget", "privacy"):
            continue
        name = _WORDS.get(r["metric"], r["metric"].replace("_", " "))
        if r["section"] in ("forget", "privacy"):
            name = f"{'forget-set' if r['section'] == 'forget' else 'MIA'} {name}"
        rows.append(
            {
                "metric": f"{name} {'' if r['section'] == 'forget' else _BETTER.get(r['metric'], '')}".strip(),
                "before": r["before"],
                "after": r["after"],
                "change": r["change"],
                "before CI": _ci_text({"low": r["before_low"], "high": r["before_high"]}),
                "after CI": _ci_text({"low": r["after_low"], "high": r["after_high"]}),
            }
        )
    return pd.DataFrame(rows, columns=["metric", "before", "after", "change", "before CI", "after CI"])


def compare_table(comparison: dict):
    """``RunStore.compare`` rows as a DataFrame: metric, A, B, B - A."""
    rows = [{"metric": r["metric"], "A": r["a"], "B": r["b"], "B - A": r["delta"]} for r in comparison["rows"]]
    return pd.DataFrame(rows, columns=["metric", "A", "B", "B - A"])


def runs_table(records):
    """Saved runs (``RunStore.list()`` records) as a DataFrame for the history table, newest first."""
    rows = []
    for r in records:
        metrics = (r.summary or {}).get("metrics") or {}
        rows.append(
            {
                "run": r.run_id,
                "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)),
                "status": r.status,
                "data": r.scenario,
                "method": r.method,
                "intensity": r.intensity,
                "score": r.score,
                "DP before": metrics.get("dp_before"),
                "DP after": metrics.get("dp_after"),
                "accuracy before": metrics.get("accuracy_before"),
                "accuracy after": metrics.get("accuracy_after"),
                "seconds": r.seconds,
                "message": r.message,
            }
        )
    # what tells runs apart, narrow enough for a 1366 px window; the selected run's score, time and
    # message are shown under the table (the run id starts with its date and time)
    columns = [
        "run",
        "data",
        "method",
        "intensity",
        "status",
        "DP before",
        "DP after",
        "accuracy before",
        "accuracy after",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.dropna(axis=1, how="all") if len(frame) else frame


def candidates_table(search: dict):
    """``auto``'s candidates, one row each: settings, status, seconds and the held-out metrics."""
    import pandas as pd

    rows = []
    for c in search.get("candidates", []):
        rows.append(
            {
                "candidate": c["label"] + ("  ← chosen" if c["label"] == search.get("chosen") else ""),
                "status": c["status"].replace("_", " "),
                "seconds": round(float(c["seconds"]), 1),
                "gap closed": c["gain"],
                "accuracy": c["val_accuracy"],
                "within bound": "yes" if c["admissible"] else ("-" if c["gain"] is None else "no"),
                "Pareto": "yes" if c["pareto"] else "",
                "note": c["message"]
                if c["status"] in ("skipped", "failed")
                else (
                    f"stopped when it diverged; its last good checkpoint (step {c.get('chosen_step', '?')}) was judged"
                    if c["status"] == "diverged"
                    else ""
                ),
            }
        )
    return pd.DataFrame(rows)
