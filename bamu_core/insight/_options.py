"""Which views inside the model a workflow computes (:class:`InsightOptions`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import BamuInputError

__all__ = ["InsightOptions"]


@dataclass(frozen=True)
class InsightOptions:
    """Switches and sizes of the views of :mod:`bamu_core.insight`.

    The defaults keep the cheap views on (leakage probe, cohorts, representation, counterfactual
    pairs where the data has counterfactual images, ``pair_examples`` of them kept) and the
    relearning stress test, which fine-tunes copies of the models, off. ``oracle`` is a model
    retrained without the forget set (optional): the leakage probe, CKA and relearning test add
    its numbers beside the unlearned model's.
    """

    leakage: bool = True
    cohorts: bool = True
    representation: bool = True
    relearning: bool = False
    pairs: bool = True
    pair_examples: int = 8
    folds: int = 5
    n_boot: int = 200
    cohort_min_size: int = 20
    cohort_k: int = 5
    cohort_alpha: float = 0.05
    projection_points: int = 1000
    max_images: int = 5000
    projection: str = "pca"
    relearning_steps: int = 50
    relearning_images: int = 64
    relearning_every: int = 5
    relearning_lr: float = 1e-3
    oracle: Any = None

    def __post_init__(self) -> None:
        checks = {
            "folds": (self.folds, 2),
            "n_boot": (self.n_boot, 0),
            "cohort_min_size": (self.cohort_min_size, 1),
            "cohort_k": (self.cohort_k, 1),
            "pair_examples": (self.pair_examples, 0),
            "projection_points": (self.projection_points, 0),
            "max_images": (self.max_images, 10),
            "relearning_steps": (self.relearning_steps, 1),
            "relearning_images": (self.relearning_images, 1),
            "relearning_every": (self.relearning_every, 1),
        }
        for name, (value, low) in checks.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise BamuInputError(f"insight option {name} must be an integer >= {low}, got {value!r}")
        if not 0.0 < float(self.cohort_alpha) < 1.0:
            raise BamuInputError(f"insight option cohort_alpha must be in (0, 1), got {self.cohort_alpha!r}")
        if not float(self.relearning_lr) > 0.0:
            raise BamuInputError(f"insight option relearning_lr must be positive, got {self.relearning_lr!r}")
        if self.projection not in ("pca", "umap"):
            raise BamuInputError(f"insight option projection must be pca or umap, got {self.projection!r}")

    @classmethod
    def off(cls) -> InsightOptions:
        """Every view switched off."""
        return cls(leakage=False, cohorts=False, representation=False, relearning=False, pairs=False)
