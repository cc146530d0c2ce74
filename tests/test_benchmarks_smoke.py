"""Benchmark smoke checks (reduced configs): the direction of each effect, not exact numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bamu_core.workflows import Subject, unlearn


@pytest.mark.parametrize("method", ["ga", "lora", "distill"])
def test_unlearning_cuts_test_dp_on_binary_digits_without_losing_accuracy(method, binary_digits, binary_baseline):
    model, info = binary_baseline
    subject = Subject(scenario=binary_digits, model=model, arch=info.arch, model_source="baseline")
    run = unlearn(
        subject,
        method=method,
        intensity=0.5,
        forget="aligned",
        seed=0,
        store=None,
        n_boot=0,
        gradcam_images=0,
        mia_samples=200,
    )
    before, after = run.before, run.after
    dp0 = before.fairness.demographic_parity_difference
    dp1 = after.fairness.demographic_parity_difference
    assert dp0 > 0.2, "the baseline should be biased"
    assert dp1 < 0.5 * dp0, f"{method}: DP {dp0:.3f} -> {dp1:.3f}"
    assert after.utility.accuracy >= before.utility.accuracy - 0.01


def test_cifar_report_is_built_from_rows(tmp_path, monkeypatch):
    import benchmarks.cifar_patch as bench

    def metrics(dp, clean, recall):
        return {
            "clean_accuracy": clean,
            "patched_accuracy": clean - 0.02,
            "test_accuracy": clean - 0.01,
            "dp_max": dp,
            "dp_target": dp,
            "dp_paired_target": dp,
            "dp_paired_max": dp,
            "target_recall_clean": recall,
            "nontarget_patched_called_target": 0.1,
            "nontarget_clean_called_target": 0.01,
        }

    before, oracle = metrics(0.10, 0.78, 0.55), metrics(0.02, 0.78, 0.55)
    machine = {"device": "cpu", "cpus": 2, "torch": "x"}

    def row(seed, method, x, status, after, score, val_gain, seconds=5.0):
        return {
            "seed": seed,
            "method": method,
            "intensity": x,
            "status": status,
            "before": before,
            "after": after,
            "oracle": oracle,
            "seconds": seconds,
            "retrain_seconds": 50.0,
            "forget_accuracy": 0.9,
            "mia_auc": 0.6,
            "score": score,
            "score_before": 0.3,
            "val_gain": val_gain,
            "machine": machine,
        }

    rows = []
    for s in (0, 1):
        rows += [
            row(s, "retrain", 1.0, "ok", oracle, None, None, seconds=50.0),
            # ga 0.5: DP 0.10 -> 0.02 at -0.5 points: 80 % of DP, the whole oracle gap
            row(s, "ga", 0.5, "ok", metrics(0.02, 0.775, 0.54), 0.8, 0.05),
            # ga 1.0: a larger validation gain, but test DP only halved
            row(s, "ga", 1.0, "ok", metrics(0.05, 0.77, 0.54), 0.6, 0.07),
            row(s, "newton", 0.75, "no_change", before, 0.28, None, seconds=1.0),
        ]
    monkeypatch.setattr(bench, "HERE", tmp_path)
    monkeypatch.setattr(bench, "ROWS", tmp_path / "rows.jsonl")
    monkeypatch.setattr(bench, "REPORT", tmp_path / "report.md")
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = bench.part_report()
    assert (tmp_path / "report.md").read_text() == text
    # ranked by score: ga 0.5 first, newton (returned the original) last; cut, oracle gap, points, x retrain
    assert (
        "| 1 | ga | 0.5 | 2 | 80 [80, 80] % | 80 [80, 80] % | 80 [80, 80] % | 100 [100, 100] % | -0.5 [-0.5, -0.5] |"
        in text
    )
    assert "| 3 | newton | 0.75 | 2 | 0 [0, 0] % |" in text and "| 0.02 | no_change, no_change |" in text
    # the validation choice is ga 1.0 (larger validation gain), whatever its test numbers
    assert "- **every method**: DP max cut 50 [50, 50] %" in text and "per seed: ga 1, ga 1; 2 of 2 seeds" in text
    assert text.count("score at most 0.280, below the best debiasing run ga 0.5 (cut 80%, score 0.800)") == 2
    assert "- ga: cut 50 [50, 50] %" in text and "goal met on 0 of 2 seeds" in text
    html = (tmp_path / "rows_pareto.html").read_text()  # named after the rows file
    assert '"name":"ga"' in html.replace(" ", "") and "intensity 0.5" in html
    assert "hand-set defaults" in text  # the default variant runs with the scenario's table
    # ga ran at 0.5 and 1.0, newton at 0.75: no single --intensities made these rows
    assert "runs --seeds S --out " in text
    one_level = [r for r in rows if r["method"] != "ga" or r["intensity"] == 1.0]
    newton_too = [dict(r, intensity=1.0) if r["method"] == "newton" else r for r in one_level]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in newton_too))
    assert "runs --seeds S --intensities 1 --out " in bench.part_report()
    # a variant's rows say so; one file holds one variant
    variant = [dict(r, options={"target_class": "cat"}) for r in rows]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in variant))
    text = bench.part_report()
    assert "variant target_class=cat" in text and "generic intensity table" in text
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows + variant))
    with pytest.raises(SystemExit, match="mixes scenario variants"):
        bench.part_report()


# ------------------------------------------------------------------------------------------------
# benchmarks/probe_cases.py and benchmarks/memory_bounds.py, on a few of their cases
# ------------------------------------------------------------------------------------------------

_PROBES = (
    "audit-json-onto-symlink",
    "unlearn-out-onto-checkpoint",
    "bound-seed-negative",
    "ckpt-int-keys",
    "mkdir-failed-audit-json",
    "zip-parent-path",
)


def test_probe_cases_hold_and_are_reported(tmp_path):
    """A few probe cases through the benchmark's own runner: they hold, and the report counts them."""
    from benchmarks.probe_cases import F_KIND, Probe, Setup, catalogue, run_all, write_results

    probes = [p for p in catalogue() if p.name in _PROBES]
    assert len(probes) == len(_PROBES)

    def wrong(c):  # a case whose expectation is wrong on purpose: the judge must call it failed
        target = c.dir / "kept.txt"
        target.write_text("mine\n")
        return Setup(argv=["scenarios", "--json", c.dir / "link.json"], watch=[target])

    probes.append(Probe("expects-a-refusal-that-does-not-come", F_KIND, "a success taken for a refusal", wrong))
    results = run_all(probes, tmp_path / "work", stored_run=False)
    by_name = {r.name: r for r in results}
    for name in _PROBES:
        r = by_name[name]
        assert r.passed and r.exit_code == 2 and r.one_line and r.unchanged, r
        assert r.seconds < 20
    symlink = by_name["audit-json-onto-symlink"]
    assert "symbolic link" in symlink.detail
    bad = by_name["expects-a-refusal-that-does-not-come"]
    assert not bad.passed and bad.exit_code == 0 and "exit code 0, expected 2" in bad.detail
    write_results(results, tmp_path / "out")
    data = json.loads((tmp_path / "out" / "probe_cases.json").read_text())
    assert data["total"] == len(probes) and data["held"] == len(_PROBES) and data["failed"] == 1
    assert data["machine"]["cpus"] >= 1 and data["machine"]["torch"]
    md = (tmp_path / "out" / "probe_cases.md").read_text()
    assert f"**{len(probes)} cases: {len(_PROBES)} held, 1 failed, 0 skipped**" in md
    assert "`expects-a-refusal-that-does-not-come`" in md.split("## Failed cases")[1].split("##")[0]


