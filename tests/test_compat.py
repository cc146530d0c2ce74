import pytest
import torch

from bamu_core._compat import describe_device, import_torchvision, pick_device


def test_torchvision_imports_and_builds_a_model():
    tv = import_torchvision()
    model = tv.models.resnet18(weights=None, num_classes=3).eval()
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 3)


def test_pick_device_honours_argument_and_environment(monkeypatch):
    monkeypatch.setenv("BAMU_DEVICE", "cpu")
    assert pick_device().type == "cpu"
    assert pick_device("cpu").type == "cpu"
    monkeypatch.delenv("BAMU_DEVICE")
    assert pick_device().type in ("cpu", "cuda", "mps")


@pytest.mark.parametrize("bad", ["tpu", "gpu0"])
def test_pick_device_rejects_unknown_names(bad):
    with pytest.raises(ValueError, match="device"):
        pick_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_pick_device_explains_missing_cuda():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        pick_device("cuda")


def test_describe_device_mentions_threads_on_cpu():
    assert describe_device(torch.device("cpu")).startswith("cpu (")
