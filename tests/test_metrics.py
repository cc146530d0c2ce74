"""Fairness metrics: cross-checked against Fairlearn (binary), hand-computed (multiclass), bootstrap CIs."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from bamu_core import metrics as M

fl = pytest.importorskip("fairlearn.metrics")
skm = pytest.importorskip("sklearn.metrics")


# --------------------------------------------------------------------------------------------
# binary: every metric against Fairlearn, on random and edge-case data
# --------------------------------------------------------------------------------------------


def _random(seed, n, n_groups, p_pos=0.5, p_pred=0.5):
    rng = np.random.default_rng(seed)
    return (
        (rng.random(n) < p_pos).astype(int),
        (rng.random(n) < p_pred).astype(int),
        rng.integers(0, n_groups, n),
    )


def _case(y_true, y_pred, groups):
    return np.asarray(y_true), np.asarray(y_pred), np.asarray(groups)


BINARY_CASES = {
    "random-2-groups": _random(0, 500, 2),
    "random-5-groups-skewed": _random(1, 300, 5, p_pos=0.2, p_pred=0.7),
    "random-small": _random(2, 17, 3),
    "unequal-group-sizes": _case(
        [1, 0, 1, 1, 0, 0, 1, 0, 1, 1], [1, 1, 0, 1, 0, 0, 1, 1, 0, 1], [0, 0, 0, 0, 0, 0, 0, 1, 2, 2]
    ),
    "group-without-positives": _case([0, 0, 1, 1, 0, 0], [1, 0, 1, 0, 0, 1], [0, 0, 0, 0, 1, 1]),
    "group-without-negatives": _case([1, 1, 1, 0, 1, 0], [1, 0, 1, 0, 1, 1], [0, 0, 0, 1, 1, 1]),
    "nothing-predicted-positive": _case([0, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 2, 2]),
    "everything-predicted-positive": _case([0, 1, 1, 0, 1, 0], [1, 1, 1, 1, 1, 1], [0, 1, 0, 1, 0, 1]),
    "perfect-predictions": _case([0, 1, 1, 0, 1, 0, 1], [0, 1, 1, 0, 1, 0, 1], [0, 0, 0, 1, 1, 1, 1]),
    "single-group": _case([0, 1, 1, 0], [0, 1, 0, 0], [3, 3, 3, 3]),
    "groups-of-one": _case([1, 0, 1], [1, 1, 0], [0, 1, 2]),
    "string-groups": _case(
        [0, 1, 1, 0, 1, 0, 0, 1], [1, 1, 0, 0, 1, 0, 1, 1], ["b", "a", "b", "a", "c", "c", "b", "a"]
    ),
}

# (our function, Fairlearn's function)
PAIRS = {
    "demographic_parity_difference": (M.demographic_parity_difference, fl.demographic_parity_difference),
    "demographic_parity_ratio": (M.demographic_parity_ratio, fl.demographic_parity_ratio),
    "equalized_odds_difference": (M.equalized_odds_difference, fl.equalized_odds_difference),
    "equal_opportunity_difference": (M.equal_opportunity_difference, fl.equal_opportunity_difference),
}


def _fairlearn_frame(y_true, y_pred, groups):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fl.MetricFrame(
            metrics={
                "accuracy": skm.accuracy_score,
                "selection_rate": fl.selection_rate,
                "tpr": fl.true_positive_rate,
                "fpr": fl.false_positive_rate,
                "count": fl.count,
            },
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=groups,
        )


def _same(ours, theirs):
    if theirs is None or (isinstance(theirs, float) and np.isnan(theirs)):
        assert ours is None or np.isnan(ours)
    else:
        assert ours == pytest.approx(float(theirs), abs=1e-9, rel=0)


@pytest.mark.parametrize("case", list(BINARY_CASES))
@pytest.mark.parametrize("metric", list(PAIRS))
def test_binary_gap_matches_fairlearn(case, metric):
    y_true, y_pred, groups = BINARY_CASES[case]
    ours, theirs = PAIRS[metric]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = theirs(y_true, y_pred, sensitive_features=groups)
    _same(ours(y_true=y_true, y_pred=y_pred, groups=groups, num_classes=2), expected)


@pytest.mark.parametrize("case", list(BINARY_CASES))
def test_binary_group_rows_and_audit_match_fairlearn(case):
    y_true, y_pred, groups = BINARY_CASES[case]
    frame = _fairlearn_frame(y_true, y_pred, groups)
    rows = M.group_metrics(y_true=y_true, y_pred=y_pred, groups=groups, num_classes=2)
    by_group = frame.by_group
    assert [r["group"] for r in rows] == [str(g) for g in by_group.index]
    for row, (_, ref) in zip(rows, by_group.iterrows()):
        assert row["n"] == ref["count"]
        for ours, theirs in (
            ("accuracy", "accuracy"),
            ("selection_rate", "selection_rate"),
            ("tpr", "tpr"),
            ("fpr", "fpr"),
        ):
            _same(row[ours], ref[theirs])
    _same(M.worst_group_accuracy(y_true=y_true, y_pred=y_pred, groups=groups), frame.group_min()["accuracy"])
    _same(M.accuracy_gap(y_true=y_true, y_pred=y_pred, groups=groups), frame.difference()["accuracy"])
    if len(set(y_true.tolist())) == 2:  # audit_metrics needs both classes present in y_true
        fair = M.audit_metrics(y_true=y_true, y_pred=y_pred, groups=groups, num_classes=2, n_boot=0)["fairness"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _same(
                fair["demographic_parity_difference"],
                fl.demographic_parity_difference(y_true, y_pred, sensitive_features=groups),
            )
            _same(
                fair["demographic_parity_ratio"], fl.demographic_parity_ratio(y_true, y_pred, sensitive_features=groups)
            )
            _same(
                fair["equalized_odds_difference"],
                fl.equalized_odds_difference(y_true, y_pred, sensitive_features=groups),
            )
            _same(
                fair["equal_opportunity_difference"],
                fl.equal_opportunity_difference(y_true, y_pred, sensitive_features=groups),
            )
        _same(fair["worst_group_accuracy"], frame.group_min()["accuracy"])
        _same(fair["accuracy_gap"], frame.difference()["accuracy"])


@pytest.mark.parametrize("seed", range(3))
def test_balanced_accuracy_and_recall_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 4, 200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 4, 200))
    assert M.balanced_accuracy(y_true=y_true, y_pred=y_pred) == pytest.approx(
        skm.balanced_accuracy_score(y_true, y_pred), abs=1e-12
    )
    np.testing.assert_allclose(
        M.per_class_recall(y_true=y_true, y_pred=y_pred), skm.recall_score(y_true, y_pred, average=None), atol=1e-12
    )


def test_nan_zero_division_leaves_undefined_groups_out():
    # group 1 has no positives: Fairlearn counts its TPR as 0, zero_division=nan leaves it out
    y_true, y_pred, groups = BINARY_CASES["group-without-positives"]
    assert M.equal_opportunity_difference(y_true=y_true, y_pred=y_pred, groups=groups) == pytest.approx(0.5)
    assert M.equal_opportunity_difference(y_true=y_true, y_pred=y_pred, groups=groups, zero_division=np.nan) == 0.0
    # FPR: group 0 = 1/2 (one of its two negatives predicted 1), group 1 = 1/2
    assert M.equalized_odds_difference(y_true=y_true, y_pred=y_pred, groups=groups, zero_division=np.nan) == 0.0


# --------------------------------------------------------------------------------------------
# multiclass: hand-computed tiny examples
# --------------------------------------------------------------------------------------------

# group A: labels 0 0 1 2, predictions 0 1 1 2; group B: labels 0 1 1 2, predictions 2 1 1 2
MC_TRUE = np.array([0, 0, 1, 2, 0, 1, 1, 2])
MC_PRED = np.array([0, 1, 1, 2, 2, 1, 1, 2])
MC_GROUPS = np.array([0, 0, 0, 0, 1, 1, 1, 1])


def test_multiclass_by_hand():
    r = M.audit_metrics(
        y_true=MC_TRUE, y_pred=MC_PRED, groups=MC_GROUPS, group_names=["A", "B"], num_classes=3, n_boot=0
    )
    # selection rates: A predicts 0/1/2 at 1/4, 2/4, 1/4; B at 0, 2/4, 2/4
    a, b = r["groups"]
    assert a["selection_rate"] == [0.25, 0.5, 0.25] and b["selection_rate"] == [0.0, 0.5, 0.5]
    assert r["per_class_dp"] == [0.25, 0.0, 0.25]
    assert r["fairness"]["demographic_parity_difference"] == 0.25
    # per-class ratio min/max: class 0 0/0.25 = 0, class 1 1, class 2 0.5 -> worst 0
    assert r["fairness"]["demographic_parity_ratio"] == 0.0
    # one-vs-rest TPR: A [1/2, 1, 1], B [0, 1, 1]; FPR: A [0, 1/3, 0], B [0, 0, 1/3]
    assert a["tpr_per_class"] == [0.5, 1.0, 1.0] and b["tpr_per_class"] == [0.0, 1.0, 1.0]
    assert a["fpr_per_class"] == pytest.approx([0.0, 1 / 3, 0.0]) and b["fpr_per_class"] == pytest.approx(
        [0.0, 0.0, 1 / 3]
    )
    # EO = max over classes of max(TPR gap, FPR gap) = max(1/2, 1/3, 1/3); equal opportunity 1/2
    assert r["fairness"]["equalized_odds_difference"] == 0.5
    assert r["fairness"]["equal_opportunity_difference"] == 0.5
    # macro rows: A TPR (1/2 + 1 + 1)/3, FPR (0 + 1/3 + 0)/3
    assert a["tpr"] == pytest.approx(5 / 6) and a["fpr"] == pytest.approx(1 / 9)
    assert a["accuracy"] == 0.75 and b["accuracy"] == 0.75
    assert r["fairness"]["accuracy_gap"] == 0.0 and r["fairness"]["worst_group_accuracy"] == 0.75
    # overall recall: class 0 1/3, classes 1 and 2 1 -> balanced (1/3 + 1 + 1)/3 = 7/9
    assert r["per_class_recall"] == pytest.approx([1 / 3, 1.0, 1.0])
    assert r["utility"] == {"accuracy": 0.75, "balanced_accuracy": pytest.approx(7 / 9)}
    assert a["confusion"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert b["confusion"] == [[0, 0, 1], [0, 2, 0], [0, 0, 1]]
    assert r["conventions"]["task"] == "multiclass"


def test_multiclass_with_a_group_missing_a_class():
    # group A has labels 0, 0, 1 (no class 2) and predicts 0, 2, 1; group B labels 2, 2 predicts 2, 1
    y_true, y_pred, groups = [0, 0, 1, 2, 2], [0, 2, 1, 2, 1], [0, 0, 0, 1, 1]
    # class 2: TPR A undefined (0 by convention), B 1/2; FPR A 1/3, B undefined (0)
    assert M.equal_opportunity_difference(y_true=y_true, y_pred=y_pred, groups=groups, num_classes=3) == 1.0
    # class 0 TPR: A 1/2, B undefined -> 0; class 1 TPR: A 1, B undefined -> 0 -> worst gap 1
    assert (
        M.equal_opportunity_difference(y_true=y_true, y_pred=y_pred, groups=groups, num_classes=3, zero_division=np.nan)
        == 0.0
    )
    # with undefined rates left out: TPR gaps all undefined-or-0; FPR class 1: A 0/2=0, B 1/2; class 2: A 1/3, B undefined
    assert (
        M.equalized_odds_difference(y_true=y_true, y_pred=y_pred, groups=groups, num_classes=3, zero_division=np.nan)
        == 0.5
    )
    # selection: A predicts 0/1/2 at 1/3 each; B 0, 1/2, 1/2 -> per-class DP [1/3, 1/6, 1/6]
    assert M.per_class_demographic_parity(y_true=y_true, y_pred=y_pred, groups=groups, num_classes=3) == pytest.approx(
        [1 / 3, 1 / 6, 1 / 6]
    )
    assert M.demographic_parity_difference(y_true=y_true, y_pred=y_pred, groups=groups, num_classes=3) == pytest.approx(
        1 / 3
    )


def test_two_class_multiclass_definitions_reduce_to_binary():
    y_true, y_pred, groups = BINARY_CASES["random-5-groups-skewed"]
    s = M.confusion_summary(M.group_confusion(y_true=y_true, y_pred=y_pred, groups=groups))
    # worst over both classes == positive class only, for DP and EO
    assert s["per_class_dp"].max() == pytest.approx(s["demographic_parity_difference"], abs=1e-12)
    eo_both = np.fmax(s["tpr"].max(0) - s["tpr"].min(0), s["fpr"].max(0) - s["fpr"].min(0)).max()
    assert eo_both == pytest.approx(s["equalized_odds_difference"], abs=1e-12)


def test_group_confusion_and_intersections():
    conf = M.group_confusion(y_true=MC_TRUE, y_pred=MC_PRED, groups=MC_GROUPS, num_classes=3)
    assert conf.shape == (2, 3, 3) and conf.sum() == 8 and conf[1, 0, 2] == 1
    ids, names = M.intersect_groups(
        groups=[[0, 1, 1, 0, 1], [1, 1, 0, 1, 1]], names=[["orange", "blue"], ["aligned", "conflicting"]]
    )
    assert names == ["orange & conflicting", "blue & aligned", "blue & conflicting"]
    assert ids.tolist() == [0, 2, 1, 0, 2]
    ids, names = M.intersect_groups(groups=[["x", "y", "x"], [2, 2, 3]])
    assert names == ["x & 2", "x & 3", "y & 2"] and ids.tolist() == [0, 2, 1]
    with pytest.raises(ValueError, match="at least two group columns"):
        M.intersect_groups(groups=[[0, 1]])


def test_intersectional_audit_rows():
    a = np.array([0, 0, 1, 1, 0, 1])
    b = np.array([0, 1, 0, 1, 1, 0])
    ids, names = M.intersect_groups(groups=[a, b], names=[["a0", "a1"], ["b0", "b1"]])
    rows = M.group_metrics(y_true=[1, 0, 1, 0, 1, 1], y_pred=[1, 1, 0, 0, 1, 1], groups=ids, group_names=names)
    assert [(r["group"], r["n"]) for r in rows] == [("a0 & b0", 1), ("a0 & b1", 2), ("a1 & b0", 2), ("a1 & b1", 1)]
    assert [r["accuracy"] for r in rows] == [1.0, 0.5, 0.5, 1.0]


# --------------------------------------------------------------------------------------------
# bootstrap confidence intervals
# --------------------------------------------------------------------------------------------


def _biased(n, seed=0):
    """Binary predictions whose positive rate is 0.3 in group 0 and 0.6 in group 1 (true DP 0.3)."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 2, n)
    y_true = (rng.random(n) < 0.5).astype(int)
    y_pred = (rng.random(n) < np.where(groups == 1, 0.6, 0.3)).astype(int)
    return y_true, y_pred, groups


