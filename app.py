"""bamu dashboard: load a model and data, audit it for subgroup bias, unlearn the bias, compare, report.

Start it with ``./run.sh`` (or ``streamlit run app.py``). It opens on the built-in demo
(``binary-colored-digits`` with its biased baseline, trained on first use and then cached).
"""

from pathlib import Path

import streamlit as st

from dashboard import widgets as ui

st.set_page_config(page_title="bamu: bias-aware unlearning", page_icon="⚖️", layout="wide")
logo = Path(__file__).parent / "assets" / "logo.svg"
if logo.is_file():
    st.logo(str(logo), size="large")
ui.setup()

pages = [
    st.Page("pages/load.py", title="Load", icon=":material/folder_open:", default=True),
    st.Page("pages/audit.py", title="Audit", icon=":material/search:"),
    st.Page("pages/unlearn.py", title="Unlearn", icon=":material/cleaning_services:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/balance:"),
    st.Page("pages/report.py", title="Report / history", icon=":material/history:"),
]
page = st.navigation(pages)
ui.sidebar()  # pages rerun the app when they change what it shows (a finished load or run)
try:
    page.run()
except Exception as exc:  # a page must never show a traceback: say what happened and what to do
    ui.page_failed(exc)
