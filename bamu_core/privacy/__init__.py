"""Membership-inference attacks on a forget set (loss threshold; SalUn's MIA-efficacy)."""

from ._attacks import (
    ATTACKS,
    ModelOutputs,
    loss_threshold_attack,
    membership_inference,
    mia_efficacy,
    model_outputs,
)
from ._features import FEATURE_NAMES, attack_features, per_sample_loss

__all__ = [
    "ModelOutputs",
    "model_outputs",
    "attack_features",
    "per_sample_loss",
    "FEATURE_NAMES",
    "loss_threshold_attack",
    "mia_efficacy",
    "membership_inference",
    "ATTACKS",
]
