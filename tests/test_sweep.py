"""sweep(): the table, the fairness-utility Pareto front, failures, cancel, files and `bamu sweep`."""

from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import pytest

from bamu_core.report import write_sweep
from bamu_core.results import AuditResult, UnlearnReport
from bamu_core.workflows import (
    SWEEP_COLUMNS,
    SweepResult,
    sweep,
    sweep_row,
    sweeping,
    unlearning,
)

TOY = SimpleNamespace(scenario=SimpleNamespace(title="Toy"))  # sweep() only reads the title; unlearn is faked

# (method, intensity) -> (test accuracy after, DP difference after)
POINTS = {
    ("ga", 0.0): (0.8, 0.4),
    ("ga", 0.5): (0.75, 0.2),
    ("ga", 1.0): (0.7, 0.0),
    ("lora", 0.0): (0.8, 0.4),
    ("lora", 0.5): (0.79, 0.3),
    ("lora", 1.0): (0.78, 0.2),
}


def _fake_result(method, intensity):
    acc, dp = POINTS[(method, intensity)]
    return {
        "run_id": f"{method}-{intensity}",
        "method": method,
        "intensity": intensity,
        "status": "ok",
        "before": {"utility": {"accuracy": 0.8}, "fairness": {"demographic_parity_difference": 0.4}},
        "after": {
            "utility": {"accuracy": acc, "balanced_accuracy": acc},
            "fairness": {
                "demographic_parity_difference": dp,
                "equalized_odds_difference": dp,
                "worst_group_accuracy": acc - dp,
            },
        },
        "forget": {"n": 10, "accuracy_before": 1.0, "accuracy_after": 0.9},
        "privacy": {"mia_after": {"auc": 0.6}},
        "radar": {"after": {"utility": acc / 0.8, "fairness": 1 - dp, "forgetting": 0.9, "privacy": 0.8}},
        "score": 0.5,
        "seconds": 1.5,
        "message": "",
    }


@pytest.fixture
def fake_unlearn(monkeypatch):
    calls = []

    def unlearn(subject, *, method, intensity, forget, device, seed, should_stop, **options):
        calls.append((method, intensity, forget, options))
        if intensity == 0.25:
            raise RuntimeError("loss became nan")
        return UnlearnReport.from_json(_fake_result(method, intensity))

    monkeypatch.setattr(sweeping, "unlearn", unlearn)
    return calls


def test_sweep_table_and_pareto_front_exact(fake_unlearn):
    seen = []
    res = sweep(
        TOY,
        methods=["ga", "lora"],
        intensities=[0, 0.5, 1],
        forget="group:red",
        store=None,
        progress=lambda ev: seen.append((ev.step, ev.total, ev.detail.method, ev.detail.intensity)),
    )
    assert [(r.method, r.intensity) for r in res.rows] == list(POINTS)
    assert seen == [(i + 1, 6, m, x) for i, (m, x) in enumerate(POINTS)]
    assert {c[2] for c in fake_unlearn} == {"group:red"} and fake_unlearn[0][3] == {
        "store": None,
        "original_audit": None,
    }
    # later runs reuse the first run's audit of the original model
    assert fake_unlearn[1][3]["original_audit"] == AuditResult.from_json(_fake_result("ga", 0.0)["before"])
    # maximise accuracy and 1 - DP: ga@0.5 (0.75, 0.8) is dominated by lora@1 (0.78, 0.8); the two
    # identical intensity-0 points both stay; sorted by accuracy
    assert res.front == [2, 5, 4, 0, 3]
    assert [r.pareto for r in res.rows] == [True, False, True, True, True, True]
    assert res.before.to_json() == {"accuracy": 0.8, "fairness": pytest.approx(0.6), "dp": 0.4}
    row = res.rows[1]
    assert (row.accuracy, row.dp, row.fairness, row.utility_axis, row.run_id) == (0.75, 0.2, 0.8, 0.9375, "ga-0.5")
    assert list(res.table().columns) == list(SWEEP_COLUMNS) and len(res.table()) == 6
    assert res.title == "Toy: fairness vs test accuracy, 2 method(s) x 3 intensities"


def test_a_failing_configuration_is_a_row_not_an_abort(fake_unlearn):
    res = sweep(TOY, methods=["ga"], intensities=[0.0, 0.25, 1.0])
    assert [r.status for r in res.rows] == ["ok", "failed", "ok"]
    assert res.rows[1].message == "RuntimeError: loss became nan" and res.rows[1].accuracy is None
    assert res.front == [2, 0]


