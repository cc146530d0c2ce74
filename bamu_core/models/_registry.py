"""A tiny architecture registry (in the style of torchvision's ``models/_api.py``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch.nn as nn

__all__ = ["ArchSpec", "register_arch", "get_arch", "list_archs", "build_model"]


@dataclass(frozen=True)
class ArchSpec:
    """How to build an architecture and where its interesting layers are.

    ``gradcam_layer`` names the module whose activations Grad-CAM uses (the last conv block);
    ``lora_targets`` lists module-name suffixes that LoRA adapts; ``classifier`` names the final
    linear layer. ``gradcam_layer`` always outputs a spatial map (N, C, H, W): for vision
    transformers it is a parameter-free module that lays the patch tokens out on their grid, so
    Grad-CAM needs no reshape. ``extra`` holds optional facts about the architecture (for
    transformers ``patch_size`` and ``gradcam_grid``, a sentence saying what the grid is).
    """

    name: str
    builder: Callable[..., nn.Module]
    description: str
    gradcam_layer: str
    lora_targets: tuple[str, ...]
    classifier: str
    family: str = "cnn"
    default_image_size: int = 32
    extra: dict = field(default_factory=dict)


_ARCHS: dict[str, ArchSpec] = {}


def register_arch(
    name: str,
    *,
    description: str,
    gradcam_layer: str,
    lora_targets: tuple[str, ...],
    classifier: str,
    family: str = "cnn",
    default_image_size: int = 32,
    extra: dict | None = None,
):
    def wrap(builder):
        if name in _ARCHS:
            raise ValueError(f"architecture {name!r} is already registered")
        _ARCHS[name] = ArchSpec(
            name=name,
            builder=builder,
            description=description,
            gradcam_layer=gradcam_layer,
            lora_targets=tuple(lora_targets),
            classifier=classifier,
            family=family,
            default_image_size=default_image_size,
            extra=dict(extra or {}),
        )
        return builder

    return wrap


def get_arch(name: str) -> ArchSpec:
    try:
        return _ARCHS[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; available: {', '.join(list_archs())}") from None


def list_archs() -> list[str]:
    return sorted(_ARCHS)


def build_model(name: str, *, num_classes: int, in_channels: int = 3) -> nn.Module:
    """Build a freshly initialised model of architecture ``name`` (no pretrained weights)."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    model = get_arch(name).builder(num_classes=num_classes, in_channels=in_channels)
    model.bamu_arch = name  # remembered for Grad-CAM / LoRA defaults
    return model
