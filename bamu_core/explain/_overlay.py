"""Heat maps as pictures: a jet colour map (no matplotlib), un-normalised images, overlays, PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import BamuInputError
from ..storage import atomic_write

__all__ = ["colorize", "to_rgb_uint8", "overlay", "write_png"]


def _jet_lut() -> np.ndarray:
    x = np.linspace(0.0, 1.0, 256)
    channels = [np.clip(1.5 - np.abs(4.0 * x - c), 0.0, 1.0) for c in (3.0, 2.0, 1.0)]  # r, g, b
    return np.round(np.stack(channels, axis=1) * 255.0).astype(np.uint8)


_JET = _jet_lut()


def colorize(maps) -> np.ndarray:
    """Map values in [0, 1] to jet colours (blue = 0, red = 1).

    Parameters
    ----------
    maps : array-like, shape (..., H, W)
        Values in [0, 1] (clipped).

    Returns
    -------
    numpy.ndarray of uint8, shape (..., H, W, 3)
    """
    values = np.clip(np.asarray(maps, dtype=np.float32), 0.0, 1.0)
    return _JET[np.round(values * 255.0).astype(np.int64)]


def to_rgb_uint8(images: torch.Tensor, *, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Undo the dataset normalisation: (N, C, H, W) float -> (N, H, W, 3) uint8 (grey repeated).

    Raises
    ------
    ValueError
        ``mean``/``std`` do not have one entry per channel.
    """
    if images.ndim != 4:
        raise BamuInputError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
    c = images.shape[1]
    if len(mean) != c or len(std) != c:
        raise BamuInputError(f"mean and std need one value per channel ({c}), got {len(mean)} and {len(std)}")
    m = torch.tensor(list(mean), dtype=torch.float32).view(1, c, 1, 1)
    s = torch.tensor(list(std), dtype=torch.float32).view(1, c, 1, 1)
    x = (images.detach().float().cpu() * s + m).clamp_(0.0, 1.0)
    if c == 1:
        x = x.expand(-1, 3, -1, -1)
    elif c != 3:
        raise BamuInputError(f"images must have 1 or 3 channels to be shown, got {c}")
    return np.round(x.permute(0, 2, 3, 1).numpy() * 255.0).astype(np.uint8)


def overlay(images_rgb: np.ndarray, maps, *, alpha: float = 0.5) -> np.ndarray:
    """Blend jet-coloured heat maps over RGB images.

    Parameters
    ----------
    images_rgb : numpy.ndarray of uint8, shape (N, H, W, 3)
        Images as from :func:`to_rgb_uint8`.
    maps : array-like, shape (N, H, W)
        Heat maps in [0, 1].
    alpha : float, default 0.5
        Weight of the heat map (0 = image only, 1 = heat map only).

    Returns
    -------
    numpy.ndarray of uint8, shape (N, H, W, 3)
    """
    if not 0.0 <= alpha <= 1.0:
        raise BamuInputError(f"alpha must be in [0, 1], got {alpha}")
    heat = colorize(maps).astype(np.float32)
    if heat.shape != images_rgb.shape:
        raise BamuInputError(f"maps {heat.shape[:-1]} and images {images_rgb.shape[:-1]} differ in size")
    blend = (1.0 - alpha) * images_rgb.astype(np.float32) + alpha * heat
    return np.round(blend).astype(np.uint8)


def write_png(path: str | Path, image: np.ndarray, *, scale: int = 1) -> Path:
    """Write an (H, W, 3) uint8 image as PNG, atomically, enlarged ``scale`` times (nearest)."""
    from PIL import Image

    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise BamuInputError(f"image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
    if scale < 1:
        raise BamuInputError(f"scale must be >= 1, got {scale}")
    pic = Image.fromarray(image)
    if scale > 1:
        pic = pic.resize((image.shape[1] * scale, image.shape[0] * scale), Image.NEAREST)
    return atomic_write(path, lambda tmp: pic.save(tmp, format="PNG"))
