"""A user's dataset: an image folder plus a metadata CSV (path, label, group columns)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import BamuInputError
from ..progress import Progress, ProgressEvent
from ._base import ImageData, Scenario, check_normalisation

__all__ = ["load_folder", "check_normalisation", "IMAGENET_MEAN", "IMAGENET_STD", "DEFAULT_IMAGE_SIZE", "MAX_PIXELS"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_IMAGE_SIZE = 64
#: The most pixels (width x height) an image may declare in its header; larger ones are refused
#: before decoding. 64 million is 8000 x 8000, far above any dataset image (CelebA is 178 x 218),
#: and below Pillow's own warning limit (89 million), so a tiny file cannot cost gigabytes.
MAX_PIXELS = 64_000_000
_SPLITS = ("train", "val", "test")


def _read_image(path: Path, size: int, *, max_pixels: int | None = None) -> np.ndarray:
    """Any PIL-readable image -> uint8 RGB (3, size, size). Handles 16-bit, float, palette, alpha.

    High bit depths map by their full range, so the same picture gives the same pixels in any
    mode: 16-bit 0..65535, 32-bit integers 0..255 or 0..65535 (by their maximum), floats 0..1
    or 0..255; transparency is composited onto black. An image whose header declares more than
    ``max_pixels`` (default :data:`MAX_PIXELS`) is refused before any pixel is decoded
    (``PIL.Image.DecompressionBombError``; the loaders name the file).
    """
    from PIL import Image

    limit = MAX_PIXELS if max_pixels is None else max_pixels
    _quiet_pil_bomb_warning()
    with Image.open(path) as im:
        width, height = im.size
        if width * height > limit:
            raise Image.DecompressionBombError(
                f"{width} x {height} = {width * height / 1e6:.0f} million pixels declared, above the limit of "
                f"{limit / 1e6:.0f} million (a decompression bomb, or a picture far larger than needed); not decoded"
            )
        im.load()
        if im.mode.startswith("I;16") or im.mode in ("I", "F"):
            arr = np.asarray(im, dtype=np.float64)
            im = Image.fromarray(
                np.rint(arr * (255.0 / _full_scale(im.mode, arr))).clip(0, 255).astype(np.uint8), mode="L"
            )
        if im.mode in ("RGBA", "LA", "P", "PA"):
            im = im.convert("RGBA")
            background = Image.new("RGBA", im.size, (0, 0, 0, 255))
            im = Image.alpha_composite(background, im)
        im = im.convert("RGB").resize((size, size), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)


def _quiet_pil_bomb_warning() -> None:
    """Silence Pillow's ``DecompressionBombWarning`` (raised from 89 million pixels): every image
    above :data:`MAX_PIXELS` (64 million) is refused here first with a one-line error naming the
    file, so the warning would only print a second, vaguer line. Added once (a no-op when the
    filter is already in place, e.g. from another thread)."""
    import warnings

    from PIL import Image

    if ("ignore", None, Image.DecompressionBombWarning, None, 0) not in warnings.filters:
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def _full_scale(mode: str, arr: np.ndarray) -> float:
    """The value that means white for a high-bit-depth image."""
    hi = float(arr.max()) if arr.size else 0.0
    if mode.startswith("I;16"):
        return 65535.0
    for scale in (1.0, 255.0, 65535.0) if mode == "F" else (255.0, 65535.0):
        if hi <= scale:
            return scale
    return hi


def _canonical(value: str) -> str:
    """A label or group value as written, but integral numbers written one way: "1.0", "01", "1e0" -> "1"."""
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        return value
    if np.isfinite(number) and number == int(number) and any(c.isdigit() for c in value):
        return str(int(number))
    return value


def _names(values, limit: int = 5) -> str:
    """``'a', 'b', 'c'`` (at most ``limit`` names, then how many in all)."""
    values = list(values)
    text = ", ".join(map(repr, values[:limit]))
    return text + (f" ... ({len(values)} in all)" if len(values) > limit else "")


def load_folder(
    data_dir: str | Path,
    meta_csv: str | Path,
    *,
    label_col: str = "label",
    group_cols: Sequence[str] | None = None,
    path_col: str = "path",
    split_col: str = "split",
    image_size: int = DEFAULT_IMAGE_SIZE,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    val_fraction: float = 0.15,
    test_fraction: float = 0.25,
    seed: int = 0,
    progress: Progress | None = None,
    audit_only: bool = False,
) -> Scenario:
    """Read an image folder described by a metadata CSV into a :class:`Scenario`.

    The CSV has one row per image: ``path`` (relative to ``data_dir``), ``label`` (class name or
    id) and one or more group columns. An optional ``split`` column (train / val / test) fixes
    the splits; otherwise a seeded split stratified by label and first group is made.

    Audit-only data: a split column whose every row is ``test``, or ``audit_only=True`` (every
    row is a test image, whatever the split column says), gives a scenario with empty ``train``
    and ``val`` splits (``Scenario.audit_only``): a model checkpoint can be audited on all of it,
    but no baseline can be trained and nothing unlearned.

    Label and group values are compared as written (spaces around them dropped), except integral
    numbers, which are written one way: ``1``, ``1.0`` and ``01`` are the same class. Each image
    is listed once: two rows naming the same file (also through ``./``, ``..`` or a link) are
    refused, since that image would be counted twice and could be both trained and tested on.
    Byte-identical copies under different names are decoded once and always share a split: the
    seeded split keeps them together, and a split column that puts them in two splits is refused.
    An image declaring more than :data:`MAX_PIXELS` pixels is refused before it is decoded.

    Raises
    ------
    FileNotFoundError
        The folder, the CSV or an image listed in it does not exist.
    ValueError
        (:class:`BamuInputError`) A named column is missing, a value is empty, an image cannot be read
        or is too large, a path leaves ``data_dir`` or is listed twice, ``mean`` / ``std`` are not
        finite (``std`` positive), or a split, group or class has no sample where it is needed.
    """
    import pandas as pd

    data_dir = Path(data_dir)
    meta_csv = Path(meta_csv)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder {data_dir} does not exist")
    if not meta_csv.is_file():
        raise FileNotFoundError(f"metadata CSV {meta_csv} does not exist")
    if not 8 <= image_size <= 512:
        raise BamuInputError(f"image_size must be between 8 and 512, got {image_size}")
    mean, std = check_normalisation(mean, std)
    try:
        table = pd.read_csv(meta_csv, dtype=str, keep_default_na=True)
    except Exception as exc:  # pandas raises several parser error types
        raise BamuInputError(
            f"cannot parse metadata CSV {meta_csv.name}: "
            f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}; "
            "save it as comma-separated UTF-8 text with a header row (path, label, group columns)"
        ) from None
    table.columns = [str(c).strip() for c in table.columns]  # " label" is "label", as the dashboard shows it
    if table.empty:
        raise BamuInputError(
            f"metadata CSV {meta_csv.name} has no rows; add one row per image (path, label, group columns)"
        )
    guessed = group_cols is None or len(group_cols) == 0
    if guessed:
        group_cols = [c for c in table.columns if c not in (path_col, label_col, split_col)]
        if not group_cols:
            raise BamuInputError(
                f"metadata CSV {meta_csv.name} has no group column besides {path_col!r} and {label_col!r}"
            )
    needed = [path_col, label_col, *group_cols]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise BamuInputError(
            f"metadata CSV {meta_csv.name} lacks column(s) {', '.join(map(repr, missing))}; "
            f"it has {', '.join(map(repr, table.columns))}; rename the column in the CSV or choose another "
            "(--label-col, --group-col)"
        )
    for col in group_cols if guessed else ():
        if len(table) > 2 and table[col].nunique() == len(table):
            raise BamuInputError(
                f"column {col!r} of {meta_csv.name} has a different value in every row, so it cannot define groups "
                "(it looks like an identifier); name the group column(s) to use (--group-col)"
            )
    for col in needed:
        empty = table.index[table[col].isna() | (table[col].str.strip() == "")].tolist()
        if empty:
            rows = ", ".join(str(r + 2) for r in empty[:5])
            raise BamuInputError(
                f"column {col!r} is empty in {len(empty)} row(s) (CSV line {rows}{'...' if len(empty) > 5 else ''}): "
                "a blank cell, NaN, NA or None; fill in a value or remove those rows"
            )

    root = data_dir.resolve()
    paths = []
    for rel in table[path_col]:
        p = (root / rel.strip()).resolve()
        if not p.is_relative_to(root):
            raise BamuInputError(f"image path {rel!r} points outside the data folder; paths must be relative to it")
        paths.append(p)
    absent = [str(p.relative_to(root)) for p in paths if not p.is_file()]
    if absent:
        raise FileNotFoundError(
            f"{len(absent)} image(s) listed in {meta_csv.name} are missing, e.g. {', '.join(absent[:3])}; "
            f"paths in the CSV are relative to the data folder {data_dir}"
        )

    _refuse_repeated_paths(paths, root, meta_csv.name)
    content = _content_ids(paths)

    class_names, labels = _encode(table[label_col].map(_canonical))
    if len(class_names) < 2:
        raise BamuInputError(f"column {label_col!r} has only one class ({class_names[0]!r}); need at least two")
    attrs, group_names = {}, {}
    for col in group_cols:
        group_names[col], attrs[col] = _encode(table[col].map(_canonical))

    if audit_only:
        split = np.full(len(table), "test", dtype=object)
    else:
        split = _assign_splits(
            table, split_col, labels, attrs[group_cols[0]], val_fraction, test_fraction, seed, content
        )
    audit_only = not (split != "test").any()
    _refuse_copies_across_splits(split, content, paths, root, split_col)

    images = np.zeros((len(paths), 3, image_size, image_size), dtype=np.uint8)
    first: dict[int, int] = {}  # content id -> the row that decoded it
    for i, p in enumerate(paths):
        if content[i] in first:  # the same bytes under another name: decoded once
            images[i] = images[first[content[i]]]
        else:
            first[content[i]] = i
            try:
                images[i] = _read_image(p, image_size)
            except Exception as exc:
                raise BamuInputError(
                    f"cannot read image {p.relative_to(root)}: {type(exc).__name__}: {exc}; replace or remove this "
                    "file (any format Pillow opens works: PNG, JPEG, BMP, GIF, TIFF, WebP ...)"
                ) from None
        if progress is not None and (i % 50 == 0 or i == len(paths) - 1):
            progress(ProgressEvent(step=i + 1, total=len(paths), phase="reading images"))
    tensor = torch.as_tensor(images)

    splits = {}
    for s in _SPLITS:
        idx = np.flatnonzero(split == s)
        splits[s] = ImageData(
            images=tensor[torch.as_tensor(idx)],
            labels=labels[idx],
            attrs={k: v[idx] for k, v in attrs.items()},
            group_names=group_names,
            group_attr=group_cols[0],
            mean=mean,
            std=std,
        )
    for col in group_cols:
        present = set(splits["test"].attrs[col].tolist())
        empty = [g for i, g in enumerate(group_names[col]) if i not in present]
        if empty:
            raise BamuInputError(
                f"group(s) {_names(empty)} of column {col!r} have no image in the test split; "
                "add images (at least 2 per group and class) or drop the group"
            )
    present = set(splits["test"].labels.tolist())
    absent = [c for i, c in enumerate(class_names) if i not in present]
    if absent:
        raise BamuInputError(
            f"class(es) {_names(absent)} of column {label_col!r} have no image in the test split, so their accuracy "
            "cannot be measured; add images (at least 2 per group and class) or remove those rows"
        )
    return Scenario(
        name=f"folder:{data_dir.name}",
        title=f"Image folder {data_dir.name}",
        bias=f"User dataset; groups from column(s) {', '.join(group_cols)}.",
        class_names=class_names,
        mean=tuple(mean),
        std=tuple(std),
        default_arch="resnet18",
        options={"data_dir": str(data_dir), "meta_csv": str(meta_csv), "image_size": image_size, "seed": seed},
        audit_only=audit_only,
        **splits,
    )


def _refuse_repeated_paths(paths: list[Path], root: Path, csv_name: str) -> None:
    """Two rows naming one file (after resolving ``./``, ``..`` and links) are refused: that image would be
    counted twice and could land in both the training and the test split."""
    seen: dict[Path, list[int]] = {}
    for i, p in enumerate(paths):
        seen.setdefault(p, []).append(i)
    repeated = [(p, rows) for p, rows in seen.items() if len(rows) > 1]
    if repeated:
        p, rows = repeated[0]
        lines = ", ".join(str(r + 2) for r in rows[:5]) + (" ..." if len(rows) > 5 else "")
        raise BamuInputError(
            f"{csv_name} lists image {str(p.relative_to(root))!r} {len(rows)} times (CSV lines {lines})"
            + (f", and {len(repeated) - 1} other image(s) more than once" if len(repeated) > 1 else "")
            + "; list each image once, so that no image is both trained and tested on"
        )


def _content_ids(paths: list[Path]) -> np.ndarray:
    """One id per distinct file content (SHA-256 of the bytes): copies of an image under other names share it."""
    import hashlib

    ids: dict[bytes, int] = {}
    out = np.empty(len(paths), dtype=np.int64)
    for i, p in enumerate(paths):
        digest = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        out[i] = ids.setdefault(digest.digest(), len(ids))
    return out


def _refuse_copies_across_splits(split, content, paths, root, split_col) -> None:
    """Byte-identical images given to two different splits (by the CSV's split column) are refused."""
    where: dict[int, int] = {}
    for i, c in enumerate(content):
        j = where.setdefault(int(c), i)
        if split[j] != split[i]:
            raise BamuInputError(
                f"images {str(paths[j].relative_to(root))!r} ({split[j]}) and {str(paths[i].relative_to(root))!r} "
                f"({split[i]}) are the same file content in two splits; put copies in one split "
                f"(column {split_col!r}) or remove them"
            )


def _encode(values) -> tuple[list[str], np.ndarray]:
    names = sorted(set(values), key=_natural_key)
    lookup = {n: i for i, n in enumerate(names)}
    return names, np.array([lookup[v] for v in values], dtype=np.int64)


def _natural_key(s: str):
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)


