"""What the views inside a model measured (:mod:`bamu_core.insight`) as typed results.

Each view carries ``reading``: one plain-English sentence for someone who does not read AUCs.
They are ordinary (mutable) dataclasses like every other :class:`Record`: a frozen dataclass
cannot inherit from the non-frozen base, and the results are built once and not changed after.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._interval import Interval
from ._record import Record, nested, optional

__all__ = [
    "ProbeScore",
    "Leakage",
    "Cohort",
    "Cohorts",
    "BlockSimilarity",
    "Projection",
    "Representation",
    "RelearningCurve",
    "Relearning",
]


@dataclass
class ProbeScore(Record):
    """One model's attribute probe: cross-validated within-class AUC and its bootstrap interval."""

    auc: float | None = None
    auc_ci: Interval | None = nested(Interval, default=None)
    per_class: list[float | None] = field(default_factory=list)  # the AUC inside each class (None: undefined)


@dataclass
class OutputLeakage(Record):
    """The same probe on each model's outputs (its logits) instead of its penultimate features:
    whether the attribute still moves what the model says within a class, not only what it holds."""

    original: ProbeScore | None = nested(ProbeScore, default=None)
    unlearned: ProbeScore | None = nested(ProbeScore, default=None, omit_none=True)
    oracle: ProbeScore | None = nested(ProbeScore, default=None, omit_none=True)


@dataclass
class Leakage(Record):
    """How well a linear probe on a model's penultimate features predicts the group within a class.

    ``original``, ``unlearned`` and (when given) ``oracle`` are :class:`ProbeScore`; ``chance`` is
    the AUC of a probe that knows nothing (0.5). ``method`` says how the probe was fitted.
    ``output`` is the same probe on the models' logits (when they were kept).
    """

    attr: str = ""
    groups: list[str] = field(default_factory=list)
    split: str = "test"
    n: int = 0
    layer: str = ""
    chance: float = 0.5
    original: ProbeScore | None = nested(ProbeScore, default=None)
    unlearned: ProbeScore | None = nested(ProbeScore, default=None, omit_none=True)
    oracle: ProbeScore | None = nested(ProbeScore, default=None, omit_none=True)
    output: OutputLeakage | None = nested(OutputLeakage, default=None, omit_none=True)
    folds: int = 5
    n_boot: int = 0
    seed: int = 0
    method: str = ""
    reading: str = ""
    seconds: float = 0.0


@dataclass
class Cohort(Record):
    """One slice of the data (``where``: column -> value) and how the model does on it."""

    where: dict = field(default_factory=dict)
    label: str = ""
    n: int = 0
    accuracy: float | None = None
    accuracy_ci: Interval | None = nested(Interval, default=None)
    rest_accuracy: float | None = None
    gap: float | None = None  # accuracy - rest_accuracy (negative: worse than the rest)
    p_value: float | None = None
    q_value: float | None = None  # Benjamini-Hochberg over every slice tested


@dataclass
class Cohorts(Record):
    """The worst slices found over the metadata columns (single columns and pairs)."""

    columns: list[str] = field(default_factory=list)
    min_size: int = 20
    alpha: float = 0.05
    tested: int = 0
    significant: int = 0
    test: str = "fisher"
    slices: list[Cohort] = nested(Cohort, container="list")
    reading: str = ""


@dataclass
class BlockSimilarity(Record):
    """Linear CKA between the original model's block output and another model's (1: same up to rotation)."""

    block: str = ""
    dim: int = 0
    unlearned: float | None = None
    oracle: float | None = optional()


@dataclass
class Projection(Record):
    """2-D coordinates of a sample of test embeddings (one projection fitted per model)."""

    method: str = "pca"
    indices: list[int] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    coordinates: dict[str, list[list[float]]] = field(default_factory=dict)  # model -> [[x, y], ...]
    explained_variance: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Representation(Record):
    """How far the unlearned model's internal representations moved from the original's."""

    blocks: list[BlockSimilarity] = nested(BlockSimilarity, container="list")
    projection: Projection | None = nested(Projection, default=None, omit_none=True)
    n: int = 0
    split: str = "test"
    reading: str = ""
    seconds: float = 0.0


@dataclass
class RelearningCurve(Record):
    """One model fine-tuned on bias-aligned images: test DP after each checkpoint step."""

    steps: list[int] = field(default_factory=list)
    dp: list[float | None] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)
    steps_to_half: int | None = None  # first step whose DP rose by half the removed gap (None: not within k)


@dataclass
class Relearning(Record):
    """Whether a little bias-aligned fine-tuning brings the removed gap back (a deep copy is tuned)."""

    metric: str = "demographic_parity_difference"
    k: int = 50
    images: int = 64
    lr: float = 0.0
    every: int = 5
    target: float | None = None  # the unlearned model's DP once half the removed gap is back
    rise: float | None = optional()  # half the removed gap: the DP rise each curve's steps_to_half waits for
    unlearned: RelearningCurve | None = nested(RelearningCurve, default=None)
    original: RelearningCurve | None = nested(RelearningCurve, default=None)
    oracle: RelearningCurve | None = nested(RelearningCurve, default=None, omit_none=True)
    seed: int = 0
    reading: str = ""
    seconds: float = 0.0
