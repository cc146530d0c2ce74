"""``retrain``: train again on the retain set with the baseline's recipe (the oracle every method is compared with).

Uses :func:`bamu_core.training.fit` with the baseline's recipe (``epochs``, ``lr``,
``batch_size``, ``optimizer``, ``weight_decay``, and the starting point: ``init`` = the pretrained
weights to start from, ``reinit`` = submodules to initialise afresh, as in
:func:`bamu_core.models.initial_model`; the workflow passes the scenario's). Results are cached under
``BAMU_HOME/retrain`` by a hash of the architecture, the retain data, the recipe and the seed, so
a second call returns at once; ``extras["train_seconds"]`` keeps the time the training took.
Intensity only distinguishes 0 (no change) from > 0 (retrain). BatchNorm trains normally here.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time

import numpy as np
import torch
import torch.nn as nn

from ..errors import BamuInputError
from ..models import initial_model, load_weights, read_state_dict, save_weights
from ..models.introspect import arch_name, arch_of, classifier_layer
from ..storage import atomic_write_json, bamu_home, config_hash
from ..training import StopRequested, fit
from ._api import RunContext, UnlearningMethod, register_method
from ._driver import SelectionDriver


def _fingerprint(data) -> str:
    h = hashlib.sha256()
    h.update(data.images_u8.numpy().tobytes())
    h.update(np.ascontiguousarray(data.labels).tobytes())
    return h.hexdigest()[:16]


def _fresh(model: nn.Module, seed: int, hp: dict) -> nn.Module:
    """The recipe's starting point for the architecture of ``model`` (seeded): pretrained weights
    when ``hp["init"]`` names them, with ``hp["reinit"]`` initialised afresh; else a newly
    initialised model."""
    spec = arch_of(model)
    if spec is not None:
        num_classes = classifier_layer(model, spec)[1].out_features
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        recipe = {"arch": spec.name, "init": hp.get("init"), "reinit": hp.get("reinit")}
        return initial_model(
            recipe, num_classes=num_classes, in_channels=convs[0].in_channels if convs else 3, seed=seed
        )
    if hp.get("init") not in (None, "scratch"):
        raise BamuInputError(f"init {hp['init']!r} needs a model built by bamu (an architecture from the registry)")
    torch.manual_seed(seed)
    fresh = copy.deepcopy(model)
    for m in fresh.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return fresh


@register_method("retrain")
class Retrain(UnlearningMethod):
    summary = "train again on the retain set with the baseline's recipe (the slow oracle; cached)"
    uses_forget = False

    def _unlearn(self, ctx: RunContext):
        hp = ctx.hp
        recipe = {k: hp[k] for k in ("epochs", "lr", "batch_size", "optimizer", "weight_decay", "init", "reinit")}
        reinit = recipe["reinit"] or []
        recipe["reinit"] = [reinit] if isinstance(reinit, str) else list(reinit)
        shapes = {k: list(v.shape) for k, v in ctx.model.state_dict().items()}
        key = config_hash(
            {
                "arch": arch_name(ctx.model),
                "shapes": shapes,
                "retain": _fingerprint(ctx.retain),
                "recipe": recipe,
                "seed": ctx.seed,
                "v": 2,
            }
        )
        path = bamu_home() / "retrain" / f"{key}.safetensors"
        meta = path.with_suffix(".json")
        total = int(hp["epochs"]) * -(-len(ctx.retain) // int(hp["batch_size"]))
        driver = SelectionDriver(ctx, total)
        cached, train_seconds = False, None
        model = None
        if hp.get("use_cache", True) and path.exists() and meta.exists():
            try:  # a plain skeleton takes the cached weights (no need for the pretrained file)
                model = _fresh(ctx.model, ctx.seed, {})
                load_weights(model, read_state_dict(path), source=f"cached retrain {path.name}")
                train_seconds = json.loads(meta.read_text())["seconds"]
                cached = True
            except (ValueError, OSError, KeyError, TypeError):
                model = None
        if not cached:
            model = _fresh(ctx.model, ctx.seed, hp)
            start = time.perf_counter()
            try:
                fit(
                    model,
                    ctx.retain,
                    epochs=int(hp["epochs"]),
                    lr=float(hp["lr"]),
                    batch_size=int(hp["batch_size"]),
                    optimizer=hp["optimizer"],
                    weight_decay=float(hp["weight_decay"]),
                    seed=ctx.seed,
                    device=ctx.device,
                    progress=lambda ev: driver.record(ev.step, ev.loss, total=ev.total),
                    should_stop=ctx.should_stop,
                )
            except StopRequested as exc:
                driver.end("cancelled", f"cancelled: {exc}; returned the original model")
            except FloatingPointError as exc:
                driver.end("diverged", f"{exc}; returned the original model")
            train_seconds = time.perf_counter() - start
            if driver.status == "ok":
                save_weights(model, path)
                atomic_write_json(meta, {"seconds": train_seconds, "recipe": recipe, "seed": ctx.seed})
        if driver.status != "ok":  # nothing was judged: the original model comes back
            return ctx.model, driver.outcome(message=driver.message, steps=len(driver.history), selection=False)
        model.to(ctx.device).eval()
        original = driver.evaluate(ctx.model)
        driver.accept(original, total, driver.evaluate(model), model)
        start_from = (
            "from scratch"
            if hp.get("init") in (None, "scratch")
            else f"from {hp['init']}"
            + (f" (re-initialised: {', '.join(recipe['reinit'])})" if recipe["reinit"] else "")
        )
        note = f"retrained {start_from} on {len(ctx.retain)} images" + (
            " (cached)" if cached else f" in {train_seconds:.1f} s"
        )
        return model, driver.outcome(
            message=note, steps=total, cached=cached, train_seconds=train_seconds, cache_path=str(path)
        )
