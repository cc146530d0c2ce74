"""Grad-CAM / HiResCAM maps on hand-built models, model hygiene, regions, galleries, the patch bias."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from bamu_core import explain as E

pytest.importorskip("captum")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run faster on one thread, above all on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------------------------
# a hand-built model whose maps are known
# --------------------------------------------------------------------------------------------


class HandBuilt(nn.Module):
    """Input (N, 2, 8, 8) -> conv: channel c = 2x2 average of input channel c (4x4 map) -> head.

    ``spatial`` head: class 0 = 3 * A0[1, 2], class 1 = -2 * A1[3, 0] (reads one location).
    ``gap`` head: global average pool, then W = [[1, -1], [0.5, 2]].
    """

    def __init__(self, head: str):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, kernel_size=2, stride=2, bias=False)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0] = 0.25
            self.conv.weight[1, 1] = 0.25
        self.head_kind = head
        if head == "spatial":
            self.fc = nn.Linear(2 * 4 * 4, 2, bias=False)
            with torch.no_grad():
                self.fc.weight.zero_()
                self.fc.weight[0, 0 * 16 + 1 * 4 + 2] = 3.0
                self.fc.weight[1, 1 * 16 + 3 * 4 + 0] = -2.0
        else:
            self.fc = nn.Linear(2, 2, bias=False)
            with torch.no_grad():
                self.fc.weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 2.0]]))

    def forward(self, x):
        a = self.conv(x)
        return self.fc(a.flatten(1) if self.head_kind == "spatial" else a.mean(dim=(2, 3)))


def _inputs() -> torch.Tensor:
    x = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    x[:, 0, 2:4, 4:6] = torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1)  # A0[1, 2] > 0: evidence for class 0
    x[:, 1, 6:8, 0:2] = -torch.tensor([1.0, 0.5, 2.0]).view(3, 1, 1)  # A1[3, 0] < 0: evidence for class 1
    return x


def _pooled(x: torch.Tensor) -> torch.Tensor:
    """The conv layer's output by hand: 2x2 block means, (N, 2, 4, 4)."""
    return x.reshape(x.shape[0], 2, 4, 2, 4, 2).mean(dim=(3, 5))


def _expected(head: str, method: str, cls: int, x: torch.Tensor) -> torch.Tensor:
    a = _pooled(x)
    if head == "gap":  # gradient dy/dA_k = W[c, k] / 16 everywhere: both methods agree
        w = torch.tensor([[1.0, -1.0], [0.5, 2.0]])[cls]
        return F.relu((w[0] * a[:, 0] + w[1] * a[:, 1]) / 16)
    weight, channel, (r, c) = (3.0, 0, (1, 2)) if cls == 0 else (-2.0, 1, (3, 0))
    if method == "gradcam":  # channel weight = mean gradient = weight / 16, over the whole map
        return F.relu(weight / 16 * a[:, channel])
    out = torch.zeros_like(a[:, 0])  # hirescam: gradient x activation, only at the location read
    out[:, r, c] = F.relu(weight * a[:, channel, r, c])
    return out


@pytest.mark.parametrize("head", ["spatial", "gap"])
@pytest.mark.parametrize("method", ["gradcam", "hirescam"])
@pytest.mark.parametrize("cls", [0, 1])
def test_maps_of_a_hand_built_model_are_exact(head, method, cls):
    model = HandBuilt(head).eval()
    x = _inputs()
    sal = E.grad_cam(model, x, targets=cls, method=method, upsample="nearest", batch_size=2)
    expected = _expected(head, method, cls, x)
    assert expected.flatten(1).amax(1).min() > 0  # every image has positive evidence
    assert sal.layer == "conv" and sal.method == method and sal.layer_shape == (4, 4)
    torch.testing.assert_close(sal.layer_maps, expected, rtol=1e-5, atol=1e-6)
    up = expected.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)
    torch.testing.assert_close(sal.maps, up / up.flatten(1).amax(1).view(-1, 1, 1), rtol=1e-5, atol=1e-6)
    assert (
        sal.maps.shape == (3, 8, 8)
        and float(sal.maps.min()) >= 0
        and torch.allclose(sal.maps.flatten(1).amax(1), torch.ones(3))
    )
    assert sal.targets.tolist() == [cls] * 3


@pytest.mark.parametrize("head, method", [("spatial", "hirescam"), ("gap", "gradcam")])
def test_auto_method_uses_gradcam_for_pooled_heads_only(head, method):
    model = HandBuilt(head).eval()
    assert E.grad_cam(model, _inputs(), targets=0).method == method


