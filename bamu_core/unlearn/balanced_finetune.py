"""``balanced_finetune``: fine-tune on the retain set with every group x class cell weighted equally.

Retain batches are drawn with every group x class cell equally likely (each image with
probability ``1 / (n_cells * n_cell)``, with replacement), so minority cells such as
bias-conflicting images count as much as the majority, as in group-balanced empirical risk
minimisation (Sagawa et al. 2020; Idrissi et al. 2022). All weights train, on the shared loop with
checkpoint selection on the validation split; the forget set is not seen.

``extras["balanced"]``: the retain cells' sizes and weights, and the validation images per group
that chose the checkpoint.
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from ._api import RunContext, UnlearningMethod, register_method
from ._loop import run_loop
from ._objectives import make_streams

__all__ = ["BalancedFineTune", "cell_weights"]


def cell_weights(labels: np.ndarray, groups: np.ndarray, k: int) -> tuple[np.ndarray, dict]:
    """Per-image weights making every non-empty group x class cell weigh the same (mean 1), and
    the cell sizes by ``"group/class"``."""
    cells = groups * k + labels
    counts = np.bincount(cells, minlength=int(cells.max()) + 1)
    present = np.count_nonzero(counts)
    w = len(cells) / (present * counts[cells])
    sizes = {f"{c // k}/{c % k}": int(n) for c, n in enumerate(counts) if n}
    return w.astype(np.float32), sizes


@register_method("balanced_finetune")
class BalancedFineTune(UnlearningMethod):
    summary = "fine-tune on the retain set with every group x class cell weighted equally (strong baseline)"
    uses_forget = False

    def _unlearn(self, ctx: RunContext):
        net = ctx.model
        k = int(max(ctx.retain.labels.max(), ctx.val.labels.max() if ctx.val is not None else 0)) + 1
        weights, sizes = cell_weights(ctx.retain.labels, ctx.retain.groups, k)
        streams = make_streams(ctx, retain=True, retain_sampling=weights)

        def loss_fn(b, tally):
            x, y, *_ = b["retain"]
            out = net(x)
            tally.add("retain", out, y)
            return F.cross_entropy(out.float(), y)

        params = [p for p in net.parameters() if p.requires_grad]
        outcome = run_loop(ctx, net=net, params=params, streams=streams, loss_fn=loss_fn)
        val_groups = {}
        if ctx.val is not None:
            val_groups = ctx.val.group_sizes()
            used = ", ".join(f"{g} {n}" for g, n in val_groups.items())
            outcome.message += f"; checkpoint chosen on {len(ctx.val)} validation images ({used})"
        outcome.extras["balanced"] = {"cells": sizes, "validation_per_group": val_groups}
        return net, outcome
