"""The one table that maps ``intensity`` in [0, 1] to every method's hyper-parameters.

A cell ``(low, high)`` is interpolated linearly: ``low`` just above intensity 0, ``high`` at 1
(rounded for integers); a plain value is used at every intensity. Intensity 0 itself never runs a
method (the model is returned unchanged). ``COMMON`` applies to every method; a method's row
overrides it. Validation accuracy may fall by at most ``ACCURACY_BOUND * intensity``
(see :mod:`bamu_core.unlearn._select`). Advanced users pass raw values in ``hyperparameters``.

The table was set on the digit scenarios' small CNNs. A scenario may carry its own defaults for its
model (``Scenario.unlearning``, cells in the same form); :func:`bamu_core.workflows.unlearn` puts
them between this table and the user's values (see ``patch-cifar10``: its pretrained ResNet-20
needs plain SGD with far smaller steps than these Adam rates).
"""
from __future__ import annotations

from ._select import ACCURACY_BOUND

__all__ = ["COMMON", "INTENSITY_TABLE", "resolve_hyperparameters", "at_intensity", "intensity_table_markdown"]

COMMON: dict = {
    "batch_size": 64,  # images per stream per step
    "optimizer": "adam",
    "weight_decay": 0.0,
    "eval_every": 1,  # steps between validation evaluations (the useful window is short)
    "amp": "auto",  # mixed precision: on for CUDA
    "selection_metric": "auto",  # DP difference for 2 classes, accuracy gap for more
    "max_accuracy_drop": None,  # None: ACCURACY_BOUND * intensity
    "max_recall_drop": 0.10,  # plus two standard errors of each class's validation recall
    "collapse_drop": 0.25,
    "patience": 8,  # evaluations without a better admissible checkpoint before stopping
    "eval_size": 128,  # forget / retain images evaluated when a method does not see them
}

INTENSITY_TABLE: dict[str, dict] = {
    # -CE on forget + retain_weight * CE on retain, all weights
    "ga": {"steps": (10, 50), "lr": (1e-4, 5e-4), "forget_weight": 1.0, "retain_weight": 4.0},
    # the same objective on LoRA adapters only (rank r, scale alpha / r)
    "lora": {"steps": (10, 50), "lr": (1e-3, 4e-3), "rank": 8, "alpha": 16.0, "targets": None, "forget_weight": 1.0, "retain_weight": 4.0},
    # retain_weight * KL(teacher||student) + ce_weight * CE on retain - forget_weight * KL on forget
    "distill": {"steps": (10, 50), "lr": (1e-4, 5e-4), "temperature": 2.0, "forget_weight": 1.0, "retain_weight": 0.5, "ce_weight": 4.0},
    "finetune": {"steps": (10, 50), "lr": (1e-4, 5e-4)},
    # CE towards random wrong labels on forget + retain_weight * CE on retain
    "random_label": {"steps": (10, 50), "lr": (1e-4, 5e-4), "forget_weight": 1.0, "retain_weight": 2.0},
    # CE on retain + forget_weight * CE on counterfactual forget images (true labels)
    "counterfactual": {"steps": (10, 50), "lr": (1e-4, 5e-4), "forget_weight": 1.0, "cf_fraction": 0.0},
    # last-layer Newton step, scaled over a grid up to max_scale * |theta|
    "newton": {"steps": (10, 40), "max_scale": (0.1, 1.0), "damping": 0.1, "use_counterfactual": True},
    # the oracle: the baseline recipe on the retain set (the workflow passes the scenario's recipe)
    "retrain": {"epochs": 30, "lr": 1e-3, "batch_size": 64, "optimizer": "adam", "weight_decay": 5e-4, "init": None, "reinit": [], "use_cache": True},
}


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _interpolate(cell, t: float):
    """A ``(low, high)`` tuple of numbers is a range; anything else (lists included) is a plain value."""
    if isinstance(cell, tuple) and len(cell) == 2 and _is_number(cell[0]) and _is_number(cell[1]):
        lo, hi = cell
        value = lo + (hi - lo) * t
        return int(round(value)) if isinstance(lo, int) and isinstance(hi, int) else float(value)
    return cell


def at_intensity(row: dict, intensity: float) -> dict:
    """``row``'s values at ``intensity``: ``(low, high)`` cells interpolated, plain values as they are."""
    return {k: _interpolate(v, intensity) for k, v in row.items()}


def resolve_hyperparameters(method: str, intensity: float, overrides: dict | None = None) -> dict:
    """The hyper-parameters of ``method`` at ``intensity``, with ``overrides`` applied.

    Raises
    ------
    ValueError
        If ``overrides`` names a hyper-parameter the method does not have.
    """
    row = {**COMMON, **INTENSITY_TABLE.get(method, {})}
    hp = at_intensity(row, intensity)
    unknown = sorted(set(overrides or {}) - set(hp))
    if unknown:
        raise ValueError(f"method {method!r} has no hyper-parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(hp))}")
    hp.update(overrides or {})
    return hp


def intensity_table_markdown() -> str:
    """The table as Markdown: one row per method and hyper-parameter, then the shared settings."""
    def cells(cell):
        return cell if isinstance(cell, tuple) else (cell, cell)

    lines = ["| method | hyper-parameter | intensity → 0 | intensity 1 |", "|---|---|---|---|"]
    for method, row in INTENSITY_TABLE.items():
        for key, cell in row.items():
            lo, hi = cells(cell)
            lines.append(f"| {method} | {key} | {lo} | {hi} |")
    for key, cell in COMMON.items():
        lo, hi = cells(cell)
        if key == "max_accuracy_drop":
            lo, hi = 0.0, ACCURACY_BOUND
        lines.append(f"| all (unless above) | {key} | {lo} | {hi} |")
    return "\n".join(lines)
