"""The architecture registry: each name maps to an :class:`ArchSpec`, which says how to build the
model and where its Grad-CAM layer, LoRA targets and classifier are."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch.nn as nn

from ..errors import BamuInputError
from ..registry import Registry

__all__ = ["ArchSpec", "ARCHS", "register_arch", "get_arch", "list_archs", "build_model"]


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


#: Every registered architecture, by name (entries hold the :class:`ArchSpec`).
ARCHS: Registry[ArchSpec] = Registry("architecture")


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
    """Decorator: register ``builder(*, num_classes, in_channels=3) -> nn.Module`` as ``name``."""

    def wrap(builder):
        spec = ArchSpec(
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
        ARCHS.add(name, spec, summary=description)
        return builder

    return wrap


def get_arch(name: str) -> ArchSpec:
    """The :class:`ArchSpec` of ``name``; an unknown name raises :class:`~bamu_core.errors.BamuInputError`."""
    return ARCHS.get(name)


def list_archs() -> list[str]:
    return ARCHS.names()


def build_model(name: str, *, num_classes: int, in_channels: int = 3) -> nn.Module:
    """Build a freshly initialised model of architecture ``name`` (no pretrained weights).

    The model carries no record of ``name``: functions that need the architecture take it as
    ``arch=`` or recognise it from the module structure (:func:`bamu_core.models.infer_arch`).
    """
    if num_classes < 2:
        raise BamuInputError(f"num_classes must be at least 2, got {num_classes}")
    return get_arch(name).builder(num_classes=num_classes, in_channels=in_channels)
