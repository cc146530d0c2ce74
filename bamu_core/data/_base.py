"""In-memory image datasets with labels and subgroup attributes, and the one batch iterator."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterator, Sequence

import numpy as np
import torch

from ..errors import BamuInputError

__all__ = ["ImageData", "Scenario", "batches", "check_normalisation", "concat"]


def check_normalisation(mean: Sequence[float], std: Sequence[float]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``mean`` and ``std`` as 3 finite floats each, ``std`` positive; else a :class:`BamuInputError`."""
    out = []
    for name, values in (("mean", mean), ("std", std)):
        try:
            floats = tuple(float(v) for v in values)
        except (TypeError, ValueError):
            raise BamuInputError(f"{name} must be 3 numbers (R, G, B), got {values!r}") from None
        if len(floats) != 3:
            raise BamuInputError(f"{name} must have 3 values (R, G, B), got {len(floats)}: {values!r}")
        if not all(np.isfinite(floats)):
            raise BamuInputError(f"{name} must be finite numbers, got {floats}; give 3 numbers such as 0.5,0.5,0.5")
        out.append(floats)
    if any(s <= 0 for s in out[1]):
        raise BamuInputError(f"std must be positive in every channel, got {out[1]}; e.g. 0.229,0.224,0.225")
    return out[0], out[1]


