"""Waterbirds read from its on-disk layout (the folder that holds ``metadata.csv``)::

metadata.csv              img_id,img_filename,y,split,place[,place_filename]
                          y: 0 landbird, 1 waterbird; place: 0 land, 1 water;
                          split: 0 train, 1 val, 2 test
<img_filename>            the images, paths relative to the folder
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import BamuInputError
from ..progress import Progress
from ._base import Scenario
from ._official import (
    SPLITS,
    cap_indices,
    check_image_options,
    check_images_exist,
    check_root,
    find_file,
    make_splits,
    preprocessing,
    read_images,
    register_dataset,
    split_caps,
    to_int,
)
from .folder import DEFAULT_IMAGE_SIZE, IMAGENET_MEAN, IMAGENET_STD

__all__ = ["load_waterbirds", "WATERBIRDS_GROUPS"]

#: The training recipe of the baseline on this dataset (see :func:`bamu_core.models.train_baseline`).
WATERBIRDS_BASELINE = {"arch": "resnet18", "epochs": 5, "lr": 1e-3}

WATERBIRDS_GROUPS = ["landbird on land", "landbird on water", "waterbird on land", "waterbird on water"]
_WB_HINT = "point the root at the Waterbirds folder that holds metadata.csv and the image folders"

_WB_COLUMNS = ("img_filename", "y", "split", "place")


@register_dataset(
    "waterbirds", summary="Waterbirds (metadata.csv with img_filename, y, split, place); bird type x background"
)
def load_waterbirds(
    root: str | Path,
    *,
    image_size: int = DEFAULT_IMAGE_SIZE,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    max_per_split: int | Mapping[str, int] | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Scenario:
    """Read Waterbirds from ``root/metadata.csv`` into a :class:`Scenario`.

    Classes are ``landbird`` / ``waterbird`` (column ``y``); the group attributes are ``place``
    (``land`` / ``water`` background, active by default) and ``group``, the usual four groups
    (bird type x background) whose worst-group accuracy is the standard measure. Splits follow
    column ``split`` (0 train, 1 val, 2 test).

    Raises
    ------
    FileNotFoundError
        The root, ``metadata.csv`` or a listed image is missing.
    ValueError
        A column is missing or a value is invalid (the message names the line), or a group has
        no image in a split.
    """
    check_image_options(image_size, mean, std)
    caps = split_caps(max_per_split)
    root = check_root(root, dataset="Waterbirds", hint=_WB_HINT)
    meta = find_file(root, "metadata.csv", dataset="Waterbirds", hint=_WB_HINT)
    resolved = root.resolve()
    rows = []
    with open(meta, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise BamuInputError(f"{meta.name} is empty; it needs the header {','.join(_WB_COLUMNS)}")
        header = [h.strip() for h in header]
        missing = [c for c in _WB_COLUMNS if c not in header]
        if missing:
            raise BamuInputError(
                f"{meta.name} line 1: lacks column(s) {', '.join(missing)}; it has {', '.join(header)}"
            )
        col = {c: header.index(c) for c in _WB_COLUMNS}
        for fields in reader:
            line = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise BamuInputError(f"{meta.name} line {line}: expected {len(header)} fields, got {len(fields)}")
            rel = fields[col["img_filename"]].strip()
            if not rel:
                raise BamuInputError(f"{meta.name} line {line}: img_filename is empty")
            path = (resolved / rel).resolve()
            if not path.is_relative_to(resolved):
                raise BamuInputError(f"{meta.name} line {line}: image path {rel!r} points outside the root")
            rows.append(
                (
                    path,
                    to_int(fields[col["y"]].strip(), path=meta, line=line, what="y", allowed=(0, 1)),
                    to_int(fields[col["place"]].strip(), path=meta, line=line, what="place", allowed=(0, 1)),
                    to_int(fields[col["split"]].strip(), path=meta, line=line, what="split", allowed=(0, 1, 2)),
                )
            )
    if not rows:
        raise BamuInputError(f"{meta.name} lists no image")
    split_ids = np.array([r[3] for r in rows])
    keep = np.sort(
        np.concatenate(
            [cap_indices(np.flatnonzero(split_ids == i), caps[s], seed=seed + i) for i, s in enumerate(SPLITS)]
        )
    )
    rows = [rows[i] for i in keep]
    paths = [r[0] for r in rows]
    y = np.array([r[1] for r in rows], dtype=np.int64)
    place = np.array([r[2] for r in rows], dtype=np.int64)
    split = np.array(SPLITS)[split_ids[keep]]
    check_images_exist(paths, image_dir=resolved, listed_in=meta.name)
    images = read_images(paths, image_size=image_size, image_dir=resolved, progress=progress, workers=workers)
    splits = make_splits(
        images=images,
        labels=y,
        attrs={"place": place, "group": y * 2 + place},
        group_names={"place": ["land", "water"], "group": list(WATERBIRDS_GROUPS)},
        group_attr="place",
        split=split,
        mean=mean,
        std=std,
        dataset="Waterbirds",
    )
    return Scenario(
        name="waterbirds",
        title="Waterbirds: landbird vs waterbird, groups by background",
        bias="Birds pasted on backgrounds: in training most waterbirds are on water and landbirds on land.",
        class_names=["landbird", "waterbird"],
        mean=tuple(mean),
        std=tuple(std),
        default_arch="resnet18",
        bias_attr="place",
        target_class=1,
        baseline=dict(WATERBIRDS_BASELINE),
        options={
            "dataset": "waterbirds",
            "root": str(root),
            "image_size": image_size,
            "max_per_split": caps,
            "seed": seed,
            "preprocessing": preprocessing(image_size, mean, std),
        },
        **splits,
    )
