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


_SPELLINGS = {"None": None, "none": None, "True": True, "False": False}


def _option_pair(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE an integer, a number, true/false, null (or None) or else a string."""
    key, value = _hp_pair(text)
    if isinstance(value, str) and value in _SPELLINGS:
        value = _SPELLINGS[value]
    if isinstance(value, (list, dict)):
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE with a number, true/false, null or a string as VALUE, got {text!r}"
        )
    return key, value


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


def _bounded_int(low: int, high: int | None = None):
    """An argparse type: an integer in ``[low, high]`` (argparse names the option in the message)."""

    def parse(text: str) -> int:
        value = int(text)  # a ValueError: argparse says "invalid int value: 'x'"
        if value < low or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be an integer {span}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


def _bounded_float(low: float, high: float, *, open_low: bool = False, open_high: bool = False):
    """An argparse type: a number in the interval from ``low`` to ``high``."""

    def parse(text: str) -> float:
        value = float(text)  # a ValueError: argparse says "invalid float value: 'x'"
        bad_low = value <= low if open_low else value < low
        bad_high = value >= high if open_high else value > high
        if value != value or bad_low or bad_high:
            span = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
            raise argparse.ArgumentTypeError(f"must be a number in {span}, got {text}")
        return value

    parse.__name__ = "float"
    return parse


#: Largest values of the command line's numeric options (a larger value is refused naming the limit).
MAX_N_BOOT = 10_000
MAX_IMAGE_SIZE = 512  # the data loaders (bamu_core.data) and the dashboard refuse larger images too
MIN_IMAGE_SIZE = 8
MAX_PER_SPLIT = 10_000_000
MAX_GALLERY_K = 256
MAX_SALIENCY_PER_GROUP = 10_000
MAX_SEED = 2**32 - 1
MAX_RETAIN = 10_000_000
MAX_CLASSES = 100_000


def _add_mkdir_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mkdir",
        action="store_true",
        help="create missing parent folders of the output paths (default: a missing folder is an error)",
    )


def _command_inputs(args) -> tuple[list, list]:
    """The files and folders a command reads (outputs must not replace them)."""
    files = [getattr(args, name, None) for name in ("model", "meta")]
    folders = [
        getattr(args, name, None) for name in ("data", "cifar_root", "celeba_root", "cub_root", "waterbirds_root")
    ]
    return [f for f in files if f], [d for d in folders if d]


def _check_output(args, path, flag: str, *, taken: dict | None = None):
    """Check an output path of the command (see :func:`bamu_core.storage.check_output_path`).

    ``taken`` maps the paths already claimed by this command's other outputs to their flags.
    """
    import os
    from pathlib import Path

    from ..storage import check_output_path

    if path is None:
        return None
    files, folders = _command_inputs(args)
    out = check_output_path(path, inputs=files, input_folders=folders, mkdir=getattr(args, "mkdir", False), flag=flag)
    if taken is not None:
        key = os.path.realpath(Path(out).expanduser())
        if key in taken:
            raise BamuInputError(f"{flag} and {taken[key]} name the same file {path}; give each its own path")
        taken[key] = flag
    return out
