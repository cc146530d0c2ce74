"""An unlearning run's measurements as a typed result (:class:`UnlearnReport`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._audit import AuditResult, Interval
from ._insight import Leakage, Relearning, Representation
from ._pairs import CounterfactualPairs
from ._record import Record, nested, optional

__all__ = ["MIAScores", "MIAResult", "PrivacyComparison", "RadarAxes", "RadarPair", "ForgetSummary", "UnlearnReport"]


@dataclass
class MIAScores(Record):
    """The class-matched attack's per-sample scores (:func:`bamu_core.privacy.class_matched_attack`).

    A score is ``-loss`` (the cross-entropy of the true class): higher means the attack is surer the
    image was trained on, and it predicts "member" when the score is at or above its threshold
    (:func:`bamu_core.privacy.at_threshold`). ``member`` are the forget images' scores,
    ``nonmember`` those of the class-matched test images (at most the attack's ``max_samples``
    each); ``member_index`` is each member score's position in the forget set and ``train_index``
    (when known) its index into the training split, in the same order as ``member``.
    """

    member: list[float] = field(default_factory=list)
    nonmember: list[float] = field(default_factory=list)
    member_index: list[int] = field(default_factory=list)
    train_index: list[int] | None = optional()


@dataclass
class MIAResult(Record):
    """Membership inference on the forget set (:func:`bamu_core.privacy.membership_inference`).

    ``auc`` (with its bootstrap ``auc_ci``), ``tpr_at_1pct_fpr`` and ``advantage`` come from the
    loss-threshold attack against class-matched test images (``matching`` says how; ``n_pairs``
    samples per side; ``scores`` its per-sample scores, absent in older documents); the
    ``*_vs_all_test`` numbers from the same attack against the whole test split (not
    class-matched); ``efficacy`` and ``attack_accuracy`` from SalUn's attack.

    Documents written before the class-matched attack (no ``matching``) hold the forget-vs-all-test
    numbers under ``auc``, ``tpr_at_1pct_fpr`` and ``advantage``; they load unchanged, and
    :meth:`measure` reads them by what they are.
    """

    auc: float | None = None
    auc_ci: Interval | None = nested(Interval, default=None, omit_none=True)
    tpr_at_1pct_fpr: float | None = None
    advantage: float | None = None
    matching: str | None = optional()
    auc_vs_all_test: float | None = optional()
    tpr_at_1pct_fpr_vs_all_test: float | None = optional()
    advantage_vs_all_test: float | None = optional()
    efficacy: float | None = None
    attack_accuracy: float | None = None
    n_forget: int | None = None
    n_test: int | None = None
    n_pairs: int | None = None
    n_shadow: int | None = None
    attack: str | None = None
    seed: int | None = None
    scores: MIAScores | None = nested(MIAScores, default=None, omit_none=True)

    @property
    def class_matched(self) -> bool:
        """Whether ``auc``, ``tpr_at_1pct_fpr`` and ``advantage`` are of the class-matched attack."""
        return self.matching is not None

    def measure(self, key: str):
        """The field ``key`` by its meaning: in a document from before the class-matched attack,
        ``auc`` / ``tpr_at_1pct_fpr`` / ``advantage`` (and their ``_ci``) are ``None`` and the
        ``*_vs_all_test`` keys read the stored forget-vs-all-test numbers."""
        if not self.class_matched:
            if key in _MATCHED:
                return None
            if key.endswith(_ALL_TEST) and getattr(self, key, None) is None:
                return getattr(self, key[: -len(_ALL_TEST)], None)
        return getattr(self, key, None)


_ALL_TEST = "_vs_all_test"
_MATCHED = ("auc", "auc_ci", "tpr_at_1pct_fpr", "advantage")


@dataclass
class PrivacyComparison(Record):
    mia_before: MIAResult | None = nested(MIAResult, default=None)
    mia_after: MIAResult | None = nested(MIAResult, default=None)


@dataclass
class RadarAxes(Record):
    """The radar axes of one model, each in [0, 1] (see :mod:`bamu_core.scoring`)."""

    utility: float | None = None
    fairness: float | None = None
    forgetting: float | None = None
    privacy: float | None = None
    efficiency: float | None = optional()

    def present(self) -> dict[str, float]:
        """The axes that have a value, in the radar's order."""
        from ..scoring import AXES

        return {a: getattr(self, a) for a in AXES if getattr(self, a, None) is not None}


