"""The dataset registry and the shared plumbing for datasets read from their official on-disk
formats (CelebA, CUB, Waterbirds).

Locating files under a user's root, reading whitespace-separated list files with errors that name
the file and the line, reading the listed images (in parallel, with progress), capping split sizes
and assembling :class:`~bamu_core.data.Scenario` splits.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

from ..errors import BamuInputError
from ..progress import Progress, ProgressEvent
from ..registry import Registry
from ._base import ImageData, Scenario, check_normalisation
from .folder import _read_image

__all__ = ["DATASETS", "register_dataset", "load_dataset", "list_datasets", "dataset_summary"]

SPLITS = ("train", "val", "test")

#: Every dataset :func:`load_dataset` reads, by name (entries hold the ``load_<name>`` function;
#: the loaders register themselves with :func:`register_dataset`).
DATASETS: Registry[Callable[..., Scenario]] = Registry("dataset")


def register_dataset(name: str, *, summary: str):
    """Decorator: register ``loader(root, **options) -> Scenario`` as the dataset ``name``;
    ``summary`` is one line describing the on-disk format it reads."""
    return DATASETS.register(name, summary=summary)


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return DATASETS.names()


def dataset_summary(name: str) -> str:
    """One line describing the on-disk format :func:`load_dataset` expects for ``name``."""
    return DATASETS.summary(name)


def load_dataset(name: str, root: str | Path, **options) -> Scenario:
    """Read the dataset ``name`` (``celeba``, ``cub`` or ``waterbirds``) from a local ``root``.

    ``options`` are passed to :func:`~bamu_core.data.load_celeba`,
    :func:`~bamu_core.data.load_cub` or :func:`~bamu_core.data.load_waterbirds`. An unknown name
    raises :class:`~bamu_core.errors.BamuInputError` listing the known ones.
    """
    return DATASETS.get(name)(root, **options)


# --- options -----------------------------------------------------------------------------


def check_image_options(image_size: int, mean: Sequence[float], std: Sequence[float]) -> None:
    if not isinstance(image_size, int) or not 8 <= image_size <= 512:
        raise BamuInputError(f"image_size must be an integer between 8 and 512, got {image_size!r}")
    check_normalisation(mean, std)


def split_caps(max_per_split: int | Mapping[str, int] | None) -> dict[str, int | None]:
    """Normalise ``max_per_split`` (one number for every split, or a dict per split) to a dict."""
    if max_per_split is None:
        return {s: None for s in SPLITS}
    if isinstance(max_per_split, Mapping):
        unknown = sorted(set(max_per_split) - set(SPLITS))
        if unknown:
            raise BamuInputError(f"max_per_split has unknown split(s) {unknown}; use train, val and test")
        caps = {s: max_per_split.get(s) for s in SPLITS}
    else:
        caps = {s: max_per_split for s in SPLITS}
    for s, cap in caps.items():
        if cap is not None and (not isinstance(cap, (int, np.integer)) or cap < 1):
            raise BamuInputError(f"max_per_split for {s!r} must be a positive integer or None, got {cap!r}")
    return caps


def cap_indices(indices: np.ndarray, cap: int | None, *, seed: int) -> np.ndarray:
    """A seeded random subset of at most ``cap`` of ``indices``, in their original order."""
    indices = np.asarray(indices, dtype=np.int64)
    if cap is None or len(indices) <= cap:
        return indices
    keep = np.random.default_rng(seed).choice(len(indices), size=int(cap), replace=False)
    return indices[np.sort(keep)]


def preprocessing(image_size: int, mean: Sequence[float], std: Sequence[float], **more) -> dict:
    """The card entry that says how the images were turned into tensors."""
    return {
        "resize": f"whole image, bilinear, to {image_size}x{image_size} (aspect ratio not kept, no crop)",
        "colour": "RGB (greyscale, palette and alpha converted; alpha composited on black)",
        "scale": "pixel / 255",
        "normalise": {"mean": [float(m) for m in mean], "std": [float(s) for s in std]},
        **more,
    }


# --- finding and parsing files -------------------------------------------------------------


def check_root(root: str | Path, *, dataset: str, hint: str) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{dataset} root {root} is not a folder; {hint}")
    return root


def find_file(root: Path, name: str, *, dataset: str, places: Sequence[str] = ("",), hint: str) -> Path:
    """``root/<place>/name`` for the first place where it exists, else a FileNotFoundError naming it."""
    found = optional_file(root, name, places=places)
    if found is not None:
        return found
    where = ", ".join(str(root / p) if p else str(root) for p in places)
    raise FileNotFoundError(f"{dataset}: {name} not found (looked in {where}); {hint}")


def optional_file(root: Path, name: str, *, places: Sequence[str] = ("",)) -> Path | None:
    """``root/<place>/name`` for the first place where it exists, else None."""
    for place in places:
        p = root / place / name if place else root / name
        if p.is_file():
            return p
    return None


def find_dir(root: Path, name: str, *, dataset: str, places: Sequence[str] = ("",), hint: str) -> Path:
    for place in places:
        p = root / place / name if place else root / name
        if p.is_dir():
            return p
    where = ", ".join(str(root / p) if p else str(root) for p in places)
    raise FileNotFoundError(f"{dataset}: folder {name}/ not found (looked in {where}); {hint}")


def read_rows(
    path: Path, *, fields: int | tuple[int, int], skip: int = 0, what: str
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, fields)`` of a whitespace-separated file, skipping blank lines.

    ``fields`` is the exact count or an inclusive ``(min, max)`` range; a line with another count
    raises ``ValueError`` naming the file, the line and ``what`` a line should hold.
    """
    lo, hi = (fields, fields) if isinstance(fields, int) else fields
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if number <= skip:
                continue
            parts = line.split()
            if not parts:
                continue
            if not lo <= len(parts) <= hi:
                count = f"{lo}" if lo == hi else f"{lo} to {hi}"
                raise BamuInputError(
                    f"{path.name} line {number}: expected {count} fields ({what}), got {len(parts)}: {_clip(line)}"
                )
            yield number, parts


