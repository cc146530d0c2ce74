"""Report / history: saved runs, downloads (HTML / JSON / CSV), delete."""
import streamlit as st

from bamu_core import ui_state, ui_widgets as ui

st.title("Report and history")
if not ui_state.library_features()["runs"]:
    st.info("The run store is not available yet in this version of bamu.")
    st.stop()
