"""Relearning stress test: does a little bias-aligned fine-tuning bring the removed bias back?

A deep copy of each model (the caller's models are never changed) is fine-tuned for ``k`` steps
with Adam on minibatches drawn from a small set of bias-aligned training images; the test
demographic parity difference is measured every ``every`` steps. A bias that was only hidden
comes back within a few steps; one that was removed from the representation needs about as
many steps as it took the original model to learn it. A model's *steps to half* is the first
measured step at which its DP has risen by half the gap unlearning removed
(``rise = (DP_original - DP_unlearned) / 2`` above the model's own DP at step 0); for the
unlearned model that is the DP level ``target = DP_unlearned + rise``. The original and the
oracle go through the same procedure, each against its own starting DP, so the counts compare.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
import torch.nn as nn

from ..data import ImageData, batches
from ..errors import BamuInputError
from ..metrics import demographic_parity_difference
from ..results import Relearning, RelearningCurve
from ..training import predict
from ._features import as_device

__all__ = ["relearning_curve", "relearning", "relearning_reading"]


def _dp_and_accuracy(model: nn.Module, test: ImageData, num_classes: int, device) -> tuple[float, float]:
    y_pred = predict(model, test, device=device).argmax(1).numpy()
    dp = demographic_parity_difference(y_true=test.labels, y_pred=y_pred, groups=test.groups, num_classes=num_classes)
    return float(dp), float((y_pred == test.labels).mean())


def relearning_curve(
    model: nn.Module,
    aligned: ImageData,
    test: ImageData,
    *,
    num_classes: int,
    k: int = 50,
    every: int = 5,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    device=None,
) -> RelearningCurve:
    """Fine-tune a deep copy of ``model`` on ``aligned`` for ``k`` steps; test DP and accuracy at
    step 0 and every ``every`` steps (and at ``k``). The global random state is left as it was."""
    if k < 0 or every < 1:
        raise BamuInputError(f"k must be >= 0 and every >= 1, got {k} and {every}")
    if len(aligned) == 0:
        raise BamuInputError("the relearning test needs at least one bias-aligned training image")
    dev = as_device(device)
    net = copy.deepcopy(model).to(dev)
    curve = RelearningCurve()

    def measure(step: int) -> None:
        dp, acc = _dp_and_accuracy(net, test, num_classes, dev)
        curve.steps.append(step)
        curve.dp.append(dp)
        curve.accuracy.append(acc)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        measure(0)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        loss_fn = nn.CrossEntropyLoss()
        step, epoch = 0, 0
        while step < k:
            for x, y, *_ in batches(
                aligned, batch_size=min(batch_size, len(aligned)), shuffle=True, seed=seed + epoch, device=dev
            ):
                net.train()
                opt.zero_grad(set_to_none=True)
                loss_fn(net(x), y).backward()
                opt.step()
                step += 1
                if step % every == 0 or step == k:
                    measure(step)
                if step >= k:
                    break
            epoch += 1
    return curve


def _steps_to_rise(curve: RelearningCurve, rise: float | None) -> int | None:
    """The first measured step whose DP is at least ``rise`` above the curve's DP at step 0."""
    if rise is None or not curve.dp:
        return None
    level = curve.dp[0] + rise
    for s, d in zip(curve.steps, curve.dp):
        if d is not None and d >= level:
            return s
    return None


def relearning_reading(result: Relearning) -> str:
    u = result.unlearned
    if u is None or not u.dp:
        return "the relearning test did not run"
    if result.target is None:
        return "unlearning removed no parity gap, so there is nothing to relearn"
    if u.steps_to_half is None:
        return (
            f"the removed bias did not come back within {result.k} fine-tuning steps on {result.images} "
            f"bias-aligned images (DP {u.dp[0]:.2f} -> {u.dp[-1]:.2f})"
        )
    text = (
        f"half of the removed bias came back after {u.steps_to_half} fine-tuning steps on {result.images} "
        f"bias-aligned images (DP {u.dp[0]:.2f} -> {u.dp[-1]:.2f})"
    )
    r = result.oracle
    if r is not None and r.dp and result.rise is not None and r.dp[0] + result.rise > 1.0:
        text += (
            f"; the retrained oracle starts with a gap of {r.dp[0]:.2f}, too close to 1 to rise as much: no comparison"
        )
    elif r is not None:
        if r.steps_to_half is None:
            text += (
                f"; the same tuning did not raise the retrained oracle's DP as much within {result.k} steps: "
                "the bias was hidden rather than removed"
            )
        elif r.steps_to_half > 2 * u.steps_to_half:
            text += (
                f"; the retrained oracle's DP took {r.steps_to_half} steps to rise as much: the bias was hidden "
                "rather than removed"
            )
        else:
            text += f"; the retrained oracle's DP took {r.steps_to_half} steps to rise as much, about as many"
    return text


def relearning(
    original: nn.Module,
    unlearned: nn.Module,
    aligned: ImageData,
    test: ImageData,
    *,
    num_classes: int,
    oracle: nn.Module | None = None,
    k: int = 50,
    every: int = 5,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    device=None,
) -> Relearning:
    """The relearning stress test of ``unlearned`` beside ``original`` (and ``oracle``), on
    ``aligned`` (the bias-aligned training images to tune on) and ``test``."""
    start = time.perf_counter()
    opts = {
        "num_classes": num_classes,
        "k": k,
        "every": every,
        "lr": lr,
        "batch_size": batch_size,
        "seed": seed,
        "device": device,
    }
    u = relearning_curve(unlearned, aligned, test, **opts)
    o = relearning_curve(original, aligned, test, **opts)
    r = relearning_curve(oracle, aligned, test, **opts) if oracle is not None else None
    removed = o.dp[0] - u.dp[0]
    rise = removed / 2.0 if removed > 0 else None
    for curve in (u, o, r):
        if curve is not None:
            curve.steps_to_half = _steps_to_rise(curve, rise)
    result = Relearning(
        k=k,
        images=len(aligned),
        lr=lr,
        every=every,
        target=None if rise is None else u.dp[0] + rise,
        rise=rise,
        unlearned=u,
        original=o,
        oracle=r,
        seed=seed,
    )
    result.reading = relearning_reading(result)
    result.seconds = time.perf_counter() - start
    return result


def sample_indices(n: int, size: int, seed: int) -> np.ndarray:
    """``size`` of ``range(n)`` drawn without replacement (all of them when fewer), sorted."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
