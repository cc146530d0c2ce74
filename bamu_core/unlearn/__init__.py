"""Unlearning methods, registered by name, all driven by one ``intensity`` in [0, 1]."""
from . import counterfactual, distill, finetune, ga, lora, newton, random_label, retrain  # noqa: F401  (registers the methods)
from ._api import (
    STATUSES,
    ForgetSet,
    ProgressEvent,
    UnlearningMethod,
    UnlearnResult,
    get_method,
    list_methods,
    method_summary,
    register_method,
)
from ._intensity import COMMON, INTENSITY_TABLE, at_intensity, intensity_table_markdown, resolve_hyperparameters
from ._select import ACCURACY_BOUND, SelectionRule

__all__ = [
    "get_method",
    "list_methods",
    "method_summary",
    "register_method",
    "UnlearningMethod",
    "UnlearnResult",
    "ProgressEvent",
    "ForgetSet",
    "STATUSES",
    "SelectionRule",
    "ACCURACY_BOUND",
    "INTENSITY_TABLE",
    "COMMON",
    "resolve_hyperparameters",
    "at_intensity",
    "intensity_table_markdown",
]
