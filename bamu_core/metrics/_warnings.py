"""Why an audit's numbers may not mean what they seem: the rules behind :attr:`AuditResult.warnings`.

Four rules, each one :class:`~bamu_core.results.AuditWarning` at most:

- ``one_class``: the model predicts one class for at least ``top_share`` (95 %) of the images, so
  its parity gaps are small only because it treats everyone the same;
- ``small_groups``: a group has fewer than ``min_group`` (30) images;
- ``small_split``: the audited split has fewer than ``min_split`` (100) images;
- ``uncertain_gap``: a fairness gap whose confidence interval is wider than the gap itself, so
  neither its size nor that there is a gap at all is established by this data.
"""

from __future__ import annotations

import math

from ..results import AuditResult, AuditWarning

__all__ = ["audit_warnings", "MIN_GROUP", "MIN_SPLIT", "TOP_SHARE", "GAP_WORDS"]

MIN_GROUP = 30
MIN_SPLIT = 100
TOP_SHARE = 0.95

#: The gaps whose interval the ``uncertain_gap`` rule reads, in plain words.
GAP_WORDS = {
    "demographic_parity_difference": "gap in positive predictions between groups (demographic parity difference)",
    "equalized_odds_difference": "gap in error rates between groups (equalized odds difference)",
    "equal_opportunity_difference": "gap in true-positive rates between groups (equal opportunity difference)",
    "accuracy_gap": "gap in accuracy between the best and the worst group",
}


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _one_class(result: AuditResult, top_share: float, class_names=None) -> AuditWarning | None:
    rows = [r for r in result.groups if r.confusion]
    n = sum(sum(map(sum, r.confusion)) for r in rows)
    if not n:
        return None
    k = len(rows[0].confusion)
    predicted = [sum(sum(line[c] for line in r.confusion) for r in rows) for c in range(k)]
    top = max(range(k), key=predicted.__getitem__)
    share = predicted[top] / n
    if share < top_share:
        return None
    acc = result.utility.accuracy
    name = f"“{class_names[top]}”" if class_names is not None and top < len(class_names) else f"class {top}"
    return AuditWarning(
        code="one_class",
        message=(
            f"The model gives the same answer ({name}) for {share:.0%} of the {n} images: its gaps look small "
            "because it treats every group the same way, not because it is fair"
            + (f" (accuracy {acc:.1%})" if _finite(acc) else "")
            + "."
        ),
        numbers={"class": top, "share": share, "n": n, "threshold": top_share},
    )


def _small_groups(result: AuditResult, min_group: int) -> AuditWarning | None:
    small = {r.group: int(r.n) for r in result.groups if r.n < min_group}
    if not small:
        return None
    named = ", ".join(f"{g} (n={n})" for g, n in list(small.items())[:5]) + (" ..." if len(small) > 5 else "")
    return AuditWarning(
        code="small_groups",
        message=(
            f"{len(small)} group(s) have fewer than {min_group} images: {named}. Their rates, and the gaps "
            "between groups, can move a lot by chance."
        ),
        numbers={"groups": small, "threshold": min_group},
    )


def _small_split(result: AuditResult, min_split: int) -> AuditWarning | None:
    n = int(result.n or sum(r.n for r in result.groups))
    if not 0 < n < min_split:
        return None
    where = f"the {result.split} split" if result.split else "the audited data"
    return AuditWarning(
        code="small_split",
        message=(
            f"{where.capitalize()} has only {n} images (fewer than {min_split}): treat every number as a rough guess."
        ),
        numbers={"n": n, "threshold": min_split},
    )


def _uncertain_gaps(result: AuditResult) -> AuditWarning | None:
    found = {}
    for key in GAP_WORDS:
        gap, ci = result.fairness.gap(key), result.fairness_ci.get(key)
        if ci is None or not (_finite(gap) and _finite(ci.low) and _finite(ci.high)):
            continue
        width = ci.high - ci.low
        if width > abs(gap):
            found[key] = {"value": gap, "low": ci.low, "high": ci.high, "width": width}
    if not found:
        return None
    level = (result.bootstrap or {}).get("level", 0.95)
    parts = [
        f"the {GAP_WORDS[k]} is {v['value']:.3f} (interval {v['low']:.3f} to {v['high']:.3f})" for k, v in found.items()
    ]
    return AuditWarning(
        code="uncertain_gap",
        message=(
            f"The {level:.0%} interval is wider than the gap itself for {len(found)} gap(s): {'; '.join(parts)}. "
            "This data does not establish how large these gaps are, or that they exist."
        ),
        numbers={"gaps": found, "level": level},
    )


def audit_warnings(
    result: AuditResult,
    *,
    min_group: int = MIN_GROUP,
    min_split: int = MIN_SPLIT,
    top_share: float = TOP_SHARE,
    class_names=None,
) -> list[AuditWarning]:
    """The warnings of an audit (empty when none), in the order of the module's rules; ``class_names``
    name the class of a one-class model (else "class 1")."""
    found = (
        _one_class(result, top_share, class_names),
        _small_groups(result, min_group),
        _small_split(result, min_split),
        _uncertain_gaps(result),
    )
    return [w for w in found if w is not None]
