"""``random_label``: train the forget set towards random wrong labels, with retain-set descent."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._api import RunContext, UnlearningMethod, register_method
from ._loop import run_loop
from ._objectives import make_streams


@register_method("random_label")
class RandomLabel(UnlearningMethod):
    summary = "relabel the forget set with random wrong classes and fine-tune (with retain descent)"

    def _unlearn(self, ctx: RunContext):
        hp, net = ctx.hp, ctx.model
        streams = make_streams(ctx, forget=True, retain=hp["retain_weight"] > 0)
        gen = torch.Generator().manual_seed(ctx.seed)

        def loss_fn(b, tally):
            x, y, *_ = b["forget"]
            out = net(x)
            tally.add("forget", out, y)
            k = out.shape[1]
            wrong = (y.cpu() + torch.randint(1, k, (len(y),), generator=gen)) % k
            loss = hp["forget_weight"] * F.cross_entropy(out.float(), wrong.to(y.device))
            if "retain" in b:
                xr, yr, *_ = b["retain"]
                out_r = net(xr)
                tally.add("retain", out_r, yr)
                loss = loss + hp["retain_weight"] * F.cross_entropy(out_r.float(), yr)
            return loss

        params = [p for p in net.parameters() if p.requires_grad]
        return net, run_loop(ctx, net=net, params=params, streams=streams, loss_fn=loss_fn)
