"""Loss pieces shared by the gradient-based methods (each method module combines them)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ._api import RunContext
from ._loop import Stream, Tally

__all__ = ["make_streams", "ascent_loss", "kl_to_teacher", "retain_weights"]

#: Values of the ``balance`` hyper-parameter of ``ga``, ``lora`` and ``distill``.
BALANCES = ("none", "group")


def retain_weights(ctx: RunContext) -> np.ndarray | None:
    """Per retain image sampling weights for ``balance="group"``: every group x class cell of the
    retain set is drawn equally often, so the retain term teaches that the bias attribute does not
    predict the class (the shortcut is removed rather than the class); ``None`` for ``"none"``."""
    from ..errors import BamuInputError
    from .balanced_finetune import cell_weights

    balance = ctx.hp.get("balance", "none")
    if balance not in BALANCES:
        raise BamuInputError(f"balance must be one of {', '.join(BALANCES)}, got {balance!r}")
    if balance == "none" or len(ctx.retain) == 0:
        return None
    k = int(ctx.retain.labels.max()) + 1
    w, _ = cell_weights(ctx.retain.labels, ctx.retain.groups, k)
    return w


def make_streams(
    ctx: RunContext,
    *,
    forget: bool = False,
    retain: bool = False,
    forget_cf: bool = False,
    retain_sampling: np.ndarray | None = None,
) -> dict[str, Stream]:
    """Seeded batch streams: ``forget``, ``retain`` (drawn by ``retain_sampling`` weights when
    given, see :class:`~bamu_core.unlearn._loop.Stream`) and ``forget_cf`` (counterfactual forget
    images)."""
    bs, dev = int(ctx.hp["batch_size"]), ctx.device
    out = {}
    if forget:
        out["forget"] = Stream(ctx.forget, batch_size=bs, seed=ctx.seed, device=dev)
    if retain:
        out["retain"] = Stream(ctx.retain, batch_size=bs, seed=ctx.seed + 1, device=dev, weights=retain_sampling)
    if forget_cf:
        out["forget_cf"] = Stream(ctx.forget, batch_size=bs, seed=ctx.seed + 2, device=dev, counterfactual=True)
    return out


def ascent_loss(
    net: nn.Module,
    b: dict,
    tally: Tally,
    *,
    forget_weight: float,
    retain_weight: float,
) -> torch.Tensor:
    """``-forget_weight * CE(forget) + retain_weight * CE(retain)``."""
    x, y, *_ = b["forget"]
    out = net(x)
    tally.add("forget", out, y)
    loss = -forget_weight * F.cross_entropy(out.float(), y)
    if "retain" in b and retain_weight > 0:
        xr, yr, *_ = b["retain"]
        out_r = net(xr)
        tally.add("retain", out_r, yr)
        loss = loss + retain_weight * F.cross_entropy(out_r.float(), yr)
    return loss


def kl_to_teacher(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``KL(teacher || student)`` of the temperature-softened outputs, scaled by ``T^2`` (Hinton et al.)."""
    t = temperature
    log_s = F.log_softmax(student_logits.float() / t, dim=1)
    log_t = F.log_softmax(teacher_logits.float() / t, dim=1)
    return F.kl_div(log_s, log_t, log_target=True, reduction="batchmean") * t * t
