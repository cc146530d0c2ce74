"""Compare: before / after (and the retrain oracle) radar, per-group accuracy, Grad-CAM, two runs, a sweep."""

import streamlit as st

from bamu_core import workflows
from bamu_core.execution import ray_available
from bamu_core.report import compare_verdict
from bamu_core.unlearn import status_label
from dashboard import charts, insight, jobs, membership, pairs, state, tables, tasks
from dashboard import widgets as ui
from dashboard.glossary import glossary_expander, table_help

ui.enter_page()
st.title("Compare before and after")
subject = ui.require_subject()
spec = state.current_spec()
sc = subject.scenario
attr = sc.test.group_attr
run = state.last_run()
tab_run, tab_two, tab_sweep = st.tabs(["This run", "Two saved runs", "Intensity sweep"])

with tab_run:
    if run is None:
        st.info("No unlearning run in this session yet: start one on the Unlearn page.")
        st.page_link("pages/unlearn.py", label="Go to Unlearn", icon=":material/cleaning_services:")
    else:
        forget = (run.settings or {}).get("forget_strategy") or run.forget.strategy
        oracle = state.oracle_for(spec.key, attr, forget)
        st.caption(
            f"Run {run.run_id or '(not saved)'}: **{run.method}** at intensity {run.intensity:.2f} · "
            f"forget set: {run.forget.description or ''} · status: {status_label(run.status)}"
        )
        if run.status == "no_change":
            st.warning(f"**No change beyond noise** · {run.message}")
        ui.run_verdict(run)
        series = {"before": run.radar.before, "after": run.radar.after}
        if oracle and oracle.get("radar"):
            series["oracle (retrain)"] = oracle["radar"]
        left, right = st.columns(2)
        with left:
            charts.chart(
                charts.radar(series, title="Scores before and after"),
                "What am I looking at: each axis is a score in [0, 1], larger is better, measured against the "
                "original model (grey: utility 0.5, fairness 0). Utility: 0.5 = accuracy unchanged, 1 = 10 points "
                "gained, 0 = 10 lost; fairness: the share of the original gap between groups closed; forgetting: "
                "the forget set is treated like unseen data; privacy: a membership attack against test images of "
                "the same classes is near chance. The dotted green line is a model retrained without the forget "
                "set (the gold standard), when computed.",
                key="cmp_radar",
            )
        with right:
            charts.chart(
                charts.group_bars(
                    {"before": run.before.groups, "after": run.after.groups}, title=f"Accuracy per {attr} group"
                ),
                "What am I looking at: test accuracy of every group before (grey) and after (blue) unlearning. "
                "Fair means the bars of all groups are level.",
                key="cmp_groups",
            )
        if run.search:
            st.subheader("What auto tried")
            ui.search_panel(run, key="cmp_search")
        before_after = tables.before_after_table(run)
        st.dataframe(
            before_after,
            hide_index=True,
            width="stretch",
            height="content",
            column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("before", "after", "change")}
            | {"metric": st.column_config.TextColumn("metric", help=table_help(before_after["metric"]))},
        )
        st.caption(
            "What am I looking at: every headline number before and after. Arrows: ↑ higher is better, "
            "↓ lower is better, → 0.5 / → 0.01 closer to chance is better. MIA numbers compare the forget set "
            "with test images of the same classes (and groups), except the one marked not class-matched. "
            "Intervals are 95 % bootstrap CIs."
        )
        glossary_expander(key="cmp_glossary")
        insight.insight_panel(run, sc, key="cmp_insight")
        pairs.pairs_panel(run, sc, key="cmp_pairs")
        membership.membership_panel(run, sc, key="cmp_mia")

        st.subheader("Where the model looks, before and after (the same test images)")
        pairs.gradcam_note(sc)
        pictures = workflows.run_gradcam(run.run_id, store=state.run_store())
        if pictures:
            st.image(pictures["gradcam_before.png"], caption="before", width="stretch")
            st.image(pictures["gradcam_after.png"], caption="after", width="stretch")
            st.caption(
                "What am I looking at: "
                + (
                    (run.gradcam or {}).get("caption")
                    or "Grad-CAM of the same images for both models; red drives the prediction."
                )
            )
        else:
            st.info("No Grad-CAM pictures were saved with this run.")

        if not oracle:
            with st.expander("Add the retrain oracle (the baseline recipe trained again without the forget set)"):
                st.caption(
                    "Retraining is the slow gold standard unlearning approximates; it takes as long as training "
                    "the baseline. Later runs then score forgetting and speed against it."
                )
                job = jobs.session_job("oracle")
                if job is not None and job.active:
                    ui.job_panel(job, title="Retraining", curve=False)
                else:
                    if job is not None:
                        got = jobs.collect_unlearn(job)
                        if got is None and job.state == "failed":
                            ui.show_error(job.error or "retraining failed", doing="retrain")
                    if st.button("Retrain without the forget set", key="cmp_oracle"):
                        opts = (run.settings or {}).get("forget_options") or {}
                        jobs.submit_job(
                            tasks.unlearn_task(
                                subject,
                                method="retrain",
                                intensity=1.0,
                                forget=forget,
                                forget_options=opts,
                                store=None,
                                gradcam_images=0,
                            ),
                            kind="oracle",
                            label="retrain oracle",
                            meta={"spec_key": spec.key, "attr": attr, "forget": forget},
                        )
                        st.rerun()

