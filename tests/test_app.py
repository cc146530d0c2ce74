"""The dashboard, page by page, with Streamlit's AppTest (no browser)."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def settle(at: AppTest, *, timeout: float = 120.0) -> AppTest:
    """Rerun until no background job of the page is running (as the live page's fragment would)."""
    from bamu_core.jobs import default_manager

    end = time.time() + timeout
    at.run()
    mine = (at.session_state["sid"], "")  # this session's jobs and the shared loading jobs
    while time.time() < end:
        if not [j for j in default_manager().jobs(active=True) if j.owner in mine]:
            break
        time.sleep(0.2)
    at.run()
    return at


def no_exceptions(at: AppTest) -> None:
    """No traceback, and no unexpected error caught by the app's last-resort handler."""
    assert not at.exception, _texts(at.exception)
    unexpected = [e for e in _texts(at.error) if "unexpected error" in e]
    assert not unexpected, unexpected


def test_the_app_opens_on_the_loaded_demo(app):
    assert not app.error, _texts(app.error)
    assert "Binary coloured digits" in " ".join(_texts(app.header))
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Classes"] == "2" and metrics["Groups"] == "2"
    assert metrics["Test images"] == str(599)
    assert "baseline trained on the biased training split" in " ".join(_texts(app.markdown))  # model card
    sidebar = " ".join(_texts(app.sidebar.markdown))
    assert "binary-colored-digits" in sidebar and "small_cnn" in sidebar and "none yet" in sidebar
    # counts per group x class of the training split: 90 % of each colour is one class
    counts = app.dataframe[0].value
    assert list(counts.index) == ["orange", "blue"]
    assert counts.loc["orange", "digit >= 5"] > 5 * counts.loc["orange", "digit < 5"]


def test_the_group_attribute_changes_the_dataset_card_and_the_audit(app):
    attr_box = next(s for s in app.selectbox if s.label == "Group attribute to audit")
    attr_box.select("alignment").run()
    no_exceptions(app)
    assert list(app.dataframe[0].value.index) == ["aligned", "conflicting"]
    app.switch_page("pages/audit.py")
    settle(app)
    no_exceptions(app)
    groups = app.dataframe[1].value
    assert list(groups["group"]) == ["aligned", "conflicting"]
    aligned, conflicting = groups["accuracy"]
    assert aligned > conflicting + 0.2  # the shortcut works on aligned digits only


def test_the_audit_page_shows_metrics_flags_and_charts(app):
    app.switch_page("pages/audit.py")
    settle(app)
    no_exceptions(app)
    assert not app.error, _texts(app.error)
    metrics = {m.label: m.value for m in app.metric}
    assert set(metrics) >= {"Accuracy", "Worst-group accuracy", "Demographic parity gap"}
    groups = app.dataframe[1].value
    assert list(groups["group"]) == ["orange", "blue"]
    assert len(app.get("plotly_chart")) >= 2
    # the threshold decides what is flagged
    app.slider(key="gap_threshold").set_value(0.5).run()
    assert app.success and not app.warning
    app.slider(key="gap_threshold").set_value(0.05).run()
    assert app.warning and "above 0.05" in app.warning[0].value
    overall = app.dataframe[0].value
    dp_row = overall[overall["metric"] == "Demographic parity difference"].iloc[0]
    assert bool(dp_row["above threshold"]) == (dp_row["value"] > 0.05)


def test_the_gradcam_gallery_follows_its_widgets(app):
    app.switch_page("pages/audit.py")
    settle(app)
    images_before = sum(len(i.value) for i in app.image)
    app.slider(key="cam_k").set_value(3).run()
    no_exceptions(app)
    images_after = sum(len(i.value) for i in app.image)
    assert images_after == images_before - 2  # 5 overlays became 3; the average map stays
    app.checkbox(key="cam_box_on").check().run()
    no_exceptions(app)
    scores = [d.value for d in app.dataframe if "bias-region score" in getattr(d.value, "columns", [])]
    assert scores and set(scores[0]["group"]) == {"orange", "blue"}


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def _choose_source(at: AppTest, source: str) -> None:
    at.radio(key="load_source").set_value(source).run()


@pytest.mark.parametrize(
    "payload, message",
    [
        (_zip({"../evil.csv": b"path,label,g\n"}), "path traversal"),
        (_zip({"images/a.png": b"not really"}), "no metadata CSV"),
        (b"this is not a zip", "not a valid zip"),
    ],
)
def test_bad_dataset_uploads_show_an_error(app, payload, message):
    _choose_source(app, "zip")
    app.file_uploader(key="load_zip").upload("data.zip", payload, "application/zip").run()
    no_exceptions(app)
    assert any(message in e for e in _texts(app.error)), _texts(app.error)
    assert app.button(key="load_button").disabled


def test_a_pickled_checkpoint_is_refused_with_an_error(app, tmp_path):
    import torch

    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), path)  # a whole pickled module, not a state dict
    app.radio(key="load_model").set_value("checkpoint").run()
    app.file_uploader(key="load_ckpt").upload("model.pt", path.read_bytes()).run()
    no_exceptions(app)
    assert any("pickled" in e for e in _texts(app.error)), _texts(app.error)
    app.file_uploader(key="load_ckpt").clear().upload("weights.pth", b"not a checkpoint at all").run()
    no_exceptions(app)
    assert any("not a PyTorch checkpoint" in e for e in _texts(app.error)), _texts(app.error)
    assert app.button(key="load_button").disabled


