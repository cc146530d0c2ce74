"""Streamlit building blocks shared by the dashboard's pages (``app.py``, ``pages/*.py``).

Session state (per browser tab) lives in ``st.session_state``: the chosen :class:`SubjectSpec`,
the group attribute, the ids of this session's jobs, its upload folder. Heavy objects live in
``st.cache_resource``: loaded subjects (shared by sessions) and audit results. Long computations
run as :mod:`bamu_core.jobs` jobs, so that they survive page switches.

Streamlit is imported inside the functions: ``import bamu_core`` never needs it.
"""
from __future__ import annotations

import functools
import uuid
from pathlib import Path
from typing import Any, Callable

from .jobs import Job, default_manager
from .ui_state import (
    COLOURS,
    DEMO_SCENARIO,
    SubjectSpec,
    SubjectStore,
    UploadDir,
    user_message,
    with_group_attr,
)

__all__ = [
    "setup",
    "enter_page",
    "session_id",
    "compute_threads",
    "current_spec",
    "set_spec",
    "subject_status",
    "require_subject",
    "audit_for",
    "job_panel",
    "sidebar",
    "show_error",
    "page_failed",
    "chart",
    "uploads",
    "submit_job",
    "session_job",
    "collect_unlearn",
    "device_description",
    "forget_preview",
    "gallery_for",
]

ASSETS = Path(__file__).resolve().parent.parent / "assets"
APP = ASSETS.parent / "app.py"


# ------------------------------------------------------------------------------------------------
# cached resources
# ------------------------------------------------------------------------------------------------


@functools.cache
def _resource(factory: Callable, max_entries: int | None = None):
    import streamlit as st

    return st.cache_resource(show_spinner=False, max_entries=max_entries)(factory)


def _new_subject_store() -> SubjectStore:
    return SubjectStore(capacity=4)


def subject_store() -> SubjectStore:
    """Loaded subjects, shared by every session of this server (``st.cache_resource``)."""
    return _resource(_new_subject_store)()


def _compute_audit(spec_key: str, group_attr: str | None, split: str) -> dict:
    from .workflows import audit

    subject = subject_store().get(spec_key)
    if subject is None:
        raise ValueError("the model and data are no longer loaded; open the Load page to load them again")
    return audit(with_group_attr(subject, group_attr), split=split)


def audit_for(spec: SubjectSpec, group_attr: str | None, split: str = "test") -> dict:
    """The audit of the loaded subject (``st.cache_resource``, one evaluation per combination)."""
    return _resource(_compute_audit, 32)(spec.key, group_attr, split)


def _compute_gallery(spec_key: str, group_attr: str | None, k: int, rule: str, seed: int, region, model_key: str | None):
    from .explain import group_gallery

    subject = subject_store().get(spec_key)
    if subject is None:
        raise ValueError("the model and data are no longer loaded; open the Load page to load them again")
    subject = with_group_attr(subject, group_attr)
    model = subject.model if model_key is None else _models().get(model_key)
    if model is None:
        raise ValueError("the unlearned model is no longer in memory; run the unlearning again")
    sc = subject.scenario
    return group_gallery(model, sc.test, k=k, rule=rule, seed=seed, region=region, class_names=sc.class_names)


def gallery_for(spec: SubjectSpec, group_attr: str | None, *, k: int, rule: str, seed: int = 0, region=None, model_key=None):
    """A Grad-CAM gallery of the loaded model (or a stored unlearned model) on the test split, cached."""
    region = None if region is None else tuple(int(v) for v in region)
    return _resource(_compute_gallery, 32)(spec.key, group_attr, int(k), rule, int(seed), region, model_key)


def _compute_forget(spec_key: str, group_attr: str | None, strategy: str, options: tuple):
    from .forget import select_forget

    subject = subject_store().get(spec_key)
    if subject is None:
        raise ValueError("the model and data are no longer loaded; open the Load page to load them again")
    subject = with_group_attr(subject, group_attr)
    return select_forget(subject.scenario, strategy, model=subject.model, **dict(options))


