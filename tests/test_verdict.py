"""The plain-language verdict of a run, for each of its branches, on constructed reports."""

from __future__ import annotations

from bamu_core.report import compare_verdict, verdict
from bamu_core.results import UnlearnReport


def _audit(acc, dp, *, ci=None, task="binary", warnings=None, gap=None):
    doc = {
        "utility": {"accuracy": acc},
        "fairness": {"demographic_parity_difference": dp, "accuracy_gap": gap},
        "fairness_ci": {"demographic_parity_difference": ci} if ci else {},
        "conventions": {"task": task},
    }
    if warnings is not None:
        doc["warnings"] = warnings
    return doc


def _report(before, after, *, status="ok", message="", oracle=True, privacy=True, selection=None):
    return UnlearnReport.from_json(
        {
            "method": "dfr",
            "status": status,
            "message": message,
            "before": before,
            "after": after,
            "selection": selection,
            "forget": {"n": 10, "reference_accuracy": 0.5 if oracle else None},
            "privacy": {"mia_after": {"auc": 0.51} if privacy else None},
        }
    )


def test_a_successful_run_names_the_gap_its_fall_with_the_interval_and_the_cost_in_points():
    text = verdict(_report(_audit(0.9, 0.24), _audit(0.875, 0.05, ci={"low": 0.02, "high": 0.09}, warnings=[])))
    assert text == (
        "Unlearning (dfr) reduced the gap in positive predictions between groups from 24.0 to 5.0 points "
        "(95 % interval 2.0 to 9.0 points): a fall of 19.0 points (79% of the original gap). "
        "It cost 2.5 percentage points of accuracy (90.0% before, 87.5% after)."
    )


def test_no_change_is_never_called_a_success():
    text = verdict(_report(_audit(0.9, 0.24), _audit(0.9, 0.239), status="no_change"))
    assert text.startswith("Unlearning (dfr) did not change the model beyond noise: the gap in positive predictions")
    assert "no fairer than it was" in text
    assert "reduced" not in text and "fall" not in text


def test_a_run_that_did_not_finish_says_its_numbers_are_no_result():
    text = verdict(_report(_audit(0.9, 0.24), _audit(0.5, 0.0), status="diverged", message="loss became NaN."))
    assert text == (
        "The unlearning run did not finish properly (diverged): loss became NaN. Its numbers are not a result, "
        "and the original model is unchanged."
    )
    assert "did not finish properly (failed)" in verdict(_report(_audit(0.9, 0.2), None, status="failed"))


def test_a_larger_gap_and_a_gain_in_accuracy_are_said_as_they_are():
    text = verdict(_report(_audit(0.8, 0.10), _audit(0.83, 0.15)))
    assert "made the gap in positive predictions between groups larger: it rose from 10.0 to 15.0 points" in text
    assert "Accuracy rose by 3.0 percentage points (80.0% before, 83.0% after)." in text


def test_caveats_name_the_warnings_and_what_was_not_measured():
    warnings = [{"code": "small_groups", "message": "..."}, {"code": "uncertain_gap", "message": "..."}]
    text = verdict(_report(_audit(0.9, 0.3), _audit(0.9, 0.1, warnings=warnings), oracle=False, privacy=False))
    assert "Accuracy did not change (90.0% before, 90.0% after)." in text
    assert text.endswith(
        "Read with care: some groups have fewer than 30 test images; some gaps are smaller than their uncertainty. "
        "Not measured: how close the model comes to one retrained without the forgotten images and privacy "
        "(whether the forgotten images can still be told apart)."
    )


def test_the_gap_is_the_one_the_run_selected_on_and_multiclass_words_differ():
    before, after = _audit(0.9, 0.2, gap=0.3), _audit(0.88, 0.2, gap=0.1)
    text = verdict(_report(before, after, selection={"metric": "accuracy_gap"}))
    assert text.startswith("Unlearning (dfr) reduced the gap in accuracy between the best- and the worst-served group")
    multi = verdict(_report(_audit(0.9, 0.2, task="multiclass"), _audit(0.9, 0.1, task="multiclass")))
    assert "the gap between groups in how often each class is predicted" in multi


def test_no_jargon_in_the_verdict():
    text = verdict(_report(_audit(0.9, 0.24), _audit(0.875, 0.05), oracle=False, privacy=False))
    for word in ("demographic parity", "DP", "MIA", "oracle", "AUC", "equalized odds"):
        assert word not in text


def _run(acc, dp, *, ci=None, status="ok", method="dfr", intensity=0.5, name="demo", attr="colour"):
    after = _audit(acc, dp, ci=ci, warnings=[]) | {"group_attr": attr}
    return UnlearnReport.from_json(
        {
            "method": method,
            "intensity": intensity,
            "status": status,
            "dataset": {"name": name},
            "before": _audit(0.9, 0.24) | {"group_attr": attr},
            "after": after,
        }
    )


def test_two_runs_name_the_smaller_gap_its_size_and_the_accuracy_difference():
    a = _run(0.88, 0.10, ci={"low": 0.08, "high": 0.12}, method="ga")
    b = _run(0.86, 0.04, ci={"low": 0.02, "high": 0.06}, intensity=0.75)
    assert compare_verdict(a, b) == (
        "After unlearning, the gap in positive predictions between groups is 10.0 points (95 % interval 8.0 to "
        "12.0) with run A (ga at intensity 0.50) and 4.0 points (95 % interval 2.0 to 6.0) with run B (dfr at "
        "intensity 0.75). Run B's gap is 6.0 points smaller than run A's; their intervals do not overlap. "
        "Run B's accuracy is 2.0 percentage points lower than run A's (88.0% with A, 86.0% with B)."
    )


def test_two_runs_whose_intervals_overlap_may_differ_by_noise_only():
    a = _run(0.88, 0.06, ci={"low": 0.03, "high": 0.09})
    b = _run(0.88, 0.08, ci={"low": 0.05, "high": 0.11})
    text = compare_verdict(a, b)
    assert (
        "Run A's gap is 2.0 points smaller than run B's; their intervals overlap, so the difference may be noise."
        in text
    )
    assert text.endswith("Their accuracy is the same (88.0% with A, 88.0% with B).")


def test_two_runs_on_different_data_are_not_compared_and_no_change_is_named():
    other = compare_verdict(_run(0.9, 0.1), _run(0.9, 0.05, name="faces"))
    assert "different data or groups" in other and "smaller" not in other
    text = compare_verdict(_run(0.9, 0.239, status="no_change", method="newton"), _run(0.9, 0.05))
    assert text.startswith("Run A (newton at intensity 0.50) changed nothing beyond noise.")
    failed = compare_verdict(_run(0.9, 0.1), _run(0.5, 0.0, status="diverged"))
    assert "Run B (dfr at intensity 0.50) did not finish properly (diverged)" in failed
    assert "cannot be compared" in failed
