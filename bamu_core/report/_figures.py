"""The colours of every chart and the report's plotly figures, shared by the HTML report and the
dashboard (``dashboard/charts.py`` shows them in Streamlit); the dashboard's own figures are in
:mod:`._panels` and use the same colours and helpers.

- :data:`COLOURS`: one colour per role everywhere: before (the audited model, grey), after (the
  unlearned model, blue), the retrain oracle (green), an alert (red); :func:`series_colour`.
- The report's figures: :func:`radar_figure`, :func:`group_accuracy_figure`, :func:`pareto_figure`.
- The dashboard's figures (:mod:`._panels`), in larger fonts for a projector: ``radar``,
  ``group_bars``, ``gap_bars``, ``confusion_heatmap``, ``loss_curve``.

Pure functions (dicts in, figure out), testable without a browser. Plotly is imported inside the
functions (it is a UI dependency). Labels that come from the user's data (group names) are
HTML-escaped, since plotly interprets a subset of HTML in text.
"""

from __future__ import annotations

import html
import math
from typing import Mapping, Sequence

from ..errors import BamuInputError
from ..scoring import AXES, AXIS_LABELS

__all__ = [
    "COLOURS",
    "BEFORE_COLOUR",
    "AFTER_COLOUR",
    "ORACLE_COLOUR",
    "series_colour",
    "radar_figure",
    "group_accuracy_figure",
    "pareto_figure",
]

# One colour per role, everywhere: before (the audited model), after (unlearned), the oracle.
COLOURS = {"before": "#64748b", "after": "#2563eb", "oracle": "#059669", "alert": "#dc2626"}
BEFORE_COLOUR, AFTER_COLOUR, ORACLE_COLOUR = COLOURS["before"], COLOURS["after"], COLOURS["oracle"]
_PALETTE = ["#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d"]  # one per method
_OTHERS = [c for c in _PALETTE if c not in COLOURS.values()]  # series that are not before / after / oracle
_INK = "#0f172a"
_GRID = "#e2e8f0"  # the report's grid lines
_DASH_GRID = "#e5e7eb"  # the dashboard's
_REPORT_FONT = dict(family="-apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif", size=14, color=_INK)
_DASH_FONT = dict(size=16)


def series_colour(name: str, i: int = 0) -> str:
    """The colour of a series: the fixed role colour for before/after/oracle, else a palette
    colour that is none of those."""
    key = name.lower()
    for role in ("before", "after", "oracle"):
        if key.startswith(role):
            return COLOURS[role]
    return _OTHERS[i % len(_OTHERS)]


def _plain(value):
    """Typed results as the plain mappings the figures read: a record's JSON (radar axes: the
    axes present), lists and dicts of records element-wise; anything else as it is."""
    from ..results import RadarAxes, Record

    if isinstance(value, RadarAxes):
        return value.present()
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _esc(text) -> str:
    """Plotly renders a subset of HTML in text; names come from users' CSV files."""
    return html.escape(str(text), quote=False)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _errors(values: Sequence, cis: Sequence[Mapping | None], *, clip: bool = False) -> tuple[list, list, bool]:
    """Error-bar lengths ``(above, below, any)`` of ``values`` from their ``{"low", "high"}``
    intervals (0 where a value or its interval is missing; ``clip``: never negative)."""
    above, below, has = [], [], False
    for v, ci in zip(values, cis):
        lo, hi = (ci or {}).get("low"), (ci or {}).get("high")
        if _finite(lo) and _finite(hi) and _finite(v):
            has = True
            above.append(max(0.0, hi - v) if clip else hi - v)
            below.append(max(0.0, v - lo) if clip else v - lo)
        else:
            above.append(0.0)
            below.append(0.0)
    return above, below, has


def _radar_axes(series: Sequence[Mapping]) -> list[str]:
    """The radar axes any series has a number for, in the scoring order (:data:`bamu_core.scoring.AXES`)."""
    found = {a for values in series for a in values if _finite(values[a])}
    return sorted(found, key=lambda a: (AXES.index(a) if a in AXES else len(AXES), a))


