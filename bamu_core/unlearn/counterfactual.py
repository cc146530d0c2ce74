"""``counterfactual``: fine-tune on the retain set plus counterfactual versions of the forget set.

The forget images are replaced by their counterfactuals (the bias attribute flipped: colour
swapped, patch added or removed) with their true labels, so the model sees the same content with
and without the shortcut and learns not to use it (FMD's counterfactual set; measured as the
most stable method in the CIFAR-10 patch benchmark, ``benchmarks/results/cifar_patch.md``). ``cf_fraction`` of each
retain batch is also swapped for its
counterfactual when the retain images have one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import BamuInputError
from ._api import RunContext, UnlearningMethod, register_method
from ._loop import run_loop
from ._objectives import make_streams


@register_method("counterfactual")
class CounterfactualFineTune(UnlearningMethod):
    summary = (
        "needs a bias generator: fine-tune on retain plus counterfactual (bias-flipped) forget images with true "
        "labels (most stable)"
    )
    needs_counterfactual = True

    def _unlearn(self, ctx: RunContext):
        hp, net = ctx.hp, ctx.model
        streams = make_streams(ctx, retain=True, forget_cf=True)
        frac = float(hp["cf_fraction"])
        if not 0.0 <= frac <= 1.0:
            raise BamuInputError(f"cf_fraction must be in [0, 1], got {frac}")
        swap_retain = frac > 0 and ctx.retain.has_counterfactual
        gen = torch.Generator().manual_seed(ctx.seed)

        def loss_fn(b, tally):
            xr, yr, _, ir = b["retain"]
            if swap_retain:
                pick = torch.rand(len(yr), generator=gen) < frac
                if pick.any():
                    sel = ir.cpu()[pick].numpy()
                    xr = xr.clone()
                    xr[pick.to(xr.device)] = ctx.retain.images(sel, counterfactual=True).to(xr.device)
            xc, yc, *_ = b["forget_cf"]
            out_r, out_c = net(xr), net(xc)
            tally.add("retain", out_r, yr)
            return F.cross_entropy(out_r.float(), yr) + hp["forget_weight"] * F.cross_entropy(out_c.float(), yc)

        params = [p for p in net.parameters() if p.requires_grad]
        return net, run_loop(ctx, net=net, params=params, streams=streams, loss_fn=loss_fn)
