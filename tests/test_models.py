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
    print(f"colored-digits baseline: {seconds:.1f} s wall, {cpu:.1f} CPU s, aligned {correct[aligned].mean():.3f}, conflicting {correct[~aligned].mean():.3f}")
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
