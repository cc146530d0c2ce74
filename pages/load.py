"""Load: a built-in scenario, your data (folder + CSV, typed or uploaded as zip) or an official
dataset (CelebA, CUB-200-2011, Waterbirds) from a folder on this machine, and a model."""

import html
import re
from pathlib import Path

import streamlit as st

from bamu_core import workflows
from bamu_core.models import suggest_baseline
from bamu_core.workflows import CHECKPOINT_SUFFIXES, DATASET_TITLES
from dashboard import jobs, state, tables
from dashboard import widgets as ui
from dashboard.audit_data import audit_only_choice, csv_is_audit_only
from dashboard.baseline_choice import csv_training_size
from dashboard.errors import USER_ERRORS
from dashboard.subjects import DEMO_SCENARIO, SubjectSpec, group_attr_choices, group_attr_label
from dashboard.uploads import check_checkpoint, csv_columns, extract_zip, find_metadata_csv

ui.enter_page()
st.title("Load a model and a dataset")
spec = state.current_spec()

SOURCES = {
    "builtin": "Built-in scenario",
    "folder": "Folder + CSV on this machine",
    "zip": "Upload a zip",
    "official": "Official dataset on this machine",
}
MAX_MB = st.get_option("server.maxUploadSize")  # .streamlit/config.toml; larger uploads are refused by the server
MODELS = {"baseline": "Train a baseline on this data", "checkpoint": "My checkpoint"}
ROOT_EXAMPLES = {
    "celeba": "/data/celeba",
    "cub": "/data/CUB_200_2011",
    "waterbirds": "/data/waterbird_complete95_forest2water2",
}
GROUP_SOURCES = {"visibility": "Part visibility (pose)", "attribute": "An attribute"}


def image_size_input(where) -> int:
    return int(
        where.number_input(
            "Image size (pixels)",
            min_value=8,
            max_value=512,
            value=64,
            step=8,
            key="load_image_size",
            persist_state="session",
            help="Every image is resized to N x N (whole image, no crop). Larger sizes need more memory and time.",
        )
    )


