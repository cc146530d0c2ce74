"""Every plotly figure of bamu and the colours of every chart, shared by the HTML report and the
dashboard (``dashboard/charts.py`` shows them in Streamlit).

- :data:`COLOURS`: one colour per role everywhere: before (the audited model, grey), after (the
  unlearned model, blue), the retrain oracle (green), an alert (red); :func:`series_colour`.
- The report's figures: :func:`radar_figure`, :func:`group_accuracy_figure`, :func:`pareto_figure`.
- The dashboard's figures, in larger fonts for a projector: :func:`radar`, :func:`group_bars`,
  :func:`gap_bars`, :func:`confusion_heatmap`, :func:`loss_curve`.

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
    "radar",
    "group_bars",
    "gap_bars",
    "confusion_heatmap",
    "loss_curve",
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
            # radial ticks at 45 degrees, between the axis labels
            radialaxis=dict(
                range=[0, 1],
                tickvals=[0.25, 0.5, 0.75, 1.0],
                angle=45,
                tickangle=45,
                gridcolor=_GRID,
                linecolor=_GRID,
                tickfont=dict(size=10, color=BEFORE_COLOUR),
            ),
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


# ------------------------------------------------------------------------------------------------
# the dashboard's figures
# ------------------------------------------------------------------------------------------------


def _dash_layout(fig, *, title: str | None = None, height: int = 380, **extra):
    fig.update_layout(
        title=dict(text=_esc(title), font=dict(size=18)) if title else None,
        font=_DASH_FONT,
        height=height,
        margin=dict(l=10, r=10, t=50 if title else 20, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1),
        plot_bgcolor="white",
        **extra,
    )
    return fig


def radar(series: Mapping[str, Mapping[str, float]], *, title: str | None = None):
    """A radar chart of scores in [0, 1]: one closed trace per series (before, after, oracle)."""
    import plotly.graph_objects as go

    series = _plain(series)
    axes = _radar_axes(series.values())
    fig = go.Figure()
    _radar_traces(fig, series, axes, [a.replace("_", " ") for a in axes], marker_size=8, hover=False)
    _dash_layout(fig, title=title, height=460)
    fig.update_layout(
        margin=dict(l=90, r=90, t=60 if title else 30, b=80),
        legend=dict(orientation="h", yanchor="top", y=-0.14, xanchor="center", x=0.5),
        polar=dict(
            radialaxis=dict(
                range=[0, 1], tickvals=[0.25, 0.5, 0.75, 1.0], gridcolor=_DASH_GRID, tickfont=dict(size=12), angle=45
            ),
            angularaxis=dict(tickfont=dict(size=16), gridcolor=_DASH_GRID),
        ),
    )
    return fig


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

    series = _plain(series)
    fig = go.Figure()
    for i, (name, rows) in enumerate(series.items()):
        values = [r.get(metric) for r in rows]
        hi, lo, has_ci = _errors(values, [r.get(f"{metric}_ci") for r in rows])
        fig.add_bar(
            name=_esc(name),
            x=[_esc(r["group"]) for r in rows],
            y=values,
            marker_color=series_colour(name, i),
            text=[f"{v:.1%}" if _finite(v) else "n/a" for v in values],
            textposition="inside",
            insidetextanchor="middle",
            textfont=dict(color="white", size=16),
            error_y=dict(type="data", array=hi, arrayminus=lo, visible=True) if has_ci else None,
        )
    _dash_layout(fig, title=title, barmode="group")
    fig.update_yaxes(title_text=label, range=[0, 1.12], tickformat=".0%", gridcolor=_DASH_GRID)
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

    fairness, ci = _plain(fairness), _plain(ci)
    keys = [k for k in _GAP_LABELS if _finite(fairness.get(k))]
    values = [fairness[k] for k in keys]
    hi, lo, has_ci = _errors(values, [(ci or {}).get(k) for k in keys], clip=True)
    fig = go.Figure(
        go.Bar(
            x=values,
            y=[_GAP_LABELS[k] for k in keys],
            orientation="h",
            marker_color=[COLOURS["alert"] if v > threshold else COLOURS["before"] for v in values],
            text=[f"{v:.3f}" for v in values],
            textposition="inside",
            insidetextanchor="start",
            textfont=dict(color="white"),
            error_x=dict(type="data", array=hi, arrayminus=lo, visible=True, color=_INK) if has_ci else None,
            showlegend=False,
        )
    )
    fig.add_vline(x=threshold, line_dash="dash", line_color=_INK)
    fig.add_annotation(
        x=threshold,
        y=1.0,
        yref="paper",
        yanchor="bottom",
        text=f"threshold {threshold:.2f}",
        showarrow=False,
        font=dict(size=14, color=_INK),
    )
    _dash_layout(fig, title=title, height=110 + 60 * max(1, len(keys)))
    fig.update_layout(margin=dict(t=80 if title else 40))
    top = max([threshold, *[v + h for v, h in zip(values, hi)]]) if values else 1.0
    fig.update_xaxes(range=[0, max(0.1, top * 1.25)], gridcolor=_DASH_GRID)
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
    _dash_layout(fig, title=title, height=max(260, 60 + 45 * len(names)))
    fig.update_xaxes(title_text="predicted", side="bottom")
    fig.update_yaxes(title_text="true", autorange="reversed")
    return fig


def loss_curve(events: Sequence, *, title: str | None = None):
    """Loss per step (and the validation DP when the method reports it) from progress events."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    steps = [e.step for e in events]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Scatter(x=steps, y=[e.loss for e in events], name="loss", line=dict(color=COLOURS["after"], width=3))
    )
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
    _dash_layout(fig, title=title, height=320)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.25, xanchor="left", x=0), margin=dict(b=70))
    fig.update_xaxes(title_text="step", gridcolor=_DASH_GRID)
    fig.update_yaxes(title_text="loss", secondary_y=False, gridcolor=_DASH_GRID)
    return fig
