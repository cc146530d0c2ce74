"""Fairness and utility metrics over subgroups, with bootstrap confidence intervals.

Binary metrics follow Fairlearn (class 1 positive); multiclass metrics take the worst class
(see ``_fairness``). Everything is computed from per-group confusion counts, so
one set of predictions gives every metric and every bootstrap interval.
"""

from ._audit import audit_metrics
from ._bootstrap import (
    DEFAULT_N_BOOT,
    bootstrap_confusion,
    bootstrap_intervals,
    check_bootstrap,
)
from ._fairness import (
    FAIRNESS_KEYS,
    UTILITY_KEYS,
    accuracy_gap,
    balanced_accuracy,
    confusion_summary,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    group_metrics,
    per_class_demographic_parity,
    per_class_recall,
    summary_from_counts,
    worst_group_accuracy,
)
from ._groups import group_confusion, intersect_groups
from ._warnings import audit_warnings

__all__ = [
    "audit_metrics",
    "audit_warnings",
    "group_metrics",
    "bootstrap_intervals",
    "bootstrap_confusion",
    "check_bootstrap",
    "group_confusion",
    "confusion_summary",
    "summary_from_counts",
    "intersect_groups",
    "balanced_accuracy",
    "per_class_recall",
    "worst_group_accuracy",
    "accuracy_gap",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "per_class_demographic_parity",
    "equalized_odds_difference",
    "equal_opportunity_difference",
    "FAIRNESS_KEYS",
    "UTILITY_KEYS",
    "DEFAULT_N_BOOT",
]
