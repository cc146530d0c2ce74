"""The views inside the model in reports and on the dashboard: CKA bars, projection scatter, the report section."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Mapping, Sequence

from ..results import PAIRS_PICTURE, Cohorts, CounterfactualPairs, Leakage, Relearning, Representation, UnlearnReport
from ._figures import AFTER_COLOUR, ORACLE_COLOUR, _report_layout
from ._html import _e, _fmt, _section, _table, _with_ci

__all__ = [
    "cka_figure",
    "projection_figure",
    "insight_section",
    "pairs_section",
    "leakage_rows",
    "cohort_rows",
]

_GROUP_COLOURS = ["#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#dc2626"]


def cka_figure(rep: Representation, *, height: int = 320):
    """Bars of linear CKA with the original model per block: unlearned (blue) and oracle (green)."""
    import plotly.graph_objects as go

    names = [html.escape(b.block) for b in rep.blocks]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=names, y=[b.unlearned for b in rep.blocks], name="Unlearned", marker_color=AFTER_COLOUR))
    if any(b.oracle is not None for b in rep.blocks):
        fig.add_trace(go.Bar(x=names, y=[b.oracle for b in rep.blocks], name="Oracle", marker_color=ORACLE_COLOUR))
    _report_layout(fig, height=height, barmode="group", bargap=0.25)
    fig.update_yaxes(title_text="CKA with the original", range=[0, 1.05])
    fig.update_xaxes(title_text="block")
    return fig


def projection_figure(rep: Representation, model: str, *, height: int = 360, colour_by: str = "groups"):
    """Scatter of one model's 2-D projection (``model``: ``original``, ``unlearned`` or ``oracle``),
    one colour per group (or class, ``colour_by="classes"``)."""
    import plotly.graph_objects as go

    proj = rep.projection
    points = proj.coordinates.get(model, []) if proj is not None else []
    labels = getattr(proj, colour_by, []) if proj is not None else []
    fig = go.Figure()
    indices = list(proj.indices) if proj is not None else []
    classes = list(proj.classes) if proj is not None else []
    for i, name in enumerate(sorted(set(labels), key=str)):
        keep = [j for j, v in enumerate(labels) if v == name]
        fig.add_trace(
            go.Scattergl(
                x=[points[j][0] for j in keep],
                y=[points[j][1] for j in keep],
                mode="markers",
                name=html.escape(str(name)),
                marker=dict(size=5, color=_GROUP_COLOURS[i % len(_GROUP_COLOURS)], opacity=0.7),
                # each point's test-split index (the dashboard shows the images of selected points)
                customdata=[indices[j] if j < len(indices) else -1 for j in keep],
                text=[html.escape(str(classes[j])) if j < len(classes) else "" for j in keep],
                hovertemplate="test image #%{customdata} · class %{text}<extra>%{fullData.name}</extra>",
            )
        )
    method = (proj.method if proj is not None else "pca").upper()
    _report_layout(fig, height=height, title=dict(text=f"{model} ({method})", x=0.5, y=0.98))
    fig.update_xaxes(showticklabels=False, title_text=f"{method} 1")
    fig.update_yaxes(showticklabels=False, title_text=f"{method} 2")
    return fig


def leakage_rows(leak: Leakage) -> list[dict]:
    """One row per probed model (features, then outputs when probed): its AUC and interval."""
    rows = []
    layers = [("", leak)] + ([(" (outputs)", leak.output)] if leak.output is not None else [])
    for suffix, source in layers:
        rows += _probe_rows(source, suffix)
    return rows


def _probe_rows(source, suffix: str) -> list[dict]:
    rows = []
    for name in ("original", "unlearned", "oracle"):
        p = getattr(source, name)
        if p is None:
            continue
        ci = p.auc_ci
        rows.append(
            {
                "model": name + suffix,
                "probe AUC": p.auc,
                "CI low": ci.low if ci is not None else None,
                "CI high": ci.high if ci is not None else None,
            }
        )
    return rows


def cohort_rows(cohorts: Cohorts | None, when: str) -> list[dict]:
    """The worst slices as table rows, labelled ``when`` (before / after)."""
    if cohorts is None:
        return []
    return [
        {
            "model": when,
            "slice": s.label,
            "n": s.n,
            "accuracy": s.accuracy,
            "rest": s.rest_accuracy,
            "gap": s.gap,
            "q": s.q_value,
        }
        for s in cohorts.slices
    ]


def _rows_html(rows: Sequence[dict], numeric: Sequence[str]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    head = [(c, "num" if c in numeric else "") for c in cols]
    body = []
    for r in rows:
        cells = []
        for c in cols:
            v = r[c]
            if c == "q" and isinstance(v, float):
                cells.append(_e(f"{v:.2g}"))
            elif isinstance(v, float):
                cells.append(_e(_fmt(v)))
            else:
                cells.append(_e("" if v is None else v))
        body.append(cells)
    return _table(head, body)


def insight_section(result: UnlearnReport, cka_html: str | None = None) -> str:
    """The report's "inside the model" section: one reading per view, then its numbers."""
    parts = []
    leak: Leakage | None = result.leakage
    if leak is not None:
        parts.append(f"<h3>Attribute leakage ({_e(leak.attr)})</h3><p>{_e(leak.reading)}</p>")
        parts.append(_rows_html(leakage_rows(leak), ("probe AUC", "CI low", "CI high")))
        parts.append(f'<p class="note">{_e(leak.method)}; chance {leak.chance:g}.</p>')
    before = result.before.cohorts if result.before is not None else None
    after = result.after.cohorts if result.after is not None else None
    if before is not None or after is not None:
        parts.append("<h3>Worst slices (cohorts)</h3>")
        for when, c in (("before", before), ("after", after)):
            if c is not None:
                parts.append(f"<p><b>{when}:</b> {_e(c.reading)}</p>")
        rows = cohort_rows(before, "before") + cohort_rows(after, "after")
        parts.append(_rows_html(rows, ("n", "accuracy", "rest", "gap", "q")))
    rep: Representation | None = result.representation
    if rep is not None:
        parts.append(f"<h3>Representation</h3><p>{_e(rep.reading)}</p>")
        if cka_html:
            parts.append(f'<div class="chart" id="cka-chart">{cka_html}</div>')
        rows = [{"block": b.block, "dim": b.dim, "CKA unlearned": b.unlearned} for b in rep.blocks]
        if any(b.oracle is not None for b in rep.blocks):
            for r, b in zip(rows, rep.blocks):
                r["CKA oracle"] = b.oracle
        parts.append(_rows_html(rows, ("dim", "CKA unlearned", "CKA oracle")))
    rel: Relearning | None = result.relearning
    if rel is not None:
        parts.append(f"<h3>Relearning stress test</h3><p>{_e(rel.reading)}</p>")
        rows = []
        for name in ("original", "unlearned", "oracle"):
            curve = getattr(rel, name)
            if curve is not None and curve.dp:
                rows.append(
                    {
                        "model": name,
                        "DP at 0": curve.dp[0],
                        f"DP at {curve.steps[-1]}": curve.dp[-1],
                        "steps to half": "not within k" if curve.steps_to_half is None else curve.steps_to_half,
                    }
                )
        parts.append(_rows_html(rows, tuple(k for r in rows[:1] for k in r if k != "model")))
    if not parts:
        return ""
    note = '<p class="note">On the test split; what each view means: docs/insight.md.</p>'
    return _section("insight", "Inside the model", "".join(parts) + note)


