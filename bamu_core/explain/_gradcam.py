"""Grad-CAM heat maps (Captum ``LayerGradCam``, or HiResCAM for spatial heads), batched, leaving the model as it was."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import BamuInputError

__all__ = ["SaliencyMaps", "grad_cam", "resolve_layer", "choose_method", "UPSAMPLE_MODES", "METHODS"]

UPSAMPLE_MODES = ("bilinear", "nearest")
METHODS = ("auto", "gradcam", "hirescam")


@dataclass
class SaliencyMaps:
    """Grad-CAM maps of a batch of images.

    Attributes
    ----------
    maps : torch.Tensor, shape (N, H, W)
        Heat maps upsampled to the image size, each scaled to [0, 1] by its maximum
        (all zeros where Grad-CAM found no positive evidence), float32 on the CPU.
    layer_maps : torch.Tensor, shape (N, h, w)
        The raw maps at the layer's resolution: ReLU of the channel sum of the activations
        weighted by their mean gradient (Grad-CAM) or by their gradient at each position (HiResCAM).
    targets : torch.Tensor, shape (N,)
        The class each map explains.
    layer : str
        Name of the module whose activations were used.
    method : str
        ``"gradcam"`` (Captum ``LayerGradCam``) or ``"hirescam"`` (Captum
        ``LayerGradientXActivation`` summed over channels).
    """

    maps: torch.Tensor
    layer_maps: torch.Tensor
    targets: torch.Tensor
    layer: str
    method: str = "gradcam"

    @property
    def layer_shape(self) -> tuple[int, int]:
        return tuple(self.layer_maps.shape[-2:])  # type: ignore[return-value]


def resolve_layer(model: nn.Module, layer: str | nn.Module | None = None, *, arch=None) -> tuple[str, nn.Module]:
    """The module Grad-CAM reads: ``layer`` if given, else the architecture's, else the last Conv2d.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier.
    layer : str or torch.nn.Module, optional
        A submodule name (``"layer3"``, ``"features.12"``) or a submodule. Default:
        :func:`bamu_core.models.gradcam_layer`, i.e. the ``gradcam_layer`` of the architecture
        (``arch``, else the registered architecture recognised from ``model``'s structure), else
        the last ``nn.Conv2d`` in ``model.modules()`` order.
    arch : str or ArchSpec, optional
        The model's registered architecture, used when ``layer`` is None.

    Returns
    -------
    (str, torch.nn.Module)
        The name and the module.

    Raises
    ------
    ValueError
        The name is not a submodule, the module is not part of ``model``, or ``model`` has no
        Conv2d to fall back on.
    """
    if isinstance(layer, nn.Module):
        for name, module in model.named_modules():
            if module is layer:
                return name, module
        raise BamuInputError("layer is a module that is not part of model; pass one of model's submodules or its name")
    if isinstance(layer, str):
        try:
            return layer, model.get_submodule(layer)
        except AttributeError:
            raise BamuInputError(f"layer {layer!r} is not a submodule of {type(model).__name__}") from None
    if layer is not None:
        raise BamuInputError(f"layer must be a submodule name or a module, got {type(layer).__name__}")
    from ..models.introspect import gradcam_layer

    return gradcam_layer(model, arch)


def _head_linear(model: nn.Module, module: nn.Module) -> nn.Linear | None:
    """The first ``nn.Linear`` registered after ``module`` and outside it (else the first outside it)."""
    layer_name = next((name for name, m in model.named_modules() if m is module), "")
    after, outside, seen_layer = None, None, False
    for name, m in model.named_modules():
        if m is module:
            seen_layer = True
            continue
        inside = bool(layer_name) and name.startswith(layer_name + ".")
        if isinstance(m, nn.Linear) and not inside:
            outside = outside or m
            if seen_layer and after is None:
                after = m
    return after or outside


def _probe(model: nn.Module, module: nn.Module, sample: torch.Tensor) -> tuple[int, int]:
    """(channels of ``module``'s output, number of model outputs) from one no-grad forward pass."""
    channels: list[int] = []
    handle = module.register_forward_hook(lambda _m, _i, out: channels.append(out.shape[1] if out.ndim == 4 else -1))
    try:
        with torch.no_grad():
            out = model(sample)
    finally:
        handle.remove()
    if not channels or channels[0] < 0:
        raise BamuInputError("the Grad-CAM layer must output a spatial map (N, C, H, W); pick a conv layer")
    return channels[0], int(out.shape[-1])


def choose_method(model: nn.Module, module: nn.Module, sample: torch.Tensor) -> str:
    """``"gradcam"`` when the head's first Linear reads one value per channel of ``module``, else ``"hirescam"``.

    Grad-CAM weights each channel by its spatially averaged gradient. That is exact when the head
    global-average-pools the layer (Grad-CAM then equals HiResCAM) but averages location away
    when the head reads every position with its own weights (e.g. ``small_cnn``'s spatial linear
    head): there Grad-CAM maps are often empty or misplaced, while HiResCAM (the channel sum of
    gradient x activation, Draelos & Carin 2020) stays faithful. The head's first Linear is the
    first ``nn.Linear`` registered after ``module`` and outside it (else the first outside it).
    """
    return _auto_method(model, module, _probe(model, module, sample)[0])


def _auto_method(model: nn.Module, module: nn.Module, channels: int) -> str:
    linear = _head_linear(model, module)
    return "gradcam" if linear is None or linear.in_features == channels else "hirescam"


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


@contextmanager
def _evaluation(model: nn.Module) -> Iterator[None]:
    """Eval mode for the duration; afterwards every module's mode, flag and ``.grad`` as before."""
    modes = [(m, m.training) for m in model.modules()]
    params = [(p, p.requires_grad, p.grad) for p in model.parameters()]
    model.eval()
    try:
        with torch.inference_mode(False), torch.enable_grad():
            yield
    finally:
        for m, training in modes:
            m.training = training
        for p, flag, grad in params:
            if p.requires_grad != flag:
                p.requires_grad_(flag)
            p.grad = grad


def _targets(targets, n: int) -> torch.Tensor | None:
    if targets is None:
        return None
    if isinstance(targets, (int, np.integer)):
        return torch.full((n,), int(targets), dtype=torch.long)
    t = torch.as_tensor(np.asarray(targets), dtype=torch.long).reshape(-1)
    if len(t) != n:
        raise BamuInputError(f"targets must have one class per image: {len(t)} targets for {n} images")
    return t


def grad_cam(
    model: nn.Module,
    images: torch.Tensor,
    *,
    targets: int | Sequence[int] | torch.Tensor | None = None,
    layer: str | nn.Module | None = None,
    batch_size: int = 64,
    upsample: str = "bilinear",
    method: str = "auto",
    arch=None,
) -> SaliencyMaps:
    """Grad-CAM (Captum ``LayerGradCam``) heat maps of ``images``.

    The model runs in eval mode on its own device (CPU or CUDA); afterwards its train/eval
    modes, ``requires_grad`` flags and ``.grad`` are as before and no hook stays registered.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits (N, K).
    images : torch.Tensor, shape (N, C, H, W)
        Normalised input images (as the model sees them).
    targets : int or sequence of int, optional
        Class to explain, one for all or one per image. Default: the predicted class.
    layer : str or torch.nn.Module, optional
        The convolutional layer to read (see :func:`resolve_layer`).
    batch_size : int, default 64
        Images per forward/backward pass.
    upsample : {"bilinear", "nearest"}, default "bilinear"
        How the layer-resolution map is resized to the image size.
    method : {"auto", "gradcam", "hirescam"}, default "auto"
        ``gradcam``: Captum ``LayerGradCam`` (channel weights = mean gradient). ``hirescam``:
        ReLU of the channel sum of gradient x activation (Captum ``LayerGradientXActivation``).
        ``auto``: Grad-CAM for heads that global-average-pool the layer (where both agree), else
        HiResCAM (see :func:`choose_method`).
    arch : str or ArchSpec, optional
        The model's registered architecture, which names the default layer (see
        :func:`resolve_layer`). Default: recognised from the model's structure.

    Returns
    -------
    SaliencyMaps

    Raises
    ------
    ValueError
        Bad ``images`` shape, ``targets`` length or class ids, ``batch_size`` or ``upsample``.
    ImportError
        Captum is not installed.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise BamuInputError(
            f"images must be a tensor of shape (N, C, H, W), got {getattr(images, 'shape', type(images))}"
        )
    if batch_size < 1:
        raise BamuInputError(f"batch_size must be >= 1, got {batch_size}")
    if upsample not in UPSAMPLE_MODES:
        raise BamuInputError(f"upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
    if method not in METHODS:
        raise BamuInputError(f"method must be one of {METHODS}, got {method!r}")
    try:
        from captum.attr import LayerGradCam, LayerGradientXActivation
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("Grad-CAM needs captum: pip install captum") from exc

    name, module = resolve_layer(model, layer, arch=arch)
    n, _, height, width = images.shape
    wanted = _targets(targets, n)
    if wanted is not None and len(wanted) and int(wanted.min()) < 0:
        raise BamuInputError("targets must be class ids >= 0")
    device = _model_device(model)
    maps, layer_maps, used = [], [], []
    with _evaluation(model):
        if n:
            channels, num_outputs = _probe(model, module, images[:1].detach().to(device).float())
            if wanted is not None and int(wanted.max()) >= num_outputs:
                raise BamuInputError(f"targets has class ids outside the model's {num_outputs} outputs")
            if method == "auto":
                method = _auto_method(model, module, channels)
        elif method == "auto":
            method = "gradcam"
        if method == "gradcam":
            cam = LayerGradCam(model, module)

            def explain(x, t):
                return cam.attribute(x, target=t, relu_attributions=True)

        else:
            gxa = LayerGradientXActivation(model, module)

            def explain(x, t):
                return F.relu(gxa.attribute(x, target=t).sum(dim=1, keepdim=True))

        for start in range(0, n, batch_size):
            x = images[start : start + batch_size].detach().to(device).float().clone().requires_grad_(True)
            if wanted is None:
                with torch.no_grad():
                    t = model(x).argmax(dim=1)
            else:
                t = wanted[start : start + batch_size].to(device)
            attr = explain(x, t).detach()
            up = F.interpolate(
                attr,
                size=(height, width),
                mode=upsample,
                **({"align_corners": False} if upsample == "bilinear" else {}),
            )
            peak = up.flatten(1).amax(dim=1).clamp_min(torch.finfo(up.dtype).tiny).view(-1, 1, 1, 1)
            maps.append((up / peak).squeeze(1).float().cpu())
            layer_maps.append(attr.squeeze(1).float().cpu())
            used.append(t.detach().cpu())
    if not maps:
        return SaliencyMaps(
            torch.empty(0, height, width), torch.empty(0, 0, 0), torch.empty(0, dtype=torch.long), name, method
        )
    return SaliencyMaps(
        maps=torch.cat(maps), layer_maps=torch.cat(layer_maps), targets=torch.cat(used), layer=name, method=method
    )
