"""The unlearning method contract and registry.

Calling a method
----------------
>>> method = get_method("ga")
>>> result = method.run(model, forget, retain, intensity=0.5, val=scenario.val,
...                     device="cpu", progress=print, should_stop=lambda: False)
>>> result.model            # a new nn.Module (same class and state-dict keys as ``model``)

``run(model, forget, retain, *, intensity, device=None, progress=None, should_stop=None,
val=None, hyperparameters=None, seed=0) -> UnlearnResult``

- ``model``: the trained classifier. It is never modified (methods work on a deep copy) and is
  left on the device it came on.
- ``forget`` / ``retain``: :class:`~bamu_core.data.ImageData` (e.g. from
  ``ForgetSet.split(scenario.train)``). Methods that use counterfactual images read them from
  ``forget.images(idx, counterfactual=True)``.
- ``intensity`` in [0, 1]: 0 returns an identical copy with status ``ok`` and ``steps == 0``;
  1 is the strongest setting. It maps to every method's hyper-parameters through the method's
  config dataclass in :mod:`bamu_core.unlearn._config` (e.g. ``GradientAscentConfig``: each
  field's value at intensity 0 and 1, or fixed, and its help), from which the one table in
  :mod:`bamu_core.unlearn._intensity` (``INTENSITY_TABLE``) is generated; and to the selection
  bound: validation accuracy may fall by at most ``ACCURACY_BOUND * intensity`` (2 points at 1.0).
- ``val``: a labelled split with groups, disjoint from the split results are reported on. The
  method evaluates on it every ``eval_every`` steps and returns the checkpoint with the largest
  fairness gain (validation demographic-parity difference by default) whose validation accuracy
  stays within the bound and whose per-class recalls fall by at most ``max_recall_drop``
  (see :class:`~bamu_core.unlearn._select.SelectionRule`; every method judges its checkpoints
  through one :class:`~bamu_core.unlearn._driver.SelectionDriver`). Without ``val`` the last
  step is returned and the message says so.
- ``hyperparameters``: raw overrides of the table, by name (unknown names raise ``ValueError``).
- Learning-rate back-off: a training method (one with ``lr`` and ``lr_backoff``) whose run ends
  ``diverged`` within the first half of its steps, or before it kept a checkpoint whose validation
  gain is beyond noise, is run again from the original model at a third
  of the rate (:data:`LR_BACKOFF_FACTOR`), up to ``lr_backoff`` times (default 4), until a run does
  not; the run with the larger validation gain is kept (the later one on a tie),
  ``hyperparameters["lr"]`` is its rate, the message starts with the rates that collapsed and
  ``extras["lr_backoff"]`` lists every try. A rate set on a small CNN collapses a pretrained
  ResNet in one step; this makes the table's rates an upper end rather than a setting to tune.
- ``progress(event)``: called after every step with a :class:`ProgressEvent`; the evaluation
  fields are filled on evaluation steps (including step 0, the original model) and ``None``
  otherwise.
- ``should_stop()``: checked before every step; when true the run stops within one step with
  status ``cancelled`` and returns the best checkpoint found so far.
- ``seed``: runs are reproducible on CPU for a given seed (shuffles, LoRA initialisation).

The result
----------
:class:`UnlearnResult` fields: ``model`` (the chosen checkpoint, a plain nn.Module on the CPU, in
eval mode), ``method``, ``intensity``, ``status`` (one of :data:`STATUSES`), ``message`` (one
line), ``steps`` (steps taken), ``chosen_step`` (the step of the returned checkpoint; 0 = the
original), ``seconds`` (wall time of the run), ``hyperparameters`` (the resolved values),
``history`` (every :class:`ProgressEvent`), ``extras`` (method-specific: ``lora`` holds a
:class:`~bamu_core.unlearn.lora.LoRAAdapter` that re-applies or undoes the change; ``retrain``
the cache path and the original training time; ``dfr`` the balanced validation sample it refitted
the last layer on (images per group) and the chosen ``C``; ``balanced_finetune`` the retain cells'
sizes and the validation images per group; every method ``selection``: the validation metrics of
the original and of the chosen checkpoint, the gain and its noise).

Statuses (:data:`STATUSES`; :func:`status_label` gives each one's wording for people):

- ``ok`` (shown "complete"): the run finished its step budget and the chosen checkpoint improved
  the validation fairness gap by more than noise (or, without ``val``, the last step is
  returned). Intensity 0 is also ``ok``: it was asked to change nothing, and did exactly that
  (``steps == 0``, message "intensity 0: ...").
- ``stopped_early`` ("stopped early: no better checkpoint"): the selection rule ended the run
  (no new best admissible checkpoint in ``patience`` evaluations); the best one, an improvement
  beyond noise, is returned.
- ``no_change`` ("no change beyond noise"): the returned model is the original (chosen step 0,
  or weights identical to the input's), or its validation gain is not above the noise (twice the
  paired-bootstrap standard error of the gain, :meth:`~bamu_core.unlearn._select.Judge.gain_noise`);
  the message gives the validation gap before and after and the noise, and what to try next.
  ``retrain`` (the oracle, compared rather than selected) is never ``no_change``.
- ``cancelled``: ``should_stop()`` turned true.
- ``diverged``: a non-finite loss or a collapse (validation or retain accuracy more than
  ``collapse_drop`` below the original, or one class predicted for nearly everything) — the best
  checkpoint before it is returned.

The name ``ok`` is kept (stored runs and sweeps use it); the dashboard and the CLI show the label.

Registering a method
--------------------
Subclass :class:`UnlearningMethod`, implement ``_unlearn(ctx) -> (model, Outcome)`` and decorate
the class with ``@register_method(name)`` (the entry lands in :data:`METHODS`, a
:class:`~bamu_core.registry.Registry`); give it a config class in
:data:`bamu_core.unlearn._config.CONFIGS` so that the table has its row. :func:`get_method` of an
unknown name raises :class:`~bamu_core.errors.BamuInputError` (a ``ValueError``).

BatchNorm and dropout: every method except ``retrain`` runs the network in eval mode while it
updates the weights, so BatchNorm running statistics stay those of the original model (small-step
updates on a small, skewed forget batch would otherwise corrupt them) and dropout is off.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn as nn

from .._compat import pick_device
from ..data import ImageData
from ..errors import BamuInputError
from ..forget import ForgetSet
from ..progress import ProgressEvent
from ..registry import Registry
from ._intensity import resolve_hyperparameters
from ._select import SelectionRule

__all__ = [
    "ForgetSet",
    "ProgressEvent",
    "UnlearnResult",
    "UnlearningMethod",
    "METHODS",
    "register_method",
    "get_method",
    "list_methods",
    "method_summary",
    "STATUSES",
    "STATUS_LABELS",
    "SUCCESS_STATUSES",
    "status_label",
]

# ok: finished and improved (or intensity 0); stopped_early: the selection rule ended the run before
# the budget, with an improvement; no_change: nothing beyond noise; cancelled: should_stop() turned
# true; diverged: non-finite loss or retain/validation collapse. See the module docstring.
STATUSES = ("ok", "stopped_early", "no_change", "cancelled", "diverged")

#: Each status in words, for the dashboard and the CLI.
STATUS_LABELS = {
    "ok": "complete",
    "stopped_early": "stopped early: no better checkpoint",
    "no_change": "no change beyond noise",
    "cancelled": "cancelled",
    "diverged": "diverged: the best checkpoint before it is kept",
}

#: The statuses that are a success (shown as one); every other one is a warning.
SUCCESS_STATUSES = ("ok", "stopped_early")


def status_label(status: str | None) -> str:
    """``status`` in words (:data:`STATUS_LABELS`); an unknown one as it is."""
    return STATUS_LABELS.get(status or "", status or "unknown")


@dataclass
class UnlearnResult:
    """What a method returns: the new model (a copy) and how the run went."""

    model: nn.Module
    method: str
    intensity: float
    status: str
    message: str
    steps: int
    chosen_step: int
    seconds: float
    hyperparameters: dict
    history: list[ProgressEvent] = field(default_factory=list)
    extras: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """The JSON-ready fields (no model, no extras objects)."""
        return {
            "method": self.method,
            "intensity": self.intensity,
            "status": self.status,
            "message": self.message,
            "steps": self.steps,
            "chosen_step": self.chosen_step,
            "seconds": self.seconds,
            "hyperparameters": self.hyperparameters,
            "history": [e.to_json() for e in self.history],
            "selection": self.extras.get("selection"),
        }


@dataclass
class RunContext:
    """Everything a method's ``_unlearn`` needs; built once by :meth:`UnlearningMethod.run`."""

    model: nn.Module  # the working copy, on ``device``
    original: nn.Module  # the caller's model (read only; never moved or modified)
    forget: ImageData
    retain: ImageData
    val: ImageData | None
    intensity: float
    hp: dict
    rule: SelectionRule
    device: torch.device
    seed: int
    progress: Callable[[ProgressEvent], None] | None
    should_stop: Callable[[], bool] | None


