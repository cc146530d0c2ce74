"""A small, picklable description of a subject that any process (or Ray worker) can rebuild."""

from __future__ import annotations

import contextlib
import json
import os
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

from .subject import Subject, load_subject

__all__ = ["SubjectRecipe", "subject_for_seed"]


def _env_home() -> str | None:
    return os.environ.get("BAMU_HOME")


@dataclass(frozen=True)
class SubjectRecipe:
    """What :func:`load_subject` needs to build a built-in scenario's subject for a seed.

    Calling the spec with a seed builds the subject: the seed draws the scenario's data (its
    splits, colours, patches) and trains (or loads from the cache) that seed's baseline, exactly
    as ``bamu ... --scenario NAME --seed SEED`` does. ``bamu_home`` (default: ``$BAMU_HOME`` when
    the spec is made) is where the baselines are cached; a worker on another machine needs the
    same cache there (or trains the baseline itself). ``epochs`` trains a shorter
    baseline than the scenario's recipe (quick checks). ``model_path`` uses a checkpoint instead
    of a baseline (the same for every seed; only the data changes).
    """

    scenario: str
    scenario_options: dict = field(default_factory=dict)
    model_path: str | None = None
    arch: str | None = None
    device: str | None = None
    epochs: int | None = None
    bamu_home: str | None = field(default_factory=_env_home)

    def key(self) -> str:
        """A stable text key of the spec (equal specs, equal keys)."""
        return json.dumps(asdict(self), sort_keys=True, default=str)

    def __hash__(self) -> int:  # the options dict makes the generated hash impossible
        return hash(self.key())

    def __call__(self, seed: int) -> Subject:
        with _bamu_home(self.bamu_home):
            return load_subject(
                scenario=self.scenario,
                scenario_options=dict(self.scenario_options),
                model_path=self.model_path,
                arch=self.arch,
                seed=int(seed),
                device=self.device,
                epochs=self.epochs,
            )


@contextlib.contextmanager
def _bamu_home(home: str | None) -> Iterator[None]:
    if home is None:
        yield
        return
    old = os.environ.get("BAMU_HOME")
    os.environ["BAMU_HOME"] = str(home)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("BAMU_HOME", None)
        else:
            os.environ["BAMU_HOME"] = old


#: Subjects this process built from a factory, newest last (a worker keeps the last few).
_CACHE: OrderedDict[Any, Subject] = OrderedDict()
_CACHE_SIZE = 2


def subject_for_seed(source: Any, seed: int) -> Subject:
    """The subject of ``seed`` from a sweep's source: a ``{seed: Subject}`` mapping, or a factory
    ``factory(seed) -> Subject`` (e.g. a :class:`SubjectRecipe`).

    A factory's subjects are kept per process (the last two, by factory and seed), so a worker
    builds each subject once however many of its tasks use it. Factories that cannot be hashed
    are called every time.
    """
    if isinstance(source, dict):
        return source[seed]
    try:
        key = (source, int(seed))
        hash(key)
    except TypeError:
        return source(seed)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    subject = source(seed)
    _CACHE[key] = subject
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return subject
