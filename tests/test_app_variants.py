"""The Load page's "Variant" expander for patch-cifar10 (target class, corner, patch size, pattern),
driven with Streamlit's AppTest, and the SubjectSpec field behind it (``scenario_options``).

Every test starts from ``reliability_kit.open_app`` (a tiny folder dataset and a small CNN checkpoint
already loaded, so that nothing is trained before the test's own choice).
"""

from __future__ import annotations

import pytest
from reliability_kit import close_app, open_app
from test_app import _texts, no_exceptions, settle

import bamu_core.workflows as workflows
from dashboard.subjects import SubjectSpec


@pytest.fixture
def app(tmp_path):
    at = open_app(tmp_path)
    no_exceptions(at)
    yield at
    close_app(at)


@pytest.fixture
def load_calls(monkeypatch, binary_baseline):
    """``load_subject`` recording its keyword arguments and loading the (cached) binary digits instead."""
    calls = []
    real = workflows.load_subject

    def fake(**kwargs):
        calls.append(kwargs)
        return real(scenario="binary-colored-digits")

    monkeypatch.setattr(workflows, "load_subject", fake)
    return calls


def choose_patch_cifar10(at) -> None:
    at.radio(key="load_source").set_value("builtin").run()
    at.selectbox(key="load_scenario").set_value("patch-cifar10").run()
    no_exceptions(at)


def click_load(at) -> None:
    assert not at.button(key="load_button").disabled, _texts(at.caption)
    at.button(key="load_button").click()
    settle(at)
    no_exceptions(at)


def test_the_variant_expander_appears_for_patch_cifar10_only_with_todays_defaults(app):
    app.radio(key="load_source").set_value("builtin").run()
    app.selectbox(key="load_scenario").set_value("colored-digits").run()
    assert not [e for e in app.expander if e.label == "Variant"]
    choose_patch_cifar10(app)
    assert [e.label for e in app.expander].count("Variant") == 1
    assert app.selectbox(key="load_patch_target").value == "airplane"
    assert app.selectbox(key="load_patch_corner").value == "bottom-right"
    assert app.selectbox(key="load_patch_corner").options == ["bottom-right", "bottom-left", "top-left", "top-right"]
    assert app.number_input(key="load_patch_size").value == 5
    assert app.selectbox(key="load_patch_pattern").value == "checkerboard"
    assert app.selectbox(key="load_patch_pattern").options == ["checkerboard", "solid", "stripes"]


def test_the_default_variant_loads_patch_cifar10_without_options(app, load_calls):
    choose_patch_cifar10(app)
    click_load(app)
    spec = app.session_state["spec"]
    assert spec == SubjectSpec(scenario="patch-cifar10") and spec.scenario_options == ()
    assert load_calls and load_calls[-1]["scenario"] == "patch-cifar10"
    assert load_calls[-1]["scenario_options"] is None


def test_a_chosen_variant_reaches_the_load_call_as_scenario_options(app, load_calls):
    choose_patch_cifar10(app)
    app.selectbox(key="load_patch_target").set_value("cat").run()
    app.selectbox(key="load_patch_corner").set_value("top-left").run()
    app.number_input(key="load_patch_size").set_value(3).run()
    app.selectbox(key="load_patch_pattern").set_value("stripes").run()
    no_exceptions(app)
    assert not app.error, _texts(app.error)
    click_load(app)
    options = {"target_class": "cat", "corner": "top-left", "patch_size": 3, "pattern": "stripes"}
    spec = app.session_state["spec"]
    assert spec.scenario == "patch-cifar10" and dict(spec.scenario_options) == options
    assert load_calls[-1]["scenario"] == "patch-cifar10" and load_calls[-1]["scenario_options"] == options
    # once loaded, the same choice is "Loaded"; back to the defaults it is another spec again
    assert app.button(key="load_button").disabled
    app.selectbox(key="load_patch_pattern").set_value("checkerboard").run()
    assert not app.button(key="load_button").disabled


# --- SubjectSpec.scenario_options ---------------------------------------------------------------


def test_scenario_options_are_checked_frozen_without_defaults_and_keep_old_keys():
    from dataclasses import asdict

    from bamu_core.storage import config_hash

    a = SubjectSpec(scenario="patch-cifar10", scenario_options={"corner": "top-left", "target_class": "cat"})
    b = SubjectSpec(
        scenario="patch-cifar10",
        scenario_options=[("target_class", "cat"), ("corner", "top-left"), ("pattern", "checkerboard")],
    )
    assert a == b and a.key == b.key and a.scenario_options == (("corner", "top-left"), ("target_class", "cat"))
    plain = SubjectSpec(scenario="patch-cifar10")
    assert SubjectSpec(scenario="patch-cifar10", scenario_options={"patch_size": 5}) == plain
    assert a.key != plain.key
    assert a.describe() == "patch-cifar10 (corner=top-left, target_class=cat) · baseline"
    # a spec without scenario options, epochs or a name keeps the key it had before those fields existed
    fields = ("dataset", "dataset_root", "dataset_options", "scenario_options", "epochs", "name", "audit_only")
    old = {k: v for k, v in asdict(plain).items() if k not in fields}
    assert plain.key == config_hash(old) and len(old) == 10
    demo = SubjectSpec(scenario="binary-colored-digits")
    assert demo.is_demo
    assert not SubjectSpec(scenario="binary-colored-digits", scenario_options={"aligned_fraction": 0.8}).is_demo
    with pytest.raises(
        ValueError, match=r"\['colour'\] do not apply to patch-cifar10; its options are cifar_root, target_class"
    ):
        SubjectSpec(scenario="patch-cifar10", scenario_options={"colour": "red"})
    with pytest.raises(ValueError, match=r"\['seed'\] do not apply"):
        SubjectSpec(scenario="patch-cifar10", scenario_options={"seed": 1})
    with pytest.raises(ValueError, match="only apply with a built-in scenario"):
        SubjectSpec(data_dir="/d", meta_csv="/d/m.csv", scenario_options={"corner": "top-left"})
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        SubjectSpec(scenario="nope", scenario_options={"corner": "top-left"})


@pytest.mark.shared
def test_a_spec_with_scenario_options_loads_that_variant(cifar_root):
    spec = SubjectSpec(
        scenario="patch-cifar10",
        arch="resnet20",
        scenario_options={"corner": "top-right", "pattern": "solid", "per_class": 20, "val_per_class": 5},
    )
    subject = spec.load()
    sc = subject.scenario
    assert sc.bias_region == (0, 27, 5, 5) and sc.options["pattern"] == "solid" and len(sc.test) == 200
