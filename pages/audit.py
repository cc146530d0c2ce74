"""Audit: per-group metrics with CIs, fairness gaps against a threshold, confusion matrices, Grad-CAM."""

import streamlit as st

from dashboard import charts, state, tables
from dashboard import widgets as ui
from dashboard.glossary import help_for, table_help

ui.enter_page()
st.title("Audit")
subject = ui.require_subject()
spec = state.current_spec()
sc = subject.scenario
attr = sc.test.group_attr
st.caption(
    f"{sc.title} · model {subject.arch} · groups by **{attr}** · test split (change the group attribute on the Load "
    "page)"
)

try:
    with st.spinner("Evaluating the model on the test split ..."):
        result = state.audit_for(spec, state.group_attr())
except Exception as exc:  # shown, never a traceback
    ui.show_error(exc, doing="audit the model")
    st.stop()
ui.audit_warnings(result)

threshold = st.slider(
    "Flag a fairness gap above",
    0.0,
    0.5,
    0.10,
    0.01,
    key="gap_threshold",
    persist_state="session",
    help="Gaps are differences between the best and the worst group (0 = perfectly even).",
)
u, f = result.utility, result.fairness
c = st.columns(4)
c[0].metric("Accuracy", f"{u.accuracy:.1%}", help=help_for("Accuracy"))
c[1].metric("Balanced accuracy", f"{u.balanced_accuracy:.1%}", help=help_for("Balanced accuracy"))
c[2].metric("Worst-group accuracy", f"{f.worst_group_accuracy:.1%}", help=help_for("Worst-group accuracy"))
dp = f.demographic_parity_difference
c[3].metric(
    "Demographic parity gap",
    f"{dp:.3f}",
    delta="above threshold" if dp > threshold else "within threshold",
    delta_color="inverse" if dp > threshold else "off",
    help=help_for("Demographic parity gap"),
)
flagged = tables.gaps_above(result, threshold=threshold)
if flagged:
    st.warning(
        f"**{len(flagged)} fairness gap(s) above {threshold:.2f}:** {', '.join(flagged)}. "
        "The Unlearn page can reduce them.",
        icon=":material/warning:",
    )
elif not result.warnings:  # small gaps of a degenerate model or a tiny split are no good news
    st.success(f"All fairness gaps are at most {threshold:.2f}.", icon=":material/check_circle:")

left, right = st.columns(2)
with left:
    charts.chart(
        charts.group_bars({"before": result.groups}, title=f"Accuracy per {attr} group"),
        "What am I looking at: the share of test images the model gets right in each group. "
        "Equal bars mean every group is served equally well; a low bar is a group the model fails.",
        key="audit_group_bars",
    )
with right:
    charts.chart(
        charts.gap_bars(f, ci=result.fairness_ci, threshold=threshold, title="Fairness gaps"),
        "What am I looking at: how far apart the groups are (0 = no gap). Red bars exceed your threshold; "
        "whiskers are 95 % bootstrap confidence intervals when available.",
        key="audit_gap_bars",
    )

st.subheader("Metrics")
overall = tables.overall_table(result, threshold=threshold)
st.dataframe(
    overall,
    hide_index=True,
    width="stretch",
    column_config={
        "metric": st.column_config.TextColumn("metric", help=table_help(overall["metric"])),
        "value": st.column_config.NumberColumn(format="%.3f"),
        "CI": st.column_config.TextColumn("95 % CI"),
        "above threshold": st.column_config.CheckboxColumn("above your threshold"),
    },
)
if not result.fairness_ci:
    st.caption("Confidence intervals: none (the audit ran without bootstrap resamples).")
else:
    b = result.bootstrap or {}
    st.caption(
        f"What am I looking at: the model overall and its fairness gaps. CI: {b.get('level', 0.95):.0%} "
        f"{b.get('method', 'bootstrap')}, {b.get('n_boot', '?')} resamples."
    )
