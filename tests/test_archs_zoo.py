"""The ImageNet-style backbones: build, load a torchvision checkpoint with a replaced head, audit,
Grad-CAM on the registered layer and one LoRA step on the registered targets (tiny inputs, CPU)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
from test_datasets_official import make_celeba

from bamu_core._compat import import_torchvision
from bamu_core.models import build_model, get_arch, infer_arch, list_archs, load_model
from bamu_core.models.archs import build_vit
from bamu_core.workflows import Subject, audit

ZOO = [
    "resnet18",
    "resnet50",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "convnext_tiny",
    "vit_b_16",
]
SIZE = 32  # ViT-B/16 sees a 2 x 2 token grid; the CNNs a 1 x 1 final map


def torchvision_with_new_head(arch: str, num_classes: int) -> nn.Module:
    """What users do: a torchvision model (here untrained) whose 1000-class head is swapped."""
    tv = import_torchvision().models
    model = getattr(tv, arch)(weights=None)
    if arch.startswith("resnet"):
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    elif arch == "vit_b_16":
        model.heads.head = nn.Linear(768, num_classes)
    else:
        i = {"mobilenet_v3_small": 3, "mobilenet_v3_large": 3, "efficientnet_b0": 1, "convnext_tiny": 2}[arch]
        model.classifier[i] = nn.Linear(model.classifier[i].in_features, num_classes)
    return model.eval()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Batches of two images gain nothing from intra-op threads on shared cores; restore after."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def tiny_celeba(tmp_path_factory):
    from bamu_core.data import load_celeba

    root = make_celeba(tmp_path_factory.mktemp("celeba_zoo"), identity=False)
    return load_celeba(root, target="Smiling", sensitive="Male", image_size=SIZE, max_per_split=4)


def test_the_zoo_is_registered_with_its_layers():
    assert set(ZOO) <= set(list_archs())
    vit = get_arch("vit_b_16")
    assert vit.family == "vit" and vit.default_image_size == 224 and vit.extra["patch_size"] == 16
    assert vit.lora_targets == ("self_attention", "mlp.0", "mlp.3", "heads.head")
    assert get_arch("convnext_tiny").classifier == "classifier.2"
    assert get_arch("efficientnet_b0").classifier == "classifier.1"


def test_flexible_vit_equals_torchvision_at_its_size_and_runs_at_others():
    import_torchvision()
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    config = dict(image_size=32, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=3)
    ref = VisionTransformer(**config).eval()
    nn.init.normal_(ref.heads.head.weight)
    ours = build_vit(**{k: v for k, v in config.items()}).eval()
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-6)
        assert ours(torch.randn(2, 3, 64, 48)).shape == (2, 3)  # a 4 x 3 grid, position embeddings resized
    with pytest.raises(ValueError, match="at least 16x16"):
        ours(torch.randn(1, 3, 8, 8))


def test_vit_b_16_runs_at_224_once():
    model = build_model("vit_b_16", num_classes=2).eval()
    assert sum(p.numel() for p in model.parameters()) == 85_800_194
    with torch.no_grad():
        out = model(torch.randn(1, 3, 224, 224))
    assert out.shape == (1, 2) and torch.isfinite(out).all()


def _lora_step(model: nn.Module, targets: tuple[str, ...], x: torch.Tensor, y: torch.Tensor):
    import_torchvision()  # peft imports transformers, which imports torchvision: the shim must come first
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, lora_alpha=8, target_modules=list(targets)))
    adapted = [n for n, m in peft_model.named_modules() if hasattr(m, "lora_A") and n.split(".")[-1] != "base_layer"]
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(trainable, lr=1e-2)
    peft_model.train()
    loss = nn.functional.cross_entropy(peft_model(x), y)
    loss.backward()
    optimiser.step()
    return peft_model.eval(), adapted, loss.item()


@pytest.mark.parametrize("arch", ZOO)
def test_zoo_checkpoint_audit_gradcam_and_lora(arch, tmp_path, tiny_celeba):
    torch.manual_seed(0)
    spec = get_arch(arch)
    # 1. a checkpoint saved from torchvision with a replaced head loads strictly, same outputs
    ref = torchvision_with_new_head(arch, 2)
    path = tmp_path / f"{arch}.pth"
    torch.save(ref.state_dict(), path)
    model = load_model(arch, num_classes=2, checkpoint=path)
    assert infer_arch(model) is spec  # recognised from its structure
    x = tiny_celeba.test.images(np.arange(2))
    y = torch.as_tensor(tiny_celeba.test.labels[:2])
    with torch.no_grad():
        out = model(x)
        if arch != "vit_b_16":  # torchvision's ViT only takes its built size; checked at 224 above
            torch.testing.assert_close(out, ref(x), rtol=1e-4, atol=1e-5)
    assert isinstance(model.get_submodule(spec.classifier), nn.Linear)
    assert model.get_submodule(spec.classifier).out_features == 2
    del ref

    # 2. the audit workflow on the tiny CelebA replica
    result = audit(Subject(scenario=tiny_celeba, model=model, arch=arch, model_source=path.name), device="cpu")
    assert result.n == 4 and [g.group for g in result.groups] == ["not Male", "Male"]
    assert sum(g.n for g in result.groups) == 4

    # 3. Grad-CAM (bamu_core.explain) picks the registered layer and gives one map per image
    from bamu_core.explain import grad_cam

    maps = grad_cam(model, x, targets=1)
    assert maps.layer == spec.gradcam_layer and maps.maps.shape == (2, SIZE, SIZE)
    if arch == "vit_b_16":
        assert maps.layer_shape == (SIZE // 16, SIZE // 16)
    assert torch.isfinite(maps.layer_maps).all() and maps.layer_maps.ndim == 3
    assert result.saliency["layer"] == spec.gradcam_layer  # the audit's saliency summary ran on it too

    # 4. one LoRA step on the registered targets changes the copy, never the model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    peft_model, adapted, loss = _lora_step(model, spec.lora_targets, x, y)
    for target in spec.lora_targets:
        assert any(n == target or n.endswith("." + target) for n in adapted), f"LoRA target {target!r} matched nothing"
    assert np.isfinite(loss)
    with torch.no_grad():
        assert not torch.allclose(peft_model(x), model(x))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def _lora_method():
    """The registered ``lora`` unlearning method, or a skip naming what is missing."""
    try:
        from bamu_core.unlearn import get_method
    except ImportError as exc:
        pytest.skip(f"bamu_core.unlearn does not export get_method yet ({exc}); the LoRA method test needs it")
    try:
        return get_method("lora")
    except ValueError as exc:
        pytest.skip(f"bamu_core.unlearn has no 'lora' method registered yet ({exc})")


@pytest.mark.parametrize("arch", ZOO)
def test_zoo_lora_unlearning_method_takes_a_step_and_returns_the_registered_layout(arch, tiny_celeba):
    from bamu_core.models import load_weights

    method = _lora_method()
    torch.manual_seed(0)
    model = build_model(arch, num_classes=2).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train = tiny_celeba.train
    result = method.run(
        model,
        train.subset([0, 1]),
        train.subset([2, 3]),
        intensity=0.5,
        device="cpu",
        val=tiny_celeba.val,
        hyperparameters={"steps": 1, "eval_every": 1},
    )
    assert result.status in ("ok", "stopped_early", "no_change", "diverged") and result.steps <= 1
    assert result.extras["lora_parameters"] > 0
    assert set(result.model.state_dict()) == set(before)  # merged back: loads as the registered architecture
    load_weights(build_model(arch, num_classes=2), result.model.state_dict(), source="merged LoRA model")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
