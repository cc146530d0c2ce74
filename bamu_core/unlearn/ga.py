"""``ga``: gradient ascent on the forget set, with cross-entropy descent on the retain set."""

from __future__ import annotations

from ._api import RunContext, UnlearningMethod, register_method
from ._loop import run_loop
from ._objectives import ascent_loss, make_streams, retain_weights


@register_method("ga")
class GradientAscent(UnlearningMethod):
    summary = "gradient ascent on the forget set with a retain-set descent term (fast; relies on selection)"

    def _unlearn(self, ctx: RunContext):
        hp, net = ctx.hp, ctx.model
        streams = make_streams(ctx, forget=True, retain=hp["retain_weight"] > 0, retain_sampling=retain_weights(ctx))

        def loss_fn(b, tally):
            return ascent_loss(net, b, tally, forget_weight=hp["forget_weight"], retain_weight=hp["retain_weight"])

        params = [p for p in net.parameters() if p.requires_grad]
        return net, run_loop(ctx, net=net, params=params, streams=streams, loss_fn=loss_fn)
