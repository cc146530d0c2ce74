"""A reason to read an audit with care, as a typed result (:class:`AuditWarning`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._record import Record

__all__ = ["AuditWarning"]


@dataclass
class AuditWarning(Record):
    """Why an audit's numbers may not mean what they seem (:func:`bamu_core.metrics.audit_warnings`).

    ``code`` names the rule (``one_class``, ``small_groups``, ``small_split``, ``uncertain_gap``),
    ``message`` says it in plain words, ``numbers`` holds what triggered it (e.g. the share of the
    most predicted class, the small groups' sizes, a gap and its interval).
    """

    code: str = ""
    message: str = ""
    numbers: dict = field(default_factory=dict)
