"""``unlearn()`` and ``bamu unlearn``: before/after metrics, the saved model, exit code 2 on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bamu_core.cli import main
from bamu_core.models import build_model, load_weights, read_state_dict


def test_unlearn_workflow_returns_the_unlearn_json_and_the_model(binary_digits, binary_baseline):
    from bamu_core.results import UnlearnReport
    from bamu_core.workflows import Subject, unlearn

    model = binary_baseline[0]
    subject = Subject(scenario=binary_digits, model=model, arch="small_cnn", model_source="baseline")
    run = unlearn(subject, method="newton", intensity=0.5, forget="aligned", device="cpu", n_boot=0)
    doc = run.to_json()
    assert set(doc) >= {"method", "intensity", "before", "after", "forget", "seconds", "status"}
    assert UnlearnReport.from_json(doc).to_json() == doc and doc["status"] == run.status
    n_aligned = int((binary_digits.train.attrs["alignment"] == 0).sum())
    assert run.forget.n == n_aligned and run.forget.strategy == "aligned"
    assert 0 <= run.forget.accuracy_after <= 1
    pred = model(binary_digits.train.images(run.forget_set.indices)).argmax(1).numpy()
    assert run.forget.accuracy_before == pytest.approx(
        (pred == binary_digits.train.labels[run.forget_set.indices]).mean()
    )
    assert run.before.split == "test" and run.after.split == "test"
    assert run.model is not model and run.chosen_step == doc["chosen_step"] > 0
    dp_before = run.before.fairness.demographic_parity_difference
    assert run.after.fairness.demographic_parity_difference < dp_before
    json.dumps(doc, allow_nan=False)  # strict JSON: no NaN anywhere


def test_cli_unlearn_prints_before_after_and_saves_the_model(tmp_path, capsys, binary_baseline):
    out, js = tmp_path / "m.safetensors", tmp_path / "u.json"
    argv = [
        "unlearn",
        "--scenario",
        "binary-colored-digits",
        "--method",
        "newton",
        "--intensity",
        "0.5",
        "--out",
        str(out),
        "--json",
        str(js),
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "before" in text and "after" in text and "orange" in text and "blue" in text
    assert "demographic parity diff." in text and f"saved the unlearned model to {out}" in text
    assert "unlearning took" in text
    assert "in plain words: Unlearning (newton) " in text
    assert any(p in text for p in ("percentage points of accuracy", "Accuracy did not change", "Accuracy rose by"))
    doc = json.loads(js.read_text())
    assert doc["method"] == "newton" and doc["intensity"] == 0.5 and doc["model_path"] == str(out)
    model = load_weights(build_model("small_cnn", num_classes=2), read_state_dict(out))
    assert model is not None


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--method", "nope", "--intensity", "0.5"], "unknown unlearning method 'nope'"),
        (["--method", "ga", "--intensity", "1.5"], "--intensity must be in [0, 1]"),
        (["--method", "ga", "--intensity", "lots"], "--intensity must be a number"),
        (["--method", "ga", "--intensity", "0.5", "--forget", "indices:,"], "selected no training images"),
        (["--method", "ga", "--intensity", "0.5", "--forget", "nope"], "unknown forget strategy"),
        (["--method", "ga", "--intensity", "0.5", "--hp", "bogus=1"], "has no hyper-parameter(s) bogus"),
        (["--method", "ga", "--intensity", "0.5", "--out", "m.pt"], "--out must be a .safetensors file"),
        (["--method", "ga", "--intensity", "0.5", "--search", "quick"], "--search applies to --method auto only"),
    ],
)
def test_cli_unlearn_bad_input_exits_2_with_one_line(extra, match, capsys, binary_baseline):
    assert main(["unlearn", "--scenario", "binary-colored-digits", *extra]) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("  ")]
    assert len(err) == 1 and match in err[0] and "Traceback" not in err[0]


def test_cli_unlearn_intensity_zero_saves_the_original_weights(tmp_path, capsys, binary_baseline):
    out = tmp_path / "same.safetensors"
    assert (
        main(
            ["unlearn", "--scenario", "binary-colored-digits", "--method", "ga", "--intensity", "0", "--out", str(out)]
        )
        == 0
    )
    saved = read_state_dict(out)
    original = binary_baseline[0].state_dict()
    assert all(np.array_equal(saved[k].numpy(), original[k].numpy()) for k in original)
    assert "intensity 0" in capsys.readouterr().out


def test_cli_oracle_retrains_first_and_its_gap_is_the_fairness_target(tmp_path, capsys, binary_baseline):
    js = tmp_path / "u.json"
    argv = ["unlearn", "--scenario", "binary-colored-digits", "--method", "dfr", "--intensity", "0.5"]
    assert main([*argv, "--oracle", "--json", str(js)]) == 0
    text = capsys.readouterr().out
    doc = json.loads(js.read_text())
    oracle = doc["oracle"]
    assert oracle["method"] == "retrain" and oracle["seconds"] > 0 and 0 <= oracle["demographic_parity_difference"] <= 1
    assert f"{oracle['demographic_parity_difference']:.3f}" in text and "oracle (retrain" in text
    g0 = doc["before"]["fairness"]["demographic_parity_difference"]
    g1 = doc["after"]["fairness"]["demographic_parity_difference"]
    gap = oracle["demographic_parity_difference"]
    # retrained without the aligned images, the digits model learns the reverse shortcut: an oracle no
    # fairer than the original is no target, and the score counts the gap closed towards 0
    assert oracle["fairness_target"] == (gap < g0)
    target = gap if gap < g0 else 0.0
    assert ("not the fairness target" in text) == (gap >= g0)
    want = min(1.0, max(0.0, (g0 - g1) / (g0 - target)))
    assert doc["radar"]["after"]["fairness"] == pytest.approx(want, abs=1e-9)
    assert main([*argv[:4], "retrain", *argv[5:], "--oracle"]) == 2
    assert "the method is retrain already" in capsys.readouterr().err


def test_the_oracle_gap_is_the_fairness_axis_target(binary_digits, binary_baseline):
    """With the retrain oracle's gap given, the fairness axis is the share of the gap closed towards it."""
    from bamu_core.workflows import Subject, unlearn

    subject = Subject(scenario=binary_digits, model=binary_baseline[0], arch="small_cnn", model_source="baseline")
    quick = {"n_boot": 0, "gradcam_images": 0, "mia_samples": 200, "device": "cpu"}
    run = unlearn(subject, method="newton", intensity=0.5, forget="aligned", reference_gap=0.1, **quick)
    g0 = run.before.fairness.demographic_parity_difference
    g1 = run.after.fairness.demographic_parity_difference
    assert run.radar.after.fairness == pytest.approx(min(1.0, max(0.0, (g0 - g1) / (g0 - 0.1))))
    assert run.radar.after.fairness == 1.0  # newton closes the gap past the oracle's 0.1 here


def test_cli_quick_search_runs_auto_on_one_split_and_hp_values_win(tmp_path, capsys, monkeypatch, binary_baseline):
    from bamu_core.unlearn import SEARCH_DEPTHS

    monkeypatch.setitem(SEARCH_DEPTHS, "quick", {**SEARCH_DEPTHS["quick"], "candidates": ["dfr"]})  # short
    js = tmp_path / "u.json"
    argv = ["unlearn", "--scenario", "binary-colored-digits", "--method", "auto", "--intensity", "0.5"]
    assert main([*argv, "--search", "quick", "--hp", "lr_scales=[0.5]", "--json", str(js)]) == 0
    search = json.loads(js.read_text())["search"]
    assert search["folds"] == 1 and [c["method"] for c in search["candidates"]] == ["dfr", "dfr"]
