"""A model's logits on a split, computed in shards on an executor and merged in order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from .._compat import on_device, pick_device
from ..data import ImageData
from ..errors import BamuInputError
from ..training import predict

__all__ = ["shard_bounds", "sharded_logits", "ShardFailed"]


class ShardFailed(RuntimeError):
    """A shard's inference failed (an audit cannot be made from part of the split)."""


def shard_bounds(n: int, shards: int, batch_size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges covering ``0..n`` in order, at most ``shards`` of them.

    Every boundary but the last is a multiple of ``batch_size``, so each shard's batches are the
    very batches one process would make over the whole split (the same images together, hence the
    same logits), and no shard is empty.
    """
    if shards < 1:
        raise BamuInputError(f"shards must be >= 1, got {shards}")
    if batch_size < 1:
        raise BamuInputError(f"batch_size must be >= 1, got {batch_size}")
    n_batches = -(-n // batch_size)
    per = -(-n_batches // shards) if n_batches else 1
    bounds = []
    for start_batch in range(0, n_batches, per):
        bounds.append((start_batch * batch_size, min(n, (start_batch + per) * batch_size)))
    return bounds


@dataclass
class _Inference:
    """What every shard task needs, sent once: the model (on the CPU), the split and the settings."""

    model: nn.Module
    data: ImageData
    batch_size: int
    device: str | None


def _predict_shard(job: _Inference, bounds: tuple[int, int]) -> torch.Tensor:
    dev = pick_device(job.device)
    with on_device(job.model, dev) as model:
        return predict(model, job.data, indices=np.arange(*bounds), batch_size=job.batch_size, device=dev)


def sharded_logits(
    model: nn.Module,
    data: ImageData,
    *,
    executor,
    shards: int | None = None,
    batch_size: int = 512,
    device: str | None = None,
) -> torch.Tensor:
    """The logits of ``model`` on every item of ``data``, in order, from ``shards`` tasks on
    ``executor`` (default: one shard per batch).

    The shards follow :func:`shard_bounds`, so the logits are those of one :func:`predict` over the
    whole split with the same ``batch_size`` (and torch threads). The model is sent to the
    workers once and never modified. Raises :class:`ShardFailed` if any shard fails.
    """
    from ..execution import get_executor

    n_batches = max(1, -(-len(data) // batch_size))
    bounds = shard_bounds(len(data), n_batches if shards is None else shards, batch_size)
    job = _Inference(model=model, data=data, batch_size=batch_size, device=device)
    ex = get_executor(executor)
    with ex:
        outcomes = ex.map(_predict_shard, bounds, shared=job)
    failed = [(bounds[o.index], o.failure) for o in outcomes if not o.ok]
    if failed:
        (a, b), failure = failed[0]
        raise ShardFailed(f"{len(failed)} of {len(bounds)} shard(s) failed; images {a}..{b - 1}: {failure.error}")
    return torch.cat([o.value for o in outcomes])
