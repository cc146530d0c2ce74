"""A confidence interval as a typed result (:class:`Interval`)."""

from __future__ import annotations

from dataclasses import dataclass

from ._record import Record

__all__ = ["Interval"]


@dataclass
class Interval(Record):
    """A confidence interval: ``low`` and ``high`` (``None`` where undefined)."""

    low: float | None = None
    high: float | None = None
