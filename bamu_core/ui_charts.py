"""Plotly figures for the dashboard, built from the library's result dictionaries.

Pure functions (dict in, figure out) so they can be tested without a browser. Every figure uses
the same colours for "before", "after" and the oracle (:data:`bamu_core.ui_state.COLOURS`, also
the report's) and fonts large enough for a projector. The sweep's Pareto plot is the report's
(:meth:`bamu_core.workflows.SweepResult.figure`). Plotly is imported inside the functions.
"""
from __future__ import annotations

import html
import math
from typing import Mapping, Sequence

from .ui_state import COLOURS

__all__ = [
    "group_bars",
    "gap_bars",
    "confusion_heatmap",
    "radar",
    "loss_curve",
    "series_colour",
]

_FONT = dict(size=16)
_SERIES_FALLBACK = ["#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d"]  # never the before / after colours


def series_colour(name: str, i: int = 0) -> str:
    """The colour of a series: the fixed role colour for before/after/oracle, else a palette."""
    key = name.lower()
    for role in ("before", "after", "oracle"):
        if key.startswith(role):
            return COLOURS[role]
    return _SERIES_FALLBACK[i % len(_SERIES_FALLBACK)]


def _esc(text) -> str:
    """Plotly renders a subset of HTML in text; names come from users' CSV files."""
    return html.escape(str(text), quote=False)


