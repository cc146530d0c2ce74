"""The command-line tool: output, JSON and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bamu_core.cli import main


def test_scenarios_lists_and_writes_json(tmp_path, capsys):
    out = tmp_path / "s.json"
    assert main(["scenarios", "--json", str(out)]) == 0
    assert "colored-digits" in capsys.readouterr().out
    assert {r["name"] for r in json.loads(out.read_text())["scenarios"]} >= {"colored-digits", "patch-cifar10"}


def test_audit_prints_groups_and_writes_the_audit_json(tmp_path, capsys, binary_baseline):
    out = tmp_path / "audit.json"
    assert main(["audit", "--scenario", "binary-colored-digits", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "orange" in text and "accuracy gap" in text
    result = json.loads(out.read_text())
    assert set(result["utility"]) >= {"accuracy", "balanced_accuracy"}
    assert {g["group"] for g in result["groups"]} == {"orange", "blue"}
    for g in result["groups"]:
        assert set(g) >= {"group", "n", "accuracy", "selection_rate", "tpr", "fpr"}
    f = result["fairness"]
    assert set(f) >= {
        "demographic_parity_difference",
        "equalized_odds_difference",
        "worst_group_accuracy",
        "accuracy_gap",
    }
    accs = [g["accuracy"] for g in result["groups"]]
    assert f["accuracy_gap"] == pytest.approx(max(accs) - min(accs))
    assert result["dataset"]["name"] == "binary-colored-digits"
    assert result["model"]["parameters"] > 0


def test_audit_with_a_checkpoint_and_another_group_attr(tmp_path, capsys, digits_baseline):
    from bamu_core.models import save_weights

    ckpt = tmp_path / "m.safetensors"
    save_weights(digits_baseline[0], ckpt)
    assert main(["audit", "--scenario", "colored-digits", "--model", str(ckpt), "--group-attr", "alignment"]) == 0
    text = capsys.readouterr().out
    assert "conflicting" in text and "checkpoint m.safetensors" in text


@pytest.mark.parametrize(
    "argv, match",
    [
        (["audit", "--scenario", "nope"], "unknown scenario 'nope'"),
        (["audit"], "either a built-in scenario or a data folder"),
        (["audit", "--scenario", "colored-digits", "--model", "/nonexistent.pt"], "does not exist"),
        (["audit", "--scenario", "colored-digits", "--arch", "vgg99"], "unknown architecture"),
        (["audit", "--scenario", "colored-digits", "--num-classes", "3"], "does not match the data"),
        (["audit", "--scenario", "colored-digits", "--group-attr", "hat"], "unknown group attribute"),
        (["audit", "--data", "/nonexistent", "--meta", "/nonexistent.csv"], "data folder"),
        (["audit", "--scenario", "colored-digits", "--cifar-root", "/tmp"], "--cifar-root only applies"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, match, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0] and "Traceback" not in err[0]


def test_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "bamu_core", "scenarios"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "patch-cifar10" in proc.stdout


def test_the_seed_draws_another_split_of_a_built_in_scenario(tmp_path, digits_baseline):
    """``--seed`` changes the data as well as training: seed 1 audits another test split."""
    docs = {}
    for seed in (0, 1):
        out = tmp_path / f"audit{seed}.json"
        argv = ["audit", "--scenario", "colored-digits", "--seed", str(seed), "--n-boot", "0"]
        assert main([*argv, "--saliency-per-group", "0", "--json", str(out)]) == 0
        docs[seed] = json.loads(out.read_text())
    counts = {seed: doc["dataset"]["splits"]["test"]["counts"] for seed, doc in docs.items()}
    assert counts[0] != counts[1]
    assert docs[0]["dataset"]["source"].get("seed", 0) != docs[1]["dataset"]["source"].get("seed", 0)
