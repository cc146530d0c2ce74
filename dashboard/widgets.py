"""Streamlit building blocks shared by the dashboard's pages (``app.py``, ``pages/*.py``): the
per-run setup, the page guard, the loaded subject or why not, a live job panel, error messages and
the sidebar."""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from bamu_core.jobs import Job, default_manager

from . import jobs, state
from .charts import COLOURS, chart, loss_curve
from .errors import user_message
from .subjects import with_group_attr

__all__ = [
    "setup",
    "enter_page",
    "require_subject",
    "job_panel",
    "progress_text",
    "show_error",
    "audit_warnings",
    "run_verdict",
    "page_failed",
    "sidebar",
    "scenario_variant",
]

ASSETS = Path(__file__).resolve().parent.parent / "assets"
APP = ASSETS.parent / "app.py"


def setup() -> None:
    """Per-run setup: CSS, the compute threads, a session id, the built-in demo as the default subject."""
    css = ASSETS / "style.css"
    if css.is_file():
        st.html(f"<style>{css.read_text(encoding='utf-8')}</style>")
    jobs.set_threads_once()
    state.init_session()


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

    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        runpy.run_path(str(APP), run_name="__main__")
        st.stop()


def require_subject():
    """The session's loaded subject (with its group attribute), or show why not and stop the page."""
    spec = state.current_spec()
    status, subject, job = jobs.subject_status(spec)
    if status == "ready":
        return with_group_attr(subject, state.group_attr())
    if status == "loading":
        st.info(f"Loading **{spec.describe()}** (training the baseline on first use) ...")
        job_panel(job, title="Loading", curve=False, phase=jobs.load_phase)
    elif status == "failed":
        show_error(
            job.error or "loading failed", doing="load the model and data", hint="Change the choice on the Load page."
        )
        if st.button("Try again", key="retry_load"):
            jobs.start_loading(spec)
            st.rerun()
    else:
        st.warning("Loading was cancelled.")
        if st.button("Load again", key="reload"):
            jobs.start_loading(spec)
            st.rerun()
    st.stop()


# ------------------------------------------------------------------------------------------------
# the live job panel
# ------------------------------------------------------------------------------------------------


def _is_fragment_rerun() -> bool:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(getattr(ctx, "fragment_ids_this_run", None)) if ctx is not None else False


@st.fragment(run_every=1.0)
def _render_job(job_id: str, title: str, curve: bool, phase=None) -> None:
    try:
        _render_job_body(job_id, title, curve, phase)
    except Exception as exc:  # the fragment reruns on its own: never let it show a traceback
        page_failed(exc)


def _render_job_body(job_id: str, title: str, curve: bool, phase=None) -> None:
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
        own = any(j.state == "running" and j.lane == job.lane for j in manager.queue(job.device))
        why = (
            "this session's earlier job on it runs first (one job at a time per session)"
            if own
            else f"it runs at most {_jobs_words(manager.max_concurrent)} at once, shared in turn between sessions"
        )
        st.info(f"{title}: waiting for the {job.device} device: {why}; this job is number {pos} in its queue.")
    else:
        text = progress_text(title, ev, phase)
        st.progress(job.fraction, text=f"{text} · {job.elapsed:.0f} s on {job.device}{eta_text(job)}")
        if job.cancel_requested:
            st.caption("Stopping at the next step ...")
    if curve and ev is not None:
        chart(
            loss_curve(job.history(), title="Live loss"),
            "What am I looking at: the training loss at every step of the running job "
            "(and the validation fairness gap when the method reports it). It refreshes every second.",
            key=f"curve_{job.id}",
        )
    if st.button("Cancel", key=f"cancel_{job.id}", disabled=job.cancel_requested, type="secondary"):
        manager.cancel(job.id)
        st.rerun()


def _jobs_words(n: int) -> str:
    return "one job" if n == 1 else f"{n} jobs"


def time_words(run) -> str:
    """ "12.3 s in all (4.1 s unlearning, 8.2 s measuring)": the wait the user had, and its parts."""
    unlearning = float(run.seconds or 0.0)
    total = float(sum(v for v in (run.timings or {}).values() if isinstance(v, (int, float))))
    if total <= unlearning + 0.05:
        return f"{unlearning:.1f} s of unlearning"
    rest = total - unlearning
    return f"{total:.1f} s in all ({unlearning:.1f} s unlearning, {rest:.1f} s measuring before and after)"


