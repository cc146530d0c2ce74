"""Figures on the dashboard's pages. The plotly figures and their colours are the report's
(:mod:`bamu_core.report`, one module for both); here they are shown in Streamlit with their
"what am I looking at" caption, and saliency maps become images."""

from __future__ import annotations

import streamlit as st

from bamu_core.report import (
    COLOURS,
    candidates_figure,
    confusion_heatmap,
    gap_bars,
    group_bars,
    loss_curve,
    radar,
    series_colour,
    sweep_figure,
)

__all__ = [
    "COLOURS",
    "series_colour",
    "radar",
    "group_bars",
    "gap_bars",
    "confusion_heatmap",
    "loss_curve",
    "sweep_figure",
    "candidates_figure",
    "chart",
    "plot",
    "selectable",
    "heat_image",
]

_CONFIG = {"displaylogo": False}


def chart(fig, caption: str, *, key: str | None = None) -> None:
    """A plotly chart with its "what am I looking at" caption."""
    st.plotly_chart(fig, key=key, config=_CONFIG)
    st.caption(caption)


def plot(fig, *, key: str | None = None) -> None:
    """A plotly chart without a caption (e.g. one of several side by side)."""
    st.plotly_chart(fig, key=key, config=_CONFIG)


def selectable(fig, *, key: str):
    """A plotly chart whose points can be picked (click, box or lasso); returns the selection event.
    Dragging draws a selection box (zoom stays in the toolbar)."""
    fig.update_layout(dragmode="select")
    return st.plotly_chart(fig, key=key, config=_CONFIG, on_select="rerun", selection_mode=("points", "box", "lasso"))


def heat_image(heat):
    """A saliency map (H x W, any non-negative scale) as a jet-coloured uint8 image."""
    import numpy as np

    from bamu_core.explain import colorize

    arr = np.asarray(heat.detach().cpu() if hasattr(heat, "detach") else heat, dtype=np.float32)
    top = float(arr.max()) if arr.size else 0.0
    return colorize(arr / top if top > 0 else arr)