def to_int(value: str, *, path: Path, line: int, what: str, allowed: Sequence[int] | None = None) -> int:
    """Parse an integer field, or raise ``ValueError`` naming file, line and field."""
    try:
        number = int(value)
    except ValueError:
        raise BamuInputError(f"{path.name} line {line}: {what} must be an integer, got {value!r}") from None
    if allowed is not None and number not in allowed:
        raise BamuInputError(
            f"{path.name} line {line}: {what} must be one of {', '.join(map(str, allowed))}, got {value!r}"
        )
    return number


def to_float(value: str, *, path: Path, line: int, what: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise BamuInputError(f"{path.name} line {line}: {what} must be a number, got {value!r}") from None


def _clip(line: str, n: int = 80) -> str:
    line = line.rstrip("\n")
    return repr(line if len(line) <= n else line[:n] + "...")


def match_name(wanted: str, names: Sequence[str], *, what: str, source: str) -> str:
    """``wanted`` matched exactly, then case-insensitively (spaces = underscores) against ``names``."""
    if wanted in names:
        return wanted
    key = wanted.strip().lower().replace(" ", "_")
    hits = [n for n in names if n.lower().replace(" ", "_") == key]
    if len(hits) == 1:
        return hits[0]
    import difflib

    close = difflib.get_close_matches(wanted, list(names), n=3, cutoff=0.5)
    suggestion = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    shown = ", ".join(names[:50]) + (", ..." if len(names) > 50 else "")
    raise BamuInputError(f"unknown {what} {wanted!r} (from {source}){suggestion} Available: {shown}")


# --- images and splits -------------------------------------------------------------------------


def check_images_exist(paths: Sequence[Path], *, image_dir: Path, listed_in: str) -> None:
    absent = [p for p in paths if not p.is_file()]
    if absent:
        examples = ", ".join(
            str(p.relative_to(image_dir)) if p.is_relative_to(image_dir) else str(p) for p in absent[:3]
        )
        raise FileNotFoundError(
            f"{len(absent)} image(s) listed in {listed_in} are missing from {image_dir}, e.g. {examples}; "
            "copy the complete image folder of the official release"
        )


def read_images(
    paths: Sequence[Path],
    *,
    image_size: int,
    image_dir: Path,
    progress: Progress | None = None,
    workers: int | None = None,
) -> torch.Tensor:
    """Read ``paths`` into a uint8 tensor (N, 3, image_size, image_size), in parallel threads.

    ``progress(event)`` (a :class:`~bamu_core.progress.ProgressEvent`, phase ``reading images``) is called about every
    1 % and at the end.
    """
    n = len(paths)
    out = np.zeros((n, 3, image_size, image_size), dtype=np.uint8)
    if workers is None:
        workers = min(8, os.cpu_count() or 1)
    if workers < 1:
        raise BamuInputError(f"workers must be >= 1, got {workers}")

    def one(i: int) -> int:
        p = paths[i]
        try:
            out[i] = _read_image(p, image_size)
        except Exception as exc:
            name = p.relative_to(image_dir) if p.is_relative_to(image_dir) else p
            raise BamuInputError(f"cannot read image {name}: {type(exc).__name__}: {exc}") from None
        return i

    step = max(1, n // 100)
    done = 0
    if workers == 1 or n < 64:
        results = map(one, range(n))
        for _ in results:
            done += 1
            if progress is not None and (done % step == 0 or done == n):
                progress(ProgressEvent(step=done, total=n, phase="reading images"))
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(one, range(n), chunksize=16):
                done += 1
                if progress is not None and (done % step == 0 or done == n):
                    progress(ProgressEvent(step=done, total=n, phase="reading images"))
    return torch.from_numpy(out)


def make_splits(
    *,
    images: torch.Tensor,
    labels: np.ndarray,
    attrs: dict[str, np.ndarray],
    group_names: dict[str, list[str]],
    group_attr: str,
    split: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    dataset: str,
    fix: str = "raise max_per_split or choose another attribute",
) -> dict[str, ImageData]:
    """Cut the loaded arrays into train / val / test :class:`ImageData` and check every group is tested.

    A group with no image in a split makes the per-group metrics undefined, so it is an error
    that says how to fix it.
    """
    out = {}
    for s in SPLITS:
        idx = np.flatnonzero(split == s)
        if len(idx) == 0:
            raise BamuInputError(f"{dataset}: the {s} split is empty; check the split file or lower val_fraction")
        out[s] = ImageData(
            images=images[torch.as_tensor(idx)],
            labels=labels[idx],
            attrs={k: v[idx] for k, v in attrs.items()},
            group_names=group_names,
            group_attr=group_attr,
            mean=mean,
            std=std,
        )
    for s in ("val", "test"):
        for attr, names in group_names.items():
            present = set(out[s].attrs[attr].tolist())
            empty = [g for i, g in enumerate(names) if i not in present]
            if empty:
                raise BamuInputError(
                    f"{dataset}: group(s) {', '.join(map(repr, empty))} of {attr!r} have no image in the {s} split; "
                    f"{fix}"
                )
    return out


def binary_names(attr: str) -> list[str]:
    """Group names for a yes/no attribute: ``["not X", "X"]``."""
    return [f"not {attr}", attr]
