"""The dashboard for stakeholders: audit warnings, the verdict on Compare, glossary tooltips (AppTest, no browser)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("streamlit")

from test_app import APP, _folder_dataset_zip, _texts, no_exceptions, settle  # noqa: E402

PAGES = Path(APP).parent / "pages"


def test_the_audit_page_warns_about_a_tiny_subject(app):
    app.radio(key="load_source").set_value("zip").run()
    app.file_uploader(key="load_zip").upload("shapes.zip", _folder_dataset_zip(), "application/zip").run()
    app.number_input[0].set_value(16).run()
    app.button(key="load_button").click()
    settle(app)
    no_exceptions(app)
    app.switch_page("pages/audit.py")
    settle(app)
    no_exceptions(app)
    assert not app.error, _texts(app.error)
    warnings = _texts(app.warning)
    assert any("group(s) have fewer than 30 images" in w for w in warnings), warnings
    small = [w for w in warnings if "split has only" in w]
    assert small and "(fewer than 100)" in small[0], warnings
    assert not app.success  # no "all gaps within threshold" on numbers this shaky
    metrics = {m.label: m for m in app.metric}
    assert "share of images the model labels correctly" in metrics["Accuracy"].help


def test_compare_opens_with_the_verdict_the_warnings_and_a_glossary(app):
    from bamu_core.insight import InsightOptions
    from bamu_core.report import verdict
    from bamu_core.workflows import load_subject, unlearn

    subject = load_subject(scenario="binary-colored-digits")
    run = unlearn(
        subject, method="finetune", intensity=0.5, n_boot=50, gradcam_images=0, mia_samples=50,
        insight=InsightOptions.off(),
    )  # fmt: skip
    app.session_state["last_run"] = replace(run, model=None, result=None, forget_set=None)
    app.switch_page("pages/compare.py")
    settle(app)
    no_exceptions(app)
    assert not app.error, _texts(app.error)
    text = verdict(run)
    assert any(text in m for m in _texts(app.markdown)), text
    assert "points" in text and ("reduced" in text or "did not change" in text or "larger" in text)
    shown = _texts(app.warning)
    for w in run.after.warnings or []:
        assert any(w.message in s for s in shown)
    metrics = {m.label: m for m in app.metric}
    assert {"Accuracy", "Worst-group accuracy"} <= set(metrics)
    assert all(m.help for m in metrics.values())
    assert any(e.label.startswith("Glossary") for e in app.expander)


def _metric_labels(page: Path) -> list[str]:
    return re.findall(r'\.metric\(\s*"([^"]+)"', page.read_text(encoding="utf-8"))


def test_every_metric_label_of_the_audit_and_compare_pages_is_in_the_glossary():
    import json

    from bamu_core.glossary import term_of
    from bamu_core.results import UnlearnReport
    from dashboard.glossary import GAP_METRIC_LABELS
    from dashboard.tables import before_after_table, group_table, overall_table

    run = UnlearnReport.from_json(
        json.loads((Path(__file__).parent / "data/golden/unlearn_binary-colored-digits_newton.json").read_text())
    )
    labels = _metric_labels(PAGES / "audit.py") + ["Accuracy", "Worst-group accuracy", *GAP_METRIC_LABELS.values()]
    labels += list(overall_table(run.after, threshold=0.1)["metric"]) + list(before_after_table(run)["metric"])
    labels += [c for c in group_table(run.after).columns if c not in ("group", "n", "accuracy CI")]
    missing = [label for label in labels if term_of(label) is None]
    assert labels and not missing, missing
    for term in ("oracle", "forget set", "retain set", "admissible checkpoint", "eval_every", "max_recall_drop",
                 "collapse_drop", "bootstrap interval", "membership inference", "AUC"):  # fmt: skip
        assert term_of(term) == term


def _all_test_zip() -> bytes:
    """The shapes dataset of ``test_app`` with a split column that is ``test`` in every row."""
    import io
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(_folder_dataset_zip()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith("meta.csv"):
                lines = data.decode().strip().splitlines()
                data = ("\n".join([lines[0] + ",split"] + [f"{line},test" for line in lines[1:]]) + "\n").encode()
            out.writestr(name, data)
    return buf.getvalue()


def test_audit_only_data_without_a_checkpoint_says_it_needs_one(app):
    app.radio(key="load_source").set_value("zip").run()
    app.file_uploader(key="load_zip").upload("audit.zip", _all_test_zip(), "application/zip").run()
    no_exceptions(app)
    app.number_input[0].set_value(16).run()
    app.button(key="load_button").click()
    settle(app)
    no_exceptions(app)
    errors = " ".join(_texts(app.error))
    assert "training a baseline needs training rows" in errors and "checkpoint" in errors, errors


def _upload_zip(app, name: str, data: bytes) -> None:
    app.radio(key="load_source").set_value("zip").run()
    app.file_uploader(key="load_zip").upload(name, data, "application/zip").run()
    no_exceptions(app)


def _load_with_checkpoint_and_audit(app, tmp_path) -> None:
    """Load the uploaded zip with an untrained small_cnn checkpoint (the Load page's arch for small
    images) at 16 px, then open the Audit page."""
    from bamu_core.models import build_model, save_weights

    path = tmp_path / "cnn.safetensors"
    save_weights(build_model("small_cnn", num_classes=2, in_channels=3), path)
    app.number_input[0].set_value(16).run()
    app.radio(key="load_model").set_value("checkpoint").run()
    app.file_uploader(key="load_ckpt").upload("cnn.safetensors", path.read_bytes()).run()
    app.button(key="load_button").click()
    settle(app)
    no_exceptions(app)
    assert not app.error, _texts(app.error)
    app.switch_page("pages/audit.py")
    settle(app)
    no_exceptions(app)


def test_audit_only_data_is_audited_whole_and_the_unlearn_page_says_why_not(app, tmp_path):
    _upload_zip(app, "audit.zip", _all_test_zip())
    _load_with_checkpoint_and_audit(app, tmp_path)
    assert sum(app.dataframe[1].value["n"]) == 48  # every row of the CSV
    app.switch_page("pages/unlearn.py")
    settle(app)
    no_exceptions(app)
    warned = " ".join(_texts(app.warning))
    assert "Cannot unlearn this data" in warned and "unlearning needs training rows" in warned


def test_a_csv_without_a_split_column_is_audited_whole_when_audit_only_is_ticked(app, tmp_path):
    _upload_zip(app, "plain.zip", _folder_dataset_zip())
    box = app.checkbox(key="load_audit_only")
    assert not box.value and not box.disabled  # no split column: the user decides
    box.check().run()
    _load_with_checkpoint_and_audit(app, tmp_path)
    assert sum(app.dataframe[1].value["n"]) == 48  # every row, not the 25 % test split


def test_an_all_test_csv_ticks_audit_only_by_itself(app):
    _upload_zip(app, "audit.zip", _all_test_zip())
    box = app.checkbox(key="load_audit_only")
    assert box.value and box.disabled
