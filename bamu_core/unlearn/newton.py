"""``newton``: an FMD-style closed-form update of the last layer (Chen et al., NeurIPS 2023).

With the feature extractor frozen, the effect of replacing each forget image ``z_i`` by its
counterfactual ``z_i'`` (bias attribute flipped, same label) on the classifier ``theta = [W | b]``
is, to first order (an influence-function / Newton step),

    delta = (1 / n) H^{-1} sum_i [grad loss(z_i) - grad loss(z_i')],

with ``H`` the damped Hessian of the mean training loss over retain + forget. Without
counterfactual images the forget images are removed instead (``grad loss(z_i')`` is dropped).
``H^{-1}`` is applied by conjugate gradients. The step is scaled, ``theta + eta * delta``, over a
grid of ``steps`` values of ``eta`` up to ``max_scale``; each is judged on the validation split
(from cached features: no backpropagation at all) and the selection rule picks one. A scale
whose model collapses (the selection rule's collapse guard) ends the grid: the larger ones would
move further the same way, so the run is ``stopped_early`` with the best smaller scale, or
``no_change`` when none improved beyond noise (it never ``diverged``: the model is not trained,
each scale is a candidate). The
``loss`` of each progress event is the last layer's mean cross-entropy on the retain set at that
scale (step 0: none, as for every method).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import BamuInputError
from ..forget._influence import LastLayer, features
from ..models.introspect import classifier_layer as classifier_of
from ._api import Outcome, RunContext, UnlearningMethod, register_method
from ._driver import SelectionDriver


@register_method("newton")
class NewtonLastLayer(UnlearningMethod):
    summary = "FMD-style Newton step on the last layer from the forget/counterfactual set (seconds, no backprop)"

    def _unlearn(self, ctx: RunContext) -> tuple[torch.nn.Module, Outcome]:
        hp, net, dev = ctx.hp, ctx.model, ctx.device
        total = int(hp["steps"])
        if total < 1:
            raise BamuInputError(f"steps must be >= 1, got {total}")
        name, head = classifier_of(net)
        driver = SelectionDriver(ctx, total)
        use_cf = ctx.forget.has_counterfactual and hp["use_counterfactual"]

        phi_f = features(net, ctx.forget, device=dev)
        phi_r = features(net, ctx.retain, device=dev)
        phi_cf = features(net, ctx.forget, device=dev, counterfactual=True) if use_cf else None
        phi_v = features(net, ctx.val, device=dev) if ctx.val is not None else None
        phi_vcf = features(net, ctx.val, device=dev, counterfactual=True) if driver.paired else None
        layer = LastLayer.from_linear(head, torch.cat([phi_r, phi_f]), damping=float(hp["damping"]))
        grad = layer.grad_sum(phi_f, ctx.forget.labels)
        if use_cf:
            grad = grad - layer.grad_sum(phi_cf, ctx.forget.labels)
        delta = layer.solve(grad / len(layer.phi))
        # the grid is in units of the classifier's norm: scale s changes theta by s * |theta|
        delta = delta * (layer.theta.norm() / delta.norm().clamp_min(1e-30))
        sub_f, sub_r = driver.subset("forget"), driver.subset("retain")
        y_r = torch.as_tensor(ctx.retain.labels)

        def evaluate(theta):
            def acc(phi, data, idx):
                if len(idx) == 0:
                    return None
                pred = layer.logits(phi[idx], theta).argmax(1).numpy()
                return float((pred == data.labels[idx]).mean())

            val_logits = None if phi_v is None else layer.logits(phi_v, theta).float()
            cf_logits = None if phi_vcf is None else layer.logits(phi_vcf, theta).float()
            return driver.evaluate_logits(
                val_logits,
                cf_logits=cf_logits,
                forget_acc=acc(phi_f, ctx.forget, sub_f),
                retain_acc=acc(phi_r, ctx.retain, sub_r),
            )

        driver.start(evaluate(layer.theta), layer.theta)
        scales = np.linspace(0.0, float(hp["max_scale"]), total + 1)[1:]
        if not torch.isfinite(delta).all():
            driver.end("diverged", "the Newton step is not finite (check the features and the damping)")
            scales = scales[:0]
        for step, eta in enumerate(scales, start=1):
            if driver.cancelled(step):
                break
            theta = layer.theta + float(eta) * delta
            ev = evaluate(theta)
            retain_loss = torch.nn.functional.cross_entropy(layer.logits(phi_r, theta).float(), y_r)
            if driver.consider(step, float(retain_loss), ev, lambda: theta):  # noqa: B023 (called at once)
                if driver.status == "diverged":  # a scale that collapses the model ends the grid
                    driver.end(
                        "stopped_early",
                        f"the step-scale grid ended at step {step} of {total} (scale {eta:.3g} of |theta|): "
                        f"{driver.message.split(': ', 1)[-1]}, so larger steps are not tried",
                    )
                break
        best_theta = driver.best
        with torch.no_grad():
            w = best_theta[:, :-1].to(head.weight.dtype)
            head.weight.copy_(w)
            if head.bias is not None:
                head.bias.copy_(best_theta[:, -1].to(head.bias.dtype))
        chosen = driver.chosen_step
        return net, driver.outcome(
            layer=name, scale=float(scales[chosen - 1]) if chosen else 0.0, counterfactual=bool(use_cf)
        )
