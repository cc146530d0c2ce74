"""Typed hyper-parameters: one config dataclass per unlearning method.

Every field carries how it follows ``intensity`` and a one-line help text in its metadata:

- :func:`ranged` ``(low, high)``: interpolated linearly, ``low`` just above intensity 0 and
  ``high`` at 1 (rounded when both are integers);
- :func:`fixed` ``value``: the same at every intensity.

:class:`CommonConfig` holds what every method shares (batching, optimiser, evaluation and the
checkpoint-selection rule, :class:`~bamu_core.unlearn._select.SelectionRule`, whose defaults are
read from here); :class:`LoopConfig` adds ``steps`` and ``lr`` for the methods that run the shared
training loop. A method's config declares only the fields it adds or changes.

The intensity table (:data:`bamu_core.unlearn._intensity.INTENSITY_TABLE`) is generated from
these classes, so this module is the one place where a default lives.

>>> cfg = config_class("ga").at_intensity(0.5)
>>> cfg.steps, cfg.patience
(30, 8)
>>> GradientAscentConfig().lr  # made without arguments: the values at intensity 1
0.0005
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ACCURACY_BOUND",
    "SELECTION_METRICS",
    "CONFIGS",
    "config_class",
    "ranged",
    "fixed",
    "cell",
    "interpolate",
    "CommonConfig",
    "LoopConfig",
    "GradientAscentConfig",
    "LoRAConfig",
    "DistillationConfig",
    "FineTuneConfig",
    "RandomLabelConfig",
    "CounterfactualConfig",
    "NewtonConfig",
    "RetrainConfig",
    "DFRConfig",
    "BalancedFineTuneConfig",
    "AutoConfig",
]

# Validation accuracy may fall by at most ACCURACY_BOUND * intensity (2 points at intensity 1).
ACCURACY_BOUND = 0.02
SELECTION_METRICS = ("auto", "demographic_parity_difference", "equalized_odds_difference", "accuracy_gap")


def ranged(low: int | float, high: int | float, help: str) -> Any:
    """A field interpolated from ``low`` (intensity just above 0) to ``high`` (intensity 1); its
    dataclass default is ``high``."""
    return dataclasses.field(default=high, metadata={"range": (low, high), "help": help})


def fixed(value: Any, help: str, *, shown_range: tuple | None = None) -> Any:
    """A field with the same ``value`` at every intensity (lists are copied per instance).

    ``shown_range``: the range the documentation shows when ``value`` stands for one that follows
    the intensity (``max_accuracy_drop = None`` is ``ACCURACY_BOUND * intensity``).
    """
    meta = {"value": value, "help": help, "shown_range": shown_range}
    if isinstance(value, list):
        return dataclasses.field(default_factory=lambda: list(value), metadata=meta)
    return dataclasses.field(default=value, metadata=meta)


def cell(f: dataclasses.Field) -> Any:
    """The intensity-table cell of a field: a ``(low, high)`` tuple, or the plain value."""
    return f.metadata["range"] if "range" in f.metadata else f.metadata["value"]


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def interpolate(cell, t: float):
    """A cell at intensity ``t``: a ``(low, high)`` tuple of numbers is a range; anything else
    (lists and other tuples included) is a plain value."""
    if isinstance(cell, tuple) and len(cell) == 2 and _is_number(cell[0]) and _is_number(cell[1]):
        lo, hi = cell
        value = lo + (hi - lo) * t
        return int(round(value)) if isinstance(lo, int) and isinstance(hi, int) else float(value)
    return cell


class _Config:
    """What every config class can do (not a dataclass itself)."""

    @classmethod
    def at_intensity(cls, intensity: float, **overrides: Any):
        """An instance with every field at ``intensity``, then ``overrides`` (names must exist)."""
        values = {f.name: interpolate(cell(f), float(intensity)) for f in dataclasses.fields(cls)}
        values = {k: list(v) if isinstance(v, list) else v for k, v in values.items()}  # not the table's list
        return cls(**{**values, **overrides})

    def to_dict(self) -> dict:
        """The values by name, in field order (a shallow copy: lists are not copied)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass
