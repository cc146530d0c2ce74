"""One pass of a model over a split that keeps what the views read: block outputs and penultimate features."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from .._compat import on_device, pick_device
from ..data import ImageData, batches
from ..models import classifier_layer

__all__ = ["Embeddings", "embed", "pooled", "as_device", "small_blas"]


def small_blas():
    """A context in which NumPy's BLAS runs on one thread: the probes and projections fit a few
    hundred rows, where more threads only contend (on a busy machine 50 x slower)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def as_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a :class:`torch.device` (a name or None goes through :func:`pick_device`)."""
    return device if isinstance(device, torch.device) else pick_device(device)


def pooled(t: torch.Tensor) -> torch.Tensor:
    """A block output as one row per image: the spatial mean of (N, C, H, W), the token mean of
    (N, T, D), (N, D) as it is."""
    t = t.detach().float()
    if t.ndim == 4:
        return t.mean(dim=(2, 3))
    if t.ndim == 3:
        return t.mean(dim=1)
    return t.flatten(1)


@dataclass
class Embeddings:
    """What :func:`embed` kept: ``penultimate`` (n, d) float64, ``blocks`` name -> (n, d_b) float64,
    ``logits`` (n, k) float64 (the model's outputs)."""

    penultimate: np.ndarray
    layer: str
    blocks: dict[str, np.ndarray] = field(default_factory=dict)
    indices: np.ndarray | None = None
    logits: np.ndarray | None = None


def embed(
    model: nn.Module,
    data: ImageData,
    *,
    indices=None,
    blocks: bool = True,
    device: str | torch.device | None = None,
    batch_size: int = 512,
) -> Embeddings:
    """Run ``model`` (eval mode, no gradients, never moved: a device copy is used) over ``data``
    once and keep the input of its classifier layer and, with ``blocks``, the pooled output of every
    top-level child module (:func:`pooled`), in ``named_children`` order."""
    dev = as_device(device)
    idx = np.arange(len(data)) if indices is None else np.asarray(indices, dtype=np.int64)
    with on_device(model, dev) as shared:
        # hooks go on a private copy: another thread may be running the same model object meanwhile
        net = copy.deepcopy(shared)
        layer, head = classifier_layer(net)
        penult: list[torch.Tensor] = []
        logits: list[torch.Tensor] = []
        outs: dict[str, list[torch.Tensor]] = {}
        hooks = [head.register_forward_pre_hook(lambda _m, args: penult.append(args[0].detach().float().flatten(1)))]
        if blocks:
            for name, child in net.named_children():
                if child is head:
                    continue

                def keep(_m, _args, out, name=name):
                    if isinstance(out, torch.Tensor) and out.ndim >= 2:
                        outs.setdefault(name, []).append(pooled(out).cpu())

                hooks.append(child.register_forward_hook(keep))
        was_training = net.training
        net.eval()
        try:
            with torch.no_grad():
                for x, *_ in batches(data, batch_size=batch_size, indices=idx, device=dev):
                    out = net(x)
                    if isinstance(out, torch.Tensor) and out.ndim == 2:
                        logits.append(out.detach().float().cpu())
        finally:
            for h in hooks:
                h.remove()
            net.train(was_training)
    width = head.in_features
    phi = torch.cat(penult).cpu().double().numpy() if penult else np.zeros((0, width))
    kept = {k: torch.cat(v).double().numpy() for k, v in outs.items() if sum(len(t) for t in v) == len(idx)}
    z = torch.cat(logits).double().numpy() if logits and sum(len(t) for t in logits) == len(idx) else None
    return Embeddings(penultimate=phi, layer=layer, blocks=kept, indices=idx, logits=z)
