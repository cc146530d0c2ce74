"""Train (or fine-tune) a baseline model on a scenario's biased training split, with a cache."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from .._compat import pick_device
from ..data import Scenario
from ..errors import BamuInputError
from ..progress import Progress
from ..storage import atomic_write_json, bamu_home, config_hash
from ..training import fit
from ._registry import build_model
from .checkpoint import load_weights, read_state_dict, save_weights

__all__ = [
    "train_baseline",
    "baseline_recipe",
    "initial_model",
    "BaselineInfo",
    "BaselineChoice",
    "suggest_baseline",
    "shared_resnet20_path",
    "load_model",
]

#: Images per optimiser step of a baseline without a recipe of its own (see :func:`baseline_recipe`).
BASELINE_BATCH_SIZE = 128
#: Below this many training images (or this many per class) the baseline is the small CNN.
SMALL_DATA_IMAGES = 2_000
SMALL_DATA_PER_CLASS = 100
#: Up to this many training images at up to this image size the baseline is a CIFAR ResNet-20.
MEDIUM_DATA_IMAGES = 20_000
MEDIUM_IMAGE_SIZE = 64
#: Epochs are chosen for about this many optimiser steps, within [MIN_EPOCHS, MAX_EPOCHS].
TARGET_STEPS = 300
MIN_EPOCHS, MAX_EPOCHS = 5, 30


def shared_resnet20_path() -> Path | None:
    """The pretrained CIFAR-10 ResNet-20 in ``../shared/models`` when it is there."""
    import os

    env = os.environ.get("BAMU_RESNET20")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2]
    for base in (here, Path.cwd()):
        p = base.parent / "shared" / "models" / "cifar10_resnet20-12fca82f.th"
        if p.is_file():
            return p
    return None


def load_model(arch: str, *, num_classes: int, checkpoint: str | Path | None = None, in_channels: int = 3) -> nn.Module:
    """Build ``arch`` and, if given, load a checkpoint into it (safely, strictly)."""
    model = build_model(arch, num_classes=num_classes, in_channels=in_channels)
    if checkpoint is not None:
        load_weights(model, read_state_dict(checkpoint), source=f"checkpoint {Path(checkpoint).name}", arch=arch)
    model.eval()
    return model


@dataclass
class BaselineInfo:
    arch: str
    recipe: dict
    seconds: float
    cached: bool
    path: str
    losses: list[float]


@dataclass(frozen=True)
class BaselineChoice:
    """The architecture and epochs suggested for a baseline, and why, in words (a clause that
    follows "<arch> chosen for <N> training images because")."""

    arch: str
    epochs: int
    why: str


def suggest_baseline(n_train_images: int, image_size: int, n_classes: int) -> BaselineChoice:
    """The baseline to train on data that brings no training recipe of its own (a folder + CSV or
    an official dataset), from its size.

    - fewer than :data:`SMALL_DATA_IMAGES` training images, or fewer than
      :data:`SMALL_DATA_PER_CLASS` per class: ``small_cnn`` (about 26 thousand parameters), since a
      large network memorises so few images rather than learning from them;
    - up to :data:`MEDIUM_DATA_IMAGES` images of at most :data:`MEDIUM_IMAGE_SIZE` pixels:
      ``resnet20`` (the CIFAR ResNet, 0.27 M parameters, built for small images);
    - more, or larger images: ``resnet18`` (11 M parameters; its strided stem shrinks large images).

    Epochs give about :data:`TARGET_STEPS` optimiser steps of :data:`BASELINE_BATCH_SIZE` images,
    at least :data:`MIN_EPOCHS` and at most :data:`MAX_EPOCHS`.
    """
    for name, value, low in (
        ("n_train_images", n_train_images, 1),
        ("image_size", image_size, 1),
        ("n_classes", n_classes, 2),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise BamuInputError(f"{name} must be an integer >= {low}, got {value!r}")
    per_class = n_train_images / n_classes
    if n_train_images < SMALL_DATA_IMAGES or per_class < SMALL_DATA_PER_CLASS:
        arch = "small_cnn"
        why = (
            f"a small network learns from so few images ({per_class:,.0f} per class) where a larger one would "
            "memorise them"
        )
    elif n_train_images <= MEDIUM_DATA_IMAGES and image_size <= MEDIUM_IMAGE_SIZE:
        arch = "resnet20"
        why = f"that many images of {image_size} x {image_size} pixels suit the compact ResNet built for small images"
    elif n_train_images > MEDIUM_DATA_IMAGES:
        arch = "resnet18"
        why = "that many images are enough to train a larger network"
    else:
        arch = "resnet18"
        why = f"images of {image_size} x {image_size} pixels need a network that downsamples them early"
    steps_per_epoch = -(-n_train_images // BASELINE_BATCH_SIZE)
    epochs = min(MAX_EPOCHS, max(MIN_EPOCHS, -(-TARGET_STEPS // steps_per_epoch)))
    why += f"; {epochs} epochs of {steps_per_epoch:,} step{'s' if steps_per_epoch != 1 else ''} each"
    return BaselineChoice(arch=arch, epochs=epochs, why=why)


def baseline_recipe(scenario: Scenario, overrides: dict | None = None) -> dict:
    """The scenario's training recipe (arch, epochs, lr, batch size, optimizer and, for the
    recipe's own architecture, its starting point ``init`` / ``reinit``), with ``overrides``
    (None values ignored) applied."""
    overrides = overrides or {}
    recipe = {
        "arch": scenario.default_arch,
        "epochs": 5,
        "lr": 0.01,
        "batch_size": BASELINE_BATCH_SIZE,
        "optimizer": None,
    }
    recipe.update(scenario.baseline)
    recipe.update({k: v for k, v in overrides.items() if v is not None})
    if recipe["optimizer"] is None:
        recipe["optimizer"] = "adam" if recipe["lr"] < 0.01 else "sgd"
    if recipe["arch"] != scenario.baseline.get("arch", scenario.default_arch):
        # the recipe's starting point (pretrained weights, layers to re-initialise) is for its own architecture
        recipe.pop("init", None)
        recipe.pop("reinit", None)
    return recipe


def initial_model(recipe: dict, *, num_classes: int, in_channels: int = 3, seed: int = 0) -> nn.Module:
    """The untrained starting point of a recipe: ``recipe["arch"]`` seeded with ``seed``, loaded
    from the pretrained ResNet-20 when ``recipe["init"] == "shared-resnet20"``, with the submodules
    named in ``recipe["reinit"]`` initialised afresh (used by the baseline and the retrain oracle)."""
    torch.manual_seed(seed)
    model = build_model(recipe["arch"], num_classes=num_classes, in_channels=in_channels)
    init = recipe.get("init")
    if init == "shared-resnet20":
        path = shared_resnet20_path()
        if path is None:
            raise FileNotFoundError("the pretrained ResNet-20 (../shared/models) is not available; set BAMU_RESNET20")
        load_weights(model, read_state_dict(path), source=path.name, arch=recipe["arch"])
    elif init not in (None, "scratch"):
        raise BamuInputError(f"unknown init {init!r}: use 'shared-resnet20' or 'scratch'")
    reinit = recipe.get("reinit") or []
    for name in [reinit] if isinstance(reinit, str) else reinit:
        try:
            module = model.get_submodule(name)
        except AttributeError:
            raise BamuInputError(f"reinit names {name!r}, which {recipe['arch']} does not have") from None
        for m in module.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return model


def train_baseline(
    scenario: Scenario,
    *,
    arch: str | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    use_cache: bool = True,
) -> tuple[nn.Module, BaselineInfo]:
    """Train the scenario's baseline model on its (biased) training split.

    The recipe comes from ``scenario.baseline`` (arch, epochs, lr, optional pretrained init and
    layers to re-initialise); keyword arguments override it. The result is cached under
    ``BAMU_HOME/models`` by a hash of scenario options, recipe and seed, so the second call
    returns instantly.
    """
    recipe = baseline_recipe(scenario, {"arch": arch, "epochs": epochs, "lr": lr})
    key = config_hash({"scenario": scenario.name, "options": scenario.options, "recipe": recipe, "seed": seed, "v": 1})
    folder = bamu_home() / "models"
    weights = folder / f"{scenario.name.replace(':', '_')}-{recipe['arch']}-{key}.safetensors"
    meta = weights.with_suffix(".json")
    model = build_model(recipe["arch"], num_classes=scenario.num_classes, in_channels=scenario.image_shape[0])
    if use_cache and weights.exists() and meta.exists():
        try:
            load_weights(model, read_state_dict(weights), source=f"cached baseline {weights.name}", arch=recipe["arch"])
            info = json.loads(meta.read_text())
            return model.eval(), BaselineInfo(cached=True, path=str(weights), **info)
        except (ValueError, OSError, TypeError):
            pass  # stale or damaged cache entry (e.g. the architecture changed): train afresh

    model = initial_model(recipe, num_classes=scenario.num_classes, in_channels=scenario.image_shape[0], seed=seed)
    dev = pick_device(device if device is None else str(device))
    start = time.perf_counter()
    losses = fit(
        model,
        scenario.train,
        epochs=recipe["epochs"],
        lr=recipe["lr"],
        batch_size=recipe["batch_size"],
        optimizer=recipe["optimizer"],
        seed=seed,
        device=dev,
        progress=progress,
        should_stop=should_stop,
    )
    seconds = time.perf_counter() - start
    model.to("cpu").eval()
    save_weights(model, weights)
    info = {"arch": recipe["arch"], "recipe": recipe, "seconds": seconds, "losses": losses}
    atomic_write_json(meta, info)
    return model, BaselineInfo(cached=False, path=str(weights), **info)
