"""Membership-inference attacks on a forget set (loss threshold, class-matched; SalUn's MIA-efficacy)."""

from ._attacks import (
    ATTACKS,
    ModelOutputs,
    loss_threshold_attack,
    membership_inference,
    mia_efficacy,
    model_outputs,
)
from ._features import FEATURE_NAMES, attack_features, per_sample_loss
from ._matched import auc_from_scores, class_matched_attack, matched_indices
from ._threshold import ThresholdPoint, at_threshold, worst_case

__all__ = [
    "ModelOutputs",
    "model_outputs",
    "attack_features",
    "per_sample_loss",
    "FEATURE_NAMES",
    "loss_threshold_attack",
    "class_matched_attack",
    "matched_indices",
    "auc_from_scores",
    "ThresholdPoint",
    "at_threshold",
    "worst_case",
    "mia_efficacy",
    "membership_inference",
    "ATTACKS",
]
