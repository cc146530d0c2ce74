"""A learning-rate range test: where a method's useful window starts on this model and data.

The intensity table's learning rates were set on small CNNs; a pretrained ResNet with frozen
BatchNorm statistics loses a third of its accuracy in one step at those rates. Before ``auto``
runs a training method it probes it: a few steps (``probe_steps``) at the table's rate times each
of ``FACTORS`` in turn, largest first, on the validation images it may select with, until the
validation accuracy after the probe fell by no more than the run's accuracy bound plus one
standard error of that accuracy. That rate is the top of the window; the candidates run at it and
below (``lr_scales``). A method whose every probe breaks the bound gets the smallest rate tried.

Results are cached in the process per method, intensity, model weights and data sizes, so a second
``auto`` run on the same subject does not probe again.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from ..data import ImageData

__all__ = ["FACTORS", "LRCalibration", "calibrate_lr"]

#: Multipliers of the table's learning rate probed, largest first.
FACTORS = (3.0, 1.0, 1 / 3, 1 / 9, 1 / 27, 1 / 81)

_CACHE: dict[tuple, LRCalibration] = {}
_CACHE_SIZE = 64


@dataclass
class LRCalibration:
    """The learning rate chosen for a method and every probe (rate, accuracy drop)."""

    method: str
    lr: float
    table_lr: float
    probes: list[tuple[float, float]] = field(default_factory=list)
    within_bound: bool = True
    seconds: float = 0.0
    cached: bool = False

    def to_json(self) -> dict:
        return {
            "method": self.method,
            "lr": self.lr,
            "table_lr": self.table_lr,
            "probes": [[lr, drop] for lr, drop in self.probes],
            "within_bound": self.within_bound,
            "seconds": self.seconds,
            "cached": self.cached,
        }


def _fingerprint(model: nn.Module) -> tuple:
    with torch.no_grad():
        params = [p.detach().float().cpu() for p in model.parameters()]
        return (len(params), *(round(float(p.sum()), 6) for p in params[:2] + params[-2:]))


def calibrate_lr(
    method: str,
    model: nn.Module,
    forget: ImageData,
    retain: ImageData,
    val: ImageData,
    *,
    intensity: float,
    table_lr: float,
    bound: float,
    device,
    seed: int = 0,
    rule: dict | None = None,
    should_stop=None,
    probe_steps: int = 4,
) -> LRCalibration:
    """Probe ``method`` at ``table_lr`` times each of :data:`FACTORS` (see the module docstring)."""
    from ._api import get_method

    key = (
        method,
        round(float(intensity), 4),
        float(table_lr),
        round(bound, 6),
        _fingerprint(model),
        len(forget),
        len(retain),
        len(val),
        int(seed),
    )
    if key in _CACHE:
        hit = _CACHE[key]
        return LRCalibration(**{**hit.__dict__, "cached": True, "seconds": 0.0})
    start = time.perf_counter()
    out = LRCalibration(method=method, lr=table_lr * FACTORS[-1], table_lr=table_lr, within_bound=False)
    probe = {
        **(rule or {}),
        "steps": int(probe_steps),
        "eval_every": int(probe_steps),
        "patience": 1,
        "min_evaluations": 0,
        "noise_factor": 0.0,
        "max_accuracy_drop": 1.0,
        "max_recall_drop": 1.0,
        "collapse_drop": 1.0,
        "lr_backoff": 0,
    }
    runner = get_method(method)
    for factor in FACTORS:
        if should_stop is not None and should_stop():
            break
        lr = table_lr * factor
        res = runner.run(
            model,
            forget,
            retain,
            intensity=intensity,
            device=device,
            val=val,
            seed=seed,
            hyperparameters={**probe, "lr": lr},
        )
        evals = [e for e in res.history if e.val_acc is not None]
        if len(evals) < 2 or not all(math.isfinite(e.val_acc) for e in evals):
            out.probes.append((lr, float("nan")))
            continue
        a0, a1 = evals[0].val_acc, evals[-1].val_acc
        drop = a0 - a1
        out.probes.append((lr, drop))
        noise = math.sqrt(max(a0 * (1 - a0), 1e-6) / max(len(val), 1))
        if res.status != "diverged" and drop <= bound + noise:
            out.lr, out.within_bound = lr, True
            break
    out.seconds = time.perf_counter() - start
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = out
    return out