def region_words(region) -> str:
    """A bias region ``(top, left, height, width)`` in words: "rows 27-31, columns 27-31 (5 x 5 pixels)"."""
    top, left, h, w = (int(v) for v in region)
    return f"rows {top}-{top + h - 1}, columns {left}-{left + w - 1} ({h} x {w} pixels)"


def eta_text(job) -> str:
    """`` · about N s left`` from the elapsed time and the share done (once 5 % is done), else ``""``."""
    done, elapsed = job.fraction, job.elapsed
    if not 0.05 <= done < 1.0 or elapsed <= 0:
        return ""
    left = elapsed * (1.0 - done) / done
    return f" · about {left:.0f} s left" if left < 120 else f" · about {left / 60:.0f} min left"


def progress_text(title: str, ev, phase=None) -> str:
    """The progress bar's line for the latest event ``ev`` (None before the first)."""
    if ev is None:
        return f"{title}: preparing ..."
    loss = f", loss {ev.loss:.3f}" if ev.loss == ev.loss and abs(ev.loss) != float("inf") else ""
    named = phase(ev) if phase is not None else ""
    what = f" ({named})" if named else ""
    return f"{title}{what}: step {ev.step} of {ev.total}{loss}"


def job_panel(job: Job, *, title: str, curve: bool = True, phase=None) -> None:
    """A live panel for ``job`` (progress bar, queue position, loss curve, cancel) refreshing every second.

    ``phase(event)``, when given, names what the latest progress event counts (shown after the
    title). When the job finishes the page reruns to show its result.
    """
    _render_job(job.id, title, curve, phase)


# ------------------------------------------------------------------------------------------------
# messages and the sidebar
# ------------------------------------------------------------------------------------------------


def audit_warnings(result, *, after: bool = False) -> None:
    """One ``st.warning`` line per warning of an audit (:attr:`AuditResult.warnings`); nothing without any."""
    for w in (result.warnings if result is not None else None) or ():
        st.warning(f"**Read with care{' (after unlearning)' if after else ''}:** {w.message}", icon=":material/report:")


def run_verdict(run) -> None:
    """The top of the Compare page: the run in plain words, the after audit's warnings, and the
    headline numbers before and after (each with its glossary tooltip)."""
    from bamu_core.report import GAP_PLAIN, gap_key, verdict

    from .glossary import GAP_METRIC_LABELS, help_for

    st.markdown(f"##### In plain words\n{verdict(run)}")
    audit_warnings(run.after, after=True)
    if run.before is None or run.after is None:
        return
    key = gap_key(run)
    label = GAP_METRIC_LABELS[key]
    b, a = run.before, run.after
    cols = st.columns(3)
    pairs = (
        ("Accuracy", b.utility.accuracy, a.utility.accuracy, "normal"),
        ("Worst-group accuracy", b.fairness.worst_group_accuracy, a.fairness.worst_group_accuracy, "normal"),
        (label, b.fairness.gap(key), a.fairness.gap(key), "inverse"),
    )
    for col, (name, before, after, colour) in zip(cols, pairs):
        if before is None or after is None:
            continue
        col.metric(
            name,
            f"{after:.3f}",
            delta=f"{after - before:+.3f} (was {before:.3f})",
            delta_color=colour,
            help=help_for(name) or GAP_PLAIN[key][0],
        )


def show_error(exc: BaseException | str, *, doing: str = "", hint: str = "") -> None:
    """``st.error`` with what went wrong and what to do, never a traceback."""
    text = exc if isinstance(exc, str) else user_message(exc, doing=doing)
    if isinstance(exc, str) and doing:
        text = f"Could not {doing}: {exc}"
    st.error(f"{text} {hint}".strip(), icon=":material/error:")


def page_failed(exc: BaseException) -> None:
    """Last resort for an unexpected error in a page: log the traceback, show a plain message."""
    logging.getLogger("bamu.app").error("page failed", exc_info=exc)
    show_error(exc, doing="show this page")


def run_status(run) -> None:
    """A run's status in words with its message: a success box only for a run that improved
    fairness (``ok``, ``stopped_early``); ``no_change``, ``diverged`` and the rest are warnings."""
    from bamu_core.unlearn import SUCCESS_STATUSES, status_label

    box = st.success if run.status in SUCCESS_STATUSES else st.warning
    box(f"**{status_label(run.status).capitalize()}** · {run.message}")


