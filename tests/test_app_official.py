"""The Load page's "Official dataset on this machine" source (CelebA, CUB-200-2011, Waterbirds),
driven with Streamlit's AppTest on miniature replicas of the releases, and the SubjectSpec
fields behind it.

Every test starts from ``reliability_kit.open_app`` (a tiny folder dataset and a small CNN
checkpoint already loaded, so that nothing is trained before the test's own choice).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from reliability_kit import close_app, model_file, open_app
from test_app import _texts, no_exceptions, settle
from test_datasets_official import make_celeba, make_cub, make_waterbirds

from bamu_core.workflows import dataset_choices, dataset_defaults
from dashboard.subjects import SubjectSpec


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("official")
    return {
        "celeba": make_celeba(base / "celeba"),
        "cub": make_cub(base / "cub_release"),  # the CUB_200_2011 folder
        "waterbirds": make_waterbirds(base / "waterbirds"),
    }


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A seeded, untrained small CNN with two classes."""
    return model_file(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


@pytest.fixture
def app(tmp_path):
    at = open_app(tmp_path)
    no_exceptions(at)
    yield at
    close_app(at)


def choose(at, dataset: str, root) -> None:
    """Pick the official-dataset source, the dataset, and type its root folder."""
    at.radio(key="load_source").set_value("official").run()
    at.selectbox(key="load_dataset").set_value(dataset).run()
    at.text_input(key=f"load_root_{dataset}").input(str(root)).run()


def small(at, *, size: int = 16, max_per_split: int | None = None) -> None:
    if max_per_split is not None:
        at.number_input(key="load_max_per_split").set_value(max_per_split).run()
    at.number_input(key="load_image_size").set_value(size).run()


def use_checkpoint(at, path: Path) -> None:
    at.radio(key="load_model").set_value("checkpoint").run()
    at.file_uploader(key="load_ckpt").upload(path.name, path.read_bytes()).run()


def load(at):
    assert not at.button(key="load_button").disabled, _texts(at.caption)
    at.button(key="load_button").click()
    settle(at)
    no_exceptions(at)
    assert not at.error, _texts(at.error)
    return at


def card(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# --- the page ----------------------------------------------------------------------------------


def test_celeba_trains_a_baseline_and_every_page_uses_it(app, roots):
    choose(app, "celeba", roots["celeba"])
    no_exceptions(app)
    assert not app.error, _texts(app.error)
    assert app.selectbox(key="load_celeba_target").value == "Smiling"  # the CLI's defaults
    assert app.multiselect(key="load_celeba_sensitive").value == ["Male"]
    assert "Smiling" not in app.multiselect(key="load_celeba_sensitive").options  # the target is not a group
    app.multiselect(key="load_celeba_sensitive").select("Young").run()
    small(app, max_per_split=12)
    load(app)

    spec = app.session_state["spec"]
    assert spec.dataset == "celeba" and spec.checkpoint is None and spec.image_size == 16
    assert dict(spec.dataset_options) == {"target": "Smiling", "sensitive": ("Male", "Young"), "max_per_split": 12}
    assert "CelebA: Smiling, groups by Male and Young" in _texts(app.header)
    assert card(app) == {"Classes": "2", "Groups": "2", "Train images": "12", "Test images": "6"}
    counts = app.dataframe[0].value  # training split, group x class
    assert list(counts.index) == ["not Male", "Male"] and list(counts.columns) == ["not Smiling", "Smiling", "total"]
    assert counts["total"].sum() == 12
    assert "baseline trained on the biased training split" in " ".join(_texts(app.markdown))
    assert "celeba-Smiling-by-Male-Young" in " ".join(_texts(app.sidebar.markdown))
    assert sum(len(i.value) for i in app.image) == 6  # every test image shown under its group

    attr = next(s for s in app.selectbox if s.label == "Group attribute to audit")
    assert attr.options == ["Male", "Young", "Male × Young"]  # and their intersection
    attr.select("Young").run()
    no_exceptions(app)
    assert list(app.dataframe[0].value.index) == ["not Young", "Young"]

    app.switch_page("pages/audit.py")
    settle(app)
    no_exceptions(app)
    assert not app.error, _texts(app.error)
    assert list(app.dataframe[1].value["group"]) == ["not Young", "Young"]
    assert sum(app.dataframe[1].value["n"]) == 6
    app.switch_page("pages/unlearn.py")
    settle(app)
    no_exceptions(app)
    # the replica is balanced, so the default forget set (bias-aligned images) is empty and says so
    assert any("selected no training images" in e for e in _texts(app.error)), _texts(app.error)
    app.selectbox(key="ul_strategy").set_value("group").run()
    app.selectbox(key="ul_group").set_value("Young").run()
    no_exceptions(app)
    assert not app.error, _texts(app.error)
    assert "group 'Young'" in " ".join(_texts(app.markdown))


def test_cub_by_part_visibility_with_a_checkpoint(app, roots, checkpoint):
    choose(app, "cub", roots["cub"].parent)  # the release's parent folder is accepted too
    assert app.radio(key="load_cub_source").value == "visibility"
    assert app.selectbox(key="load_cub_part").value == "beak"
    app.selectbox(key="load_cub_part").set_value("left eye").run()
    app.number_input(key="load_cub_classes").set_value(2).run()
    small(app)
    use_checkpoint(app, checkpoint)
    load(app)

    spec = app.session_state["spec"]
    assert dict(spec.dataset_options) == {"group_source": "visibility", "part": "left eye", "classes": 2}
    assert spec.describe() == "CUB-200-2011: groups by left eye visibility, 2 species · checkpoint tiny.safetensors"
    # 2 species x 10 images: 4 of each in the official test split
    assert card(app) == {"Classes": "2", "Groups": "2", "Train images": "10", "Test images": "8"}
    counts = app.dataframe[1].value  # test split
    assert list(counts.index) == ["left eye hidden", "left eye visible"]
    assert list(counts.columns) == ["Black footed Albatross", "Laysan Albatross", "total"]
    # replica: image k of a class (0..9) has its left eye hidden when k % 3 == 0; test images are k = 6..9
    assert counts.loc["left eye hidden"].tolist() == [2, 2, 4] and counts.loc["left eye visible"].tolist() == [2, 2, 4]
    assert "checkpoint tiny.safetensors" in " ".join(_texts(app.markdown))
    app.switch_page("pages/audit.py")
    settle(app)
    no_exceptions(app)
    assert list(app.dataframe[1].value["group"]) == ["left eye hidden", "left eye visible"]
    app.switch_page("pages/load.py")  # the choices come back with the page: nothing new to load
    settle(app)
    no_exceptions(app)
    assert (
        app.selectbox(key="load_cub_part").value == "left eye" and app.number_input(key="load_cub_classes").value == 2
    )
    assert app.button(key="load_button").label == "Loaded" and app.button(key="load_button").disabled


def test_cub_by_an_attribute_lists_the_release_attributes(app, roots, checkpoint):
    choose(app, "cub", roots["cub"])
    app.radio(key="load_cub_source").set_value("attribute").run()
    no_exceptions(app)
    box = app.selectbox(key="load_cub_attribute")
    assert box.options == [
        "has_bill_shape::curved_(up_or_down)",
        "has_bill_shape::dagger",
        "has_wing_color::blue",
        "has_wing_color::brown",
    ]
    assert app.button(key="load_button").disabled
    assert "To load: choose the attribute that defines the groups." in _texts(app.caption)
    box.set_value("has_wing_color::blue").run()
    app.number_input(key="load_cub_classes").set_value(2).run()
    small(app)
    use_checkpoint(app, checkpoint)
    load(app)
    assert "CUB-200-2011: species, groups by has_wing_color::blue" in _texts(app.header)
    assert list(app.dataframe[0].value.index) == ["not has_wing_color::blue", "has_wing_color::blue"]


def test_waterbirds_has_its_four_groups_and_a_wrong_root_is_refused_first(app, roots, checkpoint, tmp_path):
    before = app.session_state["spec"]
    choose(app, "waterbirds", tmp_path)  # a folder without metadata.csv
    no_exceptions(app)
    errors = " ".join(_texts(app.error))
    assert "Could not open Waterbirds" in errors and "metadata.csv not found" in errors, errors
    assert app.button(key="load_button").disabled
    assert app.session_state["spec"] == before

    app.text_input(key="load_root_waterbirds").input(str(roots["waterbirds"])).run()
    assert not app.error, _texts(app.error)
    small(app, max_per_split=8)
    use_checkpoint(app, checkpoint)
    load(app)
    assert card(app) == {"Classes": "2", "Groups": "2", "Train images": "8", "Test images": "8"}
    attr = next(s for s in app.selectbox if s.label == "Group attribute to audit")
    assert attr.options == ["place", "group"]
    attr.select("group").run()
    assert card(app)["Groups"] == "4"
    assert list(app.dataframe[1].value.index) == [
        "landbird on land",
        "landbird on water",
        "waterbird on land",
        "waterbird on water",
    ]


@pytest.mark.parametrize(
    "dataset, root, message",
    [
        ("celeba", "missing", r"CelebA root .*missing is not a folder"),
        ("celeba", "cub", r"CelebA: list_attr_celeba\.txt not found"),
        ("cub", "celeba", r"CUB-200-2011: parts\.txt not found"),
    ],
)
def test_a_wrong_root_shows_the_loaders_message_and_nothing_loads(app, roots, dataset, root, message):
    import re

    before = app.session_state["spec"]
    path = roots["celeba"] / "missing" if root == "missing" else roots[root]
    choose(app, dataset, path)
    no_exceptions(app)
    errors = _texts(app.error)
    assert len(errors) == 1 and re.search(message, errors[0]), errors
    assert errors[0].startswith(f"Could not open {dict(celeba='CelebA', cub='CUB-200-2011')[dataset]} at ")
    assert app.button(key="load_button").disabled
    assert "To load: fix the root folder." in _texts(app.caption)
    assert app.session_state["spec"] == before


def test_a_missing_image_fails_the_load_with_its_name(app, roots, checkpoint, tmp_path):
    """The list files are fine, so Load is offered; the read names the missing image."""
    root = tmp_path / "celeba"
    shutil.copytree(roots["celeba"], root)
    (root / "img_align_celeba" / "000007.jpg").unlink()
    choose(app, "celeba", root)
    small(app)
    use_checkpoint(app, checkpoint)
    app.button(key="load_button").click()
    settle(app)
    no_exceptions(app)
    errors = " ".join(_texts(app.error))
    assert "Could not load the model and data" in errors and "000007.jpg" in errors, errors
    assert app.button(key="retry_load") is not None
    assert not app.metric  # no dataset card


# --- SubjectSpec -------------------------------------------------------------------------------


def test_a_spec_takes_exactly_one_source_and_checks_the_dataset_fields():
    with pytest.raises(ValueError, match="exactly one of them"):
        SubjectSpec(scenario="binary-colored-digits", dataset="celeba", dataset_root="/d")
    with pytest.raises(ValueError, match="exactly one of them"):
        SubjectSpec(data_dir="/d", meta_csv="/d/m.csv", dataset="waterbirds", dataset_root="/w")
    with pytest.raises(ValueError, match="dataset must be one of celeba, cub, waterbirds, got 'imagenet'"):
        SubjectSpec(dataset="imagenet", dataset_root="/d")
    with pytest.raises(ValueError, match="dataset 'cub' needs its root folder"):
        SubjectSpec(dataset="cub")
    with pytest.raises(ValueError, match="dataset 'cub' needs its root folder"):
        SubjectSpec(dataset="cub", dataset_root="  ")
    with pytest.raises(ValueError, match="only apply with an official dataset"):
        SubjectSpec(scenario="binary-colored-digits", dataset_root="/d")
    with pytest.raises(ValueError, match="only apply with an official dataset"):
        SubjectSpec(scenario="binary-colored-digits", dataset_options={"target": "Smiling"})
    with pytest.raises(ValueError, match=r"\['target'\] do not apply to waterbirds; its options are max_per_split"):
        SubjectSpec(dataset="waterbirds", dataset_root="/w", dataset_options={"target": "Smiling"})
    with pytest.raises(ValueError, match="'max_per_split' must be a number, a string or a list"):
        SubjectSpec(dataset="celeba", dataset_root="/c", dataset_options={"max_per_split": {"train": 3}})


def test_equal_choices_give_equal_specs_and_keys_and_old_keys_stay():
    from dataclasses import asdict

    from bamu_core.storage import config_hash

    a = SubjectSpec(
        dataset="celeba",
        dataset_root="/c",
        image_size=16,
        dataset_options={"target": "Smiling", "sensitive": ["Male", "Young"], "max_per_split": None},
    )
    b = SubjectSpec(
        dataset="celeba",
        dataset_root=Path("/c"),
        image_size=16,
        dataset_options=[("sensitive", ("Male", "Young")), ("target", "Smiling")],
    )
    assert a == b and hash(a) == hash(b) and a.key == b.key
    assert a.dataset_options == (("sensitive", ("Male", "Young")), ("target", "Smiling")) and a.dataset_root == "/c"
    assert (
        a.key
        != SubjectSpec(
            dataset="celeba",
            dataset_root="/c",
            image_size=16,
            dataset_options={"target": "Smiling", "sensitive": ["Young", "Male"]},
        ).key
    )
    assert (
        a.key
        != SubjectSpec(dataset="celeba", dataset_root="/other", image_size=16, dataset_options=a.dataset_options).key
    )
    # a spec without an official dataset, scenario options, epochs or a name keeps the key it had before those
    # fields existed
    demo = SubjectSpec(scenario="binary-colored-digits")
    new_fields = ("dataset", "dataset_root", "dataset_options", "scenario_options", "epochs", "name", "audit_only")
    old = {k: v for k, v in asdict(demo).items() if k not in new_fields}
    assert demo.key == config_hash(old) and len(old) == 10


def test_describe_names_the_dataset_and_its_choices():
    def spec(dataset, **options):
        return SubjectSpec(dataset=dataset, dataset_root="/r", dataset_options=options)

    assert spec("celeba").describe() == "CelebA: Smiling by Male · baseline"
    assert spec("celeba", target="Eyeglasses", sensitive=["Male", "Young"], max_per_split=500).describe() == (
        "CelebA: Eyeglasses by Male, Young, at most 500 images per split · baseline"
    )
    assert spec("cub").describe() == "CUB-200-2011: groups by beak visibility · baseline"
    assert spec("cub", group_source="attribute", attribute="has_wing_color::blue", classes=5).describe() == (
        "CUB-200-2011: groups by has_wing_color::blue, 5 species · baseline"
    )
    wb = SubjectSpec(dataset="waterbirds", dataset_root="/r", checkpoint="/u/m.pt", arch="small_cnn")
    assert wb.describe() == "Waterbirds · checkpoint m.pt"
    assert dataset_defaults("waterbirds") == {"max_per_split": None}
    assert dataset_defaults("celeba") == {"target": "Smiling", "sensitive": "Male", "max_per_split": None}


def test_load_reports_reading_progress_and_stops_when_asked(roots, checkpoint):
    from bamu_core.training import StopRequested

    spec = SubjectSpec(
        dataset="celeba",
        dataset_root=str(roots["celeba"]),
        image_size=8,
        arch="small_cnn",
        checkpoint=str(checkpoint),
        dataset_options={"sensitive": ["Male"], "max_per_split": 4},
    )
    calls = []
    subject = spec.load(progress=lambda ev: calls.append((ev.step, ev.total, ev.loss)))
    assert subject.scenario.options["sensitive"] == ["Male"] and len(subject.scenario.train) == 4
    assert [c[:2] for c in calls][-1] == (12, 12) and all(math.isnan(c[2]) for c in calls)
    with pytest.raises(StopRequested):
        spec.load(should_stop=lambda: True)


def test_dataset_choices_read_the_list_files(roots):
    assert dataset_choices("celeba", roots["celeba"])["attributes"][:3] == [
        "5_o_Clock_Shadow",
        "Arched_Eyebrows",
        "Attractive",
    ]
    cub = dataset_choices("cub", roots["cub"], group_source="attribute")
    assert cub["parts"][:2] == ["back", "beak"] and cub["attributes"][2] == "has_wing_color::blue"
    assert dataset_choices("waterbirds", roots["waterbirds"]) == {}
    with pytest.raises(FileNotFoundError, match="Waterbirds: metadata.csv not found"):
        dataset_choices("waterbirds", roots["celeba"])