def test_bootstrap_is_seeded_and_reproducible():
    y_true, y_pred, groups = _biased(400)
    one = M.bootstrap_intervals(y_true=y_true, y_pred=y_pred, groups=groups, seed=3)
    two = M.bootstrap_intervals(y_true=y_true, y_pred=y_pred, groups=groups, seed=3)
    other = M.bootstrap_intervals(y_true=y_true, y_pred=y_pred, groups=groups, seed=4)
    assert one == two
    assert one["fairness"] != other["fairness"]
    assert one["bootstrap"] == {
        "n_boot": 200,
        "level": 0.95,
        "seed": 3,
        "method": "group-stratified percentile bootstrap",
    }


@pytest.mark.parametrize("n, num_classes", [(60, 2), (400, 2), (300, 4)])
def test_every_interval_contains_its_estimate(n, num_classes):
    rng = np.random.default_rng(n)
    y_true = rng.integers(0, num_classes, n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, num_classes, n))
    groups = rng.integers(0, 3, n)
    r = M.audit_metrics(y_true=y_true, y_pred=y_pred, groups=groups, num_classes=num_classes, n_boot=100)
    for block, ci_block in (("utility", "utility_ci"), ("fairness", "fairness_ci")):
        assert set(r[ci_block]) == set(r[block])
        for key, est in r[block].items():
            lo, hi = r[ci_block][key]["low"], r[ci_block][key]["high"]
            assert lo <= est <= hi, (key, lo, est, hi)
    for est, ci in zip(r["per_class_dp"], r["per_class_dp_ci"]):
        assert ci["low"] <= est <= ci["high"]
    for row in r["groups"]:
        assert row["accuracy_ci"]["low"] <= row["accuracy"] <= row["accuracy_ci"]["high"]


