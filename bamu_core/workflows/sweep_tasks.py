"""One sweep configuration as a task any executor can run, and what it sends back."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..results import AuditResult, SweepRow
from .subject_recipe import subject_for_seed

__all__ = ["SweepTask", "SweepTaskResult", "CollectedRun", "run_sweep_task", "store_collected"]


@dataclass
class SweepTask:
    """One configuration: ``method`` at ``intensity`` on the subject of ``seed``.

    ``options`` go to :func:`~bamu_core.workflows.unlearn` (never a store: the driver keeps the
    store); ``original_audit`` is the driver's audit of that seed's original model, so workers do
    not measure it again; ``keep_run`` asks for the run's artifacts to be sent back to be stored.
    """

    method: str
    intensity: float
    seed: int
    forget: str = "aligned"
    device: str | None = None
    options: dict = field(default_factory=dict)
    original_audit: AuditResult | None = None
    keep_run: bool = False


@dataclass
class CollectedRun:
    """What the run store would have received from the run: its config, artifacts and result."""

    kind: str
    config: dict
    artifacts: dict = field(default_factory=dict)
    result: dict | None = None


@dataclass
class SweepTaskResult:
    """A finished configuration: its table row and, when asked for, the run to store."""

    row: SweepRow
    run: CollectedRun | None = None


class _CollectingHandle:
    """Stands in for a run store's handle inside a worker: keeps everything in memory."""

    run_id = None

    def __init__(self, run: CollectedRun):
        self.run = run

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add(self, name: str, value: Any) -> None:
        self.run.artifacts[name] = value

    def complete(self, result: dict, *, message: str = "") -> None:
        self.run.result = dict(result)


class _CollectingStore:
    """A run store that keeps the one run it is given, for the driver to store."""

    def __init__(self):
        self.run: CollectedRun | None = None

    def start(self, *, kind: str, config: dict | None = None, **_) -> _CollectingHandle:
        self.run = CollectedRun(kind=kind, config=dict(config or {}))
        return _CollectingHandle(self.run)


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and random the same way before every task, on every executor."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def run_sweep_task(source: Any, task: SweepTask) -> SweepTaskResult:
    """Run one configuration on the subject of ``task.seed`` from ``source`` (see
    :func:`~bamu_core.workflows.subject_recipe.subject_for_seed`) and return its row.

    An exception propagates (the executor records it as the task's failure). The same task gives
    the same numbers in any process with the same torch threads.
    """
    from .sweeping import sweep_row
    from .unlearning import unlearn

    subject = subject_for_seed(source, task.seed)
    collector = _CollectingStore() if task.keep_run else None
    seed_everything(task.seed)
    result = unlearn(
        subject,
        method=task.method,
        intensity=task.intensity,
        forget=task.forget,
        device=task.device,
        seed=task.seed,
        original_audit=task.original_audit,
        store=collector,
        **task.options,
    )
    row = sweep_row(result)
    row.seed = task.seed
    row.run_id = None
    return SweepTaskResult(row=row, run=None if collector is None else collector.run)


def store_collected(store, run: CollectedRun) -> str:
    """Write a worker's collected run into ``store`` (on the driver); returns its run id."""
    handle = store.start(kind=run.kind, config=run.config)
    with handle:
        for name, value in run.artifacts.items():
            handle.add(name, value)
        result = dict(run.result or {})
        if "run_id" in result:
            result["run_id"] = handle.run_id
        handle.complete(result)
    return handle.run_id
