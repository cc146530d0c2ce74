"""The JSON and CSV exports of a run, and writing a stored run's files."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Mapping, Sequence

from .. import __version__
from ..errors import BamuInputError
from ..results import UnlearnReport
from ..scoring import (
    AXES,
    AXIS_DEFINITIONS,
    LEGACY_SCORE_FORMULA,
    SCORE_FORMULA,
)
from ..storage import atomic_write, atomic_write_json, check_output_path
from ._build import build_report
from ._html import (
    _FAIRNESS,
    _GROUP,
    _PRIVACY,
    _UTILITY,
    CSV_COLUMNS,
    _audit_ci,
    _ci,
    _field,
    _mia,
    _num,
    _value,
)
from ._sections import _is_relative, _score_of

__all__ = ["report_json", "report_rows", "write_report"]


def report_json(result: UnlearnReport | Mapping, *, run: Mapping | None = None) -> dict:
    """The JSON export: the run summary, the full result, and the score definitions used."""
    typed = UnlearnReport.from_json(result)
    scoring = (
        {"version": typed.radar.scoring, "formula": SCORE_FORMULA, "axes": {a: AXIS_DEFINITIONS[a] for a in AXES}}
        if _is_relative(typed)
        else {"version": None, "formula": LEGACY_SCORE_FORMULA}
    )
    return {
        "run": dict(run) if run else None,
        "result": result.to_json() if isinstance(result, UnlearnReport) else dict(result),
        "scoring": scoring,
        "bamu": __version__,
    }


def report_rows(result: UnlearnReport | Mapping) -> list[dict]:
    """The CSV export as rows with :data:`CSV_COLUMNS`: every before/after number of the report."""
    result = UnlearnReport.from_json(result)
    rows: list[dict] = []
    b, a = result.before, result.after

    def add(section, metric, vb, va, group="", ci_b=None, ci_a=None):
        nb, na = _num(vb), _num(va)
        if nb is None and na is None:
            return
        lb, hb = _ci(ci_b)
        la, ha = _ci(ci_a)
        rows.append(
            {
                "section": section,
                "group": group,
                "metric": metric,
                "before": nb,
                "after": na,
                "change": None if nb is None or na is None else na - nb,
                "before_low": lb,
                "before_high": hb,
                "after_low": la,
                "after_high": ha,
            }
        )

    for block, keys in (("utility", _UTILITY), ("fairness", _FAIRNESS)):
        for key, _, _ in keys:
            add(
                block, key, _value(block, b, key), _value(block, a, key), ci_b=_audit_ci(b, key), ci_a=_audit_ci(a, key)
            )
    after_groups = {str(r.group): r for r in (a.groups if a is not None else [])}
    for rb in b.groups if b is not None else []:
        name = str(rb.group)
        ra = after_groups.get(name)
        add("group", "n", rb.n, _field(ra, "n"), group=name)
        for key, _, _ in _GROUP:
            add(
                "group",
                key,
                _field(rb, key),
                _field(ra, key),
                group=name,
                ci_b=_field(rb, f"{key}_ci"),
                ci_a=_field(ra, f"{key}_ci"),
            )
    add("forget", "accuracy", result.forget.accuracy_before, result.forget.accuracy_after)
    pb, pa = result.privacy.mia_before, result.privacy.mia_after
    for key, _, _ in _PRIVACY:
        add("privacy", key, _mia(pb, key), _mia(pa, key), ci_b=_mia(pb, f"{key}_ci"), ci_a=_mia(pa, f"{key}_ci"))
    rb, ra = result.radar.before, result.radar.after
    for axis in AXES:
        add("radar", axis, _field(rb, axis), _field(ra, axis))
    add("score", "composite", _score_of(result), result.score)
    return rows


def _csv_text(rows: Sequence[Mapping]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(
            {k: ("" if r.get(k) is None else (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k])) for k in CSV_COLUMNS}
        )
    return buf.getvalue()


def write_report(
    run,
    *,
    html_path: str | Path | None = None,
    json_path: str | Path | None = None,
    csv_path: str | Path | None = None,
    store=None,
    mkdir: bool = True,
) -> dict[str, Path]:
    """Write the HTML report and/or the JSON and CSV exports of a stored run (atomically).

    Parameters
    ----------
    run : str or RunRecord
        A run id of ``store`` (default: the store under ``BAMU_HOME``) or a record from it.
    html_path, json_path, csv_path : path, optional
        Where to write each export; at least one is required. Each is checked first
        (:func:`~bamu_core.storage.check_output_path`): a link, folder, device or FIFO, a file of
        the run store or a cache, or two exports at one path are refused with ``BamuInputError``.
    mkdir : bool
        Create missing parent folders (default); with ``False`` a missing folder is an error.

    Returns
    -------
    dict
        ``{"html": path, "json": path, "csv": path}`` for the files written.
    """
    if html_path is None and json_path is None and csv_path is None:
        raise BamuInputError("give at least one of html_path, json_path, csv_path")
    import os

    seen: dict[str, str] = {}
    for name, target in (("html_path", html_path), ("json_path", json_path), ("csv_path", csv_path)):
        if target is None:
            continue
        check_output_path(target, mkdir=mkdir, flag=name)
        key = os.path.realpath(target)
        if key in seen:
            raise BamuInputError(f"{name} and {seen[key]} name the same file {target}; give each its own path")
        seen[key] = name
    if isinstance(run, str):
        from ..runs import RunStore

        run = (store or RunStore()).get(run)
    if run.status != "complete" or run.result is None:
        raise BamuInputError(
            f"run {run.run_id} is {run.status}{f' ({run.message})' if run.message else ''}: it has no result to report"
        )
    summary = run.to_dict()
    out: dict[str, Path] = {}
    if html_path is not None:
        text = build_report(run.result, artifacts=run.artifacts, run=summary)
        out["html"] = atomic_write(html_path, lambda p: p.write_text(text, encoding="utf-8"))
    if json_path is not None:
        out["json"] = atomic_write_json(json_path, report_json(run.result, run=summary))
    if csv_path is not None:
        text = _csv_text(report_rows(run.result))
        out["csv"] = atomic_write(csv_path, lambda p: p.write_text(text, encoding="utf-8"))
    return out
