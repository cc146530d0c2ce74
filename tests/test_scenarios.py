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


# --------------------------------------------------------------------------------------------
# patch-cifar10 variants: target class, corner, patch size, pattern
# --------------------------------------------------------------------------------------------


def _tiny_cifar(cifar_root, **options):
    return load_scenario("patch-cifar10", cifar_root=cifar_root, per_class=20, val_per_class=5, **options)


def _region_is(images: torch.Tensor, region, patch: np.ndarray) -> np.ndarray:
    top, left, h, w = region
    return (images[:, :, top : top + h, left : left + w] == torch.as_tensor(patch)).flatten(1).all(1).numpy()


@pytest.mark.shared
@pytest.mark.parametrize(
    "corner, region",
    [
        ("bottom-right", (28, 28, 4, 4)),
        ("bottom-left", (28, 0, 4, 4)),
        ("top-left", (0, 0, 4, 4)),
        ("top-right", (0, 28, 4, 4)),
    ],
)
def test_patch_cifar10_corner_puts_the_patch_in_those_pixels(cifar_root, corner, region):
    from bamu_core.data.scenarios import patch_pattern

    sc = _tiny_cifar(cifar_root, corner=corner, patch_size=4, pattern="stripes")
    assert sc.bias_region == region
    patch = patch_pattern("stripes", 4)
    top, left, h, w = region
    outside = torch.ones(32, 32, dtype=torch.bool)
    outside[top : top + h, left : left + w] = False
    for split in ("train", "val", "test"):
        d = getattr(sc, split)
        patched = d.attrs["patch"] == 1
        assert patched.any() and (~patched).any()
        assert np.array_equal(_region_is(d.images_u8, region, patch), patched)
        assert not _region_is(d.counterfactual_u8, region, patch)[patched].any()
        # the image and its counterfactual differ only inside the corner's square
        assert torch.equal(d.images_u8[:, :, outside], d.counterfactual_u8[:, :, outside])
    assert sc.options["corner"] == corner if corner != "bottom-right" else "corner" not in sc.options
    assert corner in sc.bias and "striped" in sc.bias


@pytest.mark.shared
def test_patch_cifar10_default_variant_is_the_checkerboard_bottom_right_as_before(cifar_root):
    default = _tiny_cifar(cifar_root)
    explicit = _tiny_cifar(
        cifar_root, target_class="airplane", corner="bottom-right", patch_size=5, pattern="checkerboard"
    )
    other = _tiny_cifar(cifar_root, corner="top-left")
    patch = checkerboard_patch(5)
    assert default.bias_region == (27, 27, 5, 5)
    assert default.title == "CIFAR-10 with a patch shortcut for 'airplane'"
    assert "5x5 checkerboard sits in the bottom-right corner" in default.bias
    # the options (and so the baseline cache key) are those of the scenario before corner and pattern existed
    assert set(default.options) == {
        "cifar_root", "target_class", "patch_fraction", "other_fraction", "patch_size", "per_class", "seed"
    }  # fmt: skip
    assert explicit.options == default.options
    assert "lr" in default.unlearning["all"] and "ga" in default.unlearning
    for split in ("train", "val", "test"):
        d, e, o = getattr(default, split), getattr(explicit, split), getattr(other, split)
        assert torch.equal(d.images_u8, e.images_u8) and torch.equal(d.counterfactual_u8, e.counterfactual_u8)
        patched = d.attrs["patch"] == 1
        mask = torch.as_tensor(patched)[:, None, None, None]
        # the same images are patched whatever the corner, and the patch-free version is the raw image
        assert np.array_equal(patched, o.attrs["patch"] == 1)
        raw = torch.where(mask, d.counterfactual_u8, d.images_u8)
        assert torch.equal(raw, torch.where(mask, o.counterfactual_u8, o.images_u8))
        # the default = the raw image with the checkerboard stamped bottom-right on the patched ones
        stamped = raw.clone()
        stamped[:, :, 27:, 27:] = torch.as_tensor(patch)
        assert torch.equal(d.images_u8, torch.where(mask, stamped, raw))
        assert torch.equal(d.counterfactual_u8, torch.where(mask, raw, stamped))


