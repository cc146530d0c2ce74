"""The audit of one split as a typed result (:class:`AuditResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import BamuInputError
from ._insight import Cohorts
from ._interval import Interval
from ._record import Record, nested, optional
from ._warnings import AuditWarning

__all__ = ["Interval", "Utility", "Fairness", "GroupRow", "TargetClass", "AuditResult", "AuditWarning"]


@dataclass
class Utility(Record):
    accuracy: float | None = None
    balanced_accuracy: float | None = None


@dataclass
class Fairness(Record):
    """Group-fairness gaps of one split (binary: as Fairlearn; multiclass: the worst class)."""

    demographic_parity_difference: float | None = None
    equalized_odds_difference: float | None = None
    worst_group_accuracy: float | None = None
    accuracy_gap: float | None = None
    demographic_parity_ratio: float | None = None
    equal_opportunity_difference: float | None = None

    def gap(self, name: str) -> float | None:
        """One gap by its key (e.g. ``"demographic_parity_difference"``)."""
        if name not in type(self).__dataclass_fields__ or name == "extra":
            raise BamuInputError(f"unknown fairness metric {name!r}")
        return getattr(self, name)


@dataclass
class GroupRow(Record):
    """One group's row: size, accuracy (with its interval), rates and confusion counts.

    For two classes ``selection_rate``, ``tpr`` and ``fpr`` are those of class 1; for more,
    ``selection_rate`` is the list over classes and ``tpr``/``fpr`` the mean over defined classes.
    """

    group: str = ""
    n: int = 0
    accuracy: float | None = None
    selection_rate: Any = None
    tpr: float | None = None
    fpr: float | None = None
    selection_rate_per_class: list[float | None] = field(default_factory=list)
    tpr_per_class: list[float | None] = field(default_factory=list)
    fpr_per_class: list[float | None] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    accuracy_ci: Interval | None = nested(Interval, default=None)


@dataclass
class TargetClass(Record):
    """The scenario's target class (e.g. "airplane" for the CIFAR-10 patch): its DP and recall."""

    index: int = 0
    name: str = ""
    dp: float | None = None
    dp_ci: Interval | None = nested(Interval, default=None)
    recall: float | None = None
    recall_ci: Interval | None = nested(Interval, default=None)


@dataclass
class AuditResult(Record):
    """Accuracy, fairness gaps and saliency of a model on one split (see ``docs/results.md``).

    Undefined numbers are ``None``; the ``*_ci`` entries are empty (``{}`` / ``None``) when the
    audit ran without bootstrap intervals (``n_boot=0``). ``saliency``, ``bootstrap``,
    ``conventions``, ``timing``, ``gallery`` stay JSON objects (their keys are documented there).
    ``warnings`` are the reasons to read the numbers with care (:func:`bamu_core.metrics.audit_warnings`);
    documents written before them load with ``None`` (and are written back without the key).
    """

    versioned = True

    utility: Utility = nested(Utility, default=None)
    groups: list[GroupRow] = nested(GroupRow, container="list")
    fairness: Fairness = nested(Fairness, default=None)
    utility_ci: dict[str, Interval] = nested(Interval, container="dict")
    fairness_ci: dict[str, Interval] = nested(Interval, container="dict")
    per_class_recall: list[float | None] = field(default_factory=list)
    per_class_recall_ci: list[Interval] | None = nested(Interval, container="list", default=None)
    per_class_dp: list[float | None] = field(default_factory=list)
    per_class_dp_ci: list[Interval] | None = nested(Interval, container="list", default=None)
    bootstrap: dict = field(default_factory=dict)
    conventions: dict = field(default_factory=dict)
    target_class: TargetClass | None = nested(TargetClass, default=None, omit_none=True)
    saliency: dict = field(default_factory=dict)
    gallery: dict | None = optional()
    cohorts: Cohorts | None = nested(Cohorts, default=None, omit_none=True)
    warnings: list[AuditWarning] | None = nested(AuditWarning, container="list", default=None, omit_none=True)
    group_attr: str = ""
    split: str = ""
    n: int = 0
    seconds: float = 0.0
    timing: dict = field(default_factory=dict)
    device: str = ""

    def __post_init__(self) -> None:
        if self.utility is None:
            self.utility = Utility()
        if self.fairness is None:
            self.fairness = Fairness()

    @property
    def accuracy(self) -> float | None:
        return self.utility.accuracy

    def ci(self, name: str) -> Interval | None:
        """The interval of a utility or fairness metric by key, or ``None`` without one."""
        return self.utility_ci.get(name) or self.fairness_ci.get(name)

    def group(self, name: str) -> GroupRow:
        for row in self.groups:
            if row.group == name:
                return row
        raise KeyError(f"no group {name!r} in this audit; groups: {', '.join(r.group for r in self.groups)}")
