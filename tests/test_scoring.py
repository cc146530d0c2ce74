"""Radar axes, composite score and Pareto frontier on hand-made metric dicts (exact values)."""

from __future__ import annotations

import pytest

from bamu_core.scoring import (
    AXES,
    SCORE_FORMULA,
    composite_score,
    efficiency_axis,
    fairness_axis,
    forgetting_axis,
    pareto_front,
    privacy_axis,
    radar_axes,
    utility_axis,
)


def _audit(acc, dp, eo=0.0, gap=0.0):
    return {
        "utility": {"accuracy": acc, "balanced_accuracy": acc},
        "fairness": {
            "demographic_parity_difference": dp,
            "equalized_odds_difference": eo,
            "accuracy_gap": gap,
            "worst_group_accuracy": acc - gap,
        },
    }


@pytest.mark.parametrize(
    "fn, kwargs, expected",
    [
        (utility_axis, {"accuracy": 0.75, "original_accuracy": 0.8}, 0.9375),
        (utility_axis, {"accuracy": 0.9, "original_accuracy": 0.8}, 1.0),  # capped
        (utility_axis, {"accuracy": 0.0, "original_accuracy": 0.5}, 0.0),
        (fairness_axis, {"gap": 0.25}, 0.75),
        (fairness_axis, {"gap": 0.0}, 1.0),
        (fairness_axis, {"gap": 1.0}, 0.0),
        (forgetting_axis, {"forget_accuracy": 1.0, "reference_accuracy": 0.75}, 0.75),
        (forgetting_axis, {"forget_accuracy": 0.5, "reference_accuracy": 0.75}, 0.75),
        (forgetting_axis, {"forget_accuracy": 0.625, "reference_accuracy": 0.625}, 1.0),
        (privacy_axis, {"auc": 0.5}, 1.0),
        (privacy_axis, {"auc": 0.75}, 0.5),
        (privacy_axis, {"auc": 0.25}, 0.5),
        (privacy_axis, {"auc": 1.0}, 0.0),
        (efficiency_axis, {"seconds": 15.0, "retrain_seconds": 60.0}, 0.75),
        (efficiency_axis, {"seconds": 90.0, "retrain_seconds": 60.0}, 0.0),
        (efficiency_axis, {"seconds": 0.0, "retrain_seconds": 60.0}, 1.0),
    ],
)
def test_each_axis_exact(fn, kwargs, expected):
    assert fn(**kwargs) == expected


@pytest.mark.parametrize(
    "fn, kwargs, match",
    [
        (utility_axis, {"accuracy": 0.5, "original_accuracy": 0.0}, "original_accuracy must be above 0"),
        (utility_axis, {"accuracy": 1.5, "original_accuracy": 0.5}, r"accuracy must lie in \[0, 1\]"),
        (fairness_axis, {"gap": -0.1}, r"gap must lie in \[0, 1\]"),
        (fairness_axis, {"gap": None}, "gap must be a number"),
        (privacy_axis, {"auc": float("nan")}, "auc must be finite"),
        (efficiency_axis, {"seconds": 1.0, "retrain_seconds": 0.0}, "retrain_seconds must be > 0"),
        (efficiency_axis, {"seconds": -1.0, "retrain_seconds": 5.0}, "seconds must be >= 0"),
    ],
)
def test_axes_reject_bad_values(fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(**kwargs)


def test_radar_axes_and_score_of_a_hand_made_run():
    original = _audit(0.8, 0.4)
    after = _audit(0.75, 0.1, eo=0.2)
    axes = radar_axes(
        audit=after,
        original_audit=original,
        forget_accuracy=0.5,
        privacy={"auc": 0.625, "tpr_at_1pct_fpr": 0.02},
    )
    # utility 0.75/0.8; fairness 1-0.1; forgetting 1-|0.5-0.75| (reference = test accuracy); privacy 1-2*0.125
    assert axes == {"utility": 0.9375, "fairness": 0.9, "forgetting": 0.75, "privacy": 0.75}
    assert composite_score(axes) == pytest.approx((0.9375 + 0.9 + 0.75 + 0.75) / 4)
    assert composite_score(axes) == pytest.approx(0.834375)


def test_radar_axes_with_oracle_efficiency_and_another_gap():
    axes = radar_axes(
        audit=_audit(0.75, 0.1, eo=0.25),
        original_audit=_audit(0.8, 0.4),
        forget_accuracy=0.5,
        reference_forget_accuracy=0.625,
        privacy=0.5,
        seconds=6.0,
        retrain_seconds=24.0,
        fairness_gap="equalized_odds_difference",
    )
    assert axes == {"utility": 0.9375, "fairness": 0.75, "forgetting": 0.875, "privacy": 1.0, "efficiency": 0.75}
    assert list(axes) == list(AXES)  # the radar order
    assert composite_score(axes) == pytest.approx((0.9375 + 0.75 + 0.875 + 1.0 + 0.75) / 5)


def test_the_original_model_scores_one_on_utility():
    original = _audit(0.8, 0.4)
    axes = radar_axes(audit=original, original_audit=original, forget_accuracy=1.0, privacy={"auc": 0.9})
    assert axes == {"utility": 1.0, "fairness": 0.6, "forgetting": pytest.approx(0.8), "privacy": pytest.approx(0.2)}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fairness_gap": "worst"}, "fairness_gap must be one of"),
        ({"seconds": 3.0}, "give both seconds and retrain_seconds"),
        ({"privacy": {"tpr": 0.1}}, "privacy has no 'auc' entry"),
        ({"audit": {"utility": {}}}, "audit has no 'utility.accuracy' entry"),
    ],
)
def test_radar_axes_errors_name_the_problem(kwargs, match):
    base = {"audit": _audit(0.75, 0.1), "original_audit": _audit(0.8, 0.4), "forget_accuracy": 0.5, "privacy": 0.5}
    with pytest.raises(ValueError, match=match):
        radar_axes(**{**base, **kwargs})


def test_composite_score_checks_its_input():
    with pytest.raises(ValueError, match="unknown radar axes"):
        composite_score({"utility": 1.0, "speed": 0.5})
    with pytest.raises(ValueError, match="empty"):
        composite_score({})
    assert composite_score({"utility": 0.5, "fairness": 1.0}) == 0.75
    assert "mean" in SCORE_FORMULA


def test_pareto_front_exact():
    pts = [
        {"utility": 0.9, "fairness": 0.5},  # 0: front (best utility)
        {"utility": 0.8, "fairness": 0.7},  # 1: front
        {"utility": 0.7, "fairness": 0.7},  # 2: dominated by 1
        {"utility": 0.6, "fairness": 0.95},  # 3: front (best fairness)
        {"utility": 0.85, "fairness": 0.4},  # 4: dominated by 0
        {"utility": None, "fairness": 1.0},  # 5: missing value, never on the front
        {"utility": 0.8, "fairness": 0.7},  # 6: tie with 1: neither dominates
    ]
    assert pareto_front(pts, x="utility", y="fairness") == [3, 1, 6, 0]
    assert pareto_front([], x="utility", y="fairness") == []
