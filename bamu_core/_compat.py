"""Torch / torchvision quirks and device choice, kept in one place."""

from __future__ import annotations

import copy
import os
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

import torch

from .errors import BamuInputError

__all__ = ["import_torchvision", "pick_device", "describe_device", "on_device"]

_VALID_DEVICES = ("cpu", "cuda", "mps")


@lru_cache(maxsize=1)
def import_torchvision():
    """Import torchvision, working around a CPU torch paired with a CUDA torchvision wheel.

    Such a pairing fails with "operator torchvision::nms does not exist" because the compiled
    extension never registers its operator schemas. Defining the two missing schemas first
    lets the pure-Python parts (models, transforms, datasets) import normally. The shim is
    only used when the plain import fails.
    """
    try:
        import torchvision  # noqa: F401
    except RuntimeError as exc:  # pragma: no cover - depends on the installed wheels
        if "torchvision::nms" not in str(exc):
            raise
        import sys

        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _KEEP_ALIVE.append(lib)
        import torchvision  # noqa: F401
    import torchvision

    return torchvision


_KEEP_ALIVE: list = []


def pick_device(requested: str | None = None) -> torch.device:
    """Choose the compute device.

    Order: the ``requested`` argument, then the ``BAMU_DEVICE`` environment variable, then
    CUDA, MPS and CPU, whichever is available first.

    Raises
    ------
    ValueError
        If the requested device is unknown or not available on this machine.
    """
    name = requested or os.environ.get("BAMU_DEVICE") or ""
    name = name.strip().lower()
    if not name:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = name.split(":")[0]
    if kind not in _VALID_DEVICES:
        raise BamuInputError(f"device {name!r} is not one of {', '.join(_VALID_DEVICES)}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise BamuInputError("device 'cuda' was requested but no CUDA GPU is available; use --device cpu")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise BamuInputError("device 'mps' was requested but MPS is not available; use --device cpu")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """A short human-readable name for a device, e.g. ``cuda (NVIDIA H100)``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


@contextmanager
def on_device(model: torch.nn.Module, device: torch.device | str) -> Iterator[torch.nn.Module]:
    """``model`` on ``device`` for the ``with`` block, never moving the caller's model.

    Models are shared: the dashboard keeps one per dataset for every browser session and runs
    jobs in threads, so moving a model in place while another thread computes with it breaks
    that thread. A model already on ``device`` is used as it is; otherwise a copy is moved there
    and dropped at the end of the block.
    """
    device = torch.device(device)
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    current = tensor.device if tensor is not None else torch.device("cpu")
    if current.type == device.type and (device.index is None or device.index == (current.index or 0)):
        yield model
        return
    clone = copy.deepcopy(model).to(device)
    try:
        yield clone
    finally:
        del clone
