"""``auto``: search methods and learning rates on the validation split under a time budget.

The validation split is cut in two halves A and B, stratified by group x class
(``choose_fraction`` of every cell, default half, goes to B). With ``folds=2`` (the default)
every candidate runs twice: once selecting its checkpoint on A (A is what ``dfr`` refits on) and
judged on B, once the other way round. Judging applies the rule a method applies to its own
checkpoints (:class:`~bamu_core.unlearn._select.Judge`: the accuracy bound of the intensity, the
per-class recall guard, the collapse guard) on each held-out half; a candidate is admissible when
it passes on both, and its gain is the mean of the two held-out gains. The admissible candidate
with the largest mean gain wins (ties go to the cheaper one, tried first), and it is run once more
selecting on the whole validation split: that model is returned. ``folds=1`` uses the A/B split
only and returns the model selected on A.

Among candidates of nearly equal merit the simpler change wins (the one-standard-error rule of
model selection): when a candidate that changes the last layer only (``dfr``) has a held-out gain
within one standard error of the best one's, it is chosen instead (:func:`prefer_simpler`). Its
refit on the whole validation split gains more from the doubled data than a selection does, and it
leaves the features as they were. On patch-cifar10 the best ``dfr`` was within 0.002 of the best
``balanced_finetune`` on every seed, against a standard error of about 0.01.

A candidate's validation gain is therefore never the number that picks it: ``dfr`` fits on the
selecting half, and a method that overfits its selection gains nothing on the held-out one. The
test split is not seen. When the winner's mean gain is not above its noise (twice the standard
error of the mean of the two held-out gains, each from a paired bootstrap,
:meth:`~bamu_core.unlearn._select.Judge.gain_sd`), the original model is returned with status
``no_change``.

Candidates, in order (``candidates``): ``dfr`` on a group x class balanced sample and on
every fit-half image; then every training method (``balanced_finetune``, ``ga``, ``lora``,
``distill``, ``counterfactual`` where the data has counterfactual images, ``finetune``) at its
intensity-table settings (``ga``, ``lora`` and ``distill`` with their retain term
group-balanced, ``balance="group"``, so that they remove the shortcut rather than the class), its
learning rate calibrated on this model by a short range test (:mod:`bamu_core.unlearn._calibrate`:
the largest of the table's rate x 3, x 1, x 1/3, ... whose few probe steps keep validation accuracy
within the bound) and multiplied by each of ``lr_scales``. Scenario tables are not used: the
search is the same on any model and data. Every candidate runs at the run's intensity and
accuracy bound.

Candidates run without the learning-rate back-off (``lr_backoff`` 0): the calibration and
``lr_scales`` already try lower rates, and a retry inside a candidate would multiply its time.

Each candidate evaluates every ``eval_every`` steps (0, the default: as often as keeps validation
at about a quarter of its time, :func:`~bamu_core.unlearn._loop.auto_eval_every`). When the winner
of a training method kept a checkpoint in the last quarter of its steps it was still improving: it
runs once more with ``EXTEND_STEPS`` (3) times the steps at the same rate, and that longer run
competes like any candidate (on CIFAR-10, where 65 steps of ``balanced_finetune`` were not enough).

Search depth (:data:`SEARCH_DEPTHS`, :func:`search_overrides`): ``"thorough"`` is the search above
with its defaults; ``"quick"`` sets ``folds`` 1, ``lr_scales`` [1] and ``candidates`` ``dfr``,
``balanced_finetune``, ``counterfactual`` (the cheapest strong candidates: about a third of the
thorough search's time on the digit scenarios). Explicit hyper-parameters override either.

Budget: ``budget_s`` seconds for the whole search (default 600 on a CPU, 300 on a GPU); the
candidate running when it runs out is stopped (its best checkpoint so far is judged), the ones
not started are listed as skipped. ``should_stop()`` cancels the search. The seconds are counted
on ``budget_clock`` (:func:`budget_clock`): ``"wall"`` (the default) is elapsed time, so a machine
that other jobs share ends the search sooner; ``"cpu"`` (CPU runs only) is this process's CPU time
divided by torch's threads, about the wall time on an idle machine, so that a benchmark tries the
same candidates under any load.

``extras["auto"]``: :class:`AutoSearch` (``to_json()``): the split sizes per group, every
candidate with its settings, status, seconds and held-out metrics (means over the folds, and the
gain of each), the Pareto set (no other
candidate has both a larger gain and a higher accuracy), the winner and the noise of its gain.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from ..data import ImageData
from ..errors import BamuInputError
from ..progress import ProgressEvent
from ._api import Outcome, RunContext, UnlearningMethod, get_method, register_method
from ._calibrate import calibrate_lr
from ._intensity import resolve_hyperparameters
from ._select import SELECTION_KEYS, Judge, small_validation_note

__all__ = [
    "AutoSearch",
    "Candidate",
    "split_validation",
    "prefer_simpler",
    "AutoMethod",
    "SEARCH_DEPTHS",
    "search_overrides",
]

#: Selection settings of the auto run passed on to every candidate.
_RULE_KEYS = (*SELECTION_KEYS, "eval_every")
#: Methods whose retain term auto group-balances (``balance="group"``).
_BALANCED = ("ga", "lora", "distill")
#: A winner still improving at its end is tried once more with this many times its steps.
EXTEND_STEPS = 3
#: Presets of the search (hyper-parameter overrides of ``auto``), cheapest first.
SEARCH_DEPTHS: dict[str, dict] = {
    "quick": {"folds": 1, "lr_scales": [1.0], "candidates": ["dfr", "balanced_finetune", "counterfactual"]},
    "thorough": {},
}


def search_overrides(depth: str) -> dict:
    """The hyper-parameter overrides of search depth ``depth`` (``"quick"`` or ``"thorough"``), a copy."""
    if depth not in SEARCH_DEPTHS:
        raise BamuInputError(f"search depth must be one of {', '.join(SEARCH_DEPTHS)}, got {depth!r}")
    return {k: list(v) if isinstance(v, list) else v for k, v in SEARCH_DEPTHS[depth].items()}


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
    fold_gains: list = field(default_factory=list)  # the gain on each held-out half

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
    folds: int = 1
    final_status: str | None = None  # the winner run again on the whole validation split
    final_message: str = ""
    calibration: dict = field(default_factory=dict)  # method -> LRCalibration
    passed_over: str | None = None  # the best candidate, when a simpler one within noise was chosen

    def to_json(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("candidates", "calibration")}
        out["candidates"] = [c.to_json() for c in self.candidates]
        out["calibration"] = {m: c.to_json() for m, c in self.calibration.items()}
        return out


BUDGET_CLOCKS = ("wall", "cpu")


def budget_clock(kind: str, device: torch.device) -> Callable[[], float]:
    """The clock ``auto``'s budget is counted on: ``"wall"``, elapsed seconds; ``"cpu"``, this
    process's CPU seconds divided by torch's intra-op threads (independent of other jobs on the
    machine; CPU runs only: a GPU's work is not CPU time)."""
    if kind not in BUDGET_CLOCKS:
        raise BamuInputError(f"budget_clock must be one of {', '.join(BUDGET_CLOCKS)}, got {kind!r}")
    if kind == "wall":
        return time.perf_counter
    if device.type != "cpu":
        raise BamuInputError(f"budget_clock 'cpu' counts CPU time and needs a CPU run, not {device.type}")
    threads = max(1, torch.get_num_threads())
    return lambda: time.process_time() / threads


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


def prefer_simpler(best: Candidate, simple: Candidate | None, se: float) -> bool:
    """Whether the last-layer candidate ``simple`` replaces ``best``: both admissible and judged,
    and ``simple``'s held-out gain at least ``best``'s minus one standard error ``se``."""
    return (
        simple is not None
        and simple is not best
        and simple.admissible
        and best.admissible
        and simple.gain is not None
        and best.gain is not None
        and simple.gain >= best.gain - se
    )


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
    summary = (
        "picks the method for you (default); searches methods and learning rates on held-out validation images "
        "under a time budget and keeps the best within the accuracy bound"
    )
    uses_forget = False  # candidates that need a forget set are skipped without one

    def _unlearn(self, ctx: RunContext) -> tuple[nn.Module, Outcome]:
        hp = ctx.hp
        if ctx.val is None or len(ctx.val) == 0:
            raise BamuInputError("auto chooses on the validation split, and this data has none")
        n_folds = int(hp["folds"])
        if n_folds not in (1, 2):
            raise BamuInputError(f"folds must be 1 or 2, got {n_folds}")
        a_idx, b_idx = split_validation(ctx.val, float(hp["choose_fraction"]), ctx.seed)
        part_a, part_b = ctx.val.subset(a_idx), ctx.val.subset(b_idx)
        for part, what in ((part_a, "fit"), (part_b, "choose")):
            if len(np.unique(part.groups)) < 2:
                raise BamuInputError(
                    f"the validation split ({len(ctx.val)} images) is too small for auto: its {what} half "
                    "holds fewer than two groups; add labelled validation images or pick a method"
                )
        folds = [(part_a, part_b), (part_b, part_a)][:n_folds]  # (select on, compare on)
        budget = hp["budget_s"]
        budget = float(budget if budget is not None else (300.0 if ctx.device.type == "cuda" else 600.0))
        if budget <= 0:
            raise BamuInputError(f"budget_s must be positive, got {budget}")
        start = time.perf_counter()
        clock = budget_clock(hp.get("budget_clock", "wall"), ctx.device)
        deadline = clock() + budget
        user_stop = ctx.should_stop or (lambda: False)
        stop_or_late = lambda: user_stop() or clock() >= deadline  # noqa: E731

        judges = []
        for _fit, compare in folds:
            j = Judge.for_run(ctx, compare)
            j.start(j.evaluate(ctx.model))
            judges.append(j)
        bases = [j.base for j in judges]
        search = AutoSearch(
            metric=judges[0].metric,
            fit_per_group=part_a.group_sizes(),
            choose_per_group=part_b.group_sizes(),
            budget_s=budget,
            folds=n_folds,
            original_accuracy=float(np.mean([b.val_acc for b in bases])),
            original_fairness=float(np.mean([b.val_fairness for b in bases])),
            candidates=_plan(ctx, list(hp["candidates"]), list(hp["lr_scales"])),
        )
        rule = {k: hp[k] for k in _RULE_KEYS if k in hp}
        if rule.get("max_accuracy_drop") is None:
            rule["max_accuracy_drop"] = ctx.rule.max_accuracy_drop
        n = len(search.candidates)
        history = [
            ProgressEvent(
                step=0,
                total=n,
                val_acc=search.original_accuracy,
                val_fairness=search.original_fairness,
                phase="auto",
            )
        ]
        runs = n * n_folds + (1 if n_folds > 1 else 0)  # the last: the winner on the whole split

        def run(cand: Candidate, val: ImageData, k: int):
            def relay(ev: ProgressEvent) -> None:
                if ctx.progress is not None:
                    ev.phase = f"auto: candidate {min(k // n_folds + 1, n)} of {n} ({cand.label})"
                    ev.overall = (k + (ev.step / ev.total if ev.total else 0.0)) / runs
                    ctx.progress(ev)

            return get_method(cand.method).run(
                ctx.model,
                ctx.forget,
                ctx.retain,
                intensity=ctx.intensity,
                device=ctx.device,
                progress=relay,
                should_stop=stop_or_late,
                val=val,
                # auto explores the rate itself (calibration, lr_scales): no back-off inside a candidate
                hyperparameters={**rule, **({"lr_backoff": 0} if cand.method in _TRAINING else {}), **cand.overrides},
                seed=ctx.seed,
            )

        state = {"best_i": 0, "best_gain": 0.0, "best_evals": None, "best_model": None, "cancelled": False}
        simple = {"i": 0, "gain": 0.0, "evals": None, "model": None}  # the best last-layer-only candidate

        def attempt(i: int, cand: Candidate) -> None:
            """Run candidate ``i`` (1-based) on every fold and judge it; updates ``state``."""
            why = _skip_reason(cand.method, ctx)
            if why:
                cand.message = why
                return
            if clock() >= deadline:
                cand.message = f"not started: the {budget:.0f} s budget was spent"
                return
            t0 = time.perf_counter()
            evals, model = [], None
            try:
                if cand.lr_scale is not None and "lr" not in cand.overrides:
                    cal = search.calibration.get(cand.method)
                    if cal is None:
                        cal = search.calibration[cand.method] = calibrate_lr(
                            cand.method,
                            ctx.model,
                            ctx.forget,
                            ctx.retain,
                            part_a,
                            intensity=ctx.intensity,
                            table_lr=float(resolve_hyperparameters(cand.method, ctx.intensity)["lr"]),
                            bound=float(rule["max_accuracy_drop"]),
                            device=ctx.device,
                            seed=ctx.seed,
                            rule={**rule, **cand.overrides},
                            should_stop=stop_or_late,
                        )
                    cand.overrides = {**cand.overrides, "lr": cal.lr * cand.lr_scale}
                    cand.label = f"{cand.method} lr {cal.lr * cand.lr_scale:.2g}"
                for f, ((fit, _compare), judge) in enumerate(zip(folds, judges)):
                    res = run(cand, fit, (min(i, n) - 1) * n_folds + f)
                    cand.steps, cand.chosen_step = res.steps, max(cand.chosen_step, res.chosen_step)
                    if "eval_every" in res.extras and "eval_every" not in cand.overrides:
                        # the final run on the whole split evaluates at the same steps
                        cand.overrides = {**cand.overrides, "eval_every": int(res.extras["eval_every"])}
                    cand.status, cand.message = res.status, res.message
                    if res.status == "cancelled":
                        break
                    evals.append(judge.evaluate(res.model.to(ctx.device)))
                    model = res.model.to("cpu")
            except (BamuInputError, RuntimeError) as exc:  # one candidate failing does not end the search
                cand.status, cand.message, cand.seconds = "failed", str(exc).splitlines()[0], time.perf_counter() - t0
                return
            cand.seconds = time.perf_counter() - t0
            if cand.status == "cancelled" and user_stop():
                state["cancelled"] = True
                return
            if len(evals) < n_folds:
                cand.message = (
                    f"stopped by the {budget:.0f} s budget before it was judged on every fold; {cand.message}"
                )
                return
            cand.fold_gains = [float(b.val_fairness - e.val_fairness) for b, e in zip(bases, evals)]
            cand.gain = float(np.mean(cand.fold_gains))
            cand.val_accuracy = float(np.mean([e.val_acc for e in evals]))
            cand.val_fairness = float(np.mean([e.val_fairness for e in evals]))
            cand.admissible = all(j.admissible(e) and not j.collapsed(e) for j, e in zip(judges, evals))
            if cand.admissible and cand.gain > state["best_gain"] + 1e-12:
                state.update(best_i=i, best_gain=cand.gain, best_evals=evals, best_model=model)
            if cand.admissible and get_method(cand.method).last_layer_only and cand.gain > simple["gain"] + 1e-12:
                simple.update(i=i, gain=cand.gain, evals=evals, model=model)
            history.append(
                ProgressEvent(
                    step=i,
                    total=len(search.candidates),
                    val_acc=cand.val_accuracy,
                    val_fairness=cand.val_fairness,
                    phase=f"auto: {cand.label}",
                    overall=(min(i, n) * n_folds) / runs,
                )
            )
            if ctx.progress is not None:
                ctx.progress(history[-1])

        for i, cand in enumerate(search.candidates, start=1):
            if user_stop():
                state["cancelled"] = True
                break
            attempt(i, cand)
            if state["cancelled"]:
                break
        # a winner whose kept checkpoint is in the last quarter of its steps was still improving:
        # it runs once more with EXTEND_STEPS times the steps (same rate), budget permitting
        win = search.candidates[state["best_i"] - 1] if state["best_i"] else None
        if (
            win is not None
            and not state["cancelled"]
            and win.lr_scale is not None
            and win.steps > 0
            and win.chosen_step >= 0.75 * win.steps
        ):
            longer = Candidate(
                f"{win.label}, {EXTEND_STEPS}x steps",
                win.method,
                {**win.overrides, "steps": EXTEND_STEPS * win.steps},
                lr_scale=win.lr_scale,
            )
            search.candidates.append(longer)
            attempt(len(search.candidates), longer)
        best_i, best_gain = state["best_i"], state["best_gain"]
        best_evals, best_model, cancelled = state["best_evals"], state["best_model"], state["cancelled"]

        _mark_pareto(search.candidates)
        tried = sum(c.status not in ("skipped",) for c in search.candidates)
        sizes = f"{len(part_a)} + {len(part_b)} validation images, each half selecting while the other judged"
        if n_folds == 1:
            sizes = f"{len(part_a)} validation images to fit / select, {len(part_b)} held out to choose"
        judge = judges[0]
        metric = judge.metric.replace("_", " ")
        if cancelled:
            model, status = best_model if best_model is not None else ctx.model, "cancelled"
            message = f"auto was cancelled after {tried} of {n} candidates"
        else:
            # the noise of the mean gain over the folds (each fold's paired-bootstrap error)
            def noise_of(evals) -> float:
                sds = [j.gain_sd(e) for j, e in zip(judges, evals)] if evals else [j.gain_sd(None) for j in judges]
                return 2.0 * float(np.sqrt(np.sum(np.square(sds)))) / len(sds)

            noise = noise_of(best_evals)
            if best_i and simple["i"] and simple["i"] != best_i:
                top, cheap = search.candidates[best_i - 1], search.candidates[simple["i"] - 1]
                cheap_noise = noise_of(simple["evals"])
                # the simpler change, when its gain is within one standard error of the best and beyond its noise
                if prefer_simpler(top, cheap, noise / 2.0) and cheap.gain > cheap_noise:
                    search.passed_over = top.label
                    best_i, best_gain, best_evals, best_model = (
                        simple["i"],
                        cheap.gain,
                        simple["evals"],
                        simple["model"],
                    )
                    noise = cheap_noise
            search.gain_noise = noise
            if best_i == 0 or best_gain <= noise:
                model, status = ctx.model, "no_change"
                best = max((c for c in search.candidates if c.admissible), key=lambda c: c.gain or 0, default=None)
                seen = f"best {best.label}: gain {best.gain:+.3f}" if best is not None else "no admissible candidate"
                advice = small_validation_note(
                    noise, search.original_fairness, search.choose_per_group, where=" in the held-out half"
                ) or ("try a higher intensity, another forget set or more labelled validation images")
                message = (
                    f"no setting improved fairness beyond noise within the accuracy bound ({tried} candidates, "
                    f"{seen}, noise ±{noise:.3f} on held-out validation images); returned the original model; "
                    f"{advice}"
                )
                best_i = 0
            else:
                win = search.candidates[best_i - 1]
                search.chosen, search.chosen_method = win.label, win.method
                search.chosen_hyperparameters = dict(win.overrides)
                model, status = best_model, "ok"
                message = (
                    f"auto chose {win.label} of {tried} candidates: held-out validation {metric} "
                    f"{search.original_fairness:.3f} -> {win.val_fairness:.3f} (noise ±{noise:.3f}), accuracy "
                    f"{search.original_accuracy:.3f} -> {win.val_accuracy:.3f}"
                )
                if search.passed_over:
                    message += (
                        f"; preferred to {search.passed_over} (gain within one standard error): "
                        "it changes the last layer only"
                    )
                if n_folds > 1:  # the chosen setting once more, selecting on the whole validation split
                    final = run(win, ctx.val, runs - 1)
                    search.final_status, search.final_message = final.status, final.message
                    # a run that collapsed after its kept checkpoint still returns that checkpoint
                    kept = final.status == "diverged" and final.chosen_step > 0
                    if final.status in ("ok", "stopped_early") or kept:
                        model = final.model
                        message += "; refitted on the whole validation split"
                        if kept:
                            message += f" (kept step {final.chosen_step}; later steps collapsed)"
                    else:
                        message += (
                            f"; on the whole validation split it ended {final.status}, so the model "
                            f"chosen on half of it is kept"
                        )
        search.seconds = time.perf_counter() - start
        message = message.replace("auto chose", f"auto ({search.seconds:.0f} s) chose") + f"; {sizes}"
        fewest = min(search.choose_per_group.values())
        if fewest < 20:
            message += (
                f"; the held-out half has only {fewest} images in its smallest group: the choice is uncertain "
                "(label more validation images)"
            )
        judge.best_step = best_i
        judge.best_gain = best_gain if best_i else 0.0
        judge.best_eval = best_evals[0] if best_i and best_evals else judge.base
        judge.noise = search.gain_noise
        return model, Outcome(
            status=status,
            message=message,
            steps=tried,
            chosen_step=best_i,
            history=history,
            extras={"selection": judge.summary(), "auto": search},
        )
