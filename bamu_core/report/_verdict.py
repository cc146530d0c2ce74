"""A run's outcome in plain words: :func:`verdict`, two to four sentences for people who do not read metrics;
:func:`compare_verdict` does the same for two runs side by side.

It says which gap between groups the run worked on, how large it was before, how much it fell
(with the interval of the value after, when measured), what that cost in accuracy in percentage
points, and what to keep in mind: the after audit's warnings and what was not measured (the
retrain comparison, privacy). A run that changed nothing, or did not finish, is said to be so.
"""

from __future__ import annotations

import math

from ..results import UnlearnReport

__all__ = ["verdict", "compare_verdict", "gap_key", "GAP_PLAIN", "validation_words"]

#: The fairness gaps in words without jargon (binary, multiclass).
GAP_PLAIN = {
    "demographic_parity_difference": (
        "the gap in positive predictions between groups",
        "the gap between groups in how often each class is predicted",
    ),
    "equalized_odds_difference": ("the gap in error rates between groups", "the gap in error rates between groups"),
    "equal_opportunity_difference": (
        "the gap between groups in how often true positives are found",
        "the gap between groups in how often each class is recognised",
    ),
    "accuracy_gap": (
        "the gap in accuracy between the best- and the worst-served group",
        "the gap in accuracy between the best- and the worst-served group",
    ),
}

_FINISHED = ("ok", "stopped_early", "no_change")
_WARNING_WORDS = {
    "one_class": "the model gives nearly the same answer for everyone",
    "small_groups": "some groups have fewer than 30 test images",
    "small_split": "the test split is small",
    "uncertain_gap": "some gaps are smaller than their uncertainty",
}


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _points(v: float) -> str:
    """A share as percentage points: 0.243 -> "24.3"."""
    return f"{abs(v) * 100:.1f}"


def gap_key(report: UnlearnReport) -> str:
    """The gap the run worked on: the selection metric it chose checkpoints by, else the
    demographic parity difference (the accuracy gap when that is not measured)."""
    chosen = (report.selection or {}).get("metric")
    if chosen in GAP_PLAIN:
        return chosen
    before = report.before
    if before is not None and _num(before.fairness.demographic_parity_difference) is None:
        return "accuracy_gap"
    return "demographic_parity_difference"


def _gap_words(report: UnlearnReport, key: str) -> str:
    task = ((report.before.conventions if report.before is not None else {}) or {}).get("task")
    return GAP_PLAIN[key][1 if task == "multiclass" else 0]


def _gap_sentence(report: UnlearnReport, key: str) -> str:
    b, a = report.before, report.after
    gb = _num(b.fairness.gap(key)) if b is not None else None
    ga = _num(a.fairness.gap(key)) if a is not None else None
    words = _gap_words(report, key)
    who = f"Unlearning ({report.method})" if report.method else "Unlearning"
    if gb is None or ga is None:
        return f"{who} ran, but {words} was not measured both before and after."
    ci = a.ci(key) if a is not None else None
    lo, hi = (_num(ci.low), _num(ci.high)) if ci is not None else (None, None)
    interval = f" (95 % interval {_points(lo)} to {_points(hi)} points)" if lo is not None and hi is not None else ""
    fall = gb - ga
    if report.status == "no_change":
        return (
            f"{who} did not change the model beyond noise: {words} was {_points(gb)} points before and is "
            f"{_points(ga)} points after{interval}, so the model is no fairer than it was."
        )
    if abs(fall) < 0.005:
        return f"{who} left {words} where it was: {_points(gb)} points before, {_points(ga)} points after{interval}."
    if fall < 0:
        return (
            f"{who} made {words} larger: it rose from {_points(gb)} to {_points(ga)} points{interval}, "
            "so the model is less fair than before."
        )
    share = f" ({fall / gb:.0%} of the original gap)" if gb > 0 else ""
    return (
        f"{who} reduced {words} from {_points(gb)} to {_points(ga)} points{interval}: a fall of "
        f"{_points(fall)} points{share}."
    )


def _cost_sentence(report: UnlearnReport) -> str:
    b, a = report.before, report.after
    ab = _num(b.utility.accuracy) if b is not None else None
    aa = _num(a.utility.accuracy) if a is not None else None
    if ab is None or aa is None:
        return "Accuracy was not measured both before and after."
    d = aa - ab
    where = f"({ab:.1%} before, {aa:.1%} after)"
    if abs(d) < 0.0005:
        return f"Accuracy did not change {where}."
    if d < 0:
        return f"It cost {_points(d)} percentage points of accuracy {where}."
    return f"Accuracy rose by {_points(d)} percentage points {where}."


def _caveats(report: UnlearnReport) -> str:
    warned = [w for w in (report.after.warnings or []) if w.code in _WARNING_WORDS] if report.after else []
    reasons = list(dict.fromkeys(_WARNING_WORDS[w.code] for w in warned))
    missing = []
    if _num(report.forget.reference_accuracy) is None:
        missing.append("how close the model comes to one retrained without the forgotten images")
    if report.privacy.mia_after is None:
        missing.append("privacy (whether the forgotten images can still be told apart)")
    parts = []
    if reasons:
        parts.append(f"Read with care: {'; '.join(reasons)}.")
    if missing:
        parts.append(f"Not measured: {' and '.join(missing)}.")
    return " ".join(parts)


