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
    while time.time() < end:
        if not default_manager().jobs(active=True):
            break
        time.sleep(0.2)
    at.run()
    return at


def no_exceptions(at: AppTest) -> None:
    """No traceback, and no unexpected error caught by the app's last-resort handler."""
    assert not at.exception, _texts(at.exception)
    unexpected = [e for e in _texts(at.error) if "unexpected error" in e]
    assert not unexpected, unexpected


@pytest.fixture
def app(binary_baseline) -> AppTest:
    """The app on its default page, the built-in demo loaded (its baseline is already cached)."""
    at = AppTest.from_file(APP, default_timeout=120)
    settle(at)
    no_exceptions(at)
    return at


def test_the_app_opens_on_the_loaded_demo(app):
    assert not app.error, _texts(app.error)
    assert "Binary coloured digits" in " ".join(_texts(app.header))
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Classes"] == "2" and metrics["Groups"] == "2"
    assert metrics["Test images"] == str(599)
    assert "baseline trained on the biased training split" in " ".join(_texts(app.markdown))  # model card
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
    assert images_after == images_before - 3  # 6 overlays became 3; the average map stays
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
    assert "Image folder ds" in " ".join(_texts(app.header))
    assert list(app.dataframe[0].value.index) == ["green", "red"]


def test_later_pages_say_what_is_not_available_yet(app):
    from bamu_core.ui_state import library_features

    features = library_features()
    for page, needs in (("pages/unlearn.py", "unlearn"), ("pages/compare.py", "unlearn"), ("pages/report.py", "runs")):
        app.switch_page(page)
        settle(app)
        no_exceptions(app)
        if not features[needs]:
            assert any("not available" in i or "Nothing to compare" in i for i in _texts(app.info))