@dataclass
class RadarPair(Record):
    """The radar of the original model (``before``) and of the unlearned one (``after``).

    ``scoring`` names the definition of the axes (:data:`bamu_core.scoring.SCORING_VERSION`);
    documents without it were written with the earlier, absolute axes, whose composite was
    their mean. ``score_before`` is the original model's composite; ``legacy_score_before`` /
    ``legacy_score_after`` the earlier composite of both (:func:`bamu_core.scoring.legacy_composite_score`),
    kept for comparison.
    """

    before: RadarAxes | None = nested(RadarAxes, default=None)
    after: RadarAxes | None = nested(RadarAxes, default=None)
    scoring: str | None = optional()
    score_before: float | None = optional()
    legacy_score_before: float | None = optional()
    legacy_score_after: float | None = optional()


@dataclass
class ForgetSummary(Record):
    """The forget set: its size and strategy, and both models' accuracy on it."""

    n: int = 0
    accuracy_before: float | None = None
    accuracy_after: float | None = None
    reference_accuracy: float | None = None
    strategy: str | None = None
    description: str | None = None
    retain_n: int | None = optional()


@dataclass
class UnlearnReport(Record):
    """What an unlearning run measured: both audits, the forget set, privacy, radar and score.

    ``score`` is :func:`bamu_core.scoring.composite_score` of the radar after; ``radar`` also
    says which definition made it (``radar.scoring``) and holds the original model's score and
    the legacy composites (see :class:`RadarPair`).

    Made by :func:`bamu_core.workflows.unlearn` (which also fills the run's ``chosen_step``,
    ``steps``, ``hyperparameters``, ``selection`` and ``history``) and
    :func:`bamu_core.workflows.evaluate_unlearning`; stored as JSON by the run store and read back
    with :meth:`from_json`. ``model``, ``result`` (the method's
    :class:`~bamu_core.unlearn.UnlearnResult`) and ``forget_set`` are set on a fresh run only and
    never written to JSON.
    """

    versioned = True

    run_id: str | None = None
    method: str = ""
    intensity: float = 0.0
    before: AuditResult | None = nested(AuditResult, default=None)
    after: AuditResult | None = nested(AuditResult, default=None)
    forget: ForgetSummary = nested(ForgetSummary, default=None)
    seconds: float = 0.0
    status: str = "ok"
    message: str = ""
    chosen_step: int | None = None
    steps: int | None = None
    hyperparameters: dict = field(default_factory=dict)
    selection: dict | None = None
    search: dict | None = optional()  # method "auto": the candidates it tried (AutoSearch.to_json())
    history: list[dict] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    privacy: PrivacyComparison = nested(PrivacyComparison, default=None)
    radar: RadarPair = nested(RadarPair, default=None)
    score: float | None = None
    dataset: dict = field(default_factory=dict)
    model_card: dict = field(default_factory=dict)
    gradcam: dict | None = None
    environment: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    # views inside the model (bamu_core.insight); absent when switched off or from older documents
    leakage: Leakage | None = nested(Leakage, default=None, omit_none=True)
    representation: Representation | None = nested(Representation, default=None, omit_none=True)
    relearning: Relearning | None = nested(Relearning, default=None, omit_none=True)
    pairs: CounterfactualPairs | None = nested(CounterfactualPairs, default=None, omit_none=True)
    model: Any = field(default=None, repr=False, compare=False, metadata={"skip": True})
    result: Any = field(default=None, repr=False, compare=False, metadata={"skip": True})
    forget_set: Any = field(default=None, repr=False, compare=False, metadata={"skip": True})

    def __post_init__(self) -> None:
        if self.forget is None:
            self.forget = ForgetSummary()
        if self.privacy is None:
            self.privacy = PrivacyComparison()
        if self.radar is None:
            self.radar = RadarPair()

    def to_json(self) -> dict:
        doc = super().to_json()
        # the model card is written under "model" (the JSON's name); the attribute ``model`` is the network
        card = doc.pop("model_card")
        out: dict = {}
        for k, v in doc.items():
            out[k] = v
            if k == "dataset":
                out["model"] = card
        out.setdefault("model", card)
        return out

    @classmethod
    def from_json(cls, doc) -> UnlearnReport:
        if isinstance(doc, cls):
            return doc
        doc = dict(doc)
        card = doc.pop("model", None)
        if isinstance(card, dict):
            doc["model_card"] = card
        return super().from_json(doc)