def test_should_stop_ends_the_sweep_early(fake_unlearn):
    res = sweep(TOY, methods=["ga", "lora"], intensities=[0.0, 1.0], should_stop=lambda: len(fake_unlearn) >= 3)
    assert len(res.rows) == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"methods": [], "intensities": [0.5]}, "methods is empty"),
        ({"methods": ["nope"], "intensities": [0.5]}, "unknown unlearning method 'nope'"),
        ({"methods": ["ga"], "intensities": []}, "intensities is empty"),
        ({"methods": ["ga"], "intensities": [0.5, 1.5]}, r"must lie in \[0, 1\], got \[1.5\]"),
        ({"methods": ["ga"], "intensities": ["high"]}, "must be numbers"),
    ],
)
def test_bad_arguments_raise_before_anything_runs(fake_unlearn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sweep(TOY, **kwargs)
    assert fake_unlearn == []


def test_sweep_refuses_an_original_audit_from_outside(fake_unlearn):
    with pytest.raises(ValueError, match="original_audit"):
        sweep(TOY, methods=["ga"], intensities=[0.5], original_audit={})
    assert fake_unlearn == []


def test_sweep_row_of_a_minimal_result():
    row = sweep_row({"method": "ga", "intensity": 0.5})
    assert set(row.to_json()) == set(SWEEP_COLUMNS) and row.fairness is None and row.pareto is False


def test_write_csv_json_and_a_self_contained_pareto_page(tmp_path):
    rows = [sweep_row(_fake_result(m, x)) for m, x in POINTS]
    res = SweepResult(rows=rows, front=[2, 5], before={"accuracy": 0.8, "fairness": 0.6, "dp": 0.4})
    out = write_sweep(res, tmp_path / "s")
    assert set(out) == {"csv", "json", "html"}
    table = list(csv.DictReader(out["csv"].open()))
    assert [t["method"] for t in table] == ["ga"] * 3 + ["lora"] * 3 and float(table[1]["fairness"]) == 0.8
    assert json.loads(out["json"].read_text())["front"] == [2, 5]
    page = out["html"].read_text()
    assert "Pareto front" in page and "original model" in page and "<script src=" not in page


def test_bamu_sweep_cli(fake_unlearn, digits, tmp_path, capsys):
    from bamu_core.cli import main
    from bamu_core.models import build_model, save_weights

    ckpt = save_weights(build_model("small_cnn", num_classes=10), tmp_path / "m.safetensors")
    out = tmp_path / "sweep"
    argv = [
        "sweep",
        "--scenario",
        "colored-digits",
        "--model",
        str(ckpt),
        "--methods",
        "ga,lora",
        "--intensities",
        "0,0.5,1",
        "--out",
        str(out),
        "--no-store",
        "--json",
        str(tmp_path / "s.json"),
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "ga" in text and "lora" in text and "pareto.html" in text
    assert (out / "sweep.csv").is_file() and (out / "pareto.html").is_file()
    assert json.loads((tmp_path / "s.json").read_text())["front"] == [2, 5, 4, 0, 3]
    assert fake_unlearn[0][3] == {"store": None, "original_audit": None}
    with pytest.raises(SystemExit) as exit_info:  # argparse: usage and a one-line error, exit code 2
        main(
            [
                "sweep",
                "--scenario",
                "colored-digits",
                "--model",
                str(ckpt),
                "--methods",
                "ga",
                "--intensities",
                "2",
                "--out",
                str(out),
            ]
        )
    assert exit_info.value.code == 2
    assert "expected comma-separated numbers in [0, 1], got '2'" in capsys.readouterr().err
    assert (
        main(["sweep", "--scenario", "colored-digits", "--model", str(ckpt), "--methods", "nope", "--out", str(out)])
        == 2
    )
    assert "unknown unlearning method 'nope'" in capsys.readouterr().err


def test_a_real_sweep_stores_every_run(digits, digits_baseline, tmp_path, monkeypatch):
    from bamu_core.runs import RunStore
    from bamu_core.workflows import Subject

    subject = Subject(scenario=digits, model=digits_baseline[0], arch="small_cnn", model_source="baseline")
    store = RunStore(tmp_path / "runs")
    audited = []
    real_audit = unlearning.audit
    for module in (unlearning, sweeping):
        monkeypatch.setattr(module, "audit", lambda subj, **kw: audited.append(subj.model) or real_audit(subj, **kw))
    res = sweep(subject, methods=["ga"], intensities=[0.0, 0.25], store=store, n_boot=0, gradcam_images=0)
    assert [r.status for r in res.rows] != ["failed", "failed"]
    assert [r.intensity for r in res.rows] == [0.0, 0.25]
    # intensity 0 returns the original model: its point is the original's
    assert res.rows[0].accuracy == pytest.approx(res.before.accuracy)
    assert res.rows[0].dp == pytest.approx(res.before.dp)
    assert {r.run_id for r in store.list()} == {r.run_id for r in res.rows}
    assert res.front and all(res.rows[i].pareto for i in res.front)
    # the original is audited once for the whole sweep, each unlearned model once
    assert sum(m is digits_baseline[0] for m in audited) == 1 and len(audited) == 3