def _radar_traces(
    fig, series: Mapping[str, Mapping], axes: Sequence[str], labels: Sequence[str], *, marker_size: int, hover: bool
) -> None:
    """One closed polygon per series, in its role colour (the oracle dotted and unfilled)."""
    import plotly.graph_objects as go

    labels = list(labels)
    for i, (name, values) in enumerate(series.items()):
        if not values:
            continue
        r = [float(values[a]) if _finite(values.get(a)) else 0.0 for a in axes]
        colour = series_colour(name, i)
        oracle = name.lower().startswith("oracle")
        fig.add_trace(
            go.Scatterpolar(
                r=r + r[:1],
                theta=labels + labels[:1],
                name=_esc(name),
                mode="lines+markers",
                line=dict(color=colour, width=3, dash="dot" if oracle else "solid"),
                fill="none" if oracle else "toself",
                fillcolor=_rgba(colour, 0.18),
                marker=dict(size=marker_size, color=colour),
                hovertemplate="%{theta}: %{r:.3f}<extra>" + _esc(name) + "</extra>" if hover else None,
            )
        )


# ------------------------------------------------------------------------------------------------
# the report's figures
# ------------------------------------------------------------------------------------------------


def _report_layout(fig, *, height: int, **extra):
    fig.update_layout(
        font=_REPORT_FONT,
        height=height,
        margin=dict(l=40, r=40, t=40, b=40),
        paper_bgcolor="white",
        plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="bottom", y=1.04, xanchor="center", x=0.5),
        **extra,
    )
    return fig


#: The radar's rings (its radial grid); the scale is said in the caption, not drawn over the shapes.
_RADAR_RINGS = (0.25, 0.5, 0.75, 1.0)
_RADAR_SCALE = "Rings at 0.25, 0.5 and 0.75; the outer ring is 1 (best), the centre 0."


def _radial_axis(gridcolor: str, **extra) -> dict:
    """The radar's radial axis, report and dashboard alike: range [0, 1], a ring at each of
    :data:`_RADAR_RINGS`, and no tick labels (numbers on the rings would sit on the filled shapes;
    :data:`_RADAR_SCALE` explains the rings, and hovering a point shows its value)."""
    return dict(
        range=[0, 1],
        tickvals=list(_RADAR_RINGS),
        showticklabels=False,
        ticks="",
        gridcolor=gridcolor,
        **extra,
    )


def radar_figure(before: Mapping[str, float] | None, after: Mapping[str, float] | None, *, height: int = 420):
    """Radar chart of the scoring axes (each in [0, 1]) before (grey) and after (blue) unlearning."""
    import plotly.graph_objects as go

    series = {"Before": _plain(before) or {}, "After": _plain(after) or {}}
    axes = [a for a in _radar_axes(series.values()) if a in AXIS_LABELS]
    if not axes:
        raise BamuInputError("radar_figure needs at least one radar axis in before or after")
    labels = [AXIS_LABELS[a].replace(" ", "<br>") for a in axes]  # two short lines fit beside the circle
    fig = go.Figure()
    _radar_traces(fig, series, axes, labels, marker_size=7, hover=True)
    _report_layout(fig, height=height)
    fig.update_layout(
        margin=dict(l=110, r=110, t=30, b=70),
        legend=dict(orientation="h", yanchor="top", y=-0.08, xanchor="center", x=0.5),
        polar=dict(
            bgcolor="white",
            radialaxis=_radial_axis(_GRID, linecolor=_GRID),
            angularaxis=dict(gridcolor=_GRID, linecolor="#cbd5e1", tickfont=dict(size=14)),
        ),
    )
    return fig


