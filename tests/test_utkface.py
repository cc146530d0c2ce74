"""The utkface-gender scenario: splits, balance, the minority subsample, options and check_bias.

Needs the UTKFace folder (``$BAMU_UTKFACE_ROOT`` or ``../shared/data/utkface``); skipped without it.
Images are loaded at 32 px (the first load decodes them once into the session's cache).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from bamu_core.data import list_scenarios, load_scenario
from bamu_core.data.utkface import (
    UTKFACE_GENDERS,
    UTKFACE_RACES,
    bias_gaps,
    check_bias,
    default_utkface_root,
    utkface_split_paths,
)
from bamu_core.errors import BamuInputError
from bamu_core.metrics import demographic_parity_difference, equalized_odds_difference

ROOT = default_utkface_root()
needs_data = pytest.mark.skipif(
    ROOT is None or not (ROOT / "meta.csv").is_file(),
    reason="UTKFace not found (set BAMU_UTKFACE_ROOT or put it in ../shared/data/utkface)",
)
SMALL = {"image_size": 32}


def test_utkface_gender_is_listed():
    assert "utkface-gender" in list_scenarios()


def test_missing_folder_is_a_file_not_found_error_with_a_hint(tmp_path):
    with pytest.raises(FileNotFoundError, match="BAMU_UTKFACE_ROOT"):
        load_scenario("utkface-gender", utkface_root=tmp_path / "nope")


@pytest.fixture(scope="module")
def faces():
    if ROOT is None or not (ROOT / "meta.csv").is_file():
        pytest.skip("UTKFace not found (set BAMU_UTKFACE_ROOT or put it in ../shared/data/utkface)")
    return load_scenario("utkface-gender", **SMALL)


def _cells(data) -> np.ndarray:
    table = np.zeros((len(UTKFACE_RACES), len(UTKFACE_GENDERS)), dtype=np.int64)
    np.add.at(table, (data.attrs["race"], data.labels), 1)
    return table


@needs_data
def test_scenario_fields(faces):
    assert faces.class_names == ["female", "male"]
    assert faces.bias_attr == "race"
    assert faces.test.group_names["race"] == ["white", "asian", "indian", "other"]
    assert set(faces.group_attrs) == {"race", "gender"}
    assert faces.image_shape == (3, 32, 32)
    assert faces.options["minority_cell"] == "female/white"
    assert faces.options["minority_share"] == 0.05
    assert faces.options["image_size"] == 32
    assert faces.title and faces.default_arch == faces.baseline["arch"]
    assert np.array_equal(faces.train.labels, faces.train.attrs["gender"])


@needs_data
def test_val_and_test_are_balanced_per_race_and_gender(faces):
    assert (_cells(faces.val) == 50).all()
    assert (_cells(faces.test) == 100).all()


@needs_data
def test_splits_are_disjoint_and_match_the_scenario():
    paths = utkface_split_paths()
    sets = {k: set(v) for k, v in paths.items()}
    assert all(len(sets[k]) == len(paths[k]) for k in paths)  # no duplicates within a split
    assert not sets["train"] & sets["val"]
    assert not sets["train"] & sets["test"]
    assert not sets["val"] & sets["test"]
    sc = load_scenario("utkface-gender", **SMALL)
    assert [len(paths[k]) for k in ("train", "val", "test")] == [len(sc.train), len(sc.val), len(sc.test)]


@needs_data
def test_minority_cell_is_subsampled_to_its_share(faces):
    train = _cells(faces.train)
    white, female = UTKFACE_RACES.index("white"), UTKFACE_GENDERS.index("female")
    full = load_scenario("utkface-gender", minority_share=1.0, **SMALL)
    pool = _cells(full.train)[white, female]
    assert pool == 2599 - 150  # every female/white image not in val / test
    assert train[white, female] == round(0.05 * pool)
    assert f"keeps {round(0.05 * pool):,} of the {pool:,} female/white" in faces.bias
    # the other cells are untouched
    other = np.ones_like(train, dtype=bool)
    other[white, female] = False
    assert np.array_equal(train[other], _cells(full.train)[other])
    none = load_scenario("utkface-gender", minority_share=0.0, **SMALL)
    assert _cells(none.train)[white, female] == 0


@needs_data
def test_bias_description_states_the_training_counts(faces):
    train = _cells(faces.train)
    for r, race in enumerate(UTKFACE_RACES):
        for g, gender in enumerate(UTKFACE_GENDERS):
            assert f"{gender}/{race} {train[r, g]:,}" in faces.bias
    assert "50 and 100 images in every cell" in faces.bias
    assert f"{len(faces.train):,} in all" in faces.bias


@needs_data
def test_seed_changes_the_split_and_the_minority_subsample():
    a, b = utkface_split_paths(seed=0), utkface_split_paths(seed=1)
    assert set(a["test"]) != set(b["test"])
    assert utkface_split_paths(seed=0) == a  # deterministic
    minority = set(a["train"]) ^ set(b["train"])
    sa = load_scenario("utkface-gender", seed=0, **SMALL)
    sb = load_scenario("utkface-gender", seed=1, **SMALL)
    assert minority
    assert not torch.equal(sa.test.images_u8, sb.test.images_u8)
    fi = (sa.train.attrs["race"] == UTKFACE_RACES.index("white")) & (sa.train.labels == 0)
    fj = (sb.train.attrs["race"] == UTKFACE_RACES.index("white")) & (sb.train.labels == 0)
    assert fi.sum() == fj.sum()
    assert not torch.equal(sa.train.images_u8[fi], sb.train.images_u8[fj])


@needs_data
def test_other_minority_cell_and_sizes():
    sc = load_scenario("utkface-gender", minority_cell="indian/female", val_per_cell=10, test_per_cell=20, **SMALL)
    assert sc.options["minority_cell"] == "female/indian"
    assert (_cells(sc.val) == 10).all() and (_cells(sc.test) == 20).all()
    assert "female/indian" in sc.title
    assert _cells(sc.train)[UTKFACE_RACES.index("indian"), 0] == round(0.05 * (707 - 30))
    capped = load_scenario("utkface-gender", max_train_per_cell=40, **SMALL)
    train = _cells(capped.train)
    assert train.max() == 40 and train[UTKFACE_RACES.index("white"), 0] == 2


@pytest.mark.parametrize(
    "options, match",
    [
        ({"image_size": 8}, "image_size must be 16..128"),
        ({"image_size": "64"}, "image_size must be an integer"),
        ({"minority_share": 1.5}, r"minority_share must be in \[0, 1\]"),
        ({"minority_share": "lots"}, "minority_share must be a number"),
        ({"minority_cell": "female/martian"}, "minority_cell must be 'gender/race'"),
        ({"minority_cell": "indian"}, "minority_cell must be 'gender/race'"),
        ({"minority_cell": "female/black"}, "minority_cell must be 'gender/race'"),
        ({"val_per_cell": 0}, "val_per_cell must be >= 1"),
        ({"test_per_cell": 2.5}, "test_per_cell must be an integer"),
        ({"max_train_per_cell": 0}, "max_train_per_cell must be >= 1"),
        ({"seed": -1}, "seed must be >= 0"),
    ],
)
def test_bad_options_are_input_errors(options, match):
    with pytest.raises(BamuInputError, match=match):
        load_scenario("utkface-gender", **options)


@needs_data
def test_eval_sizes_larger_than_a_cell_are_input_errors():
    with pytest.raises(BamuInputError, match="male/other has only"):
        load_scenario("utkface-gender", val_per_cell=100, test_per_cell=200, **SMALL)


def test_bias_gaps_match_the_metrics_module():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.where(rng.random(300) < 0.8, y, 1 - y)
    g = rng.integers(0, 4, 300)
    dp, eo = bias_gaps(y, p, g, 4)
    assert dp[0] == pytest.approx(demographic_parity_difference(y_true=y, y_pred=p, groups=g))
    assert eo[0] == pytest.approx(equalized_odds_difference(y_true=y, y_pred=p, groups=g))
    many_dp, many_eo = bias_gaps(y, p, np.stack([g, rng.permutation(g)]), 4)
    assert many_dp.shape == (2,) and many_dp[0] == dp[0] and many_eo[0] == eo[0]


class _Rule(nn.Module):
    """Calls every image "male" when its mean red channel is above ``threshold`` (on normalised input)."""

    def __init__(self, fixed: int | None = None):
        super().__init__()
        self.fixed = fixed
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        n = x.shape[0]
        if self.fixed is not None:
            out = torch.zeros(n, 2)
            out[:, self.fixed] = 1.0
            return out
        return torch.stack([torch.zeros(n), x[:, 0].mean((1, 2))], 1)


@needs_data
def test_check_bias_on_fixed_rules(faces):
    # a constant prediction has no gap at all: within noise
    flat = check_bias(_Rule(fixed=1), faces, n_boot=50, n_perm=200)
    assert flat.dp == 0 and flat.eo == 0 and not flat.beyond_noise
    assert flat.accuracy == pytest.approx(0.5) and flat.n_test == 800
    assert set(flat.cell_accuracy) == {f"{g}/{r}" for r in UTKFACE_RACES for g in UTKFACE_GENDERS}
    # a rule on skin brightness: its male rate differs strongly between races
    bright = check_bias(_Rule(), faces, n_boot=50, n_perm=200)
    assert bright.dp > bright.dp_null and bright.beyond_noise
    assert bright.dp_ci[0] <= bright.dp <= bright.dp_ci[1]
    assert 0 < bright.dp_p < 0.05
    assert "beyond noise" in bright.summary()
    assert bright.as_dict()["attr"] == "race"


def test_cli_lists_the_scenario(capsys):
    from bamu_core.cli import main

    assert main(["scenarios"]) == 0
    assert "utkface-gender" in capsys.readouterr().out


@needs_data
def test_cli_audits_a_checkpoint_on_the_scenario(tmp_path, capsys):
    """``bamu audit --scenario utkface-gender`` with a (untrained) small CNN: race groups, 800 test images."""
    from bamu_core.cli import main
    from bamu_core.models import build_model, save_weights

    torch.manual_seed(0)
    ckpt = tmp_path / "faces.safetensors"
    save_weights(build_model("small_cnn", num_classes=2), ckpt)
    out = tmp_path / "audit.json"
    argv = ["audit", "--scenario", "utkface-gender", "--model", str(ckpt), "--arch", "small_cnn", "--json", str(out)]
    assert main([*argv, "--saliency-per-group", "0"]) == 0
    result = json.loads(out.read_text())
    assert {g["group"] for g in result["groups"]} == set(UTKFACE_RACES)
    assert sum(g["n"] for g in result["groups"]) == 800
    assert "female/white" in capsys.readouterr().out


def test_benchmark_report_is_built_from_rows(tmp_path, monkeypatch):
    import benchmarks.utkface_bias as bench

    check = {
        "accuracy": 0.7,
        "dp": 0.3,
        "dp_ci": [0.2, 0.4],
        "dp_null": 0.1,
        "dp_p": 0.001,
        "eo": 0.4,
        "eo_ci": [0.3, 0.5],
        "eo_null": 0.17,
        "eo_p": 0.001,
        "beyond_noise": True,
        "cell_accuracy": {"female/white": 0.3, "male/white": 0.9},
    }
    base = {
        "seed": 0,
        "options": {"image_size": 64, "minority_cell": "female/white", "minority_share": 0.05},
        "recipe": {"arch": "small_cnn", "epochs": 10, "optimizer": "adam", "lr": 0.003, "batch_size": 64},
        "train_seconds": 100.0,
        "threads": 1,
        "n_train": 4145,
        "train_cells": {"female/white": 122, "male/white": 2087},
        "torch": "x",
    }
    rows = [
        {**base, "variant": "biased", "check": check},
        {**base, "variant": "reference (minority kept whole)", "check": {**check, "dp": 0.1, "eo": 0.2}},
    ]
    monkeypatch.setattr(bench, "ROWS", tmp_path / "rows.jsonl")
    monkeypatch.setattr(bench, "REPORT", tmp_path / "report.md")
    bench.ROWS.write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = bench.report()
    assert bench.REPORT.read_text() == text
    assert "| female/white | biased | 0 | 4,145 | 122 | 100 | 0.700 | 0.30 | 0.300 [0.200, 0.400]" in text
    assert "female/white, seed 0: race DP +0.200, race EO +0.200" in text
    assert "CPU, 2 shared cores" in text
