"""The report's sections, each from the run's :class:`~bamu_core.results.UnlearnReport`."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Mapping

from ..results import PAIRS_PICTURE, UnlearnReport
from ..scoring import (
    AXES,
    AXIS_DEFINITIONS,
    AXIS_LABELS,
    LEGACY_SCORE_FORMULA,
    SCORE_FORMULA,
    composite_score,
    legacy_composite_score,
)
from ..storage import _json_default
from ._figures import _RADAR_SCALE
from ._html import (
    _FAIRNESS,
    _GROUP,
    _PRIVACY,
    _UTILITY,
    _abbr,
    _audit_ci,
    _ba_head,
    _change,
    _e,
    _field,
    _fmt,
    _gap,
    _kv,
    _num,
    _section,
    _table,
    _utility,
    _value,
    _with_ci,
)
from ._verdict import verdict


def _kpis(result: UnlearnReport) -> str:
    b, a = result.before, result.after
    cards = []

    def card(label, after, detail):
        cards.append(
            f'<div class="kpi"><div class="label">{_e(label)}</div><div class="value a">{after}</div><div '
            f'class="detail">{detail}</div></div>'
        )

    acc_b, acc_a = _utility(b, "accuracy"), _utility(a, "accuracy")
    if acc_a is not None:
        card(
            "Test accuracy",
            _fmt(acc_a),
            f'before <span class="b">{_fmt(acc_b)}</span> &middot; change {_change(acc_b, acc_a, True)}',
        )
    dp_b, dp_a = _gap(b, "demographic_parity_difference"), _gap(a, "demographic_parity_difference")
    if dp_a is not None:
        imp = ""
        if _num(dp_b) and _num(dp_a) is not None:
            imp = f" &middot; improvement {(dp_b - dp_a) / dp_b:+.1%}"
        card("DP difference", _fmt(dp_a), f'before <span class="b">{_fmt(dp_b)}</span>{imp}')
    wg_b, wg_a = _gap(b, "worst_group_accuracy"), _gap(a, "worst_group_accuracy")
    if wg_a is not None:
        card(
            "Worst-group accuracy",
            _fmt(wg_a),
            f'before <span class="b">{_fmt(wg_b)}</span> &middot; change {_change(wg_b, wg_a, True)}',
        )
    if _num(result.score) is not None:
        how = "relative to the original" if _is_relative(result) else "legacy: mean of the radar axes"
        card(
            "Composite score",
            _fmt(result.score),
            f'before <span class="b">{_fmt(_score_of(result))}</span> &middot; {how}',
        )
    return f'<div class="kpis">{"".join(cards)}</div>' if cards else ""


def _is_relative(result: UnlearnReport) -> bool:
    """Whether the run's radar has the axes relative to the original (documents without
    ``radar.scoring`` were written with the earlier, absolute axes)."""
    return result.radar is not None and bool(result.radar.scoring)


def _score_of(result: UnlearnReport) -> float | None:
    """The original model's composite: stored with the run, else computed from the radar before
    with the definition the document was written with."""
    radar = result.radar
    if radar is not None and _num(radar.score_before) is not None:
        return radar.score_before
    axes = radar.before if radar is not None else None
    present = {k: v for k, v in axes.present().items() if _num(v) is not None} if axes is not None else {}
    if not present:
        return None
    try:
        return composite_score(present) if _is_relative(result) else legacy_composite_score(present)
    except ValueError:
        return None


def _warning_items(result: UnlearnReport) -> list[str]:
    """The audits' warnings as list items: the after audit's, then the original's not said already."""
    items, seen = [], set()
    for audit, when in ((result.after, "after unlearning"), (result.before, "original model")):
        for w in (audit.warnings if audit is not None else None) or []:
            if w.message not in seen:
                seen.add(w.message)
                items.append(f"<li><b>{_e(when)}:</b> {_e(w.message)}</li>")
    return items


def _verdict_section(result: UnlearnReport) -> str:
    """The run in plain words (:func:`verdict`) and the audits' warnings, first on the page."""
    if result.before is None and result.after is None and result.status in ("ok", ""):
        return ""
    items = _warning_items(result)
    warnings = f'<ul class="warnings">{"".join(items)}</ul>' if items else ""
    return _section("verdict", "In plain words", f'<p class="verdict">{_e(verdict(result))}</p>{warnings}')


