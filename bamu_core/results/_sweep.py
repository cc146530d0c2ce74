"""A sweep over methods x intensities as a typed result (:class:`SweepResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from ._record import Record, nested

__all__ = ["SweepRow", "SweepPoint", "SweepResult", "SWEEP_COLUMNS"]


@dataclass
class SweepRow(Record):
    """One run of a sweep. ``seed`` drew the run's subject (data split and baseline) and seeded the
    run; ``accuracy``/``dp``/``eo`` are test numbers after unlearning;
    ``fairness`` = 1 - DP difference; the ``*_axis`` columns are the radar's; ``pareto`` marks the
    rows on the fairness-utility front."""

    method: str | None = None
    intensity: float | None = None
    status: str | None = None
    run_id: str | None = None
    seed: int | None = None
    accuracy: float | None = None
    balanced_accuracy: float | None = None
    dp: float | None = None
    eo: float | None = None
    worst_group_accuracy: float | None = None
    fairness: float | None = None
    forget_accuracy: float | None = None
    mia_auc: float | None = None
    utility_axis: float | None = None
    fairness_axis: float | None = None
    forgetting_axis: float | None = None
    privacy_axis: float | None = None
    score: float | None = None
    seconds: float | None = None
    pareto: bool = False
    message: str = ""


#: The sweep table's columns, in order.
SWEEP_COLUMNS = tuple(f.name for f in fields(SweepRow) if f.name != "extra")


@dataclass
class SweepPoint(Record):
    """The original model's point on the sweep's plot."""

    accuracy: float | None = None
    fairness: float | None = None
    dp: float | None = None


@dataclass
class SweepResult(Record):
    """A sweep's table (one row per seed x method x intensity), its Pareto front and the original model.

    ``front`` holds the indices of the rows on the fairness-utility Pareto front (test accuracy
    and 1 - DP difference, both maximised), sorted by accuracy. ``before`` is the original
    model's point (with several seeds, the mean of their original models).
    :func:`bamu_core.report.write_sweep` writes its files, and :func:`bamu_core.report.sweep_figure` draws it.
    """

    versioned = True

    rows: list[SweepRow] = nested(SweepRow, container="list")
    front: list[int] = field(default_factory=list)
    before: SweepPoint = nested(SweepPoint, default=None)
    x: str = "accuracy"
    y: str = "fairness"
    title: str = "Fairness vs utility"

    def __post_init__(self) -> None:
        self.rows = [r if isinstance(r, SweepRow) else SweepRow.from_json(r) for r in self.rows]
        if self.before is None:
            self.before = SweepPoint()
        elif not isinstance(self.before, SweepPoint):
            self.before = SweepPoint.from_json(self.before)

    def table(self):
        """The rows as a pandas DataFrame with :data:`SWEEP_COLUMNS`."""
        import pandas as pd

        return pd.DataFrame([{c: getattr(r, c) for c in SWEEP_COLUMNS} for r in self.rows], columns=list(SWEEP_COLUMNS))

    def to_dict(self) -> dict:
        """The JSON document (``sweep.json``): title, rows, front, before, x, y."""
        return self.to_json()
