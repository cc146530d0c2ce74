"""Supervised training and batched inference, shared by baselines, retraining and evaluation."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import ImageData, batches

__all__ = ["predict", "fit", "Progress", "StopRequested"]

Progress = Callable[[int, int, float], None]


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
    """Logits of ``model`` on ``data`` (float32, on CPU), in eval mode; the mode is restored."""
    was_training = model.training
    model.eval()
    outs = []
    try:
        for x, *_ in batches(data, batch_size=batch_size, indices=indices, device=device, counterfactual=counterfactual):
            outs.append(model(x).float().cpu())
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
    ``progress(step, total, loss)`` is called after every step; ``should_stop()`` is checked
    before every step and raises :class:`StopRequested`.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}")
    n = len(data) if indices is None else len(indices)
    if n == 0:
        raise ValueError("cannot train on an empty set")
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
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    model.to(device).train()
    step, history = 0, []
    for epoch in range(epochs):
        losses = []
        for x, y, _, _ in batches(data, batch_size=batch_size, indices=indices, shuffle=True, seed=seed * 1000 + epoch, device=device):
            if should_stop is not None and should_stop():
                raise StopRequested(f"stopped at step {step} of {total}")
            loss = F.cross_entropy(model(x), y)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss became {loss.item()} at step {step}; lower the learning rate")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            step += 1
            losses.append(loss.item())
            if progress is not None:
                progress(step, total, losses[-1])
        history.append(float(np.mean(losses)))
    model.eval()
    return history
