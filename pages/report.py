"""Report / history: saved runs, downloads (HTML / JSON / CSV), delete."""

import streamlit as st

from bamu_core import workflows
from dashboard import state, tables
from dashboard import widgets as ui

ui.enter_page()
st.title("Report and history")

try:
    store = state.run_store()
    records = workflows.list_runs(store=store)
except Exception as exc:
    ui.show_error(exc, doing="open the run store", hint="Check that BAMU_HOME is writable.")
    st.stop()

if not records:
    st.info("No saved runs yet. Every unlearning run started on the Unlearn page is saved here.")
    st.stop()

st.caption(f"{len(records)} saved run(s) in {store.root}. Select one to download its report or delete it.")
table = tables.runs_table(records)
short = {"accuracy before": "acc. before", "accuracy after": "acc. after"}  # headers that fit 1366 px
fmt = {
    c: st.column_config.NumberColumn(short.get(c, c), format="%.3f")
    for c in ("intensity", "DP before", "DP after", "accuracy before", "accuracy after")
}
st.dataframe(table, hide_index=True, width="stretch", column_config=fmt)
ids = [r.run_id for r in records]
last = getattr(state.last_run(), "run_id", None)
default = last if last in ids else ids[0]
run_id = st.selectbox(
    "Run",
    ids,
    index=ids.index(default),
    key="report_run",
    format_func=lambda i: f"{i} · {next(r for r in records if r.run_id == i).method or ''}",
)
record = next(r for r in records if r.run_id == run_id)

c = st.columns(5)
c[0].metric("Status", record.status.replace("_", " "))
c[1].metric("Method", record.method or "?")
c[2].metric("Intensity", f"{record.intensity:.2f}" if record.intensity is not None else "n/a")
c[3].metric("Score", f"{record.score:.3f}" if record.score is not None else "n/a")
c[4].metric(
    "Unlearning time",
    f"{record.seconds:.1f} s" if record.seconds is not None else "n/a",
    help="the method's own time; the before / after audits add to it (the report's timings list each part)",
)
if record.message:
    st.caption(record.message)

if record.status == "complete":
    st.subheader("Download")
    d = st.columns(3)
    labels = {"html": "HTML report", "json": "JSON", "csv": "CSV table"}
    for col, (kind, mime) in zip(d, workflows.EXPORTS.items()):
        col.download_button(
            labels[kind],
            data=lambda kind=kind: workflows.export_run(run_id, kind, store=store),
            file_name=f"bamu-{run_id}.{kind}",
            mime=mime,
            key=f"dl_{kind}_{run_id}",
            icon=":material/download:",
        )
    st.caption(
        "The HTML report is one self-contained file (charts and images inside) that opens offline; "
        "the JSON holds every number; the CSV has one row per before / after metric."
    )
else:
    st.info(f"This run is {record.status}: it has no result to download.")

with st.popover("Delete this run", icon=":material/delete:"):
    st.write(f"Delete run **{run_id}** and its files? This cannot be undone.")
    if st.button("Delete", type="primary", key=f"delete_{run_id}"):
        try:
            workflows.delete_run(run_id, store=store)
            state.forget_run(run_id)
            st.toast(f"Run {run_id} deleted.")
            st.rerun()
        except Exception as exc:
            ui.show_error(exc, doing=f"delete run {run_id}")
