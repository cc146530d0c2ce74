"""A membership attack at one threshold, and its worst case over all thresholds.

Scores follow :func:`~bamu_core.privacy.class_matched_attack`: higher means more member-like
(``-loss``), and the attack predicts "member" when a score is at or above the threshold ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BamuInputError

__all__ = ["ThresholdPoint", "at_threshold", "worst_case"]


@dataclass(frozen=True)
class ThresholdPoint:
    """The attack at one threshold: ``tpr`` (share of members flagged), ``fpr`` (share of
    non-members flagged) and ``advantage`` = ``tpr - fpr`` (0 = it cannot tell them apart)."""

    threshold: float
    tpr: float
    fpr: float

    @property
    def advantage(self) -> float:
        return self.tpr - self.fpr


def _scores(member, nonmember) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(member, dtype=np.float64).reshape(-1)
    n = np.asarray(nonmember, dtype=np.float64).reshape(-1)
    if len(m) == 0 or len(n) == 0:
        raise BamuInputError("member and non-member scores must both be non-empty")
    if not (np.isfinite(m).all() and np.isfinite(n).all()):
        raise BamuInputError("attack scores must be finite")
    return m, n


def at_threshold(member, nonmember, t: float) -> ThresholdPoint:
    """TPR, FPR and advantage of predicting "member" when the score is ``>= t``."""
    m, n = _scores(member, nonmember)
    return ThresholdPoint(threshold=float(t), tpr=float(np.mean(m >= t)), fpr=float(np.mean(n >= t)))


def worst_case(member, nonmember) -> ThresholdPoint:
    """The threshold with the largest ``TPR - FPR`` (the attacker's best; ties: the highest threshold).

    Candidate thresholds are every distinct score and ``+inf`` (flag nothing: advantage 0), so the
    result is never below 0.
    """
    m, n = _scores(member, nonmember)
    cands = np.unique(np.r_[m, n])[::-1]  # descending: ties keep the highest threshold
    ms, ns = np.sort(m), np.sort(n)
    tpr = (len(ms) - np.searchsorted(ms, cands, side="left")) / len(ms)
    fpr = (len(ns) - np.searchsorted(ns, cands, side="left")) / len(ns)
    adv = tpr - fpr
    i = int(np.argmax(adv))
    if adv[i] <= 0:
        return ThresholdPoint(threshold=float("inf"), tpr=0.0, fpr=0.0)
    return ThresholdPoint(threshold=float(cands[i]), tpr=float(tpr[i]), fpr=float(fpr[i]))