def _glossary_section() -> str:
    """Every term of :data:`bamu_core.glossary.GLOSSARY` with its explanation."""
    from ..glossary import GLOSSARY

    items = "".join(f"<dt>{_e(term)}</dt><dd>{_e(text)}</dd>" for term, text in GLOSSARY.items())
    note = '<p class="note">Terms with a dotted underline above show their explanation on hover.</p>'
    return _section("glossary", "Glossary", f'<dl class="glossary">{items}</dl>{note}')


def _summary_section(result: UnlearnReport, run: Mapping | None) -> str:
    ds, model = result.dataset or {}, result.model_card or {}
    intro = ""
    if result.method:
        intro = (
            f"<p>Method <b>{_e(result.method)}</b> at intensity <b>{_fmt(result.intensity, digits=2)}</b>"
            f" on <b>{_e(ds.get('title') or ds.get('name') or 'the data')}</b>"
            f" with model <b>{_e(model.get('arch') or 'unknown')}</b>.</p>"
        )
    msg = result.message or (run or {}).get("message")
    note = f'<p class="note">{_e(msg)}</p>' if msg else ""
    return _section("summary", "Summary", intro + _kpis(result) + note)


def _radar_section(result: UnlearnReport, plotly_html: str | None) -> str:
    rb, ra = result.radar.before, result.radar.after
    before = rb.present() if rb is not None else {}
    after = ra.present() if ra is not None else {}
    axes = [a for a in AXES if a in before or a in after]
    rows = [
        [_e(AXIS_LABELS[a]), _fmt(before.get(a)), _fmt(after.get(a)), _change(before.get(a), after.get(a), True)]
        for a in axes
    ]
    rows.append(
        [
            "<b>Composite score</b>",
            f"<b>{_fmt(_score_of(result))}</b>",
            f"<b>{_fmt(result.score)}</b>",
            _change(_score_of(result), result.score, True),
        ]
    )
    relative = _is_relative(result)
    legacy_b = result.radar.legacy_score_before if result.radar is not None else None
    legacy_a = result.radar.legacy_score_after if result.radar is not None else None
    if relative and (_num(legacy_b) is not None or _num(legacy_a) is not None):
        rows.append(
            ["Legacy composite (for comparison)", _fmt(legacy_b), _fmt(legacy_a), _change(legacy_b, legacy_a, None)]
        )
    if relative:
        defs = "".join(
            f'<tr><td>{_e(AXIS_LABELS[a])}</td><td class="mono">{_e(AXIS_DEFINITIONS[a])}</td></tr>' for a in axes
        )
        legend = (
            '<p class="legend">Each axis in [0, 1]; 1 is best. The original model is the reference: utility 0.5, '
            f"fairness 0. {_e(_RADAR_SCALE)}</p>"
        )
        formula = SCORE_FORMULA
        note = (
            '<p class="note">Fairness and utility are measured against the original model, so leaving it '
            "unchanged scores no better than 0.35; closing half of its gap without losing accuracy scores at "
            "least 0.40. The legacy composite (absolute axes, equal weights) is shown for comparison.</p>"
        )
    else:
        defs = ""
        legend = f'<p class="legend">Each axis in [0, 1]; 1 is best (earlier, absolute axes). {_e(_RADAR_SCALE)}</p>'
        formula = LEGACY_SCORE_FORMULA
        note = (
            '<p class="note">This run was scored with the earlier definition: absolute axes (fairness 1 - gap, '
            "utility capped at 1, privacy against the whole test split), averaged with equal weights.</p>"
        )
    chart = (
        f'<div class="chart" id="radar-chart">{plotly_html}</div>'
        if plotly_html
        else '<p class="note">(plotly is not installed: chart omitted)</p>'
    )
    content = (
        f'<div class="grid2"><div>{legend}{chart}</div><div>{_table(_ba_head("Axis"), rows)}'
        f'<div class="formula">{_e(formula)}</div>{note}'
        + (
            f'<h3>Axis definitions</h3><div class="table-scroll"><table><tbody>{defs}</tbody></table></div>'
            if defs
            else ""
        )
        + "</div></div>"
    )
    return _section("radar", "Scores: radar and composite", content)


