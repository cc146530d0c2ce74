"""Images of the data a saved run measured, as the dashboard shows them.

A run stores indices into its scenario's splits, not pictures; the pictures come from the loaded
scenario, and only when it is the data the run was made on (same name, same split size). One check
and one conversion for every view that shows a run's images (membership, inside the model, pairs).
"""

from __future__ import annotations

import numpy as np

from bamu_core.results import UnlearnReport

__all__ = ["made_on", "split_images", "upscale"]


def made_on(run: UnlearnReport, scenario, split: str) -> bool:
    """True when ``scenario`` is the data ``run`` measured: its name (when the run recorded one) and
    the size of ``split`` (``train`` or ``test``) match."""
    if scenario is None:
        return False
    card = run.dataset or {}
    n = ((card.get("splits") or {}).get(split) or {}).get("n")
    data = getattr(scenario, split)
    return card.get("name") in (None, scenario.name) and (n is None or n == len(data))


def split_images(
    run: UnlearnReport, scenario, split: str, indices, *, strict: bool
) -> list[tuple[int, np.ndarray]] | None:
    """``(index, RGB uint8 image)`` for ``indices`` of ``scenario``'s ``split``, or None when the
    scenario is not the run's data (:func:`made_on`) or there is nothing to show. ``strict``: any
    missing or out-of-range index gives None; otherwise such indices are left out."""
    from bamu_core.explain import to_rgb_uint8

    if not indices or not made_on(run, scenario, split):
        return None
    data = getattr(scenario, split)
    if strict and any(i is None or not 0 <= i < len(data) for i in indices):
        return None
    idx = np.asarray([i for i in indices if i is not None and 0 <= i < len(data)], dtype=np.int64)
    if len(idx) == 0:
        return None
    rgb = to_rgb_uint8(data.images(idx), mean=data.mean.flatten().tolist(), std=data.std.flatten().tolist())
    return list(zip(idx.tolist(), rgb))


def upscale(img: np.ndarray, size: int = 96) -> np.ndarray:
    """``img`` (H x W x C) enlarged by whole pixels to about ``size`` pixels high, for small images."""
    f = max(1, size // max(1, img.shape[0]))
    return np.repeat(np.repeat(img, f, axis=0), f, axis=1)
