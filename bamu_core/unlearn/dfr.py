"""``dfr``: Deep Feature Reweighting (Kirichenko, Izmailov & Wilson, ICLR 2023).

The feature extractor is kept; only the last linear layer is refitted, by L2-regularised logistic
regression (scikit-learn) on the penultimate features of a group x class balanced sample of the
**validation** split (every cell gets ``per_cell`` images, by default as many as the smallest
cell has), or with ``sample="all"`` on every validation image as it is (when the smallest cell
holds a handful of images, a balanced sample is too small to fit: on ``colored-digits`` one
image per cell). The inverse strength ``C`` is chosen on a held-out half of that sample (the best
worst-group accuracy), then the layer is refitted on the whole sample with it. Features are
standardised for the fit and the scaling is folded back into the weights.

The refitted layer is then blended with the original, ``(1 - a) theta_0 + a theta_dfr``, over a
grid of ``steps`` values of ``a`` up to ``max_mix``; each blend is judged on the validation split
by the shared selection rule (accuracy bound, recall guard, noise) like every other method. The
validation metrics include the images the layer was fitted on, so they are optimistic: the test
split, which DFR never sees, is the one to report. Without a validation split the balanced sample
is drawn from the retain set instead (DFR on training data) and the message says so.

``extras["dfr"]``: the sample's source, its size and its images per group, the chosen ``C`` and
its held-out worst-group accuracy.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..data import ImageData
from ..errors import BamuInputError
from ..forget._influence import features
from ..models.introspect import classifier_layer
from ._api import Outcome, RunContext, UnlearningMethod, register_method
from ._driver import SelectionDriver

__all__ = ["DeepFeatureReweighting", "balanced_sample"]


def balanced_sample(data: ImageData, per_cell: int | None, seed: int) -> np.ndarray:
    """Indices of a group x class balanced sample of ``data``: ``per_cell`` images of every
    non-empty cell (None: the smallest non-empty cell's size; a smaller cell gives all it has)."""
    cells = data.groups * (int(data.labels.max()) + 1) + data.labels
    present, counts = np.unique(cells, return_counts=True)
    n = int(counts.min()) if per_cell is None else int(per_cell)
    if n < 1:
        raise BamuInputError(f"per_cell must be >= 1, got {per_cell}")
    rng = np.random.default_rng(seed + 5)
    picked = [rng.permutation(np.flatnonzero(cells == c))[:n] for c in present]
    return np.sort(np.concatenate(picked))


def _fit(phi: np.ndarray, y: np.ndarray, c: float, k: int, seed: int, intercept: bool = True) -> np.ndarray:
    """``[W | b]`` (k x (d + 1)) of a logistic regression on standardised ``phi``, in raw feature
    units (``intercept`` false, for a layer without bias: scaled only, and ``b`` is 0)."""
    from sklearn.linear_model import LogisticRegression

    mu, sd = (phi.mean(0) if intercept else np.zeros(phi.shape[1])), phi.std(0) + 1e-6
    clf = LogisticRegression(C=float(c), max_iter=2000, random_state=seed, fit_intercept=intercept)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings on separable samples
        clf.fit((phi - mu) / sd, y)
    coef, icpt = clf.coef_, clf.intercept_
    if coef.shape[0] == 1:  # binary: one logit for class 1; split it over the two outputs
        coef, icpt = np.vstack([-coef / 2, coef / 2]), np.array([-icpt[0] / 2, icpt[0] / 2])
    w = np.zeros((k, phi.shape[1]))
    b = np.full(k, -1e4)  # a class absent from the sample is never predicted
    w[clf.classes_], b[clf.classes_] = coef / sd, icpt - (coef / sd) @ mu
    if not intercept:
        b[clf.classes_] = 0.0
    return np.hstack([w, b[:, None]])


def _worst_group_accuracy(theta: np.ndarray, phi: np.ndarray, y: np.ndarray, g: np.ndarray) -> float:
    pred = (phi @ theta[:, :-1].T + theta[:, -1]).argmax(1)
    return min(float((pred[g == v] == y[g == v]).mean()) for v in np.unique(g))


@register_method("dfr")
class DeepFeatureReweighting(UnlearningMethod):
    summary = "Deep Feature Reweighting: refit the last layer on a group x class balanced validation sample (seconds)"
    uses_forget = False
    last_layer_only = True

    def _unlearn(self, ctx: RunContext) -> tuple[torch.nn.Module, Outcome]:
        hp, net, dev = ctx.hp, ctx.model, ctx.device
        total = int(hp["steps"])
        grid = [float(c) for c in hp["c_grid"]]
        if total < 1 or not grid or min(grid) <= 0:
            raise BamuInputError(f"steps must be >= 1 and c_grid positive numbers, got {total} and {hp['c_grid']}")
        name, head = classifier_layer(net)
        driver = SelectionDriver(ctx, total)
        source, pool = ("validation", ctx.val) if ctx.val is not None else ("retain", ctx.retain)
        if hp["sample"] not in ("balanced", "all"):
            raise BamuInputError(f"sample must be 'balanced' or 'all', got {hp['sample']!r}")
        idx = balanced_sample(pool, hp["per_cell"], ctx.seed) if hp["sample"] == "balanced" else np.arange(len(pool))
        names = pool.group_names[pool.group_attr]
        per_group = {names[v]: int((pool.groups[idx] == v).sum()) for v in np.unique(pool.groups[idx])}
        info = {"source": source, "images": len(idx), "per_group": per_group, "layer": name}

        phi_v = features(net, ctx.val, device=dev).double() if ctx.val is not None else None
        phi_vcf = features(net, ctx.val, device=dev, counterfactual=True).double() if driver.paired else None
        phi = features(net, pool, indices=idx, device=dev).double()
        k = head.out_features
        theta0 = torch.cat([head.weight.detach().double().cpu(), _bias(head)[:, None]], dim=1)

        def evaluate(theta):
            def logits(p):
                return None if p is None else (p @ theta[:, :-1].T + theta[:, -1]).float()

            return driver.evaluate_logits(logits(phi_v), cf_logits=logits(phi_vcf))

        driver.start(evaluate(theta0), theta0)
        mixes = np.linspace(0.0, float(hp["max_mix"]), total + 1)[1:]
        if not torch.isfinite(phi).all() or (phi_v is not None and not torch.isfinite(phi_v).all()):
            driver.end("diverged", "the features are not finite (check the model); returned the original model")
            mixes = mixes[:0]
        else:
            y, g = pool.labels[idx], pool.groups[idx]
            theta1 = torch.as_tensor(self._refit(phi.numpy(), y, g, grid, k, ctx, info, head.bias is not None))
        for step, a in enumerate(mixes, start=1):
            if driver.cancelled(step):
                break
            theta = (1 - float(a)) * theta0 + float(a) * theta1
            if driver.consider(step, float("nan"), evaluate(theta), lambda: theta):  # noqa: B023 (called at once)
                break
        with torch.no_grad():
            head.weight.copy_(driver.best[:, :-1].to(head.weight.dtype))
            if head.bias is not None:
                head.bias.copy_(driver.best[:, -1].to(head.bias.dtype))
        chosen = driver.chosen_step
        info["mix"] = float(mixes[chosen - 1]) if chosen else 0.0
        used = ", ".join(f"{g} {n}" for g, n in per_group.items())
        outcome = driver.outcome(dfr=info)
        outcome.message += f"; last layer refitted on {len(idx)} {source} images ({used}), C={info.get('C')}"
        if source == "retain":
            outcome.message += " (no validation split: the sample came from the retain set)"
        return net, outcome

    @staticmethod
    def _refit(phi, y, g, grid, k, ctx: RunContext, info: dict, intercept: bool) -> np.ndarray:
        """Choose C on a held-out half of the sample (best worst-group accuracy), refit on all of it."""
        rng = np.random.default_rng(ctx.seed + 6)
        half = np.zeros(len(y), dtype=bool)
        for cell in np.unique(g * k + y):  # half of every cell held out
            members = rng.permutation(np.flatnonzero(g * k + y == cell))
            half[members[: len(members) // 2]] = True
        best_c, best_wga = grid[len(grid) // 2], None
        if half.any() and (~half).any() and len(np.unique(y[~half])) > 1:
            for c in grid:
                theta = _fit(phi[~half], y[~half], c, k, ctx.seed, intercept)
                wga = _worst_group_accuracy(theta, phi[half], y[half], g[half])
                if best_wga is None or wga > best_wga:
                    best_c, best_wga = c, wga
        info["C"], info["held_out_worst_group_accuracy"] = best_c, best_wga
        if len(np.unique(y)) < 2:
            raise BamuInputError("the balanced sample holds one class only; DFR needs at least two")
        return _fit(phi, y, best_c, k, ctx.seed, intercept)


def _bias(head: torch.nn.Linear) -> torch.Tensor:
    if head.bias is None:
        return torch.zeros(head.out_features, dtype=torch.float64)
    return head.bias.detach().double().cpu()
