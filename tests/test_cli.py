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


# --------------------------------------------------------------------------------------------
# --scenario-option
# --------------------------------------------------------------------------------------------


def test_scenarios_lists_the_options_scenario_option_may_set(tmp_path, capsys):
    out = tmp_path / "s.json"
    assert main(["scenarios", "--json", str(out)]) == 0
    assert "corner=bottom-right" in capsys.readouterr().out
    rows = {r["name"]: r for r in json.loads(out.read_text())["scenarios"]}
    options = rows["patch-cifar10"]["options"]
    assert options["target_class"] == "airplane" and options["patch_size"] == 5
    assert options["corner"] == "bottom-right" and options["pattern"] == "checkerboard"
    assert "seed" not in options and "cifar_root" not in options  # they have their own flags
    assert rows["colored-digits"]["options"] == {"aligned_fraction": 0.95}


def test_scenario_option_values_are_typed_and_reach_the_scenario():
    from bamu_core.cli import _parser
    from bamu_core.cli._subject import _scenario_option_args

    argv = ["audit", "--scenario", "patch-cifar10"]
    for pair in ("target_class=cat", "corner=top-left", "patch_size=4", "patch_fraction=0.25", "per_class=null"):
        argv += ["--scenario-option", pair]
    args = _parser().parse_args(argv)
    assert _scenario_option_args(args) == {
        "target_class": "cat",
        "corner": "top-left",
        "patch_size": 4,
        "patch_fraction": 0.25,
        "per_class": None,
    }
    args = _parser().parse_args(
        ["unlearn", "--scenario", "colored-digits", "--method", "ga", "--intensity", "0.5"]
        + ["--scenario-option", "aligned_fraction=1"]
    )
    assert _scenario_option_args(args) == {"aligned_fraction": 1}
    args = _parser().parse_args(
        ["sweep", "--scenario", "colored-digits", "--methods", "ga", "--out", "s.csv"]
        + ["--scenario-option", "aligned_fraction=None"]
    )
    assert _scenario_option_args(args) == {"aligned_fraction": None}


@pytest.mark.parametrize(
    "extra, match",
    [
        (
            ["--scenario-option", "colour=red"],
            "--scenario-option colour: patch-cifar10 has no option 'colour'; its options are target_class, "
            "patch_fraction, other_fraction, patch_size, corner, pattern, per_class, val_per_class",
        ),
        (["--scenario-option", "seed=3"], "--scenario-option seed=...: set it with --seed instead"),
        (["--scenario-option", "cifar_root=/tmp"], "set it with --cifar-root instead"),
        (["--scenario-option", "corner=top-left", "--scenario-option", "corner=top-right"], "corner is given twice"),
        (
            ["--scenario-option", "corner=middle"],
            "corner must be one of bottom-right, bottom-left, top-left, top-right",
        ),
        (["--scenario-option", "pattern=dots"], "pattern must be one of checkerboard, solid, stripes, got 'dots'"),
        (["--scenario-option", "target_class=zebra"], "target_class must be one of airplane, automobile"),
        (["--scenario-option", "patch_size=5.5"], "patch_size must be an integer in 1..16, got 5.5"),
    ],
)
def test_bad_scenario_options_exit_2_with_one_line(tmp_path, capsys, extra, match):
    argv = ["audit", "--scenario", "patch-cifar10", "--cifar-root", str(tmp_path), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0] and "Traceback" not in err[0]


@pytest.mark.parametrize(
    "pair, match",
    [
        ("aligned_fraction=many", "aligned_fraction must be in [0, 1], got 'many'"),
        ("aligned_fraction=null", "aligned_fraction must be in [0, 1], got None"),
        ("corner=top-left", "colored-digits has no option 'corner'; its options are aligned_fraction"),
    ],
)
def test_a_bad_value_for_a_digit_scenario_exits_2(capsys, pair, match):
    assert main(["audit", "--scenario", "colored-digits", "--scenario-option", pair]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


@pytest.mark.parametrize(
    "pair, match", [("corner", "expected KEY=VALUE, got 'corner'"), ("corner=[1,2]", "a number, true/false, null or a")]
)
def test_a_malformed_scenario_option_is_a_usage_error(capsys, pair, match):
    with pytest.raises(SystemExit) as exit_info:
        main(["audit", "--scenario", "patch-cifar10", "--scenario-option", pair])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "argument --scenario-option" in err[0] and match in err[0]


def test_scenario_option_needs_a_scenario(capsys):
    assert main(["audit", "--data", "/nonexistent", "--meta", "/x.csv", "--scenario-option", "corner=top-left"]) == 2
    assert "--scenario-option only applies with --scenario" in capsys.readouterr().err


@pytest.mark.shared
def test_audit_of_a_patch_cifar10_variant_round_trips_its_options(tmp_path, capsys, cifar_root):
    out = tmp_path / "audit.json"
    argv = ["audit", "--scenario", "patch-cifar10", "--cifar-root", str(cifar_root), "--n-boot", "0"]
    for pair in ("target_class=cat", "corner=top-left", "pattern=stripes", "per_class=20", "val_per_class=5"):
        argv += ["--scenario-option", pair]
    assert main([*argv, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "CIFAR-10 with a 5x5 stripes patch (top-left) as a shortcut for 'cat'" in text
    assert "target class 'cat'" in text
    dataset = json.loads(out.read_text())["dataset"]
    source = dataset["source"]
    assert (source["target_class"], source["corner"], source["pattern"], source["per_class"]) == (
        "cat",
        "top-left",
        "stripes",
        20,
    )
    assert source["cifar_root"] == str(cifar_root) and dataset["splits"]["test"]["n"] == 200
