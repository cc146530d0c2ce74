"""The audit's warnings: each rule on a tiny constructed audit, a healthy audit without any, the JSON."""

from __future__ import annotations

import pytest

from bamu_core.metrics import audit_metrics, audit_warnings
from bamu_core.results import AuditResult, AuditWarning


def _rows(confusions):
    return [
        {"group": g, "n": sum(map(sum, c)), "accuracy": (c[0][0] + c[1][1]) / sum(map(sum, c)), "confusion": c}
        for g, c in confusions.items()
    ]


def _audit(confusions, *, fairness=None, fairness_ci=None, accuracy=0.8, split="test"):
    rows = _rows(confusions)
    return AuditResult.from_json(
        {
            "utility": {"accuracy": accuracy},
            "split": split,
            "n": sum(r["n"] for r in rows),
            "groups": rows,
            "fairness": fairness or {},
            "fairness_ci": fairness_ci or {},
            "bootstrap": {"level": 0.95},
        }
    )


def _codes(result):
    return [w.code for w in audit_warnings(result)]


HEALTHY = {"a": [[40, 10], [10, 40]], "b": [[45, 5], [15, 35]]}  # 100 + 100 images, both classes predicted


def test_a_healthy_audit_has_no_warning():
    result = _audit(
        HEALTHY,
        fairness={"demographic_parity_difference": 0.2, "accuracy_gap": 0.0},
        fairness_ci={"demographic_parity_difference": {"low": 0.1, "high": 0.28}},  # width 0.18 < 0.2
    )
    assert audit_warnings(result) == []


def test_one_class_predictions_fire_at_95_percent_and_not_below():
    # 190 of 200 predicted class 1: exactly 95 %
    at = _audit({"a": [[5, 45], [0, 50]], "b": [[5, 45], [0, 50]]}, accuracy=0.55)
    (w,) = audit_warnings(at)
    assert w.code == "one_class"
    assert w.numbers == {"class": 1, "share": 0.95, "n": 200, "threshold": 0.95}
    assert "class 1) for 95% of the 200 images" in w.message and "accuracy 55.0%" in w.message
    (named,) = audit_warnings(at, class_names=["cat", "dog"])
    assert "the same answer (“dog”) for 95% of the 200 images" in named.message
    below = _audit({"a": [[6, 44], [0, 50]], "b": [[5, 45], [0, 50]]})  # 189 of 200 = 94.5 %
    assert _codes(below) == []


def test_a_group_under_30_images_is_named_with_its_size():
    result = _audit({"a": [[60, 10], [10, 60]], "b": [[10, 4], [5, 10]]})  # b has 29 images, 169 in all
    (w,) = audit_warnings(result)
    assert w.code == "small_groups" and w.numbers == {"groups": {"b": 29}, "threshold": 30}
    assert "1 group(s) have fewer than 30 images: b (n=29)" in w.message
    assert _codes(_audit({"a": [[60, 10], [10, 60]], "b": [[10, 5], [5, 10]]})) == []  # 30 images: fine


def test_a_split_under_100_images():
    result = _audit({"a": [[20, 5], [5, 19]], "b": [[20, 5], [5, 20]]})  # 49 + 50 = 99
    (w,) = audit_warnings(result)
    assert w.code == "small_split" and w.numbers == {"n": 99, "threshold": 100}
    assert w.message.startswith("The test split has only 99 images (fewer than 100)")
    assert _codes(_audit({"a": [[20, 5], [5, 20]], "b": [[20, 5], [5, 20]]})) == []  # 100 images


def test_a_gap_whose_interval_is_wider_than_itself():
    result = _audit(
        HEALTHY,
        fairness={"demographic_parity_difference": 0.05, "equalized_odds_difference": 0.3},
        fairness_ci={
            "demographic_parity_difference": {"low": 0.0, "high": 0.12},  # width 0.12 > 0.05
            "equalized_odds_difference": {"low": 0.2, "high": 0.4},  # width 0.2 < 0.3
        },
    )
    (w,) = audit_warnings(result)
    assert w.code == "uncertain_gap"
    assert list(w.numbers["gaps"]) == ["demographic_parity_difference"]
    assert w.numbers["gaps"]["demographic_parity_difference"]["width"] == pytest.approx(0.12)
    assert "positive predictions between groups (demographic parity difference) is 0.050" in w.message
    assert "(interval 0.000 to 0.120)" in w.message and "95% interval" in w.message


def test_warnings_round_trip_and_old_documents_load_without_them():
    result = _audit({"a": [[2, 1], [1, 1]], "b": [[1, 1], [1, 2]]})
    result.warnings = audit_warnings(result)
    assert [w.code for w in result.warnings] == ["small_groups", "small_split"]
    doc = result.to_json()
    assert doc["warnings"][0]["code"] == "small_groups" and doc["warnings"][0]["numbers"]["groups"] == {"a": 5, "b": 5}
    back = AuditResult.from_json(doc)
    assert back.warnings == result.warnings and isinstance(back.warnings[0], AuditWarning)
    del doc["warnings"]
    old = AuditResult.from_json(doc)
    assert old.warnings is None and "warnings" not in old.to_json()


def test_real_metrics_of_a_tiny_split_give_warnings():
    y_true = [0, 1] * 10
    y_pred = [1] * 20
    groups = [0] * 10 + [1] * 10
    doc = audit_metrics(y_true=y_true, y_pred=y_pred, groups=groups, group_names=["x", "y"], n_boot=50)
    result = AuditResult.from_json({**doc, "split": "test", "n": 20})
    assert _codes(result)[:3] == ["one_class", "small_groups", "small_split"]
