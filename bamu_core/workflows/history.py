"""Stored runs, given the :class:`~bamu_core.runs.RunStore` that holds them: list, load, compare,
delete, export (HTML report, JSON, CSV) and the Grad-CAM pictures saved with a run.

The caller chooses the store (the CLI and the dashboard open the one under ``BAMU_HOME``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BamuInputError
from ..results import UnlearnReport

if TYPE_CHECKING:
    from ..runs import RunRecord, RunStore

__all__ = ["EXPORTS", "list_runs", "load_run", "compare_runs", "delete_run", "export_run", "run_gradcam"]

#: The export kinds of a run and their MIME types.
EXPORTS = {"html": "text/html", "json": "application/json", "csv": "text/csv"}
_GRADCAM = ("gradcam_before.png", "gradcam_after.png")


def list_runs(*, store: RunStore, kind: str | None = None, status: str | None = None) -> list[RunRecord]:
    """The runs of ``store`` (of ``kind`` and ``status`` when given), newest first."""
    return store.list(kind=kind, status=status)


def load_run(run_id: str, *, store: RunStore) -> UnlearnReport | None:
    """The stored result of run ``run_id`` (None for a run without a result).

    Raises ``RunNotFoundError`` (a ``ValueError``) for an unknown id.
    """
    result = store.get(run_id).result
    return None if result is None else UnlearnReport.from_json(result)


def compare_runs(a: str, b: str, *, store: RunStore) -> dict:
    """Runs ``a`` and ``b`` side by side (:meth:`bamu_core.runs.RunStore.compare`):
    ``{"a": summary, "b": summary, "rows": [{"metric", "a", "b", "delta"}]}``."""
    return store.compare(a, b)


def delete_run(run_id: str, *, store: RunStore) -> None:
    """Remove run ``run_id`` and its files (refused while it is still running)."""
    store.delete(run_id)


def export_run(run_id: str, kind: str, *, store: RunStore) -> bytes:
    """The HTML report, JSON or CSV export (``kind``) of a stored run, as bytes
    (via :func:`bamu_core.report.write_report`)."""
    from ..report import write_report

    if kind not in EXPORTS:
        raise BamuInputError(f"kind must be one of {', '.join(EXPORTS)}, got {kind!r}")
    with tempfile.TemporaryDirectory(prefix="bamu-export-") as folder:
        path = Path(folder) / f"{run_id}.{kind}"
        written = write_report(store.get(run_id), store=store, **{f"{kind}_path": path})
        return Path(written[kind]).read_bytes()


def run_gradcam(run_id: str | None, *, store: RunStore) -> dict[str, bytes]:
    """The before / after Grad-CAM strips saved with a run, by file name
    (``gradcam_before.png``, ``gradcam_after.png``); {} when the run or the pictures are absent."""
    if not run_id:
        return {}
    try:
        files = store.get(run_id).artifacts
    except ValueError:  # no such run
        return {}
    if not all(n in files for n in _GRADCAM):
        return {}
    return {n: files[n].read_bytes() for n in _GRADCAM}