def forget_preview(spec: SubjectSpec, group_attr: str | None, strategy: str, options: dict | None = None):
    """The forget set a strategy selects on the loaded subject (cached; raises ``ValueError`` when empty)."""
    return _resource(_compute_forget, 32)(spec.key, group_attr, strategy, tuple(sorted((options or {}).items())))


def _new_model_store() -> SubjectStore:
    return SubjectStore(capacity=8)


def _models() -> SubjectStore:
    """Unlearned models of finished runs by run key (``st.cache_resource``), for Grad-CAM after."""
    return _resource(_new_model_store)()


def keep_model(key: str, model) -> None:
    _models().put(key, model)


def has_model(key: str | None) -> bool:
    return key is not None and key in _models()


# ------------------------------------------------------------------------------------------------
# session
# ------------------------------------------------------------------------------------------------


def setup() -> None:
    """Per-run setup: CSS, a session id, the built-in demo as the default subject."""
    import streamlit as st

    css = ASSETS / "style.css"
    if css.is_file():
        st.html(f"<style>{css.read_text(encoding='utf-8')}</style>")
    _set_threads_once()
    ss = st.session_state
    ss.setdefault("sid", uuid.uuid4().hex)
    if "spec" not in ss:
        ss["spec"] = SubjectSpec(scenario=DEMO_SCENARIO)
        ss["group_attr"] = None


@functools.cache
def _set_threads_once() -> int:
    import torch

    n = compute_threads()
    torch.set_num_threads(n)
    return n


def enter_page() -> None:
    """First line of every page: make sure the page runs inside ``app.py``'s navigation.

    Streamlit starts in its older "pages directory" mode whenever a ``pages/`` folder exists, and
    leaves it only when a script calls ``st.navigation``. The first visit of a fresh server to a
    page's own address (``/audit``) would run that page alone, without the app's setup and
    sidebar. Here ``app.py`` is run instead, in the same script run (so a button click is not
    lost): its ``st.navigation`` leaves that mode and runs this page inside the app; then the
    outer, lone run of the page stops.
    """
    import runpy

    import streamlit as st
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        runpy.run_path(str(APP), run_name="__main__")
        st.stop()


def session_id() -> str:
    import streamlit as st

    return st.session_state.setdefault("sid", uuid.uuid4().hex)


def current_spec() -> SubjectSpec:
    import streamlit as st

    return st.session_state.get("spec") or SubjectSpec(scenario=DEMO_SCENARIO)


def set_spec(spec: SubjectSpec) -> None:
    """Make ``spec`` this session's subject (its loading starts on the next status check)."""
    import streamlit as st

    if st.session_state.get("spec") != spec:
        st.session_state["spec"] = spec
        st.session_state["group_attr"] = None


def uploads() -> UploadDir:
    """This session's private upload folder (removed when the session ends)."""
    import streamlit as st

    folder = st.session_state.get("uploads")
    if folder is None or not folder.alive:
        folder = UploadDir()
        st.session_state["uploads"] = folder
    return folder


# ------------------------------------------------------------------------------------------------
# jobs
# ------------------------------------------------------------------------------------------------


def _device_name() -> str:
    from ._compat import pick_device

    try:
        return str(pick_device())
    except ValueError:
        return "cpu"


