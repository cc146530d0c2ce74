"""Forget-set strategies: exact indices on hand-made data, the retain complement, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from bamu_core.data import ImageData, Scenario
from bamu_core.forget import ForgetSet, aligned_mask, list_strategies, select_forget

# 8 training images: label y, colour c (the bias), aligned when c == y
Y = np.array([0, 0, 0, 1, 1, 1, 0, 1])
C = np.array([0, 0, 1, 1, 1, 0, 0, 1])
ALIGNED = np.flatnonzero(C == Y)  # 0, 1, 3, 4, 6, 7


def _images(colour: np.ndarray) -> torch.Tensor:
    """4x4 images whose only content is a bright channel = the colour."""
    x = torch.zeros(len(colour), 3, 4, 4, dtype=torch.uint8)
    for i, c in enumerate(colour):
        x[i, int(c)] = 200
    return x


def _data(y, c, *, alignment_names=None, with_cf=True) -> ImageData:
    attrs = {"colour": c}
    names = {"colour": ["red", "green"]}
    if alignment_names is not None:
        attrs["alignment"] = (c != y).astype(np.int64)
        names["alignment"] = alignment_names
    return ImageData(
        images=_images(c),
        labels=y,
        attrs=attrs,
        group_names=names,
        group_attr="colour",
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        counterfactual=_images(1 - c) if with_cf else None,
    )


def _scenario(train: ImageData, val: ImageData | None = None) -> Scenario:
    val = val or train
    return Scenario(
        name="tiny",
        title="tiny",
        bias="colour",
        class_names=["a", "b"],
        train=train,
        val=val,
        test=val,
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        default_arch="small_cnn",
        bias_attr="colour",
    )


class ColourModel(nn.Module):
    """Predicts the class whose channel is bright: right exactly when the colour agrees."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0]]))

    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3)))


def test_registry_has_the_strategies():
    assert set(list_strategies()) >= {"group", "aligned", "counterfactual", "influence", "indices"}


def test_group_selects_every_image_of_the_group_by_name_or_id():
    sc = _scenario(_data(Y, C))
    by_name = select_forget(sc, "group:green")
    by_id = select_forget(sc, "group", group=1, attr="colour")
    np.testing.assert_array_equal(by_name.indices, [2, 3, 4, 7])
    np.testing.assert_array_equal(by_id.indices, [2, 3, 4, 7])
    assert by_name.description == "4 training images of group 'green' (colour)"


def test_aligned_uses_the_alignment_attribute_named_aligned():
    sc = _scenario(_data(Y, C, alignment_names=["aligned", "conflicting"]))
    fs = select_forget(sc, "aligned")
    np.testing.assert_array_equal(fs.indices, ALIGNED)
    assert "alignment = 'aligned'" in fs.description


def test_aligned_follows_patch_cifar10s_naming_where_1_is_the_patched_target():
    # patch-cifar10 stores alignment = 1 for "patched target"; here the flag marks the conflicting ones
    data = _data(Y, C, alignment_names=["other", "patched target"])
    mask, rule = aligned_mask(data)
    np.testing.assert_array_equal(np.flatnonzero(mask), np.flatnonzero(C != Y))
    assert rule == "alignment = 'patched target'"


def test_aligned_without_an_alignment_attribute_uses_the_lift_rule():
    # P(class | colour) >= 1.5 P(class): here both colours are 2/3 their own class vs 1/2 overall
    data = _data(np.array([0, 0, 1, 1, 1, 0]), np.array([0, 0, 0, 1, 1, 1]), with_cf=False)
    mask, rule = aligned_mask(data, bias_attr="colour", lift=1.3)
    np.testing.assert_array_equal(np.flatnonzero(mask), [0, 1, 3, 4])
    assert "P(class | colour)" in rule
    assert not aligned_mask(data, bias_attr="colour", lift=1.5)[0].any()  # 2/3 < 1.5 * 1/2


def test_counterfactual_finds_the_images_right_only_through_the_bias():
    sc = _scenario(_data(Y, C))
    fs = select_forget(sc, "counterfactual", model=ColourModel(), device="cpu")
    np.testing.assert_array_equal(fs.indices, ALIGNED)
    assert fs.details == {"correct": 6, "correct_counterfactual": 2}