class ImageData(torch.utils.data.Dataset):
    """Images (uint8, N x C x H x W) with labels and one or more subgroup attributes.

    Every item is ``(image, label, group, index)``: the image normalised with ``mean``/``std``,
    the class label, the id of the item's group under the active attribute ``group_attr``, and
    the item's index in this dataset.

    Parameters
    ----------
    images : torch.Tensor
        uint8 tensor of shape (N, C, H, W).
    labels : array-like of int
        Class ids in ``[0, len(class_names))``.
    attrs : dict
        Attribute name -> integer group id per item.
    group_names : dict
        Attribute name -> list of group names (index = group id).
    group_attr : str
        The attribute reported as ``group`` by ``__getitem__``.
    mean, std : sequence of float
        Per-channel normalisation (applied after scaling to [0, 1]).
    counterfactual : torch.Tensor, optional
        uint8 images of the same shape with the bias attribute flipped (patch removed or added,
        colour swapped), available when the bias can be synthesised.
    flips : sequence of str, optional
        The binary attributes whose value the counterfactual image flips (e.g. ``("patch",)``).
        Grouped by one of them, every image and its counterfactual form a matched pair across the
        two groups, which checkpoint selection uses for a low-noise parity estimate.
    """

    def __init__(
        self,
        *,
        images: torch.Tensor,
        labels,
        attrs: dict[str, np.ndarray],
        group_names: dict[str, list[str]],
        group_attr: str,
        mean: Sequence[float],
        std: Sequence[float],
        counterfactual: torch.Tensor | None = None,
        flips: Sequence[str] = (),
    ):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise BamuInputError(
                f"images must be a uint8 tensor (N, C, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        n = images.shape[0]
        self.images_u8 = images
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.labels.shape != (n,):
            raise BamuInputError(f"labels has {self.labels.shape[0]} entries for {n} images")
        self.attrs = {k: np.asarray(v, dtype=np.int64) for k, v in attrs.items()}
        for name, ids in self.attrs.items():
            if ids.shape != (n,):
                raise BamuInputError(f"attribute {name!r} has {ids.shape[0]} entries for {n} images")
            if name not in group_names:
                raise BamuInputError(f"attribute {name!r} has no group names")
            if n and (ids.min() < 0 or ids.max() >= len(group_names[name])):
                raise BamuInputError(f"attribute {name!r} has ids outside 0..{len(group_names[name]) - 1}")
        if group_attr not in self.attrs:
            raise BamuInputError(f"group_attr {group_attr!r} is not one of {sorted(self.attrs)}")
        self.group_names = {k: list(v) for k, v in group_names.items()}
        self.group_attr = group_attr
        c = images.shape[1]
        if c == 3:
            mean, std = check_normalisation(mean, std)
        self.mean = torch.tensor(list(mean), dtype=torch.float32).view(1, c, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32).view(1, c, 1, 1)
        if counterfactual is not None and counterfactual.shape != images.shape:
            raise BamuInputError("counterfactual images must have the same shape as images")
        self.counterfactual_u8 = counterfactual
        self.flips = tuple(flips)
        for name in self.flips:
            if name not in self.attrs or len(self.group_names[name]) != 2:
                raise BamuInputError(f"flips names {name!r}, which is not a binary attribute of this dataset")
        if self.flips and counterfactual is None:
            raise BamuInputError("flips needs counterfactual images")

    # -- basic protocol -------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.images_u8.shape[0])

    def __getitem__(self, i: int):
        x = self.images(np.array([i]))[0]
        return x, int(self.labels[i]), int(self.groups[i]), int(i)

    @property
    def groups(self) -> np.ndarray:
        """Group id of every item under the active attribute."""
        return self.attrs[self.group_attr]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images_u8.shape[1:])  # type: ignore[return-value]

    @property
    def has_counterfactual(self) -> bool:
        return self.counterfactual_u8 is not None

    @property
    def paired(self) -> bool:
        """Whether each image's counterfactual lies in the other group of the active attribute."""
        return self.group_attr in self.flips

    def normalise(self, u8: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) -> normalised float32."""
        return (u8.float().div_(255.0) - self.mean) / self.std

    def images(self, indices, *, counterfactual: bool = False) -> torch.Tensor:
        """Normalised float images for ``indices`` (or their counterfactual versions)."""
        source = self.images_u8
        if counterfactual:
            if self.counterfactual_u8 is None:
                raise BamuInputError("this dataset has no counterfactual images")
            source = self.counterfactual_u8
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return self.normalise(source.index_select(0, idx))

    # -- views ---------------------------------------------------------------------------
    def with_group(self, attr: str) -> ImageData:
        """The same data reporting ``attr`` as its group (shares storage)."""
        if attr not in self.attrs:
            raise BamuInputError(f"unknown group attribute {attr!r}; choose one of {sorted(self.attrs)}")
        other = _shallow_copy(self)
        other.group_attr = attr
        return other

    def with_intersection(self, a: str, b: str, *, combos: Sequence[int] | None = None) -> ImageData:
        """Add the intersectional attribute ``"a×b"`` (groups are pairs) and make it active.

        Only the pairs that occur get a group (numbered in the order of ``a``, then ``b``);
        ``combos`` (pair codes ``id_a * len(names of b) + id_b``, see :meth:`pair_codes`) fixes
        which pairs, so that several splits share one numbering (:meth:`Scenario.with_intersection`).
        """
        combo = self.pair_codes(a, b)
        nb = len(self.group_names[b])
        present = np.unique(combo) if combos is None else np.unique(np.asarray(combos, dtype=np.int64))
        if combos is not None and not np.isin(combo, present).all():
            raise BamuInputError(f"combos leave out pairs of {a!r} and {b!r} that occur in this data")
        ids = np.searchsorted(present, combo).astype(np.int64)  # present is sorted and holds every code
        names = [f"{self.group_names[a][c // nb]} & {self.group_names[b][c % nb]}" for c in present]
        other = _shallow_copy(self)
        key = f"{a}×{b}"
        other.attrs = {**self.attrs, key: ids}
        other.group_names = {**self.group_names, key: names}
        other.group_attr = key
        return other

    def pair_codes(self, a: str, b: str) -> np.ndarray:
        """The code ``id_a * len(names of b) + id_b`` of every item's pair of groups of ``a`` and ``b``."""
        for attr in (a, b):
            if attr not in self.attrs:
                raise BamuInputError(f"unknown group attribute {attr!r}; choose one of {sorted(self.attrs)}")
        if a == b:
            raise BamuInputError(f"intersect two different group attributes, got {a!r} twice")
        return self.attrs[a] * len(self.group_names[b]) + self.attrs[b]

    def subset(self, indices) -> ImageData:
        """A new dataset holding only ``indices`` (re-indexed from 0)."""
        idx = np.asarray(indices, dtype=np.int64)
        t = torch.as_tensor(idx)
        return ImageData(
            images=self.images_u8.index_select(0, t),
            labels=self.labels[idx],
            attrs={k: v[idx] for k, v in self.attrs.items()},
            group_names=self.group_names,
            group_attr=self.group_attr,
            mean=self.mean.flatten().tolist(),
            std=self.std.flatten().tolist(),
            counterfactual=None if self.counterfactual_u8 is None else self.counterfactual_u8.index_select(0, t),
            flips=self.flips,
        )

    def group_sizes(self) -> dict[str, int]:
        """Images per group of the active attribute, by group name (empty groups left out)."""
        names = self.group_names[self.group_attr]
        counts = np.bincount(self.groups, minlength=len(names))
        return {names[v]: int(n) for v, n in enumerate(counts) if n}

    def counts(self, attr: str | None = None) -> np.ndarray:
        """Counts per group (rows) x class (columns) for ``attr`` (default: the active one)."""
        attr = attr or self.group_attr
        n_groups = len(self.group_names[attr])
        n_classes = int(self.labels.max()) + 1 if len(self.labels) else 0
        table = np.zeros((n_groups, n_classes), dtype=np.int64)
        np.add.at(table, (self.attrs[attr], self.labels), 1)
        return table


