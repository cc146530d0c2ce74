"""``auto``: search methods and learning rates on the validation split under a time budget.

The validation split is cut in two, stratified by group x class (``choose_fraction`` of every
cell, default half, is held out):

- the **fit half** is what every candidate sees as its validation split: it chooses the
  candidate's checkpoint (and is what ``dfr`` refits the last layer on);
- the **choose half** judges the candidates against each other, with the same rule a method
  applies to its own checkpoints (:class:`~bamu_core.unlearn._select.Judge`: the accuracy bound of
  the intensity, the per-class recall guard, the collapse guard). The admissible candidate with the
  largest fairness gain on it wins; ties go to the cheaper one (tried first).

A candidate's validation gain is therefore never the number that picks it: ``dfr`` fits on the
fit half, and a method that overfits its selection to the fit half gains nothing on the held-out
one. The test split is not seen. When the winner's gain on the choose half is not above its noise
(twice the paired-bootstrap standard error, :meth:`~bamu_core.unlearn._select.Judge.gain_noise`),
the original model is returned with status ``no_change``.

Candidates, cheapest first (``candidates``): ``dfr`` on a group x class balanced sample and on
every fit-half image; then every training method (``balanced_finetune``, ``finetune``, ``ga``,
``lora``, ``distill``; ``counterfactual`` where the data has counterfactual images) at its
intensity-table settings (``ga``, ``lora`` and ``distill`` with their retain term
group-balanced, ``balance="group"``, so that they remove the shortcut rather than the class), its
learning rate calibrated on this model by a short range test (:mod:`bamu_core.unlearn._calibrate`:
the largest of the table's rate x 3, x 1, x 1/3, ... whose few probe steps keep validation accuracy
within the bound) and multiplied by each of ``lr_scales``. Scenario tables are not used: the
search is the same on any model and data. Every candidate runs at the run's intensity and
accuracy bound.

Budget: ``budget_s`` seconds for the whole search (default 600 on a CPU, 300 on a GPU); the
candidate running when it runs out is stopped (its best checkpoint so far is judged), the ones
not started are listed as skipped. ``should_stop()`` cancels the search.

``extras["auto"]``: :class:`AutoSearch` (``to_json()``): the split sizes per group, every
candidate with its settings, status, seconds and choose-half metrics, the Pareto set (no other
candidate has both a larger gain and a higher accuracy), the winner and the noise of its gain.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch.nn as nn

from ..data import ImageData
from ..errors import BamuInputError
from ..progress import ProgressEvent
from ._api import Outcome, RunContext, UnlearningMethod, get_method, register_method
from ._calibrate import calibrate_lr
from ._intensity import resolve_hyperparameters
from ._select import Judge

__all__ = ["AutoSearch", "Candidate", "split_validation", "AutoMethod"]

#: Selection settings of the auto run passed on to every candidate.
_RULE_KEYS = (
    "selection_metric",
    "max_accuracy_drop",
    "max_recall_drop",
    "collapse_drop",
    "patience",
    "min_evaluations",
    "noise_factor",
    "eval_every",
)
#: Methods whose retain term auto group-balances (``balance="group"``).
_BALANCED = ("ga", "lora", "distill")
_TRAINING = ("balanced_finetune", "finetune", "ga", "lora", "distill", "counterfactual", "random_label")


@dataclass
class Candidate:
    """One configuration the search tried (or skipped)."""

    label: str
    method: str
    overrides: dict
    lr_scale: float | None = None  # a training method: its rate is this times the calibrated one
    status: str = "skipped"  # the candidate's own status, or "skipped" / "failed"
    message: str = ""
    seconds: float = 0.0
    steps: int = 0
    chosen_step: int = 0
    val_accuracy: float | None = None  # on the choose half
    val_fairness: float | None = None
    gain: float | None = None
    admissible: bool = False
    pareto: bool = False

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class AutoSearch:
    """What the search did: the split, the candidates, the winner."""

    metric: str = ""
    fit_per_group: dict = field(default_factory=dict)
    choose_per_group: dict = field(default_factory=dict)
    budget_s: float = 0.0
    seconds: float = 0.0
    original_accuracy: float | None = None
    original_fairness: float | None = None
    candidates: list[Candidate] = field(default_factory=list)
    chosen: str | None = None
    chosen_method: str | None = None
    chosen_hyperparameters: dict = field(default_factory=dict)
    gain_noise: float | None = None
    calibration: dict = field(default_factory=dict)  # method -> LRCalibration

    def to_json(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("candidates", "calibration")}
        out["candidates"] = [c.to_json() for c in self.candidates]
        out["calibration"] = {m: c.to_json() for m, c in self.calibration.items()}
        return out


def split_validation(val: ImageData, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the fit and the choose part of ``val``: ``fraction`` of every group x class cell
    (rounded, at least one image of a cell with two or more) goes to the choose part."""
    if not 0.0 < fraction < 1.0:
        raise BamuInputError(f"choose_fraction must be in (0, 1), got {fraction}")
    k = int(val.labels.max()) + 1
    cells = val.groups * k + val.labels
    rng = np.random.default_rng(seed + 13)
    choose = np.zeros(len(val), dtype=bool)
    for c in np.unique(cells):
        members = rng.permutation(np.flatnonzero(cells == c))
        n = int(round(fraction * len(members)))
        if len(members) >= 2:
            n = min(max(n, 1), len(members) - 1)
        choose[members[:n]] = True
    return np.flatnonzero(~choose), np.flatnonzero(choose)


