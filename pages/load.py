"""Load: a built-in scenario or your data (folder + CSV, typed or uploaded as zip), and a model."""
import html
from pathlib import Path

import streamlit as st

from bamu_core import ui_state, ui_widgets as ui
from bamu_core.data import list_scenarios, scenario_summary
from bamu_core.models import CHECKPOINT_SUFFIXES, get_arch, list_archs, read_state_dict
from bamu_core.workflows import model_card

ui.enter_page()
st.title("Load a model and a dataset")
spec = ui.current_spec()

SOURCES = {"builtin": "Built-in scenario", "folder": "Folder + CSV on this machine", "zip": "Upload a zip"}
MAX_MB = st.get_option("server.maxUploadSize")  # .streamlit/config.toml; larger uploads are refused by the server
MODELS = {"baseline": "Train a baseline on this data", "checkpoint": "My checkpoint"}

with st.container(border=True):
    source = st.radio(
        "Data", list(SOURCES), format_func=SOURCES.get, horizontal=True, key="load_source", persist_state="session"
    )
    chosen: dict = {}
    problem = None
    if source == "builtin":
        names = list_scenarios()
        default = spec.scenario if spec.scenario in names else ui_state.DEMO_SCENARIO
        name = st.selectbox(
            "Scenario", names, index=names.index(default), format_func=lambda n: f"{n}: {scenario_summary(n)}",
            key="load_scenario",
        )
        chosen = {"scenario": name}
    else:
        if source == "folder":
            c1, c2 = st.columns(2)
            data_dir = c1.text_input("Image folder", placeholder="/data/my_images", key="load_dir", persist_state="session")
            meta_csv = c2.text_input(
                "Metadata CSV (columns: path, label, group columns)", placeholder="/data/my_images/meta.csv",
                key="load_csv", persist_state="session",
            )
        else:
            upload = st.file_uploader(
                "Zip of images with a metadata CSV (paths in the CSV relative to the CSV's folder)", type=["zip"],
                key="load_zip",
                help=f"Uploads are limited to {MAX_MB} MB (server.maxUploadSize in .streamlit/config.toml). "
                "For a larger dataset choose 'Folder + CSV on this machine'.",
            )
            data_dir = meta_csv = ""
            if upload is not None:
                unpacked = st.session_state.setdefault("zip_cache", {})
                if upload.file_id not in unpacked:  # unpack each upload once
                    try:
                        folder = ui.uploads().folder(f"dataset-{upload.file_id}")
                        ui_state.extract_zip(upload.getvalue(), folder)
                        unpacked[upload.file_id] = str(ui_state.find_metadata_csv(folder))
                    except ValueError as exc:
                        unpacked[upload.file_id] = exc
                found = unpacked[upload.file_id]
                if isinstance(found, Exception):
                    ui.show_error(found, doing=f"use {upload.name}", hint="Fix the archive and upload it again.")
                else:
                    data_dir, meta_csv = str(Path(found).parent), found
                    st.caption(f"Unpacked {upload.name}: metadata {Path(found).name}.")
        columns = []
        if meta_csv:
            try:
                columns = ui_state.csv_columns(meta_csv)
            except (ValueError, FileNotFoundError) as exc:
                ui.show_error(exc, doing="read the metadata CSV")
        if columns:
            c1, c2, c3 = st.columns([1, 2, 1])
            label_col = c1.selectbox("Label column", columns, index=columns.index("label") if "label" in columns else 0)
            others = [c for c in columns if c not in ("path", label_col, "split")]
            group_cols = c2.multiselect("Group columns", others, default=others[:1])
            size = c3.number_input("Image size (pixels)", min_value=8, max_value=512, value=64, step=8)
            chosen = {
                "data_dir": data_dir, "meta_csv": meta_csv, "label_col": label_col,
                "group_cols": tuple(group_cols), "image_size": int(size),
            }
            if not group_cols:
                problem = "choose at least one group column"
        elif source == "folder" and not (data_dir and meta_csv):
            problem = "type the image folder and the metadata CSV"
        elif source == "zip" and not meta_csv:
            problem = "upload a zip"

    model_choice = st.radio(
        "Model", list(MODELS), format_func=MODELS.get, horizontal=True, key="load_model", persist_state="session"
    )
    if model_choice == "checkpoint":
        archs = list_archs()
        c1, c2 = st.columns([1, 2])
        arch = c1.selectbox("Architecture", archs, index=archs.index("small_cnn"), key="load_arch",
                            help="The checkpoint must be a state dict of this architecture.")
        c1.caption(get_arch(arch).description)
        ckpt = c2.file_uploader(
            "Checkpoint", type=[s.lstrip(".") for s in CHECKPOINT_SUFFIXES], key="load_ckpt",
            help=f"A state dict of up to {MAX_MB} MB (server.maxUploadSize in .streamlit/config.toml); it is read "
            "as weights only, never as pickled code. For a larger one use the command line: bamu audit --model FILE.",
        )
        chosen["arch"] = arch
        if ckpt is None:
            problem = problem or "upload a checkpoint (.pt, .pth, .th or .safetensors state dict)"
        else:
            checked = st.session_state.setdefault("ckpt_cache", {})
            if ckpt.file_id not in checked:  # save and check each upload once
                try:
                    path = ui.uploads().save(ckpt.name, ckpt.getvalue(), allowed=CHECKPOINT_SUFFIXES)
                    checked[ckpt.file_id] = (str(path), len(read_state_dict(path)))  # weights only, never pickle
                except (ValueError, FileNotFoundError) as exc:
                    checked[ckpt.file_id] = exc
            found = checked[ckpt.file_id]
            if isinstance(found, Exception):
                ui.show_error(found, doing=f"use {ckpt.name}",
                              hint="Upload a state dict saved with torch.save(model.state_dict()) or safetensors.")
                problem = "the checkpoint cannot be used"
            else:
                path, n_tensors = found
                chosen.update(checkpoint=path, checkpoint_sha256=Path(path).parent.name)
                c2.caption(f"{ckpt.name}: {n_tensors} tensors, read safely (weights only).")

    new_spec = None
    if problem is None and chosen:
        try:
            new_spec = ui_state.SubjectSpec(**chosen)
        except ValueError as exc:
            ui.show_error(exc, doing="use this choice")
    changed = new_spec is not None and new_spec != spec
    label = "Load" if changed else "Loaded"
    if st.button(label, type="primary", disabled=not changed, key="load_button",
                 help=problem.capitalize() + "." if problem else None):
        ui.set_spec(new_spec)
        st.rerun()
    if problem and source != "builtin":
        st.caption(f"To load: {problem}.")

