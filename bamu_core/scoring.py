"""Radar axes in [0, 1], the composite score and the Pareto frontier, as pure functions of typed results.

Each axis is 1 for the ideal and 0 for the worst case:

- **utility** = min(1, accuracy / original accuracy): test accuracy relative to the model before
  unlearning, capped at 1 (an unlearned model more accurate than the original scores 1).
- **fairness** = 1 - gap, where gap is a group-fairness difference from the audit (by default the
  demographic parity difference). Every such gap is a difference of two rates, so it lies in
  [0, 1] and 1 is the largest possible gap: the normalisation divides by that maximum (1). It is
  deliberately not divided by the original model's gap, so the axis means the same for every model.
- **forgetting** = 1 - |forget accuracy - reference accuracy|: how closely the model's accuracy on
  the forget set matches a reference: the accuracy of a model retrained without the forget set on
  that set (the retrain oracle) when one is available, else the model's own test accuracy (forgotten
  samples should look like unseen ones).
- **privacy** = 1 - 2 |AUC - 0.5|: the loss-threshold membership-inference AUC of forget vs test
  samples; 1 when the attack is at chance, 0 when it separates them perfectly (either way round).
- **efficiency** (optional) = max(0, 1 - seconds / retrain seconds): 1 for an instant method,
  0 for one as slow as retraining from scratch (or slower).

The composite score is the mean of the axes present: our reading of the paper's joint
fairness-utility-forgetting score (Co-BUM, arXiv 2509.07456), which combines the criteria with
equal weight. :data:`SCORE_FORMULA` states it in one line for reports.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from .errors import BamuInputError
from .results import AuditResult, MIAResult

__all__ = [
    "AXES",
    "AXIS_LABELS",
    "AXIS_DEFINITIONS",
    "SCORE_FORMULA",
    "FAIRNESS_GAPS",
    "utility_axis",
    "fairness_axis",
    "forgetting_axis",
    "privacy_axis",
    "efficiency_axis",
    "radar_axes",
    "composite_score",
    "pareto_front",
]

AXES = ("utility", "fairness", "forgetting", "privacy", "efficiency")
AXIS_LABELS = {
    "utility": "Utility",
    "fairness": "Fairness",
    "forgetting": "Forgetting quality",
    "privacy": "Privacy",
    "efficiency": "Efficiency",
}
AXIS_DEFINITIONS = {
    "utility": "min(1, test accuracy / original test accuracy)",
    "fairness": (
        "1 - gap, gap = a fairness difference (default: demographic parity difference) in [0, 1]; "
        "1 is the largest possible gap"
    ),
    "forgetting": (
        "1 - |forget-set accuracy - reference accuracy| "
        "(reference: retrain oracle on the forget set if known, else test accuracy)"
    ),
    "privacy": "1 - 2 |MIA AUC - 0.5| (loss-threshold attack, forget vs test)",
    "efficiency": "max(0, 1 - seconds / retrain seconds)",
}
SCORE_FORMULA = (
    "score = mean of the radar axes present (utility, fairness, forgetting, privacy[, efficiency]), each in [0, 1]"
)
FAIRNESS_GAPS = (
    "demographic_parity_difference",
    "equalized_odds_difference",
    "accuracy_gap",
    "equal_opportunity_difference",
)


def _finite(value, name: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BamuInputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise BamuInputError(f"{name} must be finite, got {x}")
    return x


def _rate(value, name: str) -> float:
    x = _finite(value, name)
    if not 0.0 <= x <= 1.0:
        raise BamuInputError(f"{name} must lie in [0, 1], got {x}")
    return x


def utility_axis(*, accuracy: float, original_accuracy: float) -> float:
    """``min(1, accuracy / original_accuracy)``; both accuracies in [0, 1], the original above 0."""
    acc = _rate(accuracy, "accuracy")
    ref = _rate(original_accuracy, "original_accuracy")
    if ref == 0.0:
        raise BamuInputError("original_accuracy must be above 0 (the utility axis is relative to it)")
    return min(1.0, acc / ref)


def fairness_axis(*, gap: float) -> float:
    """``1 - gap`` for a fairness gap (a difference of rates) in [0, 1]."""
    return 1.0 - _rate(gap, "gap")


def forgetting_axis(*, forget_accuracy: float, reference_accuracy: float) -> float:
    """``1 - |forget_accuracy - reference_accuracy|``."""
    return 1.0 - abs(_rate(forget_accuracy, "forget_accuracy") - _rate(reference_accuracy, "reference_accuracy"))


def privacy_axis(*, auc: float) -> float:
    """``1 - 2 |auc - 0.5|`` for a membership-inference ROC AUC in [0, 1]."""
    return 1.0 - 2.0 * abs(_rate(auc, "auc") - 0.5)


def efficiency_axis(*, seconds: float, retrain_seconds: float) -> float:
    """``max(0, 1 - seconds / retrain_seconds)``."""
    s = _finite(seconds, "seconds")
    r = _finite(retrain_seconds, "retrain_seconds")
    if s < 0:
        raise BamuInputError(f"seconds must be >= 0, got {s}")
    if r <= 0:
        raise BamuInputError(f"retrain_seconds must be > 0, got {r}")
    return max(0.0, 1.0 - s / r)


def _required(value, what: str, path: str):
    if value is None:
        raise BamuInputError(f"{what} has no {path!r} entry")
    return value


def radar_axes(
    *,
    audit: AuditResult | Mapping,
    original_audit: AuditResult | Mapping,
    forget_accuracy: float,
    privacy: MIAResult | Mapping | float,
    reference_forget_accuracy: float | None = None,
    seconds: float | None = None,
    retrain_seconds: float | None = None,
    fairness_gap: str = "demographic_parity_difference",
) -> dict[str, float]:
    """The radar axes of one model.

    Parameters
    ----------
    audit : AuditResult
        Audit of the model being scored, on the test split (its JSON document is also accepted).
    original_audit : AuditResult
        Audit of the original model on the same split (for the utility axis).
    forget_accuracy : float
        The model's accuracy on the forget set.
    privacy : MIAResult, dict or float
        Membership-inference result with an ``auc`` (:func:`bamu_core.privacy.membership_inference`),
        or the AUC itself.
    reference_forget_accuracy : float, optional
        Accuracy of the retrain oracle on the forget set; default: the model's test accuracy.
    seconds, retrain_seconds : float, optional
        Wall time of the unlearning and of retraining from scratch; the efficiency axis is added
        only when both are given.
    fairness_gap : str
        Which fairness difference the fairness axis uses: one of :data:`FAIRNESS_GAPS`.

    Returns
    -------
    dict
        ``{"utility", "fairness", "forgetting", "privacy"[, "efficiency"]}``, each in [0, 1].
    """
    if fairness_gap not in FAIRNESS_GAPS:
        raise BamuInputError(f"fairness_gap must be one of {', '.join(FAIRNESS_GAPS)}, got {fairness_gap!r}")
    audit, original_audit = AuditResult.from_json(audit), AuditResult.from_json(original_audit)
    accuracy = _required(audit.utility.accuracy, "audit", "utility.accuracy")
    if isinstance(privacy, (Mapping, MIAResult)):
        privacy = MIAResult.from_json(privacy)
        auc = _required(privacy.auc, "privacy", "auc")
    else:
        auc = privacy
    reference = accuracy if reference_forget_accuracy is None else reference_forget_accuracy
    axes = {
        "utility": utility_axis(
            accuracy=accuracy,
            original_accuracy=_required(original_audit.utility.accuracy, "original_audit", "utility.accuracy"),
        ),
        "fairness": fairness_axis(gap=_required(audit.fairness.gap(fairness_gap), "audit", f"fairness.{fairness_gap}")),
        "forgetting": forgetting_axis(forget_accuracy=forget_accuracy, reference_accuracy=reference),
        "privacy": privacy_axis(auc=auc),
    }
    if (seconds is None) != (retrain_seconds is None):
        raise BamuInputError("give both seconds and retrain_seconds for the efficiency axis, or neither")
    if seconds is not None:
        axes["efficiency"] = efficiency_axis(seconds=seconds, retrain_seconds=retrain_seconds)
    return axes


def composite_score(axes: Mapping[str, float]) -> float:
    """The mean of the radar axes (see :data:`SCORE_FORMULA`)."""
    unknown = sorted(set(axes) - set(AXES))
    if unknown:
        raise BamuInputError(f"unknown radar axes {unknown}; expected some of {', '.join(AXES)}")
    if not axes:
        raise BamuInputError("axes is empty")
    values = [_rate(v, f"axis {k!r}") for k, v in axes.items()]
    return sum(values) / len(values)


def pareto_front(points: Sequence[Mapping], *, x: str, y: str) -> list[int]:
    """Indices of the points not dominated when both ``x`` and ``y`` are to be maximised.

    A point is dominated when another is at least as good on both keys and strictly better on
    one. Points whose ``x`` or ``y`` is missing or not finite are never on the front. The indices
    come back sorted by ``x`` ascending (so they draw as a staircase).
    """
    vals: list[tuple[int, float, float]] = []
    for i, p in enumerate(points):
        a, b = p.get(x), p.get(y)
        if a is None or b is None:
            continue
        a, b = float(a), float(b)
        if math.isfinite(a) and math.isfinite(b):
            vals.append((i, a, b))
    front = [
        (i, a, b) for i, a, b in vals if not any((a2 >= a and b2 >= b) and (a2 > a or b2 > b) for _, a2, b2 in vals)
    ]
    return [i for i, _, _ in sorted(front, key=lambda t: (t[1], -t[2], t[0]))]
