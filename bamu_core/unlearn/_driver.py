"""The one selection driver every method runs its checkpoints through.

A :class:`SelectionDriver` owns, for one run: the :class:`~bamu_core.unlearn._select.Judge`
(evaluation on the validation split and the selection rule), the progress events (recorded in
the history and passed to the caller's callback), the best admissible checkpoint found so far,
and the run's status and message. A method evaluates its network (or logits it computed), hands
each evaluation with a way to capture the current checkpoint to :meth:`SelectionDriver.consider`,
stops when told to, and builds its :class:`~bamu_core.unlearn._api.Outcome` with
:meth:`SelectionDriver.outcome`:

>>> driver = SelectionDriver(ctx, total)
>>> driver.start(driver.evaluate(net), snapshot())
>>> for step in range(1, total + 1):
...     if driver.cancelled(step):
...         break
...     loss = train_one_step()
...     if driver.consider(step, loss, driver.evaluate(net), snapshot):
...         break
>>> restore(driver.best)
>>> outcome = driver.outcome()
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from ._api import Outcome, ProgressEvent, RunContext
from ._select import Evaluation, Judge, small_validation_note

__all__ = ["SelectionDriver"]


class SelectionDriver:
    """Checkpoint selection, progress events, status and message of one run.

    Parameters
    ----------
    ctx : RunContext
        The run: its selection rule, splits, device, seed, ``eval_size``, progress callback and
        ``should_stop``.
    total : int
        The step budget (the ``total`` of every progress event).

    Attributes
    ----------
    judge : Judge
        Measures checkpoints and applies the rule (read it for ``paired``, ``base``, ``metric``).
    history : list of ProgressEvent
        Every recorded event, step 0 (the original model) first.
    best : object
        The kept checkpoint (whatever the method's ``keep`` returned for the best step).
    status, message : str
        ``ok`` and ``""`` until the run is cancelled, stopped early or diverges; at
        :meth:`outcome` a judged run whose chosen checkpoint is the original, or whose validation
        gain is within noise (:meth:`Judge.gain_noise`), becomes ``no_change``.
    steps : int
        The last recorded step (the steps the run took).
    """

    def __init__(self, ctx: RunContext, total: int):
        self.judge = Judge.for_run(ctx, ctx.val)
        self.total = int(total)
        self.history: list[ProgressEvent] = []
        self.best: Any = None
        self.status, self.message, self.steps = "ok", "", 0
        self.progress = ctx.progress
        self.should_stop = ctx.should_stop
        self.accepted = False  # accept(): compared with the original, not selected

    # -- measuring (delegated to the judge) -------------------------------------------------
    def evaluate(self, net: nn.Module, *, measured: dict[str, float] | None = None) -> Evaluation:
        """See :meth:`Judge.evaluate`."""
        return self.judge.evaluate(net, measured=measured)

    def evaluate_logits(self, val_logits: torch.Tensor | None, **kwargs) -> Evaluation:
        """See :meth:`Judge.evaluate_logits`."""
        return self.judge.evaluate_logits(val_logits, **kwargs)

    def subset(self, name: str) -> np.ndarray:
        """See :meth:`Judge.subset`."""
        return self.judge.subset(name)

    @property
    def paired(self) -> bool:
        return self.judge.paired

    @property
    def chosen_step(self) -> int:
        """The step of the kept checkpoint (0: the original)."""
        return self.judge.best_step

    # -- recording --------------------------------------------------------------------------
    def record(self, step: int, loss: float, ev: Evaluation | None = None, *, total: int | None = None) -> None:
        """Record the progress event of ``step`` (evaluation fields from ``ev``) and pass it on."""
        event = ProgressEvent(step=step, total=self.total if total is None else total, loss=float(loss))
        if ev is not None:
            event.forget_acc, event.retain_acc = ev.forget_acc, ev.retain_acc
            event.val_dp, event.val_acc, event.val_fairness = ev.val_dp, ev.val_acc, ev.val_fairness
        self.history.append(event)
        self.steps = step
        if self.progress is not None:
            self.progress(event)

    def start(self, ev: Evaluation, checkpoint: Any) -> None:
        """The original model (step 0): its evaluation and its checkpoint, the first best."""
        self.judge.start(ev)
        self.best = checkpoint
        self.record(0, float("nan"), ev)

    def consider(self, step: int, loss: float, ev: Evaluation, keep: Callable[[], Any]) -> bool:
        """Judge the evaluation of ``step``, record its event, and keep ``keep()`` when it is the
        new best. Returns True when the run must stop (a collapse, or ``patience`` evaluations
        without a new best)."""
        verdict = self.judge.consider(step, ev)
        self.record(step, loss, ev)
        if verdict.best:
            self.best = keep()
        if verdict.collapse:
            self.status, self.message = "diverged", f"collapse at step {step}: {verdict.collapse}"
            return True
        if verdict.stop:
            self.status, self.message = (
                "stopped_early",
                (f"stopped at step {step}: no better admissible checkpoint in {self.judge.rule.patience} evaluations"),
            )
            return True
        return False

    def accept(self, original: Evaluation, step: int, ev: Evaluation, checkpoint: Any) -> None:
        """Take the checkpoint of ``step`` as the result without selection, compared with the
        ``original`` evaluation (for ``retrain``, the oracle); records the event of ``step``."""
        self.judge.start(original)
        self.judge.accept(step, ev)
        self.accepted = True
        self.best = checkpoint
        self.record(step, float("nan"), ev)

    # -- ending -----------------------------------------------------------------------------
    def cancelled(self, step: int) -> bool:
        """Whether ``should_stop()`` is true before ``step``; if so the status is ``cancelled``."""
        if self.should_stop is None or not self.should_stop():
            return False
        self.status, self.message = "cancelled", f"cancelled before step {step} of {self.total}"
        return True

    def end(self, status: str, message: str) -> None:
        """End the run with ``status`` (e.g. ``diverged``: a non-finite loss) and ``message``."""
        self.status, self.message = status, message

    def describe(self) -> str:
        """One line on the chosen checkpoint against the original."""
        judge, chosen = self.judge, self.chosen_step
        if judge.val is None:
            return f"no validation split: returned the model after step {chosen}"
        metric = judge.metric.replace("_", " ")
        if chosen == 0:
            return f"no checkpoint improved the validation {metric} within the bound; returned the original model"
        b, c = judge.base, judge.best_eval
        return (
            f"chose step {chosen}: validation {metric} {b.val_fairness:.3f} -> {c.val_fairness:.3f}, "
            f"accuracy {b.val_acc:.3f} -> {c.val_acc:.3f}"
        )

    def no_change(self) -> str:
        """Why the run changed nothing beyond noise (``""`` when it did change something, was not
        judged, or ended cancelled / diverged): the chosen checkpoint is the original, or its
        validation gain is at most :meth:`Judge.gain_noise`."""
        judge = self.judge
        if self.status not in ("ok", "stopped_early") or judge.val is None or self.accepted or judge.base is None:
            return ""
        metric = {"demographic_parity_difference": "DP", "equalized_odds_difference": "equalized odds gap"}.get(
            judge.metric, judge.metric.replace("_", " ")
        )
        b, c = judge.base, judge.best_eval
        noise = judge.gain_noise()
        if self.chosen_step != 0 and judge.best_gain > noise:
            return ""
        before = ""
        if self.status == "stopped_early":  # why it stopped (patience, the end of a grid), then the verdict
            before = f"{self.message or f'stopped early at step {self.steps}'}; "
        advice = small_validation_note(noise, b.val_fairness, judge.val.group_sizes()) or (
            "try a higher intensity, another method or forget set"
        )
        return (
            f"{before}no setting improved fairness beyond noise within the accuracy bound (validation {metric} "
            f"{b.val_fairness:.2f} → {c.val_fairness:.2f}, noise ±{noise:.2f}); {advice}"
        )

    def outcome(
        self, *, message: str | None = None, steps: int | None = None, selection: bool = True, **extras: Any
    ) -> Outcome:
        """The run's :class:`Outcome`: the status, the message (by default the ending's, then
        :meth:`describe`), the steps taken (default: the last recorded step), the chosen step,
        the history, and ``extras`` after ``selection`` (the judge's summary; left out when
        ``selection`` is false: nothing was judged)."""
        why = self.no_change() if selection else ""
        if why:
            self.status = "no_change"
            tail = "returned the original model" if self.chosen_step == 0 else self.describe()
            message = f"{why}; {tail}" if message is None else f"{why}; {message}"
        elif message is None:
            tail = self.describe()
            message = f"{self.message}; {tail}" if self.message else tail
        return Outcome(
            status=self.status,
            message=message,
            steps=self.steps if steps is None else steps,
            chosen_step=self.chosen_step,
            history=self.history,
            extras={"selection": self.judge.summary(), **extras} if selection else dict(extras),
        )
