"""CelebA read from its official on-disk layout, with any attribute as target and any as group.

The official release (and torchvision's ``root/celeba`` copy of it) holds::

    img_align_celeba/000001.jpg ...          aligned and cropped faces, 178 x 218
    list_attr_celeba.txt                     line 1: image count; line 2: the 40 attribute names;
                                             then "<file> v1 ... v40" with v = -1 or 1
    list_eval_partition.txt                  "<file> <0|1|2>": 0 train, 1 val, 2 test
    identity_CelebA.txt (optional)           "<file> <identity id>"

The files may sit directly in ``root``, in ``root/celeba`` (torchvision's layout) or in the
release's ``Anno/``, ``Eval/`` and ``Img/`` folders. torchvision's ``CelebA`` class is not used
because it insists on the md5 sums of the full release; this reader checks the documented format
line by line instead, so that errors name the file and the line.
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
    optional_file,
    preprocessing,
    read_images,
    read_rows,
    register_dataset,
    split_caps,
    to_int,
)
from .folder import DEFAULT_IMAGE_SIZE, IMAGENET_MEAN, IMAGENET_STD

__all__ = ["load_celeba", "celeba_attributes", "CELEBA_FILES"]

#: The training recipe of the baseline on this dataset (see :func:`bamu_core.models.train_baseline`).
CELEBA_BASELINE = {"arch": "resnet18", "epochs": 3, "lr": 1e-3}

CELEBA_FILES = {
    "attributes": "list_attr_celeba.txt",
    "partition": "list_eval_partition.txt",
    "identity": "identity_CelebA.txt",
    "images": "img_align_celeba",
}
_PLACES = ("", "celeba", "Anno", "Eval", "Img")
_HINT = (
    "point the root at the folder of the official CelebA release that holds img_align_celeba/, "
    "list_attr_celeba.txt and list_eval_partition.txt"
)


def celeba_attributes(root: str | Path) -> list[str]:
    """The attribute names on line 2 of ``list_attr_celeba.txt`` (reads only the header).

    Raises
    ------
    FileNotFoundError
        The root or the attribute file does not exist.
    ValueError
        The header is malformed.
    """
    path = find_file(
        check_root(root, dataset="CelebA", hint=_HINT),
        CELEBA_FILES["attributes"],
        dataset="CelebA",
        places=_PLACES,
        hint=_HINT,
    )
    return _read_attr_header(path)[1]


def _read_attr_header(path: Path) -> tuple[int, list[str]]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline()
        second = fh.readline()
    count = first.split()
    if len(count) != 1:
        raise BamuInputError(f"{path.name} line 1: expected the number of images, got {first.strip()!r}")
    n = to_int(count[0], path=path, line=1, what="the image count")
    names = second.split()
    if not names:
        raise BamuInputError(f"{path.name} line 2: expected the attribute names, got an empty line")
    if len(set(names)) != len(names):
        raise BamuInputError(f"{path.name} line 2: attribute names repeat")
    return n, names


@register_dataset(
    "celeba",
    summary="CelebA (official layout: img_align_celeba/, list_attr_celeba.txt, list_eval_partition.txt); "
    "any attribute as target, any as sensitive group",
)
def load_celeba(
    root: str | Path,
    *,
    target: str = "Smiling",
    sensitive: str | Sequence[str] = "Male",
    image_size: int = DEFAULT_IMAGE_SIZE,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    max_per_split: int | Mapping[str, int] | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Scenario:
    """Read CelebA from ``root`` into a :class:`Scenario`: binary ``target``, groups by ``sensitive``.

    Parameters
    ----------
    root : path
        Folder of the official release (see the module docstring for the accepted layouts).
    target : str
        Attribute to predict, e.g. ``"Smiling"``; classes are ``not <target>`` and ``<target>``.
        Names match case-insensitively.
    sensitive : str or sequence of str
        Attribute(s) that define the groups, e.g. ``"Male"``; the first is the active group.
    image_size : int
        Images are resized (whole image, bilinear) to ``image_size`` x ``image_size``. Every image
        is held in memory: the full 202,599 images at 64 x 64 take about 2.5 GB.
    mean, std : sequence of float
        Per-channel normalisation (default ImageNet's).
    max_per_split : int or dict, optional
        Keep at most this many images per split (a seeded random subset), e.g. ``2000`` or
        ``{"train": 20000, "val": 2000, "test": 2000}``; only the kept images are read.
    seed : int
        Seed of that subset.
    workers : int, optional
        Threads that decode images (default: up to 8).
    progress : callable, optional
        ``progress(event)`` (a :class:`~bamu_core.progress.ProgressEvent`, phase ``reading images``) while images are
        read.

    Splits follow ``list_eval_partition.txt`` (0 train, 1 val, 2 test).

    Raises
    ------
    FileNotFoundError
        The root, a required file or a listed image is missing (the message names it).
    ValueError
        A file is malformed (the message names the file and line), an attribute name is
        unknown, ``target`` is also a sensitive attribute, or a group has no image in a split.
    """
    check_image_options(image_size, mean, std)
    caps = split_caps(max_per_split)
    sensitive = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    if not sensitive:
        raise BamuInputError("sensitive must name at least one attribute, e.g. 'Male'")
    root = check_root(root, dataset="CelebA", hint=_HINT)
    attr_path = find_file(root, CELEBA_FILES["attributes"], dataset="CelebA", places=_PLACES, hint=_HINT)
    part_path = find_file(root, CELEBA_FILES["partition"], dataset="CelebA", places=_PLACES, hint=_HINT)
    image_dir = find_dir(root, CELEBA_FILES["images"], dataset="CelebA", places=_PLACES, hint=_HINT)
    nested = image_dir / CELEBA_FILES["images"]  # the Kaggle copy nests the folder in itself
    if nested.is_dir():
        image_dir = nested

    count, names = _read_attr_header(attr_path)
    source = attr_path.name
    target = match_name(target, names, what="CelebA attribute", source=source)
    sensitive = [match_name(s, names, what="CelebA attribute", source=source) for s in sensitive]
    if len(set(sensitive)) != len(sensitive):
        raise BamuInputError(f"sensitive attributes repeat: {sensitive}")
    if target in sensitive:
        raise BamuInputError(f"target {target!r} cannot also be a sensitive attribute; choose another group attribute")
    wanted = [target, *sensitive]
    columns = [names.index(a) for a in wanted]

    files, values = _read_attributes(attr_path, names, columns, count)
    partition = _read_partition(part_path)
    missing = [f for f in files if f not in partition]
    if missing:
        raise BamuInputError(
            f"{len(missing)} image(s) of {attr_path.name} are not in {part_path.name}, e.g. {', '.join(missing[:3])}; "
            "use the two files of the same release"
        )
    extra = len(partition) - len(files)
    if extra:
        listed = set(files)
        examples = [f for f in partition if f not in listed][:3]
        raise BamuInputError(
            f"{extra} image(s) of {part_path.name} are not in {attr_path.name}, e.g. {', '.join(examples)}; "
            "use the two files of the same release"
        )
    split_ids = np.array([partition[f] for f in files], dtype=np.int64)

    keep = np.concatenate(
        [cap_indices(np.flatnonzero(split_ids == i), caps[s], seed=seed + i) for i, s in enumerate(SPLITS)]
    )
    keep.sort()
    files = [files[i] for i in keep]
    values = values[keep]
    split = np.array(SPLITS)[split_ids[keep]]

    identities = None
    id_path = optional_file(root, CELEBA_FILES["identity"], places=_PLACES)
    if id_path is not None:
        ident = _read_identities(id_path)
        absent = [f for f in files if f not in ident]
        if absent:
            raise BamuInputError(
                f"{len(absent)} image(s) are not in {id_path.name}, e.g. {', '.join(absent[:3])}; "
                "use the files of the same release or remove the identity file"
            )
        ids = np.array([ident[f] for f in files])
        identities = {s: int(len(np.unique(ids[split == s]))) for s in SPLITS}

    paths = [image_dir / f for f in files]
    check_images_exist(paths, image_dir=image_dir, listed_in=part_path.name)
    images = read_images(paths, image_size=image_size, image_dir=image_dir, progress=progress, workers=workers)

    labels = (values[:, 0] > 0).astype(np.int64)
    attrs = {a: (values[:, j + 1] > 0).astype(np.int64) for j, a in enumerate(sensitive)}
    group_names = {a: binary_names(a) for a in sensitive}
    splits = make_splits(
        images=images,
        labels=labels,
        attrs=attrs,
        group_names=group_names,
        group_attr=sensitive[0],
        split=split,
        mean=mean,
        std=std,
        dataset="CelebA",
    )
    by = " and ".join(sensitive)
    return Scenario(
        name=f"celeba-{target}-by-{'-'.join(sensitive)}",
        title=f"CelebA: {target}, groups by {by}",
        bias=(
            f"Real faces: how predictions of {target} differ between groups of {by} "
            f"(the paper's gender bias in smile detection is target Smiling, group Male)."
        ),
        class_names=binary_names(target),
        mean=tuple(mean),
        std=tuple(std),
        default_arch="resnet18",
        bias_attr=sensitive[0],
        target_class=1,
        baseline=dict(CELEBA_BASELINE),
        options={
            "dataset": "celeba",
            "root": str(root),
            "target": target,
            "sensitive": sensitive,
            "image_size": image_size,
            "max_per_split": caps,
            "seed": seed,
            "identities": identities,
            "preprocessing": preprocessing(image_size, mean, std, source_size="178x218 aligned faces"),
            "files": [attr_path.name, part_path.name] + ([id_path.name] if id_path else []),
        },
        **splits,
    )


def _read_attributes(path: Path, names: list[str], columns: list[int], count: int) -> tuple[list[str], np.ndarray]:
    """File names and the chosen attribute columns (-1 / 1) of every row of ``list_attr_celeba.txt``."""
    k = len(names)
    files: list[str] = []
    values = []
    allowed = {"-1", "1"}
    seen: set[str] = set()
    for line, parts in read_rows(path, fields=k + 1, skip=2, what=f"a file name and {k} values of -1 or 1"):
        row = parts[1:]
        if not allowed.issuperset(row):
            j = next(i for i, v in enumerate(row) if v not in allowed)
            raise BamuInputError(f"{path.name} line {line}: attribute {names[j]} must be -1 or 1, got {row[j]!r}")
        name = parts[0]
        if name in seen:
            raise BamuInputError(f"{path.name} line {line}: image {name} is listed twice")
        seen.add(name)
        files.append(name)
        values.append([int(row[c]) for c in columns])
    if len(files) != count:
        raise BamuInputError(
            f"{path.name} line 1: says {count} images but the file lists {len(files)}; "
            "the file is truncated or edited, copy it again from the release"
        )
    if not files:
        raise BamuInputError(f"{path.name} lists no image")
    return files, np.array(values, dtype=np.int8).reshape(len(files), len(columns))


def _read_partition(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for line, (name, value) in read_rows(path, fields=2, what="a file name and 0, 1 or 2"):
        if name in out:
            raise BamuInputError(f"{path.name} line {line}: image {name} is listed twice")
        out[name] = to_int(value, path=path, line=line, what="the partition", allowed=(0, 1, 2))
    return out


def _read_identities(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for line, (name, value) in read_rows(path, fields=2, what="a file name and an identity number"):
        out[name] = to_int(value, path=path, line=line, what="the identity")
    return out
