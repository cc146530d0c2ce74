"""Typed results: what an audit, an unlearning run and a sweep return.

Each is a dataclass with ``to_json()`` (the JSON the CLI writes with ``--json``, the run store
keeps and the reports read) and ``from_json()``; documents carry ``schema_version``
(:data:`SCHEMA_VERSION`). The documents' fields are described in ``docs/results.md``.
Consumers read attributes (``run.after.fairness.demographic_parity_difference``), never string
paths into the JSON.
"""

from ._audit import AuditResult, Fairness, GroupRow, Interval, TargetClass, Utility
from ._insight import (
    BlockSimilarity,
    Cohort,
    Cohorts,
    Leakage,
    OutputLeakage,
    ProbeScore,
    Projection,
    Relearning,
    RelearningCurve,
    Representation,
)
from ._pairs import PAIRS_PICTURE, CounterfactualPair, CounterfactualPairs, FlipRate, GroupFlipRate
from ._record import SCHEMA_VERSION, Record
from ._sweep import SWEEP_COLUMNS, SweepPoint, SweepResult, SweepRow
from ._unlearn import (
    ForgetSummary,
    MIAResult,
    MIAScores,
    PrivacyComparison,
    RadarAxes,
    RadarPair,
    UnlearnReport,
)
from ._warnings import AuditWarning

__all__ = [
    "SCHEMA_VERSION",
    "Record",
    "Interval",
    "Utility",
    "Fairness",
    "GroupRow",
    "TargetClass",
    "AuditResult",
    "AuditWarning",
    "MIAResult",
    "MIAScores",
    "PrivacyComparison",
    "RadarAxes",
    "RadarPair",
    "ForgetSummary",
    "UnlearnReport",
    "SweepRow",
    "SweepPoint",
    "SweepResult",
    "SWEEP_COLUMNS",
    "ProbeScore",
    "Leakage",
    "OutputLeakage",
    "Cohort",
    "Cohorts",
    "BlockSimilarity",
    "Projection",
    "Representation",
    "RelearningCurve",
    "Relearning",
    "GroupFlipRate",
    "FlipRate",
    "CounterfactualPair",
    "CounterfactualPairs",
    "PAIRS_PICTURE",
]
