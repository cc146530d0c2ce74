"""Glue between the dashboard and the library, free of Streamlit so that it can be unit-tested.

- :class:`SubjectSpec`: what the user chose to load (a built-in scenario, a folder + CSV or an
  official dataset, and a baseline or a checkpoint), hashable, with :meth:`SubjectSpec.load`;
  :func:`dataset_choices`: the options an official dataset's root offers (attributes, parts).
- :class:`SubjectStore`: loaded subjects by spec key (the dashboard keeps one in
  ``st.cache_resource``), shared by browser sessions, least recently used dropped first.
- :class:`UploadDir`: a per-session temporary folder for uploads, removed when the session goes;
  :func:`extract_zip` refuses path traversal, links and zip bombs; :func:`find_metadata_csv`.
- :func:`library_features`: which engines are installed, so that pages show "not available yet"
  instead of guessing; :func:`user_message`: an exception as one sentence saying what to do.
- Colours used for "before", "after" and the retrain oracle on every chart.
"""
from __future__ import annotations

import collections
import hashlib
import importlib.util
import re
import shutil
import stat
import tempfile
import threading
import weakref
import zipfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = [
    "DEMO_SCENARIO",
    "COLOURS",
    "SubjectSpec",
    "DATASET_TITLES",
    "dataset_defaults",
    "dataset_choices",
    "SubjectStore",
    "UploadDir",
    "extract_zip",
    "find_metadata_csv",
    "csv_columns",
    "library_features",
    "user_message",
    "with_group_attr",
    "sample_images",
    "counts_table",
    "forget_strategies",
    "method_summaries",
    "overall_table",
    "group_table",
    "gaps_above",
    "heat_image",
    "region_scores",
    "runs_table",
    "run_export",
    "EXPORTS",
    "unlearn_task",
    "sweep_task",
    "oracle_summary",
    "editable_hyperparameters",
    "hyperparameter_overrides",
    "before_after_table",
    "compare_table",
    "run_gradcam",
]

DEMO_SCENARIO = "binary-colored-digits"

# One colour per role, everywhere: before (the audited model), after (unlearned), the oracle.
COLOURS = {"before": "#64748b", "after": "#2563eb", "oracle": "#059669", "alert": "#dc2626"}

_USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, zipfile.BadZipFile)


# ------------------------------------------------------------------------------------------------
# what to load
# ------------------------------------------------------------------------------------------------


# Display names of the official datasets (bamu_core.data.load_dataset) on the Load page.
DATASET_TITLES = {"celeba": "CelebA", "cub": "CUB-200-2011", "waterbirds": "Waterbirds"}
# Loader arguments a spec sets itself (image_size, seed) or that are not choices (the rest).
_SPEC_ARGS = ("root", "image_size", "mean", "std", "seed", "workers", "progress")
_DATASET_FIELDS = ("dataset", "dataset_root", "dataset_options")


def dataset_defaults(dataset: str) -> dict[str, Any]:
    """The loader options of an official ``dataset`` with their defaults (from its signature),
    e.g. ``{"target": "Smiling", "sensitive": "Male", "max_per_split": None}`` for ``celeba``."""
    import inspect

    from .data import load_celeba, load_cub, load_waterbirds

    if dataset not in DATASET_TITLES:
        raise ValueError(f"dataset must be one of {', '.join(DATASET_TITLES)}, got {dataset!r}")
    loader = {"celeba": load_celeba, "cub": load_cub, "waterbirds": load_waterbirds}[dataset]
    params = inspect.signature(loader).parameters.values()
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY and p.name not in _SPEC_ARGS}


