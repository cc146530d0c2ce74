import pandas as pd
import streamlit as st

name = st.session_state.get("subject_name")
st.title("Audit")
if name is None:
    st.info("Load a scenario on the Load page first.")
    st.stop()

from bamu_core.workflows import audit, load_subject  # noqa: E402


@st.cache_resource(show_spinner=False)
def _subject(n: str):
    return load_subject(scenario=n)


result = audit(_subject(name))
u, f = result["utility"], result["fairness"]
c = st.columns(4)
c[0].metric("Accuracy", f"{u['accuracy']:.1%}")
c[1].metric("Worst-group accuracy", f"{f['worst_group_accuracy']:.1%}")
c[2].metric("Demographic parity difference", f"{f['demographic_parity_difference']:.3f}")
c[3].metric("Equalized odds difference", f"{f['equalized_odds_difference']:.3f}")
st.dataframe(pd.DataFrame(result["groups"])[["group", "n", "accuracy", "tpr", "fpr"]], hide_index=True)
