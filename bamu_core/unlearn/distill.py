"""``distill``: SCRUB-style teacher-student unlearning (Kurmanji et al. 2023).

The student starts as a copy of the teacher (the original model). It is trained to stay close
to the teacher on the retain set (KL plus cross-entropy on the true labels) and to move away
from it on the forget set (KL maximised); SCRUB's alternating max / min steps are folded into
one weighted loss per step.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from ._api import RunContext, UnlearningMethod, register_method
from ._loop import run_loop
from ._objectives import kl_to_teacher, make_streams, retain_weights


@register_method("distill")
class Distillation(UnlearningMethod):
    summary = "teacher-student (SCRUB): stay close to the original on retain, move away on forget"

    def _unlearn(self, ctx: RunContext):
        hp, student = ctx.hp, ctx.model
        teacher = copy.deepcopy(student).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        streams = make_streams(ctx, forget=True, retain=True, retain_sampling=retain_weights(ctx))
        t = float(hp["temperature"])

        def loss_fn(b, tally):
            xf, yf, *_ = b["forget"]
            xr, yr, *_ = b["retain"]
            with torch.no_grad():
                tf, tr = teacher(xf), teacher(xr)
            sf, sr = student(xf), student(xr)
            tally.add("forget", sf, yf)
            tally.add("retain", sr, yr)
            return (
                hp["retain_weight"] * kl_to_teacher(sr, tr, t)
                + hp["ce_weight"] * F.cross_entropy(sr.float(), yr)
                - hp["forget_weight"] * kl_to_teacher(sf, tf, t)
            )

        params = [p for p in student.parameters() if p.requires_grad]
        return student, run_loop(ctx, net=student, params=params, streams=streams, loss_fn=loss_fn)