def official_dataset() -> tuple[dict, str | None]:
    """The official-dataset source: its widgets, then (spec fields, what is missing or None)."""
    c1, c2 = st.columns([1, 2])
    datasets = workflows.datasets()
    dataset = c1.selectbox(
        "Dataset", list(datasets), format_func=DATASET_TITLES.get, key="load_dataset", persist_state="session"
    )
    root = c2.text_input(
        "Root folder (on the machine running the dashboard)",
        placeholder=ROOT_EXAMPLES[dataset],
        key=f"load_root_{dataset}",
        persist_state="session",
        help="The folder of the official release as downloaded; nothing is downloaded here.",
    ).strip()
    st.caption(f"Expected on disk: {datasets[dataset]}.")
    if not root:
        return {}, "type the dataset's root folder"
    options: dict = {}
    group_source = "visibility"
    c1, c2, c3 = st.columns([1, 2, 1])
    if dataset == "cub":
        group_source = c1.radio(
            "Groups from",
            list(GROUP_SOURCES),
            format_func=GROUP_SOURCES.get,
            key="load_cub_source",
            persist_state="session",
            help="Part visibility (parts/part_locs.txt) is a proxy for the bird's pose: the paper's pose bias. "
            "An attribute comes from attributes/image_attribute_labels.txt.",
        )
        options["group_source"] = group_source
    try:
        choices = workflows.dataset_choices(dataset, root, group_source=group_source)
    except USER_ERRORS as exc:
        ui.show_error(exc, doing=f"open {DATASET_TITLES[dataset]} at {root}")
        return {}, "fix the root folder"
    problem = None
    if dataset == "celeba":
        attrs = choices["attributes"]
        target = c1.selectbox(
            "Target attribute (the class to predict)",
            attrs,
            index=attrs.index("Smiling") if "Smiling" in attrs else 0,
            key="load_celeba_target",
            persist_state="session",
            help="Two classes: 'not <attribute>' and '<attribute>'. The paper predicts Smiling.",
        )
        others = [a for a in attrs if a != target]
        sensitive = c2.multiselect(
            "Sensitive attribute(s) (define the groups)",
            others,
            default=[a for a in ("Male",) if a in others],
            key="load_celeba_sensitive",
            persist_state="session",
            help="Each one splits the faces into two groups (the paper: Male). The first is audited first; "
            "switch with 'Group attribute to audit' once loaded.",
        )
        options.update(target=target, sensitive=tuple(sensitive))
        if not sensitive:
            problem = "choose at least one sensitive attribute"
    elif dataset == "cub":
        if group_source == "visibility":
            parts = [*choices["parts"], "eyes"]
            options["part"] = c2.selectbox(
                "Part",
                parts,
                index=parts.index("beak") if "beak" in parts else 0,
                key="load_cub_part",
                persist_state="session",
                format_func=lambda p: (
                    "eyes (which are visible: facing left, right or the camera)" if p == "eyes" else p
                ),
                help="Two groups: the part is visible or hidden; 'eyes' gives up to four facing groups.",
            )
        else:
            options["attribute"] = c2.selectbox(
                "Attribute",
                choices["attributes"],
                index=None,
                key="load_cub_attribute",
                persist_state="session",
                placeholder="e.g. has_wing_color::blue",
                help="Two groups: the attribute is present or absent.",
            )
            if options["attribute"] is None:
                problem = "choose the attribute that defines the groups"
        options["classes"] = c3.number_input(
            "Species (first K)",
            min_value=2,
            max_value=200,
            value=None,
            step=1,
            placeholder="all",
            key="load_cub_classes",
            persist_state="session",
            help="Keep only the species with class ids 1 to K; empty keeps all 200.",
        )
    else:
        st.caption("Classes: landbird, waterbird. Groups: the background (place), or bird type x background.")
    c1, c2 = st.columns(2)
    options["max_per_split"] = c1.number_input(
        "Max images per split",
        min_value=1,
        value=None,
        step=100,
        placeholder="all",
        key="load_max_per_split",
        persist_state="session",
        help="Read at most N images of each split (train, val, test): a seeded random subset for a quick look; "
        "a baseline trains on the kept training images only. Empty reads them all "
        "(CelebA: 202,599 images, about 2.5 GB in memory at 64 x 64).",
    )
    chosen = {"dataset": dataset, "dataset_root": root, "dataset_options": options, "image_size": image_size_input(c2)}
    return chosen, problem


def baseline_widgets(chosen: dict) -> dict:
    """The baseline's architecture and epochs for a folder or an official dataset, starting at the
    library's choice for that data; the spec fields they set."""
    archs = workflows.architectures()
    if "dataset" in chosen:
        recipe = workflows.dataset_baseline(chosen["dataset"])
        default_arch, default_epochs = recipe["arch"], recipe["epochs"]
        why = f"{DATASET_TITLES[chosen['dataset']]}'s own recipe: {default_arch}, {default_epochs} epochs."
    else:
        try:
            size = csv_training_size(chosen["meta_csv"], chosen["label_col"])
        except USER_ERRORS as exc:
            ui.show_error(exc, doing="count the training images")
            return {}
        choice = suggest_baseline(max(size.images, 1), chosen["image_size"], max(size.classes, 2))
        default_arch, default_epochs = choice.arch, choice.epochs
        why = f"{choice.arch} chosen for {size.words()} because {choice.why}."
        if not size.exact:
            why += " (Estimated from the CSV's rows: the training split is drawn when loading.)"
    c1, c2 = st.columns([2, 1])
    names = list(archs)
    arch = c1.selectbox(
        "Baseline architecture",
        names,
        index=names.index(default_arch),
        key=f"load_base_arch_{default_arch}",  # new data with another suggestion starts at that one
        help="The network trained on this data's (biased) training split.",
    )
    epochs = int(
        c2.number_input(
            "Epochs",
            min_value=1,
            max_value=1000,
            value=default_epochs,
            step=1,
            key=f"load_base_epochs_{default_epochs}",
            help="Passes over the training split.",
        )
    )
    st.caption(why + ("" if arch == default_arch else f" {arch}: {archs[arch]}."))
    if "dataset" not in chosen:
        return {"arch": arch, "epochs": epochs}
    fields = {}  # the recipe's own values stay implicit, as on the command line
    if arch != default_arch:
        fields["arch"] = arch
    if epochs != default_epochs:
        fields["epochs"] = epochs
    return fields


