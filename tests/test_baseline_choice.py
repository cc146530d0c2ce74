"""The baseline suggested for data without a recipe (architecture and epochs from its size), the
folder data's own name, intersectional groups across splits and the slow scenarios' load times."""

from __future__ import annotations

import numpy as np
import pytest
from reliability_kit import QUICK_RUN, write_folder

from bamu_core.models import BaselineChoice, suggest_baseline
from bamu_core.workflows import LOAD_TIMES, expected_load_time, load_subject
from dashboard.baseline_choice import csv_training_size
from dashboard.subjects import SubjectSpec, group_attr_choices, group_attr_label, with_group_attr


@pytest.mark.parametrize(
    "n, size, classes, arch, epochs",
    [
        (24, 64, 2, "small_cnn", 30),  # 1 step an epoch: the most epochs
        (1_999, 64, 2, "small_cnn", 19),  # 16 steps an epoch: 300 / 16 rounded up
        (2_000, 64, 2, "resnet20", 19),
        (5_000, 64, 200, "small_cnn", 8),  # 25 images per class are few, whatever the total
        (5_000, 64, 2, "resnet20", 8),
        (5_000, 128, 2, "resnet18", 8),  # large images need an early downsampling stem
        (20_000, 64, 10, "resnet20", 5),
        (20_001, 64, 10, "resnet18", 5),
        (162_770, 64, 2, "resnet18", 5),  # many steps an epoch: the fewest epochs
    ],
)
def test_the_suggested_baseline_follows_the_data_size(n, size, classes, arch, epochs):
    choice = suggest_baseline(n, size, classes)
    assert isinstance(choice, BaselineChoice)
    assert (choice.arch, choice.epochs) == (arch, epochs)
    assert choice.why.endswith(f"{epochs} epochs of {-(-n // 128):,} step{'s' if n > 128 else ''} each")


def test_the_suggestion_says_why_in_words():
    assert suggest_baseline(24, 16, 2).why.startswith("a small network learns from so few images (12 per class)")
    assert "downsamples them early" in suggest_baseline(5_000, 128, 2).why


@pytest.mark.parametrize("args", [(0, 64, 2), (10, 64, 1), (10, 0, 2), (10.5, 64, 2), (True, 64, 2)])
def test_the_suggestion_refuses_sizes_that_are_not_sizes(args):
    with pytest.raises(ValueError, match="must be an integer"):
        suggest_baseline(*args)


def test_a_folder_without_arch_gets_the_suggested_baseline_and_says_why(tmp_path):
    root, meta = write_folder(tmp_path / "d", n_per=6)
    subject = load_subject(data_dir=root, meta_csv=meta, image_size=16)
    n = len(subject.scenario.train)
    choice = suggest_baseline(n, 16, 2)
    assert subject.arch == choice.arch == "small_cnn"
    assert f"small_cnn chosen for {n} training images because {choice.why}" in subject.notes
    # given ones win; no note then
    chosen = load_subject(data_dir=root, meta_csv=meta, image_size=16, arch="resnet20", epochs=1)
    assert chosen.arch == "resnet20" and not any("chosen for" in note for note in chosen.notes)


def test_the_command_line_uses_the_same_suggestion_and_takes_epochs(tmp_path, capsys):
    from bamu_core.cli import main

    root, meta = write_folder(tmp_path / "d", n_per=6)
    common = ["audit", "--data", str(root), "--meta", str(meta), "--image-size", "16", "--saliency-per-group", "0"]
    assert main([*common, "--epochs", "2"]) == 0, capsys.readouterr().err
    assert "model: small_cnn" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*common, "--epochs", "0"])
    assert "--epochs: must be an integer from 1 to 1000" in capsys.readouterr().err


def test_a_named_folder_is_shown_and_stored_under_its_name(tmp_path):
    from bamu_core.runs import RunStore
    from bamu_core.workflows import unlearn

    root, meta = write_folder(tmp_path / "dataset-c72ac17d", n_per=6)
    subject = SubjectSpec(data_dir=str(root), meta_csv=str(meta), image_size=16, epochs=2, name="faces").load()
    assert (subject.scenario.name, subject.scenario.title) == ("folder:faces", "Image folder faces")
    store = RunStore(tmp_path / "runs")
    run = unlearn(subject, method="finetune", intensity=0.2, forget="group:a", store=store, **QUICK_RUN)
    assert store.get(run.run_id).scenario == "folder:faces"
    with pytest.raises(ValueError, match="name only applies to a data folder"):
        SubjectSpec(scenario="colored-digits", name="faces")