class CommonConfig(_Config):
    """Settings shared by every method: batching, optimiser, evaluation and checkpoint selection."""

    batch_size: int = fixed(64, "images per stream per step")
    optimizer: str = fixed("adam", "'adam', or 'sgd' (momentum 0.9)")
    weight_decay: float = fixed(0.0, "L2 penalty of the optimiser")
    eval_every: int = fixed(
        1,
        "steps between validation evaluations (the useful window is short); 0: sized so that validation takes "
        "about a quarter of the run's time (auto's candidates use it)",
    )
    amp: str | bool = fixed("auto", "mixed precision: 'auto' is on for CUDA")
    selection_metric: str = fixed(
        "auto", "fairness gap to minimise; 'auto': DP difference for 2 classes, accuracy gap for more"
    )
    max_accuracy_drop: float | None = fixed(
        None,
        "largest admissible fall of validation accuracy; None: ACCURACY_BOUND * intensity",
        shown_range=(0.0, ACCURACY_BOUND),
    )
    max_recall_drop: float = fixed(
        0.05, "largest admissible fall of a class's validation recall (plus two standard errors)"
    )
    collapse_drop: float = fixed(
        0.25, "a validation / retain accuracy fall beyond this is a collapse (status diverged)"
    )
    patience: int = fixed(8, "evaluations without a better admissible checkpoint before stopping")
    min_evaluations: int = fixed(
        12, "evaluations before a run may stop early on a flat curve (a noisy gap must not end it at once)"
    )
    noise_factor: float = fixed(
        1.0, "a checkpoint is a new best only when its gain exceeds this many bootstrap standard errors"
    )
    eval_size: int = fixed(128, "forget / retain images evaluated when a method does not see them")


@dataclass
class LoopConfig(CommonConfig):
    """Methods that run the shared training loop: a step budget and a learning rate."""

    steps: int = ranged(10, 50, "optimisation steps")
    lr: float = ranged(1e-4, 5e-4, "learning rate")
    lr_backoff: int = fixed(
        4,
        "retries at a third of the rate when a run collapses in the first half of its steps or before a gain "
        "beyond noise (a rate set on another model is too high for this one); 0: never",
    )


@dataclass
class GradientAscentConfig(LoopConfig):
    """``ga``: -forget_weight * CE on forget + retain_weight * CE on retain, all weights."""

    forget_weight: float = fixed(1.0, "weight of the ascent term on the forget set")
    retain_weight: float = fixed(4.0, "weight of the cross-entropy on the retain set (0: no retain stream)")
    balance: str = fixed(
        "none",
        "'group': retain batches draw every group x class cell equally often (removes the shortcut "
        "rather than the class; auto uses it)",
    )


@dataclass
class LoRAConfig(LoopConfig):
    """``lora``: the ``ga`` objective on LoRA adapters only (rank r, scale alpha / r)."""

    lr: float = ranged(1e-3, 4e-3, "learning rate of the adapters")
    rank: int = fixed(8, "LoRA rank r")
    alpha: float = fixed(16.0, "LoRA alpha (the update is scaled by alpha / r)")
    targets: list[str] | None = fixed(
        None, "module-name suffixes to adapt; None: the architecture's, else every conv / linear layer"
    )
    forget_weight: float = fixed(1.0, "weight of the ascent term on the forget set")
    retain_weight: float = fixed(4.0, "weight of the cross-entropy on the retain set (0: no retain stream)")
    balance: str = fixed(
        "none",
        "'group': retain batches draw every group x class cell equally often (removes the shortcut "
        "rather than the class; auto uses it)",
    )


@dataclass
class DistillationConfig(LoopConfig):
    """``distill``: retain_weight * KL(teacher||student) + ce_weight * CE on retain - forget_weight * KL on forget."""

    temperature: float = fixed(2.0, "softmax temperature of the KL terms")
    forget_weight: float = fixed(1.0, "weight of the KL maximised on the forget set")
    retain_weight: float = fixed(0.5, "weight of the KL to the teacher on the retain set")
    ce_weight: float = fixed(4.0, "weight of the cross-entropy on the retain set")
    balance: str = fixed(
        "none",
        "'group': retain batches draw every group x class cell equally often (removes the shortcut "
        "rather than the class; auto uses it)",
    )


@dataclass
class FineTuneConfig(LoopConfig):
    """``finetune``: cross-entropy on the retain set only."""


@dataclass
class RandomLabelConfig(LoopConfig):
    """``random_label``: CE towards random wrong labels on forget + retain_weight * CE on retain."""

    forget_weight: float = fixed(1.0, "weight of the random-label cross-entropy on the forget set")
    retain_weight: float = fixed(2.0, "weight of the cross-entropy on the retain set (0: no retain stream)")


@dataclass
class CounterfactualConfig(LoopConfig):
    """``counterfactual``: CE on retain + forget_weight * CE on counterfactual forget images (true labels)."""

    forget_weight: float = fixed(1.0, "weight of the cross-entropy on the counterfactual forget images")
    cf_fraction: float = fixed(0.0, "share of each retain batch swapped for its counterfactual, in [0, 1]")


