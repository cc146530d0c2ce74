"""The Compare page's counterfactual pairs: the same test images with the attribute flipped, each
model's prediction on both, and the share of predictions that flip with the attribute.

The numbers come from the run (:class:`bamu_core.results.CounterfactualPairs`); the pictures from
the loaded scenario's test split, by the examples' indices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from bamu_core.insight import flip_attribute
from bamu_core.results import CounterfactualPair, CounterfactualPairs, FlipRate, UnlearnReport

from .run_images import made_on, upscale

__all__ = ["ANCHOR", "pair_images", "pair_caption", "group_table", "pairs_panel", "gradcam_note"]

ANCHOR = "counterfactual-pairs"
PER_ROW = 4


def pair_images(pairs: CounterfactualPairs, run: UnlearnReport, scenario) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """(original, flipped) RGB uint8 images of the run's examples, or None when the loaded scenario
    is not the one the run measured (another dataset, other test split size, no counterfactuals)."""
    if scenario is None or not pairs.examples:
        return None
    data = scenario.test
    if not data.has_counterfactual or not made_on(run, scenario, "test"):
        return None
    idx = np.array([e.index for e in pairs.examples], dtype=np.int64)
    if idx.min() < 0 or idx.max() >= len(data):
        return None
    out = []
    for u8 in (data.images_u8[idx].numpy(), data.counterfactual_u8[idx].numpy()):
        if u8.shape[1] == 1:
            u8 = np.repeat(u8, 3, axis=1)
        out.append([upscale(img.transpose(1, 2, 0), 84) for img in u8])
    return list(zip(*out))


def _name(classes: list[str], c: int | None) -> str:
    if c is None:
        return "?"
    return classes[c] if 0 <= c < len(classes) else str(c)


def pair_caption(pair: CounterfactualPair, classes: list[str]) -> str:
    """``label · before: a → b · after: c → d`` (an arrow marked ✗ where the prediction flips)."""

    def one(original, flipped):
        mark = " ✗" if original != flipped else ""
        return f"{_name(classes, original)} → {_name(classes, flipped)}{mark}"

    text = f"true: {_name(classes, pair.label)}  \nbefore: {one(pair.before_original, pair.before_flipped)}"
    if pair.after_original is not None:
        text += f"  \nafter: {one(pair.after_original, pair.after_flipped)}"
    return text


def _pct(rate: FlipRate | None) -> str:
    return "n/a" if rate is None or rate.rate is None else f"{100 * rate.rate:.0f} %"


def _ci(rate: FlipRate | None) -> str | None:
    if rate is None or rate.ci is None or rate.ci.low is None or rate.ci.high is None:
        return None
    return f"95 % CI [{100 * rate.ci.low:.0f}, {100 * rate.ci.high:.0f}] %, over {rate.n} test images"


def group_table(pairs: CounterfactualPairs) -> pd.DataFrame:
    """One row per group: images and flip rate (with its interval) before and after."""
    rows = []
    after = {g.group: g for g in pairs.after.groups} if pairs.after is not None else {}
    for g in pairs.before.groups if pairs.before is not None else []:
        row = {"group": g.group, "n": g.n, "before": g.rate}
        row["before CI"] = f"[{g.ci.low:.2f}, {g.ci.high:.2f}]" if g.ci is not None else ""
        a = after.get(g.group)
        if a is not None:
            row["after"] = a.rate
            row["after CI"] = f"[{a.ci.low:.2f}, {a.ci.high:.2f}]" if a.ci is not None else ""
        rows.append(row)
    return pd.DataFrame(rows)


def pairs_panel(run: UnlearnReport, scenario, *, key: str = "pairs") -> None:
    """The pairs view of ``run``; nothing where the data cannot flip its attribute."""
    pairs = run.pairs
    if pairs is None:
        if scenario is not None and scenario.test.has_counterfactual:
            st.caption(
                "Counterfactual pairs: this run did not measure them (made before they existed, or switched off)."
            )
        return
    st.subheader(f"The same images with the {pairs.attr} flipped", anchor=ANCHOR)
    st.markdown(f"**Counterfactual pairs.** {pairs.reading}")
    left, right = st.columns(2)
    left.metric("Predictions that flip, before", _pct(pairs.before), help=_ci(pairs.before))
    if pairs.after is not None:
        delta = None
        if pairs.before is not None and pairs.before.rate is not None and pairs.after.rate is not None:
            delta = f"{100 * (pairs.after.rate - pairs.before.rate):+.0f} points"
        right.metric(
            "Predictions that flip, after", _pct(pairs.after), delta=delta, delta_color="inverse", help=_ci(pairs.after)
        )
    images = pair_images(pairs, run, scenario)
    if images is None:
        if pairs.examples:
            st.caption("The example pairs cannot be shown: the loaded data is not the data this run was measured on.")
    else:
        for start in range(0, len(images), PER_ROW):
            row = st.columns(PER_ROW)
            chunk = zip(row, images[start : start + PER_ROW], pairs.examples[start : start + PER_ROW])
            for c, (original, flipped), pair in chunk:
                c.image([original, flipped], caption=["original", "flipped"], output_format="PNG")
                c.caption(pair_caption(pair, pairs.classes))
    table = group_table(pairs)
    if len(table) > 1:
        st.dataframe(
            table,
            hide_index=True,
            column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("before", "after")},
            key=f"{key}_groups",
        )
    st.caption(
        f"What am I looking at: test images (left) and the same images with only the {pairs.attr} flipped "
        "(right), with each model's prediction on both (✗: the prediction changed with the "
        f"{pairs.attr} alone). The flip rate is the share of all {pairs.n} test pairs whose prediction changes; "
        f"0 % means the model ignores the {pairs.attr}. Intervals are 95 % bootstrap CIs"
        + (", per group of the original image in the table." if len(table) > 1 else ".")
    )


def gradcam_note(scenario) -> None:
    """Beside the Grad-CAM pictures: a colour bias is not in one place, so look at the pairs instead."""
    if scenario is None or not scenario.test.has_counterfactual:
        return
    attr, spatial = flip_attribute(scenario)
    if spatial:
        return
    st.info(
        f"The bias here is the {attr}, which is all over the object rather than in one region: Grad-CAM shows "
        "where the model looks, so it draws a blob on the object and barely changes after unlearning. "
        f"Whether the {attr} still drives the predictions shows in the "
        f"[counterfactual pairs](#{ANCHOR}) above: the same images with only the {attr} flipped."
    )
