"""One generic name -> entry registry, used for methods, forget strategies, scenarios,
architectures and datasets.

>>> METHODS = Registry("unlearning method")
>>> @METHODS.register("ga", summary="gradient ascent")
... class GA: ...
>>> METHODS.get("ga") is GA
True
>>> METHODS.names()
['ga']

An unknown name raises :class:`~bamu_core.errors.BamuInputError` (a ``ValueError``) that lists
the registered names; registering a name twice raises ``ValueError`` (a programming error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, TypeVar

from .errors import BamuInputError

__all__ = ["Registry", "Entry"]

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered object with its one-line summary and free-form facts (``meta``)."""

    name: str
    obj: T
    summary: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """An ordered mapping of names to objects, filled by a decorator or :meth:`add`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def add(self, name: str, obj: T, *, summary: str = "", **meta: Any) -> T:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} needs a non-empty string name, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = Entry(name=name, obj=obj, summary=summary, meta=dict(meta))
        return obj

    def register(self, name: str, *, summary: str = "", **meta: Any) -> Callable[[T], T]:
        """Decorator form of :meth:`add`; returns the object unchanged."""

        def wrap(obj: T) -> T:
            return self.add(name, obj, summary=summary, **meta)

        return wrap

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise BamuInputError(
                f"unknown {self.kind} {name!r}; available: {', '.join(self.names()) or '(none)'}"
            ) from None

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def summary(self, name: str) -> str:
        return self.entry(name).summary

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
