"""The Compare page's "Inside the model" panel: each view's reading, its table and its chart."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from bamu_core.report import cka_figure, cohort_rows, leakage_rows, projection_figure
from bamu_core.results import UnlearnReport

from . import charts
from .run_images import split_images, upscale

__all__ = ["has_views", "leakage_table", "cohorts_table", "selected_indices", "test_images", "insight_panel"]

#: Images shown for the points picked on a projection.
MAX_PICKED = 16


def has_views(run: UnlearnReport) -> bool:
    """Whether the run carries any view inside the model (older runs and switched-off views do not)."""
    cohorts = [a.cohorts for a in (run.before, run.after) if a is not None]
    return any(v is not None for v in (run.leakage, run.representation, run.relearning, *cohorts))


def selected_indices(*events) -> list[int]:
    """The test-split indices of the points picked on the projection charts (their ``customdata``),
    in order, without repeats."""
    out: list[int] = []
    for event in events:
        points = ((event or {}).get("selection") or {}).get("points") or []
        for p in points:
            value = p.get("customdata")
            if isinstance(value, (list, tuple)):
                value = value[0] if value else None
            if isinstance(value, (int, float)) and int(value) >= 0 and int(value) not in out:
                out.append(int(value))
    return out


def test_images(run: UnlearnReport, scenario, indices: list[int]):
    """The test images at ``indices`` as ``(index, RGB uint8)`` pairs (out-of-range indices left
    out), or None when the loaded ``scenario`` is not the data the run was made on."""
    return split_images(run, scenario, "test", indices, strict=False)


def leakage_table(run: UnlearnReport) -> pd.DataFrame:
    return pd.DataFrame(leakage_rows(run.leakage) if run.leakage is not None else [])


def cohorts_table(run: UnlearnReport) -> pd.DataFrame:
    rows = cohort_rows(run.before.cohorts if run.before else None, "before")
    rows += cohort_rows(run.after.cohorts if run.after else None, "after")
    return pd.DataFrame(rows, columns=["model", "slice", "n", "accuracy", "rest", "gap", "q"])


_NUM = st.column_config.NumberColumn


def insight_panel(run: UnlearnReport, scenario=None, *, key: str = "ins") -> None:
    """Readings, tables and charts of the run's views inside the model (nothing when it has none)."""
    if not has_views(run):
        return
    st.subheader("Inside the model")
    st.caption(
        "Is the bias gone from the model, or only hidden from its output? Each view says it in one sentence; "
        "all are measured on the test split."
    )
    if run.leakage is not None:
        st.markdown(f"**Attribute leakage ({run.leakage.attr}).** {run.leakage.reading}")
        st.dataframe(
            leakage_table(run),
            hide_index=True,
            column_config={c: _NUM(format="%.3f") for c in ("probe AUC", "CI low", "CI high")},
            key=f"{key}_leak",
        )
        st.caption(
            "What am I looking at: a linear probe reads the group from the model's penultimate features, among "
            "images of the same class. 0.5 = it cannot tell the groups apart (chance); 1 = the model's features "
            "still carry the attribute, whether or not the output shows it. The rows marked (outputs) probe the "
            "model's outputs (logits) instead: whether the attribute still moves what the model says. Features "
            "near 1 with outputs near 0.5: the bias is hidden from the output but still held inside."
        )
    table = cohorts_table(run)
    if run.before.cohorts is not None or run.after.cohorts is not None:
        for when, audit in (("Before", run.before), ("After", run.after)):
            if audit is not None and audit.cohorts is not None:
                st.markdown(f"**Worst slices, {when.lower()}.** {audit.cohorts.reading}")
        st.dataframe(
            table,
            hide_index=True,
            column_config={c: _NUM(format="%.3f") for c in ("accuracy", "rest", "gap")} | {"q": _NUM(format="%.2g")},
            key=f"{key}_cohorts",
        )
        st.caption(
            "What am I looking at: the slices of the test data (one metadata value, or two together) where the "
            "model is most below its accuracy on the rest, found without being told where to look; q is the "
            "Benjamini-Hochberg adjusted p-value (below 0.05: not chance)."
        )
    rep = run.representation
    if rep is not None:
        st.markdown(f"**Representation.** {rep.reading}")
        if rep.blocks:
            charts.chart(
                cka_figure(rep),
                "What am I looking at: how similar each block's output is to the original model's (linear CKA; "
                "1 = the same up to a rotation). Low bars show where unlearning changed the network.",
                key=f"{key}_cka",
            )
        if rep.projection is not None and rep.projection.coordinates:
            cols = st.columns(len(rep.projection.coordinates))
            events = []
            for col, model in zip(cols, rep.projection.coordinates):
                with col:
                    events.append(charts.selectable(projection_figure(rep, model), key=f"{key}_proj_{model}"))
            st.caption(
                "What am I looking at: test images placed by their embeddings (2-D "
                f"{rep.projection.method.upper()}), one colour per group. Groups in separate clusters mean the "
                "model tells them apart; mixed colours mean it does not. Hover a point for its image number and "
                "class; click one, or draw a box or lasso, to see the images below."
            )
            _picked_images(run, scenario, selected_indices(*events))
    rel = run.relearning
    if rel is not None:
        st.markdown(f"**Relearning stress test.** {rel.reading}")


def _picked_images(run: UnlearnReport, scenario, picked: list[int]) -> None:
    if not picked:
        return
    shown = test_images(run, scenario, picked[:MAX_PICKED])
    more = f" (the first {MAX_PICKED} of {len(picked)})" if len(picked) > MAX_PICKED else ""
    if shown is None:
        st.caption(
            "The picked images cannot be shown: this run was not made on the loaded data. Their test "
            "numbers: " + ", ".join(f"#{i}" for i in picked[:MAX_PICKED])
        )
        return
    st.markdown(f"**Picked test images{more}**")
    test = scenario.test
    names = test.group_names[test.group_attr]
    per_row = 8
    for start in range(0, len(shown), per_row):
        row = st.columns(per_row)
        for c, (i, img) in zip(row, shown[start : start + per_row]):
            c.image(
                upscale(img),
                caption=f"#{i} · {names[test.groups[i]]} · {scenario.class_names[test.labels[i]]}",
            )
