"""The unlearning method contract and registry (in the style of torchvision's ``models/_api.py``).

Every method: ``run(model, forget, retain, *, intensity, device, progress, should_stop, ...)``
returns an :class:`UnlearnResult`; it never modifies the model it was given (it works on a copy),
reports progress, stops within one step when ``should_stop()`` is true, and stops early with a
clear status when the loss is not finite or retain accuracy collapses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch.nn as nn

from ..data import ImageData

__all__ = [
    "ForgetSet",
    "ProgressEvent",
    "UnlearnResult",
    "UnlearningMethod",
    "register_method",
    "get_method",
    "list_methods",
    "STATUSES",
]

# ok: finished normally; stopped_early: the selection rule ended the run before the budget;
# cancelled: should_stop() turned true; diverged: non-finite loss or retain collapse.
STATUSES = ("ok", "stopped_early", "cancelled", "diverged")


@dataclass
class ForgetSet:
    """Indices into the training split that should be forgotten, and why."""

    indices: np.ndarray
    strategy: str
    description: str
    retain_indices: np.ndarray | None = None  # default: the complement in the training split


@dataclass
class ProgressEvent:
    step: int
    total: int
    loss: float
    forget_acc: float | None = None
    retain_acc: float | None = None
    val_dp: float | None = None
    val_acc: float | None = None


@dataclass
class UnlearnResult:
    """What a method returns: the new model (a copy) and how the run went."""

    model: nn.Module
    method: str
    intensity: float
    status: str
    message: str
    steps: int
    chosen_step: int
    seconds: float
    hyperparameters: dict
    history: list[ProgressEvent] = field(default_factory=list)
    extras: dict = field(default_factory=dict)  # e.g. the LoRA adapter state, for undo


class UnlearningMethod:
    """Base class. Subclasses set ``name``, ``summary`` and implement ``run``."""

    name: str = ""
    summary: str = ""  # one line for the method picker

    def run(
        self,
        model: nn.Module,
        forget: ImageData,
        retain: ImageData,
        *,
        intensity: float,
        device="cpu",
        progress: Callable[[ProgressEvent], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        **kwargs,
    ) -> UnlearnResult:  # pragma: no cover - abstract
        raise NotImplementedError


_METHODS: dict[str, type[UnlearningMethod]] = {}


def register_method(name: str):
    def wrap(cls):
        if name in _METHODS:
            raise ValueError(f"unlearning method {name!r} is already registered")
        cls.name = name
        _METHODS[name] = cls
        return cls

    return wrap


def get_method(name: str) -> UnlearningMethod:
    try:
        return _METHODS[name]()
    except KeyError:
        raise ValueError(f"unknown unlearning method {name!r}; available: {', '.join(list_methods())}") from None


def list_methods() -> list[str]:
    return sorted(_METHODS)