def _metrics_section(result: UnlearnReport) -> str:
    b, a = result.before, result.after
    rows = []
    for block, keys in (("utility", _UTILITY), ("fairness", _FAIRNESS)):
        for key, label, hb in keys:
            vb, va = _value(block, b, key), _value(block, a, key)
            if vb is None and va is None:
                continue
            rows.append(
                [_abbr(label), _with_ci(vb, _audit_ci(b, key)), _with_ci(va, _audit_ci(a, key)), _change(vb, va, hb)]
            )
    if not rows:
        return ""
    split = _field(a, "split") or _field(b, "split") or "test"
    n = _field(a, "n") or _field(b, "n")
    note = (
        f'<p class="note">On the {_e(split)} split{f" ({int(n)} samples)" if n else ""}. Brackets: bootstrap '
        "confidence intervals where computed. DP improvement = (DP before - DP after) / DP before.</p>"
    )
    return _section("metrics", "Utility and fairness", _table(_ba_head("Metric"), rows) + note)


def _groups_section(result: UnlearnReport, plotly_html: str | None) -> str:
    b_rows = _field(result.before, "groups") or []
    a_rows = _field(result.after, "groups") or []
    if not b_rows and not a_rows:
        return ""
    by_name = {str(r.group): r for r in b_rows}
    names = [str(r.group) for r in (a_rows or b_rows)]
    after = {str(r.group): r for r in a_rows}
    head = [("Group", ""), ("n", "num")]
    metrics = [
        (k, label, hb) for k, label, hb in _GROUP if any(_num(getattr(r, k)) is not None for r in b_rows + a_rows)
    ]
    for _, label, _ in metrics:
        head += [(f"{label} before", "num b"), (f"{label} after", "num a")]
    head.append(("Accuracy change", "num"))
    rows = []
    for name in names:
        rb, ra = by_name.get(name), after.get(name)
        n = _field(ra, "n") if ra is not None else _field(rb, "n")
        cells = [_e(name), _e("" if n is None else n)]
        for key, _, _ in metrics:
            cells += [
                _with_ci(_field(rb, key), _field(rb, f"{key}_ci")),
                _with_ci(_field(ra, key), _field(ra, f"{key}_ci")),
            ]
        cells.append(_change(_field(rb, "accuracy"), _field(ra, "accuracy"), True))
        rows.append(cells)
    attr = _field(result.after, "group_attr") or _field(result.before, "group_attr")
    title = f"Per-group results{f' (groups: {attr})' if attr else ''}"
    chart = f'<div class="chart" id="group-chart">{plotly_html}</div>' if plotly_html else ""
    note = (
        '<p class="note">Multiclass: TPR is the mean per-class recall within the group, FPR the mean one-vs-rest '
        "false-positive rate.</p>"
    )
    return _section("groups", title, chart + _table(head, rows, wide=True) + note)


def _search_section(result: UnlearnReport, plotly_html: str | None) -> str:
    """``auto``'s candidates, judged on the held-out half of the validation split."""
    search = result.search
    if not search:
        return ""
    head = [
        ("Candidate", ""),
        ("Status", ""),
        ("Seconds", "num"),
        ("Gap closed", "num"),
        ("Accuracy", "num"),
        ("Within bound", ""),
        ("Pareto", ""),
    ]
    rows = []
    for c in search.get("candidates", []):
        chosen = " (chosen)" if c.get("label") == search.get("chosen") else ""
        rows.append(
            [
                _e(f"{c.get('label')}{chosen}"),
                _e(str(c.get("status", "")).replace("_", " ")),
                _fmt(c.get("seconds"), digits=1),
                _fmt(c.get("gain")),
                _fmt(c.get("val_accuracy")),
                "yes" if c.get("admissible") else ("-" if c.get("gain") is None else "no"),
                "yes" if c.get("pareto") else "",
            ]
        )
    fit, choose = search.get("fit_per_group") or {}, search.get("choose_per_group") or {}
    note = (
        f'<p class="note">Each candidate chose its checkpoint on {sum(fit.values())} validation images; the '
        f"candidates were compared on {sum(choose.values())} others "
        f"({', '.join(f'{_e(g)} {n}' for g, n in choose.items())}), with the accuracy bound and the per-class "
        f"recall guard; the gain of the choice had to exceed twice its bootstrap standard error "
        f"({_fmt(search.get('gain_noise'))}). The test split chose nothing.</p>"
    )
    chart = f'<div class="chart" id="search-chart">{plotly_html}</div>' if plotly_html else ""
    return _section("search", "What auto tried", chart + _table(head, rows) + note)


