"""Benchmark smoke checks (reduced configs): the direction of each effect, not exact numbers."""

from __future__ import annotations

import json

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
            "target_recall_clean": recall,
            "nontarget_patched_called_target": 0.1,
            "nontarget_clean_called_target": 0.01,
        }

    before = metrics(0.10, 0.78, 0.55)
    rows = [
        {
            "method": "ga",
            "intensity": 0.5,
            "seed": s,
            "status": "ok",
            "before": before,
            "after": metrics(0.019, 0.775, 0.54),
            "forget_accuracy": 0.9,
            "seconds": 5.0,
            "retrain_seconds": 50.0,
            "mia_auc": 0.6,
            "score": 0.8,
        }
        for s in (0, 1)
    ] + [
        {
            "method": "newton",
            "intensity": 0.5,
            "seed": 0,
            "status": "ok",
            "before": before,
            "after": metrics(0.05, 0.70, 0.5),
            "forget_accuracy": 0.9,
            "seconds": 1.0,
            "retrain_seconds": 50.0,
            "mia_auc": 0.6,
            "score": 0.7,
        }
    ]
    monkeypatch.setattr(bench, "HERE", tmp_path)
    monkeypatch.setattr(bench, "ROWS", tmp_path / "rows.jsonl")
    monkeypatch.setattr(bench, "BASELINE", tmp_path / "baseline.json")
    monkeypatch.setattr(bench, "REPORT", tmp_path / "report.md")
    monkeypatch.setattr(bench, "CPU_ROWS", tmp_path / "cpu.jsonl")
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = bench.part_report()
    # ga: DP 0.10 -> 0.019 = 81 % improvement at -0.5 points; newton loses 8 points, so it is not admissible
    assert "| ga | 0.5 | 2 | 0.019 ± 0.000 | 81.0 ± 0.0 |" in text
    assert "**ga at intensity 0.5** (n = 2): DP improvement 81.0 ± 0.0 %" in text and "meets the goal" in text
    assert "Fewer seeds than the others: newton." in text and "Time on a CPU" not in text
    assert (tmp_path / "report.md").read_text() == text
    html = (tmp_path / "cifar_patch_pareto.html").read_text()
    assert '"name":"ga"' in html.replace(" ", "") and "intensity 0.5" in html and "intensity 0" in html
    cpu = dict(rows[0], seconds=20.0, retrain_seconds=400.0, torch_threads=1)
    (tmp_path / "cpu.jsonl").write_text(json.dumps(cpu) + "\n")
    text = bench.part_report()
    assert "## Time on a CPU" in text and "| ga | 0.5 | 0 | 81.0 | -0.5 | 20 | 0.050 | – | ok |" in text
