"""Radar axes in [0, 1], the composite score and the Pareto frontier, as pure functions of typed results.

Every axis is measured **relative to the original model** (and to the retrain oracle when one is
given), so the original model is the reference point of the radar, not a good score:

- **utility** = clip(0.5 + (accuracy - original accuracy) / (2 * 0.10), 0, 1): 0.5 for the
  original's accuracy, 1 for a gain of 10 points or more, 0 for a loss of 10 points or more
  (:data:`UTILITY_SCALE`). Gains show, unlike a ratio capped at 1.
- **fairness** = clip((original gap - gap) / (original gap - target), 0, 1): the share of the
  original model's fairness gap (by default the demographic parity difference) that was closed.
  0 for an unchanged model (or one that widened the gap), 1 when the gap reached the target. The
  target is the retrain oracle's gap when known, else 0 (:data:`FAIRNESS_TARGET`; a gap cannot be
  closed beyond 0, and sampling noise of a few points remains in any measured gap, so 1 is
  reached only at the target). When the original gap is not above the target there is nothing to
  close and the axis is 0.
- **forgetting** = 1 - |forget accuracy - reference accuracy|: how closely the model's accuracy on
  the forget set matches a reference: the retrain oracle's accuracy on that set when available,
  else the model's own test accuracy (forgotten samples should look like unseen ones).
- **privacy** = 1 - 2 |AUC - 0.5|: the loss-threshold membership-inference AUC of the forget set
  against class-matched test images (:func:`bamu_core.privacy.class_matched_attack`); 1 when the
  attack is at chance, 0 when it separates them perfectly (either way round).
- **efficiency** (optional) = max(0, 1 - seconds / retrain seconds).

The composite (:func:`composite_score`, :data:`SCORE_FORMULA`) weights the goal of bias-aware
unlearning first: ``gate * (0.5 fairness + 0.3 utility + 0.2 mean(forgetting, privacy[,
efficiency]))`` with ``gate = min(1, 2 utility)``, 1 unless accuracy was lost and 0 at a loss of
10 points. The original model scores at most 0.35 (fairness 0, utility 0.5); any run that closes
half of the gap or more without losing accuracy scores at least 0.40 whatever its other axes; a
collapsed model (accuracy near chance) scores 0. The earlier definition (utility min(1, acc /
original), fairness 1 - gap, privacy against the whole test split, equal-weight mean) rated the
untouched biased model about 0.75; it is kept as :func:`legacy_radar_axes` and
:func:`legacy_composite_score` for comparison only.
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
    "SCORING_VERSION",
    "UTILITY_SCALE",
    "FAIRNESS_TARGET",
    "WEIGHTS",
    "FAIRNESS_GAPS",
    "utility_axis",
    "fairness_axis",
    "forgetting_axis",
    "privacy_axis",
    "efficiency_axis",
    "radar_axes",
    "composite_score",
    "legacy_radar_axes",
    "legacy_composite_score",
    "LEGACY_SCORE_FORMULA",
    "pareto_front",
]

#: Names this definition of the axes and the composite (written as ``scoring`` in run documents).
SCORING_VERSION = "relative-v2"
#: Accuracy change (as a fraction) that moves the utility axis from 0.5 to 1 (gain) or 0 (loss).
UTILITY_SCALE = 0.10
#: The fairness target when no retrain oracle's gap is given.
FAIRNESS_TARGET = 0.0
#: Composite weights: fairness, utility, and the share of the secondary axes together.
WEIGHTS = {"fairness": 0.5, "utility": 0.3, "secondary": 0.2}
_SECONDARY = ("forgetting", "privacy", "efficiency")

AXES = ("utility", "fairness", "forgetting", "privacy", "efficiency")
AXIS_LABELS = {
    "utility": "Utility",
    "fairness": "Fairness",
    "forgetting": "Forgetting quality",
    "privacy": "Privacy",
    "efficiency": "Efficiency",
}
AXIS_DEFINITIONS = {
    "utility": "clip(0.5 + (accuracy - original accuracy) / 0.2, 0, 1): 0.5 = the original's accuracy, "
    "1 = a gain of 10 points, 0 = a loss of 10 points",
    "fairness": (
        "clip((original gap - gap) / (original gap - target), 0, 1): share of the original's gap closed "
        "(gap: demographic parity difference by default; target: the retrain oracle's gap if known, else 0); "
        "0 = unchanged"
    ),
    "forgetting": (
        "1 - |forget-set accuracy - reference accuracy| "
        "(reference: retrain oracle on the forget set if known, else test accuracy)"
    ),
    "privacy": "1 - 2 |MIA AUC - 0.5| (loss-threshold attack, forget set vs class-matched test images)",
    "efficiency": "max(0, 1 - seconds / retrain seconds)",
}
SCORE_FORMULA = (
    "score = min(1, 2 utility) x (0.5 fairness + 0.3 utility + 0.2 mean(forgetting, privacy[, efficiency])); "
    "the original model scores at most 0.35, a collapsed one 0"
)
LEGACY_SCORE_FORMULA = (
    "legacy score = mean of min(1, accuracy / original), 1 - gap, forgetting, 1 - 2 |AUC vs all test - 0.5|"
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


def utility_axis(*, accuracy: float, original_accuracy: float, scale: float = UTILITY_SCALE) -> float:
    """``clip(0.5 + (accuracy - original_accuracy) / (2 scale), 0, 1)``; accuracies in [0, 1]."""
    acc = _rate(accuracy, "accuracy")
    ref = _rate(original_accuracy, "original_accuracy")
    if _finite(scale, "scale") <= 0:
        raise BamuInputError(f"scale must be > 0, got {scale}")
    return min(1.0, max(0.0, 0.5 + (acc - ref) / (2.0 * scale)))


def fairness_axis(*, gap: float, original_gap: float, target: float | None = None) -> float:
    """The share of ``original_gap`` closed: ``clip((original_gap - gap) / (original_gap - target), 0, 1)``.

    ``target`` (default :data:`FAIRNESS_TARGET`) is the gap counted as fully closed, e.g. the
    retrain oracle's; 0 when the original gap is not above it (nothing to close).
    """
    g, g0 = _rate(gap, "gap"), _rate(original_gap, "original_gap")
    t = FAIRNESS_TARGET if target is None else _rate(target, "target")
    if g0 - t <= 1e-12:
        return 0.0
    return min(1.0, max(0.0, (g0 - g) / (g0 - t)))


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


def _auc_of(privacy, key: str = "auc") -> float:
    """An AUC from an MIA result (a record, or a plain dict read as given), or the number itself."""
    if isinstance(privacy, MIAResult):
        return _required(getattr(privacy, key), "privacy", key)
    if isinstance(privacy, Mapping):
        value = privacy.get(key)
        if value is None and key == "auc_vs_all_test" and "matching" not in privacy:
            value = privacy.get("auc")  # a document from before the class-matched attack
        return _required(value, "privacy", key)
    return privacy


def radar_axes(
    *,
    audit: AuditResult | Mapping,
    original_audit: AuditResult | Mapping,
    forget_accuracy: float,
    privacy: MIAResult | Mapping | float,
    reference_forget_accuracy: float | None = None,
    reference_gap: float | None = None,
    seconds: float | None = None,
    retrain_seconds: float | None = None,
    fairness_gap: str = "demographic_parity_difference",
) -> dict[str, float]:
    """The radar axes of one model, relative to the original model (see the module doc).

    Parameters
    ----------
    audit : AuditResult
        Audit of the model being scored, on the test split (its JSON document is also accepted).
    original_audit : AuditResult
        Audit of the original model on the same split (the reference of utility and fairness).
    forget_accuracy : float
        The model's accuracy on the forget set.
    privacy : MIAResult, dict or float
        Membership-inference result with a class-matched ``auc``
        (:func:`bamu_core.privacy.membership_inference`), or the AUC itself.
    reference_forget_accuracy : float, optional
        Accuracy of the retrain oracle on the forget set; default: the model's test accuracy.
    reference_gap : float, optional
        The retrain oracle's ``fairness_gap`` on the test split: the fairness target (default
        :data:`FAIRNESS_TARGET`).
    seconds, retrain_seconds : float, optional
        Wall time of the unlearning and of retraining from scratch; the efficiency axis is added
        only when both are given.
    fairness_gap : str
        Which fairness difference the fairness axis uses: one of :data:`FAIRNESS_GAPS`.

    Returns
    -------
    dict
        ``{"utility", "fairness", "forgetting", "privacy"[, "efficiency"]}``, each in [0, 1]; the
        original model itself gets utility 0.5 and fairness 0.
    """
    if fairness_gap not in FAIRNESS_GAPS:
        raise BamuInputError(f"fairness_gap must be one of {', '.join(FAIRNESS_GAPS)}, got {fairness_gap!r}")
    audit, original_audit = AuditResult.from_json(audit), AuditResult.from_json(original_audit)
    accuracy = _required(audit.utility.accuracy, "audit", "utility.accuracy")
    reference = accuracy if reference_forget_accuracy is None else reference_forget_accuracy
    axes = {
        "utility": utility_axis(
            accuracy=accuracy,
            original_accuracy=_required(original_audit.utility.accuracy, "original_audit", "utility.accuracy"),
        ),
        "fairness": fairness_axis(
            gap=_required(audit.fairness.gap(fairness_gap), "audit", f"fairness.{fairness_gap}"),
            original_gap=_required(
                original_audit.fairness.gap(fairness_gap), "original_audit", f"fairness.{fairness_gap}"
            ),
            target=reference_gap,
        ),
        "forgetting": forgetting_axis(forget_accuracy=forget_accuracy, reference_accuracy=reference),
        "privacy": privacy_axis(auc=_auc_of(privacy)),
    }
    if (seconds is None) != (retrain_seconds is None):
        raise BamuInputError("give both seconds and retrain_seconds for the efficiency axis, or neither")
    if seconds is not None:
        axes["efficiency"] = efficiency_axis(seconds=seconds, retrain_seconds=retrain_seconds)
    return axes


def _checked(axes: Mapping[str, float]) -> dict[str, float]:
    unknown = sorted(set(axes) - set(AXES))
    if unknown:
        raise BamuInputError(f"unknown radar axes {unknown}; expected some of {', '.join(AXES)}")
    if not axes:
        raise BamuInputError("axes is empty")
    return {k: _rate(v, f"axis {k!r}") for k, v in axes.items()}


def composite_score(axes: Mapping[str, float]) -> float:
    """The composite of :func:`radar_axes` (see :data:`SCORE_FORMULA`).

    ``gate * sum(w_a * axis_a) / sum(w_a)`` over the axes present: ``w`` = 0.5 for fairness,
    0.3 for utility and 0.2 shared equally by the secondary axes present (forgetting, privacy,
    efficiency); ``gate = min(1, 2 utility)`` (1 when utility is absent).
    """
    values = _checked(axes)
    secondary = [a for a in _SECONDARY if a in values]
    weights = {a: WEIGHTS[a] for a in ("fairness", "utility") if a in values}
    weights.update({a: WEIGHTS["secondary"] / len(secondary) for a in secondary})
    total = sum(weights.values())
    mean = sum(w * values[a] for a, w in weights.items()) / total
    gate = min(1.0, 2.0 * values["utility"]) if "utility" in values else 1.0
    return gate * mean


def legacy_radar_axes(
    *,
    audit: AuditResult | Mapping,
    original_audit: AuditResult | Mapping,
    forget_accuracy: float,
    privacy: MIAResult | Mapping | float,
    reference_forget_accuracy: float | None = None,
    fairness_gap: str = "demographic_parity_difference",
) -> dict[str, float]:
    """The earlier, absolute radar axes (for comparison only: see :data:`LEGACY_SCORE_FORMULA`).

    utility ``min(1, acc / original acc)``, fairness ``1 - gap``, forgetting as
    :func:`forgetting_axis`, privacy ``1 - 2 |AUC - 0.5|`` of the attack against the whole test
    split (``auc_vs_all_test`` of a :class:`~bamu_core.results.MIAResult`, or the AUC given).
    """
    audit, original_audit = AuditResult.from_json(audit), AuditResult.from_json(original_audit)
    acc = _rate(_required(audit.utility.accuracy, "audit", "utility.accuracy"), "accuracy")
    ref = _rate(_required(original_audit.utility.accuracy, "original_audit", "utility.accuracy"), "original_accuracy")
    if ref == 0.0:
        raise BamuInputError("original_accuracy must be above 0 (the legacy utility axis is relative to it)")
    gap = _rate(_required(audit.fairness.gap(fairness_gap), "audit", f"fairness.{fairness_gap}"), "gap")
    reference = acc if reference_forget_accuracy is None else reference_forget_accuracy
    return {
        "utility": min(1.0, acc / ref),
        "fairness": 1.0 - gap,
        "forgetting": forgetting_axis(forget_accuracy=forget_accuracy, reference_accuracy=reference),
        "privacy": privacy_axis(auc=_auc_of(privacy, "auc_vs_all_test")),
    }


def legacy_composite_score(axes: Mapping[str, float]) -> float:
    """The earlier composite: the plain mean of the axes given (of :func:`legacy_radar_axes`)."""
    values = _checked(axes)
    return sum(values.values()) / len(values)


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
