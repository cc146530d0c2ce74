"""Datasets with subgroup labels: built-in biased scenarios, official datasets (CelebA, CUB,
Waterbirds) and user image folders."""

from ._base import ImageData, Scenario, batches, concat
from ._official import (
    DATASETS,
    dataset_summary,
    list_datasets,
    load_dataset,
    register_dataset,
)
from .celeba import celeba_attributes, load_celeba
from .cub import cub_attributes, cub_parts, load_cub
from .folder import DEFAULT_IMAGE_SIZE, IMAGENET_MEAN, IMAGENET_STD, load_folder
from .scenarios import (
    CIFAR_CLASSES,
    DIGIT_COLOURS,
    PATCH_CORNERS,
    PATCH_PATTERNS,
    SCENARIOS,
    checkerboard_patch,
    default_cifar_root,
    list_scenarios,
    load_scenario,
    patch_pattern,
    register_scenario,
    scenario_options,
    scenario_summary,
)
from .utkface import check_bias, default_utkface_root
from .waterbirds import load_waterbirds

__all__ = [
    "ImageData",
    "Scenario",
    "batches",
    "concat",
    "load_folder",
    "load_dataset",
    "list_datasets",
    "dataset_summary",
    "register_dataset",
    "DATASETS",
    "load_celeba",
    "celeba_attributes",
    "load_cub",
    "cub_attributes",
    "cub_parts",
    "load_waterbirds",
    "load_scenario",
    "list_scenarios",
    "register_scenario",
    "scenario_summary",
    "SCENARIOS",
    "default_cifar_root",
    "default_utkface_root",
    "check_bias",
    "checkerboard_patch",
    "patch_pattern",
    "scenario_options",
    "PATCH_CORNERS",
    "PATCH_PATTERNS",
    "CIFAR_CLASSES",
    "DIGIT_COLOURS",
    "DEFAULT_IMAGE_SIZE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
]