with tab_two:
    store = state.run_store()
    records = workflows.list_runs(store=store, kind="unlearn", status="complete")
    if len(records) < 2:
        st.info(
            f"Two saved runs are needed; there {'is' if len(records) == 1 else 'are'} {len(records)}. "
            "Run unlearning again with other settings."
        )
    else:
        ids = [r.run_id for r in records]
        label = {r.run_id: f"{r.run_id} · {r.method} @ {r.intensity:.2f}" for r in records}
        short = {r.run_id: f"{r.method} @ {r.intensity:.2f}" for r in records}
        c1, c2 = st.columns(2)
        a = c1.selectbox("Run A", ids, index=1, format_func=label.get, key="cmp_a")
        b = c2.selectbox("Run B", ids, index=0, format_func=label.get, key="cmp_b")
        both = workflows.compare_runs(a, b, store=store)
        ra, rb = workflows.load_run(a, store=store), workflows.load_run(b, store=store)
        st.markdown(f"##### In plain words\n{compare_verdict(ra, rb)}")
        left, right = st.columns(2)
        with left:
            charts.chart(
                charts.radar(
                    {f"A: {short[a]}": ra.radar.after, f"B: {short[b]}": rb.radar.after},
                    title="After unlearning: A and B",
                ),
                "What am I looking at: the scores of the two unlearned models (larger is better on every axis).",
                key="cmp_two_radar",
            )
        with right:
            charts.chart(
                charts.group_bars(
                    {"A": ra.after.groups, "B": rb.after.groups}, title=f"Accuracy per {attr} group after"
                ),
                "What am I looking at: each group's test accuracy after run A and after run B.",
                key="cmp_two_groups",
            )
        st.dataframe(
            tables.compare_table(both),
            hide_index=True,
            width="stretch",
            height="content",
            column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("A", "B", "B - A")},
        )
        st.caption("What am I looking at: the headline numbers of the two runs after unlearning, and B minus A.")
        membership.membership_two_runs(ra, rb, (f"A: {short[a]}", f"B: {short[b]}"), key="cmp_two_mia")

with tab_sweep:
    usable = [m for m in workflows.unlearning_methods() if m != "retrain"]
    default = [run.method] if run and run.method in usable else usable[:1]
    c1, c2 = st.columns(2)
    chosen = c1.multiselect("Methods", usable, default=default, key="sw_methods")
    levels = c2.multiselect("Intensities", [0.1, 0.25, 0.5, 0.75, 1.0], default=[0.25, 0.5, 0.75, 1.0], key="sw_levels")
    forget = (run.settings or {}).get("forget_strategy") if run else "aligned"
    executor = None
    if ray_available():  # the Ray executor is optional (requirements-ray.txt)
        where = st.radio(
            "Run on",
            ["this process", "Ray (local, all CPUs)"],
            horizontal=True,
            key="sw_executor",
            help="Ray runs the configurations side by side as tasks, one CPU (and one torch thread) each.",
        )
        executor = "ray" if where.startswith("Ray") else None
    st.caption(
        f"Each point is one unlearning run with forget set “{forget}”; {len(chosen) * len(levels)} run(s), "
        "in the background. Sweep runs are not added to the history."
    )
    job = jobs.session_job("sweep")
    if job is not None and job.active:
        ui.job_panel(job, title="Sweep", curve=False)
    else:
        if st.button("Run the sweep", key="sw_run", disabled=not (chosen and levels), type="primary"):
            jobs.submit_job(
                tasks.sweep_task(
                    subject,
                    methods=chosen,
                    intensities=sorted(levels),
                    forget=forget or "aligned",
                    executor=executor,
                ),
                kind="sweep",
                label=f"sweep {', '.join(chosen)}",
            )
            st.rerun()
        if job is not None and job.state == "failed":
            ui.show_error(job.error or "the sweep failed", doing="run the sweep")
        result = job.result if job is not None else None
        if result is not None:
            charts.chart(
                charts.sweep_figure(result),
                "What am I looking at: every run as a point (accuracy across, fairness up; labels are "
                "intensities). The dashed line is the Pareto front: the runs no other run beats on both. "
                "The star is the original model.",
                key="sw_pareto",
            )
            st.dataframe(
                result.table()[
                    [
                        "method",
                        "intensity",
                        "status",
                        "accuracy",
                        "dp",
                        "worst_group_accuracy",
                        "score",
                        "seconds",
                        "pareto",
                    ]
                ],
                hide_index=True,
                width="stretch",
                column_config={
                    c: st.column_config.NumberColumn(format="%.3f")
                    for c in ("intensity", "accuracy", "dp", "worst_group_accuracy", "score")
                }
                | {
                    "seconds": st.column_config.NumberColumn(format="%.1f"),
                    "dp": st.column_config.NumberColumn("DP gap", format="%.3f"),
                    "worst_group_accuracy": st.column_config.NumberColumn("worst-group accuracy", format="%.3f"),
                    "pareto": st.column_config.CheckboxColumn("on the front"),
                },
            )
