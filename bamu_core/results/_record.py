"""A dataclass base that reads and writes plain JSON.

A :class:`Record` subclass is a dataclass whose fields are JSON values, other records, or lists
and string-keyed dicts of records (declared with :func:`nested`). ``to_json()`` writes the fields
in declaration order, then ``extra`` (keys the class does not know, kept so that a document from
a newer or older writer round-trips unchanged); ``from_json()`` reads a document back, leaving
missing fields at their defaults. Fields declared with ``omit_none=True`` are left out of the
document when they are ``None`` (optional sections such as an audit's ``gallery``).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Mapping, TypeVar

from ..errors import BamuInputError

__all__ = ["Record", "nested", "SCHEMA_VERSION"]

#: Version of the JSON documents of :mod:`bamu_core.results` (written as ``schema_version``).
SCHEMA_VERSION = 1

R = TypeVar("R", bound="Record")


def nested(kind: type, *, container: str | None = None, default: Any = MISSING, omit_none: bool = False) -> Any:
    """A field holding a record (``container=None``), a ``"list"`` or a ``"dict"`` of them."""
    meta = {"record": kind, "container": container, "omit_none": omit_none}
    if default is not MISSING:
        return field(default=default, metadata=meta)
    factory = {"list": list, "dict": dict}.get(container or "", lambda: None)
    return field(default_factory=factory, metadata=meta)


def optional(default: Any = None) -> Any:
    """A plain field left out of the document while it is ``None``."""
    return field(default=default, metadata={"omit_none": True})


def _encode(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any, kind: type | None, container: str | None) -> Any:
    if kind is None or value is None:
        return value
    if container == "list":
        return [None if v is None else kind.from_json(v) for v in value]
    if container == "dict":
        return {k: None if v is None else kind.from_json(v) for k, v in value.items()}
    return kind.from_json(value) if isinstance(value, Mapping) else value


@dataclass
class Record:
    """Base of the typed results: ``to_json()`` / ``from_json()`` with unknown keys kept."""

    extra: dict[str, Any] = field(default_factory=dict, repr=False, kw_only=True)

    #: Written first as ``schema_version`` when true (top-level documents).
    versioned: ClassVar[bool] = False

    def to_json(self) -> dict:
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION} if self.versioned else {}
        for f in fields(self):
            if f.name == "extra" or f.metadata.get("skip"):
                continue
            value = getattr(self, f.name)
            if value is None and f.metadata.get("omit_none"):
                continue
            out[f.name] = _encode(value)
        for k, v in self.extra.items():
            out.setdefault(k, v)
        return out

    @classmethod
    def from_json(cls: type[R], doc: Mapping | R) -> R:
        if isinstance(doc, cls):
            return doc
        if not isinstance(doc, Mapping):
            raise TypeError(f"{cls.__name__}.from_json needs a JSON object, got {type(doc).__name__}")
        version = doc.get("schema_version") if cls.versioned else None
        if isinstance(version, int) and version > SCHEMA_VERSION:
            raise BamuInputError(
                f"this document has schema_version {version}; this bamu reads up to {SCHEMA_VERSION}: upgrade bamu"
            )
        known = {f.name: f for f in fields(cls) if f.name != "extra" and not f.metadata.get("skip")}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in doc.items():
            f = known.get(key)
            if f is None:
                if not (cls.versioned and key == "schema_version"):
                    extra[key] = value
                continue
            kwargs[key] = _decode(value, f.metadata.get("record"), f.metadata.get("container"))
        return cls(**kwargs, extra=extra)
