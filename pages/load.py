import streamlit as st

from bamu_core.data import list_scenarios, scenario_summary


@st.cache_resource(show_spinner=False)
def _subject(name: str):
    from bamu_core.workflows import load_subject

    return load_subject(scenario=name)


st.title("Load a model and a dataset")
name = st.selectbox(
    "Built-in scenario",
    list_scenarios(),
    index=list_scenarios().index("binary-colored-digits"),
    format_func=lambda n: f"{n}: {scenario_summary(n)}",
)
try:
    with st.spinner("Preparing the scenario and its biased baseline model (first time: a few seconds) ..."):
        subject = _subject(name)
except (ValueError, FileNotFoundError) as exc:
    st.error(f"{exc}")
    st.stop()
st.session_state["subject_name"] = name
st.subheader(subject.scenario.title)
st.write(subject.scenario.bias)
card = subject.scenario.card()
st.json(card, expanded=False)
