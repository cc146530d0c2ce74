"""Compare: before / after radar, per-group accuracy, Grad-CAM, two runs, an intensity sweep."""
import streamlit as st

from bamu_core import ui_state, ui_widgets as ui

st.title("Compare before and after")
subject = ui.require_subject()
if not ui_state.library_features()["unlearn"]:
    st.info("Nothing to compare yet: unlearning is not available in this version of bamu.")
    st.stop()