subject = ui.require_subject()
sc = subject.scenario

st.header(sc.title)
st.write(sc.bias)
attrs = sc.group_attrs
current_attr = st.session_state.get("group_attr") or sc.test.group_attr
attr = st.selectbox(
    "Group attribute to audit", attrs, index=attrs.index(current_attr) if current_attr in attrs else 0,
    help="Which attribute defines the subgroups on every page.",
)
if attr != current_attr:
    st.session_state["group_attr"] = attr
    st.rerun()

left, right = st.columns([3, 2])
with left:
    st.subheader("Dataset card")
    c = st.columns(4)
    c[0].metric("Classes", sc.num_classes)
    c[1].metric("Groups", len(sc.test.group_names[attr]))
    c[2].metric("Train images", len(sc.train))
    c[3].metric("Test images", len(sc.test))
    st.caption("Classes: " + ", ".join(sc.class_names))
    tab_train, tab_test = st.tabs(["Training split", "Test split"])
    for tab, split in ((tab_train, "train"), (tab_test, "test")):
        with tab:
            st.dataframe(ui_state.counts_table(sc, split=split, attr=attr), width="stretch")
    st.caption(
        "What am I looking at: how many images of each class every group has. A group that is "
        "mostly one class in training is the shortcut a model can learn instead of the real task."
    )
with right:
    st.subheader("Model card")
    card = model_card(subject)
    st.markdown(
        f"**Architecture** {card['arch']}  \n{card['description']}  \n"
        f"**Parameters** {card['parameters']:,}  \n**Classes** {card['num_classes']}  \n"
        f"**Source** {card['source']}  \n**Device** {ui.device_description()}"
    )

st.subheader("Sample images per group (test split)")
names = sc.test.group_names[attr]
for g, gname in enumerate(names[:12]):
    images = ui_state.sample_images(sc.test, group=g, k=10, seed=0)
    st.markdown(f"<div class='bamu-group-label'>{html.escape(gname)}</div>", unsafe_allow_html=True)  # names come from user CSVs
    if images:
        st.image(images, width=64)
    else:
        st.caption("no test image in this group")
if len(names) > 12:
    st.caption(f"... and {len(names) - 12} more groups.")
st.caption("What am I looking at: random test images of each group, so you can see what the groups mean.")