def test_default_target_is_the_predicted_class_and_bilinear_upsampling_keeps_range():
    model = HandBuilt("gap").eval()
    x = _inputs()
    preds = model(x).argmax(1)
    sal = E.grad_cam(model, x)
    assert sal.targets.tolist() == preds.tolist()
    assert sal.maps.shape == (3, 8, 8) and float(sal.maps.min()) >= 0 and float(sal.maps.max()) == pytest.approx(1.0)
    per_image = E.grad_cam(model, x, targets=preds.tolist())
    torch.testing.assert_close(per_image.maps, sal.maps)


def test_all_zero_map_stays_zero():
    model = HandBuilt("spatial").eval()
    x = torch.zeros(2, 2, 8, 8)
    sal = E.grad_cam(model, x, targets=0, method="gradcam")
    assert torch.count_nonzero(sal.maps) == 0
    assert np.isnan(E.region_share(sal.maps, (0, 0, 2, 2))).all()


# --------------------------------------------------------------------------------------------
# the model is left exactly as it was
# --------------------------------------------------------------------------------------------


def _hooks(model: nn.Module) -> int:
    names = (
        "_forward_hooks",
        "_forward_pre_hooks",
        "_backward_hooks",
        "_backward_pre_hooks",
        "_forward_hooks_with_kwargs",
    )
    return sum(len(getattr(m, n, {})) for m in model.modules() for n in names)


@pytest.mark.parametrize("arch", ["small_cnn", "resnet20"])
def test_model_state_modes_flags_grads_and_hooks_are_unchanged(arch):
    from bamu_core.models import build_model

    torch.manual_seed(0)
    model = build_model(arch, num_classes=3)
    model.train()
    first = next(model.parameters())
    first.requires_grad_(False)
    last = list(model.parameters())[-1]
    marker = torch.full_like(last, 7.0)
    last.grad = marker
    state = {k: v.clone() for k, v in model.state_dict().items()}
    hooks = _hooks(model)
    size = 28 if arch == "small_cnn" else 32
    with torch.inference_mode():  # also works when the caller is in inference mode
        sal = E.grad_cam(model, torch.randn(5, 3, size, size), batch_size=2)
    assert sal.maps.shape == (5, size, size)
    assert all(m.training for m in model.modules())
    assert first.requires_grad is False and all(p.requires_grad for p in list(model.parameters())[1:])
    assert last.grad is marker and all(p.grad is None for p in list(model.parameters())[:-1])
    assert _hooks(model) == hooks
    for k, v in model.state_dict().items():  # BatchNorm running stats included: eval mode was used
        torch.testing.assert_close(v, state[k], rtol=0, atol=0)


@pytest.mark.parametrize(
    "arch, size, layer, shape", [("small_cnn", 28, "conv3", (7, 7)), ("resnet20", 32, "layer3", (8, 8))]
)
def test_registered_layer_and_its_resolution(arch, size, layer, shape):
    from bamu_core.models import build_model

    model = build_model(arch, num_classes=10).eval()
    name, module = E.resolve_layer(model)
    assert name == layer and module is model.get_submodule(layer)
    sal = E.grad_cam(model, torch.randn(2, 3, size, size))
    assert sal.layer == layer and sal.layer_shape == shape and sal.maps.shape == (2, size, size)


