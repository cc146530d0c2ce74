"""The audit workflow and `bamu audit`: one inference pass, intervals, saliency, gallery, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from bamu_core.cli import main
from bamu_core.metrics import audit_metrics
from bamu_core.workflows import Subject, audit


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run faster on one thread, above all on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def subject(binary_digits):
    from bamu_core.models import build_model

    torch.manual_seed(0)
    model = build_model("small_cnn", num_classes=2).eval()
    return Subject(scenario=binary_digits, model=model, arch="small_cnn", model_source="untrained")


@pytest.fixture
def checkpoint(subject, tmp_path):
    from bamu_core.models import save_weights

    path = tmp_path / "untrained.safetensors"
    save_weights(subject.model, path)
    return path


def test_audit_runs_the_model_once_and_matches_the_metrics(subject):
    calls = []
    handle = subject.model.register_forward_hook(lambda *_: calls.append(1))
    try:
        result = audit(subject, batch_size=256, saliency_per_group=0, device="cpu")
    finally:
        handle.remove()
    data = subject.scenario.test
    assert len(calls) == math.ceil(len(data) / 256)  # one pass over the split, nothing else
    with torch.no_grad():
        preds = subject.model(data.images(np.arange(len(data)))).argmax(1).numpy()
    expected = audit_metrics(
        y_true=data.labels, y_pred=preds, groups=data.groups, group_names=["orange", "blue"], num_classes=2
    )
    for key in ("utility", "groups", "fairness", "fairness_ci", "utility_ci", "per_class_dp"):
        assert result.to_json()[key] == expected[key]
    assert result.saliency == {"enabled": False, "images": 0, "groups": []}
    assert result.n == len(data) and result.group_attr == "colour" and result.split == "test"
    assert set(result.timing) == {"inference", "metrics", "cohorts", "saliency"}  # cohorts: bamu_core.insight


def test_audit_with_saliency_intersection_and_user_box(subject, tmp_path):
    result = audit(
        subject,
        split="val",
        n_boot=50,
        intersect=("colour", "alignment"),
        saliency_per_group=3,
        region=(0, 0, 14, 14),
        gallery_dir=tmp_path / "g",
        gallery_k=2,
        gallery_rule="random",
        device="cpu",
    )
    names = [g.group for g in result.groups]
    assert names == ["orange & aligned", "orange & conflicting", "blue & aligned", "blue & conflicting"]
    assert result.group_attr == "colour×alignment" and result.split == "val"
    assert result.bootstrap["n_boot"] == 50
    sal = result.saliency
    assert sal["enabled"] and sal["region"] == [0, 0, 14, 14] and sal["region_source"] == "user box"
    assert sal["region_area"] == pytest.approx(0.25) and sal["images"] == 12
    assert all(0 <= row["region_share"] <= 1 and "foreground_share" in row for row in sal["groups"])
    assert result.gallery["files"] == 4 * 2 + 4 + 1
    assert (tmp_path / "g" / "index.json").exists()
    json.dumps(result.to_json(), allow_nan=False)


def test_bad_audit_arguments(subject):
    with pytest.raises(ValueError, match="split"):
        audit(subject, split="holdout")
    with pytest.raises(ValueError, match="unknown group attribute"):
        audit(subject, intersect=("colour", "hat"))
    with pytest.raises(ValueError, match="n_boot"):
        audit(subject, n_boot=-5, saliency_per_group=0)


def test_cli_audit_prints_intervals_and_writes_json_and_gallery(checkpoint, tmp_path, capsys):
    out, gallery = tmp_path / "audit.json", tmp_path / "gallery"
    argv = ["audit", "--scenario", "binary-colored-digits", "--model", str(checkpoint), "--device", "cpu"]
    argv += [
        "--json",
        str(out),
        "--gallery",
        str(gallery),
        "--gallery-k",
        "2",
        "--n-boot",
        "40",
        "--saliency-per-group",
        "4",
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    for needle in (
        "95% CI",
        "demographic parity ratio",
        "equal opportunity difference",
        "accuracy gap",
        "share on strokes",
        "orange",
    ):
        assert needle in text
    result = json.loads(out.read_text())
    assert result["bootstrap"]["n_boot"] == 40 and result["saliency"]["images"] == 8
    lo, hi = result["fairness_ci"]["demographic_parity_difference"].values()
    assert lo <= result["fairness"]["demographic_parity_difference"] <= hi
    assert sorted(p.name for p in gallery.iterdir()) == sorted(
        [
            "index.json",
            "orange_mean.png",
            "blue_mean.png",
            "orange_00.png",
            "orange_01.png",
            "blue_00.png",
            "blue_01.png",
        ]
    )


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--n-boot", "-1"], "argument --n-boot: must be an integer from 0 to 10000, got -1"),
        (["--intersect", "colour,hat"], "unknown group attribute 'hat'"),
        (["--region", "20,20,10,10"], "reaches outside the 28x28 image"),
        (["--gallery", "GALLERY", "--gallery-k", "0"], "argument --gallery-k: must be an integer from 1 to 256, got 0"),
    ],
)
def test_cli_audit_bad_input_exits_2_with_one_line(checkpoint, tmp_path, capsys, extra, match):
    extra = [str(tmp_path / "g") if e == "GALLERY" else e for e in extra]
    argv = ["audit", "--scenario", "binary-colored-digits", "--model", str(checkpoint), "--device", "cpu", *extra]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own checks (types and bounds)
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


def test_cli_rejects_a_malformed_region(checkpoint, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["audit", "--scenario", "binary-colored-digits", "--model", str(checkpoint), "--region", "1,2,3"])
    assert exc.value.code == 2 and "TOP,LEFT,HEIGHT,WIDTH" in capsys.readouterr().err