def group_accuracy_figure(
    before_rows: Sequence[Mapping] | None, after_rows: Sequence[Mapping] | None, *, height: int = 360
):
    """Grouped bars of per-group accuracy before and after, with CI error bars when rows carry ``accuracy_ci``."""
    import plotly.graph_objects as go

    before_rows, after_rows = _plain(before_rows), _plain(after_rows)
    fig = go.Figure()
    for name, rows, colour in (("Before", before_rows, BEFORE_COLOUR), ("After", after_rows, AFTER_COLOUR)):
        if not rows:
            continue
        y = [r.get("accuracy") if _finite(r.get("accuracy")) else None for r in rows]
        hi, lo, has_ci = _errors(y, [r.get("accuracy_ci") for r in rows])
        fig.add_trace(
            go.Bar(
                x=[html.escape(str(r.get("group"))) for r in rows],
                y=y,
                name=name,
                marker_color=colour,
                error_y=dict(type="data", array=hi, arrayminus=lo, visible=True, color=_INK, thickness=1.2)
                if has_ci
                else None,
                hovertemplate="%{x}: %{y:.3f}<extra>" + name + "</extra>",
            )
        )
    _report_layout(fig, height=height, barmode="group", bargap=0.25)
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
                hovertemplate=f"{html.escape(str(m))}<br>intensity %{{text}}<br>{x} %{{x:.3f}}<br>{y} "
                f"%{{y:.3f}}<extra></extra>",
            )
        )
    if front:
        fig.add_trace(
            go.Scatter(
                x=[rows[i][x] for i in front],
                y=[rows[i][y] for i in front],
                mode="lines",
                name="Pareto front",
                line=dict(color=_INK, width=2, dash="dash"),
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
    _report_layout(fig, height=height)
    heading = (
        html.escape(title or "Fairness vs utility")
        + '<br><span style="font-size:12px;color:#64748b">point labels: intensity; dashed: Pareto front (no point is '
        "better on both axes)</span>"
    )
    fig.update_layout(
        title=dict(text=heading, x=0.01, xanchor="left", font=dict(size=17)),
        margin=dict(t=110),
        legend=dict(orientation="h", yanchor="bottom", y=1.01, xanchor="right", x=1),
    )
    fig.update_xaxes(title_text=x_label, gridcolor=_GRID, zeroline=False)
    fig.update_yaxes(title_text=y_label, gridcolor=_GRID, zeroline=False)
    return fig


def candidates_figure(search: Mapping, *, height: int = 420):
    """``auto``'s candidates on the held-out validation half: accuracy (x) against the fairness gap
    closed (y), one colour per method, the Pareto set joined, the original model as a star and the
    chosen candidate ringed. Inadmissible candidates (outside the accuracy bound or the recall
    guard) are hollow."""
    import plotly.graph_objects as go

    cands = [c for c in search.get("candidates", []) if _finite(c.get("gain")) and _finite(c.get("val_accuracy"))]
    fig = go.Figure()
    methods = list(dict.fromkeys(c["method"] for c in cands))
    for i, m in enumerate(methods):
        mine = [c for c in cands if c["method"] == m]
        colour = _PALETTE[i % len(_PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=[c["val_accuracy"] for c in mine],
                y=[c["gain"] for c in mine],
                mode="markers",
                name=html.escape(m),
                text=[html.escape(c["label"]) for c in mine],
                marker=dict(
                    size=12,
                    color=[colour if c["admissible"] else "white" for c in mine],
                    line=dict(width=2, color=colour),
                ),
                hovertemplate="%{text}<br>accuracy %{x:.3f}<br>gap closed %{y:.3f}<extra></extra>",
            )
        )
    front = sorted((c for c in cands if c.get("pareto")), key=lambda c: c["val_accuracy"])
    if len(front) > 1:
        fig.add_trace(
            go.Scatter(
                x=[c["val_accuracy"] for c in front],
                y=[c["gain"] for c in front],
                mode="lines",
                name="Pareto set",
                line=dict(color=_INK, width=1.5, dash="dash"),
                hoverinfo="skip",
            )
        )
    chosen = [c for c in cands if c["label"] == search.get("chosen")]
    if chosen:
        fig.add_trace(
            go.Scatter(
                x=[chosen[0]["val_accuracy"]],
                y=[chosen[0]["gain"]],
                mode="markers",
                name="chosen",
                marker=dict(size=22, color="rgba(0,0,0,0)", line=dict(width=2.5, color=_INK)),
                hoverinfo="skip",
            )
        )
    if _finite(search.get("original_accuracy")):
        fig.add_trace(
            go.Scatter(
                x=[search["original_accuracy"]],
                y=[0.0],
                mode="markers",
                name="original model",
                marker=dict(symbol="star", size=16, color=BEFORE_COLOUR),
            )
        )
    _report_layout(fig, height=height)
    metric = {"demographic_parity_difference": "DP gap", "accuracy_gap": "accuracy gap"}.get(
        str(search.get("metric")), "gap"
    )
    fig.update_layout(
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0, entrywidth=105, font=dict(size=11)),
        margin=dict(t=60, b=50, l=60),
    )
    fig.update_xaxes(title_text="held-out validation accuracy", gridcolor=_GRID, zeroline=False)
    fig.update_yaxes(title_text=f"{metric} closed", gridcolor=_GRID, zeroline=True, zerolinecolor=_GRID)
    return fig