def validation_words(report: UnlearnReport) -> str:
    """ "checkpoints judged on 300 labelled validation images (orange 148, blue 152)": what the run's
    selection (or fit) used, from its selection summary; ``""`` when it used no validation split."""
    sel = report.selection or {}
    per_group = sel.get("validation_per_group") or {}
    if not per_group:
        return ""
    groups = ", ".join(f"{g} {n}" for g, n in per_group.items())
    n = sel.get("validation_images", sum(per_group.values()))
    return f"checkpoints judged on {n} labelled validation images ({groups})"


def verdict(report: UnlearnReport) -> str:
    """The run's outcome in two to four plain sentences (see the module's docstring).

    A run that did not finish (``failed``, ``diverged``, ``cancelled``) gets one sentence saying
    so and that its numbers are no result; ``no_change`` says the model is no fairer.
    """
    report = UnlearnReport.from_json(report)
    if report.status not in _FINISHED:
        why = f": {report.message.rstrip('.')}" if report.message else ""
        return (
            f"The unlearning run did not finish properly ({report.status or 'unknown status'}){why}. Its numbers are "
            "not a result, and the original model is unchanged."
        )
    sentences = [_gap_sentence(report, gap_key(report))]
    if report.status != "no_change":
        sentences.append(_cost_sentence(report))
    caveats = _caveats(report)
    if caveats:
        sentences.append(caveats)
    return " ".join(sentences)


def _name(report: UnlearnReport) -> str:
    return f"{report.method or 'unlearning'} at intensity {report.intensity:.2f}"


def _after_gap(report: UnlearnReport, key: str) -> tuple[float | None, tuple[float, float] | None]:
    a = report.after
    if a is None or report.status not in _FINISHED:
        return None, None
    g = _num(a.fairness.gap(key))
    ci = a.ci(key)
    lo, hi = (_num(ci.low), _num(ci.high)) if ci is not None else (None, None)
    return g, (lo, hi) if lo is not None and hi is not None else None


def compare_verdict(a: UnlearnReport, b: UnlearnReport) -> str:
    """Two runs side by side in plain words: each one's gap after unlearning (with its interval), which
    is smaller and whether the intervals overlap (then the difference may be noise), and the
    difference in accuracy in percentage points. Runs on different data, or on different group
    attributes, are said not to be comparable; a run that changed nothing or did not finish is named."""
    a, b = UnlearnReport.from_json(a), UnlearnReport.from_json(b)
    names = {"A": a, "B": b}
    data = [((r.dataset or {}).get("name"), r.after.group_attr if r.after is not None else None) for r in (a, b)]
    if data[0] != data[1] and all(x is not None for pair in data for x in pair):
        return (
            f"Run A ({_name(a)}) and run B ({_name(b)}) were made on different data or groups "
            f"({data[0][0]} by {data[0][1]}; {data[1][0]} by {data[1][1]}), so their numbers cannot be compared "
            "directly; read each run's own summary instead."
        )
    key = gap_key(a)
    words = _gap_words(a, key)
    sentences = []
    for label, r in names.items():
        if r.status not in _FINISHED:
            sentences.append(f"Run {label} ({_name(r)}) did not finish properly ({r.status}): it is no result.")
        elif r.status == "no_change":
            sentences.append(f"Run {label} ({_name(r)}) changed nothing beyond noise.")
    (ga, ca), (gb, cb) = _after_gap(a, key), _after_gap(b, key)
    if ga is None or gb is None:
        sentences.append(f"The two runs cannot be compared on {words}: it was not measured after both.")
        return " ".join(sentences)

    def _with_ci(g: float, ci) -> str:
        return f"{_points(g)} points" + (f" (95 % interval {_points(ci[0])} to {_points(ci[1])})" if ci else "")

    sentences.append(
        f"After unlearning, {words} is {_with_ci(ga, ca)} with run A ({_name(a)}) and {_with_ci(gb, cb)} with "
        f"run B ({_name(b)})."
    )
    diff = gb - ga
    if abs(diff) < 0.005:
        sentences.append("The two runs leave about the same gap.")
    else:
        smaller, larger = ("B", "A") if diff < 0 else ("A", "B")
        overlap = ca is not None and cb is not None and ca[0] <= cb[1] and cb[0] <= ca[1]
        tail = (
            "; their intervals overlap, so the difference may be noise"
            if overlap
            else ("; their intervals do not overlap" if ca is not None and cb is not None else "")
        )
        sentences.append(f"Run {smaller}'s gap is {_points(diff)} points smaller than run {larger}'s{tail}.")
    acc = [_num(r.after.utility.accuracy) if r.after is not None else None for r in (a, b)]
    if acc[0] is not None and acc[1] is not None:
        d = acc[1] - acc[0]
        where = f"({acc[0]:.1%} with A, {acc[1]:.1%} with B)"
        if abs(d) < 0.0005:
            sentences.append(f"Their accuracy is the same {where}.")
        else:
            way = "higher" if d > 0 else "lower"
            sentences.append(f"Run B's accuracy is {_points(d)} percentage points {way} than run A's {where}.")
    return " ".join(sentences)
