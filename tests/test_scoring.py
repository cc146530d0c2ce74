"""Radar axes, composite score and Pareto frontier on hand-made metric dicts (exact values).

Utility and fairness are relative to the original model: utility 0.5 + delta accuracy / 0.2
(clipped), fairness = share of the original gap closed; the composite is
min(1, 2 utility) x (0.5 fairness + 0.3 utility + 0.2 mean(secondary axes)).
"""

from __future__ import annotations

import pytest

from bamu_core.scoring import (
    AXES,
    SCORE_FORMULA,
    composite_score,
    efficiency_axis,
    fairness_axis,
    forgetting_axis,
    legacy_composite_score,
    legacy_radar_axes,
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
        (utility_axis, {"accuracy": 0.75, "original_accuracy": 0.8}, 0.25),  # -5 points
        (utility_axis, {"accuracy": 0.85, "original_accuracy": 0.8}, 0.75),  # +5 points: gains show
        (utility_axis, {"accuracy": 0.8, "original_accuracy": 0.8}, 0.5),
        (utility_axis, {"accuracy": 0.95, "original_accuracy": 0.8}, 1.0),  # clipped
        (utility_axis, {"accuracy": 0.0, "original_accuracy": 0.5}, 0.0),
        (fairness_axis, {"gap": 0.25, "original_gap": 0.5}, 0.5),
        (fairness_axis, {"gap": 0.5, "original_gap": 0.5}, 0.0),  # unchanged
        (fairness_axis, {"gap": 0.0, "original_gap": 0.5}, 1.0),
        (fairness_axis, {"gap": 0.75, "original_gap": 0.5}, 0.0),  # widened: clipped
        (fairness_axis, {"gap": 0.25, "original_gap": 0.5, "target": 0.25}, 1.0),  # reached the oracle
        (fairness_axis, {"gap": 0.375, "original_gap": 0.5, "target": 0.25}, 0.5),
        (fairness_axis, {"gap": 0.0, "original_gap": 0.0}, 0.0),  # nothing to close
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
    assert fn(**kwargs) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "fn, kwargs, match",
    [
        (utility_axis, {"accuracy": 0.5, "original_accuracy": 0.5, "scale": 0.0}, "scale must be > 0"),
        (utility_axis, {"accuracy": 1.5, "original_accuracy": 0.5}, r"accuracy must lie in \[0, 1\]"),
        (fairness_axis, {"gap": -0.1, "original_gap": 0.5}, r"gap must lie in \[0, 1\]"),
        (fairness_axis, {"gap": None, "original_gap": 0.5}, "gap must be a number"),
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
    # utility 0.5 - 0.05/0.2; fairness (0.4-0.1)/0.4; forgetting 1-|0.5-0.75| (reference = test accuracy);
    # privacy 1-2*0.125
    assert axes == pytest.approx({"utility": 0.25, "fairness": 0.75, "forgetting": 0.75, "privacy": 0.75}, abs=1e-12)
    # gate min(1, 2*0.25) = 0.5
    assert composite_score(axes) == pytest.approx(0.5 * (0.5 * 0.75 + 0.3 * 0.25 + 0.2 * 0.75))
    assert composite_score(axes) == pytest.approx(0.3)


def test_radar_axes_with_oracle_efficiency_and_another_gap():
    axes = radar_axes(
        audit=_audit(0.85, 0.1, eo=0.25),
        original_audit=_audit(0.8, 0.4, eo=0.45),
        forget_accuracy=0.5,
        reference_forget_accuracy=0.625,
        reference_gap=0.05,
        privacy=0.5,
        seconds=6.0,
        retrain_seconds=24.0,
        fairness_gap="equalized_odds_difference",
    )
    # fairness (0.45-0.25)/(0.45-0.05) against the oracle's gap
    assert axes == {
        "utility": pytest.approx(0.75),
        "fairness": pytest.approx(0.5),
        "forgetting": 0.875,
        "privacy": 1.0,
        "efficiency": 0.75,
    }
    assert list(axes) == list(AXES)  # the radar order
    assert composite_score(axes) == pytest.approx(0.5 * 0.5 + 0.3 * 0.75 + 0.2 * (0.875 + 1.0 + 0.75) / 3)


def test_the_original_model_is_the_reference_point():
    original = _audit(0.8, 0.4)
    axes = radar_axes(audit=original, original_audit=original, forget_accuracy=1.0, privacy={"auc": 0.9})
    assert axes == {"utility": 0.5, "fairness": 0.0, "forgetting": pytest.approx(0.8), "privacy": pytest.approx(0.2)}
    assert composite_score(axes) == pytest.approx(0.15 + 0.2 * 0.5)
    # the earlier definition rated it highly; kept for comparison only
    legacy = legacy_radar_axes(audit=original, original_audit=original, forget_accuracy=1.0, privacy={"auc": 0.9})
    assert legacy == {"utility": 1.0, "fairness": 0.6, "forgetting": pytest.approx(0.8), "privacy": pytest.approx(0.2)}
    assert legacy_composite_score(legacy) == pytest.approx(0.65)


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
    # weights renormalised over the axes present: (0.5 * 1.0 + 0.3 * 0.5) / 0.8
    assert composite_score({"utility": 0.5, "fairness": 1.0}) == pytest.approx(0.8125)
    assert composite_score({"fairness": 0.5}) == 0.5  # no utility: no gate
    assert "min(1, 2 utility)" in SCORE_FORMULA


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
