"""Where the saliency mass lies: share inside a box or a mask, group-averaged maps."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..errors import BamuInputError

__all__ = ["check_region", "region_mask", "region_share", "mask_share", "mean_saliency", "centre_of_mass"]


def check_region(region: Sequence[int], image_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Validate a ``(top, left, height, width)`` box in pixels against an (H, W) image.

    Raises
    ------
    ValueError
        Not four integers, an empty box, or a box reaching outside the image.
    """
    try:
        top, left, h, w = (int(v) for v in region)
    except (TypeError, ValueError):
        raise BamuInputError(f"region must be four integers (top, left, height, width), got {region!r}") from None
    height, width = image_size
    if h < 1 or w < 1:
        raise BamuInputError(f"region height and width must be >= 1, got {h} x {w}")
    if top < 0 or left < 0 or top + h > height or left + w > width:
        raise BamuInputError(
            f"region {(top, left, h, w)} (top, left, height, width) reaches outside the {height}x{width} image"
        )
    return top, left, h, w


def region_mask(region: Sequence[int], image_size: tuple[int, int]) -> torch.Tensor:
    """Boolean (H, W) mask of a ``(top, left, height, width)`` box."""
    top, left, h, w = check_region(region, image_size)
    mask = torch.zeros(image_size, dtype=torch.bool)
    mask[top : top + h, left : left + w] = True
    return mask


def mask_share(maps: torch.Tensor, masks: torch.Tensor) -> np.ndarray:
    """Share of each map's mass inside its mask.

    Parameters
    ----------
    maps : torch.Tensor, shape (N, H, W)
        Non-negative heat maps.
    masks : torch.Tensor of bool, shape (H, W) or (N, H, W)
        One mask for all maps or one per map.

    Returns
    -------
    numpy.ndarray, shape (N,)
        Mass inside / total mass; NaN for an all-zero map.
    """
    if maps.ndim != 3:
        raise BamuInputError(f"maps must have shape (N, H, W), got {tuple(maps.shape)}")
    m = masks.to(torch.bool)
    if m.shape[-2:] != maps.shape[-2:]:
        raise BamuInputError(f"mask size {tuple(m.shape[-2:])} differs from map size {tuple(maps.shape[-2:])}")
    mass = maps.double().clamp_min(0)
    total = mass.sum(dim=(1, 2))
    inside = (mass * m).sum(dim=(1, 2))
    share = torch.where(total > 0, inside / total.clamp_min(1e-300), torch.full_like(total, float("nan")))
    return share.numpy()


def region_share(maps: torch.Tensor, region: Sequence[int]) -> np.ndarray:
    """Share of each map's mass inside the box ``region`` = (top, left, height, width).

    A map spread evenly gives the box's area fraction; 1 means all evidence is inside the box.
    """
    return mask_share(maps, region_mask(region, tuple(maps.shape[-2:])))


def mean_saliency(maps: torch.Tensor, groups, *, num_groups: int | None = None) -> torch.Tensor:
    """Mean map of each group, shape (G, H, W); a group without maps is NaN.

    Parameters
    ----------
    maps : torch.Tensor, shape (N, H, W)
        Heat maps (e.g. ``SaliencyMaps.maps``).
    groups : array-like of int, shape (N,)
        Group id of each map.
    num_groups : int, optional
        Number of groups (default: the largest id plus one).
    """
    g = torch.as_tensor(np.asarray(groups), dtype=torch.long)
    if g.shape != (maps.shape[0],):
        raise BamuInputError(f"groups must have one id per map: {tuple(g.shape)} for {maps.shape[0]} maps")
    n_groups = int(g.max()) + 1 if num_groups is None and len(g) else int(num_groups or 0)
    sums = torch.zeros((n_groups, *maps.shape[1:]), dtype=torch.float64)
    sums.index_add_(0, g, maps.double())
    counts = torch.bincount(g, minlength=n_groups).double().view(-1, 1, 1)
    return (sums / counts).float()


def centre_of_mass(heat: torch.Tensor) -> tuple[float, float] | None:
    """(row, column) centre of mass of one (H, W) map as fractions of the height and width."""
    h, w = heat.shape
    total = float(heat.double().sum())
    if not total > 0:
        return None
    rows = (heat.double().sum(dim=1) * (torch.arange(h, dtype=torch.float64) + 0.5)).sum() / total
    cols = (heat.double().sum(dim=0) * (torch.arange(w, dtype=torch.float64) + 0.5)).sum() / total
    return float(rows / h), float(cols / w)
