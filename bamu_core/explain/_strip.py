"""Grad-CAM strips: the same few test images, one per group in turn, side by side."""

from __future__ import annotations

import io

import numpy as np
import torch.nn as nn

from .._compat import on_device

__all__ = ["gradcam_strip", "one_per_group"]


def gradcam_strip(model: nn.Module, data, indices, *, device, scale: int = 4) -> bytes:
    """Grad-CAM overlays of ``data[indices]`` side by side (white gaps) as PNG bytes."""
    from PIL import Image

    from ._gradcam import grad_cam
    from ._overlay import overlay, to_rgb_uint8

    x = data.images(indices)
    with on_device(model, device) as model:
        maps = grad_cam(model, x.to(device), method="auto").maps
    rgb = overlay(
        to_rgb_uint8(x, mean=data.mean.flatten().tolist(), std=data.std.flatten().tolist()), maps.numpy(), alpha=0.45
    )
    n, h, w, _ = rgb.shape
    gap = 2
    strip = np.full((h, n * w + (n - 1) * gap, 3), 255, dtype=np.uint8)
    for i in range(n):
        strip[:, i * (w + gap) : i * (w + gap) + w] = rgb[i]
    pic = Image.fromarray(strip).resize((strip.shape[1] * scale, h * scale), Image.NEAREST)
    buf = io.BytesIO()
    pic.save(buf, format="PNG")
    return buf.getvalue()


def one_per_group(data, k: int, seed: int) -> np.ndarray:
    """Up to ``k`` test indices, one from each group in turn (seeded), for the Grad-CAM strips."""
    rng = np.random.default_rng(seed)
    pools = [
        rng.permutation(np.flatnonzero(data.groups == g)).tolist()
        for g in range(len(data.group_names[data.group_attr]))
    ]
    out: list[int] = []
    while len(out) < k and any(pools):
        for pool in pools:
            if pool and len(out) < k:
                out.append(pool.pop())
    return np.array(sorted(out), dtype=np.int64)
