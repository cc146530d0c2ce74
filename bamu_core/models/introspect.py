"""Where a model's interesting layers are: its classifier, its Grad-CAM layer, its LoRA targets.

Every function takes the model and, optionally, its architecture ``arch`` (a registered name or
an :class:`~bamu_core.models.ArchSpec`). Without ``arch`` the architecture is recognised from
the module structure (:func:`infer_arch`): a model whose class, state-dict keys and tensor shapes
are those of a registered architecture built for the model's number of classes and input
channels is that architecture. A model that matches none (a hand-built module, a registered
architecture with a layer replaced) gets the generic answers: the last ``nn.Linear``, the last
``nn.Conv2d``, every ``nn.Conv2d`` and ``nn.Linear``.

>>> from bamu_core.models import build_model
>>> model = build_model("resnet20", num_classes=10)
>>> infer_arch(model).name
'resnet20'
>>> gradcam_layer(model)[0], classifier_layer(model)[0]
('layer3', 'linear')
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn as nn

from ..errors import BamuInputError
from ._registry import ARCHS, ArchSpec, get_arch

__all__ = [
    "ArchLike",
    "resolve_arch",
    "infer_arch",
    "arch_of",
    "arch_name",
    "classifier_layer",
    "gradcam_layer",
    "lora_targets",
]

#: What the ``arch`` argument accepts: a registered name, a spec, or None (recognise it).
ArchLike = str | ArchSpec | None


def resolve_arch(arch: ArchLike) -> ArchSpec | None:
    """``arch`` as an :class:`ArchSpec` (None stays None); an unknown name raises
    :class:`~bamu_core.errors.BamuInputError`."""
    if arch is None or isinstance(arch, ArchSpec):
        return arch
    return get_arch(arch)


def _submodule(model: nn.Module, name: str) -> nn.Module | None:
    try:
        return model.get_submodule(name)
    except AttributeError:
        return None


def _kind(cls: type) -> tuple[str, str]:
    # by name, not identity: the ViT class is created anew by every build
    return cls.__module__, cls.__qualname__


def _shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict(keep_vars=True).items()}


def _build_skeleton(builder, num_classes: int, in_channels: int) -> nn.Module:
    try:
        with torch.device("meta"):
            return builder(num_classes=num_classes, in_channels=in_channels)
    except ValueError:
        raise
    except Exception:  # a builder that cannot run on the meta device: build it for real
        with torch.random.fork_rng(devices=[]):
            return builder(num_classes=num_classes, in_channels=in_channels)


@lru_cache(maxsize=128)
def _skeleton(name: str, num_classes: int, in_channels: int) -> tuple[tuple[str, str], dict] | None:
    """(class, state-dict shapes) of architecture ``name`` built for these sizes, or None when it
    cannot be built so. Built on the meta device: no memory taken, no random numbers drawn."""
    try:
        model = _build_skeleton(get_arch(name).builder, num_classes, in_channels)
    except ValueError:  # e.g. a torchvision architecture asked for 1 input channel
        return None
    return _kind(type(model)), _shapes(model)


def infer_arch(model: nn.Module) -> ArchSpec | None:
    """The registered architecture ``model`` is an instance of, recognised from its structure.

    A candidate must have its ``classifier`` (an ``nn.Linear``) and its ``gradcam_layer``; it
    matches when ``model`` has the class and exactly the state-dict keys and shapes of the
    candidate built with ``model``'s number of classes (the classifier's outputs) and input
    channels (the first ``nn.Conv2d``'s inputs, else 3). Returns None when no architecture matches.
    """
    if not isinstance(model, nn.Module):
        return None
    kind = _kind(type(model))
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    in_channels = first_conv.in_channels if first_conv is not None else 3
    shapes = None
    for entry in ARCHS.entries():
        spec = entry.obj
        head = _submodule(model, spec.classifier)
        if not isinstance(head, nn.Linear) or _submodule(model, spec.gradcam_layer) is None:
            continue
        skeleton = _skeleton(spec.name, head.out_features, in_channels)
        if skeleton is None or skeleton[0] != kind:
            continue
        if shapes is None:
            shapes = _shapes(model)
        if shapes == skeleton[1]:
            return spec
    return None


def arch_of(model: nn.Module, arch: ArchLike = None) -> ArchSpec | None:
    """``arch`` resolved when given, else :func:`infer_arch` of ``model``."""
    spec = resolve_arch(arch)
    return spec if spec is not None else infer_arch(model)


def arch_name(model: nn.Module, arch: ArchLike = None) -> str:
    """The architecture's registered name (:func:`arch_of`), else the model's class name."""
    spec = arch_of(model, arch)
    return spec.name if spec is not None else type(model).__name__


def classifier_layer(model: nn.Module, arch: ArchLike = None) -> tuple[str, nn.Linear]:
    """The final linear layer ``(name, module)``: the architecture's ``classifier`` when it is an
    ``nn.Linear`` of ``model``, else the last ``nn.Linear`` in ``model.named_modules()`` order.

    Raises
    ------
    ValueError
        ``model`` has no ``nn.Linear``.
    """
    spec = arch_of(model, arch)
    if spec is not None:
        module = _submodule(model, spec.classifier)
        if isinstance(module, nn.Linear):
            return spec.classifier, module
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise BamuInputError("the model has no nn.Linear classifier; last-layer methods need one")
    return linears[-1]


def gradcam_layer(model: nn.Module, arch: ArchLike = None) -> tuple[str, nn.Module]:
    """The module Grad-CAM reads by default ``(name, module)``: the architecture's
    ``gradcam_layer`` when ``model`` has it, else the last ``nn.Conv2d`` in ``model.modules()`` order.

    Raises
    ------
    ValueError
        ``model`` has no ``nn.Conv2d`` to fall back on.
    """
    spec = arch_of(model, arch)
    if spec is not None:
        module = _submodule(model, spec.gradcam_layer)
        if module is not None:
            return spec.gradcam_layer, module
    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise BamuInputError(f"{type(model).__name__} has no Conv2d layer; pass layer= explicitly")
    return convs[-1]


def lora_targets(model: nn.Module, arch: ArchLike = None) -> list[str]:
    """Module-name suffixes for LoRA to adapt: the architecture's ``lora_targets``, else the names
    of every ``nn.Conv2d`` and ``nn.Linear`` of ``model``.

    Raises
    ------
    ValueError
        No architecture and ``model`` has no ``nn.Conv2d`` or ``nn.Linear``.
    """
    spec = arch_of(model, arch)
    if spec is not None:
        return list(spec.lora_targets)
    names = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and n]
    if not names:
        raise BamuInputError("the model has no nn.Conv2d or nn.Linear layer for LoRA to adapt")
    return names
