"""Seeded, vectorised, group-stratified bootstrap confidence intervals for every metric.

Resampling the samples of each group with replacement (group sizes fixed) changes only the
group's confusion counts, which then follow a multinomial distribution with the group's observed
cell frequencies. Drawing those counts directly gives exactly the same resamples as drawing
indices, in time independent of the number of samples; every replicate's metrics come from the
same vectorised :func:`confusion_summary` as the point estimate.
"""
from __future__ import annotations

import numpy as np

from ._fairness import FAIRNESS_KEYS, UTILITY_KEYS, _quiet, checked_summary, confusion_summary
from ._validation import check_inputs

__all__ = ["bootstrap_confusion", "bootstrap_intervals", "DEFAULT_N_BOOT"]

DEFAULT_N_BOOT = 200
_CHUNK_CELLS = 4_000_000  # resamples x groups x K x K held at once


def _check_boot(n_boot: int, level: float) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer (0 disables the intervals), got {n_boot!r}")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be strictly between 0 and 1 (e.g. 0.95), got {level!r}")


def bootstrap_confusion(confusion, *, n_boot: int = DEFAULT_N_BOOT, seed: int = 0) -> np.ndarray:
    """Group-stratified bootstrap resamples of per-group confusion counts.

    Parameters
    ----------
    confusion : array-like of int, shape (n_groups, K, K)
        Observed counts ``C[g, t, p]``; every group non-empty.
    n_boot : int, default 200
        Number of resamples.
    seed : int, default 0
        Seed of the random generator (same seed, same resamples).

    Returns
    -------
    numpy.ndarray of int64, shape (n_boot, n_groups, K, K)
        Each resample keeps every group's size.
    """
    _check_boot(n_boot, 0.5)
    conf = np.asarray(confusion)
    if conf.ndim != 3 or conf.shape[1] != conf.shape[2]:
        raise ValueError(f"confusion must have shape (n_groups, K, K), got {conf.shape}")
    g, k, _ = conf.shape
    flat = conf.reshape(g, k * k).astype(np.int64)
    n = flat.sum(axis=1)
    if np.any(n == 0):
        raise ValueError("confusion has a group with no samples")
    p = flat / n[:, None]
    draws = np.random.default_rng(seed).multinomial(n, p, size=(n_boot, g))
    return draws.reshape(n_boot, g, k, k)


def _interval(reps: np.ndarray, est: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = (1.0 - level) / 2.0
    lo, hi = _quiet(np.nanquantile, reps, [alpha, 1.0 - alpha], axis=0)
    # A max-minus-min gap is biased upwards under resampling: near zero the whole bootstrap
    # distribution can sit above the estimate. Extend the interval to the estimate then.
    return np.fmin(lo, est), np.fmax(hi, est)


def _pairs(lo, hi) -> dict | list:
    def one(a, b):
        a, b = float(a), float(b)
        return {"low": None if np.isnan(a) else a, "high": None if np.isnan(b) else b}

    if np.ndim(lo) == 0:
        return one(lo, hi)
    return [one(a, b) for a, b in zip(np.ravel(lo), np.ravel(hi))]


def intervals_from_confusion(
    confusion: np.ndarray,
    summary: dict[str, np.ndarray],
    *,
    n_boot: int,
    level: float,
    seed: int,
    zero_division: float,
) -> dict:
    """Percentile intervals for the utility, fairness and per-class metrics of ``summary``."""
    _check_boot(n_boot, level)
    keys = (*UTILITY_KEYS, *FAIRNESS_KEYS, "per_class_dp", "per_class_recall", "group_accuracy")
    meta = {"n_boot": int(n_boot), "level": float(level), "seed": int(seed), "method": "group-stratified percentile bootstrap"}
    if n_boot == 0:
        return {"utility": {}, "fairness": {}, "per_class_dp": [], "per_class_recall": [], "group_accuracy": [], "bootstrap": meta}
    g, k, _ = confusion.shape
    per_chunk = max(1, _CHUNK_CELLS // (g * k * k))
    resamples = bootstrap_confusion(confusion, n_boot=n_boot, seed=seed)
    parts: dict[str, list[np.ndarray]] = {key: [] for key in keys}
    for start in range(0, n_boot, per_chunk):
        rep = confusion_summary(resamples[start : start + per_chunk], zero_division=zero_division)
        for key in keys:
            parts[key].append(rep[key])
    ci = {key: _pairs(*_interval(np.concatenate(parts[key]), summary[key], level)) for key in keys}
    return {
        "utility": {key: ci[key] for key in UTILITY_KEYS},
        "fairness": {key: ci[key] for key in FAIRNESS_KEYS},
        "per_class_dp": ci["per_class_dp"],
        "per_class_recall": ci["per_class_recall"],
        "group_accuracy": ci["group_accuracy"],
        "bootstrap": meta,
    }


def bootstrap_intervals(
    *,
    y_true,
    y_pred,
    groups,
    group_names: list[str] | None = None,
    num_classes: int | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    level: float = 0.95,
    seed: int = 0,
    zero_division: float = 0.0,
) -> dict:
    """Bootstrap confidence intervals of every utility and fairness metric.

    Each group is resampled with replacement at its own size (so no resample loses a group), all
    ``n_boot`` resamples at once; the interval is the ``level`` percentile interval of the
    resampled metric, extended to contain the point estimate where the upward bias of a
    max-minus-min gap pushes the whole resampled distribution above it (gaps near zero).

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
        True and predicted class ids.
    groups : array-like, shape (n,)
        Group ids indexing ``group_names``, or any values when ``group_names`` is omitted.
    group_names : list of str, optional
        Names of the group ids.
    num_classes : int, optional
        Number of classes (default: inferred).
    n_boot : int, default 200
        Number of resamples; 0 returns empty intervals.
    level : float, default 0.95
        Coverage of the interval.
    seed : int, default 0
        Random seed; the same seed gives the same intervals.
    zero_division : float, default 0.0
        Value of a rate with an empty denominator.

    Returns
    -------
    dict
        ``{"utility": {key: {"low", "high"}}, "fairness": {key: {"low", "high"}}, "per_class_dp":
        [{"low", "high"}, ...], "per_class_recall": [...], "group_accuracy": [...] (one per group),
        "bootstrap": {"n_boot", "level", "seed", "method"}}``.

    Raises
    ------
    ValueError
        Bad inputs (see :func:`group_metrics`), a negative ``n_boot`` or ``level`` outside (0, 1).
    """
    _check_boot(n_boot, level)
    chk = check_inputs(y_true=y_true, y_pred=y_pred, groups=groups, group_names=group_names, num_classes=num_classes)
    conf, summary = checked_summary(chk, zero_division=zero_division)
    return intervals_from_confusion(conf, summary, n_boot=n_boot, level=level, seed=seed, zero_division=zero_division)
