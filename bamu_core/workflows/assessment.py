"""Before / after assessment of an unlearned model: audits, privacy, radar axes and score."""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch.nn as nn

from .._compat import on_device, pick_device
from ..errors import BamuInputError
from ..results import (
    AuditResult,
    ForgetSummary,
    MIAResult,
    PrivacyComparison,
    RadarAxes,
    RadarPair,
    UnlearnReport,
)
from .auditing import audit
from .inspection import inspect_unlearning
from .subject import Subject, dataset_card, model_card

__all__ = ["evaluate_unlearning", "assess", "Assessment"]


@dataclass
class Assessment:
    """The measurements of an unlearned model against the original (see :func:`assess`).

    ``artifacts`` holds the Grad-CAM strips as PNG bytes (``gradcam_before.png``,
    ``gradcam_after.png``) when they were made.
    """

    before: AuditResult
    after: AuditResult
    forget_accuracy_before: float
    forget_accuracy_after: float
    privacy: PrivacyComparison
    radar: RadarPair
    score: float
    dataset: dict
    model_card: dict
    environment: dict
    gradcam: dict | None
    timings: dict[str, float]
    artifacts: dict[str, bytes] = field(default_factory=dict)

    def store_artifacts(self, unlearned: nn.Module) -> dict:
        """What the run store keeps of the run: weights, both audits, the Grad-CAM strips."""
        return {
            "unlearned.safetensors": unlearned,
            "audit_before.json": self.before.to_json(),
            "audit_after.json": self.after.to_json(),
            **self.artifacts,
        }


