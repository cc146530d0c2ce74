"""The dashboard's figures: radar, per-group bars, fairness gaps, confusion matrices, loss curves.

They share the colours and helpers of :mod:`._figures` (the report's figures), so that a colour
means the same on every page and in every report. Plotly is imported inside the functions.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ._figures import (
    _DASH_FONT,
    _DASH_GRID,
    _INK,
    COLOURS,
    _errors,
    _esc,
    _finite,
    _plain,
    _radar_axes,
    _radar_traces,
    _radial_axis,
    series_colour,
)

__all__ = ["radar", "group_bars", "gap_bars", "confusion_heatmap", "loss_curve"]


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
        polar=dict(radialaxis=_radial_axis(_DASH_GRID), angularaxis=dict(tickfont=dict(size=16), gridcolor=_DASH_GRID)),
    )
    # the scale in the lower left corner, small and grey, clear of the shapes (the rings carry no numbers)
    fig.add_annotation(
        text="rings: 0.25, 0.5, 0.75, 1",
        xref="paper",
        yref="paper",
        x=0,
        y=0,
        xanchor="left",
        yanchor="top",
        showarrow=False,
        font=dict(size=12, color=COLOURS["before"]),
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
            error_x=dict(type="data", array=hi, arrayminus=lo, visible=True, color=_INK) if has_ci else None,
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
            showlegend=False,
        )
    )
    fig.add_vline(x=threshold, line_dash="dash", line_color=_INK)
    for key, v, h in zip(keys, values, hi):  # each value right of its bar and whisker, clear of the threshold line
        fig.add_annotation(
            x=v + h,
            y=_GAP_LABELS[key],
            text=f"{v:.3f}",
            xanchor="left",
            xshift=6,
            showarrow=False,
            font=dict(size=13, color=_INK),
        )
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
    fig.update_xaxes(range=[0, max(0.1, top * 1.4)], gridcolor=_DASH_GRID)
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


def loss_curve(events: Sequence, *, title: str | None = None, kept_step: int | None = None):
    """Loss per step (and the validation DP when the method reports it) from progress events; a
    dashed vertical line marks ``kept_step`` (the checkpoint the run returned) when it is > 0."""
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
    fig.update_xaxes(title_text="step", gridcolor=_DASH_GRID, tickformat="d", rangemode="tozero")
    fig.update_yaxes(title_text="loss", secondary_y=False, gridcolor=_DASH_GRID)
    if kept_step:
        fig.add_vline(
            x=kept_step,
            line=dict(color=COLOURS["before"], width=2, dash="dash"),
            annotation_text=f"kept: step {kept_step}",
            annotation_position="top",
        )
    return fig
