"""Per-sample features an attacker can read from a model's output: loss, entropy, margin."""

from __future__ import annotations

import numpy as np

from ..errors import BamuInputError

__all__ = ["attack_features", "per_sample_loss", "FEATURE_NAMES"]

FEATURE_NAMES = ("loss", "entropy", "margin")


def _as_logits_and_labels(logits, labels) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(logits.detach().cpu() if hasattr(logits, "detach") else logits, dtype=np.float64)
    y = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise BamuInputError(f"logits must have shape (n, num_classes >= 2), got {x.shape}")
    if y.shape != (x.shape[0],):
        raise BamuInputError(f"labels must have one entry per row of logits ({x.shape[0]}), got shape {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= x.shape[1]):
        raise BamuInputError(f"labels must lie in [0, {x.shape[1] - 1}]")
    if not np.isfinite(x).all():
        raise BamuInputError("logits contain NaN or infinite values")
    return x, y


def _log_softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def per_sample_loss(logits, labels) -> np.ndarray:
    """Cross-entropy of every sample (natural log), from logits of shape (n, k) and labels (n,)."""
    x, y = _as_logits_and_labels(logits, labels)
    return -_log_softmax(x)[np.arange(len(y)), y]


def attack_features(logits, labels) -> np.ndarray:
    """The attack features of every sample, shape (n, 3): see :data:`FEATURE_NAMES`.

    - ``loss``: cross-entropy of the true label, ``-log p_y``;
    - ``entropy``: Shannon entropy of the predicted distribution (nats);
    - ``margin``: true-class logit minus the largest other logit (the logit-scaled confidence
      of Carlini et al.'s LiRA, without the shadow models).

    Parameters
    ----------
    logits : array-like or torch.Tensor of shape (n, num_classes)
    labels : array-like of int, shape (n,)
    """
    x, y = _as_logits_and_labels(logits, labels)
    logp = _log_softmax(x)
    rows = np.arange(len(y))
    loss = -logp[rows, y]
    entropy = -(np.exp(logp) * logp).sum(axis=1)
    other = x.copy()
    other[rows, y] = -np.inf
    margin = x[rows, y] - other.max(axis=1)
    return np.stack([loss, entropy, margin], axis=1)
