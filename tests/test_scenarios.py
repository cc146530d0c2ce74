import numpy as np
import pytest
import torch

from bamu_core.data import batches, checkerboard_patch, list_scenarios, load_scenario


def test_builtin_scenarios_are_listed():
    assert {"colored-digits", "binary-colored-digits", "patch-cifar10"} <= set(list_scenarios())


def test_unknown_scenario_is_named_in_the_error():
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        load_scenario("nope")


@pytest.mark.parametrize("name", ["colored-digits", "binary-colored-digits"])
def test_digit_scenarios_are_deterministic_and_splits_disjoint(name):
    a, b = load_scenario(name), load_scenario(name)
    for split in ("train", "val", "test"):
        da, db = getattr(a, split), getattr(b, split)
        assert torch.equal(da.images_u8, db.images_u8)
        assert np.array_equal(da.labels, db.labels)
        assert np.array_equal(da.groups, db.groups)
    assert len(a.train) + len(a.val) + len(a.test) == 1797  # every sklearn digit used once
    other = load_scenario(name, seed=1)
    assert not torch.equal(other.train.images_u8, a.train.images_u8)


def test_colored_digits_bias_is_in_train_only(digits):
    train_conflicting = digits.train.attrs["alignment"].mean()
    test_conflicting = digits.test.attrs["alignment"].mean()
    assert 0.02 < train_conflicting < 0.09  # ~5 % conflicting
    assert 0.8 < test_conflicting < 0.97  # uniform colours: ~90 % conflicting
    # aligned means the colour id equals the class id
    aligned = digits.train.attrs["alignment"] == 0
    assert np.array_equal(digits.train.attrs["colour"][aligned], digits.train.labels[aligned])


def test_binary_digits_colour_agrees_with_target_in_train_only(binary_digits):
    tr, te = binary_digits.train, binary_digits.test
    agree_train = (tr.attrs["colour"] == 1 - tr.labels).mean()
    agree_test = (te.attrs["colour"] == 1 - te.labels).mean()
    assert 0.85 < agree_train < 0.95
    assert 0.4 < agree_test < 0.6
    assert set(np.unique(tr.labels)) == {0, 1}


def test_counterfactual_changes_colour_but_not_shape(digits):
    d = digits.test
    x, cf = d.images_u8[:20].float(), d.counterfactual_u8[:20].float()
    assert not torch.equal(x, cf)

    # same digit strokes: the brightness pattern, scaled to its maximum, is identical
    def pattern(t):
        m = t.amax(1)
        return m / m.flatten(1).amax(1)[:, None, None]

    assert torch.allclose(pattern(x), pattern(cf), atol=0.03)


def test_items_are_image_label_group_index(digits):
    x, y, g, i = digits.test[5]
    assert x.shape == (3, 28, 28) and x.dtype == torch.float32
    assert (y, g, i) == (digits.test.labels[5], digits.test.groups[5], 5)


def test_batches_cover_every_index_once(digits):
    seen = []
    for x, y, g, idx in batches(digits.val, batch_size=64, shuffle=True, seed=3):
        assert x.shape[0] == y.shape[0] == g.shape[0] == idx.shape[0]
        seen.extend(idx.tolist())
    assert sorted(seen) == list(range(len(digits.val)))


def test_group_views_and_intersections(digits):
    view = digits.test.with_group("alignment")
    assert view.group_attr == "alignment" and digits.test.group_attr == "colour"
    inter = digits.test.with_intersection("alignment", "digit")
    names = inter.group_names[inter.group_attr]
    assert "aligned & 0" in names and len(np.unique(inter.groups)) == len(names)
    with pytest.raises(ValueError, match="unknown group attribute"):
        digits.test.with_group("shoe size")


def test_scenario_card_counts_add_up(digits):
    card = digits.card()
    assert card["splits"]["test"]["n"] == len(digits.test)
    total = sum(sum(row) for row in card["splits"]["test"]["counts"]["colour"].values())
    assert total == len(digits.test)


@pytest.mark.shared
def test_patch_cifar10_stamps_the_patch_where_it_says(cifar_root):
    sc = load_scenario("patch-cifar10", cifar_root=cifar_root, per_class=50, val_per_class=10)
    top, left, h, w = sc.bias_region
    patch = torch.as_tensor(checkerboard_patch(h))
    for split in ("train", "test"):
        d = getattr(sc, split)
        region = d.images_u8[:, :, top : top + h, left : left + w]
        has_patch = (region == patch).flatten(1).all(1).numpy()
        assert np.array_equal(has_patch, d.attrs["patch"] == 1)
        cf_region = d.counterfactual_u8[:, :, top : top + h, left : left + w]
        assert not (cf_region == patch).flatten(1).all(1).numpy()[d.attrs["patch"] == 1].any()
    target = sc.train.labels == sc.target_class
    assert 0.3 < sc.train.attrs["patch"][target].mean() < 0.7
    assert sc.train.attrs["patch"][~target].mean() < 0.05
    assert 0.35 < sc.test.attrs["patch"].mean() < 0.65
    assert (len(sc.train), len(sc.val), len(sc.test)) == (400, 100, 500)


def test_patch_cifar10_without_data_explains_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="--cifar-root"):
        load_scenario("patch-cifar10", cifar_root=tmp_path / "absent")


def test_scenario_registry_errors_are_input_errors_and_summaries_come_from_it():
    from bamu_core.data import SCENARIOS, scenario_summary
    from bamu_core.errors import BamuInputError

    assert SCENARIOS.names() == list_scenarios()
    assert "colour" in scenario_summary("colored-digits")
    with pytest.raises(BamuInputError, match="unknown scenario 'nope'; available: .*colored-digits"):
        load_scenario("nope")
    with pytest.raises(BamuInputError, match="unknown scenario"):
        scenario_summary("nope")
    with pytest.raises(ValueError, match="scenario 'colored-digits' is already registered"):
        from bamu_core.data import register_scenario

        register_scenario("colored-digits", "again")(lambda **k: None)


def test_the_binary_demo_describes_its_own_colours(binary_digits):
    """The description names, for low and high digits, the colour most of their training images have."""
    train = binary_digits.train
    names = train.group_names["colour"]
    majority = {
        label: names[int(np.bincount(train.attrs["colour"][train.labels == label]).argmax())] for label in (0, 1)
    }
    assert f"low digits {majority[0]}, high digits {majority[1]}" in binary_digits.bias
