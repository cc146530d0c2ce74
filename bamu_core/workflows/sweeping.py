"""Sweeps: methods x intensities, a table and the fairness-utility Pareto front."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from ..errors import BamuInputError
from ..progress import Progress, ProgressEvent
from ..results import SWEEP_COLUMNS, AuditResult, SweepPoint, SweepResult, SweepRow, UnlearnReport
from ..training import StopRequested
from .auditing import audit
from .subject import Subject, require_training_rows
from .unlearning import unlearn

if TYPE_CHECKING:
    from ..execution import Executor

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
    subject: Subject | Callable[[int], Subject],
    *,
    methods: Sequence[str],
    intensities: Sequence[float],
    forget: str = "aligned",
    device: str | None = None,
    seed: int = 0,
    seeds: Sequence[int] | None = None,
    executor: str | Executor | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    **unlearn_options,
) -> SweepResult:
    """Run :func:`unlearn` for every seed x method x intensity and find the fairness-utility Pareto front.

    Parameters
    ----------
    subject : Subject or callable
        The original model and its data, or a factory ``subject(seed) -> Subject`` such as a
        :class:`~bamu_core.workflows.SubjectRecipe`, which builds a new subject per seed (its data
        split and its baseline, as the CLI's ``--seed`` does). A Ray executor sends the factory
        to its workers, which build (loading the baselines the driver trained and cached) each
        subject once; a :class:`Subject` is sent to them once, by object reference.
    methods : sequence of str
        Registered unlearning methods (see :func:`bamu_core.unlearn.list_methods`).
    intensities : sequence of float
        Intensities in [0, 1].
    forget : str
        The forget strategy every run uses (see :func:`bamu_core.forget.list_strategies`).
    seed : int
        The seed of every run when ``seeds`` is not given.
    seeds : sequence of int, optional
        Seeds to sweep; each seed is a new subject and seeds its runs, so more than one needs a
        factory. Rows are ordered seed, method, intensity.
    executor : "local", "ray" or an executor, optional
        Where the runs go (:mod:`bamu_core.execution`). ``None`` (the default) runs them here one
        after another, as before; an executor gets one task per configuration, seeded the same way
        on every executor, so ``InProcessExecutor(threads=n)`` and ``RayExecutor(cpus_per_task=n)``
        give the same numbers. With an executor, workers never write the run store: the runs come
        back to this process, which stores them; the original model of each seed is audited here
        once and sent with the tasks.
    progress : callable, optional
        ``progress(event)`` after each run (in the order runs finish): a
        :class:`~bamu_core.progress.ProgressEvent` whose ``detail`` is the run's
        :class:`~bamu_core.results.SweepRow`.
    should_stop : callable, optional
        Checked before each run (without an executor also passed on to it); once true the sweep ends
        with the rows finished so far (an executor cancels the pending and running tasks).
    **unlearn_options
        Passed to every :func:`unlearn` call (e.g. ``store=None`` to keep the runs out of the run store).

    Returns
    -------
    SweepResult
        A run that raises (or whose worker dies) is recorded as a row with status ``failed`` and the
        error as its message; bad arguments raise ``ValueError`` before anything runs.
    """
    from ..unlearn import get_method

    methods = [str(m).strip() for m in methods if str(m).strip()]
    if not methods:
        raise BamuInputError("methods is empty: give at least one unlearning method")
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
    seed_list = _check_seeds([seed] if seeds is None else seeds)
    factory = callable(subject) and not isinstance(subject, Subject)
    if not factory and len(seed_list) > 1:
        raise BamuInputError(
            "several seeds need a new subject per seed: pass a factory such as SubjectRecipe(scenario=...) "
            "instead of one Subject"
        )
    if isinstance(subject, Subject) and subject.scenario is not None:
        # a factory's subjects are checked by each run as they are built
        require_training_rows(subject.scenario, doing="a sweep of unlearning runs")
    if executor is None:
        rows, befores, first = _sweep_here(
            subject, factory, seed_list, methods, levels, forget, device, progress, should_stop, unlearn_options
        )
    else:
        rows, befores, first = _sweep_on(
            subject,
            factory,
            seed_list,
            methods,
            levels,
            forget,
            device,
            executor,
            progress,
            should_stop,
            unlearn_options,
        )
    return _result(rows, befores, first, methods, levels, seed_list, device)


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    try:
        out = [int(s) for s in seeds]
    except (TypeError, ValueError):
        raise BamuInputError(f"seeds must be whole numbers >= 0, got {list(seeds)!r}") from None
    if not out:
        raise BamuInputError("seeds is empty: give at least one seed")
    if any(s < 0 for s in out) or any(int(s) != s for s in seeds):
        raise BamuInputError(f"seeds must be whole numbers >= 0, got {list(seeds)!r}")
    if len(set(out)) != len(out):
        raise BamuInputError(f"seeds repeat: {out}")
    return out


def _sweep_here(subject, factory, seed_list, methods, levels, forget, device, progress, should_stop, options):
    """The runs one after another in this process, each seed's original audited by its first run."""
    rows: list[SweepRow] = []
    befores: list[AuditResult] = []
    first = None
    total = len(seed_list) * len(methods) * len(levels)
    stopped = False
    for s in seed_list:
        if stopped or (should_stop is not None and should_stop()):
            break
        subj = subject(s) if factory else subject
        first = first or subj
        before = None
        for m in methods:
            for x in levels:
                if should_stop is not None and should_stop():
                    stopped = True
                    break
                try:
                    result = unlearn(
                        subj,
                        method=m,
                        intensity=x,
                        forget=forget,
                        device=device,
                        seed=s,
                        should_stop=should_stop,
                        original_audit=before,
                        **options,
                    )
                    row = sweep_row(result)
                    before = before or result.before
                except (KeyboardInterrupt, ValueError):
                    raise
                except StopRequested:  # cancelled: the rows so far are the sweep
                    stopped = True
                    break
                except Exception as exc:  # one failing configuration does not end the sweep
                    row = SweepRow(method=m, intensity=x, status="failed", message=f"{type(exc).__name__}: {exc}")
                row.seed = s
                rows.append(row)
                if progress is not None:
                    progress(ProgressEvent(step=len(rows), total=total, phase="sweep", detail=row))
            if stopped:
                break
        if before is None and not stopped:  # every run failed: measure the original directly
            before = audit(subj, device=device, saliency_per_group=0)
        if before is not None:
            befores.append(before)
    if first is None:  # stopped before the first seed
        first = subject(seed_list[0]) if factory else subject
    return rows, befores, first


def _sweep_on(subject, factory, seed_list, methods, levels, forget, device, executor, progress, should_stop, options):
    """One task per configuration on ``executor``; the original of each seed audited here first."""
    from ..execution import get_executor
    from ..metrics import DEFAULT_N_BOOT
    from .sweep_tasks import SweepTask, run_sweep_task, store_collected

    store = options.pop("store", None)
    ex = get_executor(executor)
    subjects = {s: subject(s) if factory else subject for s in seed_list}  # trains and caches baselines here
    audit_options = {
        "device": device,
        "n_boot": options.get("n_boot", DEFAULT_N_BOOT),
        "saliency_per_group": options.get("saliency_per_group", 0),
        "insight": options.get("insight"),
    }
    befores = {s: audit(subj, seed=s, **audit_options) for s, subj in subjects.items()}
    tasks = [
        SweepTask(
            method=m,
            intensity=x,
            seed=s,
            forget=forget,
            device=device,
            options=options,
            original_audit=befores[s],
            keep_run=store is not None,
        )
        for s in seed_list
        for m in methods
        for x in levels
    ]
    # a Ray worker rebuilds a factory's subject (loading the cached baseline) instead of receiving it
    remote = getattr(ex, "name", "") == "ray" and factory
    source = subject if remote else subjects
    rows: dict[int, SweepRow] = {}

    def finished(outcome, done, total):
        task = tasks[outcome.index]
        if outcome.ok:
            row = outcome.value.row
            if store is not None and outcome.value.run is not None:
                try:
                    row.run_id = store_collected(store, outcome.value.run)
                except Exception as exc:  # the row still counts; say why the run is not in the store
                    row.message = f"{row.message} (not stored: {type(exc).__name__}: {exc})".strip()
        elif outcome.failure.kind == "cancelled":
            return
        else:
            row = SweepRow(
                method=task.method,
                intensity=task.intensity,
                seed=task.seed,
                status="failed",
                message=outcome.failure.error,
            )
        rows[outcome.index] = row
        if progress is not None:
            progress(ProgressEvent(step=len(rows), total=total, phase="sweep", detail=row))

    with ex:
        ex.map(run_sweep_task, tasks, shared=source, progress=finished, should_stop=should_stop)
    ordered = [rows[i] for i in sorted(rows)]
    return ordered, [befores[s] for s in seed_list], subjects[seed_list[0]]


def _result(rows, befores, first, methods, levels, seed_list, device) -> SweepResult:
    from ..scoring import pareto_front

    front = pareto_front([r.to_json() if r.status != "failed" else {} for r in rows], x="accuracy", y="fairness")
    for i in front:
        rows[i].pareto = True
    if not befores:  # cancelled before any run finished: measure the original directly
        befores = [audit(first, device=device, saliency_per_group=0)]
    accs = [b.utility.accuracy for b in befores]
    dps = [b.fairness.demographic_parity_difference for b in befores]
    acc0 = None if any(a is None for a in accs) else float(np.mean(accs))
    dp0 = None if any(d is None for d in dps) else float(np.mean(dps))
    if len(befores) == 1:  # the original's own numbers, unrounded
        acc0, dp0 = accs[0], dps[0]
    before_point = SweepPoint(accuracy=acc0, fairness=None if dp0 is None else 1.0 - dp0, dp=dp0)
    seeds = f" x {len(seed_list)} seeds" if len(seed_list) > 1 else ""
    grid = f"{len(methods)} method(s) x {len(levels)} intensities{seeds}"
    title = f"{first.scenario.title}: fairness vs test accuracy, {grid}"
    return SweepResult(rows=rows, front=front, before=before_point, title=title)
