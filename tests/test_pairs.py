"""Counterfactual pairs: the flip rate on tiny hand-made models, the record, the run, the report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from bamu_core.data import ImageData
from bamu_core.errors import BamuInputError
from bamu_core.insight import InsightOptions, counterfactual_pairs, flip_rate, pairs_picture
from bamu_core.report import build_report
from bamu_core.results import PAIRS_PICTURE, CounterfactualPairs, UnlearnReport

RED, BLUE = (255, 0, 0), (0, 0, 255)


def tiny_data(n: int = 40, *, counterfactual: bool = True) -> ImageData:
    """4x4 images: the class is where the shape is (top half: 0, bottom half: 1), the colour
    (red / blue, independent of the class) is the attribute; the counterfactual swaps the colour."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=n)
    colour = np.arange(n) % 2
    shape = np.zeros((n, 4, 4), dtype=np.float32)
    shape[labels == 0, :2] = 1.0
    shape[labels == 1, 2:] = 1.0

    def paint(colours):
        rgb = np.array([RED, BLUE], dtype=np.float32)[colours]  # (n, 3)
        return torch.as_tensor((shape[:, None] * rgb[:, :, None, None]).astype(np.uint8))

    return ImageData(
        images=paint(colour),
        labels=labels,
        attrs={"colour": colour},
        group_names={"colour": ["red", "blue"]},
        group_attr="colour",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        counterfactual=paint(1 - colour) if counterfactual else None,
        flips=("colour",) if counterfactual else (),
    )


class ShapeOnly(nn.Module):
    """Predicts from where the ink is, summed over channels: a colour swap changes nothing."""

    def forward(self, x):
        ink = x.sum(1)
        return torch.stack([ink[:, :2].mean((1, 2)), ink[:, 2:].mean((1, 2))], 1)


class ColourOnly(nn.Module):
    """Predicts red -> 0, blue -> 1: every colour swap flips the prediction."""

    def forward(self, x):
        return torch.stack([x[:, 0].mean((1, 2)), x[:, 2].mean((1, 2))], 1)


def test_a_model_that_ignores_the_colour_flips_nothing():
    data = tiny_data()
    pairs = counterfactual_pairs(ShapeOnly(), data, unlearned=ShapeOnly(), attr="colour", n_boot=100, device="cpu")
    for rate in (pairs.before, pairs.after):
        assert rate.rate == 0.0 and rate.flipped == 0 and rate.n == len(data)
        assert (rate.ci.low, rate.ci.high) == (0.0, 0.0)
        assert [g.rate for g in rate.groups] == [0.0, 0.0]
    assert all(e.before_original == e.label == e.before_flipped for e in pairs.examples)  # shape alone is exact


def test_a_model_that_reads_only_the_colour_flips_everything():
    data = tiny_data()
    pairs = counterfactual_pairs(ColourOnly(), data, unlearned=ShapeOnly(), attr="colour", n_boot=100, device="cpu")
    assert pairs.before.rate == 1.0 and pairs.before.flipped == len(data)
    assert (pairs.before.ci.low, pairs.before.ci.high) == (1.0, 1.0)
    assert [(g.group, g.n, g.rate) for g in pairs.before.groups] == [("red", 20, 1.0), ("blue", 20, 1.0)]
    assert pairs.after.rate == 0.0
    assert pairs.reading.startswith("Before: 100 % [100, 100] of predictions change when only the colour changes;")
    assert "after: 0 % [0, 0]" in pairs.reading
    ex = pairs.examples[0]
    assert (ex.before_original, ex.before_flipped) == (
        data.attrs["colour"][ex.index],
        1 - data.attrs["colour"][ex.index],
    )
    assert len(pairs.examples) == 8 and pairs.n == len(data)


def test_flip_rate_interval_holds_the_value_and_is_seeded():
    changed = np.r_[np.ones(12, bool), np.zeros(28, bool), np.ones(3, bool), np.zeros(57, bool)]
    groups = np.r_[np.zeros(40, int), np.ones(60, int)]
    rate = flip_rate(changed, groups, ["a", "b"], n_boot=500, seed=3)
    assert rate.rate == pytest.approx(0.15) and rate.flipped == 15 and rate.n == 100
    assert 0.0 < rate.ci.low < 0.15 < rate.ci.high < 0.3
    a, b = rate.groups
    assert (a.group, a.n, a.flipped, a.rate) == ("a", 40, 12, pytest.approx(0.3))
    assert (b.group, b.n, b.flipped, b.rate) == ("b", 60, 3, pytest.approx(0.05))
    assert a.ci.low <= 0.3 <= a.ci.high and b.ci.low <= 0.05 <= b.ci.high
    assert flip_rate(changed, groups, ["a", "b"], n_boot=500, seed=3) == rate
    assert flip_rate(changed, groups, n_boot=0).ci is None