def _frozen_options(dataset: str, options) -> tuple[tuple[str, Any], ...]:
    """``options`` (a dict or pairs) as sorted ``(name, value)`` pairs, lists as tuples, None dropped."""
    pairs = dict(options.items() if hasattr(options, "items") else options)
    allowed = dataset_defaults(dataset)
    unknown = sorted(set(pairs) - set(allowed))
    if unknown:
        raise ValueError(
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
            raise ValueError(
                f"dataset_options {name!r} must be a number, a string or a list of them, got {type(value).__name__}"
            ) from None
        out.append((name, value))
    return tuple(out)


@dataclass(frozen=True)
class SubjectSpec:
    """What the user asked to load; two equal specs load the same subject.

    Exactly one data source: a built-in ``scenario``; a ``data_dir`` + ``meta_csv``; or an official
    ``dataset`` (``celeba``, ``cub``, ``waterbirds``) read from ``dataset_root`` with
    ``dataset_options`` (given as a dict or pairs, kept as sorted pairs so that the spec stays
    hashable; see :func:`dataset_defaults`). Without ``checkpoint`` the data's baseline is
    trained (cached on disk after the first time).
    """

    scenario: str | None = None
    data_dir: str | None = None
    meta_csv: str | None = None
    label_col: str = "label"
    group_cols: tuple[str, ...] = ()
    image_size: int | None = None
    arch: str | None = None
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    seed: int = 0
    dataset: str | None = None
    dataset_root: str | None = None
    dataset_options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        if sum(x is not None for x in (self.scenario, self.data_dir, self.dataset)) != 1:
            raise ValueError(
                "choose either a built-in scenario or a data folder with a metadata CSV or an official dataset "
                f"({', '.join(DATASET_TITLES)}) with its root folder: exactly one of them"
            )
        if self.data_dir is not None and not self.meta_csv:
            raise ValueError("a data folder needs a metadata CSV (columns path, label and group columns)")
        object.__setattr__(self, "group_cols", tuple(self.group_cols))
        if self.dataset is None:
            if self.dataset_root is not None or self.dataset_options:
                raise ValueError("dataset_root and dataset_options only apply with an official dataset (dataset=...)")
            return
        if self.dataset not in DATASET_TITLES:
            raise ValueError(f"dataset must be one of {', '.join(DATASET_TITLES)}, got {self.dataset!r}")
        if self.dataset_root is None or not str(self.dataset_root).strip():
            raise ValueError(f"dataset {self.dataset!r} needs its root folder (dataset_root)")
        object.__setattr__(self, "dataset_root", str(self.dataset_root))
        object.__setattr__(self, "dataset_options", _frozen_options(self.dataset, self.dataset_options))

    @property
    def key(self) -> str:
        """A short stable id of this spec (a spec without an official dataset keeps its earlier key)."""
        from .storage import config_hash

        config = asdict(self)
        if self.dataset is None:
            for name in _DATASET_FIELDS:
                config.pop(name)
        return config_hash(config)

    @property
    def is_demo(self) -> bool:
        return self.scenario == DEMO_SCENARIO and self.checkpoint is None and self.arch is None

    def describe(self) -> str:
        """One line for the sidebar."""
        if self.scenario:
            data = self.scenario
        elif self.dataset:
            data = self._describe_dataset()
        else:
            data = f"folder {Path(self.data_dir).name}"
        model = f"checkpoint {Path(self.checkpoint).name}" if self.checkpoint else "baseline"
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
            parts.append(f"groups by {o['attribute']}" if o["group_source"] == "attribute" else f"groups by {o['part']} visibility")
            if o.get("classes") is not None:
                parts.append(f"{names(o['classes'])} species" if isinstance(o["classes"], int) else f"species {names(o['classes'])}")
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

        ``progress(step, total, loss)`` follows the reading of an official dataset's images (loss
        NaN) and then baseline training; when ``should_stop()`` turns true the reading or the
        training stops at its next step (raising ``StopRequested``).
        """
        from .training import StopRequested
        from .workflows import load_subject

        def report(step, total, loss):
            if should_stop is not None and should_stop():
                raise StopRequested(f"stopped at step {step} of {total}")
            if progress is not None:
                progress(step, total, loss)

        options = None
        if self.dataset is not None:
            options = {k: list(v) if isinstance(v, tuple) else v for k, v in self.dataset_options}
            options["progress"] = lambda done, total: report(done, total, float("nan"))
        return load_subject(
            scenario=self.scenario,
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


def with_group_attr(subject, attr: str | None):
    """The same subject audited by group attribute ``attr`` (data shared, nothing copied)."""
    if attr is None or attr == subject.scenario.test.group_attr:
        return subject
    return replace(subject, scenario=subject.scenario.with_group(attr))


# ------------------------------------------------------------------------------------------------
# uploads
# ------------------------------------------------------------------------------------------------


class UploadDir:
    """A private temporary folder for one browser session's uploads.

    The folder is removed by :meth:`cleanup`, when the object is garbage-collected (the session
    ended) or at interpreter exit, whichever comes first.
    """

    def __init__(self, prefix: str = "bamu-upload-"):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), True)

    def save(self, name: str, data: bytes, *, allowed: Sequence[str] | None = None) -> Path:
        """Write ``data`` under a sanitised version of ``name`` and return its path.

        Raises
        ------
        ValueError
            The file type is not in ``allowed`` (suffixes such as ``".pt"``) or the file is empty.
        """
        clean = _safe_name(name)
        suffix = Path(clean).suffix.lower()
        if allowed is not None and suffix not in allowed:
            raise ValueError(f"{name}: unsupported file type {suffix or '(none)'}; upload one of {', '.join(allowed)}")
        if not data:
            raise ValueError(f"{name} is empty")
        digest = hashlib.sha256(data).hexdigest()[:12]
        folder = self.path / digest
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / clean
        target.write_bytes(data)
        return target

    def folder(self, name: str) -> Path:
        """A fresh sub-folder (emptied if it existed)."""
        target = self.path / _safe_name(name)
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        return target

    def cleanup(self) -> None:
        self._finalizer()

    @property
    def alive(self) -> bool:
        return self._finalizer.alive


def _safe_name(name: str) -> str:
    base = Path(str(name).replace("\\", "/")).name
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "upload"
    return clean[:120]


_REZIP = "make the zip from inside the dataset folder with plain files and relative paths (zip -r data.zip my_dataset)"


def extract_zip(
    source: str | Path | bytes,
    dest: str | Path,
    *,
    max_files: int = 50_000,
    max_bytes: int = 2 * 1024**3,
) -> Path:
    """Extract a zip archive into ``dest`` safely and return ``dest``.

    Refused (``ValueError``, nothing written): an entry with an absolute path or ``..`` (path
    traversal), a symbolic link, more than ``max_files`` entries or more than ``max_bytes``
    uncompressed (zip bomb), an encrypted entry. A file that is not a zip raises ``ValueError`` too.
    """
    import io

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    except zipfile.BadZipFile:
        raise ValueError("the upload is not a valid zip archive; zip the dataset folder (e.g. zip -r data.zip my_dataset) and upload that") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > max_files:
            raise ValueError(f"the zip holds {len(infos)} entries; at most {max_files} are accepted")
        total = sum(i.file_size for i in infos)
        if total > max_bytes:
            raise ValueError(f"the zip expands to {total / 1e6:.0f} MB; at most {max_bytes / 1e6:.0f} MB are accepted")
        targets = []
        for info in infos:
            name = info.filename
            if info.flag_bits & 0x1:
                raise ValueError(f"zip entry {name!r} is encrypted; upload an unencrypted zip")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise ValueError(f"zip entry {name!r} is a symbolic link; links are refused: {_REZIP}")
            parts = Path(name.replace("\\", "/")).parts
            if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
                raise ValueError(f"zip entry {name!r} points outside the archive folder (path traversal); refused: {_REZIP}")
            target = (root / name).resolve()
            if not target.is_relative_to(root):
                raise ValueError(f"zip entry {name!r} points outside the archive folder (path traversal); refused: {_REZIP}")
            targets.append((info, target))
        for info, target in targets:
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if "__MACOSX" in Path(info.filename).parts:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    return dest


def find_metadata_csv(folder: str | Path) -> Path:
    """The metadata CSV inside an extracted dataset folder.

    One CSV anywhere in the folder is taken; among several, one whose name contains "meta"; the
    image paths in it are relative to the CSV's folder.

    Raises
    ------
    ValueError
        No CSV, or several without a clear "meta" one.
    """
    folder = Path(folder)
    found = sorted(p for p in folder.rglob("*.csv") if "__MACOSX" not in p.parts)
    if not found:
        raise ValueError("the zip holds no metadata CSV; add one with columns path, label and a group column")
    if len(found) == 1:
        return found[0]
    meta = [p for p in found if "meta" in p.name.lower()]
    if len(meta) == 1:
        return meta[0]
    names = ", ".join(str(p.relative_to(folder)) for p in found[:5])
    raise ValueError(f"the zip holds several CSV files ({names}); keep one, or name the metadata one meta.csv")


def csv_columns(path: str | Path) -> list[str]:
    """The header of a CSV file (for the column pickers)."""
    import csv

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metadata CSV {path} does not exist")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        try:
            header = next(csv.reader(fh))
        except StopIteration:
            raise ValueError(f"metadata CSV {path.name} is empty") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read metadata CSV {path.name}: {exc}") from None
    return [h.strip() for h in header if h.strip()]


def dataset_choices(dataset: str, root: str | Path, *, group_source: str = "visibility") -> dict[str, list[str]]:
    """What the Load page offers for an official dataset at ``root``, read from its small list
    files only (no image is opened), so that a wrong root is reported before anything loads.

    ``celeba``: ``{"attributes": [...]}`` (line 2 of ``list_attr_celeba.txt``); ``cub``:
    ``{"parts": [...]}`` and, with ``group_source="attribute"``, ``"attributes"``; ``waterbirds``:
    ``{}`` once ``metadata.csv`` is found.

    Raises
    ------
    FileNotFoundError, ValueError
        The loaders' messages: the root is not a folder, a file is missing or malformed.
    """
    from .data import celeba_attributes, cub_attributes, cub_parts

    if dataset == "celeba":
        return {"attributes": celeba_attributes(root)}
    if dataset == "cub":
        out = {"parts": cub_parts(root)}
        if group_source == "attribute":
            out["attributes"] = cub_attributes(root)
        return out
    if dataset == "waterbirds":
        from .data._official import check_root, find_file
        from .data.cub import _WB_HINT

        find_file(check_root(root, dataset="Waterbirds", hint=_WB_HINT), "metadata.csv", dataset="Waterbirds", hint=_WB_HINT)
        return {}
    raise ValueError(f"dataset must be one of {', '.join(DATASET_TITLES)}, got {dataset!r}")


# ------------------------------------------------------------------------------------------------
# what the library offers
# ------------------------------------------------------------------------------------------------


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def library_features() -> dict[str, bool]:
    """Which engines are present, so the dashboard can say "not available yet" for the rest."""
    from . import workflows

    return {
        "explain": _has_module("bamu_core.explain"),
        "forget": _has_module("bamu_core.forget"),
        "unlearn": hasattr(workflows, "unlearn"),
        "sweep": hasattr(workflows, "sweep"),
        "runs": _has_module("bamu_core.runs"),
        "report": _has_module("bamu_core.report"),
        "scoring": _has_module("bamu_core.scoring"),
    }


def method_summaries() -> dict[str, str]:
    """Registered unlearning methods and their one-line explanation ({} without the engine)."""
    try:
        from .unlearn import list_methods, method_summary
    except ImportError:
        return {}
    return {name: method_summary(name) for name in list_methods()}


def forget_strategies() -> dict[str, str]:
    """Registered forget-set strategies and their description ({} without the engine)."""
    try:
        from .forget import list_strategies, strategy_summary
    except ImportError:
        return {}
    return {name: strategy_summary(name) for name in list_strategies()}


# ------------------------------------------------------------------------------------------------
# data views for cards
# ------------------------------------------------------------------------------------------------


def sample_images(data, *, group: int | None, k: int = 6, seed: int = 0) -> list:
    """Up to ``k`` images (H x W x C uint8 arrays) of ``group`` under the active attribute (None: any), seeded."""
    import numpy as np

    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    members = np.arange(len(data)) if group is None else np.flatnonzero(data.groups == group)
    if len(members) == 0:
        return []
    chosen = np.sort(np.random.default_rng(seed).choice(members, size=min(k, len(members)), replace=False))
    u8 = data.images_u8.index_select(0, _as_index(chosen))
    return [img.permute(1, 2, 0).numpy() for img in u8]


def _as_index(indices):
    import numpy as np
    import torch

    return torch.as_tensor(np.asarray(indices, dtype=np.int64))


def counts_table(scenario, *, split: str = "train", attr: str | None = None):
    """A DataFrame of counts per group (rows) x class (columns) with totals."""
    import pandas as pd

    data = getattr(scenario, split)
    attr = attr or data.group_attr
    table = data.counts(attr)
    n_classes = scenario.num_classes
    if table.shape[1] < n_classes:  # a class absent from this split
        import numpy as np

        table = np.pad(table, ((0, 0), (0, n_classes - table.shape[1])))
    frame = pd.DataFrame(table, index=data.group_names[attr], columns=scenario.class_names)
    frame.index.name = attr
    frame["total"] = frame.sum(axis=1)
    return frame


GAP_NAMES = {
    "demographic_parity_difference": "Demographic parity difference",
    "equalized_odds_difference": "Equalized odds difference",
    "equal_opportunity_difference": "Equal opportunity difference",
    "accuracy_gap": "Accuracy gap (best - worst group)",
}
UTILITY_NAMES = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "worst_group_accuracy": "Worst-group accuracy",
}


def _ci_text(ci: dict | None) -> str:
    import math

    if not ci:
        return ""
    lo, hi = ci.get("low"), ci.get("high")
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and math.isfinite(lo) and math.isfinite(hi):
        return f"{lo:.3f} – {hi:.3f}"
    return ""


def overall_table(result: dict, *, threshold: float):
    """Overall utility and fairness gaps of an audit with their CIs and a flag above ``threshold``.

    Columns: metric, value, 95 % CI (empty when the audit has no intervals), above threshold
    (gaps only: True / False; utility rows: None).
    """
    import pandas as pd

    u, f = result["utility"], result["fairness"]
    uci, fci = result.get("utility_ci") or {}, result.get("fairness_ci") or {}
    rows = []
    for key, name in UTILITY_NAMES.items():
        value = u.get(key, f.get(key))
        if value is not None:
            rows.append({"metric": name, "value": value, "CI": _ci_text(uci.get(key) or fci.get(key)), "above threshold": None})
    for key, name in GAP_NAMES.items():
        value = f.get(key)
        if value is not None:
            rows.append({"metric": name, "value": value, "CI": _ci_text(fci.get(key)), "above threshold": bool(value > threshold)})
    return pd.DataFrame(rows)


def group_table(result: dict):
    """Per-group rows of an audit: group, n, accuracy, selection rate, TPR, FPR (binary: scalars)."""
    import pandas as pd

    rows = []
    with_ci = any(r.get("accuracy_ci") for r in result["groups"])
    for r in result["groups"]:
        row = {"group": r["group"], "n": r["n"], "accuracy": r["accuracy"]}
        if with_ci:
            row["accuracy CI"] = _ci_text(r.get("accuracy_ci"))
        sel = r.get("selection_rate")
        if not isinstance(sel, (list, tuple)):
            row["selection rate"] = sel
        row["TPR"] = r.get("tpr")
        row["FPR"] = r.get("fpr")
        rows.append(row)
    return pd.DataFrame(rows)


def gaps_above(result: dict, *, threshold: float) -> list[str]:
    """Names of the fairness gaps above ``threshold``."""
    f = result["fairness"]
    return [name for key, name in GAP_NAMES.items() if isinstance(f.get(key), (int, float)) and f[key] > threshold]


def heat_image(heat):
    """A saliency map (H x W, any non-negative scale) as a jet-coloured uint8 image."""
    import numpy as np

    from .explain import colorize

    arr = np.asarray(heat.detach().cpu() if hasattr(heat, "detach") else heat, dtype=np.float32)
    top = float(arr.max()) if arr.size else 0.0
    return colorize(arr / top if top > 0 else arr)


def region_scores(gallery):
    """Per-group mean share of saliency inside the gallery's region, beside the share of a flat map.

    Returns None when the gallery has no region.
    """
    import numpy as np
    import pandas as pd

    if gallery.region is None:
        return None
    rows = []
    for g in gallery.groups:
        shares = np.asarray(g.region_share if g.region_share is not None else [], dtype=float)
        shares = shares[~np.isnan(shares)]
        rows.append({"group": g.name, "images": len(g.indices), "bias-region score": float(shares.mean()) if len(shares) else None})
    frame = pd.DataFrame(rows)
    h, w = gallery.groups[0].maps.shape[-2:] if gallery.groups and len(gallery.groups[0].maps) else (None, None)
    if h:
        frame["flat-map share"] = gallery.region[2] * gallery.region[3] / (h * w)
    return frame


# ------------------------------------------------------------------------------------------------
# background tasks (functions for bamu_core.jobs: fn(progress, should_stop))
# ------------------------------------------------------------------------------------------------


def unlearn_task(subject, *, method: str, intensity: float, forget: str, forget_options: dict | None = None,
                 hyperparameters: dict | None = None, seed: int = 0, oracle: dict | None = None, **options) -> Callable:
    """A job function running :func:`bamu_core.workflows.unlearn` (saved in the run store).

    ``oracle`` (from :func:`oracle_summary`) supplies the retrain oracle's forget-set accuracy and
    time, so that the forgetting and efficiency axes compare with retraining.
    """
    if oracle:
        options.setdefault("reference_forget_accuracy", oracle.get("forget_accuracy"))
        options.setdefault("retrain_seconds", oracle.get("seconds"))

    def run(progress, should_stop):
        from .runs import RunStore
        from .workflows import unlearn

        if "store" not in options:
            options["store"] = RunStore()
        return unlearn(
            subject, method=method, intensity=float(intensity), forget=forget, forget_options=forget_options or None,
            hyperparameters=hyperparameters or None, seed=int(seed), progress=progress, should_stop=should_stop, **options,
        )

    return run


def sweep_task(subject, *, methods: Sequence[str], intensities: Sequence[float], forget: str,
               forget_options: dict | None = None, seed: int = 0) -> Callable:
    """A job function running :func:`bamu_core.workflows.sweep` (runs not saved: a sweep is exploration)."""

    def run(progress, should_stop):
        from .unlearn import ProgressEvent
        from .workflows import sweep

        def each(done, total, row):
            progress(ProgressEvent(step=int(done), total=int(total), loss=float("nan")))

        return sweep(
            subject, methods=list(methods), intensities=[float(x) for x in intensities], forget=forget,
            forget_options=forget_options or None, seed=int(seed), progress=each, should_stop=should_stop,
            store=None, gradcam_images=0,
        )

    return run


def oracle_summary(run) -> dict:
    """What later runs need from a ``retrain`` run: its radar, forget-set accuracy and time."""
    return {
        "radar": dict((run.get("radar") or {}).get("after") or {}),
        "forget_accuracy": (run.get("forget") or {}).get("accuracy_after"),
        "seconds": run.get("seconds"),
        "run_id": run.get("run_id"),
    }


def _defaults(method: str, intensity: float, subject) -> dict:
    from .workflows import scenario_hyperparameters

    if subject is None:
        return {}
    return scenario_hyperparameters(subject.scenario, method, float(intensity), subject.arch)


def editable_hyperparameters(method: str, intensity: float, subject=None):
    """The numeric hyper-parameters of ``method`` at ``intensity`` (with the defaults of the
    subject's scenario for its model, see :func:`bamu_core.workflows.scenario_hyperparameters`)
    as a two-column DataFrame to edit."""
    import pandas as pd

    from .unlearn import resolve_hyperparameters

    hp = resolve_hyperparameters(method, float(intensity), _defaults(method, intensity, subject))
    rows = [{"hyper-parameter": k, "value": float(v)} for k, v in hp.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return pd.DataFrame(rows, columns=["hyper-parameter", "value"])


def hyperparameter_overrides(method: str, intensity: float, edited, subject=None) -> dict:
    """The values changed in an edited :func:`editable_hyperparameters` table (ints stay ints)."""
    from .unlearn import resolve_hyperparameters

    hp = resolve_hyperparameters(method, float(intensity), _defaults(method, intensity, subject))
    out = {}
    for name, value in zip(edited["hyper-parameter"], edited["value"]):
        if name not in hp or value is None or value != value:
            continue
        old = hp[name]
        new = int(round(value)) if isinstance(old, int) and not isinstance(old, bool) else float(value)
        if new != old:
            out[name] = new
    return out


# ------------------------------------------------------------------------------------------------
# saved runs
# ------------------------------------------------------------------------------------------------

EXPORTS = {"html": "text/html", "json": "application/json", "csv": "text/csv"}


def runs_table(records):
    """Saved runs (``RunStore.list()`` records) as a DataFrame for the history table, newest first."""
    import time as _time

    import pandas as pd

    rows = []
    for r in records:
        metrics = (r.summary or {}).get("metrics") or {}
        rows.append(
            {
                "run": r.run_id,
                "created": _time.strftime("%Y-%m-%d %H:%M", _time.localtime(r.created)),
                "status": r.status,
                "data": r.scenario,
                "method": r.method,
                "intensity": r.intensity,
                "score": r.score,
                "DP before": metrics.get("dp_before"),
                "DP after": metrics.get("dp_after"),
                "accuracy before": metrics.get("accuracy_before"),
                "accuracy after": metrics.get("accuracy_after"),
                "seconds": r.seconds,
                "message": r.message,
            }
        )
    columns = ["run", "created", "status", "data", "method", "intensity", "score", "DP before", "DP after",
               "accuracy before", "accuracy after", "seconds", "message"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.dropna(axis=1, how="all") if len(frame) else frame


def run_export(run_id: str, kind: str, *, store=None) -> bytes:
    """The HTML report, JSON or CSV export of a saved run, as bytes (via :func:`bamu_core.report.write_report`)."""
    from .report import write_report

    if kind not in EXPORTS:
        raise ValueError(f"kind must be one of {', '.join(EXPORTS)}, got {kind!r}")
    with tempfile.TemporaryDirectory(prefix="bamu-export-") as folder:
        path = Path(folder) / f"{run_id}.{kind}"
        written = write_report(run_id, store=store, **{f"{kind}_path": path})
        return Path(written[kind]).read_bytes()


_BETTER = {  # which way is better, for the arrows of the before / after table
    "accuracy": "↑", "balanced_accuracy": "↑", "worst_group_accuracy": "↑", "demographic_parity_ratio": "↑",
    "demographic_parity_difference": "↓", "equalized_odds_difference": "↓", "equal_opportunity_difference": "↓",
    "accuracy_gap": "↓", "efficacy": "↑", "tpr_at_1pct_fpr": "↓", "auc": "→ 0.5", "attack_accuracy": "→ 0.5",
}


def before_after_table(run: dict):
    """Headline before / after numbers of an unlearn result (from :func:`bamu_core.report.report_rows`)."""
    import pandas as pd

    from .report import report_rows

    rows = []
    for r in report_rows(run):
        if r["section"] not in ("utility", "fairness", "forget", "privacy"):
            continue
        name = r["metric"].replace("_", " ")
        if r["section"] in ("forget", "privacy"):
            name = f"{'forget-set' if r['section'] == 'forget' else 'MIA'} {name}"
        rows.append({
            "metric": f"{name} {'' if r['section'] == 'forget' else _BETTER.get(r['metric'], '')}".strip(),
            "before": r["before"],
            "after": r["after"],
            "change": r["change"],
            "before CI": _ci_text({"low": r["before_low"], "high": r["before_high"]}),
            "after CI": _ci_text({"low": r["after_low"], "high": r["after_high"]}),
        })
    return pd.DataFrame(rows, columns=["metric", "before", "after", "change", "before CI", "after CI"])


def compare_table(comparison: dict):
    """``RunStore.compare`` rows as a DataFrame: metric, A, B, B - A."""
    import pandas as pd

    rows = [{"metric": r["metric"], "A": r["a"], "B": r["b"], "B - A": r["delta"]} for r in comparison["rows"]]
    return pd.DataFrame(rows, columns=["metric", "A", "B", "B - A"])


def run_gradcam(run_id: str | None, *, store=None) -> dict[str, bytes]:
    """The before / after Grad-CAM strips saved with a run ({} when the run or the pictures are absent)."""
    if not run_id or not _has_module("bamu_core.runs"):
        return {}
    from .runs import RunStore

    try:
        record = (store or RunStore()).get(run_id)
    except ValueError:
        return {}
    files = record.artifacts
    names = ("gradcam_before.png", "gradcam_after.png")
    if not all(n in files for n in names):
        return {}
    return {n: files[n].read_bytes() for n in names}


# ------------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------------


def user_message(exc: BaseException, *, doing: str = "") -> str:
    """An exception as a sentence for ``st.error``: what went wrong and what to do, no traceback."""
    prefix = f"Could not {doing}: " if doing else ""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, _USER_ERRORS):
        hint = ""
        if isinstance(exc, FileNotFoundError):
            hint = " Check the path (it is read on the machine running the dashboard)."
        return f"{prefix}{text}.{hint}".replace("..", ".")
    if isinstance(exc, MemoryError):
        return f"{prefix}the computer ran out of memory. Use a smaller dataset or image size, or a GPU."
    return (
        f"{prefix}an unexpected error happened ({type(exc).__name__}: {text}). "
        "Try again; if it keeps happening, report it with the steps that led here."
    )