def _privacy_section(result: UnlearnReport) -> str:
    forget = result.forget
    pb, pa = result.privacy.mia_before, result.privacy.mia_after
    rows = []
    if forget.accuracy_before is not None or forget.accuracy_after is not None:
        rows.append(
            [
                _abbr("Forget-set accuracy"),
                _fmt(forget.accuracy_before),
                _fmt(forget.accuracy_after),
                _change(forget.accuracy_before, forget.accuracy_after, None),
            ]
        )
    for key, label, hb in _PRIVACY:
        vb, va = _field(pb, key), _field(pa, key)
        if vb is None and va is None:
            continue
        rows.append(
            [
                _abbr(label),
                _with_ci(vb, _field(pb, f"{key}_ci")),
                _with_ci(va, _field(pa, f"{key}_ci")),
                _change(vb, va, hb),
            ]
        )
    if not rows:
        return ""
    seed = _field(pa, "seed") if _field(pa, "seed") is not None else _field(pb, "seed")
    attack = _field(pa, "attack") or _field(pb, "attack")
    pairs = [
        ("Forget set", f"{_e(forget.n)} training samples" if forget.n else None),
        ("Strategy", _e(forget.strategy) if forget.strategy else None),
        ("Description", _e(forget.description) if forget.description else None),
        ("Attack", _e(f"{attack} classifier on loss, entropy and margin; seed {seed}") if (pa or pb) else None),
        ("Non-members", _e(_matching_text(pa or pb)) if (pa or pb) else None),
    ]
    return _section(
        "privacy",
        "Forgetting and privacy",
        _kv(pairs) + "<h3>Before and after</h3>" + _table(_ba_head("Measure"), rows),
    )


def _matching_text(mia) -> str:
    matching, n = _field(mia, "matching"), _field(mia, "n_pairs")
    if not matching:
        return "the whole test split (written before the class-matched attack: AUC not class-matched)"
    size = f", {n} per side" if n else ""
    return (
        f"test images matched to the forget set by {matching}{size}; loss-threshold AUC with a 95 % bootstrap interval"
    )


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _gallery_section(artifacts: Mapping[str, Path] | None, info: Mapping | None = None) -> str:
    info = info or {}
    title = "Grad-CAM and examples (before / after)"
    pngs = {n: Path(p) for n, p in (artifacts or {}).items() if n.lower().endswith(".png") and n != PAIRS_PICTURE}
    if not pngs:
        return _section("images", title, f'<p class="note">{_e(info["skipped"])}</p>') if info.get("skipped") else ""
    figures = []
    for name in sorted(pngs, key=_image_order):
        data = pngs[name].read_bytes()
        if not data.startswith(_PNG_MAGIC):
            continue
        role = "before" if re.search(r"before", name, re.I) else "after" if re.search(r"after", name, re.I) else ""
        caption = re.sub(r"[_-]+", " ", name[:-4]).strip()
        caption = re.sub(r"\bgradcam\b", "Grad-CAM", caption, flags=re.I)
        src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        figures.append(
            f'<figure class="img {role}"><img alt="{_e(caption)}" '
            f'src="{src}"><figcaption>{_e(caption)}</figcaption></figure>'
        )
    if not figures:
        return ""
    text = f'<p class="legend">{_e(info["caption"])}</p>' if info.get("caption") else ""
    return _section("images", title, text + f'<div class="gallery">{"".join(figures)}</div>')