@dataclass
class NewtonConfig(CommonConfig):
    """``newton``: last-layer Newton step, scaled over a grid up to max_scale * |theta|."""

    steps: int = ranged(10, 40, "grid points of the step scale (each one evaluated; no optimiser)")
    max_scale: float = ranged(0.1, 1.0, "largest scale, in units of the classifier's norm")
    damping: float = fixed(0.1, "added to the Hessian's diagonal")
    use_counterfactual: bool = fixed(
        True, "replace forget images by their counterfactuals when there are any (else remove them)"
    )


@dataclass
class RetrainConfig(CommonConfig):
    """``retrain``: the oracle, the baseline recipe on the retain set (the workflow passes the scenario's recipe)."""

    epochs: int = fixed(30, "training epochs")
    lr: float = fixed(1e-3, "learning rate")
    batch_size: int = fixed(64, "images per batch")
    optimizer: str = fixed("adam", "'adam', or 'sgd' (momentum 0.9)")
    weight_decay: float = fixed(5e-4, "L2 penalty of the optimiser")
    init: str | None = fixed(None, "pretrained weights to start from; None: from scratch")
    reinit: list[str] = fixed([], "submodules initialised afresh after loading init")
    use_cache: bool = fixed(True, "return a cached retrain of the same architecture, data, recipe and seed")


@dataclass
class DFRConfig(CommonConfig):
    """``dfr``: last layer refitted by logistic regression on a group x class balanced validation sample."""

    steps: int = ranged(5, 20, "grid points from the original last layer to the refitted one (each evaluated)")
    max_mix: float = ranged(0.25, 1.0, "largest share of the refitted layer in its blend with the original")
    c_grid: list[float] = fixed(
        [0.01, 0.03, 0.1, 0.3, 1.0, 3.0],
        "inverse L2 strengths tried; the best worst-group accuracy on the held-out half of the sample wins",
    )
    per_cell: int | None = fixed(None, "images per group x class cell of the sample; None: the smallest cell's size")
    sample: str = fixed(
        "balanced",
        "'balanced': per_cell images of every group x class cell; 'all': every image of the split, "
        "unbalanced (better when the smallest cell holds a few images)",
    )


@dataclass
class AutoConfig(CommonConfig):
    """``auto``: a time-budgeted search over methods and learning rates, chosen on a held-out half of validation.

    The search depth ``quick`` (the dashboard's default) sets ``folds`` 1, ``lr_scales`` [1.0] and
    ``candidates`` dfr, balanced_finetune, counterfactual; ``thorough`` keeps the defaults below.
    """

    eval_every: int = fixed(
        0,
        "passed on to every candidate; 0: each candidate evaluates about as often as keeps validation at a "
        "quarter of its time (every step on small validation splits, every 10-20 on CIFAR-10's)",
    )
    budget_s: float | None = fixed(
        None, "seconds for the whole search; None: 600 on a CPU, 300 on a GPU (the search usually ends sooner)"
    )
    budget_clock: str = fixed(
        "wall",
        "what budget_s counts: 'wall', elapsed seconds (a shared machine ends the search sooner); 'cpu' (CPU "
        "runs), this process's CPU seconds per torch thread, the same under any load",
    )
    candidates: list[str] = fixed(
        ["dfr", "balanced_finetune", "ga", "lora", "distill", "counterfactual", "finetune"],
        "methods tried in this order, most promising first (counterfactual only where the data has "
        "counterfactual images; plain finetune last: on a retain set without bias-conflicting images it "
        "rarely helps)",
    )
    lr_scales: list[float] = fixed(
        [1.0, 0.33], "multipliers of each training method's calibrated learning rate (one candidate each)"
    )
    choose_fraction: float = fixed(
        0.5, "share of the validation split held out to choose between candidates (they select on the rest)"
    )
    folds: int = fixed(
        2,
        "2: every candidate runs twice, each half of validation selecting while the other judges (the mean "
        "gain has less noise), and the winner runs once more on the whole split; 1: one split",
    )


@dataclass
class BalancedFineTuneConfig(LoopConfig):
    """``balanced_finetune``: cross-entropy on the retain set with every group x class cell weighted equally."""

    steps: int = ranged(20, 80, "optimisation steps")


#: Each method's config class by method name, in the order of the intensity table.
CONFIGS: dict[str, type[CommonConfig]] = {
    "ga": GradientAscentConfig,
    "lora": LoRAConfig,
    "distill": DistillationConfig,
    "finetune": FineTuneConfig,
    "random_label": RandomLabelConfig,
    "counterfactual": CounterfactualConfig,
    "newton": NewtonConfig,
    "retrain": RetrainConfig,
    "dfr": DFRConfig,
    "balanced_finetune": BalancedFineTuneConfig,
    "auto": AutoConfig,
}


def config_class(method: str) -> type[CommonConfig]:
    """The config class of ``method`` (:class:`CommonConfig` for a name without its own)."""
    return CONFIGS.get(method, CommonConfig)
