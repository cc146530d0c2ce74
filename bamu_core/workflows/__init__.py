"""The workflows the CLI and the dashboard call, one module each.

- :mod:`.subject`: :class:`Subject` (data with groups and a model), :func:`load_subject`,
  :func:`model_card`, :func:`dataset_card`;
- :mod:`.auditing`: :func:`audit` of one split (optionally its inference in shards on an
  executor, :mod:`.sharded_inference`);
- :mod:`.assessment`: :func:`evaluate_unlearning`, the before / after measurements of an
  unlearned model (privacy, radar axes, score);
- :mod:`.unlearning`: :func:`unlearn` (forget set, method, assessment, run store) and the
  scenario's hyper-parameter defaults;
- :mod:`.subject_recipe`: :class:`SubjectRecipe`, a picklable recipe of a subject per seed;
- :mod:`.sweeping`: :func:`sweep` over seeds x methods x intensities and its Pareto front, here or
  on an executor (:mod:`bamu_core.execution`); :mod:`.sweep_tasks`, one configuration as a task;
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
    dataset_baseline,
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
from .load_times import LOAD_TIMES, LoadTime, expected_load_time
from .subject import (
    Subject,
    dataset_card,
    load_subject,
    model_card,
    require_training_rows,
    training_rows_problem,
)
from .subject_recipe import SubjectRecipe
from .sweeping import SWEEP_COLUMNS, SweepResult, sweep, sweep_row
from .unlearning import retrain_recipe, scenario_hyperparameters, unlearn

__all__ = [
    "LOAD_TIMES",
    "LoadTime",
    "expected_load_time",
    "dataset_baseline",
    "Subject",
    "SubjectRecipe",
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
