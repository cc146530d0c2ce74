"""Architectures, where their layers are, safe checkpoint loading and baseline training."""

from . import archs as _archs  # noqa: F401  (registers the architectures)
from ._registry import ARCHS, ArchSpec, build_model, get_arch, list_archs, register_arch
from .baseline import (
    BaselineChoice,
    BaselineInfo,
    baseline_recipe,
    initial_model,
    load_model,
    shared_resnet20_path,
    suggest_baseline,
    train_baseline,
)
from .checkpoint import CHECKPOINT_SUFFIXES, load_weights, read_state_dict, save_weights
from .introspect import (
    ArchLike,
    arch_name,
    arch_of,
    classifier_layer,
    gradcam_layer,
    infer_arch,
    lora_targets,
    resolve_arch,
)

__all__ = [
    "ArchSpec",
    "ArchLike",
    "ARCHS",
    "register_arch",
    "get_arch",
    "list_archs",
    "build_model",
    "resolve_arch",
    "infer_arch",
    "arch_of",
    "arch_name",
    "classifier_layer",
    "gradcam_layer",
    "lora_targets",
    "load_model",
    "train_baseline",
    "baseline_recipe",
    "initial_model",
    "BaselineInfo",
    "BaselineChoice",
    "suggest_baseline",
    "shared_resnet20_path",
    "read_state_dict",
    "load_weights",
    "save_weights",
    "CHECKPOINT_SUFFIXES",
]
