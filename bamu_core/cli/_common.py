"""Shared pieces of the command line: the parser class, argument types and number formats."""

from __future__ import annotations

import argparse
import json

from ..errors import BamuInputError
from ..results import Interval


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage is behind --help) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def _one_line(text) -> str:
    """A message on one line (whitespace, newlines included, collapsed)."""
    return " ".join(str(text).split())


def _floats3(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three comma-separated numbers, got {text!r}") from None
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected three comma-separated numbers, got {text!r}")
    return parts  # type: ignore[return-value]


def _ints4(text: str) -> tuple[int, int, int, int]:
    try:
        parts = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected four comma-separated integers TOP,LEFT,HEIGHT,WIDTH, got {text!r}"
        ) from None
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"expected four comma-separated integers TOP,LEFT,HEIGHT,WIDTH, got {text!r}")
    return parts  # type: ignore[return-value]


def _attr_pair(text: str) -> tuple[str, str]:
    parts = tuple(v.strip() for v in text.split(","))
    if len(parts) != 2 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected two group attributes A,B, got {text!r}")
    return parts  # type: ignore[return-value]


def _fmt(value, width: int = 8) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.3f}"


def _fmt_ci(ci: Interval | None) -> str:
    if ci is None or ci.low is None or ci.high is None:
        return ""
    return f"[{ci.low:.3f}, {ci.high:.3f}]"


def _hp_pair(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


def _parse_intensity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BamuInputError(f"--intensity must be a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise BamuInputError(f"--intensity must be in [0, 1], got {value:g}")
    return value


def _names(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def _levels(text: str) -> list[float]:
    try:
        levels = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers in [0, 1], got {text!r}") from None
    if not levels or any(not 0.0 <= x <= 1.0 for x in levels):
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers in [0, 1], got {text!r}")
    return levels


def _cell(value, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)
