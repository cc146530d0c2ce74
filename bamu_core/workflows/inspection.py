"""The views inside the model (:mod:`bamu_core.insight`) of an unlearning run, as the workflows add them."""

from __future__ import annotations

import time

import torch.nn as nn

from .._compat import pick_device
from ..errors import BamuInputError
from ..insight import InsightOptions, model_views, relearning, sample_indices
from ..results import Leakage, Relearning, Representation
from .subject import Subject

__all__ = ["InsightOptions", "inspect_unlearning", "aligned_images"]


def aligned_images(subject: Subject, n: int, *, seed: int = 0, device=None):
    """``n`` bias-aligned training images (the ``aligned`` forget strategy's selection), seeded."""
    from ..forget import select_forget

    sc = subject.scenario
    fs = select_forget(sc, "aligned", model=subject.model, device=device)
    idx = fs.indices[sample_indices(len(fs.indices), n, seed)]
    return sc.train.subset(idx)


def inspect_unlearning(
    subject: Subject,
    unlearned: nn.Module,
    *,
    options: InsightOptions | None = None,
    device=None,
    seed: int = 0,
    timings: dict | None = None,
) -> tuple[Leakage | None, Representation | None, Relearning | None]:
    """Leakage probe, representation view and (when switched on) relearning test of ``unlearned``
    against ``subject.model`` (and ``options.oracle``) on the test split. ``timings`` (when given)
    gets the seconds of each under ``insight_*``."""
    opts = options if options is not None else InsightOptions()
    dev = pick_device(device)
    sc = subject.scenario
    t0 = time.perf_counter()
    leak, rep = model_views(
        subject.model, unlearned, sc.test, options=opts, class_names=sc.class_names, seed=seed, device=dev
    )
    if timings is not None and (leak is not None or rep is not None):
        timings["insight_views"] = time.perf_counter() - t0
    relearn = None
    if opts.relearning:
        t0 = time.perf_counter()
        try:
            aligned = aligned_images(subject, opts.relearning_images, seed=seed, device=dev)
        except BamuInputError as exc:
            relearn = Relearning(reading=f"the relearning test did not run: {exc}")
        else:
            relearn = relearning(
                subject.model,
                unlearned,
                aligned,
                sc.test,
                num_classes=sc.num_classes,
                oracle=opts.oracle,
                k=opts.relearning_steps,
                every=opts.relearning_every,
                lr=opts.relearning_lr,
                seed=seed,
                device=dev,
            )
        if timings is not None:
            timings["insight_relearning"] = time.perf_counter() - t0
    return leak, rep, relearn
