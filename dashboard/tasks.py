"""The dashboard's background computations: functions for :mod:`bamu_core.jobs`
(``fn(progress, should_stop)``), each a :mod:`bamu_core.workflows` call. Free of Streamlit."""

from __future__ import annotations

from typing import Callable, Sequence

__all__ = ["unlearn_task", "sweep_task", "oracle_summary"]


def unlearn_task(
    subject,
    *,
    method: str,
    intensity: float,
    forget: str,
    forget_options: dict | None = None,
    hyperparameters: dict | None = None,
    seed: int = 0,
    oracle: dict | None = None,
    **options,
) -> Callable:
    """A job function running :func:`bamu_core.workflows.unlearn`, saved in the run store under
    ``BAMU_HOME`` unless ``store`` is given (``store=None``: not saved).

    ``oracle`` (from :func:`oracle_summary`) supplies the retrain oracle's forget-set accuracy and
    time, so that the forgetting and efficiency axes compare with retraining.
    """
    if oracle:
        options.setdefault("reference_forget_accuracy", oracle.get("forget_accuracy"))
        options.setdefault("retrain_seconds", oracle.get("seconds"))
        options.setdefault("reference_gap", oracle.get("gap"))

    def run(progress, should_stop):
        from bamu_core.runs import RunStore
        from bamu_core.workflows import unlearn

        if "store" not in options:
            options["store"] = RunStore()
        return unlearn(
            subject,
            method=method,
            intensity=float(intensity),
            forget=forget,
            forget_options=forget_options or None,
            hyperparameters=hyperparameters or None,
            seed=int(seed),
            progress=progress,
            should_stop=should_stop,
            **options,
        )

    return run


def sweep_task(
    subject,
    *,
    methods: Sequence[str],
    intensities: Sequence[float],
    forget: str,
    forget_options: dict | None = None,
    seed: int = 0,
    executor: str | None = None,
) -> Callable:
    """A job function running :func:`bamu_core.workflows.sweep` (runs not saved: a sweep is exploration).

    ``executor`` ``"ray"`` runs the configurations as tasks on an embedded local Ray (all CPUs,
    started and stopped by the job); ``None`` runs them one after another in the job's thread.
    """

    def run(progress, should_stop):
        from bamu_core.workflows import sweep

        return sweep(
            subject,
            methods=list(methods),
            intensities=[float(x) for x in intensities],
            forget=forget,
            forget_options=forget_options or None,
            seed=int(seed),
            progress=progress,
            should_stop=should_stop,
            store=None,
            gradcam_images=0,
            executor=executor,
        )

    return run


def oracle_summary(run) -> dict:
    """What later runs need from a ``retrain`` run: its radar, forget-set accuracy, fairness gap
    (the target of the fairness axis) and time."""
    return {
        "radar": run.radar.after.present() if run.radar.after is not None else {},
        "gap": run.after.fairness.demographic_parity_difference if run.after is not None else None,
        "forget_accuracy": run.forget.accuracy_after,
        "seconds": run.seconds,
        "run_id": run.run_id,
    }
