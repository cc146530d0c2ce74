"""Self-contained HTML reports of runs (plotly and images inline, opens offline), JSON and CSV exports,
and every plotly figure of bamu with its colours (the report's and the dashboard's, :mod:`._figures`)."""

from ._build import build_report, environment_info
from ._export import report_json, report_rows, write_report
from ._figures import (
    AFTER_COLOUR,
    BEFORE_COLOUR,
    COLOURS,
    ORACLE_COLOUR,
    candidates_figure,
    group_accuracy_figure,
    pareto_figure,
    radar_figure,
    series_colour,
)
from ._html import CSV_COLUMNS
from ._insight import cka_figure, cohort_rows, leakage_rows, projection_figure
from ._panels import confusion_heatmap, gap_bars, group_bars, loss_curve, radar
from ._sweep import SWEEP_FILES, sweep_figure, write_sweep
from ._verdict import GAP_PLAIN, compare_verdict, gap_key, validation_words, verdict

__all__ = [
    "build_report",
    "verdict",
    "validation_words",
    "compare_verdict",
    "gap_key",
    "GAP_PLAIN",
    "write_report",
    "report_json",
    "report_rows",
    "environment_info",
    "CSV_COLUMNS",
    "radar_figure",
    "group_accuracy_figure",
    "pareto_figure",
    "candidates_figure",
    "BEFORE_COLOUR",
    "AFTER_COLOUR",
    "ORACLE_COLOUR",
    "COLOURS",
    "series_colour",
    "radar",
    "group_bars",
    "gap_bars",
    "confusion_heatmap",
    "loss_curve",
    "sweep_figure",
    "write_sweep",
    "SWEEP_FILES",
    "cka_figure",
    "projection_figure",
    "leakage_rows",
    "cohort_rows",
]
