"""Audit-only data: a metadata CSV whose every row is a test image, and ``--split all``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from bamu_core.cli import main
from bamu_core.data import load_folder
from bamu_core.errors import BamuInputError


def make_folder(root, *, splits=None, n_per=5, groups=("a", "b"), labels=("cat", "dog")):
    """A folder of random images; ``splits``: the split of row j (cycled), or None for no split column."""
    root.mkdir(parents=True, exist_ok=True)
    rows = ["path,label,site" + (",split" if splits else "")]
    rng = np.random.default_rng(0)
    k = 0
    for lab in labels:
        for grp in groups:
            for j in range(n_per):
                name = f"img{k}.png"
                Image.fromarray(rng.integers(0, 255, (10, 12, 3), dtype=np.uint8)).save(root / name)
                rows.append(f"{name},{lab},{grp}" + (f",{splits[j % len(splits)]}" if splits else ""))
                k += 1
    (root / "meta.csv").write_text("\n".join(rows) + "\n")
    return root, root / "meta.csv", k


@pytest.fixture()
def checkpoint(tmp_path):
    from bamu_core.models import load_model, save_weights

    torch.manual_seed(0)
    path = tmp_path / "m.safetensors"
    save_weights(load_model("small_cnn", num_classes=2), path)
    return path


def _args(root, meta, ckpt, *more):
    return ["audit", "--data", str(root), "--meta", str(meta), "--model", str(ckpt), "--arch", "small_cnn",
            "--image-size", "16", "--n-boot", "20", "--saliency-per-group", "0", "--no-cohorts", *more]  # fmt: skip


def test_an_all_test_csv_loads_as_audit_only(tmp_path):
    root, meta, n = make_folder(tmp_path / "d", splits=["test"])
    sc = load_folder(root, meta, image_size=8)
    assert sc.audit_only and (len(sc.train), len(sc.val), len(sc.test)) == (0, 0, n)
    assert len(sc.split("all")) == n
    with pytest.raises(BamuInputError, match="train split of .* is empty: every image of this data is a test image"):
        sc.split("train")


def test_a_csv_without_a_split_column_is_audit_only_when_asked(tmp_path):
    root, meta, n = make_folder(tmp_path / "d")
    sc = load_folder(root, meta, image_size=8, audit_only=True)
    assert sc.audit_only and len(sc.test) == n
    assert not load_folder(root, meta, image_size=8).audit_only


def test_a_csv_lacking_only_val_rows_is_still_refused(tmp_path):
    root, meta, _ = make_folder(tmp_path / "d", splits=["train", "test"])
    with pytest.raises(BamuInputError, match="no 'val' rows; give it train, val and test rows, or only test rows"):
        load_folder(root, meta, image_size=8)


def test_the_cli_audits_every_row_of_an_all_test_csv(tmp_path, capsys, checkpoint):
    root, meta, n = make_folder(tmp_path / "d", splits=["test"])
    out = tmp_path / "a.json"
    assert main(_args(root, meta, checkpoint, "--json", str(out))) == 0
    doc = json.loads(out.read_text())
    assert doc["n"] == n == len(meta.read_text().splitlines()) - 1
    assert sum(g["n"] for g in doc["groups"]) == n
    text = capsys.readouterr().out
    assert "warning (small_groups)" in text and "warning (small_split)" in text  # 10 images per group, 20 in all
    assert {"small_groups", "small_split"} <= {w["code"] for w in doc["warnings"]}


def test_audit_only_data_without_a_model_says_it_needs_one(tmp_path, capsys):
    root, meta, _ = make_folder(tmp_path / "d", splits=["test"])
    assert main(["audit", "--data", str(root), "--meta", str(meta), "--image-size", "16"]) == 2
    err = capsys.readouterr().err
    assert "training a baseline needs training rows" in err and "give the model to audit (--model" in err


def test_unlearning_audit_only_data_is_refused_clearly(tmp_path, capsys, checkpoint):
    root, meta, _ = make_folder(tmp_path / "d", splits=["test"])
    argv = ["unlearn", "--data", str(root), "--meta", str(meta), "--model", str(checkpoint), "--arch", "small_cnn",
            "--image-size", "16", "--method", "finetune", "--intensity", "0.5"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "unlearning needs training rows" in err and "audit-only data" in err and "split=train" in err


def test_split_all_audits_every_row_of_a_normal_csv(tmp_path, checkpoint):
    root, meta, n = make_folder(tmp_path / "d", splits=["train", "train", "val", "test"], n_per=8)
    out_test, out_all = tmp_path / "t.json", tmp_path / "all.json"
    assert main(_args(root, meta, checkpoint, "--json", str(out_test))) == 0
    assert main(_args(root, meta, checkpoint, "--split", "all", "--json", str(out_all))) == 0
    test, every = json.loads(out_test.read_text()), json.loads(out_all.read_text())
    assert (test["n"], every["n"]) == (n // 4, n) and every["split"] == "all"
    assert sum(g["n"] for g in every["groups"]) == n


def test_the_dashboard_tells_an_all_test_csv(tmp_path):
    from dashboard.audit_data import csv_is_audit_only

    assert csv_is_audit_only(make_folder(tmp_path / "t", splits=["test"])[1])
    assert not csv_is_audit_only(make_folder(tmp_path / "m", splits=["train", "val", "test"])[1])
    assert not csv_is_audit_only(make_folder(tmp_path / "n")[1])


def test_the_unlearn_page_explains_why_audit_only_data_cannot_be_unlearned(tmp_path):
    from bamu_core.workflows import training_rows_problem

    sc = load_folder(*make_folder(tmp_path / "d", splits=["test"])[:2], image_size=8)
    assert training_rows_problem(sc).startswith("unlearning needs training rows, and every image of folder:d")
    normal = load_folder(*make_folder(tmp_path / "n", splits=["train", "val", "test"])[:2], image_size=8)
    assert training_rows_problem(normal) is None


def test_a_sweep_of_audit_only_data_is_refused_before_any_run(tmp_path, checkpoint):
    from bamu_core.workflows import load_subject, sweep

    root, meta, _ = make_folder(tmp_path / "d", splits=["test"])
    subject = load_subject(data_dir=root, meta_csv=meta, model_path=checkpoint, arch="small_cnn", image_size=16)
    with pytest.raises(BamuInputError, match="a sweep of unlearning runs needs training rows"):
        sweep(subject, methods=["finetune"], intensities=[0.5])
