"""The membership attack at a chosen threshold and at its worst case, and the stored per-sample scores."""

from __future__ import annotations

import numpy as np
import pytest

from bamu_core.errors import BamuInputError
from bamu_core.privacy import at_threshold, auc_from_scores, class_matched_attack, worst_case
from bamu_core.results import MIAResult, MIAScores


def test_at_threshold_exact_values():
    member, nonmember = [0.9, 0.5, 0.2, -1.0], [0.6, 0.1, -0.5, -2.0, -3.0]
    p = at_threshold(member, nonmember, 0.5)  # score >= t is flagged a member
    assert (p.tpr, p.fpr) == (0.5, 0.2)
    assert p.advantage == pytest.approx(0.3)
    assert at_threshold(member, nonmember, 0.2).tpr == 0.75
    assert (at_threshold(member, nonmember, -10).tpr, at_threshold(member, nonmember, -10).fpr) == (1.0, 1.0)
    assert (at_threshold(member, nonmember, 10).tpr, at_threshold(member, nonmember, 10).fpr) == (0.0, 0.0)


def test_worst_case_exact_values():
    member, nonmember = [0.9, 0.5, 0.2, -1.0], [0.6, 0.1, -0.5, -2.0, -3.0]
    w = worst_case(member, nonmember)
    # t = 0.2: tpr 3/4, fpr 1/5 -> 0.55, the largest over all thresholds
    assert w.threshold == 0.2
    assert (w.tpr, w.fpr) == (0.75, 0.2)
    assert w.advantage == pytest.approx(0.55)
    # perfectly separable: advantage 1; identical: 0 (flag nothing)
    assert worst_case([3.0, 4.0], [1.0, 2.0]).advantage == 1.0
    same = worst_case([1.0, 2.0], [1.0, 2.0])
    assert same.advantage == 0.0 and same.threshold == float("inf")


def test_threshold_points_match_sklearn_roc_curve():
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(3)
    member, nonmember = rng.normal(0.4, 1.0, 300), rng.normal(0.0, 1.0, 250)
    y = np.r_[np.ones(len(member)), np.zeros(len(nonmember))]
    fpr, tpr, thresholds = roc_curve(y, np.r_[member, nonmember], drop_intermediate=False)
    for f, t, th in list(zip(fpr, tpr, thresholds))[1:]:  # the first threshold is +inf
        p = at_threshold(member, nonmember, th)
        assert p.tpr == pytest.approx(t) and p.fpr == pytest.approx(f)
    w = worst_case(member, nonmember)
    assert w.advantage == pytest.approx(np.max(tpr - fpr))
    assert at_threshold(member, nonmember, w.threshold).advantage == pytest.approx(w.advantage)


def test_threshold_functions_reject_empty_or_non_finite_scores():
    with pytest.raises(BamuInputError):
        at_threshold([], [1.0], 0.0)
    with pytest.raises(BamuInputError):
        worst_case([np.nan], [1.0])


def test_the_class_matched_attack_keeps_its_scores_and_they_round_trip():
    rng = np.random.default_rng(0)
    n_m, n_n = 40, 120
    logits_m, logits_n = rng.normal(size=(n_m, 3)), rng.normal(size=(n_n, 3))
    labels_m, labels_n = rng.integers(0, 3, n_m), rng.integers(0, 3, n_n)
    logits_m[np.arange(n_m), labels_m] += 2.0  # members fit better
    out = class_matched_attack(members=(logits_m, labels_m), nonmembers=(logits_n, labels_n), n_bootstrap=0)
    s = out["scores"]
    assert len(s["member"]) == len(s["nonmember"]) == len(s["member_index"]) == out["n"]
    assert auc_from_scores(s["member"], s["nonmember"]) == pytest.approx(out["auc"])
    # the summary's advantage counts either direction of the threshold: never below the one-sided worst case
    assert out["advantage"] >= worst_case(s["member"], s["nonmember"]).advantage - 1e-12
    # the score is -loss of the member at that index of the forget set
    i = s["member_index"][0]
    z = logits_m[i] - logits_m[i].max()
    assert s["member"][0] == pytest.approx(z[labels_m[i]] - np.log(np.exp(z).sum()))
    typed = MIAResult.from_json({"auc": out["auc"], "matching": out["matching"], "scores": s})
    assert isinstance(typed.scores, MIAScores) and typed.scores.member == s["member"]
    doc = typed.to_json()
    assert doc["scores"]["member_index"] == s["member_index"] and "train_index" not in doc["scores"]
    assert "scores" not in MIAResult(auc=0.5).to_json()
    assert MIAResult.from_json({"auc": 0.5}).scores is None
