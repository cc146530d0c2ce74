"""Seeded, vectorised, group-stratified bootstrap confidence intervals for every metric.

Resampling the samples of each group with replacement (group sizes fixed) changes only the
group's confusion counts, which then follow a multinomial distribution with the group's observed
cell frequencies. Drawing those counts directly gives exactly the same resamples as drawing
indices, in time independent of the number of samples (and only over the non-empty cells);
every replicate's metrics come from the same vectorised :func:`summary_from_counts` as the
point estimate.
"""

from __future__ import annotations

import numpy as np

from ..errors import BamuInputError
from ._fairness import (
    FAIRNESS_KEYS,
    UTILITY_KEYS,
    _quiet,
    checked_summary,
    summary_from_counts,
)
from ._validation import check_inputs

__all__ = ["bootstrap_confusion", "bootstrap_intervals", "check_bootstrap", "DEFAULT_N_BOOT"]

DEFAULT_N_BOOT = 200


def check_bootstrap(n_boot: int, level: float = 0.95) -> None:
    """Raise ``ValueError`` unless ``n_boot`` is a non-negative integer and ``level`` is in (0, 1)."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise BamuInputError(f"n_boot must be a non-negative integer (0 disables the intervals), got {n_boot!r}")
    if not 0.0 < float(level) < 1.0:
        raise BamuInputError(f"level must be strictly between 0 and 1 (e.g. 0.95), got {level!r}")


def _check_confusion(confusion) -> np.ndarray:
    conf = np.asarray(confusion)
    if conf.ndim != 3 or conf.shape[1] != conf.shape[2]:
        raise BamuInputError(f"confusion must have shape (n_groups, K, K), got {conf.shape}")
    if np.any(conf.reshape(conf.shape[0], -1).sum(axis=1) == 0):
        raise BamuInputError("confusion has a group with no samples")
    return conf.astype(np.int64)


def _group_draws(conf: np.ndarray, n_boot: int, seed: int):
    """For every group: its non-empty cells (true ids, predicted ids) and (n_boot, cells) resampled counts.

    Only non-empty cells can be drawn, so the multinomial runs over those alone.
    """
    rng = np.random.default_rng(seed)
    k = conf.shape[-1]
    for g in range(conf.shape[0]):
        flat = conf[g].ravel()
        cells = np.flatnonzero(flat)
        n = int(flat.sum())
        draws = rng.multinomial(n, flat[cells] / n, size=n_boot)
        yield g, cells // k, cells % k, draws


def bootstrap_confusion(confusion, *, n_boot: int = DEFAULT_N_BOOT, seed: int = 0) -> np.ndarray:
    """Group-stratified bootstrap resamples of per-group confusion counts.

    Parameters
    ----------
    confusion : array-like of int, shape (n_groups, K, K)
        Observed counts ``C[g, t, p]``; every group non-empty.
    n_boot : int, default 200
        Number of resamples.
    seed : int, default 0
        Seed of the random generator (same seed, same resamples, the same ones
        :func:`bootstrap_intervals` uses).

    Returns
    -------
    numpy.ndarray of int64, shape (n_boot, n_groups, K, K)
        Each resample keeps every group's size.
    """
    check_bootstrap(n_boot, 0.5)
    conf = _check_confusion(confusion)
    out = np.zeros((n_boot, *conf.shape), dtype=np.int64)
    for g, t, p, draws in _group_draws(conf, n_boot, seed):
        out[:, g, t, p] = draws
    return out


def _bootstrap_margins(conf: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resampled (tp, true counts, predicted counts), each (n_boot, n_groups, K), without K x K arrays."""
    g_n, k, _ = conf.shape
    tp, true_c, pred_c = (np.zeros((n_boot, g_n, k)) for _ in range(3))
    offsets = (np.arange(n_boot) * k)[:, None]

    def per_class(ids: np.ndarray, weights: np.ndarray) -> np.ndarray:  # sum weights by class, per resample
        return np.bincount((offsets + ids).ravel(), weights=weights.ravel(), minlength=n_boot * k).reshape(n_boot, k)

    for g, t, p, draws in _group_draws(conf, n_boot, seed):
        true_c[:, g] = per_class(t, draws)
        pred_c[:, g] = per_class(p, draws)
        tp[:, g] = per_class(t, draws * (t == p))
    return tp, true_c, pred_c


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
    check_bootstrap(n_boot, level)
    keys = (*UTILITY_KEYS, *FAIRNESS_KEYS, "per_class_dp", "per_class_recall", "group_accuracy")
    meta = {
        "n_boot": int(n_boot),
        "level": float(level),
        "seed": int(seed),
        "method": "group-stratified percentile bootstrap",
    }
    if n_boot == 0:
        return {
            "utility": {},
            "fairness": {},
            "per_class_dp": [],
            "per_class_recall": [],
            "group_accuracy": [],
            "bootstrap": meta,
        }
    tp, true_c, pred_c = _bootstrap_margins(_check_confusion(confusion), n_boot, seed)
    rep = summary_from_counts(tp, true_c, pred_c, zero_division=zero_division)
    ci = {key: _pairs(*_interval(rep[key], summary[key], level)) for key in keys}
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
    check_bootstrap(n_boot, level)
    chk = check_inputs(y_true=y_true, y_pred=y_pred, groups=groups, group_names=group_names, num_classes=num_classes)
    conf, summary = checked_summary(chk, zero_division=zero_division)
    return intervals_from_confusion(conf, summary, n_boot=n_boot, level=level, seed=seed, zero_division=zero_division)