with st.container(border=True):
    source = st.radio(
        "Data", list(SOURCES), format_func=SOURCES.get, horizontal=True, key="load_source", persist_state="session"
    )
    chosen: dict = {}
    problem = None
    if source == "builtin":
        scenarios = workflows.scenarios()
        names = list(scenarios)
        default = spec.scenario if spec.scenario in names else DEMO_SCENARIO
        name = st.selectbox(
            "Scenario",
            names,
            index=names.index(default),
            format_func=lambda n: f"{n}: {scenarios[n]}",
            key="load_scenario",
        )
        slow = workflows.expected_load_time(name)
        if slow is not None:
            st.caption(f"Loading {name} takes {slow.words()} (measured: {slow.source}).")
        variant = ui.scenario_variant(name, dict(spec.scenario_options) if spec.scenario == name else None)
        chosen = {"scenario": name, "scenario_options": variant}
    elif source == "official":
        chosen, problem = official_dataset()
    else:
        if source == "folder":
            c1, c2 = st.columns(2)
            data_dir = c1.text_input(
                "Image folder", placeholder="/data/my_images", key="load_dir", persist_state="session"
            )
            meta_csv = c2.text_input(
                "Metadata CSV (columns: path, label, group columns)",
                placeholder="/data/my_images/meta.csv",
                key="load_csv",
                persist_state="session",
            )
        else:
            upload = st.file_uploader(
                "Zip of images with a metadata CSV (paths in the CSV relative to the CSV's folder)",
                type=["zip"],
                key="load_zip",
                help=f"Uploads are limited to {MAX_MB} MB (server.maxUploadSize in .streamlit/config.toml). "
                "For a larger dataset choose 'Folder + CSV on this machine'.",
            )
            data_dir = meta_csv = ""
            name = None
            if upload is not None:
                name = re.sub(r"[^\w .-]+", "_", Path(upload.name).stem).strip() or None  # shown as the data's name
                unpacked = state.upload_cache("zip")
                if upload.file_id not in unpacked:  # unpack each upload once
                    try:
                        folder = state.uploads().folder(f"dataset-{upload.file_id}")
                        extract_zip(upload.getvalue(), folder)
                        unpacked[upload.file_id] = str(find_metadata_csv(folder))
                    except USER_ERRORS as exc:
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
                columns = csv_columns(meta_csv)
            except USER_ERRORS as exc:
                ui.show_error(exc, doing="read the metadata CSV")
        if columns:
            c1, c2, c3 = st.columns([1, 2, 1])
            label_col = c1.selectbox("Label column", columns, index=columns.index("label") if "label" in columns else 0)
            others = [c for c in columns if c not in ("path", label_col, "split")]
            group_cols = c2.multiselect("Group columns", others, default=others[:1])
            chosen = {
                "data_dir": data_dir,
                "meta_csv": meta_csv,
                "label_col": label_col,
                "group_cols": tuple(group_cols),
                "image_size": image_size_input(c3),
            }
            if source == "zip":
                chosen["name"] = name
            if "split" not in columns or csv_is_audit_only(meta_csv):
                chosen["audit_only"] = audit_only_choice(meta_csv)
            if not group_cols:
                problem = "choose at least one group column"
        elif source == "folder" and not (data_dir and meta_csv):
            problem = "type the image folder and the metadata CSV"
        elif source == "zip" and not meta_csv:
            problem = "upload a zip"

    model_choice = st.radio(
        "Model", list(MODELS), format_func=MODELS.get, horizontal=True, key="load_model", persist_state="session"
    )
    if model_choice == "baseline" and chosen and source != "builtin" and not chosen.get("audit_only"):
        chosen.update(baseline_widgets(chosen))
    if model_choice == "checkpoint":
        archs = workflows.architectures()
        c1, c2 = st.columns([1, 2])
        arch = c1.selectbox(
            "Architecture",
            list(archs),
            index=list(archs).index("small_cnn"),
            key="load_arch",
            help="The checkpoint must be a state dict of this architecture.",
        )
        c1.caption(archs[arch])
        ckpt = c2.file_uploader(
            "Checkpoint",
            type=[s.lstrip(".") for s in CHECKPOINT_SUFFIXES],
            key="load_ckpt",
            help=f"A state dict of up to {MAX_MB} MB (server.maxUploadSize in .streamlit/config.toml); it is read "
            "as weights only, never as pickled code. For a larger one use the command line: bamu audit --model FILE.",
        )
        chosen["arch"] = arch
        if ckpt is None:
            problem = problem or "upload a checkpoint (.pt, .pth, .th or .safetensors state dict)"
        else:
            checked = state.upload_cache("checkpoint")
            if ckpt.file_id not in checked:  # save and check each upload once
                try:
                    path = state.uploads().save(ckpt.name, ckpt.getvalue(), allowed=CHECKPOINT_SUFFIXES)
                    checked[ckpt.file_id] = check_checkpoint(path)  # weights only, never pickle
                except USER_ERRORS as exc:
                    checked[ckpt.file_id] = exc
            found = checked[ckpt.file_id]
            if isinstance(found, Exception):
                ui.show_error(
                    found,
                    doing=f"use {ckpt.name}",
                    hint="Upload a state dict saved with torch.save(model.state_dict()) or safetensors.",
                )
                problem = "the checkpoint cannot be used"
            else:
                chosen.update(checkpoint=found.path, checkpoint_sha256=Path(found.path).parent.name)
                c2.caption(f"{ckpt.name}: {found.tensors} tensors, read safely (weights only).")
                for message in found.warnings:  # loadable, but something in it looks wrong
                    c2.warning(message)

    new_spec = None
    if problem is None and chosen:
        try:
            new_spec = SubjectSpec(**chosen)
        except USER_ERRORS as exc:
            ui.show_error(exc, doing="use this choice")
    changed = new_spec is not None and new_spec != spec
    label = "Load" if changed else "Loaded"
    if st.button(
        label,
        type="primary",
        disabled=not changed,
        key="load_button",
        help=problem.capitalize() + "." if problem else None,
    ):
        state.set_spec(new_spec)
        st.rerun()
    if problem and source != "builtin":
        st.caption(f"To load: {problem}.")

