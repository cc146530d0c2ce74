"""HTML pieces of the report: escaping, number formats, tables and sections; the report's constants."""

from __future__ import annotations

import html
import math
from typing import Any, Mapping, Sequence

from ..results import AuditResult, Interval
from ._template import kv_html, section_html, table_html

CSV_COLUMNS = (
    "section",
    "group",
    "metric",
    "before",
    "after",
    "change",
    "before_low",
    "before_high",
    "after_low",
    "after_high",
)

# (key, label, higher is better)
_UTILITY = [("accuracy", "Accuracy", True), ("balanced_accuracy", "Balanced accuracy", True)]
_FAIRNESS = [
    ("demographic_parity_difference", "Demographic parity difference", False),
    ("equalized_odds_difference", "Equalized odds difference", False),
    ("equal_opportunity_difference", "Equal opportunity difference", False),
    ("accuracy_gap", "Accuracy gap (best - worst group)", False),
    ("worst_group_accuracy", "Worst-group accuracy", True),
    ("demographic_parity_ratio", "Demographic parity ratio", True),
]
_GROUP = [
    ("accuracy", "Accuracy", True),
    ("selection_rate", "Selection rate", None),
    ("tpr", "TPR", True),
    ("fpr", "FPR", False),
]
# (key, label, better): True / False = higher / lower is better, a number = closer to it is better,
# None = no direction (not coloured)
_PRIVACY = [
    ("auc", "MIA AUC, forget vs class-matched test (0.5 = chance)", 0.5),
    ("advantage", "MIA advantage, worst threshold |TPR - FPR| (0 = chance)", False),
    ("tpr_at_1pct_fpr", "MIA TPR at 1 % FPR, class-matched (chance 0.01)", 0.01),
    ("efficacy", "MIA-efficacy (share of forget called non-member)", True),
    ("attack_accuracy", "Attack accuracy on retain vs test (0.5 = chance)", 0.5),
    ("auc_vs_all_test", "MIA AUC, forget vs all test (not class-matched: also measures how easy the images are)", None),
]


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _abbr(label: str) -> str:
    """``label`` escaped, inside ``<abbr title=...>`` with its glossary explanation when it has one."""
    from ..glossary import explain

    text = explain(label)
    return f'<abbr title="{_e(text)}">{_e(label)}</abbr>' if text else _e(label)


def _num(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _fmt(v, *, digits: int = 3) -> str:
    x = _num(v)
    return "&mdash;" if x is None else f"{x:.{digits}f}"


def _utility(audit: AuditResult | None, key: str):
    return getattr(audit.utility, key, None) if audit is not None else None


def _gap(audit: AuditResult | None, key: str):
    return audit.fairness.gap(key) if audit is not None else None


def _audit_ci(audit: AuditResult | None, key: str) -> Interval | None:
    return audit.ci(key) if audit is not None else None


def _value(block: str, audit: AuditResult | None, key: str):
    """A utility or fairness number of an audit (``block`` names which)."""
    return _utility(audit, key) if block == "utility" else _gap(audit, key)


def _mia(record, key: str):
    """A membership-inference number by its meaning (see :meth:`~bamu_core.results.MIAResult.measure`)."""
    return record.measure(key) if record is not None else None


def _field(record, key: str):
    """A field of a record that may be missing (``None`` then)."""
    return getattr(record, key, None) if record is not None else None


def _ci(d) -> tuple[float | None, float | None]:
    if isinstance(d, Interval):
        return _num(d.low), _num(d.high)
    if isinstance(d, Mapping):
        return _num(d.get("low")), _num(d.get("high"))
    if isinstance(d, (list, tuple)) and len(d) == 2:
        return _num(d[0]), _num(d[1])
    return None, None


def _with_ci(v, ci) -> str:
    lo, hi = _ci(ci)
    text = _fmt(v)
    if lo is not None and hi is not None:
        text += f' <span class="ci">[{lo:.3f}, {hi:.3f}]</span>'
    return text


def _change(before, after, higher_better: bool | float | None) -> str:
    """``after - before``, coloured good / bad: ``higher_better`` True or False, or a number
    (closer to it is better), or None (not coloured)."""
    b, a = _num(before), _num(after)
    if b is None or a is None:
        return "&mdash;"
    d = a - b
    text = f"{d:+.3f}"
    if higher_better is None or abs(d) < 5e-4:
        return text
    if isinstance(higher_better, bool):
        good = (d > 0) == higher_better
    else:
        target = float(higher_better)
        if abs(abs(a - target) - abs(b - target)) < 5e-4:
            return text
        good = abs(a - target) < abs(b - target)
    return f'<span class="{"good" if good else "bad"}">{text}</span>'


def _kv(pairs: Sequence[tuple[str, Any]]) -> str:
    """``pairs``: (label, HTML escaped by the caller); empty values are left out."""
    return kv_html(pairs)


def _table(head: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]], *, wide: bool = False) -> str:
    """``head``: (label, css class); cells are HTML already escaped by the caller."""
    return table_html(head, rows, wide=wide)


def _ba_head(first: str) -> list[tuple[str, str]]:
    return [(first, ""), ("Before", "num b"), ("After", "num a"), ("Change", "num")]


def _section(anchor: str, title: str, content: str) -> str:
    """A card: ``title`` is escaped, ``content`` is HTML the section built from escaped parts."""
    return section_html(anchor, title, content)
