"""Unlearn: choose a method, an intensity and a forget set; run it in the background."""
import streamlit as st

from bamu_core import ui_state, ui_widgets as ui

st.title("Unlearn the bias")
subject = ui.require_subject()
if not ui_state.library_features()["unlearn"] or not ui_state.method_summaries():
    st.info("Unlearning is not available yet in this version of bamu (the unlearning engine has not landed).")
    st.stop()
