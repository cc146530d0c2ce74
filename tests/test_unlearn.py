"""Unlearning methods on a tiny model: safety, intensity 0, cancel, divergence, selection, LoRA undo."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from reliability_kit import bars

from bamu_core.data import ImageData
from bamu_core.models import build_model, load_weights
from bamu_core.training import fit, predict
from bamu_core.unlearn import (
    ACCURACY_BOUND,
    INTENSITY_TABLE,
    STATUSES,
    SelectionRule,
    get_method,
    list_methods,
    resolve_hyperparameters,
)
from bamu_core.unlearn._select import Judge

METHODS = [
    "ga",
    "lora",
    "distill",
    "finetune",
    "retrain",
    "newton",
    "counterfactual",
    "random_label",
    "dfr",
    "balanced_finetune",
    "auto",
]
# per-step contracts (no validation split, a step budget); auto's own are in test_auto.py
STEPPED = [m for m in METHODS if m != "auto"]
FAST_AUTO = {"candidates": ["dfr", "finetune"], "lr_scales": [1.0]}
FAST = {"steps": 4, "eval_every": 2, "batch_size": 16}
FAST_RETRAIN = {"epochs": 1, "batch_size": 16}


def _fast(method: str) -> dict:
    if method == "auto":
        return dict(FAST_AUTO)
    return dict(FAST_RETRAIN) if method == "retrain" else dict(FAST)


_tiny = bars  # tiny bar images with a colour shortcut, shared with the reliability suite


@pytest.fixture(scope="module")
def tiny():
    train, val = _tiny(48, 0), _tiny(32, 1)
    torch.manual_seed(0)
    model = build_model("small_cnn", num_classes=2)
    fit(model, train, epochs=2, lr=1e-3, batch_size=16, optimizer="adam")
    aligned = np.flatnonzero(train.attrs["alignment"] == 0)
    forget = train.subset(aligned[:24])
    retain = train.subset(np.setdiff1d(np.arange(len(train)), aligned[:24]))
    return model.eval(), forget, retain, val


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_every_method_is_registered_and_unknown_names_fail():
    assert set(list_methods()) == set(METHODS)
    with pytest.raises(ValueError, match="unknown unlearning method 'nope'"):
        get_method("nope")


@pytest.mark.parametrize("method", STEPPED)
def test_method_changes_weights_and_never_touches_the_input(method, tiny):
    model, forget, retain, _ = tiny
    before = _state(model)
    events = []
    res = get_method(method).run(
        model,
        forget,
        retain,
        intensity=1.0,
        device="cpu",
        val=None,
        hyperparameters=_fast(method),
        progress=events.append,
    )
    assert _same(before, _state(model))  # the caller's model is untouched
    after = res.model.state_dict()
    assert list(after) == list(before)  # same keys: saves and re-loads as the registered arch
    assert not _same(before, _state(res.model))
    load_weights(build_model("small_cnn", num_classes=2), after)
    assert res.status in STATUSES and res.status == "ok" and res.method == method
    assert res.steps >= 1 and res.seconds > 0 and events and events[-1].step == res.steps
    assert not res.model.training and next(res.model.parameters()).device.type == "cpu"


@pytest.mark.parametrize("method", METHODS)
def test_intensity_zero_returns_an_identical_copy(method, tiny):
    model, forget, retain, val = tiny
    res = get_method(method).run(model, forget, retain, intensity=0, val=val, hyperparameters=_fast(method))
    assert res.model is not model
    assert _same(_state(model), _state(res.model))
    assert (res.status, res.steps, res.chosen_step) == ("ok", 0, 0)


@pytest.mark.parametrize("method", STEPPED)
def test_cancel_stops_within_one_step(method, tiny):
    model, forget, retain, val = tiny
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 2  # allow two steps, refuse the third

    hp = {"epochs": 3, "batch_size": 16} if method == "retrain" else {"steps": 20, "eval_every": 1, "batch_size": 16}
    res = get_method(method).run(
        model, forget, retain, intensity=1.0, val=val, hyperparameters=hp, should_stop=should_stop
    )
    assert res.status == "cancelled"
    assert len(calls) == 3  # nothing ran after should_stop() turned true
    if method != "retrain":
        assert res.steps == 2
    load_weights(build_model("small_cnn", num_classes=2), res.model.state_dict())  # a usable model comes back


@pytest.mark.parametrize("method", STEPPED)
def test_a_nan_stops_the_run_as_diverged_and_returns_the_last_good_model(method, tiny):
    model, forget, retain, val = tiny
    poisoned = copy.deepcopy(model)
    poisoned.register_buffer(
        "poison", torch.zeros(1)
    )  # no registered architecture: retrain re-initialises this module, hook included
    poisoned.conv3.register_forward_hook(lambda _m, _i, out: out * float("nan"))
    before = _state(poisoned)
    res = get_method(method).run(poisoned, forget, retain, intensity=1.0, val=None, hyperparameters=_fast(method))
    assert res.status == "diverged", res.message
    assert res.chosen_step == 0
    assert ("not finite" in res.message) or ("nan" in res.message.lower())
    if method != "retrain":  # the last good model is the original
        assert _same(before, _state(res.model))


def test_runs_are_reproducible_for_a_seed(tiny):
    model, forget, retain, val = tiny
    runs = [
        get_method("ga").run(model, forget, retain, intensity=1.0, val=None, hyperparameters=FAST, seed=s)
        for s in (3, 3, 4)
    ]
    assert _same(_state(runs[0].model), _state(runs[1].model))
    assert not _same(_state(runs[0].model), _state(runs[2].model))


def test_lora_adapter_applies_merges_and_undoes_exactly(tiny):
    model, forget, retain, val = tiny
    res = get_method("lora").run(model, forget, retain, intensity=1.0, val=None, hyperparameters={**FAST, "rank": 2})
    adapter = res.extras["lora"]
    assert adapter.config["target_modules"] == ["conv1", "conv2", "conv3", "fc"]
    assert all("lora_" in k for k in adapter.state) and adapter.num_parameters() > 0
    x = val.images(np.arange(len(val)))
    with torch.no_grad():
        original, merged = model(x), res.model(x)
        attached = adapter.apply(model)
        assert not torch.equal(original, merged)
        torch.testing.assert_close(attached(x), merged, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(adapter.merge(model)(x), merged, rtol=1e-4, atol=1e-5)
        undone = attached.unload()
        assert torch.equal(undone(x), original)  # the adapter removed: the original predictions exactly
    assert _same(_state(undone), _state(model))


def test_progress_events_carry_validation_metrics_on_evaluation_steps(tiny):
    model, forget, retain, val = tiny
    events = []
    get_method("ga").run(
        model, forget, retain, intensity=1.0, val=val, hyperparameters={**FAST, "patience": 10}, progress=events.append
    )
    assert [e.step for e in events] == [0, 1, 2, 3, 4]
    for e in events:
        evaluated = e.step % 2 == 0
        assert (e.val_acc is not None) == evaluated and (e.val_dp is not None) == evaluated
        assert (e.forget_acc is not None) == evaluated and (e.retain_acc is not None) == evaluated
        assert e.total == 4
    assert np.isnan(events[0].loss) and np.isfinite(events[1].loss)
    assert events[0].to_json()["loss"] is None and events[1].to_json()["loss"] == events[1].loss


def _val(labels, groups, *, paired: bool = False) -> ImageData:
    """A validation split of blank images; ``paired``: with counterfactuals that flip the group."""
    n = len(labels)
    return ImageData(
        images=torch.zeros(n, 1, 2, 2, dtype=torch.uint8),
        labels=np.array(labels),
        attrs={"g": np.array(groups)},
        group_names={"g": ["a", "b"]},
        group_attr="g",
        mean=(0.0,),
        std=(1.0,),
        counterfactual=torch.ones(n, 1, 2, 2, dtype=torch.uint8) if paired else None,
        flips=("g",) if paired else (),
    )


def _logits(pred, k=2):
    return torch.nn.functional.one_hot(torch.tensor(pred), k).float()


def test_judge_picks_the_largest_admissible_fairness_gain():
    #            group a       group b
    labels = [0, 0, 1, 1, 0, 0, 1, 1] * 5
    groups = [0, 0, 0, 0, 1, 1, 1, 1] * 5
    val = _val(labels, groups)
    empty = val.subset([])
    judge = Judge(
        rule=SelectionRule(max_accuracy_drop=0.1, max_recall_drop=0.0, patience=3),
        val=val,
        forget=empty,
        retain=empty,
        device=torch.device("cpu"),
    )
    # original: group a all predicted 1 (rate 1), group b right (rate 0.5): DP 0.5, accuracy 0.75
    base = judge.evaluate_logits(_logits([1, 1, 1, 1, 0, 0, 1, 1] * 5))
    assert (base.val_acc, base.val_dp) == (0.75, 0.5)
    judge.start(base)
    # step 1: perfect -> DP 0, accuracy 1: the best so far
    assert judge.consider(1, judge.evaluate_logits(_logits(labels))).best
    # step 2: DP 0 too but not better (ties go to the earliest)
    assert not judge.consider(2, judge.evaluate_logits(_logits(labels))).best
    # step 3: everything predicted 0 in both groups: DP 0 by no longer predicting class 1 -> inadmissible
    ev = judge.evaluate_logits(_logits([0] * 40))
    assert ev.val_dp == 0.0 and not judge.admissible(ev)
    verdict = judge.consider(3, ev)
    assert not verdict.best and verdict.stop  # three evaluations without a new best
    assert judge.best_step == 1 and judge.summary()["val_gain"] == 0.5


def test_paired_selection_measures_parity_on_images_and_their_counterfactuals():
    # 3 classes; group b carries the shortcut. Val images as given: [a, a, b, b]; each
    # counterfactual moves the image to the other group.
    labels, groups = [0, 1, 2, 1], [0, 0, 1, 1]
    val = _val(labels, groups, paired=True)
    assert val.paired and val.subset([0, 2]).paired
    empty = val.subset([])
    judge = Judge(rule=SelectionRule(), val=val, forget=empty, retain=empty, device=torch.device("cpu"))
    assert judge.paired
    given = _logits([0, 1, 2, 0], 3)  # accuracy 3/4
    cf = _logits([0, 0, 2, 1], 3)  # image 1 in group b -> class 0; image 3 in group a -> class 1
    ev = judge.evaluate_logits(given, cf_logits=cf)
    # union: group a = images 0, 1 as given + 2, 3 as counterfactuals -> predictions 0, 1, 2, 1
    #        group b = images 2, 3 as given + 0, 1 as counterfactuals -> predictions 2, 0, 0, 0
    # class-0 rates 1/4 vs 3/4, class 1 2/4 vs 0, class 2 1/4 vs 1/4: DP = 0.5
    assert ev.val_dp == pytest.approx(0.5)
    assert ev.val_acc == pytest.approx(0.75)  # accuracy and recalls stay those of the images as given
    assert ev.recalls.tolist() == pytest.approx([1.0, 0.5, 1.0])
    # "auto" with 3 classes: the accuracy gap, on the union too. Group a: images 0, 1 as given and
    # 2, 3 as counterfactuals, all right (1.0); group b: 2, 3 as given, 0, 1 as counterfactuals, 2 of 4 right
    assert judge.metric == "accuracy_gap" and ev.val_fairness == pytest.approx(0.5)
    dp_judge = Judge(
        rule=SelectionRule(metric="demographic_parity_difference"),
        val=val,
        forget=empty,
        retain=empty,
        device=torch.device("cpu"),
    )
    assert dp_judge.evaluate_logits(given, cf_logits=cf).val_fairness == pytest.approx(0.5)
    with pytest.raises(ValueError, match="counterfactual validation images"):
        judge.evaluate_logits(given)
    unpaired = Judge(
        rule=SelectionRule(), val=_val(labels, groups), forget=empty, retain=empty, device=torch.device("cpu")
    )
    # unpaired: group a = images 0, 1 (both right), group b = images 2, 3 (one right): gap 0.5 as
    # well here, but the parity gap differs: class-0 rates 1/2 vs 1/2, class 1 1/2 vs 0, class 2 0 vs 1/2
    assert not unpaired.paired and unpaired.evaluate_logits(given).val_dp == pytest.approx(0.5)


def test_flips_must_name_a_binary_attribute_and_need_counterfactuals():
    base = dict(
        images=torch.zeros(2, 1, 2, 2, dtype=torch.uint8),
        labels=[0, 1],
        attrs={"g": [0, 1], "c": [0, 2]},
        group_names={"g": ["a", "b"], "c": ["x", "y", "z"]},
        group_attr="g",
        mean=(0.0,),
        std=(1.0,),
    )
    with pytest.raises(ValueError, match="needs counterfactual"):
        ImageData(**base, flips=("g",))
    cf = torch.ones(2, 1, 2, 2, dtype=torch.uint8)
    with pytest.raises(ValueError, match="not a binary attribute"):
        ImageData(**base, counterfactual=cf, flips=("c",))
    with pytest.raises(ValueError, match="not a binary attribute"):
        ImageData(**base, counterfactual=cf, flips=("missing",))
    data = ImageData(**base, counterfactual=cf, flips=("g",))
    assert data.paired and not data.with_group("c").paired


def test_judge_accuracy_bound_and_collapse():
    labels = [0, 1] * 20
    groups = [0] * 20 + [1] * 20
    val = _val(labels, groups)
    empty = val.subset([])
    rule = SelectionRule.for_intensity(0.5, {"max_recall_drop": 1.0})
    assert rule.max_accuracy_drop == pytest.approx(0.5 * ACCURACY_BOUND)
    judge = Judge(rule=rule, val=val, forget=empty, retain=empty, device=torch.device("cpu"))
    judge.start(judge.evaluate_logits(_logits(labels)))  # accuracy 1.0
    one_wrong = list(labels)
    one_wrong[0] = 1  # accuracy 0.975: a 2.5-point drop, outside the 1-point bound
    assert not judge.admissible(judge.evaluate_logits(_logits(one_wrong)))
    collapsed = judge.evaluate_logits(_logits([1] * 40))
    assert "one class takes 100%" in judge.collapsed(collapsed) or "fell" in judge.collapsed(collapsed)
    assert judge.consider(1, collapsed).collapse


def test_selection_on_digits_cuts_validation_dp_within_the_bound(binary_digits, binary_baseline):
    from bamu_core.forget import select_forget

    model = binary_baseline[0]
    forget, retain = select_forget(binary_digits, "aligned").split(binary_digits.train)
    res = get_method("newton").run(model, forget, retain, intensity=0.5, val=binary_digits.val, device="cpu")
    sel = res.extras["selection"]
    # the events' loss is the retain cross-entropy of the last layer at each scale
    assert np.isnan(res.history[0].loss) and all(0 < e.loss < 5 for e in res.history[1:])
    assert len({round(e.loss, 6) for e in res.history[1:]}) > 1
    assert res.chosen_step > 0 and sel["metric"] == "demographic_parity_difference"
    assert sel["chosen"]["val_dp"] < 0.5 * sel["original"]["val_dp"]
    assert sel["chosen"]["val_acc"] >= sel["original"]["val_acc"] - 0.5 * ACCURACY_BOUND
    logits = predict(res.model, binary_digits.val)
    assert (logits.argmax(1).numpy() == binary_digits.val.labels).mean() == pytest.approx(
        sel["chosen"]["val_acc"], abs=1e-6
    )


def test_intensity_table_interpolates_and_rejects_unknown_names():
    lo, hi = INTENSITY_TABLE["ga"]["lr"]
    assert resolve_hyperparameters("ga", 1.0)["lr"] == pytest.approx(hi)
    assert resolve_hyperparameters("ga", 0.5)["lr"] == pytest.approx((lo + hi) / 2)
    s_lo, s_hi = INTENSITY_TABLE["ga"]["steps"]
    assert resolve_hyperparameters("ga", 0.5)["steps"] == round((s_lo + s_hi) / 2)
    assert resolve_hyperparameters("ga", 0.5, {"steps": 7})["steps"] == 7
    with pytest.raises(ValueError, match="has no hyper-parameter"):
        resolve_hyperparameters("ga", 0.5, {"rank": 4})


def test_the_table_is_generated_from_the_config_dataclasses():
    import dataclasses

    from bamu_core.errors import BamuInputError
    from bamu_core.unlearn import (
        COMMON,
        CONFIGS,
        CommonConfig,
        config_class,
        hyperparameter_rows,
    )

    assert set(CONFIGS) == set(METHODS) == set(INTENSITY_TABLE)
    for method, cls in CONFIGS.items():
        names = [f.name for f in dataclasses.fields(cls)]
        assert names == list(resolve_hyperparameters(method, 0.5))  # same names, same order
        assert set(INTENSITY_TABLE[method]) <= set(names) and set(COMMON) <= set(names)
        for intensity in (0.2, 1.0):
            assert cls.at_intensity(intensity).to_dict() == resolve_hyperparameters(method, intensity)
        assert all(f.metadata["help"] for f in dataclasses.fields(cls))
    # one default for the selection rule: the config's, which runs use
    assert SelectionRule().patience == CommonConfig.patience == COMMON["patience"] == 8
    assert SelectionRule.for_intensity(1.0, resolve_hyperparameters("ga", 1.0)) == SelectionRule()
    assert config_class("nope") is CommonConfig
    rows = hyperparameter_rows("ga", 0.5, {"steps": 7})
    assert [r.name for r in rows] == list(resolve_hyperparameters("ga", 0.5))
    steps = next(r for r in rows if r.name == "steps")
    assert (steps.value, steps.range) == (7, INTENSITY_TABLE["ga"]["steps"]) and steps.help
    assert next(r for r in rows if r.name == "forget_weight").range is None
    with pytest.raises(ValueError, match="has no hyper-parameter"):
        hyperparameter_rows("ga", 0.5, {"rank": 4})
    with pytest.raises(BamuInputError, match="unknown unlearning method 'nope'"):
        get_method("nope")


def test_the_committed_hyperparameter_doc_matches_its_generator():
    from pathlib import Path

    from bamu_core.unlearn import hyperparameters_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "hyperparameters.md"
    assert doc.read_text(encoding="utf-8") == hyperparameters_markdown(), (
        "regenerate: python -m bamu_core.unlearn docs/hyperparameters.md"
    )
    for method in METHODS:
        assert f"## `{method}`" in hyperparameters_markdown()


@pytest.mark.parametrize("intensity", [-0.1, 1.5, "0.5", float("nan")])
def test_intensity_outside_0_1_is_rejected(intensity, tiny):
    model, forget, retain, _ = tiny
    with pytest.raises(ValueError, match="intensity must be"):
        get_method("ga").run(model, forget, retain, intensity=intensity)


def test_empty_sets_and_missing_counterfactuals_are_rejected(tiny):
    model, forget, retain, _ = tiny
    with pytest.raises(ValueError, match="forget set is empty"):
        get_method("ga").run(model, forget.subset([]), retain, intensity=0.5)
    with pytest.raises(ValueError, match="retain set is empty"):
        get_method("finetune").run(model, forget, retain.subset([]), intensity=0.5)
    plain = copy.copy(forget)
    plain.counterfactual_u8 = None
    with pytest.raises(ValueError, match="needs counterfactual images"):
        get_method("counterfactual").run(model, plain, retain, intensity=0.5)


def test_scenario_defaults_sit_between_the_table_and_user_overrides(binary_digits, binary_baseline):
    from dataclasses import replace

    from bamu_core.workflows import (
        Subject,
        retrain_recipe,
        scenario_hyperparameters,
        unlearn,
    )

    sc = replace(
        binary_digits,
        unlearning={"all": {"lr": (1e-3, 3e-3), "eval_every": 5, "rank": 2}, "ga": {"forget_weight": 0.5}},
    )
    assert scenario_hyperparameters(sc, "ga", 0.5) == {"lr": pytest.approx(2e-3), "eval_every": 5, "forget_weight": 0.5}
    assert scenario_hyperparameters(sc, "lora", 1.0)["rank"] == 2  # only methods that have a name get it
    # a method without gradient steps takes only the selection rule from "all" (its steps are grid points)
    assert scenario_hyperparameters(sc, "newton", 1.0) == {}
    ruled = replace(sc, unlearning={"all": {"steps": (60, 200), "eval_every": 10, "selection_metric": "accuracy_gap"}})
    assert scenario_hyperparameters(ruled, "dfr", 0.75) == {"selection_metric": "accuracy_gap"}
    assert scenario_hyperparameters(ruled, "ga", 0.75) == {
        "steps": 165,
        "eval_every": 10,
        "selection_metric": "accuracy_gap",
    }
    assert scenario_hyperparameters(sc, "retrain", 1.0) == retrain_recipe(sc)
    assert scenario_hyperparameters(binary_digits, "ga", 0.5) == {}
    # the defaults were set for the scenario's own model: another architecture gets the plain table
    assert scenario_hyperparameters(sc, "ga", 0.5, "small_cnn") == scenario_hyperparameters(sc, "ga", 0.5)
    assert scenario_hyperparameters(sc, "ga", 0.5, "resnet18") == {}
    pretrained = replace(sc, baseline={**sc.baseline, "init": "shared-resnet20", "reinit": "layer3"})
    assert retrain_recipe(pretrained, "small_cnn")["init"] == "shared-resnet20"
    assert retrain_recipe(pretrained, "small_cnn")["reinit"] == ["layer3"]
    assert (retrain_recipe(pretrained, "resnet18")["init"], retrain_recipe(pretrained, "resnet18")["reinit"]) == (
        None,
        [],
    )
    # only a pair of numbers is a range: other tuples are plain values
    odd = replace(sc, unlearning={"lora": {"targets": ("conv1", "fc")}})
    assert scenario_hyperparameters(odd, "lora", 0.5) == {"targets": ("conv1", "fc")}
    subject = Subject(scenario=sc, model=binary_baseline[0], arch="small_cnn", model_source="test baseline")
    run = unlearn(
        subject,
        method="ga",
        intensity=0.5,
        hyperparameters={"steps": 2, "forget_weight": 0.25},
        store=None,
        n_boot=0,
        gradcam_images=0,
        mia_samples=50,
    )
    hp = run.hyperparameters
    assert (hp["lr"], hp["eval_every"], hp["forget_weight"], hp["steps"]) == (pytest.approx(2e-3), 5, 0.25, 2)


def test_initial_model_loads_the_pretrained_trunk_and_reinitialises_named_layers(resnet20_path):
    from bamu_core.models import initial_model, read_state_dict

    pretrained = read_state_dict(resnet20_path)
    model = initial_model({"arch": "resnet20", "init": "shared-resnet20", "reinit": ["layer3"]}, num_classes=10, seed=3)
    state = model.state_dict()
    assert torch.equal(state["layer1.0.conv1.weight"], pretrained["layer1.0.conv1.weight"])
    assert torch.equal(state["linear.weight"], pretrained["linear.weight"])
    assert not torch.equal(state["layer3.0.conv1.weight"], pretrained["layer3.0.conv1.weight"])
    again = initial_model({"arch": "resnet20", "init": "shared-resnet20", "reinit": ["layer3"]}, num_classes=10, seed=3)
    assert _same(state, again.state_dict())  # seeded
    with pytest.raises(ValueError, match="does not have"):
        initial_model({"arch": "resnet20", "reinit": ["layer9"]}, num_classes=10)
    with pytest.raises(ValueError, match="unknown init"):
        initial_model({"arch": "resnet20", "init": "imagenet"}, num_classes=10)
    one = initial_model({"arch": "resnet20", "init": "shared-resnet20", "reinit": "layer3"}, num_classes=10, seed=3)
    assert _same(one.state_dict(), state)  # a single name may be given as a string
    assert _same(
        initial_model({"arch": "resnet20", "reinit": None}, num_classes=10, seed=3).state_dict(),
        initial_model({"arch": "resnet20"}, num_classes=10, seed=3).state_dict(),
    )


def test_retrain_follows_the_recipe_starting_point(resnet20_path, monkeypatch):
    from bamu_core.models import build_model, read_state_dict

    pretrained = read_state_dict(resnet20_path)
    data = bars(32, 0)
    model = build_model("resnet20", num_classes=2)
    hp = {
        "epochs": 1,
        "batch_size": 16,
        "lr": 1e-9,
        "optimizer": "sgd",
        "init": "shared-resnet20",
        "reinit": ["linear"],
        "use_cache": False,
    }
    # a 2-class head cannot take the 10-class pretrained weights: a clear error
    with pytest.raises(ValueError):
        get_method("retrain").run(model, data.subset([0]), data, intensity=1.0, hyperparameters=hp)
    model10 = build_model("resnet20", num_classes=10)
    ten = bars(32, 0)
    res = get_method("retrain").run(model10, ten.subset([0]), ten, intensity=1.0, hyperparameters=hp)
    assert "from shared-resnet20 (re-initialised: linear)" in res.message
    # lr 1e-9: the trunk is the pretrained one (BatchNorm statistics move, weights barely)
    got = res.model.state_dict()
    assert torch.allclose(got["layer1.0.conv1.weight"], pretrained["layer1.0.conv1.weight"], atol=1e-6)
    assert not torch.allclose(got["linear.weight"], pretrained["linear.weight"], atol=1e-3)
    # once cached, the oracle loads without the pretrained file
    cached_hp = dict(hp, use_cache=True)
    first = get_method("retrain").run(model10, ten.subset([0]), ten, intensity=1.0, hyperparameters=cached_hp)
    import bamu_core.models.baseline as baseline

    monkeypatch.setattr(baseline, "shared_resnet20_path", lambda: None)
    again = get_method("retrain").run(model10, ten.subset([0]), ten, intensity=1.0, hyperparameters=cached_hp)
    assert again.extras["cached"] and _same(again.model.state_dict(), first.model.state_dict())
    with pytest.raises(FileNotFoundError):  # without a cache it does need the file
        get_method("retrain").run(model10, ten.subset([0]), ten, intensity=1.0, hyperparameters=hp)


def test_a_rate_that_collapses_the_model_is_backed_off(binary_digits, binary_baseline):
    """A rate far too high for the model collapses it at once; the run is tried again at a third of
    the rate until it no longer collapses early, and says so. With ``lr_backoff`` 0 it stays diverged."""
    from bamu_core.forget import select_forget

    model = binary_baseline[0]
    forget, retain = select_forget(binary_digits, "aligned").split(binary_digits.train)
    hp = {"lr": 0.04, "steps": 12, "batch_size": 32}  # Adam; the table's rate is 100 times smaller
    kw = dict(intensity=0.75, val=binary_digits.val, device="cpu", seed=0)
    raw = get_method("finetune").run(model, forget, retain, hyperparameters={**hp, "lr_backoff": 0}, **kw)
    assert raw.status == "diverged" and raw.steps <= 6 and "lr_backoff" not in raw.extras
    res = get_method("finetune").run(model, forget, retain, hyperparameters=hp, **kw)
    tries = res.extras["lr_backoff"]
    assert [t["lr"] for t in tries] == pytest.approx([hp["lr"] / 3**k for k in range(len(tries))])
    assert tries[0]["status"] == "diverged" and 1 < len(tries) <= 5
    best = max(t["val_gain"] for t in tries)
    assert res.hyperparameters["lr"] == pytest.approx([t["lr"] for t in tries if t["val_gain"] == best][-1])
    assert res.message.startswith("learning rate backed off: collapsed at 0.04 (step ")
    last = tries[-1]  # the retries stop at a run that did not collapse early and kept a gain
    assert last["status"] != "diverged" or (last["steps"] > hp["steps"] // 2 and last["val_gain"] > 0), tries
    assert res.extras["selection"]["val_gain"] > 0 and res.chosen_step > 0
    assert all(torch.isfinite(p).all() for p in res.model.parameters())
