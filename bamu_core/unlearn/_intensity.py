"""The intensity table that maps ``intensity`` in [0, 1] to every method's hyper-parameters.

The table is generated from the config dataclasses of :mod:`bamu_core.unlearn._config` (one per
method; each field says how it follows the intensity and what it does). A cell ``(low, high)`` is
interpolated linearly: ``low`` just above intensity 0, ``high`` at 1 (rounded for integers); a
plain value is used at every intensity. Intensity 0 itself never runs a method (the model is
returned unchanged). ``COMMON`` (the fields of :class:`~bamu_core.unlearn._config.CommonConfig`)
applies to every method; a method's row (the fields its config adds or changes) overrides it.
Validation accuracy may fall by at most ``ACCURACY_BOUND * intensity``
(see :mod:`bamu_core.unlearn._select`). Advanced users pass raw values in ``hyperparameters``.

The table was set on the digit scenarios' small CNNs. A scenario may carry its own defaults for its
model (``Scenario.unlearning``, cells in the same form); :func:`bamu_core.workflows.unlearn` puts
them between this table and the user's values (see ``patch-cifar10``: its pretrained ResNet-20
needs plain SGD with far smaller steps than these Adam rates).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, NamedTuple

from ..errors import BamuInputError
from ._config import CONFIGS, CommonConfig, cell, config_class, interpolate

__all__ = [
    "COMMON",
    "INTENSITY_TABLE",
    "HyperparameterRow",
    "resolve_hyperparameters",
    "hyperparameter_rows",
    "at_intensity",
    "intensity_table_markdown",
    "hyperparameters_markdown",
]


def _row_fields(cls: type[CommonConfig]) -> list[dataclasses.Field]:
    """The fields ``cls`` adds to or changes in :class:`CommonConfig`, in declaration order (the
    classes between them first)."""
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        if klass is not CommonConfig and issubclass(klass, CommonConfig):
            names += [n for n in inspect.get_annotations(klass) if n not in names]
    return [by_name[n] for n in names]


#: Settings of every method (a method's row overrides them).
COMMON: dict = {f.name: cell(f) for f in dataclasses.fields(CommonConfig)}

#: Each method's row: ``(low, high)`` ranges and plain values, generated from its config class.
INTENSITY_TABLE: dict[str, dict] = {name: {f.name: cell(f) for f in _row_fields(cls)} for name, cls in CONFIGS.items()}


def at_intensity(row: dict, intensity: float) -> dict:
    """``row``'s values at ``intensity``: ``(low, high)`` cells interpolated, plain values as they are."""
    return {k: interpolate(v, intensity) for k, v in row.items()}


def resolve_hyperparameters(method: str, intensity: float, overrides: dict | None = None) -> dict:
    """The hyper-parameters of ``method`` at ``intensity``, with ``overrides`` applied.

    Raises
    ------
    ValueError
        If ``overrides`` names a hyper-parameter the method does not have.
    """
    row = {**COMMON, **INTENSITY_TABLE.get(method, {})}
    hp = at_intensity(row, intensity)
    unknown = sorted(set(overrides or {}) - set(hp))
    if unknown:
        raise BamuInputError(
            f"method {method!r} has no hyper-parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(hp))}"
        )
    hp.update(overrides or {})
    return hp


class HyperparameterRow(NamedTuple):
    """One hyper-parameter of a method at an intensity (a row of an editable table or of the docs)."""

    name: str
    value: Any  # at the intensity, with the overrides applied
    help: str
    range: tuple | None  # (value just above intensity 0, value at 1); None when fixed


def _shown_range(f: dataclasses.Field) -> tuple | None:
    return f.metadata.get("range") or f.metadata.get("shown_range")


def hyperparameter_rows(method: str, intensity: float, overrides: dict | None = None) -> list[HyperparameterRow]:
    """Every hyper-parameter of ``method`` at ``intensity`` (``overrides`` applied, as in
    :func:`resolve_hyperparameters`, which raises on unknown names), in the order of its resolved
    dictionary: name, value, one-line help and the intensity range (None when fixed)."""
    hp = resolve_hyperparameters(method, float(intensity), overrides)
    return [
        HyperparameterRow(f.name, hp[f.name], f.metadata["help"], _shown_range(f))
        for f in dataclasses.fields(config_class(method))
    ]


def intensity_table_markdown() -> str:
    """The table as Markdown: one row per method and hyper-parameter, then the shared settings."""

    def cells(cell):
        return cell if isinstance(cell, tuple) else (cell, cell)

    lines = ["| method | hyper-parameter | intensity → 0 | intensity 1 |", "|---|---|---|---|"]
    for method, row in INTENSITY_TABLE.items():
        for key, value in row.items():
            lo, hi = cells(value)
            lines.append(f"| {method} | {key} | {lo} | {hi} |")
    for f in dataclasses.fields(CommonConfig):
        lo, hi = _shown_range(f) or cells(COMMON[f.name])
        lines.append(f"| all (unless above) | {f.name} | {lo} | {hi} |")
    return "\n".join(lines)


def _field_lines(fs: list[dataclasses.Field]) -> list[str]:
    lines = ["| hyper-parameter | type | intensity → 0 | intensity 1 | what it does |", "|---|---|---|---|---|"]
    for f in fs:
        lo, hi = _shown_range(f) or (cell(f), cell(f))
        if f.metadata.get("shown_range"):  # a None that stands for a value following the intensity
            lo, hi = f"None (= {lo})", f"None (= {hi})"
        kind = str(f.type).replace("|", "or")
        lines.append(f"| `{f.name}` | {kind} | {lo} | {hi} | {f.metadata['help']} |")
    return lines


def hyperparameters_markdown() -> str:
    """Every method's hyper-parameters as a Markdown document (``docs/hyperparameters.md``).

    Regenerate the file with ``python -m bamu_core.unlearn docs/hyperparameters.md``.
    """
    out = [
        "# Unlearning hyper-parameters",
        "",
        "Generated from the config dataclasses in `bamu_core/unlearn/_config.py` by",
        "`bamu_core.unlearn.hyperparameters_markdown()`; regenerate with",
        "`python -m bamu_core.unlearn docs/hyperparameters.md`.",
        "",
        "Every method is driven by one `intensity` in [0, 1]. A hyper-parameter with two different",
        "values is interpolated linearly from the first (just above intensity 0) to the second (at",
        "intensity 1), rounded when both are integers; the others are fixed. Intensity 0 returns the",
        "model unchanged. Raw values passed as `hyperparameters={...}` replace these, and a",
        "scenario's own defaults (`Scenario.unlearning`) sit between this table and them.",
        "",
        f"## Every method (`{CommonConfig.__name__}`)",
        "",
        inspect.cleandoc(CommonConfig.__doc__ or ""),
        "",
        *_field_lines(list(dataclasses.fields(CommonConfig))),
    ]
    for name, cls in CONFIGS.items():
        own = _row_fields(cls)
        out += ["", f"## `{name}` (`{cls.__name__}`)", "", inspect.cleandoc(cls.__doc__ or ""), ""]
        out += _field_lines(own) if own else ["No hyper-parameters beyond the shared ones."]
    return "\n".join(out) + "\n"