subject = ui.require_subject()
sc = subject.scenario

st.header(sc.title)
st.write(sc.bias)
attrs = group_attr_choices(sc)
current_attr = state.group_attr() or sc.test.group_attr
attr = st.selectbox(
    "Group attribute to audit",
    attrs,
    index=attrs.index(current_attr) if current_attr in attrs else 0,
    format_func=group_attr_label,
    help="Which attribute defines the subgroups on every page; 'a × b' is their intersection (every pair "
    "of an a group and a b group that occurs is a group).",
)
if attr != current_attr:
    state.set_group_attr(attr)
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
            st.dataframe(tables.counts_table(sc, split=split, attr=attr), width="stretch")
    st.caption(
        "What am I looking at: how many images of each class every group has. A group that is "
        "mostly one class in training is the shortcut a model can learn instead of the real task."
    )
with right:
    st.subheader("Model card")
    card = workflows.model_card(subject)
    st.markdown(
        f"**Architecture** {card['arch']}  \n{card['description']}  \n"
        f"**Parameters** {card['parameters']:,}  \n**Classes** {card['num_classes']}  \n"
        f"**Source** {card['source']}  \n**Device** {jobs.device_description()}"
    )

st.subheader("Sample images per group (test split)")
names = sc.test.group_names[attr]
for g, gname in enumerate(names[:12]):
    images = workflows.sample_images(sc.test, group=g, k=10, seed=0)
    st.markdown(
        f"<div class='bamu-group-label'>{html.escape(gname)}</div>", unsafe_allow_html=True
    )  # names come from user CSVs
    if images:
        st.image(images, width=64)
    else:
        st.caption("no test image in this group")
if len(names) > 12:
    st.caption(f"... and {len(names) - 12} more groups.")
st.caption("What am I looking at: random test images of each group, so you can see what the groups mean.")