def test_interval_narrows_with_more_data():
    widths = []
    for n in (200, 2000, 20000):
        y_true, y_pred, groups = _biased(n, seed=1)
        ci = M.bootstrap_intervals(y_true=y_true, y_pred=y_pred, groups=groups)["fairness"][
            "demographic_parity_difference"
        ]
        widths.append(ci["high"] - ci["low"])
    assert widths[0] > 2 * widths[1] > 4 * widths[2]
    # and it covers the true DP (0.3) at the largest size
    assert ci["low"] < 0.3 < ci["high"]


def test_bootstrap_resamples_keep_group_sizes_and_match_the_binomial_spread():
    conf = np.array([[[200, 100], [0, 100]], [[30, 0], [0, 70]]])  # group 0: n=400, P(pred 1) = 0.5
    reps = M.bootstrap_confusion(conf, n_boot=4000, seed=0)
    assert reps.shape == (4000, 2, 2, 2)
    assert (reps.sum(axis=(2, 3)) == [400, 100]).all()
    assert (reps[:, 1, 0, 1] == 0).all()  # empty cells stay empty
    sel = reps[:, 0, :, 1].sum(-1) / 400
    assert sel.mean() == pytest.approx(0.5, abs=0.003)
    assert sel.std() == pytest.approx(np.sqrt(0.25 / 400), rel=0.08)


