"""The one training loop every gradient-based method runs on.

It owns batching (cyclic, seeded streams over the forget / retain data), the device, mixed
precision on CUDA, the optimiser, cancellation before every step and the non-finite-loss guard;
progress events, the collapse guard and checkpoint selection on the validation split go through
a :class:`~bamu_core.unlearn._driver.SelectionDriver` (as for ``newton`` and ``retrain``). A
method only supplies the trainable parameters and a loss over one batch of each stream.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn as nn

from ..data import ImageData, batches
from ..errors import BamuInputError
from ..memory import is_out_of_memory, smaller_batch
from ._api import Outcome, RunContext
from ._driver import SelectionDriver

__all__ = ["Stream", "Tally", "auto_eval_every", "run_loop"]

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class Stream:
    """Endless shuffled batches over ``data`` (reshuffled, seeded, every pass).

    ``counterfactual=True`` yields the counterfactual images (bias attribute flipped) with the
    true labels. ``weights`` (one non-negative number per image) makes every pass a seeded draw of
    ``len(data)`` images with replacement, each with probability proportional to its weight:
    group-balanced batches when the weights equalise the group x class cells. Sampling keeps a
    batch's loss an unweighted mean; weighting the loss of uniformly drawn batches instead gives a
    few rare images most of a batch's gradient and is far noisier (it broke a pretrained ResNet-20
    on CIFAR-10 within 60 steps where balanced batches at the same rate did not).
    """

    def __init__(
        self,
        data: ImageData,
        *,
        batch_size: int,
        seed: int,
        device: torch.device,
        counterfactual: bool = False,
        weights: np.ndarray | None = None,
    ):
        if len(data) == 0:
            raise BamuInputError("cannot stream batches from an empty dataset")
        self.data, self.batch_size, self.seed, self.device, self.cf = (
            data,
            min(batch_size, len(data)),
            seed,
            device,
            counterfactual,
        )
        self.p = None
        if weights is not None:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != (len(data),) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
                raise BamuInputError("sampling weights need one finite non-negative value per image, not all zero")
            self.p = w / w.sum()
        self.epoch = 0
        self._it = self._new_pass()

    def _new_pass(self) -> Iterator[Batch]:
        seed = self.seed * 100_003 + self.epoch
        indices = None
        if self.p is not None:
            indices = np.random.default_rng(seed).choice(len(self.data), size=len(self.data), p=self.p)
        return batches(
            self.data,
            batch_size=self.batch_size,
            indices=indices,
            shuffle=self.p is None,
            seed=seed,
            device=self.device,
            counterfactual=self.cf,
        )

    def resize(self, batch_size: int) -> None:
        """Use ``batch_size`` from now on (the current pass starts again, same order)."""
        if batch_size != self.batch_size:
            self.batch_size = max(1, min(int(batch_size), len(self.data)))
            self._it = self._new_pass()

    def next(self) -> Batch:
        try:
            return next(self._it)
        except StopIteration:
            self.epoch += 1
            self._it = self._new_pass()
            return next(self._it)


class Tally:
    """Running accuracy of the training batches since the last evaluation (free: the logits exist).

    A loss function calls ``tally.add("forget", logits, labels)`` (or ``"retain"``); at the next
    evaluation these replace a separate pass over the forget / retain subsets.
    """

    def __init__(self):
        self.counts: dict[str, list[int]] = {}

    def add(self, name: str, logits: torch.Tensor, labels: torch.Tensor) -> None:
        c = self.counts.setdefault(name, [0, 0])
        c[0] += int((logits.detach().argmax(1) == labels).sum())
        c[1] += int(labels.numel())

    def pop(self) -> dict[str, float]:
        out = {k: c[0] / c[1] for k, c in self.counts.items() if c[1]}
        self.counts = {}
        return out


def _autocast(device: torch.device, enabled: bool):
    """bf16 autocast where supported (no loss scaling needed), else fp16; a no-op when off."""
    if not enabled or device.type != "cuda":
        return nullcontext(), None
    if torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16), None
    return torch.autocast("cuda", dtype=torch.float16), torch.amp.GradScaler("cuda")


def _optimizer(params: list[nn.Parameter], hp: dict) -> torch.optim.Optimizer:
    lr, wd = float(hp["lr"]), float(hp.get("weight_decay", 0.0))
    if not lr > 0 or not math.isfinite(lr):
        raise BamuInputError(f"lr must be a positive number, got {hp['lr']!r}")
    if hp.get("optimizer", "adam") == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if hp["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)
    raise BamuInputError(f"optimizer must be 'adam' or 'sgd', got {hp['optimizer']!r}")


def auto_eval_every(images_per_evaluation: int, images_per_step: int, total: int) -> int:
    """Steps between evaluations for ``eval_every=0``: about ``images_per_evaluation /
    images_per_step``, so that validation (one forward pass per image) takes about a quarter of the
    time next to training (a forward and a backward pass, about three forward passes, per image);
    at least 1, and at most an eighth of ``total`` so that a run is judged at least eight times (the
    useful window of a fine-tune can be a few steps long).
    Counted from sizes, not measured times, so that a run is the same on any machine."""
    if images_per_evaluation <= 0 or images_per_step <= 0:
        return 1
    k = math.ceil(images_per_evaluation / images_per_step)
    return int(max(1, min(k, total // 8)))


def run_loop(
    ctx: RunContext,
    *,
    net: nn.Module,
    params: list[nn.Parameter],
    streams: dict[str, Stream],
    loss_fn: Callable[[dict[str, Batch], Tally], torch.Tensor],
) -> Outcome:
    """Run ``ctx.hp["steps"]`` optimisation steps of ``loss_fn(batches, tally)`` on ``params`` of ``net``.

    ``net`` is kept in eval mode (BatchNorm statistics frozen, dropout off). At the end the
    parameters hold the selected checkpoint. ``ctx.hp`` supplies ``steps``, ``lr``,
    ``optimizer``, ``weight_decay``, ``eval_every`` (0: :func:`auto_eval_every`) and ``amp``
    (``"auto"``: on for CUDA).
    """
    hp = ctx.hp
    total, eval_every = int(hp["steps"]), int(hp["eval_every"])
    if total < 1 or eval_every < 0:
        raise BamuInputError(f"steps must be >= 1 and eval_every >= 0, got {total} and {eval_every}")
    amp = hp.get("amp", "auto")
    autocast, scaler = _autocast(ctx.device, ctx.device.type == "cuda" if amp == "auto" else bool(amp))
    opt = _optimizer(params, hp)
    net.eval()
    driver = SelectionDriver(ctx, total)
    if eval_every == 0:
        eval_every = auto_eval_every(
            driver.judge.images_per_evaluation, sum(s.batch_size for s in streams.values()), total
        )

    def snapshot() -> list[torch.Tensor]:
        return [p.detach().clone() for p in params]

    tally = Tally()
    driver.start(driver.evaluate(net), snapshot())
    reduced = 0  # batch size after running out of memory (0: never)
    for step in range(1, total + 1):
        if driver.cancelled(step):
            break
        while True:  # one step; after running out of memory, again with smaller batches
            counts = {k: list(v) for k, v in tally.counts.items()}
            try:
                loss = _step(streams, loss_fn, tally, opt, autocast, scaler)
                break
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                opt.zero_grad(set_to_none=True)
                tally.counts = counts
            largest = max(s.batch_size for s in streams.values())
            reduced = smaller_batch(largest, where=f"unlearning step {step}")
            for s in streams.values():
                s.resize(min(s.batch_size, reduced))
        if not torch.isfinite(loss):
            driver.end("diverged", f"the loss became {loss.item()} at step {step}")
            break
        if step % eval_every and step != total:
            driver.record(step, loss.item())
            continue
        if driver.consider(step, loss.item(), driver.evaluate(net, measured=tally.pop()), snapshot):
            break
    with torch.no_grad():
        for p, saved in zip(params, driver.best):
            p.copy_(saved)
    outcome = driver.outcome()
    outcome.extras["eval_every"] = eval_every
    if reduced:
        outcome.message += f"; ran out of memory, so batches were cut to {reduced} images"
    return outcome


def _step(
    streams: dict[str, Stream], loss_fn, tally: Tally, opt: torch.optim.Optimizer, autocast, scaler
) -> torch.Tensor:
    """Draw one batch per stream, compute the loss and, when it is finite, apply its gradients."""
    batch = {name: s.next() for name, s in streams.items()}
    with autocast:
        loss = loss_fn(batch, tally)
    if not torch.isfinite(loss):
        return loss
    opt.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()
    return loss