def compute_threads() -> int:
    """CPU threads for the jobs' torch work: ``$BAMU_THREADS``, else all cores but one.

    The dashboard's process also serves the browser; leaving it a core keeps the pages responsive,
    and on a 2-core machine one compute thread trains the demo's small CNN several times faster
    than two threads competing with the web server (see README, Dashboard).
    """
    import os

    env = os.environ.get("BAMU_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, (os.cpu_count() or 2) - 1)


def _with_threads(fn: Callable) -> Callable:
    def run(progress, should_stop):
        import torch

        torch.set_num_threads(compute_threads())
        return fn(progress, should_stop)

    return run


def submit_job(fn: Callable, *, kind: str, label: str, meta: dict | None = None, shared: bool = False) -> Job:
    """Queue ``fn(progress, should_stop)`` on this machine's compute device for this session."""
    import streamlit as st

    job = default_manager().submit(
        _with_threads(fn), kind=kind, label=label, owner="" if shared else session_id(), device=_device_name(), meta=meta
    )
    st.session_state.setdefault("job_ids", {})[kind] = job.id
    return job


def session_job(kind: str) -> Job | None:
    """This session's latest job of ``kind`` (None when there is none or it was forgotten)."""
    import streamlit as st

    return default_manager().get(st.session_state.get("job_ids", {}).get(kind))


def device_description() -> str:
    """The compute device jobs run on, in words (e.g. ``cpu (2 threads)``, ``cuda (NVIDIA H100)``)."""
    from ._compat import describe_device, pick_device

    try:
        return describe_device(pick_device()).replace("(1 threads)", "(1 thread)")
    except ValueError as exc:
        return f"cpu ({exc})"


def collect_unlearn(job: Job | None) -> dict | None:
    """The JSON of a finished unlearning job (once per job: its model is kept for Grad-CAM, the
    session's ``last_run`` set, a ``retrain`` run remembered as the oracle). None if it has none."""
    import streamlit as st

    if job is None:
        return None
    done = st.session_state.setdefault("collected", {})
    if job.id not in done:
        if job.result is None or job.state not in ("done", "cancelled"):
            return None
        run = job.result
        summary = run.to_json() if hasattr(run, "to_json") else dict(run)
        key = summary.get("run_id") or job.id
        if getattr(run, "model", None) is not None:
            keep_model(key, run.model)
        summary["model_key"] = key
        if summary.get("method") == "retrain":
            from .ui_state import oracle_summary

            meta = job.meta
            st.session_state.setdefault("oracles", {})[(meta.get("spec_key"), meta.get("attr"), meta.get("forget"))] = oracle_summary(summary)
        else:
            st.session_state["last_run"] = summary
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
    store = subject_store()
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


def load_phase(ev) -> str:
    """What a loading job's event counts: events without a loss come from reading an official
    dataset's images, the others from training the baseline."""
    return "reading images" if ev.loss != ev.loss else "training the baseline"


def require_subject():
    """The session's loaded subject (with its group attribute), or show why not and stop the page."""
    import streamlit as st

    spec = current_spec()
    status, subject, job = subject_status(spec)
    if status == "ready":
        return with_group_attr(subject, st.session_state.get("group_attr"))
    if status == "loading":
        st.info(f"Loading **{spec.describe()}** (training the baseline on first use) ...")
        job_panel(job, title="Loading", curve=False, phase=load_phase)
    elif status == "failed":
        show_error(job.error or "loading failed", doing="load the model and data", hint="Change the choice on the Load page.")
        if st.button("Try again", key="retry_load"):
            start_loading(spec)
            st.rerun()
    else:
        st.warning("Loading was cancelled.")
        if st.button("Load again", key="reload"):
            start_loading(spec)
            st.rerun()
    st.stop()


def _is_fragment_rerun() -> bool:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(getattr(ctx, "fragment_ids_this_run", None)) if ctx is not None else False


def _render_job(job_id: str, title: str, curve: bool, phase=None) -> None:
    try:
        _render_job_body(job_id, title, curve, phase)
    except Exception as exc:  # the fragment reruns on its own: never let it show a traceback
        page_failed(exc)


def _render_job_body(job_id: str, title: str, curve: bool, phase=None) -> None:
    import streamlit as st

    manager = default_manager()
    job = manager.get(job_id)
    if job is None:
        st.warning("This job is no longer known (the dashboard was restarted). Start it again.")
        return
    if not job.active:
        if _is_fragment_rerun():
            st.rerun()  # redraw the whole page with the result
        return
    ev = job.latest
    if job.state == "queued":
        pos = manager.queue_position(job) or 1
        st.info(
            f"{title}: waiting for the {job.device} device, which runs one job at a time; "
            f"this job is number {pos} in its queue."
        )
    else:
        text = progress_text(title, ev, phase)
        st.progress(job.fraction, text=f"{text} · {job.elapsed:.0f} s on {job.device}")
        if job.cancel_requested:
            st.caption("Stopping at the next step ...")
    if curve and ev is not None:
        from .ui_charts import loss_curve

        chart(
            loss_curve(job.history(), title="Live loss"),
            "What am I looking at: the training loss at every step of the running job "
            "(and the validation fairness gap when the method reports it). It refreshes every second.",
            key=f"curve_{job.id}",
        )
    if st.button("Cancel", key=f"cancel_{job.id}", disabled=job.cancel_requested, type="secondary"):
        manager.cancel(job.id)
        st.rerun()


def progress_text(title: str, ev, phase=None) -> str:
    """The progress bar's line for the latest event ``ev`` (None before the first)."""
    if ev is None:
        return f"{title}: preparing ..."
    loss = f", loss {ev.loss:.3f}" if ev.loss == ev.loss and abs(ev.loss) != float("inf") else ""
    what = f" ({phase(ev)})" if phase is not None else ""
    return f"{title}{what}: step {ev.step} of {ev.total}{loss}"


@functools.cache
def _job_fragment():
    import streamlit as st

    return st.fragment(run_every=1.0)(_render_job)


def job_panel(job: Job, *, title: str, curve: bool = True, phase=None) -> None:
    """A live panel for ``job`` (progress bar, queue position, loss curve, cancel) refreshing every second.

    ``phase(event)``, when given, names what the latest progress event counts (shown after the
    title). When the job finishes the page reruns to show its result.
    """
    _job_fragment()(job.id, title, curve, phase)


# ------------------------------------------------------------------------------------------------
# display helpers
# ------------------------------------------------------------------------------------------------


def show_error(exc: BaseException | str, *, doing: str = "", hint: str = "") -> None:
    """``st.error`` with what went wrong and what to do, never a traceback."""
    import streamlit as st

    text = exc if isinstance(exc, str) else user_message(exc, doing=doing)
    if isinstance(exc, str) and doing:
        text = f"Could not {doing}: {exc}"
    st.error(f"{text} {hint}".strip(), icon=":material/error:")


def page_failed(exc: BaseException) -> None:
    """Last resort for an unexpected error in a page: log the traceback, show a plain message."""
    import logging

    logging.getLogger("bamu.app").error("page failed", exc_info=exc)
    show_error(exc, doing="show this page")


def chart(fig, caption: str, *, key: str | None = None) -> None:
    """A plotly chart with its "what am I looking at" caption."""
    import streamlit as st

    st.plotly_chart(fig, key=key, config={"displaylogo": False})
    st.caption(caption)


def sidebar() -> None:
    """Current dataset, model and run at a glance, and this session's active jobs."""
    import streamlit as st

    spec = current_spec()
    status, subject, _ = subject_status(spec, start=False)
    with st.sidebar:
        st.markdown("##### Now loaded")
        if status == "ready":
            sc = subject.scenario
            attr = st.session_state.get("group_attr") or sc.test.group_attr
            st.markdown(
                f"**Dataset** · {sc.name}  \n{len(sc.train)} train / {len(sc.test)} test · groups by *{attr}*  \n"
                f"**Model** · {subject.arch}  \n{subject.model_source}"
            )
        elif status == "loading":
            st.markdown(f"**Loading** · {spec.describe()} ...")
        else:
            st.markdown(f"**Not loaded** · {spec.describe()}")
        run = st.session_state.get("last_run")
        if run:
            st.markdown(
                f"**Run** · {run.get('method', '?')} @ {run.get('intensity', 0):.2f}  \n"
                f"{run.get('run_id') or 'not saved'} · {run.get('status', '')}"
            )
        else:
            st.markdown("**Run** · none yet")
        active = default_manager().jobs(owner=session_id(), active=True)
        for job in active:
            st.progress(job.fraction, text=f"{job.label} ({job.state})")
        st.markdown(
            f"<span class='bamu-legend'><b style='color:{COLOURS['before']}'>■ before</b> "
            f"<b style='color:{COLOURS['after']}'>■ after</b> "
            f"<b style='color:{COLOURS['oracle']}'>■ retrain oracle</b></span>",
            unsafe_allow_html=True,
        )