def _assign_splits(table, split_col, labels, groups, val_fraction, test_fraction, seed, content=None) -> np.ndarray:
    """The split of every row: the CSV's split column, or a seeded split stratified by label and group in
    which byte-identical copies of an image (same ``content`` id) always share one split."""
    if split_col in table.columns:
        split = table[split_col].fillna("").str.strip().str.lower().to_numpy()
        bad = sorted(set(split) - set(_SPLITS))
        if bad:
            raise BamuInputError(f"column {split_col!r} has value(s) {bad}; use train, val or test")
        if (split == "test").all():  # audit-only data: every row is a test image
            return split
        for s in _SPLITS:
            if not (split == s).any():
                raise BamuInputError(
                    f"column {split_col!r} has no {s!r} rows"
                    + (
                        "; give it train, val and test rows, or only test rows to audit a model on all of them"
                        if s != "test"
                        else ""
                    )
                )
        return split
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise BamuInputError("val_fraction and test_fraction must be in (0, 1) and sum to less than 1")
    if content is None:
        content = np.arange(len(labels))
    _, reps, inverse = np.unique(content, return_index=True, return_inverse=True)
    split = _stratified(labels[reps], groups[reps], val_fraction, test_fraction, seed)[inverse.reshape(-1)]
    for s in ("train", "val"):
        if not (split == s).any():
            raise BamuInputError(f"too few images to make a {s!r} split; add images or give a {split_col!r} column")
    return split.astype(str)


def _stratified(labels, groups, val_fraction, test_fraction, seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    split = np.empty(len(labels), dtype=object)
    strata = labels * (groups.max() + 1) + groups
    for s in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == s))
        n = len(members)
        n_test = max(1, round(n * test_fraction)) if n >= 2 else 0
        n_val = max(1, round(n * val_fraction)) if n >= 3 else 0
        split[members[:n_test]] = "test"
        split[members[n_test : n_test + n_val]] = "val"
        split[members[n_test + n_val :]] = "train"
    return split
