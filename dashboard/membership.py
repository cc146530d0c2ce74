"""The Compare page's interactive membership inference: score histograms, a threshold, the surest images.

The scores are the class-matched attack's (:class:`bamu_core.results.MIAScores`): ``-loss``, higher
means more member-like, and the attack flags an image as a member when its score is at or above
the threshold. Members are forget images, non-members test images of the same classes (and groups).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from bamu_core.privacy import ThresholdPoint, at_threshold, worst_case
from bamu_core.results import MIAScores, UnlearnReport

from . import charts
from .run_images import split_images, upscale

__all__ = [
    "run_scores",
    "score_range",
    "default_threshold",
    "histogram",
    "reading",
    "point_text",
    "surest_members",
    "forget_images",
    "membership_panel",
    "membership_two_runs",
    "threshold_histograms",
]

_MEMBER, _NONMEMBER = "#d62728", "#7f7f7f"
N_SUREST = 16


def run_scores(run: UnlearnReport) -> dict[str, MIAScores]:
    """The stored scores of the original (``before``) and unlearned (``after``) model, those it has."""
    p = run.privacy
    out = {}
    for name, mia in (("before", p.mia_before if p else None), ("after", p.mia_after if p else None)):
        s = getattr(mia, "scores", None)
        if s is not None and s.member and s.nonmember:
            out[name] = s
    return out


def score_range(scores: dict[str, MIAScores]) -> tuple[float, float]:
    """The smallest and largest score of either model (the slider's ends)."""
    every = np.concatenate([np.r_[s.member, s.nonmember] for s in scores.values()])
    lo, hi = float(every.min()), float(every.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def default_threshold(scores: dict[str, MIAScores]) -> float:
    """The worst-case threshold of the unlearned model (``"after"``; else the last entry), in range."""
    lo, hi = score_range(scores)
    s = scores.get("after") or list(scores.values())[-1]
    t = worst_case(s.member, s.nonmember).threshold
    return float(np.clip(t, lo, hi)) if np.isfinite(t) else hi


def histogram(scores: MIAScores, *, threshold: float, title: str, bins: tuple[float, float] | None = None):
    """Members (forget) and non-members (matched test) overlaid, the threshold a dashed line."""
    import plotly.graph_objects as go

    lo, hi = bins if bins is not None else score_range({"x": scores})
    xbins = dict(start=lo, end=hi + 1e-9, size=(hi - lo) / 40 or 1.0)
    fig = go.Figure()
    for name, vals, colour in (
        ("forget images (members)", scores.member, _MEMBER),
        ("matched test images (non-members)", scores.nonmember, _NONMEMBER),
    ):
        fig.add_trace(
            go.Histogram(x=vals, name=name, xbins=xbins, histnorm="percent", opacity=0.55, marker_color=colour)
        )
    fig.add_vline(x=threshold, line_dash="dash", line_color="#1f77b4")
    fig.update_layout(
        barmode="overlay",
        title=dict(text=title, font=dict(size=16)),
        height=360,
        margin=dict(l=10, r=10, t=50, b=10),
        plot_bgcolor="white",
        # below the axis title (at y = -0.2 the entries covered it)
        legend=dict(orientation="h", yanchor="top", y=-0.32, xanchor="left", x=0),
        xaxis=dict(title="attack score (-loss; right = looks trained on)", range=[lo, hi], gridcolor="#eee"),
        yaxis=dict(title="% of images", gridcolor="#eee"),
    )
    return fig


def point_text(point: ThresholdPoint, worst: ThresholdPoint) -> str:
    """``TPR`` / ``FPR`` / advantage at the threshold and the worst-case advantage, as markdown."""
    return (
        f"TPR **{point.tpr:.1%}** · FPR **{point.fpr:.1%}** · advantage **{point.advantage:.2f}** "
        f"· worst case over thresholds **{worst.advantage:.2f}**"
    )


def reading(point: ThresholdPoint) -> str:
    """One plain sentence about the attack at the threshold."""
    return (
        f"At this threshold the attack flags {point.tpr:.0%} of forget images and {point.fpr:.0%} of unseen "
        f"test images of the same classes: advantage {point.advantage:.2f} (0 = it cannot tell them apart)."
    )


def surest_members(scores: MIAScores, k: int = N_SUREST) -> list[tuple[int, int | None, float]]:
    """The ``k`` forget images with the highest member score: ``(forget position, train index, score)``."""
    member = np.asarray(scores.member, dtype=np.float64)
    order = np.argsort(-member, kind="mergesort")[:k]
    train = scores.train_index
    return [
        (
            int(scores.member_index[i]),
            None if train is None or len(train) != len(member) else int(train[i]),
            float(member[i]),
        )
        for i in order
    ]


def forget_images(run: UnlearnReport, scenario, train_indices) -> list[np.ndarray] | None:
    """The training images at ``train_indices`` as RGB uint8 arrays, or None when they cannot be reached
    (the run was not made on this scenario's training split, or it has no training indices)."""
    got = split_images(run, scenario, "train", list(train_indices), strict=True)
    return None if got is None else [img for _i, img in got]


_CAPTION = (
    "What am I looking at: a loss-based membership attack. Red: the forget images' scores (-loss; right = "
    "the model fits them well, as if it trained on them); grey: test images of the same classes (and "
    "groups) the model never saw. TPR = share of forget images flagged, FPR = share of unseen images "
    "flagged, advantage = TPR - FPR. After good unlearning the two histograms overlap and the advantage "
    "is near 0 at every threshold."
)


def threshold_histograms(scores: dict[str, MIAScores], titles: dict[str, str], *, key: str) -> None:
    """One shared threshold slider over side-by-side histograms of ``scores`` (label -> scores), each
    with its TPR / FPR / advantage at the threshold and the worst case. The slider starts at the last
    entry's worst-case threshold."""
    lo, hi = score_range(scores)
    t = st.slider(
        "Attack threshold (flag an image as trained on when its score is at or above it)",
        min_value=lo,
        max_value=hi,
        value=default_threshold(scores),
        step=(hi - lo) / 200,
        format="%.3f",
        key=f"{key}_threshold",
    )
    cols = st.columns(len(scores))
    for col, (name, s) in zip(cols, scores.items()):
        point, worst = at_threshold(s.member, s.nonmember, t), worst_case(s.member, s.nonmember)
        with col:
            fig = histogram(s, threshold=t, title=titles.get(name, name), bins=(lo, hi))
            charts.plot(fig, key=f"{key}_hist_{name}")
            st.markdown(point_text(point, worst))
            st.markdown(reading(point))
    st.caption(_CAPTION)


def membership_two_runs(a: UnlearnReport, b: UnlearnReport, titles: tuple[str, str], *, key: str = "mia2") -> None:
    """The attack against two unlearned models (run A's and run B's after scores) with one threshold."""
    st.subheader("Membership inference after each run, interactive")
    scores = {name: run_scores(r).get("after") for name, r in (("A", a), ("B", b))}
    kept = {name: s for name, s in scores.items() if s is not None}
    if len(kept) < 2:
        missing = " and ".join(name for name, s in scores.items() if s is None)
        st.info(f"Run {missing} kept no per-sample attack scores (made before they were stored): nothing to compare.")
        return
    threshold_histograms(kept, {"A": titles[0], "B": titles[1]}, key=key)


def membership_panel(run: UnlearnReport, scenario=None, *, key: str = "mia") -> None:
    """The "Membership inference, interactive" section (a note when the run kept no scores)."""
    st.subheader("Membership inference, interactive")
    scores = run_scores(run)
    if not scores:
        st.info(
            "This run kept no per-sample attack scores (it was made before they were stored): run "
            "unlearning again to explore the attack here."
        )
        return
    threshold_histograms(scores, {"before": "Before unlearning", "after": "After unlearning"}, key=key)
    after = scores.get("after")
    if after is None:
        return
    picks = surest_members(after)
    st.markdown(f"**The {len(picks)} forget images the attack is surest about after unlearning**")
    images = forget_images(run, scenario, [p[1] for p in picks])
    if images is None:
        st.caption(
            "The images cannot be shown: this run's forget images cannot be reached from the loaded "
            "subject (another dataset, or a run stored before their training indices were kept). Their "
            "scores: " + ", ".join(f"#{p[0]} {p[2]:.3f}" for p in picks)
        )
        return
    per_row = 8
    for start in range(0, len(picks), per_row):
        row = st.columns(per_row)
        for c, (pos, _, score), img in zip(row, picks[start : start + per_row], images[start : start + per_row]):
            c.image(upscale(img), caption=f"#{pos} · {score:.3f}")
    st.caption(
        "What am I looking at: the forget images with the highest score after unlearning (caption: position "
        "in the forget set · score, -loss; near 0 = the model still fits them perfectly). These are the images "
        "the unlearned model still seems to remember most."
    )
