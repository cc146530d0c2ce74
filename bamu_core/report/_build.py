"""Build the self-contained HTML report of a run, and its JSON and CSV exports.

The input is a run's :class:`~bamu_core.results.UnlearnReport` (or its JSON document, see
``docs/results.md``): both audits, the forget set, privacy, radar and score, plus, when present,
the dataset and model cards, settings, timings and environment. Every part is optional: a
missing one is left out of the page.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Mapping

from .. import __version__
from ..errors import BamuInputError
from ..results import UnlearnReport
from ._figures import AFTER_COLOUR, BEFORE_COLOUR, candidates_figure, group_accuracy_figure, radar_figure
from ._html import _e, _fmt
from ._insight import cka_figure, insight_section, pairs_section
from ._sections import (
    _data_model_section,
    _gallery_section,
    _glossary_section,
    _groups_section,
    _metrics_section,
    _privacy_section,
    _radar_section,
    _search_section,
    _settings_section,
    _summary_section,
    _timing_section,
    _verdict_section,
)
from ._template import html_fragment, render_page

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


def _figures_html(result: UnlearnReport) -> tuple[str | None, ...]:
    """The radar, the per-group chart, auto's candidates and the CKA bars as HTML fragments (plotly.js once, inline)."""
    try:
        import plotly.io as pio
    except ImportError:  # pragma: no cover - plotly is a UI dependency
        return None, None, None, None
    include = True
    out = []
    figs = []
    rb, ra = result.radar.before, result.radar.after
    before = rb.present() if rb is not None else {}
    after = ra.present() if ra is not None else {}
    figs.append(("radar", radar_figure(before or None, after or None) if (before or after) else None))
    b_rows = [r.to_json() for r in result.before.groups] if result.before is not None else []
    a_rows = [r.to_json() for r in result.after.groups] if result.after is not None else []
    figs.append(("groups", group_accuracy_figure(b_rows or None, a_rows or None) if (b_rows or a_rows) else None))
    figs.append(("search", candidates_figure(result.search) if result.search else None))
    rep = result.representation
    figs.append(("cka", cka_figure(rep) if rep is not None and rep.blocks else None))
    config = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["sendDataToCloud"]}
    for name, fig in figs:
        if fig is None:
            out.append(None)
            continue
        out.append(pio.to_html(fig, include_plotlyjs=include, full_html=False, config=config, div_id=f"plot-{name}"))
        include = False
    return out[0], out[1], out[2], out[3]


def build_report(
    result: UnlearnReport | Mapping,
    *,
    artifacts: Mapping[str, str | Path] | None = None,
    run: Mapping | None = None,
    title: str | None = None,
) -> str:
    """The report as one self-contained HTML page (plotly.js and images inline; no network needed).

    Parameters
    ----------
    result : UnlearnReport
        The run's report (or its JSON document, e.g. a stored run's ``result``); every part is
        optional: a missing one is left out of the page.
    artifacts : dict, optional
        Artifact name -> file path; PNGs are shown (Grad-CAM before/after, galleries) as data URIs.
    run : dict, optional
        The stored run's summary (:meth:`bamu_core.runs.RunRecord.to_dict`): id, status, creation time.
    title : str, optional
        Page heading (default: "Bias-aware unlearning report").
    """
    if not isinstance(result, (Mapping, UnlearnReport)):
        raise BamuInputError(
            f"result must be a dict (the unlearn JSON) or an UnlearnReport, got {type(result).__name__}"
        )
    result = UnlearnReport.from_json(result)
    files = {k: Path(v) for k, v in (artifacts or {}).items()}
    radar_html, groups_html, search_html, cka_html = _figures_html(result)
    ds = result.dataset or {}
    run_id = (run or {}).get("run_id") or result.run_id
    heading = title or "Bias-aware unlearning report"
    sub = []  # HTML parts, each built here from escaped values
    if result.method:
        sub.append(html_fragment(f"{_e(result.method)} &middot; intensity {_fmt(result.intensity, digits=2)}"))
    if ds.get("title") or ds.get("name"):
        sub.append(ds.get("title") or ds.get("name"))  # a plain string: the template escapes it
    if run_id:
        sub.append(html_fragment(f"run <code>{_e(run_id)}</code>"))
    if result.status:
        sub.append(html_fragment(f'<span class="badge {_e(result.status)}">{_e(result.status)}</span>'))
    sections = [
        ("verdict", "In plain words", _verdict_section(result)),
        ("summary", "Summary", _summary_section(result, run)),
        ("radar", "Scores", _radar_section(result, radar_html)),
        ("metrics", "Utility and fairness", _metrics_section(result)),
        ("groups", "Groups", _groups_section(result, groups_html)),
        ("privacy", "Forgetting and privacy", _privacy_section(result)),
        ("search", "What auto tried", _search_section(result, search_html)),
        ("insight", "Inside the model", insight_section(result, cka_html)),
        ("pairs", "Counterfactual pairs", pairs_section(result, files)),
        ("images", "Grad-CAM", _gallery_section(files, result.gradcam)),
        ("data", "Dataset and model", _data_model_section(result)),
        ("settings", "Settings", _settings_section(result, run)),
        ("env", "Timings and environment", _timing_section(result, run)),
        ("glossary", "Glossary", _glossary_section()),
    ]
    generated = time.strftime("%Y-%m-%d %H:%M")
    return render_page(
        version=__version__,
        title=f"{heading}{f' - {run_id}' if run_id else ''}",
        heading=heading,
        subheading=sub,
        toc=[(anchor, label) for anchor, label, body in sections if body],
        sections=[body for _, _, body in sections if body],
        footer=f"Generated by bamu {__version__} on {generated}. Self-contained: opens offline.",
        before_colour=BEFORE_COLOUR,
        after_colour=AFTER_COLOUR,
    )