def test_data_without_counterfactuals_has_no_pairs():
    with pytest.raises(BamuInputError, match="no counterfactual"):
        counterfactual_pairs(ShapeOnly(), tiny_data(counterfactual=False))
    assert InsightOptions().pairs and not InsightOptions.off().pairs
    with pytest.raises(BamuInputError, match="pair_examples"):
        InsightOptions(pair_examples=-1)


def test_pairs_picture_is_a_png_of_the_pairs():
    import io

    from PIL import Image

    data = tiny_data()
    png = pairs_picture(data, [0, 1, 2, 3, 4], per_row=4, scale=1)
    pic = np.asarray(Image.open(io.BytesIO(png)))
    assert pic.shape == (4 + 6 + 4, 4 * 9 + 3 * 6, 3)  # two rows; four pairs of 4 + 1 + 4 px a row
    assert (pic[:4, :4] == data.images_u8[0].numpy().transpose(1, 2, 0)).all()
    assert (pic[:4, 5:9] == data.counterfactual_u8[0].numpy().transpose(1, 2, 0)).all()


def _report_with_pairs() -> UnlearnReport:
    pairs = counterfactual_pairs(
        ColourOnly(), tiny_data(), unlearned=ShapeOnly(), attr="colour", class_names=["top", "bottom"], n_boot=50
    )
    return UnlearnReport(method="dfr", intensity=0.5, pairs=pairs)


def test_json_round_trip_and_old_documents():
    run = _report_with_pairs()
    doc = json.loads(json.dumps(run.to_json()))
    back = UnlearnReport.from_json(doc)
    assert isinstance(back.pairs, CounterfactualPairs)
    assert back.pairs == run.pairs
    assert back.to_json() == doc
    old = dict(doc)
    old.pop("pairs")
    assert UnlearnReport.from_json(old).pairs is None
    assert "pairs" not in UnlearnReport(method="dfr").to_json()


def test_report_has_the_pairs_section(tmp_path):
    run = _report_with_pairs()
    png = tmp_path / PAIRS_PICTURE
    png.write_bytes(pairs_picture(tiny_data(), [e.index for e in run.pairs.examples]))
    page = build_report(run, artifacts={PAIRS_PICTURE: png})
    assert 'id="pairs"' in page and 'href="#pairs"' in page
    assert "100 % [100, 100]" in page  # the reading
    assert "top &rarr; bottom" in page or "bottom &rarr; top" in page
    assert page.count("data:image/png;base64,") == 1  # the pairs picture, not repeated in the Grad-CAM gallery
    assert 'id="images"' not in page
    assert 'id="pairs"' not in build_report(UnlearnReport(method="dfr"))


def test_an_unlearning_run_carries_the_pairs(binary_baseline):
    from bamu_core.workflows import load_subject, unlearn

    subject = load_subject(scenario="binary-colored-digits")
    run = unlearn(subject, method="dfr", intensity=0.5, n_boot=0, gradcam_images=0, mia_samples=50)
    p = run.pairs
    assert p is not None and p.attr == "colour" and not p.spatial and p.n == len(subject.scenario.test)
    assert p.classes == subject.scenario.class_names
    assert 0.0 <= p.before.rate <= 1.0 and p.before.ci.low <= p.before.rate <= p.before.ci.high
    assert p.after.ci.low <= p.after.rate <= p.after.ci.high
    assert len(p.examples) == 8 and {g.group for g in p.before.groups} == {"orange", "blue"}
    assert run.timings["insight_pairs"] < 3.0  # four passes over 599 images: ~0.4 s on an idle CPU, more on a busy one
    assert UnlearnReport.from_json(json.loads(json.dumps(run.to_json()))).pairs == p
    off = unlearn(
        subject, method="dfr", intensity=0.5, n_boot=0, gradcam_images=0, mia_samples=50, insight=InsightOptions.off()
    )
    assert off.pairs is None and "insight_pairs" not in off.timings


def test_the_cli_prints_the_pairs_and_writes_them_to_json(tmp_path, capsys, binary_baseline):
    from bamu_core.cli import main

    out = tmp_path / "run.json"
    argv = ["unlearn", "--scenario", "binary-colored-digits", "--method", "newton", "--intensity", "0.5"]
    argv += ["--out", str(tmp_path / "m.safetensors"), "--json", str(out)]
    assert main([*argv, "--no-leakage", "--no-cohorts", "--no-representation"]) == 0
    text = capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert f"\ncounterfactual pairs: {doc['pairs']['reading']}" in text
    assert doc["pairs"]["reading"].startswith("Before: ") and doc["pairs"]["attr"] == "colour"
