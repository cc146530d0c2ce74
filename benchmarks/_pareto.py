"""Fairness-vs-utility plots for the benchmark reports: one line per method over its intensities,
as a PNG (matplotlib, when installed) and an HTML page (plotly, its script loaded from its CDN)."""

from __future__ import annotations

from pathlib import Path

from bamu_core.storage import atomic_write

__all__ = ["write_pareto"]


def write_pareto(
    series: dict[str, list[tuple[float, float, float]]], *, title: str, xlabel: str, ylabel: str, stem: Path
) -> list[Path]:
    """Write ``stem``.png and ``stem``.html; ``series`` maps a method to ``(intensity, x, y)`` points.

    Returns the files written (a format is skipped when its library is missing).
    """
    written = []
    series = {m: sorted(pts) for m, pts in sorted(series.items())}
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        plt = None
    if plt is not None:
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
        for method, pts in series.items():
            ax.plot([p[1] for p in pts], [p[2] for p in pts], marker="o", label=method)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        png = stem.with_suffix(".png")
        atomic_write(png, lambda p: fig.savefig(p, format="png"))
        plt.close(fig)
        written.append(png)
    try:
        import plotly.graph_objects as go
    except ImportError:
        return written
    fig = go.Figure()
    for method, pts in series.items():
        fig.add_trace(
            go.Scatter(
                x=[p[1] for p in pts],
                y=[p[2] for p in pts],
                mode="lines+markers",
                name=method,
                text=[f"intensity {p[0]:g}" for p in pts],
            )
        )
    fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title=ylabel, template="plotly_white")
    html_path = stem.with_suffix(".html")
    html = fig.to_html(include_plotlyjs="cdn", full_html=True)
    atomic_write(html_path, lambda p: p.write_text(html))
    written.append(html_path)
    return written
