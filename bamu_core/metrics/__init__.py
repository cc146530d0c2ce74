"""Fairness and utility metrics over subgroups."""
from ._fairness import audit_metrics, group_metrics

__all__ = ["audit_metrics", "group_metrics"]