def _image_order(name: str):
    base = re.sub(r"before|after", "", name, flags=re.I)
    return (base, 0 if re.search("before", name, re.I) else 1, name)


def _settings_section(result: UnlearnReport, run: Mapping | None) -> str:
    settings = result.settings or {}
    hp = settings.get("hyperparameters") or result.hyperparameters or {}
    pairs = [
        ("Method", _e(result.method)),
        ("Intensity", _fmt(result.intensity, digits=2) if result.intensity is not None else None),
        ("Status", f'<span class="badge {_e(result.status)}">{_e(result.status)}</span>' if result.status else None),
        (
            "Run status",
            f'<span class="badge {_e((run or {}).get("status"))}">{_e((run or {}).get("status"))}</span>'
            if (run or {}).get("status")
            else None,
        ),
    ]
    for k, v in settings.items():
        if k != "hyperparameters":
            pairs.append((k.replace("_", " ").capitalize(), _e(_plain(v))))
    content = _kv(pairs)
    if hp:
        rows = [
            [f'<span class="mono">{_e(k)}</span>', f'<span class="mono">{_e(_plain(v))}</span>'] for k, v in hp.items()
        ]
        content += "<h3>Hyper-parameters</h3>" + _table([("Name", ""), ("Value", "")], rows)
    return _section("settings", "Method settings", content)


def _plain(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, default=_json_default)
    return str(v)


def _data_model_section(result: UnlearnReport) -> str:
    ds, model = result.dataset or {}, result.model_card or {}
    if not ds and not model:
        return ""
    classes = ds.get("classes") or []
    class_text = (
        f"{len(classes)}: " + ", ".join(str(c) for c in classes[:12]) + (" ..." if len(classes) > 12 else "")
        if classes
        else None
    )
    splits = ds.get("splits") or {}
    split_text = ", ".join(f"{k} {v.get('n')}" for k, v in splits.items() if isinstance(v, Mapping)) or None
    attr = ds.get("active_group_attr")
    groups = (ds.get("group_attrs") or {}).get(attr) if attr else None
    shape = ds.get("image_shape")
    d_pairs = [
        ("Name", _e(ds.get("title") or ds.get("name"))),
        ("Bias", _e(ds.get("bias"))),
        ("Classes", _e(class_text)),
        ("Images", _e(" x ".join(str(s) for s in shape)) if shape else None),
        ("Splits", _e(split_text)),
        ("Group attribute", _e(f"{attr}: {', '.join(map(str, groups))}") if groups else _e(attr)),
    ]
    m_pairs = [
        ("Architecture", _e(model.get("arch"))),
        ("Description", _e(model.get("description"))),
        ("Parameters", f"{int(model['parameters']):,}" if isinstance(model.get("parameters"), int) else None),
        ("Source", _e(model.get("source"))),
        ("Classes", _e(model.get("num_classes"))),
    ]
    content = (
        f'<div class="grid2"><div><h3>Dataset</h3>{_kv(d_pairs)}</div><div><h3>Model</h3>{_kv(m_pairs)}</div></div>'
    )
    return _section("data", "Dataset and model", content)


def _timing_section(result: UnlearnReport, run: Mapping | None) -> str:
    timings = dict(result.timings or {})
    if result.seconds is not None:
        timings.setdefault("total", result.seconds)
    t_rows = [
        [_e(k.replace("_", " ")), f"{_num(v):.2f} s" if _num(v) is not None else _e(v)] for k, v in timings.items()
    ]
    env = result.environment or {}
    e_pairs = [(k, _e(v)) for k, v in env.items()]
    if run and run.get("created_iso"):
        e_pairs.insert(0, ("Run created", _e(run["created_iso"])))
    content = '<div class="grid2"><div><h3>Timings</h3>'
    content += _table([("Step", ""), ("Wall time", "num")], t_rows) if t_rows else '<p class="note">not recorded</p>'
    content += (
        "</div><div><h3>Environment</h3>"
        + (_kv(e_pairs) if e_pairs else '<p class="note">not recorded</p>')
        + "</div></div>"
    )
    return _section("env", "Timings and environment", content)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
