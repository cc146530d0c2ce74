"""Sweeps: methods x intensities, a table and the fairness-utility Pareto front."""

from __future__ import annotations

from typing import Callable, Sequence

from ..errors import BamuInputError
from ..progress import Progress, ProgressEvent
from ..results import SWEEP_COLUMNS, SweepPoint, SweepResult, SweepRow, UnlearnReport
from ..training import StopRequested
from .auditing import audit
from .subject import Subject, require_training_rows
from .unlearning import unlearn

__all__ = ["sweep", "SweepResult", "sweep_row", "SWEEP_COLUMNS"]


def sweep_row(result: UnlearnReport) -> SweepRow:
    """One sweep table row from an unlearning run (``pareto`` filled by :func:`sweep`).

    ``accuracy`` is the test accuracy after unlearning; ``fairness`` = 1 - demographic parity
    difference after (the Pareto plot's vertical axis; the radar's fairness axis is
    ``fairness_axis``); ``dp``/``eo`` the DP and EO differences after.
    """
    result = UnlearnReport.from_json(result)
    after = result.after
    fair = after.fairness if after is not None else None
    radar = result.radar.after
    mia = result.privacy.mia_after
    dp = fair.demographic_parity_difference if fair is not None else None
    return SweepRow(
        method=result.method or None,
        intensity=result.intensity,
        status=result.status,
        run_id=result.run_id,
        accuracy=after.utility.accuracy if after is not None else None,
        balanced_accuracy=after.utility.balanced_accuracy if after is not None else None,
        dp=dp,
        eo=fair.equalized_odds_difference if fair is not None else None,
        worst_group_accuracy=fair.worst_group_accuracy if fair is not None else None,
        fairness=None if dp is None else 1.0 - dp,
        forget_accuracy=result.forget.accuracy_after,
        mia_auc=mia.auc if mia is not None else None,
        utility_axis=radar.utility if radar is not None else None,
        fairness_axis=radar.fairness if radar is not None else None,
        forgetting_axis=radar.forgetting if radar is not None else None,
        privacy_axis=radar.privacy if radar is not None else None,
        score=result.score,
        seconds=result.seconds,
        message=result.message or "",
    )


def sweep(
    subject: Subject,
    *,
    methods: Sequence[str],
    intensities: Sequence[float],
    forget: str = "aligned",
    device: str | None = None,
    seed: int = 0,
    progress: Progress | None = None,
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
        ``progress(event)`` after each run: a :class:`~bamu_core.progress.ProgressEvent` whose ``detail`` is the run's
        :class:`~bamu_core.results.SweepRow`.
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
        raise BamuInputError("methods is empty: give at least one unlearning method")
    require_training_rows(subject.scenario, doing="a sweep of unlearning runs")
    for m in methods:
        get_method(m)  # unknown names raise ValueError listing the available ones
    try:
        levels = [float(x) for x in intensities]
    except (TypeError, ValueError):
        raise BamuInputError(f"intensities must be numbers in [0, 1], got {list(intensities)!r}") from None
    if not levels:
        raise BamuInputError("intensities is empty: give at least one intensity in [0, 1]")
    if "original_audit" in unlearn_options:
        raise BamuInputError("sweep() audits the original model itself; do not pass original_audit")
    bad = [x for x in levels if not 0.0 <= x <= 1.0]
    if bad:
        raise BamuInputError(f"intensities must lie in [0, 1], got {bad}")
    before = None
    rows: list[SweepRow] = []
    total = len(methods) * len(levels)
    for m in methods:
        for x in levels:
            if should_stop is not None and should_stop():
                break
            try:
                result = unlearn(
                    subject,
                    method=m,
                    intensity=x,
                    forget=forget,
                    device=device,
                    seed=seed,
                    should_stop=should_stop,
                    original_audit=before,
                    **unlearn_options,
                )
                row = sweep_row(result)
                before = before or result.before
            except (KeyboardInterrupt, ValueError):
                raise
            except StopRequested:  # cancelled: the rows so far are the sweep
                break
            except Exception as exc:  # one failing configuration does not end the sweep
                row = SweepRow(method=m, intensity=x, status="failed", message=f"{type(exc).__name__}: {exc}")
            rows.append(row)
            if progress is not None:
                progress(ProgressEvent(step=len(rows), total=total, phase="sweep", detail=row))
    front = pareto_front([r.to_json() if r.status != "failed" else {} for r in rows], x="accuracy", y="fairness")
    for i in front:
        rows[i].pareto = True
    if before is None:  # every run failed or was cancelled: measure the original directly
        before = audit(subject, device=device, saliency_per_group=0)
    dp0 = before.fairness.demographic_parity_difference
    before_point = SweepPoint(accuracy=before.utility.accuracy, fairness=None if dp0 is None else 1.0 - dp0, dp=dp0)
    title = f"{subject.scenario.title}: fairness vs test accuracy, {len(methods)} method(s) x {len(levels)} intensities"
    return SweepResult(rows=rows, front=front, before=before_point, title=title)