def concat(parts: Sequence[ImageData]) -> ImageData:
    """One dataset holding the images of ``parts`` in order (same attributes and group names; the
    counterfactual images are kept only when every part has them)."""
    parts = [p for p in parts if len(p)] or list(parts[:1])
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    with_cf = all(p.counterfactual_u8 is not None for p in parts)
    return ImageData(
        images=torch.cat([p.images_u8 for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        attrs={k: np.concatenate([p.attrs[k] for p in parts]) for k in first.attrs},
        group_names=first.group_names,
        group_attr=first.group_attr,
        mean=first.mean.flatten().tolist(),
        std=first.std.flatten().tolist(),
        counterfactual=torch.cat([p.counterfactual_u8 for p in parts]) if with_cf else None,
        flips=first.flips if with_cf else (),
    )


def _shallow_copy(data: ImageData) -> ImageData:
    other = ImageData.__new__(ImageData)
    other.__dict__.update(data.__dict__)
    return other


def batches(
    data: ImageData,
    *,
    batch_size: int = 256,
    indices=None,
    shuffle: bool = False,
    seed: int = 0,
    counterfactual: bool = False,
    device: torch.device | str = "cpu",
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield ``(images, labels, groups, indices)`` batches on ``device``.

    The single way bamu iterates over data: slicing in-memory tensors is far faster than a
    per-item ``DataLoader`` for datasets of this size.
    """
    if batch_size < 1:
        raise BamuInputError(f"batch_size must be >= 1, got {batch_size}")
    idx = np.arange(len(data)) if indices is None else np.asarray(indices, dtype=np.int64)
    if shuffle:
        idx = np.random.default_rng(seed).permutation(idx)
    labels = torch.as_tensor(data.labels)
    groups = torch.as_tensor(data.groups)
    non_blocking = torch.device(device).type == "cuda"
    for start in range(0, len(idx), batch_size):
        chunk = idx[start : start + batch_size]
        t = torch.as_tensor(chunk)
        x = data.images(chunk, counterfactual=counterfactual)
        yield (
            x.to(device, non_blocking=non_blocking),
            labels[t].to(device),
            groups[t].to(device),
            t.to(device),
        )


@dataclass
class Scenario:
    """A dataset with a known bias: train / val / test splits and what the bias is.

    ``val`` is used for choosing checkpoints during unlearning; ``test`` only for reporting.
    An ``audit_only`` scenario (a metadata CSV whose every row is a test image) has empty
    ``train`` and ``val`` splits: its model can be audited, not trained or unlearned.
    """

    name: str
    title: str
    bias: str
    class_names: list[str]
    train: ImageData
    val: ImageData
    test: ImageData
    mean: tuple[float, ...]
    std: tuple[float, ...]
    default_arch: str
    bias_attr: str | None = None
    target_class: int | None = None
    bias_region: tuple[int, int, int, int] | None = None  # (top, left, height, width) in pixels
    baseline: dict = field(default_factory=dict)  # recipe for train_baseline
    # unlearning hyper-parameters suited to this scenario's model, between the intensity table and
    # the user's overrides: {"all" or method: {name: value or (low, high)}}
    unlearning: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)  # what the scenario was built with
    audit_only: bool = False  # every image is a test image: train and val are empty

    def __post_init__(self):
        for split in ("test",) if self.audit_only else ("train", "val", "test"):
            if len(getattr(self, split)) == 0:
                raise BamuInputError(
                    f"scenario {self.name!r}: the {split} split is empty; "
                    + (
                        "checkpoints are chosen on it during unlearning, so give it images (a split column "
                        "with val rows, or more images per group and class)"
                        if split == "val"
                        else "give it images (a split column, or more images per group and class)"
                    )
                )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.train.image_shape

    @property
    def group_attrs(self) -> list[str]:
        return list(self.test.attrs)

    def split(self, name: str) -> ImageData:
        """The split ``name`` (``train``, ``val`` or ``test``), or ``all``: the three together, in that order."""
        if name == "all":
            return concat([self.train, self.val, self.test])
        if name not in ("train", "val", "test"):
            raise BamuInputError(f"split must be train, val, test or all, got {name!r}")
        data = getattr(self, name)
        if len(data) == 0:
            raise BamuInputError(
                f"the {name} split of {self.name} is empty"
                + (
                    ": every image of this data is a test image (audit-only data); audit split test or all"
                    if self.audit_only
                    else ""
                )
            )
        return data

    def with_group(self, attr: str) -> Scenario:
        """The same scenario with ``attr`` as the active group attribute on every split."""
        return replace(
            self, train=self.train.with_group(attr), val=self.val.with_group(attr), test=self.test.with_group(attr)
        )

    def with_intersection(self, a: str, b: str) -> Scenario:
        """The same scenario grouped by the intersection ``"a×b"`` of two group attributes on every
        split (:meth:`ImageData.with_intersection`), numbered alike in all splits: a pair that occurs
        in any split is a group of each."""
        combos = np.unique(np.concatenate([getattr(self, s).pair_codes(a, b) for s in ("train", "val", "test")]))
        return replace(
            self,
            train=self.train.with_intersection(a, b, combos=combos),
            val=self.val.with_intersection(a, b, combos=combos),
            test=self.test.with_intersection(a, b, combos=combos),
        )

    def card(self) -> dict:
        """A JSON-ready description: sizes, classes, groups and counts per group x class."""
        splits = {}
        for split in ("train", "val", "test"):
            d: ImageData = getattr(self, split)
            splits[split] = {
                "n": len(d),
                "counts": {
                    attr: {d.group_names[attr][g]: d.counts(attr)[g].tolist() for g in range(len(d.group_names[attr]))}
                    for attr in d.attrs
                },
            }
        return {
            "name": self.name,
            "title": self.title,
            "bias": self.bias,
            "classes": self.class_names,
            "image_shape": list(self.image_shape),
            "mean": list(self.mean),
            "std": list(self.std),
            "group_attrs": {a: self.test.group_names[a] for a in self.test.attrs},
            "active_group_attr": self.test.group_attr,
            "target_class": None if self.target_class is None else self.class_names[self.target_class],
            "bias_region": None if self.bias_region is None else list(self.bias_region),
            "splits": splits,
        }