def test_an_uploaded_checkpoint_is_loaded_and_audited(app, binary_baseline, tmp_path):
    from bamu_core.models import save_weights

    path = tmp_path / "mine.safetensors"
    save_weights(binary_baseline[0], path)
    app.radio(key="load_model").set_value("checkpoint").run()
    app.file_uploader(key="load_ckpt").upload("mine.safetensors", path.read_bytes()).run()
    no_exceptions(app)
    assert not app.error, _texts(app.error)
    app.button(key="load_button").click()
    settle(app)
    no_exceptions(app)
    assert "checkpoint mine.safetensors" in " ".join(_texts(app.markdown))
    app.switch_page("pages/audit.py")
    settle(app)
    assert list(app.dataframe[1].value["group"]) == ["orange", "blue"]


def test_a_checkpoint_for_another_architecture_fails_with_advice(app, tmp_path):
    from bamu_core.models import build_model, save_weights

    path = tmp_path / "other.safetensors"
    save_weights(build_model("resnet20", num_classes=2, in_channels=3), path)
    app.radio(key="load_model").set_value("checkpoint").run()
    app.file_uploader(key="load_ckpt").upload("other.safetensors", path.read_bytes()).run()
    app.button(key="load_button").click()
    settle(app)
    no_exceptions(app)
    errors = " ".join(_texts(app.error))
    assert "does not fit architecture 'small_cnn'" in errors and "check the architecture" in errors


def _folder_dataset_zip() -> bytes:
    """12 images per (label, group): label = bright square left or right; group = red or green."""
    from PIL import Image

    rng = np.random.default_rng(0)
    entries, rows = {}, ["path,label,tint"]
    for label in ("left", "right"):
        for tint in ("red", "green"):
            for i in range(12):
                img = rng.integers(0, 40, size=(16, 16, 3), dtype=np.uint8)
                cols = slice(0, 8) if label == "left" else slice(8, 16)
                img[4:12, cols, 0 if tint == "red" else 1] = 255
                buf = io.BytesIO()
                Image.fromarray(img).save(buf, format="PNG")
                name = f"img/{label}_{tint}_{i}.png"
                entries[f"ds/{name}"] = buf.getvalue()
                rows.append(f"{name},{label},{tint}")
    entries["ds/meta.csv"] = ("\n".join(rows) + "\n").encode()
    return _zip(entries)


def test_an_uploaded_dataset_zip_trains_a_baseline_and_shows_its_card(app):
    _choose_source(app, "zip")
    app.file_uploader(key="load_zip").upload("shapes.zip", _folder_dataset_zip(), "application/zip").run()
    no_exceptions(app)
    assert not app.error, _texts(app.error)
    assert app.multiselect[0].value == ["tint"]
    app.number_input[0].set_value(16).run()
    app.button(key="load_button").click()
    settle(app)
    no_exceptions(app)
    assert not app.error, _texts(app.error)
    assert "Image folder shapes" in " ".join(_texts(app.header))  # named after the zip
    assert list(app.dataframe[0].value.index) == ["green", "red"]


