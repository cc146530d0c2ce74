"""Architecture registry, safe checkpoint loading and the baselines."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest
import torch
import torch.nn as nn

from bamu_core.models import (
    build_model,
    get_arch,
    list_archs,
    load_model,
    read_state_dict,
    register_arch,
    save_weights,
    train_baseline,
)
from bamu_core.training import predict

ARCHS = ["small_cnn", "resnet20", "resnet32", "resnet44", "resnet56", "resnet18", "resnet50", "mobilenet_v3_small"]


def test_registry_lists_the_architectures():
    assert set(ARCHS) <= set(list_archs())
    with pytest.raises(ValueError, match="unknown architecture 'vgg99'"):
        get_arch("vgg99")
    with pytest.raises(ValueError, match="already registered"):
        register_arch("small_cnn", description="", gradcam_layer="", lora_targets=(), classifier="")(lambda **k: None)


@pytest.mark.parametrize("arch", ARCHS)
def test_every_arch_builds_with_any_class_count_and_names_its_layers(arch):
    model = build_model(arch, num_classes=7).eval()
    spec = get_arch(arch)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 7)
    names = dict(model.named_modules())
    assert spec.gradcam_layer in names
    assert spec.classifier in names and isinstance(names[spec.classifier], nn.Linear)
    assert any(n.endswith(t) for t in spec.lora_targets for n in names)


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".th", ".safetensors"])
@pytest.mark.parametrize("wrap", ["plain", "state_dict", "module-prefix"])
def test_checkpoint_round_trip(tmp_path, suffix, wrap):
    model = build_model("small_cnn", num_classes=4).eval()
    x = torch.randn(3, 3, 28, 28)
    path = tmp_path / f"ckpt{suffix}"
    state = model.state_dict()
    if wrap == "module-prefix":
        state = {f"module.{k}": v for k, v in state.items()}
    if suffix == ".safetensors":
        save_weights(state, path)
    else:
        torch.save({"state_dict": state, "epoch": 3} if wrap == "state_dict" else state, path)
    loaded = load_model("small_cnn", num_classes=4, checkpoint=path)
    assert torch.equal(loaded(x), model(x))


class _Evil:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_pickled_objects_are_refused_without_running_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as fh:
        pickle.dump({"weight": _Evil()}, fh)
    with pytest.raises(ValueError, match="refuses to load"):
        read_state_dict(path)
    assert not (tmp_path / "PWNED").exists()


def test_whole_model_pickles_are_refused(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(build_model("small_cnn", num_classes=2), path)
    with pytest.raises(ValueError, match="pickled Python objects"):
        read_state_dict(path)


def test_wrong_architecture_or_class_count_names_the_keys(tmp_path):
    path = tmp_path / "m.pt"
    torch.save(build_model("small_cnn", num_classes=10).state_dict(), path)
    with pytest.raises(ValueError, match=r"shape mismatch.*fc\.weight.*number of classes"):
        load_model("small_cnn", num_classes=2, checkpoint=path)
    with pytest.raises(ValueError, match="missing key"):
        load_model("resnet20", num_classes=10, checkpoint=path)


@pytest.mark.parametrize(
    "content, match",
    [(b"garbage", "cannot be read"), (b"", "cannot be read")],
)
def test_corrupt_checkpoints(tmp_path, content, match):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        read_state_dict(path)
    st = tmp_path / "bad.safetensors"
    st.write_bytes(content)
    with pytest.raises(ValueError, match="not a valid safetensors"):
        read_state_dict(st)


def test_unsupported_suffix_and_missing_file(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(ValueError, match="unsupported file type"):
        read_state_dict(tmp_path / "m.onnx")
    with pytest.raises(FileNotFoundError):
        read_state_dict(tmp_path / "absent.pt")


def test_colored_digits_baseline_is_fast_and_really_biased(digits):
    start, cpu_start = time.perf_counter(), time.process_time()
    model, info = train_baseline(digits, use_cache=False)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    # "under a minute on the CPU": judged by CPU time, which other load on the machine does not inflate
    threads = torch.get_num_threads()
    assert cpu < 60 * threads, f"baseline used {cpu:.1f} CPU s on {threads} threads ({seconds:.1f} s wall)"
    pred = predict(model, digits.test).argmax(1).numpy()
    correct = pred == digits.test.labels
    aligned = digits.test.attrs["alignment"] == 0
    gap = correct[aligned].mean() - correct[~aligned].mean()
    print(
        f"colored-digits baseline: {seconds:.1f} s wall, {cpu:.1f} CPU s, aligned {correct[aligned].mean():.3f}, conflicting {correct[~aligned].mean():.3f}"
    )
    assert gap >= 0.15


def test_baseline_is_cached_and_reproducible(binary_digits):
    m1, i1 = train_baseline(binary_digits, epochs=2)
    m2, i2 = train_baseline(binary_digits, epochs=2)
    assert not i1.cached and i2.cached
    x = binary_digits.test.images(np.arange(16))
    assert torch.equal(m1(x), m2(x))
    m3, i3 = train_baseline(binary_digits, epochs=2, use_cache=False)
    assert torch.allclose(m3(x), m1(x), atol=1e-5)  # same seed, same weights


@pytest.mark.shared
def test_shared_resnet20_reaches_its_published_accuracy(cifar_root, resnet20_path):
    from bamu_core.data import load_scenario

    sc = load_scenario("patch-cifar10", cifar_root=cifar_root)
    model = load_model("resnet20", num_classes=10, checkpoint=resnet20_path)
    d = sc.test
    patched = d.attrs["patch"] == 1
    # the clean test set: patched images replaced by their patch-free originals
    pred = predict(model, d, counterfactual=False).argmax(1).numpy()
    pred_cf = predict(model, d, indices=np.flatnonzero(patched), counterfactual=True).argmax(1).numpy()
    pred[patched] = pred_cf
    acc = (pred == d.labels).mean()
    assert len(d) == 10_000
    assert acc == pytest.approx(0.917, abs=0.005)


# --- introspection: the architecture passed explicitly or recognised from the structure ---


def test_built_models_carry_no_tag_and_are_recognised_from_their_structure():
    from bamu_core.models import arch_name, infer_arch

    for arch in ARCHS:
        for num_classes, in_channels in ((2, 3), (7, 3)):
            model = build_model(arch, num_classes=num_classes, in_channels=in_channels)
            assert not hasattr(model, "bamu_arch")
            assert infer_arch(model) is get_arch(arch)
            assert arch_name(model) == arch  # the retrain cache key's "arch", as before
    grey = build_model("small_cnn", num_classes=3, in_channels=1)
    assert infer_arch(grey).name == "small_cnn"


def test_recognition_draws_no_random_numbers():
    from bamu_core.models import infer_arch

    model = build_model("resnet32", num_classes=5)
    torch.manual_seed(3)
    before = torch.random.get_rng_state()
    infer_arch(model)
    assert torch.equal(before, torch.random.get_rng_state())


def test_changed_or_hand_built_models_fall_back_to_the_generic_layers():
    from bamu_core.models import (
        arch_name,
        classifier_layer,
        gradcam_layer,
        infer_arch,
        lora_targets,
    )
    from bamu_core.models.archs import SmallCNN

    wide = SmallCNN(num_classes=4, width=8)  # same layer names, other shapes
    assert infer_arch(wide) is None and arch_name(wide) == "SmallCNN"
    assert gradcam_layer(wide) == ("conv3", wide.conv3)  # the last Conv2d
    assert classifier_layer(wide) == ("fc", wide.fc)  # the last Linear
    assert lora_targets(wide) == ["conv1", "conv2", "conv3", "fc"]
    resnet = build_model("resnet20", num_classes=3)
    resnet.linear = nn.Sequential(nn.Linear(64, 3))  # the head replaced
    assert infer_arch(resnet) is None
    assert gradcam_layer(resnet)[0] == "layer3.2.conv2"
    assert classifier_layer(resnet)[0] == "linear.0"
    hand = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    assert infer_arch(hand) is None and arch_name(hand) == "Sequential"
    with pytest.raises(ValueError, match="no Conv2d"):
        gradcam_layer(hand)


def test_an_explicit_arch_names_the_layers():
    from bamu_core.errors import BamuInputError
    from bamu_core.models import (
        arch_name,
        arch_of,
        classifier_layer,
        gradcam_layer,
        lora_targets,
        resolve_arch,
    )

    model = build_model("resnet20", num_classes=3)
    spec = get_arch("resnet20")
    for arch in ("resnet20", spec, None):
        assert arch_of(model, arch) is spec
        assert gradcam_layer(model, arch) == ("layer3", model.layer3)
        assert classifier_layer(model, arch) == ("linear", model.linear)
        assert lora_targets(model, arch) == ["conv1", "conv2", "linear"]
    resnet = build_model("resnet20", num_classes=3)
    resnet.linear = nn.Sequential(nn.Linear(64, 3))
    assert arch_name(resnet, "resnet20") == "resnet20"
    assert gradcam_layer(resnet, "resnet20")[0] == "layer3"
    assert classifier_layer(resnet, "resnet20")[0] == "linear.0"  # not a Linear there: the last Linear
    assert resolve_arch(None) is None and resolve_arch(spec) is spec
    with pytest.raises(BamuInputError, match="unknown architecture 'vgg99'"):
        gradcam_layer(model, "vgg99")


def test_checkpoint_errors_name_the_explicit_arch(tmp_path):
    from bamu_core.models import load_weights

    state = build_model("small_cnn", num_classes=10).state_dict()
    with pytest.raises(ValueError, match="does not fit architecture 'small_cnn'"):
        load_weights(build_model("small_cnn", num_classes=2), state)
    with pytest.raises(ValueError, match="does not fit architecture 'small_cnn'"):
        load_weights(nn.Sequential(nn.Linear(2, 2)), state, arch="small_cnn")
    with pytest.raises(ValueError, match="does not fit architecture 'Sequential'"):
        load_weights(nn.Sequential(nn.Linear(2, 2)), state)


def test_registry_errors_are_input_errors():
    from bamu_core.errors import BamuInputError
    from bamu_core.models import ARCHS

    assert ARCHS.names() == list_archs()
    assert ARCHS.summary("resnet20") == get_arch("resnet20").description
    with pytest.raises(BamuInputError, match="available: .*small_cnn"):
        get_arch("vgg99")