def _layout(fig, *, title: str | None = None, height: int = 380, **extra):
    fig.update_layout(
        title=dict(text=_esc(title), font=dict(size=18)) if title else None,
        font=_FONT,
        height=height,
        margin=dict(l=10, r=10, t=50 if title else 20, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1),
        plot_bgcolor="white",
        **extra,
    )
    return fig


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def group_bars(
    series: Mapping[str, Sequence[Mapping]],
    *,
    metric: str = "accuracy",
    label: str = "Accuracy",
    title: str | None = None,
):
    """Grouped bars of ``metric`` per group, one bar colour per series ("before", "after", ...).

    ``series`` maps a name to audit ``groups`` rows; a row's ``{metric}_ci`` ({"low", "high"})
    becomes an error bar when present.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, (name, rows) in enumerate(series.items()):
        groups = [_esc(r["group"]) for r in rows]
        values = [r.get(metric) for r in rows]
        err_hi, err_lo, has_ci = [], [], False
        for r, v in zip(rows, values):
            ci = r.get(f"{metric}_ci") or {}
            lo, hi = ci.get("low"), ci.get("high")
            if _finite(lo) and _finite(hi) and _finite(v):
                has_ci = True
                err_hi.append(hi - v)
                err_lo.append(v - lo)
            else:
                err_hi.append(0.0)
                err_lo.append(0.0)
        fig.add_bar(
            name=_esc(name),
            x=groups,
            y=values,
            marker_color=series_colour(name, i),
            text=[f"{v:.1%}" if _finite(v) else "n/a" for v in values],
            textposition="inside",
            insidetextanchor="middle",
            textfont=dict(color="white", size=16),
            error_y=dict(type="data", array=err_hi, arrayminus=err_lo, visible=True) if has_ci else None,
        )
    _layout(fig, title=title, barmode="group")
    fig.update_yaxes(title_text=label, range=[0, 1.12], tickformat=".0%", gridcolor="#e5e7eb")
    return fig


_GAP_LABELS = {
    "demographic_parity_difference": "Demographic parity difference",
    "equalized_odds_difference": "Equalized odds difference",
    "equal_opportunity_difference": "Equal opportunity difference",
    "accuracy_gap": "Accuracy gap (best - worst group)",
}


def gap_bars(fairness: Mapping, *, ci: Mapping | None = None, threshold: float, title: str | None = None):
    """Horizontal bars of the fairness gaps; bars above ``threshold`` in the alert colour."""
    import plotly.graph_objects as go

    keys = [k for k in _GAP_LABELS if _finite(fairness.get(k))]
    values = [fairness[k] for k in keys]
    colours = [COLOURS["alert"] if v > threshold else COLOURS["before"] for v in values]
    lo, hi, has_ci = [], [], False
    for k, v in zip(keys, values):
        c = (ci or {}).get(k) or {}
        if _finite(c.get("low")) and _finite(c.get("high")):
            has_ci = True
            lo.append(max(0.0, v - c["low"]))
            hi.append(max(0.0, c["high"] - v))
        else:
            lo.append(0.0)
            hi.append(0.0)
    fig = go.Figure(
        go.Bar(
            x=values,
            y=[_GAP_LABELS[k] for k in keys],
            orientation="h",
            marker_color=colours,
            text=[f"{v:.3f}" for v in values],
            textposition="inside",
            insidetextanchor="start",
            textfont=dict(color="white"),
            error_x=dict(type="data", array=hi, arrayminus=lo, visible=True, color="#0f172a") if has_ci else None,
            showlegend=False,
        )
    )
    fig.add_vline(x=threshold, line_dash="dash", line_color="#0f172a")
    fig.add_annotation(x=threshold, y=1.0, yref="paper", yanchor="bottom", text=f"threshold {threshold:.2f}",
                       showarrow=False, font=dict(size=14, color="#0f172a"))
    _layout(fig, title=title, height=110 + 60 * max(1, len(keys)))
    fig.update_layout(margin=dict(t=80 if title else 40))
    top = max([threshold, *[v + h for v, h in zip(values, hi)]]) if values else 1.0
    fig.update_xaxes(range=[0, max(0.1, top * 1.25)], gridcolor="#e5e7eb")
    fig.update_yaxes(autorange="reversed")
    return fig


def confusion_heatmap(matrix: Sequence[Sequence[int]], *, class_names: Sequence[str], title: str | None = None):
    """A confusion matrix (rows: true class, columns: predicted) with counts and row shares."""
    import plotly.graph_objects as go

    rows = [list(map(int, r)) for r in matrix]
    share = [[(c / sum(r)) if sum(r) else 0.0 for c in r] for r in rows]
    text = [[f"{c}<br>{s:.0%}" for c, s in zip(r, sr)] for r, sr in zip(rows, share)]
    names = [_esc(c) for c in class_names]
    fig = go.Figure(
        go.Heatmap(
            z=share,
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            colorscale=[[0, "#f8fafc"], [1, COLOURS["after"]]],
            zmin=0,
            zmax=1,
            showscale=False,
        )
    )
    n = len(names)
    _layout(fig, title=title, height=max(260, 60 + 45 * n))
    fig.update_xaxes(title_text="predicted", side="bottom")
    fig.update_yaxes(title_text="true", autorange="reversed")
    return fig


_RADAR_ORDER = ("utility", "fairness", "forgetting", "privacy", "efficiency")


def radar(series: Mapping[str, Mapping[str, float]], *, title: str | None = None):
    """A radar chart of scores in [0, 1]: one closed trace per series (before, after, oracle)."""
    import plotly.graph_objects as go

    axes: list[str] = []
    for values in series.values():
        for k in values:
            if k not in axes and _finite(values[k]):
                axes.append(k)
    axes.sort(key=lambda a: (_RADAR_ORDER.index(a) if a in _RADAR_ORDER else len(_RADAR_ORDER), a))
    fig = go.Figure()
    labels = [a.replace("_", " ") for a in axes]
    for i, (name, values) in enumerate(series.items()):
        r = [values.get(a) if _finite(values.get(a)) else 0.0 for a in axes]
        colour = series_colour(name, i)
        oracle = name.lower().startswith("oracle")
        fig.add_trace(
            go.Scatterpolar(
                r=r + r[:1],
                theta=labels + labels[:1],
                name=_esc(name),
                line=dict(color=colour, width=3, dash="dot" if oracle else "solid"),
                fill="none" if oracle else "toself",
                fillcolor=_rgba(colour, 0.18),
                marker=dict(size=8),
            )
        )
    _layout(fig, title=title, height=460)
    fig.update_layout(
        margin=dict(l=90, r=90, t=60 if title else 30, b=80),
        legend=dict(orientation="h", yanchor="top", y=-0.14, xanchor="center", x=0.5),
        polar=dict(
            radialaxis=dict(range=[0, 1], tickvals=[0.25, 0.5, 0.75, 1.0], gridcolor="#e5e7eb", tickfont=dict(size=12), angle=45),
            angularaxis=dict(tickfont=dict(size=16), gridcolor="#e5e7eb"),
        ),
    )
    return fig


def loss_curve(events: Sequence, *, title: str | None = None):
    """Loss per step (and the validation DP when the method reports it) from progress events."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    steps = [e.step for e in events]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=steps, y=[e.loss for e in events], name="loss", line=dict(color=COLOURS["after"], width=3)))
    dp = [(e.step, e.val_dp) for e in events if _finite(getattr(e, "val_dp", None))]
    if dp:
        fig.add_trace(
            go.Scatter(
                x=[s for s, _ in dp],
                y=[v for _, v in dp],
                name="validation DP gap",
                mode="lines+markers",
                line=dict(color=COLOURS["alert"], width=2, dash="dot"),
            ),
            secondary_y=True,
        )
        fig.update_yaxes(title_text="DP gap", secondary_y=True, rangemode="tozero")
    _layout(fig, title=title, height=320)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.25, xanchor="left", x=0), margin=dict(b=70))
    fig.update_xaxes(title_text="step", gridcolor="#e5e7eb")
    fig.update_yaxes(title_text="loss", secondary_y=False, gridcolor="#e5e7eb")
    return fig
