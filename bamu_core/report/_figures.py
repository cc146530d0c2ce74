"""Plotly figures of the report: the radar chart and per-group accuracy, in the report's colours.

Plotly is imported inside the functions (it is a UI dependency). Labels that come from the
user's data (group names) are HTML-escaped, since plotly interprets a subset of HTML in text.
"""
from __future__ import annotations

import html
import math
from typing import Mapping, Sequence

from ..scoring import AXES, AXIS_LABELS

__all__ = ["BEFORE_COLOUR", "AFTER_COLOUR", "COLOURS", "radar_figure", "group_accuracy_figure", "pareto_figure"]

# the same role colours as the dashboard (bamu_core.ui_state.COLOURS)
BEFORE_COLOUR = "#64748b"
AFTER_COLOUR = "#2563eb"
COLOURS = {"before": BEFORE_COLOUR, "after": AFTER_COLOUR}
_PALETTE = ["#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d"]
_FONT = dict(family="-apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif", size=14, color="#0f172a")
_GRID = "#e2e8f0"


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _layout(fig, *, height: int, **extra):
    fig.update_layout(
        font=_FONT,
        height=height,
        margin=dict(l=40, r=40, t=40, b=40),
        paper_bgcolor="white",
        plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="bottom", y=1.04, xanchor="center", x=0.5),
        **extra,
    )
    return fig


def radar_figure(before: Mapping[str, float] | None, after: Mapping[str, float] | None, *, height: int = 420):
    """Radar chart of the scoring axes (each in [0, 1]) before (grey) and after (blue) unlearning."""
    import plotly.graph_objects as go

    series = [("Before", before or {}, BEFORE_COLOUR, "rgba(100,116,139,0.18)"), ("After", after or {}, AFTER_COLOUR, "rgba(37,99,235,0.18)")]
    axes = [a for a in AXES if any(_finite(s.get(a)) for _, s, _, _ in series)]
    if not axes:
        raise ValueError("radar_figure needs at least one radar axis in before or after")
    labels = [AXIS_LABELS[a].replace(" ", "<br>") for a in axes]  # two short lines fit beside the circle
    fig = go.Figure()
    for name, values, line, fill in series:
        if not values:
            continue
        r = [float(values[a]) if _finite(values.get(a)) else 0.0 for a in axes]
        fig.add_trace(
            go.Scatterpolar(
                r=r + r[:1],
                theta=labels + labels[:1],
                name=name,
                mode="lines+markers",
                line=dict(color=line, width=3),
                marker=dict(size=7, color=line),
                fill="toself",
                fillcolor=fill,
                hovertemplate="%{theta}: %{r:.3f}<extra>" + name + "</extra>",
            )
        )
    _layout(fig, height=height)
    fig.update_layout(
        margin=dict(l=110, r=110, t=30, b=70),
        legend=dict(orientation="h", yanchor="top", y=-0.08, xanchor="center", x=0.5),
        polar=dict(
            bgcolor="white",
            # radial ticks at 45 degrees, between the axis labels
            radialaxis=dict(range=[0, 1], tickvals=[0.25, 0.5, 0.75, 1.0], angle=45, tickangle=45,
                            gridcolor=_GRID, linecolor=_GRID, tickfont=dict(size=10, color="#64748b")),
            angularaxis=dict(gridcolor=_GRID, linecolor="#cbd5e1", tickfont=dict(size=14)),
        ),
    )
    return fig


def group_accuracy_figure(before_rows: Sequence[Mapping] | None, after_rows: Sequence[Mapping] | None, *, height: int = 360):
    """Grouped bars of per-group accuracy before and after, with CI error bars when rows carry ``accuracy_ci``."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, rows, colour in (("Before", before_rows, BEFORE_COLOUR), ("After", after_rows, AFTER_COLOUR)):
        if not rows:
            continue
        x = [html.escape(str(r.get("group"))) for r in rows]
        y = [r.get("accuracy") if _finite(r.get("accuracy")) else None for r in rows]
        lo, hi, has_ci = [], [], False
        for r, v in zip(rows, y):
            ci = r.get("accuracy_ci") or {}
            if _finite(ci.get("low")) and _finite(ci.get("high")) and v is not None:
                has_ci = True
                lo.append(v - ci["low"])
                hi.append(ci["high"] - v)
            else:
                lo.append(0.0)
                hi.append(0.0)
        fig.add_trace(
            go.Bar(
                x=x,
                y=y,
                name=name,
                marker_color=colour,
                error_y=dict(type="data", array=hi, arrayminus=lo, visible=True, color="#0f172a", thickness=1.2) if has_ci else None,
                hovertemplate="%{x}: %{y:.3f}<extra>" + name + "</extra>",
            )
        )
    _layout(fig, height=height, barmode="group", bargap=0.25)
    fig.update_yaxes(title_text="accuracy", range=[0, 1.05], tickformat=".0%", gridcolor=_GRID, zeroline=False)
    fig.update_xaxes(title_text="group", linecolor="#cbd5e1")
    return fig


def pareto_figure(
    rows: Sequence[Mapping],
    front: Sequence[int],
    *,
    x: str = "utility",
    y: str = "fairness",
    x_label: str = "Utility (accuracy / original)",
    y_label: str = "Fairness (1 - DP difference)",
    before: Mapping | None = None,
    title: str | None = None,
    height: int = 480,
):
    """Sweep points (one colour per method, intensity as text), the Pareto front, the original model."""
    import plotly.graph_objects as go

    fig = go.Figure()
    methods = []
    for r in rows:
        if r.get("method") not in methods:
            methods.append(r.get("method"))
    for i, m in enumerate(methods):
        mine = [r for r in rows if r.get("method") == m and _finite(r.get(x)) and _finite(r.get(y))]
        fig.add_trace(
            go.Scatter(
                x=[r[x] for r in mine],
                y=[r[y] for r in mine],
                mode="markers+text",
                name=html.escape(str(m)),
                text=[f"{r['intensity']:g}" if _finite(r.get("intensity")) else "" for r in mine],
                textposition="top center",
                marker=dict(size=12, color=_PALETTE[i % len(_PALETTE)], line=dict(width=1, color="white")),
                hovertemplate=f"{html.escape(str(m))}<br>intensity %{{text}}<br>{x} %{{x:.3f}}<br>{y} %{{y:.3f}}<extra></extra>",
            )
        )
    if front:
        fig.add_trace(
            go.Scatter(
                x=[rows[i][x] for i in front],
                y=[rows[i][y] for i in front],
                mode="lines",
                name="Pareto front",
                line=dict(color="#0f172a", width=2, dash="dash"),
                hoverinfo="skip",
            )
        )
    if before is not None and _finite(before.get(x)) and _finite(before.get(y)):
        fig.add_trace(
            go.Scatter(
                x=[before[x]],
                y=[before[y]],
                mode="markers",
                name="original model",
                marker=dict(symbol="star", size=18, color=BEFORE_COLOUR),
            )
        )
    _layout(fig, height=height)
    heading = html.escape(title or "Fairness vs utility") + '<br><span style="font-size:12px;color:#64748b">point labels: intensity; dashed: Pareto front (no point is better on both axes)</span>'
    fig.update_layout(title=dict(text=heading, x=0.01, xanchor="left", font=dict(size=17)), margin=dict(t=110),
                      legend=dict(orientation="h", yanchor="bottom", y=1.01, xanchor="right", x=1))
    fig.update_xaxes(title_text=x_label, gridcolor=_GRID, zeroline=False)
    fig.update_yaxes(title_text=y_label, gridcolor=_GRID, zeroline=False)
    return fig
