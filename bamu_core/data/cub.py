"""CUB-200-2011 read from its official on-disk layout.

CUB-200-2011 (the ``CUB_200_2011`` folder of the release, or its parent)::

    images/<class folder>/<file>.jpg
    images.txt                "<image id> <relative path>"
    image_class_labels.txt    "<image id> <class id>"              (class ids from 1)
    train_test_split.txt      "<image id> <1 train | 0 test>"
    classes.txt               "<class id> <class name>"
    attributes/image_attribute_labels.txt
                              "<image id> <attribute id> <is present 0|1> <certainty 1-4> <seconds>"
                              (a few lines of the release carry one more field; it is ignored)
    attributes.txt            "<attribute id> <name>" (beside CUB_200_2011/ in the release;
                              also found in the root or in attributes/)
    parts/parts.txt           "<part id> <part name>"              (e.g. "2 beak", "7 left eye")
    parts/part_locs.txt       "<image id> <part id> <x> <y> <visible 0|1>"

Groups come from one attribute (present / absent) or from the visibility of one part, a proxy
for pose (the paper's "pose bias"); ``part="eyes"`` groups by which eyes are visible (facing
left, right, towards the camera). The validation split is carved from the official training
split (seeded, stratified by class).

Waterbirds, built from CUB images, is read by :mod:`bamu_core.data.waterbirds`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import BamuInputError
from ..progress import Progress
from ._base import Scenario
from ._official import (
    SPLITS,
    binary_names,
    cap_indices,
    check_image_options,
    check_images_exist,
    check_root,
    find_dir,
    find_file,
    make_splits,
    match_name,
    preprocessing,
    read_images,
    read_rows,
    register_dataset,
    split_caps,
    to_float,
    to_int,
)
from .folder import DEFAULT_IMAGE_SIZE, IMAGENET_MEAN, IMAGENET_STD
from .waterbirds import _WB_HINT, WATERBIRDS_GROUPS, load_waterbirds  # noqa: F401  (their former home)

__all__ = ["load_cub", "cub_attributes", "cub_parts", "load_waterbirds", "GROUP_SOURCES", "WATERBIRDS_GROUPS"]

#: The training recipe of the baseline on this dataset (see :func:`bamu_core.models.train_baseline`).
CUB_BASELINE = {"arch": "resnet18", "epochs": 10, "lr": 1e-3}

GROUP_SOURCES = ("visibility", "attribute")
EYES = "eyes"
_EYE_GROUPS = {(1, 1): "both eyes visible", (1, 0): "left eye only", (0, 1): "right eye only", (0, 0): "no eye visible"}
_CUB_HINT = (
    "point the root at the CUB_200_2011 folder of the official release "
    "(it holds images/, images.txt, image_class_labels.txt, train_test_split.txt, classes.txt, attributes/ and parts/)"
)


# --- CUB-200-2011 ---------------------------------------------------------------------------


def _cub_root(root: str | Path) -> Path:
    root = check_root(root, dataset="CUB-200-2011", hint=_CUB_HINT)
    if not (root / "images.txt").is_file() and (root / "CUB_200_2011" / "images.txt").is_file():
        root = root / "CUB_200_2011"
    return root


def _cub_file(root: Path, name: str) -> Path:
    return find_file(root, name, dataset="CUB-200-2011", hint=_CUB_HINT)


def cub_attributes(root: str | Path) -> list[str]:
    """The 312 attribute names of ``attributes.txt`` (in id order), e.g. ``has_wing_color::blue``."""
    return list(_attribute_names(_cub_root(root)).values())


def cub_parts(root: str | Path) -> list[str]:
    """The part names of ``parts/parts.txt`` (in id order), e.g. ``beak``, ``left eye``."""
    return list(_part_names(_cub_root(root)).values())


def _id_name_file(path: Path, what: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for line, parts in read_rows(path, fields=(2, 99), what=f"an id and a {what} name"):
        key = to_int(parts[0], path=path, line=line, what=f"the {what} id")
        if key in out:
            raise BamuInputError(f"{path.name} line {line}: {what} id {key} is listed twice")
        out[key] = " ".join(parts[1:])
    if not out:
        raise BamuInputError(f"{path.name} lists no {what}")
    return out


def _attribute_names(root: Path) -> dict[int, str]:
    places = ("attributes", "", "..")
    path = find_file(
        root,
        "attributes.txt",
        dataset="CUB-200-2011",
        places=places,
        hint="it comes with the release, beside the CUB_200_2011 folder; copy it into CUB_200_2011/attributes/",
    )
    return _id_name_file(path, "attribute")


def _part_names(root: Path) -> dict[int, str]:
    return _id_name_file(
        find_file(root, "parts.txt", dataset="CUB-200-2011", places=("parts",), hint=_CUB_HINT), "part"
    )


def _id_value_file(path: Path, what: str, allowed: Sequence[int] | None = None) -> dict[int, int]:
    out: dict[int, int] = {}
    for line, (key, value) in read_rows(path, fields=2, what=f"an image id and {what}"):
        k = to_int(key, path=path, line=line, what="the image id")
        if k in out:
            raise BamuInputError(f"{path.name} line {line}: image id {k} is listed twice")
        out[k] = to_int(value, path=path, line=line, what=what, allowed=allowed)
    return out


def _require_all(ids: Sequence[int], table: dict, path: Path) -> None:
    absent = [i for i in ids if i not in table]
    if absent:
        raise BamuInputError(
            f"{path.name} has no line for {len(absent)} image id(s) of images.txt, e.g. "
            f"{', '.join(map(str, absent[:3]))}; "
            "use the files of one release"
        )


@register_dataset(
    "cub",
    summary="CUB-200-2011 (official layout: images.txt, image_class_labels.txt, train_test_split.txt, ...); "
    "groups from an attribute or from part visibility (pose)",
)
def load_cub(
    root: str | Path,
    *,
    group_source: str = "visibility",
    part: str = "beak",
    attribute: str | int | None = None,
    classes: int | Sequence[int | str] | None = None,
    image_size: int = DEFAULT_IMAGE_SIZE,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    val_fraction: float = 0.1,
    max_per_split: int | Mapping[str, int] | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Scenario:
    """Read CUB-200-2011 from ``root`` into a :class:`Scenario` (species classification).

    Parameters
    ----------
    root : path
        The ``CUB_200_2011`` folder of the release (or its parent).
    group_source : {"visibility", "attribute"}
        ``visibility``: groups by whether ``part`` is visible (``part_locs.txt``), a pose proxy;
        ``attribute``: groups by whether ``attribute`` is present (``image_attribute_labels.txt``).
    part : str
        A part name from ``parts/parts.txt`` (``beak``, ``left eye``, ``tail`` ...), or ``"eyes"``
        for four groups by which eyes are visible (facing direction). Matched case-insensitively.
    attribute : str or int
        With ``group_source="attribute"``: an attribute name from ``attributes.txt``
        (e.g. ``has_wing_color::blue``) or its id.
    classes : int or sequence, optional
        Keep only some species: an int K keeps class ids 1..K; a sequence gives class ids or names.
    image_size, mean, std
        Whole-image bilinear resize to ``image_size`` x ``image_size`` and normalisation.
    val_fraction : float
        Share of each class's official training images moved to the validation split (seeded).
    max_per_split : int or dict, optional
        Keep at most this many images per split (seeded random subset).
    seed : int
        Seed of the validation split and of the subset.
    workers, progress
        Image-decoding threads and ``progress(event)`` (a :class:`~bamu_core.progress.ProgressEvent`, phase ``reading
        images``).

    Raises
    ------
    FileNotFoundError
        The root, a required file or a listed image is missing (the message names it).
    ValueError
        A file is malformed (the message names the file and line), a name is unknown, or a
        group has no image in a split.
    """
    check_image_options(image_size, mean, std)
    caps = split_caps(max_per_split)
    if group_source not in GROUP_SOURCES:
        raise BamuInputError(f"group_source must be one of {', '.join(GROUP_SOURCES)}, got {group_source!r}")
    if group_source == "attribute" and attribute is None:
        raise BamuInputError(
            "group_source='attribute' needs an attribute name or id (attribute=..., --cub-attribute), "
            "e.g. has_wing_color::blue; cub_attributes(root) lists them"
        )
    if not 0 < val_fraction < 1:
        raise BamuInputError(f"val_fraction must be in (0, 1), got {val_fraction}")
    root = _cub_root(root)
    images_path = _cub_file(root, "images.txt")
    labels_path = _cub_file(root, "image_class_labels.txt")
    split_path = _cub_file(root, "train_test_split.txt")
    classes_path = _cub_file(root, "classes.txt")
    image_dir = find_dir(root, "images", dataset="CUB-200-2011", hint=_CUB_HINT)

    files: dict[int, str] = {}
    for line, (key, rel) in read_rows(images_path, fields=2, what="an image id and a relative path"):
        k = to_int(key, path=images_path, line=line, what="the image id")
        if k in files:
            raise BamuInputError(f"{images_path.name} line {line}: image id {k} is listed twice")
        files[k] = rel
    if not files:
        raise BamuInputError(f"{images_path.name} lists no image")
    class_names = _id_name_file(classes_path, "class")
    labels = _id_value_file(labels_path, "a class id")
    is_train = _id_value_file(split_path, "1 (train) or 0 (test)", allowed=(0, 1))
    ids = sorted(files)
    _require_all(ids, labels, labels_path)
    _require_all(ids, is_train, split_path)
    bad = sorted({c for c in labels.values() if c not in class_names})
    if bad:
        raise BamuInputError(f"{labels_path.name} uses class id(s) {bad[:5]} that {classes_path.name} does not list")

    kept_classes = _choose_classes(classes, class_names)
    ids = [i for i in ids if labels[i] in kept_classes]
    if not ids:
        raise BamuInputError("no image belongs to the chosen classes")

    # groups
    if group_source == "visibility":
        group_key, values, names = _visibility_groups(root, part, ids)
    else:
        group_key, values, names = _attribute_groups(root, attribute, ids)

    # splits: official test; val carved from official train per class
    split = np.where(np.array([is_train[i] for i in ids]) == 1, "train", "test").astype(object)
    y_raw = np.array([labels[i] for i in ids])
    _carve_val(split, y_raw, values, val_fraction, np.random.default_rng(seed))
    split = split.astype(str)
    keep = np.sort(
        np.concatenate(
            [cap_indices(np.flatnonzero(split == s), caps[s], seed=seed + 1 + j) for j, s in enumerate(SPLITS)]
        )
    )
    ids = [ids[i] for i in keep]
    split, y_raw, values = split[keep], y_raw[keep], values[keep]

    present = sorted(set(values.tolist()))
    if len(present) < 2:
        raise BamuInputError(
            f"every kept image has the same value of {group_key!r} ({names[present[0]]}); "
            "choose another part or attribute, or keep more classes"
        )
    remap = {v: i for i, v in enumerate(present)}
    groups = np.array([remap[v] for v in values.tolist()], dtype=np.int64)
    group_names = {group_key: [names[v] for v in present]}

    order = sorted(kept_classes)
    class_index = {c: i for i, c in enumerate(order)}
    y = np.array([class_index[c] for c in y_raw], dtype=np.int64)

    paths = [image_dir / files[i] for i in ids]
    check_images_exist(paths, image_dir=image_dir, listed_in=images_path.name)
    images = read_images(paths, image_size=image_size, image_dir=image_dir, progress=progress, workers=workers)
    splits = make_splits(
        images=images,
        labels=y,
        attrs={group_key: groups},
        group_names=group_names,
        group_attr=group_key,
        split=split,
        mean=mean,
        std=std,
        dataset="CUB-200-2011",
        fix="raise val_fraction or max_per_split, keep more classes, or choose another part or attribute",
    )
    how = "attribute" if group_source == "attribute" else "part visibility (pose proxy)"
    return Scenario(
        name=f"cub-{group_key.replace(' ', '_').replace('::', '-')}",
        title=f"CUB-200-2011: species, groups by {group_key}",
        bias=f"Real birds: how species accuracy differs by {how} {group_key!r} (the paper's pose bias).",
        class_names=[_display_class(class_names[c]) for c in order],
        mean=tuple(mean),
        std=tuple(std),
        default_arch="resnet18",
        bias_attr=group_key,
        baseline=dict(CUB_BASELINE),
        options={
            "dataset": "cub",
            "root": str(root),
            "group_source": group_source,
            "group": group_key,
            "classes": order,
            "image_size": image_size,
            "val_fraction": val_fraction,
            "max_per_split": caps,
            "seed": seed,
            "preprocessing": preprocessing(image_size, mean, std, crop="none (bounding boxes are not used)"),
        },
        **splits,
    )


def _carve_val(split: np.ndarray, classes: np.ndarray, groups: np.ndarray, fraction: float, rng) -> None:
    """Move ``fraction`` of each class's training images to ``"val"`` (at least one where a class
    has two), then one more image for every group the validation split would otherwise miss."""
    for c in np.unique(classes):
        members = np.flatnonzero((classes == c) & (split == "train"))
        if len(members) >= 2:
            split[rng.permutation(members)[: max(1, int(round(len(members) * fraction)))]] = "val"
    for g in np.unique(groups[split == "train"]):
        if ((split == "val") & (groups == g)).any():
            continue
        train_per_class = {c: int(((classes == c) & (split == "train")).sum()) for c in np.unique(classes)}
        movable = [i for i in np.flatnonzero((split == "train") & (groups == g)) if train_per_class[classes[i]] >= 2]
        if movable:
            split[rng.choice(movable)] = "val"


def _display_class(name: str) -> str:
    """``001.Black_footed_Albatross`` -> ``Black footed Albatross``."""
    head, dot, rest = name.partition(".")
    return (rest if dot and head.isdigit() else name).replace("_", " ")


def _choose_classes(classes, class_names: dict[int, str]) -> list[int]:
    if classes is None:
        return sorted(class_names)
    if isinstance(classes, (int, np.integer)) and not isinstance(classes, bool):
        if not 2 <= classes <= len(class_names):
            raise BamuInputError(f"classes must be between 2 and {len(class_names)}, got {classes}")
        return sorted(class_names)[: int(classes)]
    chosen = []
    by_name = {_display_class(n).lower(): k for k, n in class_names.items()}
    by_name.update({n.lower(): k for k, n in class_names.items()})
    for c in classes:
        if isinstance(c, (int, np.integer)):
            if c not in class_names:
                raise BamuInputError(f"class id {c} is not in classes.txt (ids 1..{max(class_names)})")
            chosen.append(int(c))
        else:
            key = str(c).strip().lower().replace("_", " ")
            hit = by_name.get(key) or by_name.get(str(c).strip().lower())
            if hit is None:
                raise BamuInputError(f"class {c!r} is not in classes.txt")
            chosen.append(hit)
    chosen = sorted(set(chosen))
    if len(chosen) < 2:
        raise BamuInputError("choose at least two classes")
    return chosen


def _visibility_groups(root: Path, part: str, ids: list[int]) -> tuple[str, np.ndarray, dict[int, str]]:
    parts = _part_names(root)
    if part.strip().lower() == EYES:
        wanted = [
            match_name("left eye", list(parts.values()), what="CUB part", source="parts.txt"),
            match_name("right eye", list(parts.values()), what="CUB part", source="parts.txt"),
        ]
    else:
        wanted = [match_name(part, list(parts.values()), what="CUB part", source="parts.txt")]
    part_ids = [next(k for k, v in parts.items() if v == w) for w in wanted]
    path = find_file(root, "part_locs.txt", dataset="CUB-200-2011", places=("parts",), hint=_CUB_HINT)
    visible: dict[tuple[int, int], int] = {}
    wanted_ids = set(part_ids)
    for line, (img, pid, x, y, vis) in read_rows(path, fields=5, what="image id, part id, x, y, visible"):
        p = to_int(pid, path=path, line=line, what="the part id")
        if p not in wanted_ids:
            continue
        to_float(x, path=path, line=line, what="x")
        to_float(y, path=path, line=line, what="y")
        visible[(to_int(img, path=path, line=line, what="the image id"), p)] = to_int(
            vis, path=path, line=line, what="visible", allowed=(0, 1)
        )
    absent = [i for i in ids if any((i, p) not in visible for p in part_ids)]
    if absent:
        raise BamuInputError(
            f"{path.name} has no {' / '.join(wanted)} line for {len(absent)} image(s), e.g. image id "
            f"{', '.join(map(str, absent[:3]))}; use the files of one release"
        )
    if len(part_ids) == 1:
        (p,) = part_ids
        values = np.array([visible[(i, p)] for i in ids], dtype=np.int64)
        return f"{wanted[0]} visible", values, {0: f"{wanted[0]} hidden", 1: f"{wanted[0]} visible"}
    left, right = part_ids
    order = list(_EYE_GROUPS)  # (left visible, right visible) pairs
    values = np.array([order.index((visible[(i, left)], visible[(i, right)])) for i in ids], dtype=np.int64)
    return "eyes visible", values, dict(enumerate(_EYE_GROUPS.values()))


def _attribute_groups(root: Path, attribute, ids: list[int]) -> tuple[str, np.ndarray, dict[int, str]]:
    names = _attribute_names(root)
    if isinstance(attribute, (int, np.integer)) or (isinstance(attribute, str) and attribute.strip().isdigit()):
        attr_id = int(attribute)
        if attr_id not in names:
            raise BamuInputError(f"attribute id {attr_id} is not in attributes.txt (ids 1..{max(names)})")
    else:
        name = match_name(str(attribute), list(names.values()), what="CUB attribute", source="attributes.txt")
        attr_id = next(k for k, v in names.items() if v == name)
    label = names[attr_id]
    path = find_file(root, "image_attribute_labels.txt", dataset="CUB-200-2011", places=("attributes",), hint=_CUB_HINT)
    key = str(attr_id)
    present: dict[int, int] = {}
    for line, fields in read_rows(path, fields=(5, 6), what="image id, attribute id, is_present, certainty id, time"):
        if fields[1] != key:
            continue
        img = to_int(fields[0], path=path, line=line, what="the image id")
        present[img] = to_int(fields[2], path=path, line=line, what="is_present", allowed=(0, 1))
        to_int(fields[3], path=path, line=line, what="the certainty id", allowed=(1, 2, 3, 4))
    absent = [i for i in ids if i not in present]
    if absent:
        raise BamuInputError(
            f"{path.name} has no line for attribute {label!r} and {len(absent)} image(s), e.g. image id "
            f"{', '.join(map(str, absent[:3]))}; use the files of one release"
        )
    values = np.array([present[i] for i in ids], dtype=np.int64)
    return label, values, dict(enumerate(binary_names(label)))