def test_intervals_equal_those_of_the_dense_resampled_confusions():
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 3, 300)
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, 3, 300))
    groups = rng.integers(0, 4, 300)
    conf = M.group_confusion(y_true=y_true, y_pred=y_pred, groups=groups)
    point = M.confusion_summary(conf)
    reps = M.confusion_summary(M.bootstrap_confusion(conf, n_boot=80, seed=2))  # (80, ...) summaries
    ci = M.bootstrap_intervals(y_true=y_true, y_pred=y_pred, groups=groups, n_boot=80, seed=2)
    for key in M.FAIRNESS_KEYS:
        lo, hi = np.nanquantile(reps[key], [0.025, 0.975])
        assert ci["fairness"][key]["low"] == pytest.approx(min(lo, point[key]), abs=1e-12)
        assert ci["fairness"][key]["high"] == pytest.approx(max(hi, point[key]), abs=1e-12)


def test_n_boot_zero_disables_intervals():
    y_true, y_pred, groups = _biased(100)
    r = M.audit_metrics(y_true=y_true, y_pred=y_pred, groups=groups, n_boot=0)
    assert r["fairness_ci"] == {} and r["utility_ci"] == {} and r["per_class_dp_ci"] == []
    assert all(row["accuracy_ci"] is None for row in r["groups"])
    assert r["bootstrap"]["n_boot"] == 0


