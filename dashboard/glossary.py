"""The glossary on the dashboard: tooltips for metric labels and a "Glossary" expander.

The terms and their explanations are :data:`bamu_core.glossary.GLOSSARY` (shared with the HTML report).
"""

from __future__ import annotations

from bamu_core.glossary import GLOSSARY, explain

__all__ = ["help_for", "glossary_expander", "table_help", "GAP_METRIC_LABELS"]

#: The labels of the gap a run worked on, as the Compare page's headline metric shows it.
GAP_METRIC_LABELS = {
    "demographic_parity_difference": "Demographic parity gap",
    "equalized_odds_difference": "Equalized odds difference",
    "equal_opportunity_difference": "Equal opportunity difference",
    "accuracy_gap": "Accuracy gap",
}


def help_for(label: str) -> str | None:
    """The tooltip of a metric label (``help=`` of ``st.metric``), or ``None`` when the glossary has none."""
    return explain(label)


def table_help(labels) -> str:
    """One tooltip for a table's "metric" column: each label with its explanation, one a line."""
    lines = []
    for label in dict.fromkeys(labels):
        text = explain(label)
        if text:
            lines.append(f"**{label}**: {text}")
    return "  \n".join(lines)


def glossary_expander(*, key: str = "glossary") -> None:
    """A closed "Glossary" expander listing every term with its explanation."""
    import streamlit as st

    with st.expander("Glossary: what the terms mean", expanded=False, key=key):
        st.markdown("\n".join(f"- **{term}**: {text}" for term, text in GLOSSARY.items()))
