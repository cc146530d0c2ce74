"""Unlearn: choose a method, an intensity and a forget set; run it in the background."""

import streamlit as st

from bamu_core import workflows
from bamu_core.report import validation_words
from bamu_core.unlearn import search_overrides
from dashboard import charts, jobs, state, tables, tasks
from dashboard import widgets as ui

ui.enter_page()
st.title("Unlearn the bias")
subject = ui.require_subject()
spec = state.current_spec()
sc = subject.scenario
attr = sc.test.group_attr
problem = workflows.training_rows_problem(sc)
if problem is not None:  # audit-only data: nothing to unlearn on
    st.warning(f"**Cannot unlearn this data:** {problem}.", icon=":material/block:")
    st.page_link("pages/audit.py", label="Audit it instead", icon=":material/analytics:")
    st.stop()
methods = workflows.unlearning_methods(sc)  # those this data can run
strategies = workflows.forget_strategies()

job = jobs.session_job("unlearn", spec.key)  # a run of a previous subject is not this one's
running = job is not None and job.active
usable = list(methods)
# auto searches the other methods on validation: the default
default_method = next((m for m in ("auto", "newton", "ga") if m in usable), usable[0])

with st.container(border=True):
    c1, c2 = st.columns([3, 2])
    method = c1.selectbox(
        "Method",
        usable,
        index=usable.index(default_method),
        key="ul_method",
        persist_state="session",
        format_func=lambda m: f"{m}: {methods[m].split(';')[0].split('(')[0].strip()}",
    )
    c1.caption(methods[method])
    depth = None
    if method == "auto":
        depth = c1.radio(
            "Search",
            ["quick", "thorough"],
            horizontal=True,
            key="ul_search_depth",
            persist_state="session",
            help="quick: DFR, group-balanced fine-tuning and (where the data can flip its attribute) counterfactual "
            "augmentation, on one validation split: about a third of the time. thorough: every method at two "
            "learning rates, each judged on both halves of the validation split.",
        )
    intensity = c2.slider(
        "Intensity",
        0.0,
        1.0,
        0.5,
        0.05,
        key="ul_intensity",
        persist_state="session",
        help="0 leaves the model unchanged; 1 is the strongest setting that keeps validation "
        "accuracy within the stated bound.",
    )
    c2.caption("How hard to push: more steps and a larger learning rate as it grows.")

    s1, s2 = st.columns([3, 2])
    names = list(strategies)
    strategy = s1.selectbox(
        "Forget set",
        names,
        index=names.index("aligned") if "aligned" in names else 0,
        key="ul_strategy",
        persist_state="session",
        format_func=lambda n: f"{n}: {strategies[n]}",
    )
    options: dict = {}
    forget_arg = strategy
    with s2:
        if strategy == "group":
            options = {
                "group": st.selectbox(f"Group ({attr})", sc.train.group_names[attr], key="ul_group"),
                "attr": attr,
            }
        elif strategy == "influence":
            k = st.number_input("How many images (k)", 1, len(sc.train) - 1, min(100, len(sc.train) // 4), key="ul_k")
            forget_arg = f"influence:{k}"
        elif strategy == "indices":
            text = st.text_input("Training indices (comma-separated)", "0,1,2,3", key="ul_indices")
            forget_arg = f"indices:{text.strip()}"
        else:
            st.caption("No option for this strategy.")
    preview_ok = False
    try:
        fs = state.forget_preview(spec, state.group_attr(), forget_arg, options)
        preview_ok = True
        st.markdown(
            f"**Forget set preview:** {fs.description} — {len(fs)} of {len(sc.train)} training images; "
            f"the other {len(sc.train) - len(fs)} are the retain set."
        )
        st.image(workflows.sample_images(sc.train.subset(fs.indices), group=None, k=12, seed=0), width=52)
    except Exception as exc:
        ui.show_error(exc, doing="choose this forget set", hint="Pick another strategy or option.")

    with st.expander("Advanced hyper-parameters"):
        table = tables.editable_hyperparameters(method, intensity, subject)
        adjusted = table is not None and not table.equals(tables.editable_hyperparameters(method, intensity))
        st.caption(
            "The intensity sets these through one documented table"
            + (", adjusted for this scenario's model" if adjusted else "")
            + "; edit a value to override it."
        )
        edited = st.data_editor(
            table,
            hide_index=True,
            disabled=["hyper-parameter", "what it does"],
            key=f"ul_hp_{spec.key}_{method}_{intensity}",
        )
        overrides = tables.hyperparameter_overrides(method, intensity, edited, subject)
        seed = st.number_input("Seed", 0, 10_000, 0, key="ul_seed")
        if overrides:
            st.caption("Overridden: " + ", ".join(f"{k} = {v}" for k, v in overrides.items()))

    oracle = state.oracle_for(spec.key, attr, forget_arg)
    device = jobs.device_description()
    b1, b2 = st.columns([1, 3])
    start = b1.button("Run unlearning", type="primary", key="ul_run", disabled=running or not preview_ok)
    b2.caption(
        f"Runs in the background on **{device}**; you can switch pages meanwhile. "
        "The result is saved as a run (Report / history)."
    )

if start:
    job = jobs.submit_job(
        tasks.unlearn_task(
            subject,
            method=method,
            intensity=intensity,
            forget=forget_arg,
            forget_options=options,
            # the search depth's presets; values edited in the table win
            hyperparameters={**search_overrides(depth), **overrides} if depth else overrides,
            seed=seed,
            oracle=oracle,
        ),
        kind="unlearn",
        label=f"{method} @ {intensity:.2f}",
        meta={"spec_key": spec.key, "attr": attr, "forget": forget_arg},
    )
    st.rerun()

if job is None:
    st.stop()
if job.active:
    ui.job_panel(job, title=f"Unlearning with {job.label}", phase=jobs.unlearn_phase)
    st.stop()

run = jobs.collect_unlearn(job)
if run is None:
    if job.state == "failed":
        ui.show_error(job.error or "the run failed", doing="unlearn", hint="Change the settings and run again.")
    elif job.state == "cancelled":
        st.warning("The run was cancelled; nothing was saved.")
    st.stop()

st.subheader(f"Result: {run.method} at intensity {run.intensity:.2f}")
ui.run_status(run)
b, a = run.before, run.after
k = st.columns(4)
k[0].metric("Accuracy", f"{a.utility.accuracy:.1%}", f"{100 * (a.utility.accuracy - b.utility.accuracy):+.1f} points")
k[1].metric(
    "Worst-group accuracy",
    f"{a.fairness.worst_group_accuracy:.1%}",
    f"{100 * (a.fairness.worst_group_accuracy - b.fairness.worst_group_accuracy):+.1f} points",
)
dp_b, dp_a = b.fairness.demographic_parity_difference, a.fairness.demographic_parity_difference
k[2].metric("Demographic parity gap", f"{dp_a:.3f}", f"{dp_a - dp_b:+.3f}", delta_color="inverse")
k[3].metric(
    "Score",
    f"{run.score:.3f}" if run.score is not None else "n/a",
    help="Fairness gained, utility and the other radar axes, relative to the original model: an unchanged "
    "model scores at most 0.35, a collapsed one 0 (see the report for the formula).",
)
left, right = st.columns([3, 2])
with left:
    series = {"before": run.radar.before, "after": run.radar.after}
    charts.chart(
        charts.radar(series, title="Before and after"),
        "What am I looking at: four scores in [0, 1], larger is better, relative to the original model: "
        "utility (0.5 = accuracy unchanged), fairness (share of the original gap closed; 0 = unchanged), "
        "forgetting (forget-set behaviour like a model that never saw it) and privacy (a membership attack "
        "against same-class test images near chance). Grey: before; blue: after.",
        key="ul_radar",
    )
with right:
    events = run.history or []
    if run.search:
        ui.search_chart(run, key="ul_search")
    elif events:
        from bamu_core.unlearn import ProgressEvent

        charts.chart(
            charts.loss_curve(
                [ProgressEvent(**e) for e in events], title="Loss during the run", kept_step=run.chosen_step
            ),
            f"What am I looking at: the training loss per step; the dashed line marks step {run.chosen_step}, the "
            "checkpoint the run kept: the fairest one on the validation split among those that kept accuracy "
            "within the bound and no class's recall down by more than the recall guard (that is what "
            "“admissible” means). Methods that push the forget set away (ga, lora) add a negative term, so "
            "their loss can fall below zero.",
            key="ul_loss",
        )
if run.search:
    st.markdown("**What auto tried**")
    ui.search_table(run, key="ul_search")
used = validation_words(run)
st.caption(
    f"Run {run.run_id or '(not saved)'} · {ui.time_words(run)} · forget set: {run.forget.description or ''}"
    + (f" · {used}" if used else "")
)
st.page_link("pages/compare.py", label="Compare before and after in detail", icon=":material/balance:")
