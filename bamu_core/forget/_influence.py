"""Last-layer influence maths shared by the ``influence`` forget strategy and the ``newton`` method.

With the feature extractor frozen, the classifier ``z = W phi + b`` under cross-entropy is a
convex problem whose Hessian is known in closed form: for samples with features ``phi_i``
(augmented with a 1 for the bias) and softmax outputs ``p_i``,
``H = mean_i (diag(p_i) - p_i p_i^T) (x) phi_i phi_i^T + damping * I``. Hessian-vector products
cost two matrix products, so ``H^{-1} v`` is solved by conjugate gradients without ever forming
``H`` (FMD, Chen et al. 2023; Koh & Liang 2017).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import ImageData, batches
from ..errors import BamuInputError
from ..models.introspect import ArchLike, classifier_layer

classifier_of = classifier_layer  # the name this module used to define; kept for importers

__all__ = ["features", "LastLayer", "counterfactual_bias", "soft_parity_bias", "bias_gradient"]


@torch.inference_mode()
def features(
    model: nn.Module,
    data: ImageData,
    *,
    indices=None,
    counterfactual: bool = False,
    device: torch.device | str = "cpu",
    batch_size: int = 512,
    arch: ArchLike = None,
) -> torch.Tensor:
    """Inputs of the classifier layer (float32, CPU), one row per item; the model runs in eval mode.

    The classifier is :func:`bamu_core.models.classifier_layer` of ``model`` (and ``arch``, if given).
    """
    _, head = classifier_layer(model, arch)
    captured: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach().float().cpu()))
    was_training = model.training
    model.eval()
    try:
        for x, *_ in batches(
            data, batch_size=batch_size, indices=indices, device=device, counterfactual=counterfactual
        ):
            model(x)
    finally:
        hook.remove()
        model.train(was_training)
    if not captured:
        return torch.empty(0, head.in_features)
    return torch.cat(captured).flatten(1)


def _augment(phi: torch.Tensor) -> torch.Tensor:
    return torch.cat([phi, torch.ones(len(phi), 1, dtype=phi.dtype)], dim=1)


@dataclass
class LastLayer:
    """A linear classifier ``[W | b]`` (K x (d+1)) with the Hessian of its mean training loss.

    Parameters
    ----------
    theta : torch.Tensor
        ``[W | b]``, float64, shape (K, d + 1).
    phi : torch.Tensor
        Features of the samples that define the Hessian (n, d).
    damping : float
        Added to the Hessian's diagonal; keeps it invertible where the model is confident.
    """

    theta: torch.Tensor
    phi: torch.Tensor
    damping: float = 0.01

    @classmethod
    def from_linear(cls, head: nn.Linear, phi: torch.Tensor, *, damping: float = 0.01) -> LastLayer:
        w = head.weight.detach().double().cpu()
        b = head.bias.detach().double().cpu() if head.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
        return cls(theta=torch.cat([w, b[:, None]], dim=1), phi=phi.double(), damping=damping)

    def __post_init__(self):
        if self.damping <= 0:
            raise BamuInputError(f"damping must be positive, got {self.damping}")
        self._phi_aug = _augment(self.phi.double())
        self._p = self.probs(self.phi)

    def logits(self, phi: torch.Tensor, theta: torch.Tensor | None = None) -> torch.Tensor:
        th = self.theta if theta is None else theta
        return _augment(phi.double()) @ th.T

    def probs(self, phi: torch.Tensor, theta: torch.Tensor | None = None) -> torch.Tensor:
        return torch.softmax(self.logits(phi, theta), dim=1)

    def grad_sum(self, phi: torch.Tensor, y) -> torch.Tensor:
        """Sum over samples of the gradient of the cross-entropy w.r.t. ``[W | b]`` (K x (d+1))."""
        y = torch.as_tensor(np.asarray(y), dtype=torch.int64)
        residual = self.probs(phi) - F.one_hot(y, self.theta.shape[0]).double()
        return residual.T @ _augment(phi.double())

    def per_sample_dot(self, phi: torch.Tensor, y, direction: torch.Tensor) -> torch.Tensor:
        """``<grad loss_i, direction>`` for every sample, without forming per-sample gradients."""
        y = torch.as_tensor(np.asarray(y), dtype=torch.int64)
        residual = self.probs(phi) - F.one_hot(y, self.theta.shape[0]).double()
        return (residual * (_augment(phi.double()) @ direction.T)).sum(dim=1)

    def hvp(self, v: torch.Tensor) -> torch.Tensor:
        """Hessian-vector product ``H v`` for ``v`` of shape (K, d+1)."""
        u = self._phi_aug @ v.T  # (n, K)
        pu = self._p * u
        g = pu - self._p * pu.sum(dim=1, keepdim=True)
        return g.T @ self._phi_aug / len(self._phi_aug) + self.damping * v

    def solve(self, b: torch.Tensor, *, max_iter: int = 200, tol: float = 1e-8) -> torch.Tensor:
        """``H^{-1} b`` by conjugate gradients (H is symmetric positive definite with damping)."""
        x = torch.zeros_like(b)
        r = b.clone()
        p = r.clone()
        rs = (r * r).sum()
        b_norm = float(rs.sqrt()) or 1.0
        for _ in range(max_iter):
            hp = self.hvp(p)
            alpha = rs / (p * hp).sum()
            x += alpha * p
            r -= alpha * hp
            rs_new = (r * r).sum()
            if float(rs_new.sqrt()) <= tol * b_norm:
                break
            p = r + (rs_new / rs) * p
            rs = rs_new
        return x


def counterfactual_bias(
    layer: LastLayer, phi: torch.Tensor, phi_cf: torch.Tensor, theta: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared change of the softmax output when the bias attribute is flipped (FMD's bias)."""
    return ((layer.probs(phi, theta) - layer.probs(phi_cf, theta)) ** 2).sum(dim=1).mean()


def soft_parity_bias(layer: LastLayer, phi: torch.Tensor, groups, theta: torch.Tensor | None = None) -> torch.Tensor:
    """Sum over classes of the variance across groups of the mean predicted probability (a smooth DP)."""
    g = torch.as_tensor(np.asarray(groups), dtype=torch.int64)
    p = layer.probs(phi, theta)
    present = torch.unique(g)
    means = torch.stack([p[g == k].mean(dim=0) for k in present])
    return ((means - means.mean(dim=0, keepdim=True)) ** 2).sum(dim=1).mean()


def bias_gradient(layer: LastLayer, measure) -> torch.Tensor:
    """Gradient of ``measure(theta)`` (a scalar function of ``[W | b]``) at the layer's parameters."""
    theta = layer.theta.clone().requires_grad_(True)
    with torch.enable_grad():
        value = measure(theta)
        (grad,) = torch.autograd.grad(value, theta)
    return grad