def _per_group(data: ImageData) -> dict:
    names = data.group_names[data.group_attr]
    return {names[v]: int(n) for v, n in enumerate(np.bincount(data.groups, minlength=len(names))) if n}


def _plan(ctx: RunContext, names: list[str], scales: list[float]) -> list[Candidate]:
    plan = []
    for name in names:
        if name == "dfr":
            plan.append(Candidate("dfr balanced", "dfr", {"sample": "balanced"}))
            plan.append(Candidate("dfr all", "dfr", {"sample": "all"}))
            continue
        get_method(name)  # an unknown name fails here
        lr = resolve_hyperparameters(name, ctx.intensity).get("lr")
        if lr is None or name not in _TRAINING:
            plan.append(Candidate(name, name, {}))
            continue
        fixed = {"balance": "group"} if name in _BALANCED else {}
        for s in scales:
            plan.append(Candidate(f"{name} lr x{s:.2g}", name, dict(fixed), lr_scale=float(s)))
    return plan


def _skip_reason(method: str, ctx: RunContext) -> str:
    runner = get_method(method)
    if runner.needs_counterfactual and not ctx.forget.has_counterfactual:
        return "needs counterfactual images (a bias generator), which this data lacks"
    if runner.uses_forget and len(ctx.forget) == 0:
        return "needs a forget set"
    if runner.uses_retain and len(ctx.retain) == 0:
        return "needs a retain set"
    return ""


def _mark_pareto(cands: list[Candidate]) -> None:
    judged = [c for c in cands if c.admissible and c.gain is not None]
    for c in judged:
        c.pareto = not any(
            o is not c
            and o.gain >= c.gain
            and o.val_accuracy >= c.val_accuracy
            and (o.gain > c.gain or o.val_accuracy > c.val_accuracy)
            for o in judged
        )