st.dataframe(
    tables.group_table(result),
    hide_index=True,
    width="stretch",
    column_config={
        k: st.column_config.NumberColumn(format="%.3f") for k in ("accuracy", "selection rate", "TPR", "FPR")
    },
)
st.caption(
    "What am I looking at: every group on its own. Selection rate: share predicted as the positive class; "
    "TPR / FPR: true / false positive rates."
)

st.subheader("Confusion matrix per group")
rows = [r for r in result.groups if r.confusion]
if not rows:
    st.info("No per-group confusion matrices in this audit.")
else:
    shown = (
        rows[:4]
        if len(rows) <= 4
        else [
            r
            for r in rows
            if r.group
            in st.multiselect("Groups", [r.group for r in rows], default=[r.group for r in rows[:3]], key="cm_groups")
        ]
    )
    cols = st.columns(max(1, min(len(shown), 4)))
    for col, r in zip(cols * 4, shown):
        with col:
            charts.plot(
                charts.confusion_heatmap(r.confusion, class_names=sc.class_names, title=f"{r.group} (n={r.n})"),
                key=f"cm_{r.group}",
            )
    st.caption(
        "What am I looking at: for each group, rows are the true class and columns the predicted class; "
        "the diagonal holds the correct answers. Compare groups: a bias shows up as errors in one direction."
    )

st.subheader("Where the model looks (Grad-CAM)")
g1, g2, g3 = st.columns(3)
names = sc.test.group_names[attr]
group = g1.selectbox("Group", names, key="cam_group")
k = g2.slider("Images", 2, 12, 5, key="cam_k")
rule = g3.selectbox(
    "Which images",
    ["confident", "misclassified", "random"],
    key="cam_rule",
    help="confident: the most confident predictions; misclassified: the wrong ones; random: a seeded draw.",
)
region = sc.bias_region
with st.expander("Bias region" + (f": the known bias area, {ui.region_words(region)}" if region else ": draw a box")):
    h, w = sc.image_shape[1:]
    use_box = st.checkbox("Use my own box (top, left, height, width in pixels)", value=False, key="cam_box_on")
    if use_box:
        b = st.columns(4)
        region = (
            b[0].number_input("top", 0, h - 1, 0, key="box_t"),
            b[1].number_input("left", 0, w - 1, 0, key="box_l"),
            b[2].number_input("height", 1, h, max(1, h // 4), key="box_h"),
            b[3].number_input("width", 1, w, max(1, w // 4), key="box_w"),
        )
try:
    with st.spinner("Computing Grad-CAM ..."):
        gallery = state.gallery_for(spec, state.group_attr(), k=k, rule=rule, region=region)
except Exception as exc:
    ui.show_error(exc, doing="compute Grad-CAM")
    st.stop()
chosen = next(g for g in gallery.groups if g.name == group)
if len(chosen.indices) == 0:
    st.info(f"No {rule} images in group {group}.")
else:
    left, right = st.columns([5, 1])
    with left:
        captions = [
            f"{sc.class_names[int(y)]} → {sc.class_names[int(p)]} ({c:.0%})"
            for y, p, c in zip(chosen.labels, chosen.predictions, chosen.confidence)
        ]
        st.image(list(chosen.overlays), caption=captions, width=128)
    with right:
        st.image(charts.heat_image(chosen.mean_map), caption=f"average map of {group}", width=150)
    st.caption(
        f"What am I looking at: red areas are where the model's evidence for its prediction comes from "
        f"({'HiResCAM' if gallery.method == 'hirescam' else 'Grad-CAM'} at layer {gallery.layer}); captions read true "
        "→ predicted (confidence). The right image "
        "averages the maps of this group."
    )
    scores = tables.region_scores(gallery)
    if scores is not None:
        st.dataframe(scores, hide_index=True)
        st.caption(
            "Bias-region score: the share of saliency inside the bias region per group. High means the model "
            "looks at the bias instead of the object."
        )
    elif region is None:
        st.caption("No bias region is known for this data; tick “Use my own box” above to measure one.")
