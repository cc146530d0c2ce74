"""Audit-only data on the Load page: whether a metadata CSV is test rows only, and the choice to treat it so.

A CSV whose ``split`` column says ``test`` in every row loads as audit-only data by itself
(:func:`bamu_core.data.load_folder`); one without a split column is audit-only when the user
ticks :func:`audit_only_choice`. The value goes to ``load_subject(..., audit_only=...)``; such data
needs an uploaded model, since no baseline can be trained on it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["csv_is_audit_only", "audit_only_choice"]


def csv_is_audit_only(meta_csv: str | Path, *, split_col: str = "split") -> bool:
    """Whether the CSV has a ``split_col`` column that is ``test`` in every row (False if unreadable)."""
    import pandas as pd

    try:
        table = pd.read_csv(meta_csv, dtype=str)
    except Exception:  # the loader reports a broken CSV in its own words
        return False
    table.columns = [str(c).strip() for c in table.columns]
    if split_col not in table.columns or table.empty:
        return False
    return bool((table[split_col].fillna("").str.strip().str.lower() == "test").all())


def audit_only_choice(meta_csv: str | Path | None, *, key: str = "load_audit_only") -> bool:
    """A checkbox "every row is a test image"; ticked and fixed when the CSV is test rows only."""
    import streamlit as st

    fixed = meta_csv is not None and csv_is_audit_only(meta_csv)
    return st.checkbox(
        "Audit only: every row is a test image",
        value=fixed,
        disabled=fixed,
        key=key,
        help="Audit a model on every image of this CSV. Needs your model: no baseline can be trained on "
        "test images, and unlearning needs training rows.",
    )