def _unlearn_page(app: AppTest) -> AppTest:
    app.switch_page("pages/unlearn.py")
    settle(app)
    no_exceptions(app)
    return app


def _hp(app: AppTest) -> dict:
    table = next(d.value for d in app.dataframe if "hyper-parameter" in getattr(d.value, "columns", []))
    return dict(zip(table["hyper-parameter"], table["value"]))


def test_the_unlearn_widgets_change_the_settings_and_the_forget_preview(app):
    _unlearn_page(app)
    assert not app.error, _texts(app.error)
    assert "bias-aligned" in " ".join(_texts(app.markdown))
    app.selectbox(key="ul_method").set_value("ga").run()
    app.slider(key="ul_intensity").set_value(0.25).run()
    low = _hp(app)
    app.slider(key="ul_intensity").set_value(1.0).run()
    high = _hp(app)
    assert high["steps"] > low["steps"] and high["lr"] > low["lr"]
    app.selectbox(key="ul_strategy").set_value("group").run()
    no_exceptions(app)
    preview = " ".join(_texts(app.markdown))
    assert "group 'orange'" in preview
    app.selectbox(key="ul_group").set_value("blue").run()
    assert "group 'blue'" in " ".join(_texts(app.markdown))
    app.selectbox(key="ul_strategy").set_value("indices").run()
    app.text_input(key="ul_indices").input("3,x").run()
    no_exceptions(app)
    assert app.error and app.button(key="ul_run").disabled


def test_a_queued_run_shows_its_queue_position_and_is_cancelled_from_its_panel(app, monkeypatch):
    """A device running its maximum of jobs: a run waits behind another session's job, visibly, and can be cancelled."""
    import threading

    monkeypatch.setenv("BAMU_MAX_CONCURRENT_JOBS", "1")  # the device is full with the other session's job

    from bamu_core.jobs import default_manager
    from dashboard.jobs import _device_name

    gate = threading.Event()
    blocker = default_manager().submit(
        lambda p, s: gate.wait(60), kind="demo", owner="another-session", device=_device_name()
    )
    try:
        _unlearn_page(app)
        app.button(key="ul_run").click().run()
        job = default_manager().get(app.session_state["job_ids"]["unlearn"])
        assert job.state == "queued" and default_manager().queue_position(job) == 1
        assert any("number 1 in its queue" in t for t in _texts(app.info)), _texts(app.info)
        assert app.button(key="ul_run").disabled  # one run at a time per session
        app.button(key=f"cancel_{job.id}").click().run()
        no_exceptions(app)
        assert job.state == "cancelled"
        assert any("cancelled" in t for t in _texts(app.warning)), _texts(app.warning)
    finally:
        gate.set()
        blocker.wait(10)