def _class(classes: Sequence[str], c: int | None) -> str:
    if c is None:
        return ""
    return classes[c] if 0 <= c < len(classes) else str(c)


def _prediction(classes: Sequence[str], original: int | None, flipped: int | None) -> str:
    if original is None:
        return "&mdash;"
    text = f"{_e(_class(classes, original))} &rarr; {_e(_class(classes, flipped))}"
    return f'<span class="bad">{text} &#10007;</span>' if original != flipped else text


def pairs_section(result: UnlearnReport, artifacts: Mapping[str, Path] | None = None) -> str:
    """The report's counterfactual pairs: the flip rate before and after (overall and per group),
    the example pairs' picture (the run's ``counterfactual_pairs.png``, when given) and predictions."""
    pairs: CounterfactualPairs | None = result.pairs
    if pairs is None or pairs.before is None:
        return ""
    parts = [f"<p>{_e(pairs.reading)}</p>"]
    after = pairs.after
    head = [("Images", ""), ("n", "num"), ("Before", "num b")] + ([("After", "num a")] if after else [])
    rows = [["all", _e(pairs.before.n), _with_ci(pairs.before.rate, pairs.before.ci)]]
    if after is not None:
        rows[0].append(_with_ci(after.rate, after.ci))
    by_group = {g.group: g for g in after.groups} if after is not None else {}
    for g in pairs.before.groups if len(pairs.before.groups) > 1 else []:
        row = [f"{_e(pairs.group_attr)} {_e(g.group)}", _e(g.n), _with_ci(g.rate, g.ci)]
        if after is not None:
            a = by_group.get(g.group)
            row.append(_with_ci(a.rate, a.ci) if a is not None else "&mdash;")
        rows.append(row)
    parts.append("<h3>Flip rate (share of predictions that change with the " + _e(pairs.attr) + ")</h3>")
    parts.append(_table(head, rows))
    path = (artifacts or {}).get(PAIRS_PICTURE)
    data = Path(path).read_bytes() if path is not None and Path(path).is_file() else b""
    if pairs.examples:
        parts.append("<h3>Example pairs</h3>")
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
            caption = (
                f"Each pair: the test image (left) and the same image with only the {pairs.attr} flipped "
                "(right), in the order of the table below, four pairs a row."
            )
            parts.append(
                f'<figure class="img"><img alt="{_e(caption)}" src="{src}"><figcaption>{_e(caption)}</figcaption>'
                "</figure>"
            )
        head = [("Test image", "num"), ("True class", ""), (pairs.group_attr or "group", ""), ("Before", "")]
        head += [("After", "")] if after is not None else []
        body = []
        for e in pairs.examples:
            row = [_e(e.index), _e(_class(pairs.classes, e.label)), _e(e.group)]
            row.append(_prediction(pairs.classes, e.before_original, e.before_flipped))
            if after is not None:
                row.append(_prediction(pairs.classes, e.after_original, e.after_flipped))
            body.append(row)
        parts.append(_table(head, body))
    note = (
        f'<p class="note">On {pairs.n} {_e(pairs.split)} images; prediction on the original &rarr; on the '
        f"flipped image (&#10007;: it changed). {_e(pairs.method)}; {pairs.level:.0%} intervals.</p>"
    )
    return _section("pairs", "Counterfactual pairs", "".join(parts) + note)
