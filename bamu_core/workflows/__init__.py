"""The workflows the CLI and the dashboard call, one module each.

- :mod:`.subject`: :class:`Subject` (data with groups and a model), :func:`load_subject`,
  :func:`model_card`, :func:`dataset_card`;
- :mod:`.auditing`: :func:`audit` of one split;
- :mod:`.assessment`: :func:`evaluate_unlearning`, the before / after measurements of an
  unlearned model (privacy, radar axes, score);
- :mod:`.unlearning`: :func:`unlearn` (forget set, method, assessment, run store) and the
  scenario's hyper-parameter defaults;
- :mod:`.sweeping`: :func:`sweep` over methods x intensities and its Pareto front;
- :mod:`.catalogue`: what there is to choose from (scenarios, official datasets and their
  options, architectures, methods, forget strategies, each with its help) and the device;
- :mod:`.explore`: sample images, the forget set a strategy selects, a Grad-CAM gallery, a
  checkpoint read safely;
- :mod:`.inspection`: :func:`inspect_unlearning`, the views inside the model of a run
  (leakage probe, representation, relearning; :mod:`bamu_core.insight`);
- :mod:`.history`: the runs of a given run store: list, load, compare, delete, export.

Nothing here draws, composes images or imports the dashboard's packages (streamlit, plotly).
"""

from .assessment import Assessment, assess, evaluate_unlearning
from .auditing import audit
from .catalogue import (
    CHECKPOINT_SUFFIXES,
    DATASET_TITLES,
    architectures,
    compute_device,
    dataset_choices,
    dataset_defaults,
    datasets,
    forget_strategies,
    method_hyperparameter_rows,
    method_hyperparameters,
    scenarios,
    unlearning_methods,
)
from .explore import checkpoint_tensors, gallery, preview_forget, sample_images
from .history import (
    EXPORTS,
    compare_runs,
    delete_run,
    export_run,
    list_runs,
    load_run,
    run_gradcam,
)
from .inspection import InsightOptions, aligned_images, inspect_unlearning
from .subject import (
    Subject,
    dataset_card,
    load_subject,
    model_card,
    require_training_rows,
    training_rows_problem,
)
from .sweeping import SWEEP_COLUMNS, SweepResult, sweep, sweep_row
from .unlearning import retrain_recipe, scenario_hyperparameters, unlearn

__all__ = [
    "Subject",
    "load_subject",
    "model_card",
    "dataset_card",
    "training_rows_problem",
    "require_training_rows",
    "audit",
    "InsightOptions",
    "inspect_unlearning",
    "aligned_images",
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
    "CHECKPOINT_SUFFIXES",
    "DATASET_TITLES",
    "scenarios",
    "datasets",
    "dataset_defaults",
    "dataset_choices",
    "architectures",
    "unlearning_methods",
    "forget_strategies",
    "method_hyperparameter_rows",
    "method_hyperparameters",
    "compute_device",
    "sample_images",
    "preview_forget",
    "gallery",
    "checkpoint_tensors",
    "EXPORTS",
    "list_runs",
    "load_run",
    "compare_runs",
    "delete_run",
    "export_run",
    "run_gradcam",
]