def test_the_demo_flows_from_unlearn_to_compare_and_report(app):
    from bamu_core.jobs import default_manager

    _unlearn_page(app)
    app.selectbox(key="ul_method").set_value("newton").run()
    app.slider(key="ul_intensity").set_value(0.5).run()
    app.button(key="ul_run").click().run()
    job = default_manager().get(app.session_state["job_ids"]["unlearn"])
    # the run survives a page switch
    app.switch_page("pages/audit.py").run()
    no_exceptions(app)
    assert job.active or job.state == "done"
    settle(app, timeout=300)
    assert job.state == "done", job.error
    app.switch_page("pages/unlearn.py")
    settle(app)
    no_exceptions(app)
    assert not app.error, _texts(app.error)
    assert any("Result: newton" in h for h in _texts(app.subheader))
    metrics = {m.label: m for m in app.metric}
    assert float(metrics["Demographic parity gap"].value) < 0.331  # the bias went down
    assert metrics["Accuracy"].delta.endswith(" points")  # a change of accuracy is in points, not percent
    run = app.session_state["last_run"]
    assert run.run_id and run.method == "newton"
    assert run.run_id in " ".join(_texts(app.sidebar.markdown))  # the sidebar shows the run
    sizes = run.selection["validation_per_group"]
    groups = ", ".join(f"{g} {n}" for g, n in sizes.items())
    words = f"checkpoints judged on {sum(sizes.values())} labelled validation images ({groups})"
    assert any(words in c for c in _texts(app.caption)), _texts(app.caption)  # what chose the checkpoint

    app.switch_page("pages/compare.py")
    settle(app)
    no_exceptions(app)
    assert not app.error, _texts(app.error)
    assert len(app.get("plotly_chart")) >= 2
    table = app.dataframe[0].value
    dp = table[table["metric"].str.startswith("demographic parity difference")].iloc[0]
    assert dp["after"] < dp["before"] and dp["change"] == pytest.approx(dp["after"] - dp["before"])
    assert len(app.image) >= 2  # Grad-CAM before and after

    # a one-point sweep gives its table and the Pareto plot
    app.multiselect(key="sw_levels").set_value([0.1]).run()
    app.button(key="sw_run").click().run()
    settle(app, timeout=300)
    no_exceptions(app)
    sweep = default_manager().get(app.session_state["job_ids"]["sweep"])
    assert sweep.state == "done", sweep.error
    sweep_tables = [d.value for d in app.dataframe if "pareto" in getattr(d.value, "columns", [])]
    assert sweep_tables and len(sweep_tables[0]) == 1 and bool(sweep_tables[0]["pareto"].iloc[0])

    app.switch_page("pages/report.py")
    settle(app)
    no_exceptions(app)
    history = app.dataframe[0].value
    assert run.run_id in set(history["run"])
    assert app.selectbox(key="report_run").value == run.run_id
    assert {b.label for b in app.get("download_button")} >= {"HTML report", "JSON", "CSV table"}
    app.button(key=f"delete_{run.run_id}").click().run()
    no_exceptions(app)
    from bamu_core.runs import RunStore

    assert run.run_id not in RunStore()


def test_auto_is_the_default_and_shows_what_it_tried(app, monkeypatch):
    from bamu_core.jobs import default_manager
    from bamu_core.unlearn import SEARCH_DEPTHS

    # two cheap candidates keep the test short; the page and the (quick) search are the real ones
    monkeypatch.setitem(SEARCH_DEPTHS, "quick", {**SEARCH_DEPTHS["quick"], "candidates": ["dfr"]})
    _unlearn_page(app)
    assert app.selectbox(key="ul_method").value == "auto"
    assert app.radio(key="ul_search_depth").value == "quick"  # the page's default depth
    app.button(key="ul_run").click().run()
    job = default_manager().get(app.session_state["job_ids"]["unlearn"])
    settle(app, timeout=300)
    assert job.state == "done", job.error
    no_exceptions(app)
    run = app.session_state["last_run"]
    assert run.method == "auto" and [c["label"] for c in run.search["candidates"]] == ["dfr balanced", "dfr all"]
    assert run.search["folds"] == 1  # quick: one validation split
    tables = [d.value for d in app.dataframe if "candidate" in getattr(d.value, "columns", [])]
    assert (
        tables
        and len(tables[0]) == 2
        and tables[0]["candidate"].str.contains("chosen").sum() == (1 if run.search["chosen"] else 0)
    )
    app.switch_page("pages/compare.py")
    settle(app)
    no_exceptions(app)
    assert "What auto tried" in _texts(app.subheader)


def test_an_export_of_a_saved_run_is_a_real_report(app, tmp_path):
    """The download buttons' contents: HTML that embeds plotly, JSON with the result, CSV rows."""
    import json

    from bamu_core.runs import RunStore
    from bamu_core.workflows import export_run, load_subject, unlearn
    from dashboard.tables import runs_table

    subject = load_subject(scenario="binary-colored-digits")
    store = RunStore(tmp_path / "runs")
    run = unlearn(subject, method="newton", intensity=0.0, store=store, gradcam_images=2, mia_samples=200, n_boot=20)
    html = export_run(run.run_id, "html", store=store).decode()
    assert "<html" in html.lower() and run.run_id in html
    data = json.loads(export_run(run.run_id, "json", store=store))
    assert data["result"]["method"] == "newton"
    csv = export_run(run.run_id, "csv", store=store).decode().splitlines()
    assert csv[0].startswith("section,") and len(csv) > 10
    table = runs_table(store.list())
    assert list(table["run"]) == [run.run_id] and table["method"].iloc[0] == "newton"
    with pytest.raises(ValueError, match="kind"):
        export_run(run.run_id, "pdf", store=store)
