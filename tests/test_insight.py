"""Views inside the model (bamu_core.insight): known answers on synthetic data, then the digit scenarios."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bamu_core.errors import BamuInputError
from bamu_core.insight import (
    InsightOptions,
    benjamini_hochberg,
    embed,
    find_cohorts,
    leakage,
    linear_cka,
    probe_scores,
    relearning,
    representation,
    wilson_interval,
    within_class_auc,
)
from bamu_core.results import Cohorts, Leakage, Relearning, Representation, UnlearnReport

# -- CKA -------------------------------------------------------------------------------------


def test_cka_of_features_with_themselves_and_a_rotation_is_one():
    from scipy.stats import ortho_group

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 16))
    q = ortho_group.rvs(16, random_state=1)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-6)
    assert linear_cka(x, x @ q) == pytest.approx(1.0, abs=1e-6)
    assert linear_cka(x, 3.0 * x @ q + 5.0) == pytest.approx(1.0, abs=1e-6)  # scale and shift too
    # more features than images: the Gram-matrix form gives the same answer
    wide = rng.normal(size=(20, 64))
    assert linear_cka(wide, wide @ ortho_group.rvs(64, random_state=2)) == pytest.approx(1.0, abs=1e-6)


def test_cka_of_independent_noise_is_well_below_one_and_matches_the_formula():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(500, 10)), rng.normal(size=(500, 10))
    assert linear_cka(x, y) < 0.1
    xc, yc = x - x.mean(0), y - y.mean(0)
    hsic = np.linalg.norm(yc.T @ xc) ** 2
    assert linear_cka(x, y) == pytest.approx(hsic / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)))
    # half of the features kept, half replaced by noise: in between
    mixed = np.hstack([x[:, :5], rng.normal(size=(500, 5))])
    assert 0.2 < linear_cka(x, mixed) < 0.9
    with pytest.raises(BamuInputError):
        linear_cka(x, y[:10])


# -- leakage ---------------------------------------------------------------------------------


def test_within_class_auc_is_sklearns_auc_inside_one_class_and_ignores_between_class_pairs():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    g = rng.integers(0, 2, 120)
    s = np.round(rng.random(120), 1)  # ties count half, as in sklearn
    one = np.zeros(120, dtype=int)
    assert within_class_auc(np.c_[1 - s, s], g, one, 2)[0] == pytest.approx(roc_auc_score(g, s))
    # two classes whose scores are offset: pooled AUC is fooled, the within-class one is not
    y = np.r_[np.zeros(60, int), np.ones(60, int)]
    g2 = np.r_[rng.random(60) < 0.2, rng.random(60) < 0.8].astype(int)
    score = y + 0.01 * rng.random(120)  # knows the class only
    auc, per_class = within_class_auc(np.c_[1 - score, score], g2, y, 2)
    assert roc_auc_score(g2, score) > 0.75
    expected = [roc_auc_score(g2[y == c], score[y == c]) for c in (0, 1)]
    assert per_class == pytest.approx(expected)
    w = [(g2[y == c] == 1).sum() * (g2[y == c] == 0).sum() for c in (0, 1)]
    assert auc == pytest.approx(np.average(expected, weights=w))


def test_macro_one_vs_rest_auc_with_one_class_equals_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(4)
    g = rng.integers(0, 3, 150)
    p = rng.dirichlet(np.ones(3), size=150)
    auc, _ = within_class_auc(p, g, np.zeros(150, int), 3)
    assert auc == pytest.approx(roc_auc_score(g, p, multi_class="ovr", average="macro"))


def test_leakage_is_chance_when_the_attribute_is_independent_and_near_one_when_planted():
    rng = np.random.default_rng(0)
    n, d = 400, 24
    y = rng.integers(0, 3, n)
    g = rng.integers(0, 2, n)
    x = rng.normal(size=(n, d)) + np.eye(3)[y] @ rng.normal(size=(3, d)) * 2  # class information only
    planted = x.copy()
    planted[:, 0] += 3.0 * g
    res = leakage(x, g, y, unlearned=planted, group_names=["a", "b"], attr="colour", n_boot=100)
    assert abs(res.original.auc - 0.5) <= 0.1
    assert res.unlearned.auc > 0.95
    assert res.unlearned.auc_ci.low > 0.9 and res.original.auc_ci.low < 0.5 < res.original.auc_ci.high
    assert res.chance == 0.5 and res.n == n and res.groups == ["a", "b"]
    assert "colour" in res.reading and f"{res.original.auc:.2f} -> {res.unlearned.auc:.2f}" in res.reading
    back = Leakage.from_json(json.loads(json.dumps(res.to_json())))
    assert back.unlearned.auc == res.unlearned.auc and back.original.auc_ci.low == res.original.auc_ci.low


def test_the_output_probe_reads_what_the_logits_carry_beside_the_features():
    rng = np.random.default_rng(2)
    n = 400
    y, g = rng.integers(0, 2, n), rng.integers(0, 2, n)
    feats = rng.normal(size=(n, 8))
    feats[:, 0] += 3.0 * g  # both models hold the attribute in their features
    biased = np.c_[-feats[:, 0], feats[:, 0]]  # the original's outputs follow it
    fair = np.c_[-(2.0 * y - 1), 2.0 * y - 1] + rng.normal(size=(n, 2)) * 0.1  # the unlearned's do not
    res = leakage(
        feats, g, y, unlearned=feats, outputs={"original": biased, "unlearned": fair}, attr="colour", n_boot=50
    )
    assert res.original.auc > 0.95 and res.unlearned.auc > 0.95
    assert res.output.original.auc > 0.95 and abs(res.output.unlearned.auc - 0.5) <= 0.1
    assert res.output.oracle is None
    assert f"in its outputs (logits): {res.output.original.auc:.2f} -> {res.output.unlearned.auc:.2f}" in res.reading
    back = Leakage.from_json(json.loads(json.dumps(res.to_json())))
    assert back.output.unlearned.auc == res.output.unlearned.auc
    assert Leakage.from_json({k: v for k, v in res.to_json().items() if k != "output"}).output is None  # older JSON
    assert leakage(feats, g, y, n_boot=0).output is None  # no outputs given: no output probe
    from bamu_core.report import leakage_rows

    assert [r["model"] for r in leakage_rows(res)] == [
        "original",
        "unlearned",
        "original (outputs)",
        "unlearned (outputs)",
    ]


def test_leakage_with_many_groups_is_chance_when_independent():
    rng = np.random.default_rng(1)
    n = 600
    y, g = rng.integers(0, 4, n), rng.integers(0, 5, n)
    x = rng.normal(size=(n, 16))
    scores = probe_scores(x, g, y, 5, folds=5, seed=0)
    assert scores.shape == (n, 5) and np.allclose(scores.sum(1), 1.0)
    assert abs(within_class_auc(scores, g, y, 5)[0] - 0.5) <= 0.1
    res = leakage(x, g, y, unlearned=x + np.eye(5)[g] @ rng.normal(size=(5, 16)) * 2, n_boot=50)
    assert res.unlearned.auc > 0.9 and "macro one-vs-rest" in res.method


def test_leakage_refuses_too_few_images_of_a_group():
    x = np.zeros((10, 3))
    with pytest.raises(BamuInputError, match="at least 5 images"):
        leakage(x, np.r_[np.zeros(8, int), np.ones(2, int)], np.zeros(10, int))
    with pytest.raises(BamuInputError, match="two groups"):
        leakage(x, np.zeros(10, int), np.zeros(10, int))


# -- cohorts ---------------------------------------------------------------------------------


def test_benjamini_hochberg_matches_scipy_and_a_worked_example():
    from scipy.stats import false_discovery_control

    p = np.random.default_rng(0).random(40) ** 2
    assert benjamini_hochberg(p) == pytest.approx(false_discovery_control(p))
    # Benjamini & Hochberg's procedure by hand: sorted p * m / rank, made monotone from the top
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.5]).tolist() == pytest.approx(
        [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5]
    )


def test_wilson_interval_matches_statsmodels_formula():
    low, high = wilson_interval(8, 10)
    # the closed form: (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), z = 1.959964
    z = 1.959963984540054
    p, n = 0.8, 10
    centre, half = (p + z * z / (2 * n)), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert (low, high) == pytest.approx(((centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)))
    assert wilson_interval(0, 0) == (None, None)


def test_a_planted_slice_is_recovered_and_nothing_is_found_in_noise():
    rng = np.random.default_rng(0)
    n = 2000
    cols = {
        "colour": (rng.integers(0, 4, n), ["red", "green", "blue", "grey"]),
        "site": (rng.integers(0, 3, n), ["a", "b", "c"]),
        "age": (rng.integers(0, 5, n), [f"age{i}" for i in range(5)]),
    }
    correct = rng.random(n) < 0.9
    assert find_cohorts(correct, cols).slices == []
    planted = (cols["colour"][0] == 2) & (cols["site"][0] == 1)
    correct = np.where(planted, rng.random(n) < 0.5, correct)
    res = find_cohorts(correct, cols, k=3)
    top = res.slices[0]
    assert top.where == {"colour": "blue", "site": "b"} and top.label == "colour=blue & site=b"
    assert top.n == planted.sum() and top.accuracy == pytest.approx(correct[planted].mean())
    assert top.rest_accuracy == pytest.approx(correct[~planted].mean())
    assert top.q_value < 0.05 and top.accuracy_ci.low < top.accuracy < top.accuracy_ci.high
    assert len(res.slices) <= 3 and res.tested == 4 + 3 + 5 + 12 + 20 + 15
    assert "colour=blue & site=b" in res.reading
    back = Cohorts.from_json(json.loads(json.dumps(res.to_json())))
    assert back.slices[0].where == top.where and back.slices[0].p_value == top.p_value


def test_cohort_p_values_are_fishers_and_duplicate_slices_are_tested_once():
    from scipy.stats import fisher_exact

    rng = np.random.default_rng(1)
    n = 300
    a = rng.integers(0, 2, n)
    cols = {"a": (a, ["x", "y"]), "copy": (a.copy(), ["x2", "y2"])}
    correct = np.where(a == 1, rng.random(n) < 0.6, rng.random(n) < 0.95)
    res = find_cohorts(correct, cols, min_size=5, pairs=True)
    assert res.tested == 2  # a=x, a=y; the copies and the pairs hold the same images
    s = res.slices[0]
    k = int(correct[a == 1].sum())
    rest = int(correct[a == 0].sum())
    expected = fisher_exact([[k, s.n - k], [rest, (n - s.n) - rest]])[1]
    assert s.label == "a=y" and s.p_value == pytest.approx(expected)
    with pytest.raises(BamuInputError):
        find_cohorts(correct, {"a": (a[:5], ["x", "y"])})


# -- representation --------------------------------------------------------------------------


def test_representation_has_one_row_per_shared_block_and_a_bounded_projection():
    rng = np.random.default_rng(0)
    blocks = {"b1": rng.normal(size=(1500, 8)), "b2": rng.normal(size=(1500, 4))}
    same = {"b1": blocks["b1"], "b2": rng.normal(size=(1500, 4))}
    emb = {"original": blocks["b1"], "unlearned": same["b1"]}
    res = representation(blocks, same, embeddings=emb, groups=["g"] * 1500, classes=["c"] * 1500, max_points=1000)
    assert [b.block for b in res.blocks] == ["b1", "b2"]
    assert res.blocks[0].unlearned == pytest.approx(1.0) and res.blocks[1].unlearned < 0.1
    assert len(res.projection.indices) == 1000 and len(res.projection.coordinates["original"]) == 1000
    assert res.projection.method == "pca" and "b2" in res.reading
    back = Representation.from_json(json.loads(json.dumps(res.to_json())))
    assert back.blocks[1].unlearned == res.blocks[1].unlearned and back.projection.indices == res.projection.indices


# -- options ---------------------------------------------------------------------------------


def test_insight_options_refuse_bad_values():
    with pytest.raises(BamuInputError, match="folds"):
        InsightOptions(folds=1)
    with pytest.raises(BamuInputError, match="cohort_alpha"):
        InsightOptions(cohort_alpha=1.5)
    off = InsightOptions.off()
    assert not (off.leakage or off.cohorts or off.representation or off.relearning)


# -- the digit scenarios ---------------------------------------------------------------------


def _subject(scenario, baseline):
    from bamu_core.workflows import Subject

    return Subject(scenario=scenario, model=baseline[0], arch="small_cnn", model_source="test baseline")


def test_the_cohort_finder_surfaces_the_colour_conflicting_slice_of_colored_digits(digits, digits_baseline):
    from bamu_core.workflows import audit

    result = audit(_subject(digits, digits_baseline), n_boot=0, saliency_per_group=0)
    coh = result.cohorts
    assert coh is not None and coh.columns == ["class", "colour", "alignment", "digit"]
    # nobody said which column holds the bias: the finder names the conflicting images among the worst
    assert any(s.where.get("alignment") == "conflicting" for s in coh.slices)
    assert all(s.q_value < 0.05 and s.gap < 0 and s.n >= 20 for s in coh.slices)
    assert [s.gap for s in coh.slices] == sorted(s.gap for s in coh.slices)
    skipped = audit(
        _subject(digits, digits_baseline), n_boot=0, saliency_per_group=0, insight=InsightOptions(cohorts=False)
    )
    assert skipped.cohorts is None and "cohorts" not in skipped.to_json()


def test_embed_keeps_the_classifier_input_and_each_top_level_block(binary_digits, binary_baseline):
    from bamu_core.forget._influence import features

    model = binary_baseline[0]
    emb = embed(model, binary_digits.test, indices=np.arange(50))
    assert emb.layer == "fc" and list(emb.blocks) == ["conv1", "conv2", "conv3", "pool"]
    assert np.allclose(emb.penultimate, features(model, binary_digits.test, indices=np.arange(50)).double().numpy())
    assert emb.blocks["conv1"].shape == (50, 16) and emb.blocks["pool"].shape == (50, 64)


def test_an_unlearn_run_carries_the_views_and_leaves_the_callers_model_alone(binary_digits, binary_baseline):
    from bamu_core.workflows import unlearn

    subject = _subject(binary_digits, binary_baseline)
    state = {k: v.clone() for k, v in subject.model.state_dict().items()}
    options = InsightOptions(
        relearning=True, relearning_steps=10, relearning_every=5, relearning_images=32, oracle=subject.model
    )
    run = unlearn(subject, method="newton", intensity=0.5, n_boot=0, gradcam_images=0, mia_samples=50, insight=options)
    assert all(torch.equal(state[k], v) for k, v in subject.model.state_dict().items())
    leak = run.leakage
    assert leak.attr == "colour" and leak.groups == ["orange", "blue"] and leak.n == len(binary_digits.test)
    assert leak.oracle.auc == leak.original.auc  # the oracle given here is the original model itself
    assert 0.0 <= leak.unlearned.auc <= 1.0 and leak.reading
    # newton changes only the classifier: every block before it is the same representation
    rep = run.representation
    assert [b.block for b in rep.blocks] == ["conv1", "conv2", "conv3", "pool", "fc (input)"]
    assert all(
        b.unlearned == pytest.approx(1.0, abs=1e-6) and b.oracle == pytest.approx(1.0, abs=1e-6) for b in rep.blocks
    )
    assert len(rep.projection.indices) == len(binary_digits.test)
    assert set(rep.projection.coordinates) == {"original", "unlearned", "oracle"}
    assert set(rep.projection.groups) == {"orange", "blue"}
    rel = run.relearning
    assert rel.unlearned.steps == [0, 5, 10] and rel.original.steps == [0, 5, 10] and rel.images == 32
    assert rel.unlearned.dp[0] == pytest.approx(run.after.fairness.demographic_parity_difference)
    assert rel.original.dp[0] == pytest.approx(run.before.fairness.demographic_parity_difference)
    if rel.target is not None:
        assert rel.target == pytest.approx((rel.unlearned.dp[0] + rel.original.dp[0]) / 2)
        assert rel.rise == pytest.approx((rel.original.dp[0] - rel.unlearned.dp[0]) / 2)
    assert run.before.cohorts is not None and run.after.cohorts is not None
    assert {"insight_views", "insight_relearning"} <= set(run.timings)
    doc = json.loads(json.dumps(run.to_json()))
    back = UnlearnReport.from_json(doc)
    assert back.to_json() == doc
    assert isinstance(back.relearning, Relearning) and back.leakage.unlearned.auc == leak.unlearned.auc
    plain = unlearn(
        subject,
        method="newton",
        intensity=0.5,
        n_boot=0,
        gradcam_images=0,
        mia_samples=50,
        insight=InsightOptions.off(),
    )
    doc = plain.to_json()
    assert not {"leakage", "representation", "relearning"} & set(doc) and "cohorts" not in doc["after"]
    assert plain.after.fairness.demographic_parity_difference == run.after.fairness.demographic_parity_difference


def test_relearning_brings_a_gap_back_and_reports_not_within_k_otherwise(binary_digits, binary_baseline):
    from bamu_core.workflows import Subject, aligned_images

    model = binary_baseline[0]
    aligned = aligned_images(Subject(binary_digits, model, "small_cnn", "test"), 32, seed=0)
    assert len(aligned) == 32 and (aligned.attrs["alignment"] == 0).all()
    res = relearning(model, model, aligned, binary_digits.test, num_classes=2, k=5, every=5)
    assert res.target is None and res.unlearned.steps_to_half is None  # nothing was removed
    assert "nothing to relearn" in res.reading
    assert res.unlearned.dp == res.original.dp  # same model, same seed: the same curve


def test_the_cli_prints_one_line_per_view_and_writes_them_to_json(tmp_path, capsys, binary_baseline):
    from bamu_core.cli import main

    out = tmp_path / "run.json"
    argv = ["unlearn", "--scenario", "binary-colored-digits", "--method", "newton", "--intensity", "0.5"]
    argv += ["--out", str(tmp_path / "m.safetensors"), "--json", str(out), "--no-representation"]
    assert main([*argv, "--relearning", "--relearning-steps", "5", "--relearning-images", "16"]) == 0
    text = capsys.readouterr().out
    assert "\nleakage: the unlearned model" in text and "\ncohorts: before, " in text
    assert "\nrelearning: " in text and "representation:" not in text
    doc = json.loads(out.read_text())
    assert doc["leakage"]["reading"] in text and "cohorts" in doc["before"] and "representation" not in doc
    assert doc["relearning"]["k"] == 5 and doc["relearning"]["images"] == 16
    with pytest.raises(SystemExit):
        main([*argv, "--relearning-steps", "0"])


# -- report ----------------------------------------------------------------------------------


def _synthetic_report() -> UnlearnReport:
    from bamu_core.results import AuditResult, BlockSimilarity, Cohort, Interval, ProbeScore, RelearningCurve

    leak = Leakage(
        attr="colour",
        groups=["orange", "blue"],
        original=ProbeScore(auc=0.93, auc_ci=Interval(low=0.9, high=0.95)),
        unlearned=ProbeScore(auc=0.61, auc_ci=Interval(low=0.55, high=0.66)),
        reading="the unlearned model still encodes colour within a class (chance 0.5): probe AUC 0.93 -> 0.61",
    )
    slice_ = Cohort(where={"alignment": "conflicting"}, label="alignment=conflicting", n=40, accuracy=0.5, gap=-0.4)
    before = AuditResult(cohorts=Cohorts(slices=[slice_], tested=3, significant=1, reading="worst on conflicting"))
    rep = Representation(
        blocks=[
            BlockSimilarity(block="conv1", dim=16, unlearned=0.99),
            BlockSimilarity(block="fc", dim=8, unlearned=0.7),
        ],
        reading="the representations moved most in fc",
    )
    curve = RelearningCurve(steps=[0, 5], dp=[0.05, 0.3], accuracy=[0.9, 0.9], steps_to_half=5)
    rel = Relearning(
        k=5, target=0.2, unlearned=curve, original=RelearningCurve(steps=[0, 5], dp=[0.35, 0.4]), reading="came back"
    )
    return UnlearnReport(
        method="newton", before=before, after=AuditResult(), leakage=leak, representation=rep, relearning=rel
    )


def test_the_html_report_has_a_section_per_view_with_its_reading():
    from bamu_core.report import build_report

    run = _synthetic_report()
    page = build_report(run)
    section = page[page.index('id="insight"') :]
    assert run.leakage.reading.replace(">", "&gt;") in section and "worst on conflicting" in section
    assert "alignment=conflicting" in section and "the representations moved most in fc" in section
    assert "came back" in section and 'href="#insight"' in page and 'id="plot-cka"' in section
    plain = build_report(UnlearnReport(method="newton", before=run.before.__class__(), after=run.after))
    assert 'id="insight"' not in plain


def test_a_probe_that_cannot_run_is_reported_not_raised(binary_digits, binary_baseline):
    from bamu_core.insight import model_views

    test = binary_digits.test
    few_blue = np.r_[np.flatnonzero(test.groups == 0)[:60], np.flatnonzero(test.groups == 1)[:3]]
    data = test.subset(few_blue)
    model = binary_baseline[0]
    leak, rep = model_views(model, model, data, options=InsightOptions(), seed=0)
    assert leak.original is None and leak.reading.startswith("the leakage probe did not run")
    assert "at least 5 images" in leak.reading
    assert rep.blocks and all(b.unlearned == pytest.approx(1.0) for b in rep.blocks)  # the same model
    # a sample of at most max_images test images feeds both views
    leak, rep = model_views(model, model, test, options=InsightOptions(max_images=100, projection_points=50), seed=0)
    assert leak.n == 100 and rep.n == 100 and len(rep.projection.indices) == 50
    assert set(rep.projection.indices) <= set(range(len(test)))


def test_evaluate_unlearning_adds_the_views_of_a_model_from_anywhere(binary_digits, binary_baseline):
    import copy

    from bamu_core.workflows import evaluate_unlearning

    subject = _subject(binary_digits, binary_baseline)
    same = copy.deepcopy(subject.model)
    opts = {"forget_indices": np.arange(0, 90, 3), "method": "identity", "intensity": 0.0, "seconds": 0.0}
    run = evaluate_unlearning(subject, unlearned=same, mia_samples=60, gradcam_images=0, **opts)
    assert run.leakage.unlearned.auc == run.leakage.original.auc  # the same network
    assert all(b.unlearned == pytest.approx(1.0, abs=1e-6) for b in run.representation.blocks)
    assert run.before.cohorts.to_json() == run.after.cohorts.to_json()
    off = evaluate_unlearning(
        subject, unlearned=same, mia_samples=60, gradcam_images=0, insight=InsightOptions.off(), **opts
    )
    assert off.leakage is None and off.representation is None and off.after.cohorts is None


def test_steps_to_half_counts_each_curve_from_its_own_start():
    from bamu_core.insight.relearning import _steps_to_rise
    from bamu_core.results import RelearningCurve

    curve = RelearningCurve(steps=[0, 5, 10, 15], dp=[0.30, 0.32, 0.41, 0.60])
    assert _steps_to_rise(curve, 0.1) == 10  # 0.41 >= 0.30 + 0.1; 0.32 is not
    assert _steps_to_rise(curve, 0.5) is None and _steps_to_rise(curve, None) is None


def test_the_relearning_reading_compares_with_the_oracle_only_when_it_can_rise():
    from bamu_core.insight.relearning import relearning_reading
    from bamu_core.results import RelearningCurve

    def result(oracle_dp):
        u = RelearningCurve(steps=[0, 5, 10], dp=[0.1, 0.4, 0.6], steps_to_half=5)
        o = RelearningCurve(steps=[0, 5, 10], dp=oracle_dp)
        o.steps_to_half = next((s for s, d in zip(o.steps, o.dp) if d >= o.dp[0] + 0.2), None)
        return Relearning(k=10, every=5, images=64, target=0.3, rise=0.2, unlearned=u, oracle=o)

    assert "hidden rather than removed" in relearning_reading(result([0.1, 0.12, 0.15]))
    assert "about as many" in relearning_reading(result([0.1, 0.35, 0.5]))
    assert "no comparison" in relearning_reading(result([0.95, 0.2, 1.0]))


def test_the_audit_cli_prints_its_cohorts_and_can_skip_them(tmp_path, capsys, binary_baseline):
    from bamu_core.cli import main

    out = tmp_path / "audit.json"
    argv = ["audit", "--scenario", "binary-colored-digits", "--n-boot", "0", "--saliency-per-group", "0"]
    assert main([*argv, "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert f"cohorts: {doc['cohorts']['reading']}" in capsys.readouterr().out
    assert main([*argv, "--no-cohorts", "--json", str(out)]) == 0
    assert "cohorts" not in json.loads(out.read_text()) and "cohorts:" not in capsys.readouterr().out
