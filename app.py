"""bamu dashboard: load a model and data, audit it for subgroup bias, unlearn the bias, compare."""
import streamlit as st

st.set_page_config(page_title="bamu: bias-aware unlearning", page_icon="⚖️", layout="wide")

pages = [
    st.Page("pages/load.py", title="Load", icon="📂", default=True),
    st.Page("pages/audit.py", title="Audit", icon="🔎"),
]
st.navigation(pages).run()
