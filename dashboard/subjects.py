"""What the user chose to load, and the loaded subjects the dashboard keeps.

- :class:`SubjectSpec`: a built-in scenario, a folder + CSV or an official dataset, and a baseline
  or a checkpoint; hashable, with a stable :attr:`SubjectSpec.key` and :meth:`SubjectSpec.load`.
- :class:`SubjectStore`: loaded subjects by spec key (the dashboard keeps one in
  ``st.cache_resource``, shared by browser sessions), least recently used dropped first.
- :func:`with_group_attr`: the same subject audited by another group attribute, or by the
  intersection of two (``"gender×age"``, :func:`group_attr_choices` lists them).

Free of Streamlit, so that it can be unit-tested.
"""

from __future__ import annotations

import collections
import itertools
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

from bamu_core.errors import BamuInputError
from bamu_core.workflows import DATASET_TITLES, dataset_defaults

__all__ = [
    "DEMO_SCENARIO",
    "INTERSECTION",
    "SubjectSpec",
    "SubjectStore",
    "group_attr_choices",
    "group_attr_label",
    "with_group_attr",
]

DEMO_SCENARIO = "binary-colored-digits"
_DATASET_FIELDS = ("dataset", "dataset_root", "dataset_options")
#: Scenario options a spec does not take (the seed is the spec's own field).
_NOT_SCENARIO_OPTIONS = ("seed",)


def _frozen_options(dataset: str, options) -> tuple[tuple[str, Any], ...]:
    """``options`` (a dict or pairs) as sorted ``(name, value)`` pairs, lists as tuples, None dropped."""
    pairs = dict(options.items() if hasattr(options, "items") else options)
    allowed = dataset_defaults(dataset)
    unknown = sorted(set(pairs) - set(allowed))
    if unknown:
        raise BamuInputError(
            f"dataset_options {unknown} do not apply to {dataset}; its options are {', '.join(allowed) or 'none'}"
        )
    out = []
    for name, value in sorted(pairs.items()):
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = tuple(value)
        try:
            hash(value)
        except TypeError:
            raise BamuInputError(
                f"dataset_options {name!r} must be a number, a string or a list of them, got {type(value).__name__}"
            ) from None
        out.append((name, value))
    return tuple(out)


def _frozen_scenario_options(scenario: str, options) -> tuple[tuple[str, Any], ...]:
    """``options`` of built-in ``scenario`` as sorted ``(name, value)`` pairs, defaults dropped (so that
    spelling out a default gives the same spec as leaving it out)."""
    from bamu_core.data import scenario_options

    pairs = dict(options.items() if hasattr(options, "items") else options)
    defaults = {k: v for k, v in scenario_options(scenario).items() if k not in _NOT_SCENARIO_OPTIONS}
    unknown = sorted(set(pairs) - set(defaults))
    if unknown:
        raise BamuInputError(
            f"scenario_options {unknown} do not apply to {scenario}; its options are {', '.join(defaults) or 'none'}"
        )
    out = []
    for name, value in sorted(pairs.items()):
        if value == defaults[name] and type(value) is type(defaults[name]):
            continue
        try:
            hash(value)
        except TypeError:
            raise BamuInputError(
                f"scenario_options {name!r} must be a number, a string or None, got {type(value).__name__}"
            ) from None
        out.append((name, value))
    return tuple(out)


