"""Properties of the relative composite: the original model ranks below real debiasing, a collapsed model
scores low, a model that never saw the forget set is at chance under the class-matched attack, and run
documents written with the earlier scoring still load and render."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from bamu_core.privacy import (
    ModelOutputs,
    auc_from_scores,
    class_matched_attack,
    loss_threshold_attack,
    matched_indices,
    membership_inference,
    model_outputs,
)
from bamu_core.scoring import composite_score, radar_axes

GOLDEN = Path(__file__).parent / "data" / "golden"


def _audit(acc, dp):
    return {"utility": {"accuracy": acc}, "fairness": {"demographic_parity_difference": dp}}


ORIGINAL_GAPS = [0.1, 0.3, 0.6]
ORIGINAL_ACCS = [0.6, 0.8, 0.95]
SECONDARY = [0.0, 0.5, 1.0]


@pytest.mark.parametrize("acc0, gap0", list(itertools.product(ORIGINAL_ACCS, ORIGINAL_GAPS)))
def test_an_unchanged_model_ranks_below_every_run_that_closes_half_the_gap_without_losing_accuracy(acc0, gap0):
    original = _audit(acc0, gap0)
    unchanged = []
    for forget_acc, auc in itertools.product([0.5, 0.75, 1.0], [0.5, 0.75, 1.0]):
        axes = radar_axes(audit=original, original_audit=original, forget_accuracy=forget_acc, privacy=auc)
        assert axes["fairness"] == 0.0 and axes["utility"] == 0.5
        unchanged.append(composite_score(axes))
    best_unchanged = max(unchanged)
    assert best_unchanged <= 0.35 + 1e-12
    for share, gain, forget_acc, auc in itertools.product(
        [0.5, 0.75, 1.0], [0.0, 0.02, 0.05], [0.0, 0.5, 1.0], [0.0, 0.25, 0.5, 1.0]
    ):
        after = _audit(min(1.0, acc0 + gain), gap0 * (1 - share))
        axes = radar_axes(audit=after, original_audit=original, forget_accuracy=forget_acc, privacy=auc)
        assert axes["fairness"] >= share - 1e-9
        assert composite_score(axes) > best_unchanged, (share, gain, forget_acc, auc, axes)


@pytest.mark.parametrize("f, p, e", list(itertools.product(SECONDARY, SECONDARY, SECONDARY)))
def test_the_bound_holds_with_the_efficiency_axis_too(f, p, e):
    unchanged = composite_score({"utility": 0.5, "fairness": 0.0, "forgetting": 1.0, "privacy": 1.0, "efficiency": 1})
    run = composite_score({"utility": 0.5, "fairness": 0.5, "forgetting": f, "privacy": p, "efficiency": e})
    assert run >= 0.4 - 1e-12 > 0.35 + 1e-12 >= unchanged


@pytest.mark.parametrize("acc0, chance", [(0.9, 0.5), (0.95, 0.1), (0.8, 0.5)])
def test_a_collapsed_model_scores_low(acc0, chance):
    # a constant predictor: no gap between groups, forget set like the test split, attack at chance
    axes = radar_axes(audit=_audit(chance, 0.0), original_audit=_audit(acc0, 0.4), forget_accuracy=chance, privacy=0.5)
    assert axes["fairness"] == 1.0 and axes["utility"] == 0.0
    assert composite_score(axes) == 0.0
    # and a little above chance still scores below the unchanged model
    axes["utility"] = 0.1
    original = composite_score(
        radar_axes(audit=_audit(acc0, 0.4), original_audit=_audit(acc0, 0.4), forget_accuracy=1, privacy=0.5)
    )
    assert composite_score(axes) < original


def test_utility_gains_are_visible():
    original = _audit(0.8, 0.3)
    a = radar_axes(audit=_audit(0.88, 0.15), original_audit=original, forget_accuracy=0.9, privacy=0.5)
    b = radar_axes(audit=_audit(0.80, 0.15), original_audit=original, forget_accuracy=0.9, privacy=0.5)
    assert a["utility"] == pytest.approx(0.9) and b["utility"] == 0.5
    assert composite_score(a) > composite_score(b)


# --- class-matched membership inference ---------------------------------------------------------


def test_matched_indices_keep_the_composition_and_fall_back_to_the_class():
    ml = np.array([0, 0, 0, 0, 1, 1])
    mg = np.array([0, 0, 1, 1, 2, 2])  # class 1 / group 2 never occurs among non-members
    nl = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    ng = np.array([0, 1, 1, 0, 0, 1, 0, 0])
    mi, ni, how = matched_indices(ml, nl, member_groups=mg, nonmember_groups=ng, seed=0)
    assert len(mi) == len(ni) == 5 and how == "class (group where available)"
    assert sorted(ml[mi]) == sorted(nl[ni])  # same classes, same counts
    cells = lambda i, lab, g: sorted(zip(lab[i].tolist(), g[i].tolist()))  # noqa: E731
    assert [c for c in cells(mi, ml, mg) if c[0] == 0] == [c for c in cells(ni, nl, ng) if c[0] == 0]
    mi, ni, how = matched_indices(ml, nl)
    assert how == "class" and len(mi) == len(ni) == 5  # class 0: min(4, 3); class 1: min(2, 3)
    mi, ni, _ = matched_indices(np.zeros(100, int), np.zeros(100, int), max_samples=10)
    assert len(mi) == len(ni) == 10
    with pytest.raises(ValueError, match="fewer than 2 images of the forget set's classes"):
        matched_indices([3, 3], [0, 1, 2])


def test_auc_from_scores_is_sklearns_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 40).astype(float), rng.integers(0, 6, 30).astype(float)
    assert auc_from_scores(pos, neg) == pytest.approx(roc_auc_score(np.r_[np.ones(40), np.zeros(30)], np.r_[pos, neg]))


def _outputs(losses, labels, k=2) -> ModelOutputs:
    """Logits whose cross-entropy on ``labels`` equals ``losses`` (k classes)."""
    losses, labels = np.asarray(losses, float), np.asarray(labels, int)
    p = np.exp(-losses)
    logits = np.full((len(losses), k), 0.0)
    logits[np.arange(len(labels)), labels] = np.log(p) - np.log((1 - p) / (k - 1))
    return ModelOutputs(logits=logits, labels=labels)


def test_an_unseen_easy_class_is_at_chance_only_when_class_matched():
    # class 0 is easy (low loss) for everyone, class 1 hard; the "forget set" is unseen class-0 images
    rng = np.random.default_rng(0)
    forget = _outputs(rng.uniform(0.01, 0.3, 400), np.zeros(400, int))
    test_labels = np.r_[np.zeros(400, int), np.ones(400, int)]
    test = _outputs(np.r_[rng.uniform(0.01, 0.3, 400), rng.uniform(0.5, 2.0, 400)], test_labels)
    unmatched = loss_threshold_attack(members=forget, nonmembers=test)
    matched = class_matched_attack(members=forget, nonmembers=test)
    assert unmatched["auc"] > 0.7  # the confound the class matching removes
    assert abs(matched["auc"] - 0.5) < 0.1 and matched["n"] == 400 and matched["matching"] == "class"
    assert matched["auc_ci"]["low"] < 0.5 < matched["auc_ci"]["high"]


def test_a_model_that_never_saw_one_forget_class_is_at_chance(digits, digits_baseline):
    """Forget set = half of the test images of one digit (never trained on); non-members: the other half
    of the test split. Unmatched, a class that is easier or harder than average moves the AUC."""
    model = digits_baseline[0]
    test = digits.test
    rng = np.random.default_rng(0)
    half = rng.permutation(len(test))
    a, b = np.sort(half[: len(test) // 2]), np.sort(half[len(test) // 2 :])
    out_a, out_b = model_outputs(model, test, indices=a), model_outputs(model, test, indices=b)
    deviations = {}
    for k in range(10):
        sel = out_a.labels == k
        forget = ModelOutputs(out_a.logits[sel], out_a.labels[sel])
        cm = class_matched_attack(
            members=forget, nonmembers=out_b, member_groups=test.groups[a][sel], nonmember_groups=test.groups[b]
        )
        assert abs(cm["auc"] - 0.5) < 0.1 + 1e-9 or cm["auc_ci"]["low"] < 0.5 < cm["auc_ci"]["high"], (k, cm)
        deviations[k] = (abs(loss_threshold_attack(members=forget, nonmembers=out_b)["auc"] - 0.5), cm)
    worst = max(deviations, key=lambda k: deviations[k][0])
    assert abs(deviations[worst][1]["auc"] - 0.5) < 0.1, deviations[worst]
    assert deviations[worst][0] > abs(deviations[worst][1]["auc"] - 0.5)  # unmatched strays further


def test_membership_inference_reports_both_attacks_by_name():
    rng = np.random.default_rng(1)
    forget = _outputs(rng.uniform(0.01, 0.3, 60), np.zeros(60, int))
    test = _outputs(rng.uniform(0.01, 2.0, 120), np.r_[np.zeros(60, int), np.ones(60, int)])
    r = membership_inference(forget=forget, retain=forget, test=test, seed=0)
    for key in ("auc", "auc_ci", "advantage", "matching", "auc_vs_all_test", "tpr_at_1pct_fpr_vs_all_test"):
        assert r[key] is not None, key
    assert r["n_pairs"] <= 60


# --- documents written with the earlier scoring -------------------------------------------------------


def test_a_document_from_before_the_relative_scoring_loads_and_renders():
    from bamu_core.report import build_report, report_json, report_rows
    from bamu_core.results import UnlearnReport
    from bamu_core.scoring import LEGACY_SCORE_FORMULA

    doc = json.loads((GOLDEN / "unlearn_binary-colored-digits_newton_legacy_scoring.json").read_text())
    assert "scoring" not in doc["radar"] and "matching" not in doc["privacy"]["mia_after"]
    run = UnlearnReport.from_json(doc)
    mia = run.privacy.mia_after
    assert not mia.class_matched and mia.auc == doc["privacy"]["mia_after"]["auc"]  # loads unchanged
    assert mia.measure("auc") is None and mia.measure("auc_vs_all_test") == doc["privacy"]["mia_after"]["auc"]
    rows = {(r["section"], r["metric"]): r for r in report_rows(run)}
    assert ("privacy", "auc") not in rows and rows[("privacy", "auc_vs_all_test")]["after"] == mia.auc
    # its before score is the earlier composite (the mean of its radar before), as it was shown then
    before = doc["radar"]["before"]
    assert rows[("score", "composite")]["before"] == pytest.approx(sum(before.values()) / len(before))
    page = build_report(run)
    assert LEGACY_SCORE_FORMULA in page and "not class-matched" in page
    assert report_json(run)["scoring"] == {"version": None, "formula": LEGACY_SCORE_FORMULA}


def test_a_new_document_keeps_the_scores_of_both_definitions():
    from bamu_core.report import report_rows
    from bamu_core.results import UnlearnReport
    from bamu_core.scoring import SCORING_VERSION

    doc = json.loads((GOLDEN / "unlearn_binary-colored-digits_newton.json").read_text())
    run = UnlearnReport.from_json(doc)
    assert run.radar.scoring == SCORING_VERSION and run.privacy.mia_after.class_matched
    assert run.score == pytest.approx(composite_score(run.radar.after.present()))
    assert run.radar.score_before == pytest.approx(composite_score(run.radar.before.present()))
    assert run.radar.score_before <= 0.35 < run.score  # the biased original below the debiased run
    assert run.radar.legacy_score_before > 0.75  # the earlier composite rated the biased original highly
    rows = {(r["section"], r["metric"]): r for r in report_rows(run)}
    assert (
        rows[("privacy", "auc")]["after_low"]
        < rows[("privacy", "auc")]["after"]
        < rows[("privacy", "auc")]["after_high"]
    )
