"""The workflows the CLI and the dashboard call, one module each.

- :mod:`.subject`: :class:`Subject` (data with groups and a model), :func:`load_subject`,
  :func:`model_card`, :func:`dataset_card`;
- :mod:`.auditing`: :func:`audit` of one split;
- :mod:`.assessment`: :func:`evaluate_unlearning`, the before / after measurements of an
  unlearned model (privacy, radar axes, score);
- :mod:`.unlearning`: :func:`unlearn` (forget set, method, assessment, run store) and the
  scenario's hyper-parameter defaults;
- :mod:`.sweeping`: :func:`sweep` over methods x intensities and its Pareto front.

Nothing here draws, composes images or imports the dashboard's packages (streamlit, plotly).
"""
from .assessment import Assessment, assess, evaluate_unlearning
from .auditing import audit
from .subject import Subject, dataset_card, load_subject, model_card
from .sweeping import SWEEP_COLUMNS, SweepResult, sweep, sweep_row
from .unlearning import retrain_recipe, scenario_hyperparameters, unlearn

__all__ = [
    "Subject",
    "load_subject",
    "model_card",
    "dataset_card",
    "audit",
    "evaluate_unlearning",
    "assess",
    "Assessment",
    "unlearn",
    "retrain_recipe",
    "scenario_hyperparameters",
    "sweep",
    "SweepResult",
    "sweep_row",
    "SWEEP_COLUMNS",
]