@dataclass(frozen=True)
class SubjectSpec:
    """What the user asked to load; two equal specs load the same subject.

    Exactly one data source: a built-in ``scenario``; a ``data_dir`` + ``meta_csv``; or an official
    ``dataset`` (``celeba``, ``cub``, ``waterbirds``) read from ``dataset_root`` with
    ``dataset_options`` (given as a dict or pairs, kept as sorted pairs so that the spec stays
    hashable; see :func:`dataset_defaults`). A built-in scenario takes ``scenario_options``
    (e.g. ``{"target_class": "cat", "corner": "top-left"}`` for ``patch-cifar10``; see
    :func:`bamu_core.data.scenario_options`), kept the same way without the defaults. Without
    ``checkpoint`` the data's baseline ``arch`` is trained for ``epochs`` (None: the data's recipe,
    or for a folder the choice of :func:`bamu_core.models.suggest_baseline`; cached on disk after
    the first time). ``audit_only`` makes every row of a folder's CSV a test image (it then needs a
    ``checkpoint``). ``name`` names a folder dataset where its folder's name says nothing (an
    uploaded zip unpacked into a private folder: the zip's name).
    """

    scenario: str | None = None
    data_dir: str | None = None
    meta_csv: str | None = None
    label_col: str = "label"
    group_cols: tuple[str, ...] = ()
    image_size: int | None = None
    arch: str | None = None
    epochs: int | None = None
    name: str | None = None
    audit_only: bool = False
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    seed: int = 0
    dataset: str | None = None
    dataset_root: str | None = None
    dataset_options: tuple[tuple[str, Any], ...] = ()
    scenario_options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        if sum(x is not None for x in (self.scenario, self.data_dir, self.dataset)) != 1:
            raise BamuInputError(
                "choose either a built-in scenario or a data folder with a metadata CSV or an official dataset "
                f"({', '.join(DATASET_TITLES)}) with its root folder: exactly one of them"
            )
        if self.data_dir is not None and not self.meta_csv:
            raise BamuInputError("a data folder needs a metadata CSV (columns path, label and group columns)")
        object.__setattr__(self, "group_cols", tuple(self.group_cols))
        if self.epochs is not None:
            if isinstance(self.epochs, bool) or int(self.epochs) != self.epochs or self.epochs < 1:
                raise BamuInputError(f"epochs must be a whole number >= 1, got {self.epochs!r}")
            object.__setattr__(self, "epochs", int(self.epochs))
        if self.epochs is not None and self.checkpoint is not None:
            raise BamuInputError("epochs only apply to a baseline trained here, not to a checkpoint")
        if self.name is not None and self.data_dir is None:
            raise BamuInputError("name only applies to a data folder (data_dir with meta_csv)")
        if self.audit_only and self.data_dir is None:
            raise BamuInputError("audit_only only applies to a data folder (data_dir with meta_csv)")
        if self.scenario is None:
            if self.scenario_options:
                raise BamuInputError("scenario_options only apply with a built-in scenario (scenario=...)")
        else:
            object.__setattr__(self, "scenario_options", _frozen_scenario_options(self.scenario, self.scenario_options))
        if self.dataset is None:
            if self.dataset_root is not None or self.dataset_options:
                raise BamuInputError(
                    "dataset_root and dataset_options only apply with an official dataset (dataset=...)"
                )
            return
        if self.dataset not in DATASET_TITLES:
            raise BamuInputError(f"dataset must be one of {', '.join(DATASET_TITLES)}, got {self.dataset!r}")
        if self.dataset_root is None or not str(self.dataset_root).strip():
            raise BamuInputError(f"dataset {self.dataset!r} needs its root folder (dataset_root)")
        object.__setattr__(self, "dataset_root", str(self.dataset_root))
        object.__setattr__(self, "dataset_options", _frozen_options(self.dataset, self.dataset_options))

    @property
    def key(self) -> str:
        """A short stable id of this spec (a spec without an official dataset, scenario options,
        epochs or name keeps its earlier key)."""
        from bamu_core.storage import config_hash

        config = asdict(self)
        if self.dataset is None:
            for name in _DATASET_FIELDS:
                config.pop(name)
        if not self.scenario_options:
            config.pop("scenario_options")
        for name in ("epochs", "name"):
            if config[name] is None:
                config.pop(name)
        if not config["audit_only"]:
            config.pop("audit_only")
        return config_hash(config)

    @property
    def is_demo(self) -> bool:
        return (
            self.scenario == DEMO_SCENARIO
            and not self.scenario_options
            and self.checkpoint is None
            and self.arch is None
        )

    def describe(self) -> str:
        """One line for the sidebar."""
        if self.scenario:
            data = self.scenario
            if self.scenario_options:
                data += " (" + ", ".join(f"{k}={v}" for k, v in self.scenario_options) + ")"
        elif self.dataset:
            data = self._describe_dataset()
        else:
            data = f"folder {self.name or Path(self.data_dir).name}"
        model = f"checkpoint {Path(self.checkpoint).name}" if self.checkpoint else "baseline"
        if not self.checkpoint and self.arch:
            model += f" {self.arch}" + (f", {self.epochs} epochs" if self.epochs else "")
        return f"{data} · {model}"

    def _describe_dataset(self) -> str:
        """E.g. ``CelebA: Smiling by Male, at most 500 images per split``."""
        o = {**dataset_defaults(self.dataset), **dict(self.dataset_options)}

        def names(value) -> str:
            return ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)

        parts = []
        if self.dataset == "celeba":
            parts.append(f"{o['target']} by {names(o['sensitive'])}")
        elif self.dataset == "cub":
            parts.append(
                f"groups by {o['attribute']}"
                if o["group_source"] == "attribute"
                else f"groups by {o['part']} visibility"
            )
            if o.get("classes") is not None:
                parts.append(
                    f"{names(o['classes'])} species"
                    if isinstance(o["classes"], int)
                    else f"species {names(o['classes'])}"
                )
        if o.get("max_per_split") is not None:
            parts.append(f"at most {o['max_per_split']} images per split")
        title = DATASET_TITLES[self.dataset]
        return f"{title}: {', '.join(parts)}" if parts else title

    def load(
        self,
        *,
        progress: Callable | None = None,
        should_stop: Callable[[], bool] | None = None,
        device: str | None = None,
    ):
        """Load the data and the model with :func:`bamu_core.workflows.load_subject`.

        ``progress(event)`` (a :class:`~bamu_core.progress.ProgressEvent`) follows the reading of an
        official dataset's images (phase ``reading images``) and then baseline training (phase
        ``training``); when ``should_stop()`` turns true the reading or the training stops at its
        next step (raising ``StopRequested``).
        """
        from bamu_core.training import StopRequested
        from bamu_core.workflows import load_subject

        def report(ev):
            if should_stop is not None and should_stop():
                raise StopRequested(f"stopped at step {ev.step} of {ev.total}")
            if progress is not None:
                progress(ev)

        options = None
        if self.dataset is not None:
            options = {k: list(v) if isinstance(v, tuple) else v for k, v in self.dataset_options}
            options["progress"] = report
        return load_subject(
            scenario=self.scenario,
            scenario_options=dict(self.scenario_options) or None,
            dataset=self.dataset,
            dataset_root=self.dataset_root,
            dataset_options=options,
            data_dir=self.data_dir,
            meta_csv=self.meta_csv,
            label_col=self.label_col,
            group_cols=list(self.group_cols) or None,
            image_size=self.image_size,
            model_path=self.checkpoint,
            arch=self.arch,
            epochs=self.epochs,
            data_name=self.name,
            audit_only=self.audit_only,
            seed=self.seed,
            device=device,
            progress=report,
        )


