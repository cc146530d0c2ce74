"""Self-contained HTML reports of runs (plotly and images inline, opens offline), JSON and CSV exports."""
from ._build import build_report, environment_info
from ._export import report_json, report_rows, write_report
from ._figures import (
    AFTER_COLOUR,
    BEFORE_COLOUR,
    COLOURS,
    group_accuracy_figure,
    pareto_figure,
    radar_figure,
)
from ._html import CSV_COLUMNS
from ._sweep import sweep_figure, write_sweep

__all__ = [
    "build_report",
    "write_report",
    "report_json",
    "report_rows",
    "environment_info",
    "CSV_COLUMNS",
    "radar_figure",
    "group_accuracy_figure",
    "pareto_figure",
    "BEFORE_COLOUR",
    "AFTER_COLOUR",
    "COLOURS",
    "sweep_figure",
    "write_sweep",
]