@dataclass
class Outcome:
    """How a method's ``_unlearn`` ended (the model it returns is separate)."""

    status: str
    message: str
    steps: int
    chosen_step: int
    history: list[ProgressEvent] = field(default_factory=list)
    extras: dict = field(default_factory=dict)


class UnlearningMethod:
    """Base class: validates input, copies the model, seeds, times, and wraps the outcome.

    Subclasses set ``name`` (by :func:`register_method`) and ``summary`` and implement
    ``_unlearn(ctx) -> (model, Outcome)``; the returned model may be ``ctx.model`` itself.
    """

    name: str = ""
    summary: str = ""  # one line for the method picker
    needs_counterfactual: bool = False  # uses forget.images(..., counterfactual=True)
    uses_forget: bool = True  # an empty forget set is an error
    uses_retain: bool = True  # an empty retain set is an error
    last_layer_only: bool = False  # changes the classifier layer alone (auto prefers it within noise)

    def run(
        self,
        model: nn.Module,
        forget: ImageData,
        retain: ImageData,
        *,
        intensity: float,
        device: str | torch.device | None = None,
        progress: Callable[[ProgressEvent], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        val: ImageData | None = None,
        hyperparameters: dict | None = None,
        seed: int = 0,
    ) -> UnlearnResult:
        if not isinstance(intensity, (int, float)) or not 0.0 <= float(intensity) <= 1.0:
            raise BamuInputError(f"intensity must be a number in [0, 1], got {intensity!r}")
        intensity = float(intensity)
        if len(forget) == 0 and self.uses_forget:
            raise BamuInputError("the forget set is empty; choose a forget strategy that selects some training images")
        if len(retain) == 0 and self.uses_retain:
            raise BamuInputError("the retain set is empty; keep some training images out of the forget set")
        if self.needs_counterfactual and not forget.has_counterfactual:
            raise BamuInputError(
                f"method {self.name!r} needs counterfactual images of the forget set, which this dataset lacks"
            )
        hp = resolve_hyperparameters(self.name, intensity, hyperparameters)
        start = time.perf_counter()
        work = _copy_to_cpu(model)
        if intensity == 0.0:
            return UnlearnResult(
                model=work.eval(),
                method=self.name,
                intensity=0.0,
                status="ok",
                message="intensity 0: the model is returned unchanged, as asked",
                steps=0,
                chosen_step=0,
                seconds=time.perf_counter() - start,
                hyperparameters=hp,
            )
        dev = pick_device(None if device is None else str(device))

        def attempt(hp: dict, work: nn.Module) -> tuple[nn.Module, Outcome]:
            ctx = RunContext(
                model=work.to(dev),
                original=model,
                forget=forget,
                retain=retain,
                val=val,
                intensity=intensity,
                hp=hp,
                rule=SelectionRule.for_intensity(intensity, hp),
                device=dev,
                seed=int(seed),
                progress=progress,
                should_stop=should_stop,
            )
            with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
                torch.manual_seed(int(seed))
                return self._unlearn(ctx)

        new_model, outcome = attempt(hp, work)
        tries = [(float(hp["lr"]), outcome)] if "lr" in hp else []
        while tries and len(tries) <= int(hp.get("lr_backoff", 0)) and _collapsed_early(outcome, hp):
            retry = {**hp, "lr": float(hp["lr"]) / LR_BACKOFF_FACTOR}
            again, outcome_again = attempt(retry, _copy_to_cpu(model))
            tries.append((retry["lr"], outcome_again))
            if _val_gain(outcome_again) >= _val_gain(outcome):
                hp, new_model, outcome = retry, again, outcome_again
            if not _collapsed_early(outcome_again, retry):
                break
        if len(tries) > 1:
            outcome.message = f"{_backoff_note(tries, hp)}; {outcome.message}"
            outcome.extras["lr_backoff"] = [
                {"lr": lr, "status": o.status, "steps": o.steps, "val_gain": _val_gain(o)} for lr, o in tries
            ]
        new_model = new_model.to("cpu").eval()
        for p in new_model.parameters():
            p.requires_grad_(True)
        if outcome.status in SUCCESS_STATUSES and _same_weights(new_model, model):
            outcome.status = "no_change"
            outcome.message = (
                "the weights are identical to the original's: no setting changed the model; try a higher "
                f"intensity, another method or forget set; {outcome.message}"
            )
        return UnlearnResult(
            model=new_model,
            method=self.name,
            intensity=intensity,
            status=outcome.status,
            message=outcome.message,
            steps=outcome.steps,
            chosen_step=outcome.chosen_step,
            seconds=time.perf_counter() - start,
            hyperparameters=hp,
            history=outcome.history,
            extras=outcome.extras,
        )

    def _unlearn(self, ctx: RunContext) -> tuple[nn.Module, Outcome]:  # pragma: no cover - abstract
        raise NotImplementedError


#: A run that collapses early is retried at its learning rate divided by this (``lr_backoff`` times at most).
LR_BACKOFF_FACTOR = 3.0


def _collapsed_early(outcome: Outcome, hp: dict) -> bool:
    """Whether a run ended ``diverged`` within the first half of its step budget, or kept nothing
    beyond noise before it did (its rate was too high for this model: a rate set on another
    model), so that a lower rate is worth a try."""
    if outcome.status != "diverged":
        return False
    if outcome.steps <= max(1, int(hp.get("steps", 0)) // 2):
        return True
    sel = outcome.extras.get("selection") or {}
    return _val_gain(outcome) <= float(sel.get("val_gain_noise") or 0.0)


def _val_gain(outcome: Outcome) -> float:
    """The validation gain of the chosen checkpoint (0 when nothing was chosen or judged)."""
    sel = outcome.extras.get("selection") or {}
    gain = sel.get("val_gain") if sel.get("chosen_step") else 0.0
    return float(gain) if gain is not None else 0.0


def _backoff_note(tries: list[tuple[float, Outcome]], hp: dict) -> str:
    """One clause on the learning-rate retries: which rates collapsed, which one is kept."""
    collapsed = ", ".join(f"{lr:.2g} (step {o.steps})" for lr, o in tries if o.status == "diverged")
    return f"learning rate backed off: collapsed at {collapsed}; kept the run at lr {float(hp['lr']):.2g}"


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    """Whether two models hold identical state dicts (compared on the CPU)."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].cpu(), sb[k].detach().cpu()) for k in sa)


def _copy_to_cpu(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` on the CPU; the original stays where it is, untouched."""
    params = list(model.parameters())
    device = params[0].device if params else torch.device("cpu")
    if device.type == "cpu":
        return copy.deepcopy(model)
    clone = copy.deepcopy(model)  # copies on the model's device, then moves
    return clone.to("cpu")


#: Every registered method class, by name (entries carry the method's one-line summary).
METHODS: Registry[type[UnlearningMethod]] = Registry("unlearning method")


def register_method(name: str):
    """Class decorator: register an :class:`UnlearningMethod` subclass as ``name`` (and set its
    ``name``); a name registered twice raises ``ValueError``."""

    def wrap(cls):
        METHODS.add(name, cls, summary=cls.summary)
        cls.name = name
        return cls

    return wrap


def get_method(name: str) -> UnlearningMethod:
    """A new instance of the method registered as ``name``; an unknown name raises
    :class:`~bamu_core.errors.BamuInputError` (a ``ValueError``) listing the registered ones."""
    return METHODS.get(name)()


def list_methods() -> list[str]:
    """The registered method names, sorted."""
    return METHODS.names()


def method_summary(name: str) -> str:
    """The one-line summary of the method registered as ``name``."""
    return METHODS.summary(name)