def test_the_catalogue_has_every_finding_class_and_at_least_118_cases():
    from benchmarks.probe_cases import FINDINGS, catalogue

    probes = catalogue()
    assert len(probes) >= 118
    assert {p.finding for p in probes} == set(FINDINGS)


@pytest.mark.parametrize("option", ["--n-boot", "--image-size 512"])
def test_a_run_at_the_limit_of_an_option_stays_under_2_gib(option, tmp_path):
    from benchmarks.memory_bounds import BOUNDS, BUDGET_MIB, measure
    from benchmarks.probe_workspace import CaseDir, Workspace

    [bound] = [b for b in BOUNDS if f"{b.option} {b.limit}".startswith(option)]
    ws = Workspace.build(tmp_path, stored_run=False)
    case = CaseDir.make(ws, "bound")
    code, mib, seconds = measure(bound.argv(case), case, timeout=60)
    assert code == 0, (case.dir / "out.log").read_text()[-2000:]
    assert 50 < mib < BUDGET_MIB, mib  # a real measurement (a Python process with torch), under the budget


def test_the_validation_budget_keeps_a_share_of_every_group_and_class_cell(binary_digits):
    from benchmarks.validation_budget import report, stratified_share

    val = binary_digits.val
    cells = val.groups * (int(val.labels.max()) + 1) + val.labels
    idx = stratified_share(val, 0.1, seed=0)
    assert len(np.unique(idx)) == len(idx) and idx.min() >= 0 and idx.max() < len(val)
    for c, n in zip(*np.unique(cells, return_counts=True)):
        assert (cells[idx] == c).sum() == max(1, int(np.ceil(0.1 * n)))
    assert np.array_equal(stratified_share(val, 1.0, seed=3), np.arange(len(val)))
    assert not np.array_equal(stratified_share(val, 0.25, seed=0), stratified_share(val, 0.25, seed=1))
    with pytest.raises(ValueError):
        stratified_share(val, 0.0, seed=0)
    row = {"scenario": "binary-colored-digits", "seed": 0, "share": 0.1, "method": "dfr", "n_val": len(idx)}
    text = report(
        [row | {"status": "ok", "cut": 0.5, "accuracy_change": 0.01}, row | {"seed": 1, "status": "refused"}],
        {"date": "d", "device": "cpu", "cpus": 2, "torch": "t", "intensity": 0.75, "seeds": [0, 1]},
    )
    assert f"10% of validation ({len(idx)} images)" in text
    assert "| dfr | cut 50 %, accuracy +1.0 pts (ok, refused) |" in text
