"""A sweep's Pareto plot and its files: ``sweep.csv``, ``sweep.json``, ``pareto.html``."""

from __future__ import annotations

from pathlib import Path

from ..storage import atomic_write, atomic_write_json, check_output_folder
from ._figures import pareto_figure

__all__ = ["sweep_figure", "write_sweep", "SWEEP_FILES"]

#: The files :func:`write_sweep` writes into its folder.
SWEEP_FILES = ("sweep.csv", "sweep.json", "pareto.html")


def sweep_figure(result):
    """The Pareto plot (plotly) of a :class:`~bamu_core.workflows.SweepResult`: points per method
    with intensities, the front, the original."""
    return pareto_figure(
        [r.to_json() for r in result.rows],
        result.front,
        x=result.x,
        y=result.y,
        before=result.before.to_json(),
        title=result.title,
        x_label="Test accuracy after unlearning",
        y_label="Fairness (1 - demographic parity difference)",
    )


def write_sweep(result, folder: str | Path, *, mkdir: bool = True) -> dict[str, Path]:
    """Write ``sweep.csv``, ``sweep.json`` and ``pareto.html`` (self-contained) into ``folder``.

    ``folder`` is created when missing (its missing parents too, unless ``mkdir`` is false); it and
    the three files are checked first (:func:`~bamu_core.storage.check_output_folder`): no link,
    device or folder is replaced, nothing is written into the run store or a cache.
    """
    folder = check_output_folder(folder, names=SWEEP_FILES, mkdir=mkdir, flag="sweep folder")
    out = {
        "csv": atomic_write(folder / "sweep.csv", lambda p: result.table().to_csv(p, index=False, float_format="%.6g")),
        "json": atomic_write_json(folder / "sweep.json", result.to_dict()),
    }
    try:
        import plotly.io as pio
    except ImportError:  # pragma: no cover - plotly is a UI dependency
        return out
    page = pio.to_html(sweep_figure(result), include_plotlyjs=True, full_html=True, config={"displaylogo": False})
    out["html"] = atomic_write(folder / "pareto.html", lambda p: p.write_text(page, encoding="utf-8"))
    return out