def test_counterfactual_needs_a_model_and_counterfactual_images():
    with pytest.raises(ValueError, match="needs a model"):
        select_forget(_scenario(_data(Y, C)), "counterfactual")
    with pytest.raises(ValueError, match="counterfactual images"):
        select_forget(_scenario(_data(Y, C, with_cf=False)), "counterfactual", model=ColourModel())


def test_influence_ranks_the_bias_carrying_images_first(binary_digits, binary_baseline):
    fs = select_forget(binary_digits, "influence:60", model=binary_baseline[0], device="cpu")
    assert len(fs) == 60 and len(fs.details["effect"]) == 60
    aligned_share = (binary_digits.train.attrs["alignment"][fs.indices] == 0).mean()
    assert aligned_share >= 0.9  # the training split is 90 % aligned; the top of the ranking more so
    effects = np.array(list(fs.details["effect"].values()))
    assert (effects < 0).all()  # removing each of them lowers the bias to first order


def test_influence_takes_the_architecture_explicitly(binary_digits, binary_baseline):
    model = binary_baseline[0]
    implicit = select_forget(binary_digits, "influence:20", model=model, device="cpu")
    explicit = select_forget(binary_digits, "influence:20", model=model, device="cpu", arch="small_cnn")
    np.testing.assert_array_equal(implicit.indices, explicit.indices)
    # strategies that do not take it ignore it
    assert len(select_forget(binary_digits, "aligned", arch="small_cnn")) == len(
        select_forget(binary_digits, "aligned")
    )


def test_indices_accepts_lists_and_strings_and_checks_the_range():
    sc = _scenario(_data(Y, C))
    np.testing.assert_array_equal(select_forget(sc, "indices:5,1,5").indices, [1, 5])
    np.testing.assert_array_equal(select_forget(sc, "indices", indices=[7, 0]).indices, [0, 7])
    with pytest.raises(ValueError, match="outside the training split"):
        select_forget(sc, "indices:3,8")


@pytest.mark.parametrize(
    "strategy, match",
    [
        ("nope", "unknown forget strategy 'nope'"),
        ("indices:,", "selected no training images"),
        ("indices:0,1,2,3,4,5,6,7", "nothing is left to retain"),
        ("group", "needs the option 'group'"),
        ("group:blue", "is not a group of 'colour'"),
        ("aligned:x", "takes no ':value' shorthand"),
    ],
)
def test_bad_strategies_raise_one_clear_error(strategy, match):
    with pytest.raises(ValueError, match=match):
        select_forget(_scenario(_data(Y, C, alignment_names=["aligned", "conflicting"])), strategy)


def test_retain_is_the_complement_and_can_be_subsampled():
    fs = ForgetSet(np.array([1, 4]), "indices", "two", n_train=8)
    np.testing.assert_array_equal(fs.retain(), [0, 2, 3, 5, 6, 7])
    sub = fs.retain(max_size=3, seed=0)
    assert len(sub) == 3 and set(sub) <= {0, 2, 3, 5, 6, 7}
    np.testing.assert_array_equal(sub, fs.retain(max_size=3, seed=0))  # seeded
    forget, retain = fs.split(_data(Y, C))
    np.testing.assert_array_equal(forget.labels, Y[[1, 4]])
    np.testing.assert_array_equal(retain.labels, Y[[0, 2, 3, 5, 6, 7]])
    assert forget.has_counterfactual


def test_forget_set_rejects_out_of_range_indices():
    with pytest.raises(ValueError, match="must lie in 0..7"):
        ForgetSet(np.array([8]), "indices", "bad", n_train=8)


def test_strategy_registry_errors_are_input_errors():
    from bamu_core.errors import BamuInputError
    from bamu_core.forget import (
        STRATEGIES,
        get_strategy,
        list_strategies,
        register_strategy,
        strategy_summary,
    )

    assert STRATEGIES.names() == list_strategies()
    assert STRATEGIES.entry("influence").meta["needs_model"] and not STRATEGIES.entry("group").meta["needs_model"]
    assert strategy_summary("group") == "every training image of one subgroup"
    for call in (lambda: get_strategy("nope"), lambda: strategy_summary("nope")):
        with pytest.raises(BamuInputError, match="unknown forget strategy 'nope'; available: .*group"):
            call()
    with pytest.raises(ValueError, match="forget strategy 'group' is already registered"):
        register_strategy("group", summary="again")(lambda *a, **k: None)
