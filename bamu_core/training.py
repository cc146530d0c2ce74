"""Supervised training and batched inference, shared by baselines, retraining and evaluation."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import ImageData, batches
from .errors import BamuInputError
from .memory import is_out_of_memory, smaller_batch
from .progress import Progress, ProgressEvent

__all__ = ["predict", "fit", "Progress", "StopRequested"]


class StopRequested(Exception):
    """Raised inside a loop when the caller's ``should_stop()`` turns true."""


@torch.inference_mode()
def predict(
    model: nn.Module,
    data: ImageData,
    *,
    indices=None,
    batch_size: int = 512,
    device: torch.device | str = "cpu",
    counterfactual: bool = False,
) -> torch.Tensor:
    """Logits of ``model`` on ``data`` (float32, on CPU), in eval mode; the mode is restored.

    When the device runs out of memory the batch size is halved (with a
    :class:`~bamu_core.memory.BatchSizeWarning`) and inference goes on from the failed batch.
    """
    was_training = model.training
    model.eval()
    outs = []
    idx = np.arange(len(data)) if indices is None else np.asarray(indices, dtype=np.int64)
    done = 0
    try:
        while done < len(idx):
            try:
                for x, *_ in batches(
                    data, batch_size=batch_size, indices=idx[done:], device=device, counterfactual=counterfactual
                ):
                    outs.append(model(x).float().cpu())
                    done += len(x)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                x = None
            else:
                break
            batch_size = smaller_batch(batch_size, where="inference")
    finally:
        model.train(was_training)
    if not outs:
        n_out = _num_outputs(model)
        return torch.empty(0, n_out)
    return torch.cat(outs)


def _num_outputs(model: nn.Module) -> int:
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return last[-1].out_features if last else 0


def fit(
    model: nn.Module,
    data: ImageData,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 128,
    indices=None,
    optimizer: str = "sgd",
    weight_decay: float = 5e-4,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[float]:
    """Train ``model`` in place with cross-entropy; returns the mean loss of each epoch.

    SGD uses momentum 0.9 and a cosine learning-rate schedule; Adam a constant rate.
    ``progress(event)`` is called after every step with a :class:`~bamu_core.progress.ProgressEvent`; ``should_stop()``
    is checked
    before every step and raises :class:`StopRequested`. When the device runs out of memory, each
    step's batch is split into halves (gradients accumulated, so the step stays the same) with a
    :class:`~bamu_core.memory.BatchSizeWarning`.
    """
    if epochs < 1:
        raise BamuInputError(f"epochs must be >= 1, got {epochs}")
    if lr <= 0:
        raise BamuInputError(f"lr must be positive, got {lr}")
    n = len(data) if indices is None else len(indices)
    if n == 0:
        raise BamuInputError("cannot train on an empty set")
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    elif optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        sched = None
    else:
        raise BamuInputError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    model.to(device).train()
    step, history = 0, []
    chunk = None  # after running out of memory: images per forward pass (gradients accumulated per step)
    for epoch in range(epochs):
        losses = []
        for x, y, _, _ in batches(
            data, batch_size=batch_size, indices=indices, shuffle=True, seed=seed * 1000 + epoch, device=device
        ):
            if should_stop is not None and should_stop():
                raise StopRequested(f"stopped at step {step} of {total}")
            while True:
                try:
                    loss = _fit_step(model, opt, x, y, chunk=chunk, step=step)
                    break
                except Exception as exc:
                    if not is_out_of_memory(exc):
                        raise
                chunk = smaller_batch(chunk or len(x), where="training")
            if sched is not None:
                sched.step()
            step += 1
            losses.append(loss)
            if progress is not None:
                progress(ProgressEvent(step=step, total=total, loss=losses[-1], phase="training"))
        history.append(float(np.mean(losses)))
    model.eval()
    return history


def _fit_step(
    model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, *, chunk: int | None, step: int
) -> float:
    """One optimiser step of cross-entropy on ``(x, y)``, in chunks of ``chunk`` images if given."""
    opt.zero_grad(set_to_none=True)
    if chunk is None or chunk >= len(x):
        losses = [(F.cross_entropy(model(x), y), 1.0)]
    else:
        losses = (
            (F.cross_entropy(model(x[s : s + chunk]), y[s : s + chunk]), len(y[s : s + chunk]) / len(y))
            for s in range(0, len(x), chunk)
        )
    total = 0.0
    for loss, weight in losses:
        if not torch.isfinite(loss):
            opt.zero_grad(set_to_none=True)
            raise FloatingPointError(f"training loss became {loss.item()} at step {step}; lower the learning rate")
        (loss * weight if weight != 1.0 else loss).backward()
        total += loss.item() * weight
    opt.step()
    return total