def test_layer_fallback_override_and_errors():
    model = HandBuilt("gap")
    assert E.resolve_layer(model) == ("conv", model.conv)  # not a registered architecture: the last Conv2d
    assert E.resolve_layer(model, "conv")[1] is model.conv
    assert E.resolve_layer(model, model.conv)[0] == "conv"
    with pytest.raises(ValueError, match="not a submodule"):
        E.resolve_layer(model, "layer9")
    with pytest.raises(ValueError, match="not part of model"):
        E.resolve_layer(model, nn.Conv2d(1, 1, 1))
    with pytest.raises(ValueError, match="no Conv2d"):
        E.resolve_layer(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))
    with pytest.raises(ValueError, match="one class per image"):
        E.grad_cam(model, _inputs(), targets=[0, 1])
    with pytest.raises(ValueError, match="outside the model's 2 outputs"):
        E.grad_cam(model, _inputs(), targets=5)
    with pytest.raises(ValueError, match="method"):
        E.grad_cam(model, _inputs(), method="lime")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_works_on_cuda_and_returns_cpu_maps():
    model = HandBuilt("gap").cuda().eval()
    x = _inputs()
    sal = E.grad_cam(model, x, targets=1, upsample="nearest")
    assert sal.maps.device.type == "cpu" and next(model.parameters()).device.type == "cuda"
    cpu = E.grad_cam(HandBuilt("gap").eval(), x, targets=1, upsample="nearest")
    torch.testing.assert_close(sal.maps, cpu.maps, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------------------------
# regions, averages, colours, overlays
# --------------------------------------------------------------------------------------------


def test_region_share_mean_map_and_centre_by_hand():
    maps = torch.zeros(3, 4, 4)
    maps[0, 2:, 2:] = 1.0  # all mass in the bottom-right 2x2
    maps[1] = 1.0  # uniform
    maps[2, 0, 0], maps[2, 3, 3] = 3.0, 1.0
    share = E.region_share(maps, (2, 2, 2, 2))
    np.testing.assert_allclose(share, [1.0, 0.25, 0.25])
    means = E.mean_saliency(maps, [0, 1, 0], num_groups=3)
    torch.testing.assert_close(means[0], (maps[0] + maps[2]) / 2)
    assert torch.isnan(means[2]).all()
    assert E.centre_of_mass(maps[0]) == pytest.approx((0.75, 0.75))
    assert E.centre_of_mass(maps[1]) == pytest.approx((0.5, 0.5))
    assert E.centre_of_mass(torch.zeros(4, 4)) is None
    with pytest.raises(ValueError, match="outside"):
        E.region_share(maps, (3, 3, 2, 2))


def test_jet_colours_and_overlay_blend():
    lut = E.colorize(np.array([0.0, 0.5, 1.0]))
    # jet: r, g, b = clip(1.5 - |4x - 3|), clip(1.5 - |4x - 2|), clip(1.5 - |4x - 1|) at x = index / 255;
    # 0.5 falls on index 128 (x = 0.502)
    assert lut.tolist() == [[0, 0, 128], [130, 255, 126], [128, 0, 0]]
    img = np.full((1, 2, 2, 3), 200, dtype=np.uint8)
    heat = np.zeros((1, 2, 2))
    assert (E.overlay(img, heat, alpha=0.0) == 200).all()
    assert E.overlay(img, heat, alpha=1.0)[0, 0, 0].tolist() == [0, 0, 128]
    assert E.overlay(img, heat, alpha=0.5)[0, 0, 0].tolist() == [100, 100, 164]


def test_unnormalised_images_round_trip(binary_digits):
    data = binary_digits.test
    rgb = E.to_rgb_uint8(data.images(np.arange(5)), mean=binary_digits.mean, std=binary_digits.std)
    expected = data.images_u8[:5].permute(0, 2, 3, 1).numpy()
    assert rgb.dtype == np.uint8 and np.abs(rgb.astype(int) - expected).max() <= 1


def test_selection_rules_are_reproducible_and_exact():
    groups = np.array([0, 0, 0, 1, 1, 1, 1])
    y_true = np.array([0, 1, 1, 0, 0, 1, 1])
    y_pred = np.array([0, 0, 1, 1, 0, 0, 1])
    conf = np.array([0.6, 0.9, 0.6, 0.7, 0.99, 0.8, 0.5])
    kw = dict(groups=groups, y_true=y_true, y_pred=y_pred, confidence=conf, k=2)
    assert [c.tolist() for c in E.select_examples(rule="confident", **kw)] == [[1, 0], [4, 5]]
    assert [c.tolist() for c in E.select_examples(rule="misclassified", **kw)] == [[1], [5, 3]]
    one = E.select_examples(rule="random", seed=5, **kw)
    assert [c.tolist() for c in one] == [c.tolist() for c in E.select_examples(rule="random", seed=5, **kw)]
    assert all(len(c) == 2 and set(c) <= set(np.flatnonzero(groups == g)) for g, c in enumerate(one))
    with pytest.raises(ValueError, match="rule"):
        E.select_examples(rule="worst", **kw)


# --------------------------------------------------------------------------------------------
# galleries and the saliency summary
# --------------------------------------------------------------------------------------------


def _untrained_small_cnn(scenario):
    from bamu_core.models import build_model

    torch.manual_seed(0)
    return build_model("small_cnn", num_classes=scenario.num_classes).eval()


def test_gallery_writes_overlays_mean_maps_and_an_index(binary_digits, tmp_path):
    from PIL import Image

    model = _untrained_small_cnn(binary_digits)
    gallery = E.group_gallery(
        model, binary_digits.test, k=3, rule="random", seed=1, class_names=binary_digits.class_names
    )
    again = E.group_gallery(model, binary_digits.test, k=3, rule="random", seed=1)
    assert [g.indices.tolist() for g in gallery.groups] == [g.indices.tolist() for g in again.groups]
    assert [g.name for g in gallery.groups] == ["orange", "blue"]
    for g in gallery.groups:
        assert g.overlays.shape == (3, 28, 28, 3) and g.overlays.dtype == np.uint8
        assert (binary_digits.test.groups[g.indices] == gallery.groups.index(g)).all()
        torch.testing.assert_close(g.mean_map, g.maps.mean(0))
    files = E.save_gallery(gallery, tmp_path / "gallery", scale=2)
    names = sorted(p.name for p in files)
    assert names == sorted(
        ["index.json", "orange_mean.png", "blue_mean.png"]
        + [f"{c}_{i:02d}.png" for c in ("orange", "blue") for i in range(3)]
    )
    assert not list((tmp_path / "gallery").glob("*.tmp"))
    with Image.open(tmp_path / "gallery" / "blue_01.png") as im:
        assert im.size == (56, 56) and im.mode == "RGB"
    index = json.loads((tmp_path / "gallery" / "index.json").read_text())
    assert index["layer"] == "conv3" and len(index["images"]) == 6
    assert index["images"][0]["label"] in binary_digits.class_names


def test_saliency_summary_on_digits_reports_stroke_share(binary_digits):
    model = _untrained_small_cnn(binary_digits)
    s = E.saliency_summary(model, binary_digits.test, per_group=4, seed=0)
    assert s["method"] == "hirescam" and s["layer"] == "conv3" and s["layer_shape"] == [7, 7]
    assert s["images"] == 8 and s["foreground"] is True and s["region"] is None
    for row in s["groups"]:
        assert row["images"] == 4
        assert 0.0 <= row["foreground_share"] <= 1.0 and 0.2 < row["foreground_area"] < 0.8
    json.dumps(s, allow_nan=False)
    fixed = E.saliency_summary(model, binary_digits.test, per_group=2, seed=0, target=1)
    assert fixed["target"] == "class 1" and fixed["images"] == 4
    with pytest.raises(ValueError, match="target must be"):
        E.saliency_summary(model, binary_digits.test, per_group=2, target="best")


# --------------------------------------------------------------------------------------------
# the bias-region score separates a patch-biased model from a clean one (CIFAR-10, local folder)
# --------------------------------------------------------------------------------------------


class GapCNN(nn.Module):
    """A small CNN with a global-average-pooled head (Grad-CAM proper applies)."""

    def __init__(self, num_classes: int = 2):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(F.relu(self.conv3(x)).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def small_patch_cifar(cifar_root):
    from bamu_core.data import load_scenario

    return load_scenario("patch-cifar10", cifar_root=cifar_root, per_class=30, val_per_class=10)


def _relabel(data, labels):
    from bamu_core.data import ImageData

    return ImageData(
        images=data.images_u8,
        labels=labels,
        attrs=data.attrs,
        group_names=data.group_names,
        group_attr="patch",
        mean=data.mean.flatten().tolist(),
        std=data.std.flatten().tolist(),
    )


@pytest.mark.parametrize("arch, method", [("small_cnn", "hirescam"), ("gap_cnn", "gradcam")])
def test_bias_region_score_is_higher_for_a_patch_biased_model(small_patch_cifar, arch, method):
    """Same architecture, same images: labels = "has the patch" (biased) vs "is a vehicle" (independent of it)."""
    from bamu_core.models import build_model
    from bamu_core.training import fit

    sc = small_patch_cifar
    train = sc.test  # half of these images carry the patch, independently of their class
    vehicle = np.isin(train.labels, [0, 1, 8, 9]).astype(np.int64)
    shares = {}
    for kind, labels in (("biased", train.attrs["patch"]), ("clean", vehicle)):
        torch.manual_seed(0)
        model = build_model("small_cnn", num_classes=2) if arch == "small_cnn" else GapCNN()
        fit(model, _relabel(train, labels), epochs=6, lr=5e-3, optimizer="adam", batch_size=64, seed=0)
        s = E.saliency_summary(model, sc.val, per_group=16, region=sc.bias_region, seed=0)
        assert s["method"] == method and s["region_area"] == pytest.approx(25 / 1024)
        shares[kind] = next(r["region_share"] for r in s["groups"] if r["group"] == "patch")
    assert shares["biased"] > 0.1, shares
    assert shares["biased"] > 4 * max(shares["clean"], s["region_area"]), shares
