"""The Load page's baseline choice for data without a recipe of its own, before anything loads:
how many training images and classes a metadata CSV describes (:func:`csv_training_size`), and
the baseline :func:`bamu_core.models.suggest_baseline` picks for them.

Free of Streamlit, so that it can be unit-tested.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

from bamu_core.errors import BamuInputError

__all__ = ["TrainingSize", "csv_training_size"]


@dataclass(frozen=True)
class TrainingSize:
    """The training images and classes a metadata CSV describes; ``exact`` when a split column
    names the training rows, else the share of the rows the folder loader's seeded split trains on."""

    images: int
    classes: int
    exact: bool

    def words(self) -> str:
        return f"{'' if self.exact else 'about '}{self.images:,} training images"


def _train_fraction() -> float:
    """The share of rows :func:`bamu_core.data.load_folder` trains on without a split column (from
    its own defaults, so that the two cannot drift apart)."""
    from bamu_core.data import load_folder

    params = inspect.signature(load_folder).parameters
    return 1.0 - params["val_fraction"].default - params["test_fraction"].default


def csv_training_size(meta_csv: str | Path, label_col: str, *, split_col: str = "split") -> TrainingSize:
    """How many training images (and classes) the metadata CSV ``meta_csv`` describes.

    Raises ``BamuInputError`` when the CSV cannot be parsed or lacks ``label_col``.
    """
    import pandas as pd

    try:
        table = pd.read_csv(meta_csv, dtype=str)
    except Exception as exc:  # pandas raises several parser error types
        raise BamuInputError(f"cannot read metadata CSV {Path(meta_csv).name}: {type(exc).__name__}") from None
    table.columns = [str(c).strip() for c in table.columns]
    if label_col not in table.columns:
        raise BamuInputError(f"metadata CSV {Path(meta_csv).name} has no column {label_col!r}")
    classes = int(table[label_col].dropna().str.strip().nunique())
    if split_col in table.columns:
        n = int((table[split_col].str.strip().str.lower() == "train").sum())
        return TrainingSize(images=n, classes=classes, exact=True)
    return TrainingSize(images=round(len(table) * _train_fraction()), classes=classes, exact=False)
