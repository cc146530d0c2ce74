"""The one progress event every long computation reports: training, reading images, unlearning, sweeps.

A progress callback is ``progress(event)`` with a :class:`ProgressEvent` (:data:`Progress`).
``step`` of ``total`` says how far the work is; ``phase`` what it is doing (``"training"``,
``"reading images"``, ``"unlearning"``, ``"sweep"``); ``loss`` the step's training loss (NaN where
there is none). Unlearning methods fill the evaluation fields on the steps where they validate
(step 0 = the original model) and leave them ``None`` otherwise. Where ``step`` of ``total`` counts a
part of the work (``auto`` runs one candidate after another), ``overall`` says how much of the
whole is done, in [0, 1]. A sweep passes the
:class:`~bamu_core.results.SweepRow` it just finished as ``detail``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["ProgressEvent", "Progress"]


@dataclass
class ProgressEvent:
    """One step of a long computation.

    ``forget_acc``, ``retain_acc``, ``val_dp``, ``val_acc`` and ``val_fairness`` (the selection
    metric) are set on an unlearning run's evaluation steps. Forget / retain accuracy is the
    running accuracy of the training batches since the previous evaluation when the method sees
    those images, else it is measured on fixed subsets of at most ``eval_size`` images.
    """

    step: int
    total: int
    loss: float = math.nan
    forget_acc: float | None = None
    retain_acc: float | None = None
    val_dp: float | None = None
    val_acc: float | None = None
    val_fairness: float | None = None
    phase: str = ""
    overall: float | None = None  # share of the whole work done, when step / total count a part of it
    detail: Any = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict:
        """The fields (without ``detail``; ``phase`` only when set), with non-finite numbers (the
        NaN loss of step 0) as ``None``."""
        out = {}
        for k, v in self.__dict__.items():
            if k == "detail" or (k == "phase" and not v) or (k == "overall" and v is None):
                continue
            out[k] = None if isinstance(v, float) and not math.isfinite(v) else v
        return out


#: A progress callback.
Progress = Callable[[ProgressEvent], None]
