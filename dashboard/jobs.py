"""Running the dashboard's long computations as :mod:`bamu_core.jobs` jobs, so that they survive
page switches: submitting this session's jobs, loading the chosen subject (a job shared by the
sessions that ask for it), collecting a finished unlearning run, the compute device and threads.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

import streamlit as st

from bamu_core.jobs import Job, default_manager
from bamu_core.results import UnlearnReport
from bamu_core.workflows import compute_device

from . import keys, state
from .subjects import SubjectSpec
from .tasks import oracle_summary

__all__ = [
    "compute_threads",
    "set_threads_once",
    "device_description",
    "submit_job",
    "session_job",
    "active_jobs",
    "collect_unlearn",
    "start_loading",
    "subject_status",
    "load_phase",
]


def _device_name() -> str:
    return compute_device()[0]


def device_description() -> str:
    """The compute device jobs run on, in words (e.g. ``cpu (2 threads)``, ``cuda (NVIDIA H100)``)."""
    return compute_device()[1]


def compute_threads() -> int:
    """CPU threads for the jobs' torch work: ``$BAMU_THREADS``, else all cores but one.

    The dashboard's process also serves the browser; leaving it a core keeps the pages responsive,
    and on a 2-core machine one compute thread trains the demo's small CNN several times faster
    than two threads competing with the web server (see README, Dashboard).
    """
    env = os.environ.get("BAMU_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, (os.cpu_count() or 2) - 1)


@functools.cache
def set_threads_once() -> int:
    """Give torch :func:`compute_threads` threads (once per process)."""
    import torch

    n = compute_threads()
    torch.set_num_threads(n)
    return n


def _with_threads(fn: Callable) -> Callable:
    def run(progress, should_stop):
        import torch

        torch.set_num_threads(compute_threads())
        return fn(progress, should_stop)

    return run


def submit_job(fn: Callable, *, kind: str, label: str, meta: dict | None = None, shared: bool = False) -> Job:
    """Queue ``fn(progress, should_stop)`` on this machine's compute device for this session.

    The job runs in this session's lane (see :mod:`bamu_core.jobs`): it starts at once unless this
    session already runs a job there or the device runs its maximum of jobs of other sessions."""
    job = default_manager().submit(
        _with_threads(fn),
        kind=kind,
        label=label,
        owner="" if shared else state.session_id(),
        device=_device_name(),
        meta=meta,
        lane=state.session_id(),  # a shared job waits in the lane of the session that asked for it
    )
    st.session_state.setdefault(keys.JOB_IDS, {})[kind] = job.id
    return job


def session_job(kind: str, spec_key: str | None = None) -> Job | None:
    """This session's latest job of ``kind`` (None when there is none or it was forgotten); with
    ``spec_key``, only if it was started on that subject."""
    job = default_manager().get(st.session_state.get(keys.JOB_IDS, {}).get(kind))
    if job is not None and spec_key is not None and job.meta.get("spec_key") != spec_key:
        return None
    return job


def active_jobs() -> list[Job]:
    """This session's queued and running jobs."""
    return default_manager().jobs(owner=state.session_id(), active=True)


def collect_unlearn(job: Job | None) -> UnlearnReport | None:
    """The report of a finished unlearning job, without its model (once per job: the model is kept
    in the model store for Grad-CAM, the session's latest run set, a ``retrain`` run remembered as
    the oracle). None if it has none."""
    if job is None:
        return None
    done = st.session_state.setdefault(keys.COLLECTED, {})
    if job.id not in done:
        if job.result is None or job.state not in ("done", "cancelled"):
            return None
        run = job.result
        summary = UnlearnReport.from_json(run.to_json())  # the measurements only: no model, no method result
        key = summary.run_id or job.id
        if getattr(run, "model", None) is not None:
            state.keep_model(key, run.model)
        if summary.method == "retrain":
            meta = job.meta
            state.set_oracle(meta.get("spec_key"), meta.get("attr"), meta.get("forget"), oracle_summary(summary))
        else:
            state.set_last_run(summary, job.meta.get("spec_key"))
        done[job.id] = summary
        job.result = None  # the model now lives in the model store; the summary in this session
        st.rerun()  # once per job: the sidebar (drawn before the page) shows the new run
    return done[job.id]


def _load_job(spec: SubjectSpec) -> Job | None:
    jobs = [j for j in default_manager().jobs(kind="load") if j.meta.get("spec_key") == spec.key]
    return jobs[-1] if jobs else None


def start_loading(spec: SubjectSpec) -> Job:
    """Submit the job that loads ``spec`` (shared: another session asking for it waits on it)."""
    return submit_job(
        lambda progress, should_stop: spec.load(progress=progress, should_stop=should_stop),
        kind="load",
        label=f"Load {spec.describe()}",
        meta={"spec_key": spec.key},
        shared=True,
    )


def subject_status(spec: SubjectSpec, *, start: bool = True) -> tuple[str, Any, Job | None]:
    """``(status, subject, job)`` with status ``ready``, ``loading``, ``failed``, ``cancelled`` or ``idle``.

    When nothing has loaded ``spec`` yet (and ``start``), its loading job is submitted.
    """
    store = state.subject_store()
    subject = store.get(spec.key)
    if subject is not None:
        return "ready", subject, None
    job = _load_job(spec)
    if job is not None and job.state == "done" and job.result is not None:
        store.put(spec.key, job.result)
        return "ready", job.result, job
    if job is None or (job.state == "done" and job.result is None):
        if not start:
            return "idle", None, None
        job = start_loading(spec)
    if job.active:
        return "loading", None, job
    return job.state, None, job


def unlearn_phase(ev) -> str:
    """What an unlearning job's event counts: for ``auto``, which candidate of how many runs."""
    return ev.phase[len("auto: ") :] if ev.phase.startswith("auto: ") else ""


def load_phase(ev) -> str:
    """What a loading job's event counts, from its ``phase``: reading an official
    dataset's images, the others from training the baseline."""
    return "training the baseline" if ev.phase == "training" else (ev.phase or "loading")