@register_method("auto")
class AutoMethod(UnlearningMethod):
    summary = "searches methods and learning rates on a held-out half of validation under a time budget (default)"
    uses_forget = False  # candidates that need a forget set are skipped without one

    def _unlearn(self, ctx: RunContext) -> tuple[nn.Module, Outcome]:
        hp = ctx.hp
        if ctx.val is None or len(ctx.val) == 0:
            raise BamuInputError("auto chooses on the validation split, and this data has none")
        fit_idx, choose_idx = split_validation(ctx.val, float(hp["choose_fraction"]), ctx.seed)
        fit, choose = ctx.val.subset(fit_idx), ctx.val.subset(choose_idx)
        for part, what in ((fit, "fit"), (choose, "choose")):
            if len(np.unique(part.groups)) < 2:
                raise BamuInputError(
                    f"the validation split ({len(ctx.val)} images) is too small for auto: its {what} half "
                    "holds fewer than two groups; add labelled validation images or pick a method"
                )
        budget = hp["budget_s"]
        budget = float(budget if budget is not None else (300.0 if ctx.device.type == "cuda" else 600.0))
        if budget <= 0:
            raise BamuInputError(f"budget_s must be positive, got {budget}")
        start = time.perf_counter()
        deadline = start + budget
        user_stop = ctx.should_stop or (lambda: False)

        judge = Judge(
            rule=ctx.rule,
            val=choose,
            forget=ctx.forget,
            retain=ctx.retain,
            device=ctx.device,
            seed=ctx.seed,
            eval_size=int(hp.get("eval_size", 128)),
            batch_size=64 if ctx.device.type == "cpu" else 512,
        )
        base = judge.evaluate(ctx.model)
        judge.start(base)
        search = AutoSearch(
            metric=judge.metric,
            fit_per_group=_per_group(fit),
            choose_per_group=_per_group(choose),
            budget_s=budget,
            original_accuracy=base.val_acc,
            original_fairness=base.val_fairness,
            candidates=_plan(ctx, list(hp["candidates"]), list(hp["lr_scales"])),
        )
        rule = {k: hp[k] for k in _RULE_KEYS if k in hp}
        if rule.get("max_accuracy_drop") is None:
            rule["max_accuracy_drop"] = ctx.rule.max_accuracy_drop
        history = [
            ProgressEvent(
                step=0,
                total=len(search.candidates),
                val_acc=base.val_acc,
                val_fairness=base.val_fairness,
                val_dp=base.val_dp,
                phase="auto",
            )
        ]
        models: dict[int, nn.Module] = {}
        n = len(search.candidates)
        cancelled = False
        for i, cand in enumerate(search.candidates, start=1):
            if user_stop():
                cancelled = True
                break
            why = _skip_reason(cand.method, ctx)
            if why:
                cand.message = why
                continue
            if time.perf_counter() >= deadline:
                cand.message = f"not started: the {budget:.0f} s budget was spent"
                continue

            def relay(ev: ProgressEvent, _i=i, _label=cand.label) -> None:
                if ctx.progress is not None:
                    ev.phase = f"auto: candidate {_i} of {n} ({_label})"
                    ev.overall = (_i - 1 + (ev.step / ev.total if ev.total else 0.0)) / n
                    ctx.progress(ev)

            t0 = time.perf_counter()
            try:
                if cand.lr_scale is not None:
                    cal = search.calibration.get(cand.method)
                    if cal is None:
                        cal = search.calibration[cand.method] = calibrate_lr(
                            cand.method,
                            ctx.model,
                            ctx.forget,
                            ctx.retain,
                            fit,
                            intensity=ctx.intensity,
                            table_lr=float(resolve_hyperparameters(cand.method, ctx.intensity)["lr"]),
                            bound=float(rule["max_accuracy_drop"]),
                            device=ctx.device,
                            seed=ctx.seed,
                            rule={**rule, **cand.overrides},
                            should_stop=lambda: user_stop() or time.perf_counter() >= deadline,
                        )
                    cand.overrides = {**cand.overrides, "lr": cal.lr * cand.lr_scale}
                    cand.label = f"{cand.method} lr {cal.lr * cand.lr_scale:.2g}"
                res = get_method(cand.method).run(
                    ctx.model,
                    ctx.forget,
                    ctx.retain,
                    intensity=ctx.intensity,
                    device=ctx.device,
                    progress=relay,
                    should_stop=lambda: user_stop() or time.perf_counter() >= deadline,
                    val=fit,
                    hyperparameters={**rule, **cand.overrides},
                    seed=ctx.seed,
                )
            except (BamuInputError, RuntimeError) as exc:  # one candidate failing does not end the search
                cand.status, cand.message, cand.seconds = "failed", str(exc).splitlines()[0], time.perf_counter() - t0
                continue
            cand.seconds = time.perf_counter() - t0
            cand.status, cand.message = res.status, res.message
            cand.steps, cand.chosen_step = res.steps, res.chosen_step
            if res.status == "cancelled" and user_stop():
                cancelled = True
                break
            ev = judge.evaluate(res.model.to(ctx.device))
            res.model.to("cpu")
            cand.val_accuracy, cand.val_fairness = ev.val_acc, ev.val_fairness
            cand.gain = float(base.val_fairness - ev.val_fairness)
            cand.admissible = judge.admissible(ev) and not judge.collapsed(ev)
            if cand.admissible and cand.gain > judge.best_gain + 1e-12:
                judge.best_step, judge.best_gain, judge.best_eval = i, cand.gain, ev
                models = {i: res.model}  # only the best is kept
            history.append(
                ProgressEvent(
                    step=i,
                    total=n,
                    val_acc=ev.val_acc,
                    val_fairness=ev.val_fairness,
                    val_dp=ev.val_dp,
                    phase=f"auto: {cand.label}",
                )
            )
            if ctx.progress is not None:
                ctx.progress(history[-1])

        _mark_pareto(search.candidates)
        search.seconds = time.perf_counter() - start
        tried = sum(c.status not in ("skipped",) for c in search.candidates)
        sizes = f"{len(fit)} validation images to fit / select, {len(choose)} held out to choose"
        if cancelled:
            model, status = models.get(judge.best_step, ctx.model), "cancelled"
            message = f"auto was cancelled after {tried} of {n} candidates"
        else:
            noise = judge.gain_noise()
            search.gain_noise = noise
            metric = judge.metric.replace("_", " ")
            if judge.best_step == 0 or judge.best_gain <= noise:
                model, status = ctx.model, "no_change"
                best = max((c for c in search.candidates if c.admissible), key=lambda c: c.gain or 0, default=None)
                seen = f"best {best.label}: gain {best.gain:+.3f}" if best is not None else "no admissible candidate"
                message = (
                    f"no setting improved fairness beyond noise within the accuracy bound ({tried} candidates, "
                    f"{seen}, noise ±{noise:.3f} on the held-out validation half); returned the original model; "
                    "try a higher intensity, another forget set or more labelled validation images"
                )
                judge.best_step = 0
            else:
                win = search.candidates[judge.best_step - 1]
                model, status = models[judge.best_step], "ok"
                search.chosen, search.chosen_method = win.label, win.method
                search.chosen_hyperparameters = dict(win.overrides)
                c = judge.best_eval
                message = (
                    f"auto chose {win.label} of {tried} candidates in {search.seconds:.0f} s: held-out validation "
                    f"{metric} {base.val_fairness:.3f} -> {c.val_fairness:.3f} (noise ±{noise:.3f}), accuracy "
                    f"{base.val_acc:.3f} -> {c.val_acc:.3f}"
                )
        message += f"; {sizes}"
        fewest = min(search.choose_per_group.values())
        if fewest < 20:
            message += (
                f"; the held-out half has only {fewest} images in its smallest group: the choice is uncertain "
                "(label more validation images)"
            )
        return model, Outcome(
            status=status,
            message=message,
            steps=tried,
            chosen_step=judge.best_step,
            history=history,
            extras={"selection": judge.summary(), "auto": search},
        )