def test_patch_patterns_are_deterministic_uint8_squares_that_differ():
    from bamu_core.data import PATCH_PATTERNS, patch_pattern

    assert list(PATCH_PATTERNS) == ["checkerboard", "solid", "stripes"]
    assert np.array_equal(patch_pattern("checkerboard", 5), checkerboard_patch(5))
    for size in (1, 2, 5, 16):
        patches = {name: patch_pattern(name, size) for name in PATCH_PATTERNS}
        for name, patch in patches.items():
            assert patch.dtype == np.uint8 and patch.shape == (3, size, size)
            assert np.array_equal(patch, patch_pattern(name, size))
        names = list(patches)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                assert not np.array_equal(patches[a], patches[b]), (a, b, size)
    assert len(np.unique(patch_pattern("solid", 4).reshape(3, -1), axis=1)[0]) == 1  # one colour
    with pytest.raises(ValueError, match="pattern must be one of checkerboard, solid, stripes, got 'dots'"):
        patch_pattern("dots", 4)


@pytest.mark.shared
def test_patch_cifar10_variant_follows_the_target_class(cifar_root):
    sc = _tiny_cifar(cifar_root, target_class="cat", pattern="solid", patch_size=3)
    cat = 3
    assert sc.target_class == cat and sc.class_names[cat] == "cat"
    assert sc.title == "CIFAR-10 with a 3x3 solid patch (bottom-right) as a shortcut for 'cat'"
    assert "'cat'" in sc.bias and "solid red" in sc.bias
    assert sc.options["target_class"] == "cat" and sc.options["pattern"] == "solid" and sc.options["patch_size"] == 3
    # no tuned unlearning settings for a variant: only the selection metric
    assert sc.unlearning == {"all": {"selection_metric": "demographic_parity_difference"}}
    for split in ("train", "test"):
        d = getattr(sc, split)
        assert d.group_names["alignment"] == ["other", "patched target"]
        expected = (d.attrs["patch"] == 1) & (d.labels == cat)
        assert np.array_equal(d.attrs["alignment"] == 1, expected) and expected.any()
    target = sc.train.labels == cat
    assert sc.train.attrs["patch"][target].mean() > 0.3 and sc.train.attrs["patch"][~target].mean() < 0.05
    for other in ({"corner": "top-left"}, {"patch_size": 4}, {"pattern": "stripes"}):
        assert set(_tiny_cifar(cifar_root, **other).unlearning) == {"all"}


@pytest.mark.shared
def test_patch_cifar10_variants_never_share_a_cached_baseline_key(cifar_root):
    from bamu_core.storage import config_hash

    keys = {
        config_hash(_tiny_cifar(cifar_root, **o).options)
        for o in ({}, {"corner": "top-left"}, {"pattern": "solid"}, {"target_class": "cat"}, {"patch_size": 3})
    }
    assert len(keys) == 5


@pytest.mark.parametrize(
    "options, message",
    [
        ({"corner": "middle"}, "corner must be one of bottom-right, bottom-left, top-left, top-right, got 'middle'"),
        ({"pattern": "dots"}, "pattern must be one of checkerboard, solid, stripes, got 'dots'"),
        ({"target_class": "zebra"}, "target_class must be one of airplane, automobile, .*truck, got 'zebra'"),
        ({"target_class": 3}, "target_class must be one of airplane"),
        ({"patch_size": 0}, r"patch_size must be an integer in 1\.\.16, got 0"),
        ({"patch_size": 17}, r"patch_size must be an integer in 1\.\.16, got 17"),
        ({"patch_size": 2.5}, r"patch_size must be an integer in 1\.\.16, got 2\.5"),
        ({"patch_fraction": 1.5}, r"patch_fraction must be a number in \[0, 1\], got 1\.5"),
        ({"other_fraction": "a lot"}, r"other_fraction must be a number in \[0, 1\], got 'a lot'"),
        ({"per_class": "ten"}, r"per_class must be an integer >= 1 or None \(all\), got 'ten'"),
        ({"val_per_class": 0}, r"val_per_class must be an integer >= 1, got 0"),
    ],
)
def test_patch_cifar10_refuses_bad_options_naming_the_allowed_values(tmp_path, options, message):
    from bamu_core.errors import BamuInputError

    # the options are checked before the data is looked for
    with pytest.raises(BamuInputError, match=message):
        load_scenario("patch-cifar10", cifar_root=tmp_path / "absent", **options)


@pytest.mark.parametrize("value", ["many", None, 1.5, True])
def test_digit_scenarios_refuse_an_aligned_fraction_that_is_not_in_0_1(value):
    from bamu_core.errors import BamuInputError

    for name in ("colored-digits", "binary-colored-digits"):
        with pytest.raises(BamuInputError, match=r"aligned_fraction must be in \[0, 1\], got "):
            load_scenario(name, aligned_fraction=value)
