"""Loss pieces shared by the gradient-based methods (each method module combines them)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._api import RunContext
from ._loop import Stream, Tally

__all__ = ["make_streams", "ascent_loss", "kl_to_teacher"]


def make_streams(
    ctx: RunContext, *, forget: bool = False, retain: bool = False, forget_cf: bool = False
) -> dict[str, Stream]:
    """Seeded batch streams: ``forget``, ``retain`` and ``forget_cf`` (counterfactual forget images)."""
    bs, dev = int(ctx.hp["batch_size"]), ctx.device
    out = {}
    if forget:
        out["forget"] = Stream(ctx.forget, batch_size=bs, seed=ctx.seed, device=dev)
    if retain:
        out["retain"] = Stream(ctx.retain, batch_size=bs, seed=ctx.seed + 1, device=dev)
    if forget_cf:
        out["forget_cf"] = Stream(ctx.forget, batch_size=bs, seed=ctx.seed + 2, device=dev, counterfactual=True)
    return out


def ascent_loss(net: nn.Module, b: dict, tally: Tally, *, forget_weight: float, retain_weight: float) -> torch.Tensor:
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
