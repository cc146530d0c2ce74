"""Checkpoint selection on the validation split ("selection without peeking").

Every ``eval_every`` steps the network is evaluated on the validation split (which has group
labels and is disjoint from the reported test split). A checkpoint is *admissible* when

- its validation accuracy is at least the original's minus ``max_accuracy_drop``, and
- no class's validation recall fell by more than ``max_recall_drop`` plus two standard errors of
  that recall (``2 sqrt(r (1 - r) / n_class)`` at the original recall ``r``: on a small
  validation split a few images must not veto a checkpoint), so that a parity gap cannot be
  "won" by no longer predicting a class.

Among admissible checkpoints (the original, step 0, always is one) the one with the largest
fairness gain ``metric(original) - metric(checkpoint)`` is returned; ties go to the earliest.
The test split never chooses anything.

Whether that gain is more than noise is :meth:`Judge.gain_noise`: twice the standard error of the
gain from a paired bootstrap over the validation images (the original and the chosen checkpoint
are scored on the same resampled images; an image and its counterfactual are resampled together
where the split is paired). A run whose gain is not above it ends ``no_change``; when that noise
is at least half the original gap, the validation split is too small to show a useful cut, and
the message says so (:func:`small_validation_note`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from ..data import ImageData
from ..errors import BamuInputError
from ..metrics import confusion_summary
from ..training import predict
from ._config import ACCURACY_BOUND, SELECTION_METRICS, CommonConfig

__all__ = [
    "SelectionRule",
    "Evaluation",
    "Verdict",
    "Judge",
    "ACCURACY_BOUND",
    "SELECTION_METRICS",
    "SELECTION_KEYS",
    "small_validation_note",
]

#: A noise at least this share of the original gap means the validation split cannot tell a
#: useful cut from chance (a cut of half the gap would not clear it).
SMALL_VALIDATION_SHARE = 0.5


def small_validation_note(noise: float, gap: float | None, group_sizes: dict[str, int], where: str = "") -> str:
    """Why the validation split is too small to judge, or ``""``: when ``noise`` (twice the
    standard error of a gain) is at least :data:`SMALL_VALIDATION_SHARE` of the original ``gap``,
    no cut smaller than ``noise / gap`` of it can be told from chance on these
    ``group_sizes`` (validation images per group; ``where`` says which part of the split they are,
    e.g. ``" in the held-out half"``)."""
    if gap is None or not np.isfinite(gap) or gap <= 0 or noise < SMALL_VALIDATION_SHARE * gap:
        return ""
    fewest = min(group_sizes.values()) if group_sizes else 0
    share = min(noise / gap, 1.0)
    return (
        f"the validation split is too small to judge this gap: {sum(group_sizes.values())} images{where} "
        f"(fewest {fewest} in a group) give a noise of ±{noise:.2f} on a gap of {gap:.2f}, so a cut below "
        f"{share:.0%} of it cannot be told from chance; label more validation images (about "
        f"{_images_needed(noise, gap, fewest)} per group would bring the noise to a quarter of the gap)"
    )


def _images_needed(noise: float, gap: float, fewest: int) -> int:
    """Images per group that bring the noise to a quarter of ``gap`` (noise falls as 1 / sqrt(n))."""
    target = SMALL_VALIDATION_SHARE / 2 * gap
    return int(np.ceil(max(fewest, 1) * (noise / target) ** 2))


#: The hyper-parameters that set the selection rule (:class:`SelectionRule`'s fields by their
#: hyper-parameter names), as opposed to a method's own loop or update settings.
SELECTION_KEYS = (
    "selection_metric",
    "max_accuracy_drop",
    "max_recall_drop",
    "collapse_drop",
    "patience",
    "min_evaluations",
    "noise_factor",
)


@dataclass(frozen=True)
class SelectionRule:
    """How checkpoints are judged on the validation split.

    The defaults are those of :class:`~bamu_core.unlearn._config.CommonConfig` (the one place
    they are set), with ``max_accuracy_drop`` at its intensity-1 value.

    Parameters
    ----------
    metric : str
        The fairness gap to minimise: one of :data:`SELECTION_METRICS`. ``"auto"`` is the
        demographic-parity difference for two classes and the best-minus-worst group accuracy
        gap for more (an unpaired multiclass parity difference, a maximum over classes and
        groups, is dominated by sampling noise on small validation splits; a scenario whose bias
        is a parity gap sets the metric, as ``patch-cifar10`` does). Either is measured on
        matched pairs when the validation split allows it (:attr:`Judge.paired`).
    max_accuracy_drop : float
        Largest admissible fall of validation accuracy below the original's.
    max_recall_drop : float
        Largest admissible fall of any class's validation recall.
    collapse_drop : float
        A fall of validation accuracy larger than this, a fall of retain accuracy larger than this
        while validation accuracy is not above the original's (or there is no validation split),
        or one class taking 95 % of the validation predictions, is a collapse: the run stops with
        status ``diverged``.
    patience : int
        Stop early (status ``stopped_early``) after this many consecutive evaluations without a
        new best checkpoint (inadmissible or no larger gain), once ``min_evaluations`` were made.
    min_evaluations : int
        Evaluations (step 0 not counted) before a run may stop early: on a small validation split
        the gap is noisy, and a flat start must not end the run.
    noise_factor : float
        A checkpoint becomes the new best only when its gain over the original exceeds this many
        standard errors of that gain (a 50-resample paired bootstrap over the validation images,
        as :meth:`Judge.gain_noise`); 0 turns the check off.
    """

    metric: str = CommonConfig.selection_metric
    max_accuracy_drop: float = ACCURACY_BOUND
    max_recall_drop: float = CommonConfig.max_recall_drop
    collapse_drop: float = CommonConfig.collapse_drop
    patience: int = CommonConfig.patience
    min_evaluations: int = CommonConfig.min_evaluations
    noise_factor: float = CommonConfig.noise_factor

    def __post_init__(self):
        if self.metric not in SELECTION_METRICS:
            raise BamuInputError(f"selection metric must be one of {', '.join(SELECTION_METRICS)}, got {self.metric!r}")
        for name in ("max_accuracy_drop", "max_recall_drop", "collapse_drop"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise BamuInputError(f"{name} must be in [0, 1], got {value}")
        if self.patience < 1:
            raise BamuInputError(f"patience must be >= 1, got {self.patience}")
        if self.min_evaluations < 0 or self.noise_factor < 0:
            raise BamuInputError(
                f"min_evaluations and noise_factor must be >= 0, got {self.min_evaluations} and {self.noise_factor}"
            )

    @classmethod
    def for_intensity(cls, intensity: float, hp: dict) -> SelectionRule:
        """The rule of a run at ``intensity`` from its resolved hyper-parameters ``hp``
        (``max_accuracy_drop`` None: ``ACCURACY_BOUND * intensity``)."""
        drop = hp.get("max_accuracy_drop")
        return cls(
            metric=hp.get("selection_metric", cls.metric),
            max_accuracy_drop=ACCURACY_BOUND * intensity if drop is None else float(drop),
            max_recall_drop=float(hp.get("max_recall_drop", cls.max_recall_drop)),
            collapse_drop=float(hp.get("collapse_drop", cls.collapse_drop)),
            patience=int(hp.get("patience", cls.patience)),
            min_evaluations=int(hp.get("min_evaluations", cls.min_evaluations)),
            noise_factor=float(hp.get("noise_factor", cls.noise_factor)),
        )


@dataclass
class Evaluation:
    """Metrics of one checkpoint (``None`` where there is no validation split)."""

    val_acc: float | None = None
    val_dp: float | None = None
    val_fairness: float | None = None
    recalls: np.ndarray | None = None
    top_share: float | None = None
    forget_acc: float | None = None
    retain_acc: float | None = None
    pred: np.ndarray | None = None  # validation predictions (then those of the counterfactuals, if paired)

    def to_json(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("recalls", "pred")}
        out["recalls"] = None if self.recalls is None else [None if r != r else float(r) for r in self.recalls]
        return out


@dataclass
class Verdict:
    """What :meth:`Judge.consider` decided about one checkpoint."""

    best: bool
    stop: bool = False
    collapse: str = ""


@dataclass
class Judge:
    """Evaluates checkpoints and applies a :class:`SelectionRule`.

    ``val`` is used whole. ``forget`` and ``retain`` accuracies (for progress and the collapse
    guard) are the running accuracy of the training batches when the loss function tallies them,
    else measured on fixed random subsets of at most ``eval_size`` images.
    """

    rule: SelectionRule
    val: ImageData | None
    forget: ImageData
    retain: ImageData
    device: torch.device
    seed: int = 0
    eval_size: int = 128
    batch_size: int = 512
    counterfactual_forget: bool = False
    base: Evaluation | None = None
    best_step: int = 0
    best_gain: float = 0.0
    best_eval: Evaluation | None = None
    metric: str = ""  # the resolved selection metric
    noise: float | None = None  # the last gain_noise()
    _stale: int = 0
    _evaluations: int = 0
    _recall_noise: np.ndarray | float = 0.0
    _subsets: dict = field(default_factory=dict)

    @classmethod
    def for_run(cls, ctx, val: ImageData | None) -> Judge:
        """The judge of a run (a :class:`~bamu_core.unlearn._api.RunContext`) on ``val``: its rule,
        splits, device, seed and ``eval_size``; small evaluation batches on a CPU, where they are faster."""
        return cls(
            rule=ctx.rule,
            val=val,
            forget=ctx.forget,
            retain=ctx.retain,
            device=ctx.device,
            seed=ctx.seed,
            eval_size=int(ctx.hp.get("eval_size", 128)),
            batch_size=64 if ctx.device.type == "cpu" else 512,
        )

    def __post_init__(self):
        rng = np.random.default_rng(self.seed + 7)
        for name, data in (("forget", self.forget), ("retain", self.retain)):
            n = len(data)
            self._subsets[name] = (
                np.sort(rng.choice(n, size=min(n, self.eval_size), replace=False)) if n else np.arange(0)
            )

    # -- measuring ------------------------------------------------------------------------
    def _accuracy(self, net: nn.Module, data: ImageData, idx: np.ndarray) -> float | None:
        if len(idx) == 0:
            return None
        pred = predict(net, data, indices=idx, device=self.device, batch_size=self.batch_size).argmax(1).numpy()
        return float((pred == data.labels[idx]).mean())

    def _subset_accuracy(self, net: nn.Module, name: str, measured: dict[str, float]) -> float | None:
        if name in measured:
            return measured[name]
        return self._accuracy(net, self.forget if name == "forget" else self.retain, self._subsets[name])

    @property
    def paired(self) -> bool:
        """Whether fairness is measured on matched pairs: every validation image and its
        counterfactual (the group attribute flipped) are both evaluated, so the two groups hold
        the same content and only the bias attribute differs. This removes the sampling noise of
        comparing two different sets of images (on CIFAR-10 with the patch, 1,000 validation
        images gave an unpaired parity gap of 0.046 against 0.103 on the 10,000 test images; the
        paired estimate was 0.091)."""
        return self.val is not None and self.val.paired

    @property
    def images_per_evaluation(self) -> int:
        """Validation images one evaluation runs through the network (twice the split when paired)."""
        if self.val is None:
            return 0
        return len(self.val) * (2 if self.paired else 1)

    def evaluate(self, net: nn.Module, *, measured: dict[str, float] | None = None) -> Evaluation:
        """Validation metrics, plus forget / retain accuracy: taken from ``measured`` (running
        accuracy of the training batches) where given, else measured on the fixed subsets."""
        measured = measured or {}
        logits = cf_logits = None
        if self.val is not None and len(self.val):
            logits = predict(net, self.val, device=self.device, batch_size=self.batch_size)
            if self.paired:
                cf_logits = predict(net, self.val, device=self.device, batch_size=self.batch_size, counterfactual=True)
        return self.evaluate_logits(
            logits,
            cf_logits=cf_logits,
            forget_acc=self._subset_accuracy(net, "forget", measured),
            retain_acc=self._subset_accuracy(net, "retain", measured),
        )

    def evaluate_logits(
        self,
        val_logits: torch.Tensor | None,
        *,
        cf_logits: torch.Tensor | None = None,
        forget_acc=None,
        retain_acc=None,
    ) -> Evaluation:
        """An :class:`Evaluation` from validation logits (for methods that compute them directly).

        ``cf_logits`` (the counterfactual validation images) are required when :attr:`paired`:
        the fairness gaps are then measured on the validation images and their counterfactuals
        together (each counterfactual in the other group); accuracy and recalls stay those of the
        validation images as they are.
        """
        ev = Evaluation(forget_acc=forget_acc, retain_acc=retain_acc)
        if val_logits is None:
            return ev
        if self.paired and cf_logits is None:
            raise BamuInputError("paired selection needs the logits of the counterfactual validation images")
        k = val_logits.shape[1]
        n_groups = len(self.val.group_names[self.val.group_attr])
        pred = val_logits.argmax(1).numpy()
        own = self._summary(pred, self.val.labels, self.val.groups, n_groups, k)
        s = own
        ev.pred = pred
        if self.paired:
            pred2 = np.concatenate([pred, cf_logits.argmax(1).numpy()])
            ev.pred = pred2
            s = self._summary(
                pred2, np.tile(self.val.labels, 2), np.concatenate([self.val.groups, 1 - self.val.groups]), n_groups, k
            )
        ev.val_acc = float(own["accuracy"])
        ev.val_dp = float(s["demographic_parity_difference"])
        self.metric = (
            self.rule.metric
            if self.rule.metric != "auto"
            else ("demographic_parity_difference" if k == 2 else "accuracy_gap")
        )
        ev.val_fairness = float(s[self.metric])
        ev.recalls = np.asarray(own["per_class_recall"], dtype=float)
        ev.top_share = float(np.bincount(pred, minlength=k).max() / len(pred))
        return ev

    @staticmethod
    def _summary(pred: np.ndarray, labels: np.ndarray, groups: np.ndarray, n_groups: int, k: int) -> dict:
        cell = (groups * k + labels) * k + pred
        conf = np.bincount(cell, minlength=n_groups * k * k).reshape(n_groups, k, k)
        conf = conf[conf.sum(axis=(1, 2)) > 0]  # groups absent from val carry no information
        return confusion_summary(conf)

    def subset(self, name: str) -> np.ndarray:
        """The fixed evaluation subset (indices) of ``"forget"`` or ``"retain"``."""
        return self._subsets[name]

    # -- judging ---------------------------------------------------------------------------
    def start(self, ev: Evaluation) -> None:
        """Record the original model's evaluation (step 0)."""
        self.base = ev
        if ev.recalls is not None:
            n_c = np.bincount(self.val.labels, minlength=len(ev.recalls))[: len(ev.recalls)]
            r0 = np.nan_to_num(ev.recalls, nan=0.5)
            self._recall_noise = 2.0 * np.sqrt(r0 * (1 - r0) / np.maximum(n_c, 1))
        self.best_step, self.best_gain, self.best_eval = 0, 0.0, ev

    def admissible(self, ev: Evaluation) -> bool:
        b, r = self.base, self.rule
        if ev.val_acc is None:
            return True
        if ev.val_acc < b.val_acc - r.max_accuracy_drop - 1e-9:
            return False
        drop = np.nan_to_num(b.recalls - ev.recalls, nan=0.0)
        return not np.any(drop > r.max_recall_drop + self._recall_noise + 1e-9)

    def collapsed(self, ev: Evaluation) -> str:
        b, r = self.base, self.rule
        if ev.val_acc is not None and ev.val_acc < b.val_acc - r.collapse_drop:
            return f"validation accuracy fell from {b.val_acc:.3f} to {ev.val_acc:.3f}"
        val_not_better = ev.val_acc is None or ev.val_acc <= b.val_acc
        if (
            val_not_better
            and ev.retain_acc is not None
            and b.retain_acc is not None
            and ev.retain_acc < b.retain_acc - r.collapse_drop
        ):
            return f"retain accuracy fell from {b.retain_acc:.3f} to {ev.retain_acc:.3f}"
        if ev.top_share is not None and ev.top_share >= 0.95 and b.top_share < 0.9:
            return f"one class takes {ev.top_share:.0%} of the validation predictions"
        return ""

    def consider(self, step: int, ev: Evaluation) -> Verdict:
        """Judge the checkpoint at ``step``: is it the new best, should the run stop?"""
        why = self.collapsed(ev)
        if why:
            return Verdict(best=False, stop=True, collapse=why)
        if self.val is None:  # no selection possible: the latest checkpoint is the result
            self.best_step, self.best_eval = step, ev
            return Verdict(best=True)
        self._evaluations += 1
        gain = self.base.val_fairness - ev.val_fairness
        if (
            self.admissible(ev)
            and gain > self.best_gain + 1e-12
            and (self.rule.noise_factor == 0 or gain > self.rule.noise_factor * self.gain_sd(ev, n_boot=50))
        ):
            self.best_step, self.best_gain, self.best_eval = step, gain, ev
            self._stale = 0
            return Verdict(best=True)
        self._stale += 1
        stop = self._stale >= self.rule.patience and self._evaluations >= self.rule.min_evaluations
        return Verdict(best=False, stop=stop)

    def accept(self, step: int, ev: Evaluation) -> None:
        """Take the checkpoint at ``step`` as the result without judging it (the ``retrain``
        oracle is compared with the original, not selected)."""
        self.best_step, self.best_eval = step, ev

    def gain_noise(self, n_boot: int = 200) -> float:
        """Twice the bootstrap standard error of the chosen checkpoint's fairness gain (when the
        original is the choice: of the original's gap itself; 0.0 without a validation split);
        see :meth:`gain_sd`."""
        self.noise = 2.0 * self.gain_sd(self.best_eval if self.best_step else None, n_boot=n_boot)
        return self.noise

    def gain_sd(self, ev: Evaluation | None, n_boot: int = 200) -> float:
        """The bootstrap standard error of the fairness gain of ``ev`` over the original (``None``:
        of the original's gap itself; 0.0 without a validation split or predictions).

        Validation images are resampled with replacement ``n_boot`` times (seeded); each resample
        scores the original's and the chosen checkpoint's predictions on the same images (each
        image with its counterfactual when :attr:`paired`), so the noise is that of the
        difference, not of either gap alone.
        """
        b, c = self.base, ev
        if self.val is None or b is None or b.pred is None or (c is not None and c.pred is None):
            return 0.0
        n, k = len(self.val), len(b.recalls)
        n_groups = len(self.val.group_names[self.val.group_attr])
        labels, groups = self.val.labels, self.val.groups
        if self.paired:
            labels, groups = np.tile(labels, 2), np.concatenate([groups, 1 - groups])
        rng = np.random.default_rng(self.seed + 11)
        idx = rng.integers(0, n, (n_boot, n))  # the same draws as n_boot successive resamples
        if self.paired:
            idx = np.concatenate([idx, idx + n], axis=1)
        g0 = self._boot_gaps(b.pred, labels, groups, idx, n_groups, k)
        g1 = self._boot_gaps(c.pred, labels, groups, idx, n_groups, k) if c is not None else np.zeros(n_boot)
        keep = (g0 == g0) & (g1 == g1)  # a resample may lack a group: no gap
        gains = (g0 - g1)[keep]
        return float(np.std(gains)) if len(gains) > 1 else 0.0

    def _boot_gaps(self, pred, labels, groups, idx: np.ndarray, n_groups: int, k: int) -> np.ndarray:
        """The selection metric of ``pred`` on every resample (rows of ``idx``), as :meth:`_summary`
        computes it one resample at a time; all resamples that hold every group at once (a resample
        lacking a group takes the one-at-a-time path, which leaves that group out)."""
        cells = (groups[idx] * k + labels[idx]) * k + pred[idx]  # (B, m)
        size = n_groups * k * k
        flat = cells + np.arange(len(idx))[:, None] * size
        conf = np.bincount(flat.ravel(), minlength=len(idx) * size).reshape(len(idx), n_groups, k, k)
        present = conf.sum(axis=(0, 2, 3)) > 0  # groups absent from the whole split carry no information
        conf = conf[:, present]
        full = (conf.sum(axis=(2, 3)) > 0).all(axis=1)
        out = np.full(len(idx), np.nan)
        if full.any():
            out[full] = confusion_summary(conf[full])[self.metric]
        for r in np.flatnonzero(~full):
            i = idx[r]
            out[r] = self._summary(pred[i], labels[i], groups[i], n_groups, k)[self.metric]
        return out

    def summary(self) -> dict:
        """JSON-ready: the rule, the original's and the chosen checkpoint's validation metrics."""
        return {
            "rule": dict(self.rule.__dict__),
            "metric": self.metric,
            "has_val": self.val is not None,
            "original": None if self.base is None else self.base.to_json(),
            "chosen": None if self.best_eval is None else self.best_eval.to_json(),
            "chosen_step": self.best_step,
            "val_gain": self.best_gain,
            "val_gain_noise": self.noise,
            "validation_images": 0 if self.val is None else len(self.val),
            "validation_per_group": {} if self.val is None else self.val.group_sizes(),
        }
