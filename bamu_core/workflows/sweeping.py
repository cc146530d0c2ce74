"""Sweeps: methods x intensities, a table and the fairness-utility Pareto front."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from ..training import StopRequested
from .auditing import audit
from .subject import Subject
from .unlearning import unlearn

__all__ = ["sweep", "SweepResult", "sweep_row", "SWEEP_COLUMNS"]


SWEEP_COLUMNS = (
    "method", "intensity", "status", "run_id", "accuracy", "balanced_accuracy", "dp", "eo", "worst_group_accuracy",
    "fairness", "forget_accuracy", "mia_auc", "utility_axis", "fairness_axis", "forgetting_axis", "privacy_axis",
    "score", "seconds", "pareto", "message",
)


def sweep_row(result: dict) -> dict:
    """One sweep table row from an unlearn result: ``SWEEP_COLUMNS`` (``pareto`` filled by :func:`sweep`).

    ``accuracy`` is the test accuracy after unlearning; ``fairness`` = 1 - demographic parity
    difference after (the radar's fairness axis); ``dp``/``eo`` the DP and EO differences after.
    """
    after = result.get("after") or {}
    radar = (result.get("radar") or {}).get("after") or {}
    fair = after.get("fairness") or {}
    dp = fair.get("demographic_parity_difference")
    return {
        "method": result.get("method"),
        "intensity": result.get("intensity"),
        "status": result.get("status"),
        "run_id": result.get("run_id"),
        "accuracy": (after.get("utility") or {}).get("accuracy"),
        "balanced_accuracy": (after.get("utility") or {}).get("balanced_accuracy"),
        "dp": dp,
        "eo": fair.get("equalized_odds_difference"),
        "worst_group_accuracy": fair.get("worst_group_accuracy"),
        "fairness": None if dp is None else 1.0 - dp,
        "forget_accuracy": (result.get("forget") or {}).get("accuracy_after"),
        "mia_auc": ((result.get("privacy") or {}).get("mia_after") or {}).get("auc"),
        "utility_axis": radar.get("utility"),
        "fairness_axis": radar.get("fairness"),
        "forgetting_axis": radar.get("forgetting"),
        "privacy_axis": radar.get("privacy"),
        "score": result.get("score"),
        "seconds": result.get("seconds"),
        "pareto": False,
        "message": result.get("message", ""),
    }


@dataclass
class SweepResult:
    """A sweep's table (one row per method x intensity), its Pareto front and the original model.

    ``front`` holds the indices of the rows on the fairness-utility Pareto front (test accuracy
    and 1 - DP difference, both maximised), sorted by accuracy. ``before`` is the original
    model's point (``accuracy``, ``fairness``, ``dp``).
    """

    rows: list[dict]
    front: list[int]
    before: dict
    x: str = "accuracy"
    y: str = "fairness"
    title: str = "Fairness vs utility"

    def table(self):
        """The rows as a pandas DataFrame with :data:`SWEEP_COLUMNS`."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(SWEEP_COLUMNS))

    def to_dict(self) -> dict:
        return {"title": self.title, "rows": self.rows, "front": self.front, "before": self.before, "x": self.x, "y": self.y}


def sweep(
    subject: Subject,
    *,
    methods: Sequence[str],
    intensities: Sequence[float],
    forget: str = "aligned",
    device: str | None = None,
    seed: int = 0,
    progress: Callable[[int, int, dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    **unlearn_options,
) -> SweepResult:
    """Run :func:`unlearn` for every method x intensity and find the fairness-utility Pareto front.

    Parameters
    ----------
    subject : Subject
        The original model and its data.
    methods : sequence of str
        Registered unlearning methods (see :func:`bamu_core.unlearn.list_methods`).
    intensities : sequence of float
        Intensities in [0, 1].
    forget : str
        The forget strategy every run uses (see :func:`bamu_core.forget.list_strategies`).
    progress : callable, optional
        ``progress(done, total, row)`` after each run.
    should_stop : callable, optional
        Checked before each run and passed on to it; once true the sweep ends with the rows so far.
    **unlearn_options
        Passed to every :func:`unlearn` call (e.g. ``store=None`` to keep the runs out of the run store).

    Returns
    -------
    SweepResult
        A run that raises is recorded as a row with status ``failed`` and the error as its message;
        bad arguments raise ``ValueError`` before anything runs.
    """
    from ..scoring import pareto_front
    from ..unlearn import get_method

    methods = [str(m).strip() for m in methods if str(m).strip()]
    if not methods:
        raise ValueError("methods is empty: give at least one unlearning method")
    for m in methods:
        get_method(m)  # unknown names raise ValueError listing the available ones
    try:
        levels = [float(x) for x in intensities]
    except (TypeError, ValueError):
        raise ValueError(f"intensities must be numbers in [0, 1], got {list(intensities)!r}") from None
    if not levels:
        raise ValueError("intensities is empty: give at least one intensity in [0, 1]")
    if "original_audit" in unlearn_options:
        raise ValueError("sweep() audits the original model itself; do not pass original_audit")
    bad = [x for x in levels if not 0.0 <= x <= 1.0]
    if bad:
        raise ValueError(f"intensities must lie in [0, 1], got {bad}")
    before = None
    rows: list[dict] = []
    total = len(methods) * len(levels)
    for m in methods:
        for x in levels:
            if should_stop is not None and should_stop():
                break
            try:
                result = unlearn(
                    subject, method=m, intensity=x, forget=forget, device=device, seed=seed, should_stop=should_stop,
                    original_audit=before, **unlearn_options,
                )
                row = sweep_row(result)
                before = before or result.get("before")
            except (KeyboardInterrupt, ValueError):
                raise
            except StopRequested:  # cancelled: the rows so far are the sweep
                break
            except Exception as exc:  # one failing configuration does not end the sweep
                row = {**{c: None for c in SWEEP_COLUMNS}, "method": m, "intensity": x, "status": "failed",
                       "pareto": False, "message": f"{type(exc).__name__}: {exc}"}
            rows.append(row)
            if progress is not None:
                progress(len(rows), total, row)
    front = pareto_front([r if r["status"] != "failed" else {} for r in rows], x="accuracy", y="fairness")
    for i in front:
        rows[i]["pareto"] = True
    if before is None:  # every run failed or was cancelled: measure the original directly
        before = audit(subject, device=device, saliency_per_group=0)
    dp0 = before["fairness"]["demographic_parity_difference"]
    before_point = {"accuracy": before["utility"]["accuracy"], "fairness": 1.0 - dp0, "dp": dp0}
    title = f"{subject.scenario.title}: fairness vs test accuracy, {len(methods)} method(s) x {len(levels)} intensities"
    return SweepResult(rows=rows, front=front, before=before_point, title=title)
