"""The dashboard's glue (dashboard/) and its figures (bamu_core.report, shown by dashboard.charts)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from bamu_core.results import AuditResult
from bamu_core.workflows import sample_images
from dashboard import charts
from dashboard.charts import COLOURS
from dashboard.errors import user_message
from dashboard.subjects import SubjectSpec, SubjectStore
from dashboard.tables import (
    counts_table,
    editable_hyperparameters,
    gaps_above,
    group_table,
    hyperparameter_overrides,
    overall_table,
)
from dashboard.uploads import UploadDir, csv_columns, extract_zip, find_metadata_csv


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


# -- what to load ----------------------------------------------------------------------------


def test_a_spec_is_either_a_scenario_or_a_folder_and_keys_follow_every_field():
    with pytest.raises(ValueError, match="either a built-in scenario or a data folder"):
        SubjectSpec()
    with pytest.raises(ValueError, match="either"):
        SubjectSpec(scenario="binary-colored-digits", data_dir="/d", meta_csv="/d/m.csv")
    with pytest.raises(ValueError, match="metadata CSV"):
        SubjectSpec(data_dir="/d")
    demo = SubjectSpec(scenario="binary-colored-digits")
    assert demo.is_demo and demo.key == SubjectSpec(scenario="binary-colored-digits").key
    assert demo.key != SubjectSpec(scenario="binary-colored-digits", seed=1).key
    folder = SubjectSpec(data_dir="/d/x", meta_csv="/d/x/m.csv", group_cols=["a", "b"])
    assert folder.group_cols == ("a", "b") and not folder.is_demo
    assert folder.describe() == "folder x · baseline"
    assert SubjectSpec(scenario="colored-digits", checkpoint="/t/m.pt").describe() == "colored-digits · checkpoint m.pt"


def test_the_subject_store_keeps_the_most_recently_used():
    store = SubjectStore(capacity=2)
    store.put("a", 1)
    store.put("b", 2)
    assert store.get("a") == 1  # a is now the most recent
    store.put("c", 3)
    assert "b" not in store and store.get("a") == 1 and store.get("c") == 3 and len(store) == 2
    assert store.get(None) is None
    with pytest.raises(ValueError, match="capacity"):
        SubjectStore(capacity=0)


# -- uploads ---------------------------------------------------------------------------------


def test_upload_dir_sanitises_names_checks_types_and_cleans_up():
    up = UploadDir()
    path = up.save("../../etc/my model?.pt", b"abc", allowed=(".pt", ".safetensors"))
    assert path.is_file() and path.name == "my_model_.pt" and up.path in path.parents
    with pytest.raises(ValueError, match="unsupported file type .exe"):
        up.save("x.exe", b"abc", allowed=(".pt",))
    with pytest.raises(ValueError, match="empty"):
        up.save("x.pt", b"", allowed=(".pt",))
    root = up.path
    up.cleanup()
    assert not root.exists() and not up.alive


@pytest.mark.parametrize(
    "entries, message",
    [
        ({"../up.csv": b"x"}, "path traversal"),
        ({"/abs.csv": b"x"}, "path traversal"),
        ({"a/../../b.csv": b"x"}, "path traversal"),
        ({"big.bin": b"0" * 2000}, "expands to"),
    ],
)
def test_extract_zip_refuses_before_writing(tmp_path, entries, message):
    dest = tmp_path / "out"
    with pytest.raises(ValueError, match=message):
        extract_zip(_zip(entries), dest, max_bytes=1000)
    assert list(dest.rglob("*")) == []


def test_extract_zip_refuses_links_and_too_many_files(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        z.writestr(info, "/etc/passwd")
    with pytest.raises(ValueError, match="symbolic link"):
        extract_zip(buf.getvalue(), tmp_path / "a")
    with pytest.raises(ValueError, match="3 entries"):
        extract_zip(_zip({"a": b"", "b": b"", "c": b""}), tmp_path / "b", max_files=2)


def test_extract_zip_and_find_the_metadata_csv(tmp_path):
    dest = extract_zip(
        _zip({"ds/meta.csv": b"path,label,g\n", "ds/img/a.png": b"png", "__MACOSX/ds/._x": b""}), tmp_path / "x"
    )
    assert (dest / "ds" / "img" / "a.png").read_bytes() == b"png"
    assert not (dest / "__MACOSX").exists()
    assert find_metadata_csv(dest) == dest / "ds" / "meta.csv"
    assert csv_columns(dest / "ds" / "meta.csv") == ["path", "label", "g"]
    (dest / "ds" / "other.csv").write_text("a\n")
    assert find_metadata_csv(dest) == dest / "ds" / "meta.csv"  # the one named meta wins
    (dest / "ds" / "metadata2.csv").write_text("a\n")
    with pytest.raises(ValueError, match="several CSV files"):
        find_metadata_csv(dest)
    with pytest.raises(ValueError, match="no metadata CSV"):
        find_metadata_csv(tmp_path / "x" / "ds" / "img")


def test_errors_read_as_advice_not_tracebacks():
    from bamu_core.errors import BamuInputError

    assert user_message(BamuInputError("column 'g' is empty"), doing="load") == "Could not load: column 'g' is empty."
    assert "unexpected error happened (ValueError: x)" in user_message(ValueError("x"))  # not marked as the user's
    assert "Check the path" in user_message(FileNotFoundError("no such file x"))
    text = user_message(RuntimeError("boom"), doing="audit")
    assert (
        text.startswith("Could not audit: an unexpected error happened (RuntimeError: boom)")
        and "Traceback" not in text
    )


# -- tables ----------------------------------------------------------------------------------

AUDIT = AuditResult.from_json(
    {
        "utility": {"accuracy": 0.8, "balanced_accuracy": 0.75},
        "fairness": {
            "demographic_parity_difference": 0.3,
            "equalized_odds_difference": 0.05,
            "worst_group_accuracy": 0.6,
            "accuracy_gap": 0.2,
        },
        "fairness_ci": {"demographic_parity_difference": {"low": 0.25, "high": 0.35}},
        "groups": [
            {
                "group": "a",
                "n": 10,
                "accuracy": 1.0,
                "selection_rate": 0.5,
                "tpr": 1.0,
                "fpr": 0.0,
                "accuracy_ci": {"low": 0.9, "high": 1.0},
            },
            {"group": "b", "n": 5, "accuracy": 0.6, "selection_rate": 0.2, "tpr": 0.5, "fpr": 0.1},
        ],
    }
)


def test_the_overall_table_flags_exactly_the_gaps_above_the_threshold():
    table = overall_table(AUDIT, threshold=0.1).set_index("metric")
    assert table.loc["Demographic parity difference", "above threshold"]
    assert table.loc["Accuracy gap (best - worst group)", "above threshold"]
    assert not table.loc["Equalized odds difference", "above threshold"]
    assert table.loc["Accuracy", "above threshold"] is None
    assert table.loc["Demographic parity difference", "CI"] == "0.250 – 0.350"
    assert table.loc["Worst-group accuracy", "value"] == 0.6
    assert gaps_above(AUDIT, threshold=0.25) == ["Demographic parity difference"]
    assert gaps_above(AUDIT, threshold=0.3) == []


def test_the_group_table_has_one_row_per_group():
    table = group_table(AUDIT)
    assert list(table["group"]) == ["a", "b"] and list(table["n"]) == [10, 5]
    assert list(table["accuracy CI"]) == ["0.900 – 1.000", ""]
    assert list(table["selection rate"]) == [0.5, 0.2]


def test_counts_table_and_sample_images_on_the_demo(binary_digits):
    table = counts_table(binary_digits, split="train", attr="colour")
    assert list(table.index) == ["orange", "blue"]
    assert table["total"].sum() == len(binary_digits.train)
    assert (table.drop(columns="total").sum(axis=1) == table["total"]).all()
    imgs = sample_images(binary_digits.test, group=1, k=4, seed=3)
    assert len(imgs) == 4 and imgs[0].shape == (28, 28, 3) and imgs[0].dtype == np.uint8
    again = sample_images(binary_digits.test, group=1, k=4, seed=3)
    assert all((a == b).all() for a, b in zip(imgs, again))
    assert len(sample_images(binary_digits.test, group=None, k=7)) == 7


def test_hyperparameter_overrides_report_only_changes_and_keep_ints():
    table = editable_hyperparameters("ga", 0.5)
    hp = dict(zip(table["hyper-parameter"], table["value"]))
    assert "steps" in hp and "lr" in hp
    edited = table.copy()
    edited.loc[edited["hyper-parameter"] == "steps", "value"] = 7.0
    assert hyperparameter_overrides("ga", 0.5, edited) == {"steps": 7}
    assert isinstance(hyperparameter_overrides("ga", 0.5, edited)["steps"], int)
    assert hyperparameter_overrides("ga", 0.5, table) == {}


# -- figures ---------------------------------------------------------------------------------


def test_group_bars_use_the_role_colours_and_ci_whiskers():
    fig = charts.group_bars({"before": AUDIT.groups, "after": AUDIT.groups})
    before, after = fig.data
    assert before.marker.color == COLOURS["before"] and after.marker.color == COLOURS["after"]
    assert list(before.y) == [1.0, 0.6]
    assert list(before.error_y.array) == [0.0, 0.0] and list(before.error_y.arrayminus) == [pytest.approx(0.1), 0.0]


def test_gap_bars_colour_what_exceeds_the_threshold():
    fig = charts.gap_bars(AUDIT.fairness, ci=AUDIT.fairness_ci, threshold=0.1)
    bar = fig.data[0]
    colours = dict(zip(bar.y, bar.marker.color))
    assert colours["Demographic parity difference"] == COLOURS["alert"]
    assert colours["Equalized odds difference"] == COLOURS["before"]
    assert list(bar.error_x.array)[0] == pytest.approx(0.05)
    # the values sit right of each whisker (not inside the bar, where the threshold line crossed them)
    labels = {a.y: a for a in fig.layout.annotations if a.y in colours}
    dp = AUDIT.fairness.demographic_parity_difference
    assert labels["Demographic parity difference"].text == f"{dp:.3f}"
    assert labels["Demographic parity difference"].x == pytest.approx(dp + 0.05)
    assert labels["Demographic parity difference"].xanchor == "left" and not bar.text


def test_the_radar_closes_its_polygons_in_a_fixed_axis_order():
    fig = charts.radar(
        {
            "before": {"privacy": 0.5, "utility": 1.0, "fairness": 0.2},
            "after": {"fairness": 0.9, "utility": 0.95, "privacy": 0.6},
            "oracle (retrain)": {"fairness": 1.0, "utility": 0.9, "privacy": 0.7},
        }
    )
    before, after, oracle = fig.data
    assert list(before.theta) == ["utility", "fairness", "privacy", "utility"]
    assert list(after.r) == [0.95, 0.9, 0.6, 0.95]
    assert before.line.color == COLOURS["before"] and after.line.color == COLOURS["after"]
    assert oracle.line.color == COLOURS["oracle"] and oracle.line.dash == "dot" and oracle.fill == "none"


def test_confusion_heatmap_shows_counts_and_row_shares():
    fig = charts.confusion_heatmap([[3, 1], [0, 4]], class_names=["no", "yes"])
    assert list(fig.data[0].z[0]) == [0.75, 0.25]
    assert fig.data[0].text[0][0] == "3<br>75%"


def test_the_loss_curve_adds_the_validation_gap_when_reported():
    from bamu_core.unlearn import ProgressEvent

    events = [
        ProgressEvent(step=1, total=3, loss=0.9),
        ProgressEvent(step=2, total=3, loss=0.5, val_dp=0.2),
        ProgressEvent(step=3, total=3, loss=0.4),
    ]
    fig = charts.loss_curve(events)
    assert list(fig.data[0].y) == [0.9, 0.5, 0.4]
    assert list(fig.data[1].x) == [2] and list(fig.data[1].y) == [0.2]
    assert len(charts.loss_curve(events[:1]).data) == 1
    assert not fig.layout.shapes  # no kept step given: no marker
    kept = charts.loss_curve(events, kept_step=2)
    assert [sh.x0 for sh in kept.layout.shapes] == [2] and kept.layout.annotations[0].text == "kept: step 2"
    assert not charts.loss_curve(events, kept_step=0).layout.shapes  # the original kept: nothing to mark


def test_a_bias_region_reads_as_rows_and_columns():
    from dashboard.widgets import region_words

    assert region_words((27, 27, 5, 5)) == "rows 27-31, columns 27-31 (5 x 5 pixels)"
    assert region_words((0, 3, 2, 4)) == "rows 0-1, columns 3-6 (2 x 4 pixels)"


def test_user_text_in_figures_is_escaped():
    fig = charts.group_bars({"before": [{"group": "<img src=x>", "accuracy": 0.5}]}, title="<b>t</b>")
    assert list(fig.data[0].x) == ["&lt;img src=x&gt;"] and fig.layout.title.text == "&lt;b&gt;t&lt;/b&gt;"


def test_compute_threads_leaves_a_core_for_the_server(monkeypatch):
    import os

    from dashboard.jobs import compute_threads

    monkeypatch.setenv("BAMU_THREADS", "3")
    assert compute_threads() == 3
    monkeypatch.setenv("BAMU_THREADS", "")
    assert compute_threads() == max(1, (os.cpu_count() or 2) - 1)


def test_series_colours_are_fixed_by_role_and_never_reused_for_others():
    assert charts.series_colour("before") == COLOURS["before"]
    assert charts.series_colour("After") == COLOURS["after"]
    assert charts.series_colour("oracle (retrain)") == COLOURS["oracle"]
    others = {charts.series_colour("A", i) for i in range(5)}
    assert not others & {COLOURS["before"], COLOURS["after"], COLOURS["oracle"]}


def test_the_loading_panel_says_whether_it_reads_images_or_trains():
    from bamu_core.progress import ProgressEvent
    from dashboard.jobs import load_phase
    from dashboard.widgets import progress_text

    reading = ProgressEvent(step=3, total=10, phase="reading images")
    training = ProgressEvent(step=5, total=40, loss=0.25, phase="training")
    assert progress_text("Loading", reading, load_phase) == "Loading (reading images): step 3 of 10"
    assert progress_text("Loading", training, load_phase) == "Loading (training the baseline): step 5 of 40, loss 0.250"
    assert progress_text("Sweep", training) == "Sweep: step 5 of 40, loss 0.250"
    assert progress_text("Sweep", None) == "Sweep: preparing ..."


def test_the_before_after_table_names_membership_metrics_in_words():
    import json
    from pathlib import Path

    from bamu_core.results import UnlearnReport
    from dashboard.tables import before_after_table

    golden = Path(__file__).parent / "data" / "golden"
    doc = json.loads((golden / "unlearn_binary-colored-digits_newton.json").read_text())
    frame = before_after_table(UnlearnReport.from_json(doc))
    names = list(frame["metric"])
    assert "MIA true-positive rate at 1 % false positives → 0.01" in names and "MIA AUC → 0.5" in names
    assert not any("1pct" in n or "tpr" in n for n in names)


def test_the_time_line_says_how_long_the_user_waited_and_its_parts():
    from types import SimpleNamespace

    from dashboard.widgets import time_words

    run = SimpleNamespace(seconds=4.0, timings={"unlearning": 4.0, "audit_before": 3.0, "privacy": 1.5, "note": "x"})
    assert time_words(run) == "8.5 s in all (4.0 s unlearning, 4.5 s measuring before and after)"
    assert time_words(SimpleNamespace(seconds=2.0, timings={})) == "2.0 s of unlearning"


def test_the_candidates_table_explains_a_diverged_candidate_and_marks_the_choice():
    from dashboard.tables import candidates_table

    base = {"seconds": 1.0, "gain": 0.3, "val_accuracy": 0.9, "admissible": True, "pareto": True, "message": "x"}
    search = {
        "chosen": "cf",
        "candidates": [
            {**base, "label": "cf", "status": "diverged", "chosen_step": 6},
            {**base, "label": "dfr", "status": "skipped", "message": "not started: budget", "gain": None},
            {**base, "label": "ga", "status": "stopped_early"},
        ],
    }
    t = candidates_table(search)
    assert t["candidate"].tolist() == ["cf  ← chosen", "dfr", "ga"]
    assert t["note"].tolist() == [
        "stopped when it diverged; its last good checkpoint (step 6) was judged",
        "not started: budget",
        "",
    ]
    assert t["within bound"].tolist() == ["yes", "yes", "yes"] and t["status"][2] == "stopped early"
