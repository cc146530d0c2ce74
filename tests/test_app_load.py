"""The Load page for one's own data, with Streamlit's AppTest: the baseline's architecture and
epochs, intersectional group attributes, an uploaded zip's name, the sidebar after a new load
and the expected load time of a slow scenario."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from reliability_kit import close_app, model_file, open_app, write_folder
from test_app import APP, _folder_dataset_zip, _texts, no_exceptions, settle


@pytest.fixture
def app(tmp_path):
    at = open_app(tmp_path)
    no_exceptions(at)
    yield at
    close_app(at)


def _upload(at, name: str = "faces.zip") -> None:
    at.radio(key="load_source").set_value("zip").run()
    at.file_uploader(key="load_zip").upload(name, _folder_dataset_zip(), "application/zip").run()
    no_exceptions(at)
    assert not at.error, _texts(at.error)


def _widget(elements, label: str):
    return next(e for e in elements if e.label == label)


def _click_load(at) -> None:
    assert not at.button(key="load_button").disabled, _texts(at.caption)
    at.button(key="load_button").click()
    settle(at)
    no_exceptions(at)
    assert not at.error, _texts(at.error)


def test_the_baseline_starts_at_the_suggestion_and_the_chosen_one_is_trained(app):
    _upload(app)
    arch = _widget(app.selectbox, "Baseline architecture")
    epochs = _widget(app.number_input, "Epochs")
    # 48 images, no split column: about 60 % train; 2 classes
    assert (arch.value, epochs.value) == ("small_cnn", 30)
    assert any(
        c.startswith("small_cnn chosen for about 29 training images because a small network")
        for c in _texts(app.caption)
    )
    app.number_input(key="load_image_size").set_value(16).run()
    _widget(app.selectbox, "Baseline architecture").set_value("resnet20").run()
    _widget(app.number_input, "Epochs").set_value(2).run()
    spec_fields = {"arch": "resnet20", "epochs": 2}
    _click_load(app)
    spec = app.session_state["spec"]
    assert {k: getattr(spec, k) for k in spec_fields} == spec_fields
    assert "**Architecture** resnet20" in " ".join(_texts(app.markdown))  # the model card
    assert "resnet20" in " ".join(_texts(app.sidebar.markdown))


def test_an_uploaded_zip_is_named_after_the_zip(app):
    _upload(app, "faces.zip")
    app.number_input(key="load_image_size").set_value(16).run()
    _click_load(app)
    assert "Image folder faces" in _texts(app.header)  # not the private folder the zip was unpacked into
    sidebar = " ".join(_texts(app.sidebar.markdown))
    assert "folder:faces" in sidebar and "dataset-" not in sidebar
    assert app.session_state["spec"].describe().startswith("folder faces · baseline small_cnn")


def test_a_new_load_leaves_the_previous_subjects_run_behind(app):
    app.session_state["last_run"] = SimpleNamespace(method="ga", intensity=0.5, run_id="run-of-a", status="ok")
    app.session_state["last_run_spec"] = app.session_state["spec"].key
    app.run()
    assert "run-of-a" in " ".join(_texts(app.sidebar.markdown))  # A's run is current while A is loaded
    _upload(app)
    app.number_input(key="load_image_size").set_value(16).run()
    _click_load(app)
    sidebar = " ".join(_texts(app.sidebar.markdown))
    assert "Image folder faces" in _texts(app.header)
    assert "run-of-a" not in sidebar and "**Run** · none yet" in sidebar
    assert app.session_state["last_run"] is None


def test_two_group_attributes_offer_their_intersection(tmp_path):
    from streamlit.testing.v1 import AppTest

    from dashboard.subjects import SubjectSpec

    root, meta = write_folder(tmp_path / "data", n_per=8)
    rows = meta.read_text().splitlines()
    ages = ["young", "old"] * (len(rows) // 2)
    meta.write_text("\n".join([rows[0] + ",age"] + [r + f",{a}" for r, a in zip(rows[1:], ages)]) + "\n")
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["spec"] = SubjectSpec(
        data_dir=str(root),
        meta_csv=str(meta),
        group_cols=("site", "age"),
        image_size=16,
        arch="small_cnn",
        checkpoint=str(model_file(tmp_path / "m.safetensors")),
    )
    at.session_state["group_attr"] = None
    settle(at)
    no_exceptions(at)
    box = _widget(at.selectbox, "Group attribute to audit")
    assert box.options == ["site", "age", "site × age"]
    box.set_value("site×age").run()
    no_exceptions(at)
    assert at.session_state["group_attr"] == "site×age"
    assert list(at.dataframe[0].value.index) == ["a & old", "a & young", "b & old", "b & young"]
    assert {m.label: m.value for m in at.metric}["Groups"] == "4"
    at.switch_page("pages/audit.py")
    settle(at)
    no_exceptions(at)
    assert not at.error, _texts(at.error)
    assert list(at.dataframe[1].value["group"]) == ["a & old", "a & young", "b & old", "b & young"]
    for page in ("pages/unlearn.py", "pages/compare.py"):  # every page takes the intersection
        at.switch_page(page)
        settle(at)
        no_exceptions(at)
    assert "groups by *site×age*" in " ".join(_texts(at.sidebar.markdown))


def test_a_slow_scenario_says_how_long_it_takes_before_loading(app):
    from bamu_core.workflows import expected_load_time

    app.radio(key="load_source").set_value("builtin").run()
    app.selectbox(key="load_scenario").set_value("patch-cifar10").run()
    no_exceptions(app)
    words = expected_load_time("patch-cifar10").words()
    assert f"Loading patch-cifar10 takes {words} (measured: benchmarks/results/cifar_patch.md)." in _texts(app.caption)
    app.selectbox(key="load_scenario").set_value("colored-digits").run()
    assert not [c for c in _texts(app.caption) if c.startswith("Loading ")]


@pytest.fixture(scope="module")
def waterbirds_root(tmp_path_factory):
    from test_datasets_official import make_waterbirds

    return make_waterbirds(tmp_path_factory.mktemp("official") / "waterbirds")


def test_an_official_dataset_starts_at_its_recipe_and_only_a_change_reaches_the_spec(app, waterbirds_root):
    from bamu_core.workflows import dataset_baseline

    app.radio(key="load_source").set_value("official").run()
    app.selectbox(key="load_dataset").set_value("waterbirds").run()
    app.text_input(key="load_root_waterbirds").input(str(waterbirds_root)).run()
    app.number_input(key="load_image_size").set_value(16).run()
    no_exceptions(app)
    recipe = dataset_baseline("waterbirds")
    assert (_widget(app.selectbox, "Baseline architecture").value, _widget(app.number_input, "Epochs").value) == (
        recipe["arch"],
        recipe["epochs"],
    )
    assert f"Waterbirds's own recipe: {recipe['arch']}, {recipe['epochs']} epochs." in _texts(app.caption)
    _widget(app.selectbox, "Baseline architecture").set_value("small_cnn").run()
    _click_load(app)
    spec = app.session_state["spec"]
    assert (spec.dataset, spec.arch, spec.epochs) == (
        "waterbirds",
        "small_cnn",
        None,
    )  # the recipe's epochs stay implicit
    assert "**Architecture** small_cnn" in " ".join(_texts(app.markdown))


def test_the_unlearn_page_does_not_show_a_run_started_on_the_previous_subject(app):
    from bamu_core.jobs import default_manager

    def broken(progress, should_stop):
        raise RuntimeError("this run belongs to another subject")

    job = default_manager().submit(
        broken,
        kind="unlearn",
        label="ga @ 0.50",
        owner=app.session_state["sid"],
        device="cpu",
        meta={"spec_key": "another-subject"},
    )
    app.session_state["job_ids"] = {"unlearn": job.id}
    app.switch_page("pages/unlearn.py")
    settle(app)
    no_exceptions(app)
    assert job.state == "failed"
    assert not [e for e in _texts(app.error) if "another subject" in e]  # its failure is not this subject's
    assert not [h for h in _texts(app.subheader) if h.startswith("Result")]
