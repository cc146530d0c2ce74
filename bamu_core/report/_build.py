"""Build the self-contained HTML report of a run, and its JSON and CSV exports.

The input is the unlearn result of DESIGN.md (``run_id, method, intensity, before, after, forget,
privacy, radar, score, seconds, status``) plus, when present, ``dataset`` (a scenario card),
``model`` (a model card), ``settings`` (hyper-parameters, forget strategy), ``timings`` and
``environment``. Every part is optional: a missing one is left out of the page.
"""
from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Mapping

from .. import __version__
from ._figures import AFTER_COLOUR, BEFORE_COLOUR, group_accuracy_figure, radar_figure
from ._html import _e, _fmt
from ._sections import (
    _data_model_section,
    _gallery_section,
    _groups_section,
    _metrics_section,
    _privacy_section,
    _radar_section,
    _settings_section,
    _summary_section,
    _timing_section,
)
from ._template import PAGE

__all__ = ["build_report", "environment_info"]


def environment_info(device: str | None = None) -> dict:
    """Python, torch, torchvision, bamu and platform versions, and the device (for reports)."""
    import torch

    from .._compat import describe_device, pick_device

    info = {
        "bamu": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
    }
    try:
        from importlib.metadata import version

        info["torchvision"] = version("torchvision")
    except Exception:  # pragma: no cover - not installed
        pass
    try:
        info["device"] = describe_device(pick_device(device))
    except ValueError as exc:
        info["device"] = f"unavailable ({exc})"
    return info


# --------------------------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------------------------


def _figures_html(result: Mapping) -> tuple[str | None, str | None]:
    """The radar and the per-group chart as HTML fragments; plotly.js is embedded once, inline."""
    try:
        import plotly.io as pio
    except ImportError:  # pragma: no cover - plotly is a UI dependency
        return None, None
    include = True
    out = []
    radar = result.get("radar") or {}
    figs = []
    if radar.get("before") or radar.get("after"):
        figs.append(("radar", radar_figure(radar.get("before"), radar.get("after"))))
    else:
        figs.append(("radar", None))
    b_rows = (result.get("before") or {}).get("groups")
    a_rows = (result.get("after") or {}).get("groups")
    figs.append(("groups", group_accuracy_figure(b_rows, a_rows) if (b_rows or a_rows) else None))
    config = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["sendDataToCloud"]}
    for name, fig in figs:
        if fig is None:
            out.append(None)
            continue
        out.append(pio.to_html(fig, include_plotlyjs=include, full_html=False, config=config, div_id=f"plot-{name}"))
        include = False
    return out[0], out[1]


def build_report(
    result: Mapping,
    *,
    artifacts: Mapping[str, str | Path] | None = None,
    run: Mapping | None = None,
    title: str | None = None,
) -> str:
    """The report as one self-contained HTML page (plotly.js and images inline; no network needed).

    Parameters
    ----------
    result : dict
        The unlearn result (DESIGN.md layout) with optional ``dataset``, ``model``, ``settings``,
        ``timings``, ``environment``.
    artifacts : dict, optional
        Artifact name -> file path; PNGs are shown (Grad-CAM before/after, galleries) as data URIs.
    run : dict, optional
        The stored run's summary (:meth:`bamu_core.runs.RunRecord.to_dict`): id, status, creation time.
    title : str, optional
        Page heading (default: "Bias-aware unlearning report").
    """
    if not isinstance(result, Mapping):
        raise ValueError(f"result must be a dict (the unlearn JSON), got {type(result).__name__}")
    radar_html, groups_html = _figures_html(result)
    ds = result.get("dataset") or {}
    run_id = (run or {}).get("run_id") or result.get("run_id")
    heading = title or "Bias-aware unlearning report"
    sub = []
    if result.get("method"):
        sub.append(f"{_e(result['method'])} &middot; intensity {_fmt(result.get('intensity'), digits=2)}")
    if ds.get("title") or ds.get("name"):
        sub.append(_e(ds.get("title") or ds.get("name")))
    if run_id:
        sub.append(f"run <code>{_e(run_id)}</code>")
    if result.get("status"):
        sub.append(f'<span class="badge {_e(result["status"])}">{_e(result["status"])}</span>')
    sections = [
        ("summary", "Summary", _summary_section(result, run)),
        ("radar", "Scores", _radar_section(result, radar_html)),
        ("metrics", "Utility and fairness", _metrics_section(result)),
        ("groups", "Groups", _groups_section(result, groups_html)),
        ("privacy", "Forgetting and privacy", _privacy_section(result)),
        ("images", "Grad-CAM", _gallery_section({k: Path(v) for k, v in (artifacts or {}).items()}, result.get("gradcam"))),
        ("data", "Dataset and model", _data_model_section(result)),
        ("settings", "Settings", _settings_section(result, run)),
        ("env", "Timings and environment", _timing_section(result, run)),
    ]
    toc = "".join(f'<a href="#{a}">{_e(label)}</a>' for a, label, body in sections if body)
    generated = time.strftime("%Y-%m-%d %H:%M")
    return PAGE.substitute(
        version=_e(__version__),
        title=_e(f"{heading}{f' - {run_id}' if run_id else ''}"),
        heading=_e(heading),
        subheading=" &middot; ".join(sub),
        toc=toc,
        body="\n".join(body for _, _, body in sections if body),
        footer=_e(f"Generated by bamu {__version__} on {generated}. Self-contained: opens offline."),
        before_colour=BEFORE_COLOUR,
        after_colour=AFTER_COLOUR,
    )
