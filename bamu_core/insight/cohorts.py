"""Error-analysis cohorts: the slices of the data (column = value, and pairs of them) where a model fails.

Every slice of at least ``min_size`` images is tested against the rest: its accuracy with a Wilson
interval, the gap to the rest's accuracy, a two-sided p-value (Fisher's exact test on the 2 x 2
table correct/wrong x in/out of the slice; the two-proportion z-test above 5,000 images), and
Benjamini-Hochberg q-values over every slice tested. Slices holding exactly the same images as
an earlier one (e.g. ``class=3`` and ``digit=3``) are tested once, under the simpler name. The
``k`` worst significant slices (largest negative gap, q < ``alpha``) are reported.
"""

from __future__ import annotations

from itertools import combinations
from typing import Mapping, Sequence

import numpy as np

from ..errors import BamuInputError
from ..results import Cohort, Cohorts, Interval

__all__ = ["benjamini_hochberg", "wilson_interval", "find_cohorts", "data_columns", "cohorts_reading"]

#: Above this many images the p-values come from the two-proportion z-test instead of Fisher's.
FISHER_MAX_N = 5000


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order, capped at 1."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="mergesort")
    scaled = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float] | tuple[None, None]:
    """Wilson score interval of a proportion (``(None, None)`` when ``n`` is 0)."""
    if n <= 0:
        return None, None
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2.0))
    phat = successes / n
    denom = 1.0 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * np.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def _p_value(a: int, n_in: int, b: int, n_out: int, fisher: bool) -> float:
    """Two-sided p-value that the slice (``a`` of ``n_in`` correct) and the rest (``b`` of ``n_out``) differ."""
    from scipy import stats

    if fisher:
        return float(stats.fisher_exact([[a, n_in - a], [b, n_out - b]])[1])
    pooled = (a + b) / (n_in + n_out)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_in + 1 / n_out))
    if se == 0:
        return 1.0
    z = (a / n_in - b / n_out) / se
    return float(2 * stats.norm.sf(abs(z)))


def data_columns(data) -> dict[str, tuple[np.ndarray, list[str]]]:
    """The metadata columns of an :class:`~bamu_core.data.ImageData`: ``class`` (the true label)
    and every group attribute, as name -> (value id per image, value names)."""
    n_classes = int(data.labels.max()) + 1 if len(data.labels) else 0
    cols = {"class": (np.asarray(data.labels), [str(i) for i in range(n_classes)])}
    for name, ids in data.attrs.items():
        cols[name] = (np.asarray(ids), list(data.group_names[name]))
    return cols


def cohorts_reading(result: Cohorts) -> str:
    if not result.slices:
        return (
            f"no slice of at least {result.min_size} images is significantly worse than the rest "
            f"({result.tested} slices tested)"
        )
    w = result.slices[0]
    return (
        f"the model is worst on {w.label} (n={w.n}): accuracy {w.accuracy:.2f} against {w.rest_accuracy:.2f} "
        f"elsewhere; {result.significant} of {result.tested} slices are significantly worse (q < {result.alpha:g})"
    )


def find_cohorts(
    correct,
    columns: Mapping[str, tuple[np.ndarray, Sequence[str]]],
    *,
    min_size: int = 20,
    k: int = 5,
    alpha: float = 0.05,
    level: float = 0.95,
    pairs: bool = True,
    class_names: Sequence[str] | None = None,
) -> Cohorts:
    """The worst slices of ``correct`` (bool per image) over ``columns`` (name -> (ids, value names)).

    Parameters
    ----------
    correct : array of bool
        Whether the model got each image right.
    columns : mapping
        Column name -> (value id per image, value names).
    min_size : int, default 20
        Slices with fewer images are not tested (nor are slices holding every image).
    k : int, default 5
        How many of the worst significant slices to keep.
    alpha : float, default 0.05
        False-discovery rate of the Benjamini-Hochberg step.
    pairs : bool, default True
        Also test every pair ``a=x & b=y`` of two columns.
    """
    ok = np.asarray(correct, dtype=bool)
    n = len(ok)
    if min_size < 1 or k < 1:
        raise BamuInputError(f"min_size and k must be >= 1, got {min_size} and {k}")
    if not 0.0 < alpha < 1.0:
        raise BamuInputError(f"alpha must be in (0, 1), got {alpha}")
    cols = {}
    for name, (ids, names) in columns.items():
        ids = np.asarray(ids, dtype=np.int64)
        if ids.shape != (n,):
            raise BamuInputError(f"column {name!r} has {ids.shape[0]} values for {n} images")
        if name == "class" and class_names is not None:
            names = list(class_names)
        cols[name] = (ids, list(names))
    singles = [((c, v),) for c, (ids, _) in cols.items() for v in np.unique(ids)]
    candidates = list(singles)
    if pairs:
        for a, b in combinations(list(cols), 2):
            for va in np.unique(cols[a][0]):
                for vb in np.unique(cols[b][0]):
                    candidates.append(((a, va), (b, vb)))
    seen: set[bytes] = set()
    tested: list[tuple[tuple, np.ndarray]] = []
    for cand in candidates:
        mask = np.ones(n, dtype=bool)
        for c, v in cand:
            mask &= cols[c][0] == v
        size = int(mask.sum())
        if size < min_size or size == n:
            continue
        key = np.packbits(mask).tobytes()
        if key in seen:
            continue
        seen.add(key)
        tested.append((cand, mask))
    total_ok = int(ok.sum())
    fisher = n <= FISHER_MAX_N
    rows = []
    for cand, mask in tested:
        n_in = int(mask.sum())
        a = int(ok[mask].sum())
        b, n_out = total_ok - a, n - n_in
        rows.append((cand, n_in, a, n_out, b, _p_value(a, n_in, b, n_out, fisher)))
    q = benjamini_hochberg([r[-1] for r in rows])
    found = []
    for (cand, n_in, a, n_out, b, p), qv in zip(rows, q):
        acc, rest = a / n_in, b / n_out
        if qv < alpha and acc < rest:
            low, high = wilson_interval(a, n_in, level)
            where = {c: cols[c][1][int(v)] for c, v in cand}
            found.append(
                Cohort(
                    where=where,
                    label=" & ".join(f"{c}={x}" for c, x in where.items()),
                    n=n_in,
                    accuracy=acc,
                    accuracy_ci=Interval(low=low, high=high),
                    rest_accuracy=rest,
                    gap=acc - rest,
                    p_value=p,
                    q_value=float(qv),
                )
            )
    found.sort(key=lambda s: (s.gap, s.q_value, len(s.where)))
    result = Cohorts(
        columns=list(cols),
        min_size=min_size,
        alpha=alpha,
        tested=len(rows),
        significant=len(found),
        test="fisher" if fisher else "two-proportion z",
        slices=found[:k],
    )
    result.reading = cohorts_reading(result)
    return result