def test_audit_json_layout_is_strict_json():
    r = M.audit_metrics(y_true=[0, 1, 0, 1], y_pred=[0, 0, 0, 0], groups=[0, 0, 1, 1], group_names=["g", "h"])
    text = json.dumps(r, allow_nan=False)  # no NaN: undefined values are null
    assert r["fairness"]["demographic_parity_ratio"] is None  # nobody predicted positive (Fairlearn: NaN)
    assert set(r) >= {"utility", "groups", "fairness", "fairness_ci", "per_class_recall", "per_class_dp"}
    assert set(r["groups"][0]) >= {"group", "n", "accuracy", "selection_rate", "tpr", "fpr", "confusion"}
    assert set(r["fairness"]) >= {
        "demographic_parity_difference",
        "equalized_odds_difference",
        "worst_group_accuracy",
        "accuracy_gap",
    }
    assert "null" in text


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(y_true=[0, 1], y_pred=[0], groups=[0, 0]), "same length"),
        (dict(y_true=[], y_pred=[], groups=[]), "empty"),
        (dict(y_true=[0, 1], y_pred=[0, 1], groups=[0, 0], group_names=["a", "b"]), "group 'b' has no samples"),
        (dict(y_true=[0, 0, 2], y_pred=[0, 1, 2], groups=[0, 0, 0], num_classes=3), "class 1 has no samples"),
        (dict(y_true=[0, 1], y_pred=[0, 5], groups=[0, 0], num_classes=2), "y_pred has class ids outside"),
        (dict(y_true=[0, 1], y_pred=[0.2, 0.9], groups=[0, 0]), "not scores"),
        (dict(y_true=[0, 1], y_pred=[0, 1], groups=[0, 3], group_names=["a", "b"]), "ids outside 0..1"),
        (dict(y_true=[0, 1], y_pred=[0, 1], groups=[[0, 1], [1, 0]]), "intersect_groups"),
        (dict(y_true=[0, 1], y_pred=[0, 1], groups=[0, 0], n_boot=-1), "n_boot"),
        (dict(y_true=[0, 1], y_pred=[0, 1], groups=[0, 0], level=95), "level"),
    ],
)
def test_bad_input_raises_a_named_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        M.audit_metrics(**kwargs)


def test_api_is_keyword_only():
    with pytest.raises(TypeError):
        M.demographic_parity_difference([0, 1], [0, 1], [0, 1])  # type: ignore[misc]
