"""A stored run as read back, and the headline numbers kept for listings."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..results import UnlearnReport


@dataclass
class RunRecord:
    """One run as stored. ``result`` is loaded by :meth:`RunStore.get` (``None`` in listings).

    ``summary`` holds the headline numbers for listings: ``scenario, method, intensity, score,
    seconds`` and ``metrics`` (``accuracy_before/after, dp_before/after, worst_group_before/after,
    mia_auc_after``; ``None`` where the result lacks them).
    """

    run_id: str
    kind: str
    status: str
    label: str
    created: float
    finished: float | None
    scenario: str | None
    method: str | None
    intensity: float | None
    score: float | None
    seconds: float | None
    message: str
    pid: int | None
    host: str | None
    config: dict
    summary: dict
    artifact_names: list[str]
    folder: Path
    result: dict | None = None

    @property
    def artifacts(self) -> dict[str, Path]:
        """Artifact name -> path, for the artifacts that exist on disk."""
        out = {}
        for name in self.artifact_names:
            p = self.folder / name
            if p.is_file():
                out[name] = p
        return out

    def artifact(self, name: str) -> Path:
        """The path of artifact ``name``; ``FileNotFoundError`` naming the available ones if absent."""
        p = self.folder / name
        if name not in self.artifact_names or not p.is_file():
            have = ", ".join(self.artifact_names) or "none"
            raise FileNotFoundError(f"run {self.run_id} has no artifact {name!r} (available: {have})")
        return p

    def to_dict(self, *, with_result: bool = False) -> dict:
        """A JSON-ready summary (and the full result if asked)."""
        d = {
            "run_id": self.run_id,
            "kind": self.kind,
            "status": self.status,
            "label": self.label,
            "created": self.created,
            "created_iso": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created)),
            "finished": self.finished,
            "scenario": self.scenario,
            "method": self.method,
            "intensity": self.intensity,
            "score": self.score,
            "seconds": self.seconds,
            "message": self.message,
            "summary": self.summary,
            "artifacts": list(self.artifact_names),
            "folder": str(self.folder),
        }
        if with_result:
            d["config"] = self.config
            d["result"] = self.result
        return d


def report_of(result: Mapping | None) -> UnlearnReport:
    """A stored result read as an :class:`~bamu_core.results.UnlearnReport` (missing parts empty)."""
    return UnlearnReport.from_json(result if isinstance(result, Mapping) else {})


def read(report: UnlearnReport, get: Callable[[UnlearnReport], Any]) -> Any:
    """``get(report)``, or ``None`` when the report lacks that part (e.g. a run without audits)."""
    try:
        return get(report)
    except (AttributeError, TypeError, KeyError):
        return None


def _summary_of(config: Mapping, result: Mapping | None) -> dict:
    """Headline numbers kept in their own columns / JSON for fast listings."""
    r = result or {}
    rep = report_of(result)
    return {
        "scenario": config.get("scenario") or read(rep, lambda x: x.dataset.get("name")),
        "method": r.get("method", config.get("method")),
        "intensity": r.get("intensity", config.get("intensity")),
        "score": r.get("score"),
        "seconds": r.get("seconds"),
        "metrics": {
            "accuracy_before": read(rep, lambda x: x.before.utility.accuracy),
            "accuracy_after": read(rep, lambda x: x.after.utility.accuracy),
            "dp_before": read(rep, lambda x: x.before.fairness.demographic_parity_difference),
            "dp_after": read(rep, lambda x: x.after.fairness.demographic_parity_difference),
            "worst_group_before": read(rep, lambda x: x.before.fairness.worst_group_accuracy),
            "worst_group_after": read(rep, lambda x: x.after.fairness.worst_group_accuracy),
            "mia_auc_after": read(rep, lambda x: x.privacy.mia_after.auc),
        },
    }


def compare_records(ra: RunRecord, rb: RunRecord) -> dict:
    """Two stored runs side by side: their summaries and one row per headline metric with b - a
    (``None`` where either run lacks it)."""
    rows = []
    reports = [report_of(ra.result), report_of(rb.result)]
    for metric, get in _COMPARE_METRICS:
        va, vb = (read(rep, get) for rep in reports)
        delta = vb - va if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
        rows.append({"metric": metric, "a": va, "b": vb, "delta": delta})
    return {"a": ra.to_dict(), "b": rb.to_dict(), "rows": rows}


_COMPARE_METRICS = [
    ("accuracy (after)", lambda r: r.after.utility.accuracy),
    ("balanced accuracy (after)", lambda r: r.after.utility.balanced_accuracy),
    ("demographic parity difference (after)", lambda r: r.after.fairness.demographic_parity_difference),
    ("equalized odds difference (after)", lambda r: r.after.fairness.equalized_odds_difference),
    ("worst-group accuracy (after)", lambda r: r.after.fairness.worst_group_accuracy),
    ("forget-set accuracy (after)", lambda r: r.forget.accuracy_after),
    ("MIA AUC (after)", lambda r: r.privacy.mia_after.auc),
    ("MIA efficacy (after)", lambda r: r.privacy.mia_after.efficacy),
    ("radar: utility", lambda r: r.radar.after.utility),
    ("radar: fairness", lambda r: r.radar.after.fairness),
    ("radar: forgetting", lambda r: r.radar.after.forgetting),
    ("radar: privacy", lambda r: r.radar.after.privacy),
    ("score", lambda r: r.score),
    ("seconds", lambda r: r.seconds),
]
