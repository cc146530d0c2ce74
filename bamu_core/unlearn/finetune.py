"""``finetune``: cross-entropy fine-tuning on the retain set only (the forget set is simply not seen)."""

from __future__ import annotations

import torch.nn.functional as F

from ._api import RunContext, UnlearningMethod, register_method
from ._loop import run_loop
from ._objectives import make_streams


@register_method("finetune")
class FineTune(UnlearningMethod):
    summary = "fine-tune on the retain set only (simple baseline)"
    uses_forget = False

    def _unlearn(self, ctx: RunContext):
        net = ctx.model
        streams = make_streams(ctx, retain=True)

        def loss_fn(b, tally):
            x, y, *_ = b["retain"]
            out = net(x)
            tally.add("retain", out, y)
            return F.cross_entropy(out.float(), y)

        params = [p for p in net.parameters() if p.requires_grad]
        return net, run_loop(ctx, net=net, params=params, streams=streams, loss_fn=loss_fn)