def test_new_spec_fields_keep_the_keys_of_specs_without_them():
    plain = SubjectSpec(data_dir="/d/x", meta_csv="/d/x/m.csv")
    assert SubjectSpec(data_dir="/d/x", meta_csv="/d/x/m.csv", epochs=None, name=None).key == plain.key
    named = SubjectSpec(data_dir="/d/x", meta_csv="/d/x/m.csv", name="faces")
    assert named.key != plain.key and named.describe() == "folder faces · baseline"
    chosen = SubjectSpec(data_dir="/d/x", meta_csv="/d/x/m.csv", arch="resnet20", epochs=3)
    assert chosen.describe() == "folder x · baseline resnet20, 3 epochs"
    with pytest.raises(ValueError, match="epochs must be a whole number"):
        SubjectSpec(data_dir="/d/x", meta_csv="/d/x/m.csv", epochs=0)
    with pytest.raises(ValueError, match="epochs only apply to a baseline"):
        SubjectSpec(scenario="colored-digits", checkpoint="/m.pt", epochs=3)


def test_the_csv_gives_the_training_size_before_loading(tmp_path):
    root, meta = write_folder(tmp_path / "d", n_per=10)  # 40 rows, 2 classes, no split column
    size = csv_training_size(meta, "label")
    assert (size.images, size.classes, size.exact) == (24, 2, False)  # the loader trains on 60 %
    assert size.words() == "about 24 training images"
    rows = meta.read_text().splitlines()
    splits = ["train"] * 30 + ["val"] * 4 + ["test"] * 6
    meta.write_text("\n".join([rows[0] + ",split"] + [r + f",{s}" for r, s in zip(rows[1:], splits)]) + "\n")
    assert csv_training_size(meta, "label") == type(size)(images=30, classes=2, exact=True)
    with pytest.raises(ValueError, match="no column 'kind'"):
        csv_training_size(meta, "kind")


def _two_attribute_folder(tmp_path):
    root, meta = write_folder(tmp_path / "d", n_per=8)
    rows = meta.read_text().splitlines()
    ages = ["young", "old"] * (len(rows) // 2)
    meta.write_text("\n".join([rows[0] + ",age"] + [r + f",{a}" for r, a in zip(rows[1:], ages)]) + "\n")
    return root, meta


def test_an_intersection_is_numbered_alike_in_every_split(digits):
    from dataclasses import replace

    # the validation split lacks every conflicting pair: alone it would number its groups 0, 1, ...
    val = digits.val.subset(np.flatnonzero(digits.val.attrs["alignment"] == 0))
    sc = replace(digits, val=val)
    assert len(val.with_intersection("colour", "alignment").group_names["colour×alignment"]) < len(
        digits.test.with_intersection("colour", "alignment").group_names["colour×alignment"]
    )
    inter = sc.with_intersection("colour", "alignment")
    names = inter.test.group_names["colour×alignment"]
    for split in ("train", "val", "test"):
        data = getattr(inter, split)
        assert data.group_attr == "colour×alignment" and data.group_names["colour×alignment"] == names
        colour, align = data.attrs["colour"], data.attrs["alignment"]
        expected = [
            f"{data.group_names['colour'][c]} & {data.group_names['alignment'][a]}" for c, a in zip(colour, align)
        ]
        assert [names[g] for g in data.groups] == expected


def test_the_dashboard_offers_and_applies_intersections(tmp_path):
    root, meta = _two_attribute_folder(tmp_path)
    subject = load_subject(data_dir=root, meta_csv=meta, group_cols=["site", "age"], image_size=16, epochs=1)
    assert group_attr_choices(subject.scenario) == ["site", "age", "site×age"]
    assert group_attr_label("site×age") == "site × age"
    crossed = with_group_attr(subject, "site×age")
    assert crossed.scenario.test.group_names["site×age"] == ["a & old", "a & young", "b & old", "b & young"]
    assert group_attr_choices(crossed.scenario) == ["site", "age", "site×age"]  # not crossed twice
    assert with_group_attr(crossed, "age").scenario.test.group_attr == "age"


def test_a_pair_where_one_attribute_splits_the_other_is_not_offered(tmp_path):
    root, meta = _two_attribute_folder(tmp_path)
    rows = meta.read_text().splitlines()
    zones = [f"{r.split(',')[2]}-{r.split(',')[3]}" for r in rows[1:]]  # site x age, already crossed
    meta.write_text("\n".join([rows[0] + ",zone"] + [r + f",{z}" for r, z in zip(rows[1:], zones)]) + "\n")
    subject = load_subject(data_dir=root, meta_csv=meta, group_cols=["site", "age", "zone"], image_size=16, epochs=1)
    assert group_attr_choices(subject.scenario) == ["site", "age", "zone", "site×age"]


def test_slow_scenarios_state_their_load_time_from_one_table():
    cifar = expected_load_time("patch-cifar10")
    assert cifar is LOAD_TIMES["patch-cifar10"]
    assert cifar.source == "benchmarks/results/cifar_patch.md"
    assert cifar.words().startswith("about 2.4 min on a 2-core CPU")
    assert expected_load_time("binary-colored-digits") is None
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / cifar.source).read_text()
    import re

    # the figure cited is the median of the measured baseline training times of the table
    times = [int(t) for t in re.findall(r"\| (\d+)(?: \(cached\))? \| \d+ \|\n", text)]
    assert len(times) == 3 and sorted(times)[1] == round(cifar.cpu_seconds)