def assess(
    subject: Subject,
    *,
    unlearned: nn.Module,
    forget_indices,
    retain_indices=None,
    before: AuditResult | None = None,
    after: AuditResult | None = None,
    seconds: float,
    reference_forget_accuracy: float | None = None,
    reference_gap: float | None = None,
    retrain_seconds: float | None = None,
    device: str | None = None,
    seed: int = 0,
    mia_samples: int = 2000,
    gradcam_images: int = 8,
    insight=None,
) -> Assessment:
    """Privacy, radar, score (and the audits if not given) of an unlearned model vs the original.

    The membership-inference attacks compare the forget set with test images of the same classes
    and groups (:func:`bamu_core.privacy.membership_inference`); ``reference_gap`` (the retrain
    oracle's demographic parity difference) is the fairness axis's target, 0 when not given.
    """
    from ..explain import gradcam_strip, one_per_group
    from ..privacy import membership_inference, model_outputs
    from ..report import environment_info
    from ..scoring import SCORING_VERSION, composite_score, legacy_composite_score, legacy_radar_axes, radar_axes

    sc = subject.scenario
    train = sc.train
    forget_idx = np.unique(np.asarray(forget_indices, dtype=np.int64))
    if len(forget_idx) < 2:
        raise BamuInputError(f"forget_indices needs at least 2 training samples, got {len(forget_idx)}")
    if forget_idx[0] < 0 or forget_idx[-1] >= len(train):
        raise BamuInputError(f"forget_indices must lie in 0..{len(train) - 1}")
    if retain_indices is None:
        retain_idx = np.setdiff1d(np.arange(len(train)), forget_idx)
    else:
        retain_idx = np.asarray(retain_indices, dtype=np.int64)
    if len(retain_idx) > mia_samples:
        retain_idx = np.sort(np.random.default_rng(seed).choice(retain_idx, size=mia_samples, replace=False))
    dev = pick_device(device)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    if before is None:
        before = audit(subject, device=device, seed=seed, saliency_per_group=0, insight=insight)
        timings["audit_before"] = time.perf_counter() - t0
    if after is None:
        t0 = time.perf_counter()
        after = audit(
            replace(subject, model=unlearned), device=device, seed=seed, saliency_per_group=0, insight=insight
        )
        timings["audit_after"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    outputs = {}
    for name, model in (("before", subject.model), ("after", unlearned)):
        with on_device(model, dev) as model:
            outputs[name] = {
                "forget": model_outputs(model, train, indices=forget_idx, device=dev),
                "retain": model_outputs(model, train, indices=retain_idx, device=dev),
                "test": model_outputs(model, sc.test, device=dev),
            }
    forget_acc = {k: float((o["forget"].logits.argmax(1) == o["forget"].labels).mean()) for k, o in outputs.items()}
    groups = {"forget_groups": train.groups[forget_idx], "test_groups": sc.test.groups}
    mia = {k: membership_inference(**o, **groups, seed=seed, max_samples=mia_samples) for k, o in outputs.items()}
    for m in mia.values():  # the scored forget images' indices into the training split (for the image grid)
        m["scores"]["train_index"] = forget_idx[np.asarray(m["scores"]["member_index"], dtype=np.int64)].tolist()
    timings["privacy"] = time.perf_counter() - t0

    efficiency = retrain_seconds is not None
    radar = {
        name: radar_axes(
            audit=audit_,
            original_audit=before,
            forget_accuracy=forget_acc[name],
            privacy=mia[name],
            reference_forget_accuracy=reference_forget_accuracy,
            reference_gap=reference_gap,
            seconds=(0.0 if name == "before" else float(seconds)) if efficiency else None,
            retrain_seconds=retrain_seconds,
        )
        for name, audit_ in (("before", before), ("after", after))
    }
    legacy = {
        name: legacy_composite_score(
            legacy_radar_axes(
                audit=audit_,
                original_audit=before,
                forget_accuracy=forget_acc[name],
                privacy=mia[name],
                reference_forget_accuracy=reference_forget_accuracy,
            )
        )
        for name, audit_ in (("before", before), ("after", after))
    }

    artifacts: dict = {}
    gradcam = None
    if gradcam_images and importlib.util.find_spec("captum") is None:
        gradcam = {"skipped": "captum is not installed (pip install captum) so no Grad-CAM images were made"}
    elif gradcam_images:
        t0 = time.perf_counter()
        picks = one_per_group(sc.test, gradcam_images, seed)
        artifacts["gradcam_before.png"] = gradcam_strip(subject.model, sc.test, picks, device=dev)
        artifacts["gradcam_after.png"] = gradcam_strip(unlearned, sc.test, picks, device=dev)
        names = sc.test.group_names[sc.test.group_attr]
        shown = ", ".join(f"{names[sc.test.groups[i]]} {sc.class_names[sc.test.labels[i]]}" for i in picks)
        gradcam = {
            "test_indices": picks.tolist(),
            "files": ["gradcam_before.png", "gradcam_after.png"],
            "caption": f"The same {len(picks)} test images for both models, left to right "
            f"({sc.test.group_attr} and class): {shown}. Red = the regions that drive the predicted class (Grad-CAM).",
        }
        timings["gradcam"] = time.perf_counter() - t0

    return Assessment(
        before=before,
        after=after,
        forget_accuracy_before=forget_acc["before"],
        forget_accuracy_after=forget_acc["after"],
        privacy=PrivacyComparison(
            mia_before=MIAResult.from_json(mia["before"]), mia_after=MIAResult.from_json(mia["after"])
        ),
        radar=RadarPair(
            before=RadarAxes.from_json(radar["before"]),
            after=RadarAxes.from_json(radar["after"]),
            scoring=SCORING_VERSION,
            score_before=composite_score(radar["before"]),
            legacy_score_before=legacy["before"],
            legacy_score_after=legacy["after"],
        ),
        score=composite_score(radar["after"]),
        dataset=dataset_card(sc),
        model_card=model_card(subject, dev),
        environment=environment_info(device),
        gradcam=gradcam,
        timings=timings,
        artifacts=artifacts,
    )


def evaluate_unlearning(
    subject: Subject,
    *,
    unlearned: nn.Module,
    forget_indices,
    retain_indices=None,
    method: str,
    intensity: float,
    seconds: float,
    status: str = "ok",
    message: str = "",
    settings: dict | None = None,
    forget_info: dict | None = None,
    before: AuditResult | None = None,
    reference_forget_accuracy: float | None = None,
    reference_gap: float | None = None,
    retrain_seconds: float | None = None,
    device: str | None = None,
    seed: int = 0,
    mia_samples: int = 2000,
    gradcam_images: int = 8,
    store=None,
    config: dict | None = None,
    insight=None,
) -> UnlearnReport:
    """Measure a model unlearned elsewhere against the original and (optionally) store the run.

    :func:`unlearn` does the same for the registered methods; this is for a model from anywhere.
    Both models run once over the forget set, a retain sample (at most ``mia_samples``) and the
    test split; from those outputs come the forget-set accuracies and the membership-inference
    attacks against class-matched test images (:func:`bamu_core.privacy.membership_inference`).
    Test audits come from :func:`audit`.
    The radar axes and the composite score are :mod:`bamu_core.scoring`'s.

    Parameters
    ----------
    subject : Subject
        The original model and its scenario (the model is not changed).
    unlearned : torch.nn.Module
        The model after unlearning.
    forget_indices, retain_indices : array-like of int
        Indices into ``subject.scenario.train``; retain defaults to the complement.
    method, intensity, seconds, status, message, settings :
        How the unlearned model was made (reported as given; ``seconds`` = unlearning wall time).
    forget_info : dict, optional
        Extra facts about the forget set for the report (``strategy``, ``description``).
    before : AuditResult, optional
        The original model's test audit if already computed.
    reference_forget_accuracy : float, optional
        The retrain oracle's accuracy on the forget set (default reference: test accuracy).
    reference_gap : float, optional
        The retrain oracle's demographic parity difference: the fairness axis's target (default 0).
    retrain_seconds : float, optional
        Time to retrain from scratch; adds the efficiency axis.
    store : RunStore or None
        Where to save the run (weights, audits, Grad-CAM strips); ``None`` saves nothing.
    config : dict, optional
        What the run store keeps as the run's configuration (default: scenario, method, intensity).
    insight : InsightOptions, optional
        The views inside the model, as for :func:`unlearn` (default: leakage, cohorts and
        representation on, relearning off; see ``docs/insight.md``).

    Returns
    -------
    UnlearnReport
        Both audits, the forget set, privacy, radar, score, the dataset and model cards, settings,
        Grad-CAM, timings and environment; ``run_id`` is ``None`` when not stored.
    """
    parts = assess(
        subject,
        unlearned=unlearned,
        forget_indices=forget_indices,
        retain_indices=retain_indices,
        before=before,
        seconds=seconds,
        reference_forget_accuracy=reference_forget_accuracy,
        reference_gap=reference_gap,
        retrain_seconds=retrain_seconds,
        device=device,
        seed=seed,
        mia_samples=mia_samples,
        gradcam_images=gradcam_images,
        insight=insight,
    )
    timings = {"unlearning": float(seconds), **parts.timings}
    leak, rep, relearn = inspect_unlearning(
        subject, unlearned, options=insight, device=device, seed=seed, timings=timings
    )
    info = dict(forget_info or {})
    report = UnlearnReport(
        method=method,
        intensity=float(intensity),
        before=parts.before,
        after=parts.after,
        forget=ForgetSummary(
            n=int(len(np.unique(np.asarray(forget_indices)))),
            accuracy_before=parts.forget_accuracy_before,
            accuracy_after=parts.forget_accuracy_after,
            reference_accuracy=reference_forget_accuracy,
            strategy=info.pop("strategy", None),
            description=info.pop("description", None),
            extra=info,
        ),
        seconds=float(seconds),
        status=status,
        message=message,
        privacy=parts.privacy,
        radar=parts.radar,
        score=parts.score,
        dataset=parts.dataset,
        model_card=parts.model_card,
        settings=dict(settings or {}),
        gradcam=parts.gradcam,
        timings=timings,
        environment=parts.environment,
        leakage=leak,
        representation=rep,
        relearning=relearn,
        model=unlearned,
    )
    if store is not None:
        run_id = store.new_run_id()
        report.run_id = run_id
        store.save(
            kind="unlearn",
            run_id=run_id,
            result=report.to_json(),
            artifacts=parts.store_artifacts(unlearned),
            config=config
            or {"scenario": subject.scenario.name, "method": method, "intensity": float(intensity), "seed": seed},
        )
    return report
