"""What a front end offers to choose from: scenarios, official datasets and their options,
architectures, unlearning methods, forget-set strategies, each with its one-line help, the
resolved hyper-parameters of a method, and the compute device.

Reading these never loads images or trains anything; :func:`dataset_choices` reads only the
small list files of an official release, so that a wrong root is reported before loading.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from ..errors import BamuInputError
from ..models import CHECKPOINT_SUFFIXES

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "DATASET_TITLES",
    "scenarios",
    "datasets",
    "dataset_defaults",
    "dataset_choices",
    "dataset_baseline",
    "architectures",
    "unlearning_methods",
    "forget_strategies",
    "method_hyperparameters",
    "compute_device",
]

#: Display names of the official datasets (:func:`bamu_core.data.load_dataset`).
DATASET_TITLES = {"celeba": "CelebA", "cub": "CUB-200-2011", "waterbirds": "Waterbirds"}
# Loader arguments that are not the user's choices of an official dataset.
_LOADER_ARGS = ("root", "image_size", "mean", "std", "seed", "workers", "progress")


def scenarios() -> dict[str, str]:
    """The built-in scenarios and their one-line description."""
    from ..data import list_scenarios, scenario_summary

    return {name: scenario_summary(name) for name in list_scenarios()}


def datasets() -> dict[str, str]:
    """The official datasets and what each expects on disk."""
    from ..data import dataset_summary, list_datasets

    return {name: dataset_summary(name) for name in list_datasets()}


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASET_TITLES:
        raise BamuInputError(f"dataset must be one of {', '.join(DATASET_TITLES)}, got {dataset!r}")


def dataset_defaults(dataset: str) -> dict[str, Any]:
    """The loader options of an official ``dataset`` with their defaults (from its signature),
    e.g. ``{"target": "Smiling", "sensitive": "Male", "max_per_split": None}`` for ``celeba``."""
    from ..data import load_celeba, load_cub, load_waterbirds

    _check_dataset(dataset)
    loader = {"celeba": load_celeba, "cub": load_cub, "waterbirds": load_waterbirds}[dataset]
    params = inspect.signature(loader).parameters.values()
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY and p.name not in _LOADER_ARGS}


def dataset_baseline(dataset: str) -> dict[str, Any]:
    """The training recipe of an official ``dataset``'s baseline (arch, epochs, lr), e.g.
    ``{"arch": "resnet18", "epochs": 3, "lr": 0.001}`` for ``celeba``."""
    from ..data.celeba import CELEBA_BASELINE
    from ..data.cub import CUB_BASELINE
    from ..data.waterbirds import WATERBIRDS_BASELINE

    _check_dataset(dataset)
    return dict({"celeba": CELEBA_BASELINE, "cub": CUB_BASELINE, "waterbirds": WATERBIRDS_BASELINE}[dataset])


def dataset_choices(dataset: str, root: str | Path, *, group_source: str = "visibility") -> dict[str, list[str]]:
    """What an official dataset at ``root`` offers, read from its small list files only (no image
    is opened), so that a wrong root is reported before anything loads.

    ``celeba``: ``{"attributes": [...]}`` (line 2 of ``list_attr_celeba.txt``); ``cub``:
    ``{"parts": [...]}`` and, with ``group_source="attribute"``, ``"attributes"``; ``waterbirds``:
    ``{}`` once ``metadata.csv`` is found.

    Raises
    ------
    FileNotFoundError, ValueError
        The loaders' messages: the root is not a folder, a file is missing or malformed.
    """
    from ..data import celeba_attributes, cub_attributes, cub_parts

    _check_dataset(dataset)
    if dataset == "celeba":
        return {"attributes": celeba_attributes(root)}
    if dataset == "cub":
        out = {"parts": cub_parts(root)}
        if group_source == "attribute":
            out["attributes"] = cub_attributes(root)
        return out
    from ..data._official import check_root, find_file  # waterbirds
    from ..data.cub import _WB_HINT

    find_file(
        check_root(root, dataset="Waterbirds", hint=_WB_HINT), "metadata.csv", dataset="Waterbirds", hint=_WB_HINT
    )
    return {}


def architectures() -> dict[str, str]:
    """The model architectures a checkpoint can be loaded into, and their description."""
    from ..models import get_arch, list_archs

    return {name: get_arch(name).description for name in list_archs()}


def unlearning_methods(scenario=None) -> dict[str, str]:
    """The registered unlearning methods and their one-line explanation; given a ``scenario``,
    only those it can run (a method that needs counterfactual images needs data that has them)."""
    from ..unlearn import get_method, list_methods

    out = {}
    for name in list_methods():
        method = get_method(name)
        if scenario is None or scenario.train.has_counterfactual or not method.needs_counterfactual:
            out[name] = method.summary
    return out


def forget_strategies() -> dict[str, str]:
    """The registered forget-set strategies and their description."""
    from ..forget import list_strategies, strategy_summary

    return {name: strategy_summary(name) for name in list_strategies()}


def method_hyperparameters(method: str, intensity: float, subject=None) -> dict:
    """The hyper-parameters ``method`` runs with at ``intensity``: the intensity table, with the
    defaults of the subject's scenario for its model when a ``subject`` is given (see
    :func:`bamu_core.workflows.scenario_hyperparameters`)."""
    from ..unlearn import resolve_hyperparameters

    return resolve_hyperparameters(method, float(intensity), _scenario_defaults(method, intensity, subject))


def method_hyperparameter_rows(method: str, intensity: float, subject=None) -> list:
    """:func:`method_hyperparameters` as documented rows (name, value, help, intensity range), from
    the method's config dataclass (:func:`bamu_core.unlearn.hyperparameter_rows`)."""
    from ..unlearn import hyperparameter_rows

    return hyperparameter_rows(method, float(intensity), _scenario_defaults(method, intensity, subject))


def _scenario_defaults(method: str, intensity: float, subject) -> dict:
    """The subject's scenario defaults for ``method`` (none without a subject)."""
    from .unlearning import scenario_hyperparameters

    if subject is None:
        return {}
    return scenario_hyperparameters(subject.scenario, method, float(intensity), subject.arch)


def compute_device() -> tuple[str, str]:
    """The device computations run on (``BAMU_DEVICE``, else the best available): its name and a
    description such as ``cpu (2 threads)``. A ``BAMU_DEVICE`` this machine lacks gives the CPU
    and the reason as its description."""
    from .._compat import describe_device, pick_device

    try:
        device = pick_device()
    except ValueError as exc:
        return "cpu", f"cpu ({exc})"
    return str(device), describe_device(device).replace("(1 threads)", "(1 thread)")