class SubjectStore:
    """Loaded subjects by spec key, thread-safe, keeping the ``capacity`` most recently used."""

    def __init__(self, capacity: int = 4):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._items: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str | None):
        if key is None:
            return None
        with self._lock:
            subject = self._items.get(key)
            if subject is not None:
                self._items.move_to_end(key)
            return subject

    def put(self, key: str, subject) -> None:
        with self._lock:
            self._items[key] = subject
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


#: Joins two group attributes into their intersection, as :meth:`ImageData.with_intersection` names it.
INTERSECTION = "×"


def group_attr_choices(scenario) -> list[str]:
    """The group attributes of ``scenario``, then the intersection of every pair of them (``"a×b"``)
    when it has two or more, except a pair where one already splits the other's groups (Waterbirds'
    ``group`` is bird type x ``place``: crossing them again gives ``group``)."""
    base = [a for a in scenario.group_attrs if INTERSECTION not in a]
    return base + [
        f"{a}{INTERSECTION}{b}" for a, b in itertools.combinations(base, 2) if _crossing_adds(scenario, a, b)
    ]


def _crossing_adds(scenario, a: str, b: str) -> bool:
    """Whether the intersection of ``a`` and ``b`` has more groups than each of them (in all splits)."""
    import numpy as np

    splits = (scenario.train, scenario.val, scenario.test)
    pairs = np.unique(np.concatenate([d.pair_codes(a, b) for d in splits])).size
    return all(pairs > np.unique(np.concatenate([d.attrs[attr] for d in splits])).size for attr in (a, b))


def group_attr_label(attr: str) -> str:
    """``"gender × age"`` for the intersection ``"gender×age"``; a plain attribute as it is."""
    return f" {INTERSECTION} ".join(attr.split(INTERSECTION))


def with_group_attr(subject, attr: str | None):
    """The same subject audited by group attribute ``attr`` (data shared, nothing copied), or by the
    intersection of two (``"a×b"``, :meth:`bamu_core.data.Scenario.with_intersection`)."""
    if attr is None or attr == subject.scenario.test.group_attr:
        return subject
    sc = subject.scenario
    if attr not in sc.group_attrs and INTERSECTION in attr:
        a, _, b = attr.partition(INTERSECTION)
        return replace(subject, scenario=sc.with_intersection(a, b))
    return replace(subject, scenario=sc.with_group(attr))
