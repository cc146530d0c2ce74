"""The forget-set contract and the strategy registry.

A strategy looks at a scenario's training split (and, for some, at the model) and returns a
:class:`ForgetSet`: indices into ``scenario.train`` plus a one-line description a person can
read. The retain set is the complement, optionally subsampled (:meth:`ForgetSet.retain`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..data import ImageData, Scenario
from ..errors import BamuInputError
from ..registry import Registry

__all__ = [
    "ForgetSet",
    "STRATEGIES",
    "register_strategy",
    "get_strategy",
    "list_strategies",
    "strategy_summary",
    "select_forget",
]


@dataclass
class ForgetSet:
    """Indices into the training split that should be forgotten, and why.

    Attributes
    ----------
    indices : numpy.ndarray of int64
        Sorted, unique indices into the training split.
    strategy : str
        The registered strategy that chose them.
    description : str
        One human-readable line, e.g. "93 training images of group 'blue' (colour)".
    n_train : int
        Size of the training split the indices refer to.
    retain_indices : numpy.ndarray, optional
        An explicit retain set; default: the complement of ``indices``.
    details : dict
        Strategy-specific facts (the group chosen, the scores of an influence ranking, ...).
    """

    indices: np.ndarray
    strategy: str
    description: str
    n_train: int
    retain_indices: np.ndarray | None = None
    details: dict = field(default_factory=dict)

    def __post_init__(self):
        idx = np.unique(np.asarray(self.indices, dtype=np.int64))
        if len(idx) and (idx[0] < 0 or idx[-1] >= self.n_train):
            raise BamuInputError(f"forget indices must lie in 0..{self.n_train - 1}")
        self.indices = idx

    def __len__(self) -> int:
        return int(len(self.indices))

    def retain(self, *, max_size: int | None = None, seed: int = 0) -> np.ndarray:
        """Retain indices: the explicit set or the complement, subsampled to ``max_size`` (seeded)."""
        if self.retain_indices is not None:
            idx = np.asarray(self.retain_indices, dtype=np.int64)
        else:
            mask = np.ones(self.n_train, dtype=bool)
            mask[self.indices] = False
            idx = np.flatnonzero(mask)
        if max_size is not None:
            if max_size < 1:
                raise BamuInputError(f"max_size must be >= 1, got {max_size}")
            if len(idx) > max_size:
                idx = np.sort(np.random.default_rng(seed).choice(idx, size=max_size, replace=False))
        return idx

    def split(self, train: ImageData, *, retain_max: int | None = None, seed: int = 0) -> tuple[ImageData, ImageData]:
        """``(forget, retain)`` as datasets (copies of the selected items of ``train``)."""
        if len(train) != self.n_train:
            raise BamuInputError(
                f"this forget set refers to a training split of {self.n_train} items, got {len(train)}"
            )
        return train.subset(self.indices), train.subset(self.retain(max_size=retain_max, seed=seed))

    def to_json(self) -> dict:
        return {"strategy": self.strategy, "description": self.description, "n": len(self), "details": self.details}


Strategy = Callable[..., ForgetSet]

#: Every registered forget strategy, by name (entries hold the function; ``meta["needs_model"]``).
STRATEGIES: Registry[Strategy] = Registry("forget strategy")


def register_strategy(name: str, *, summary: str, needs_model: bool = False):
    """Register ``fn(scenario, *, model=None, device=None, **options) -> ForgetSet`` as ``name``."""
    return STRATEGIES.register(name, summary=summary, needs_model=needs_model)


def get_strategy(name: str) -> Strategy:
    """The strategy function of ``name``; an unknown name raises :class:`~bamu_core.errors.BamuInputError`."""
    return STRATEGIES.get(name)


def list_strategies() -> list[str]:
    return STRATEGIES.names()


def strategy_summary(name: str) -> str:
    return STRATEGIES.summary(name)


def select_forget(scenario: Scenario, strategy: str, *, model=None, device=None, arch=None, **options) -> ForgetSet:
    """Run the forget strategy ``strategy`` on ``scenario.train``.

    Parameters
    ----------
    scenario : Scenario
        The data; only the training split is selected from (``val`` may be used for scoring).
    strategy : str
        A registered strategy (see :func:`list_strategies`). ``"name:value"`` is a shorthand for
        the strategy's main option, e.g. ``"group:blue"`` or ``"influence:100"``.
    model : torch.nn.Module, optional
        Needed by model-based strategies (``counterfactual``, ``influence``).
    device : str, optional
        Where model-based strategies run.
    arch : str or ArchSpec, optional
        The model's architecture, for the strategies that take it (``influence``: where the
        classifier is). Default: recognised from the model's structure.
    **options
        Strategy options (see each strategy's docstring).

    Raises
    ------
    ValueError
        Unknown strategy, a bad option, a model-based strategy without a model, or an empty
        forget set.
    """
    name, _, value = strategy.partition(":")
    entry = STRATEGIES.entry(name)
    fn = entry.obj
    if entry.meta["needs_model"] and model is None:
        raise BamuInputError(f"forget strategy {name!r} needs a model")
    if value:
        main = getattr(fn, "main_option", None)
        if main is None:
            raise BamuInputError(f"forget strategy {name!r} takes no ':value' shorthand")
        options.setdefault(main, value)
    params = inspect.signature(fn).parameters
    if arch is not None and "arch" in params:
        options.setdefault("arch", arch)
    required = [
        p.name
        for p in params.values()
        if p.kind is p.KEYWORD_ONLY
        and p.default is p.empty
        and p.name not in ("model", "device")
        and p.name not in options
    ]
    if required:
        hint = f" (e.g. '{name}:VALUE')" if getattr(fn, "main_option", None) in required else ""
        raise BamuInputError(f"forget strategy {name!r} needs the option {required[0]!r}{hint}")
    fs = fn(scenario, model=model, device=device, **options)
    if len(fs) == 0:
        raise BamuInputError(
            f"forget strategy {strategy!r} selected no training images ({fs.description}); "
            "choose another forget set, e.g. group:NAME, influence:K or indices:I,J"
        )
    if len(fs.retain()) == 0:
        raise BamuInputError(
            f"forget strategy {strategy!r} selected the whole training split; nothing is left to retain: "
            "choose a smaller forget set"
        )
    return fs