def search_chart(run, *, key: str) -> None:
    """What ``auto`` tried: its candidates on the held-out validation halves, as a chart."""
    from .charts import candidates_figure, chart

    search = run.search or {}
    fit, choose = search.get("fit_per_group", {}), search.get("choose_per_group", {})
    chart(
        candidates_figure(search),
        "What am I looking at: every setting auto tried, judged on validation images it did not select on "
        f"({sum(fit.values())} + {sum(choose.values())}, each half in turn). Up is more of the gap closed, right "
        "is higher accuracy; hollow points broke the accuracy bound or a class's recall; the dashed line joins "
        "the Pareto set; the ring is the choice. The test split chose nothing.",
        key=f"{key}_chart",
    )


def search_table(run, *, key: str) -> None:
    """What ``auto`` tried, one row per candidate."""
    from .tables import candidates_table

    st.dataframe(
        candidates_table(run.search or {}), hide_index=True, width="stretch", height="content", key=f"{key}_table"
    )


def search_panel(run, *, key: str) -> None:
    """The chart and the table of :func:`search_chart` and :func:`search_table`."""
    search_chart(run, key=key)
    search_table(run, key=key)


def sidebar() -> None:
    """Current dataset, model and run at a glance, and this session's active jobs."""
    spec = state.current_spec()
    status, subject, _ = jobs.subject_status(spec, start=False)
    with st.sidebar:
        st.markdown("##### Now loaded")
        if status == "ready":
            sc = subject.scenario
            attr = state.group_attr() or sc.test.group_attr
            st.markdown(
                f"**Dataset** · {sc.name}  \n{len(sc.train)} train / {len(sc.test)} test · groups by *{attr}*  \n"
                f"**Model** · {subject.arch}  \n{subject.model_source}"
            )
        elif status == "loading":
            st.markdown(f"**Loading** · {spec.describe()} ...")
        else:
            st.markdown(f"**Not loaded** · {spec.describe()}")
        run = state.last_run()
        if run:
            from bamu_core.unlearn import status_label

            st.markdown(
                f"**Run** · {run.method or '?'} @ {run.intensity:.2f}  \n{run.run_id or 'not saved'} · "
                f"{status_label(run.status)}"
            )
        else:
            st.markdown("**Run** · none yet")
        for job in jobs.active_jobs():
            st.progress(job.fraction, text=f"{job.label} ({job.state})")
        st.markdown(
            f"<span class='bamu-legend'><b style='color:{COLOURS['before']}'>■ before</b> "
            f"<b style='color:{COLOURS['after']}'>■ after</b> "
            f"<b style='color:{COLOURS['oracle']}'>■ retrain oracle</b></span>",
            unsafe_allow_html=True,
        )


def scenario_variant(name: str, current: dict | None = None) -> dict:
    """The Load page's "Variant" expander for a built-in scenario that has one (``patch-cifar10``:
    target class, corner, patch size and pattern) and the options chosen in it; ``{}`` for the
    others. Its widgets start at ``current`` (the loaded spec's options), else at the scenario's
    defaults; the defaults are the scenario as it is without options."""
    if name != "patch-cifar10":
        return {}
    from bamu_core.data import CIFAR_CLASSES, PATCH_CORNERS, PATCH_PATTERNS, scenario_options

    start = {**scenario_options(name), **(current or {})}
    with st.expander("Variant", expanded=bool(current)):
        c1, c2, c3, c4 = st.columns(4)
        chosen = {
            "target_class": c1.selectbox(
                "Target class",
                CIFAR_CLASSES,
                index=CIFAR_CLASSES.index(start["target_class"]),
                key="load_patch_target",
                persist_state="session",
                help="The class whose training images mostly carry the patch: the shortcut a model learns.",
            ),
            "corner": c2.selectbox(
                "Corner",
                PATCH_CORNERS,
                index=PATCH_CORNERS.index(start["corner"]),
                key="load_patch_corner",
                persist_state="session",
            ),
            "patch_size": int(
                c3.number_input(
                    "Patch size (pixels)",
                    min_value=1,
                    max_value=16,
                    value=int(start["patch_size"]),
                    step=1,
                    key="load_patch_size",
                    persist_state="session",
                )
            ),
            "pattern": c4.selectbox(
                "Pattern",
                list(PATCH_PATTERNS),
                index=list(PATCH_PATTERNS).index(start["pattern"]),
                key="load_patch_pattern",
                persist_state="session",
                help="checkerboard: white and black squares; solid: one colour (red); stripes: yellow and blue.",
            ),
        }
        st.caption(
            "The defaults are the scenario's usual shortcut (an airplane, a 5x5 checkerboard bottom-right). "
            "Another variant trains its own baseline, and unlearning uses the generic settings: the tuned ones "
            "are for the default variant only."
        )
    return chosen
