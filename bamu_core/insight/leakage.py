"""Attribute leakage: does a model's penultimate representation still encode the group, beyond the class?

A logistic-regression probe (scikit-learn) reads the frozen penultimate features plus a one-hot of
the true class and predicts the sensitive group. Its scores are out-of-fold (stratified k-fold on
class x group), and the AUC is taken *within classes*: for each group against the rest, the
probability that a random image of that group outranks a random image of another group **of the
same class** (the per-class AUCs averaged with weights n_pos x n_neg, i.e. only same-class pairs
count), then the mean over groups (macro one-vs-rest; binary groups: the AUC of group 1). So the
probe gets no credit for knowing the class, and 0.5 means the features say nothing about the group
that the label does not. The interval is a percentile bootstrap over images (resampled within
each class) of the out-of-fold scores; it covers the evaluation sample, not refits of the probe.

With the models' outputs (``outputs=``) the same probe also runs on their logits
(:class:`~bamu_core.results.OutputLeakage`): a model can keep the attribute in its features (a
colour is in every pixel, so the penultimate probe of any convolutional model, a retrained one
included, reads about 1.0 on the coloured digits) while its outputs no longer depend on it. The
two together say whether the bias is gone from what the model says, and whether it is still held
inside, ready to return (see the relearning test).

The measurement runs on the test split: nothing is chosen on it.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from ..errors import BamuInputError
from ..results import Interval, Leakage, OutputLeakage, ProbeScore
from ._features import small_blas

__all__ = ["within_class_auc", "probe_scores", "probe_auc", "leakage", "leakage_reading"]


def _weighted_auc(score: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mann-Whitney AUC of ``score`` for ``positive`` under each row of ``weights`` (B, n) (ties
    count half), and each row's pair weight ``W_pos * W_neg`` (0 where a kind is missing)."""
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    w = weights[:, order]
    pos = positive[order]
    pos_l = np.add.reduceat(w * pos, starts, axis=1)
    neg_l = np.add.reduceat(w * ~pos, starts, axis=1)
    below = np.cumsum(neg_l, axis=1) - neg_l
    num = (pos_l * (below + 0.5 * neg_l)).sum(axis=1)
    den = pos_l.sum(axis=1) * neg_l.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return auc, den


def _within_class(scores, groups, classes, n_groups, weights_by_class) -> tuple[np.ndarray, dict]:
    """Macro within-class AUC under bootstrap weights (B,) and the per-class AUCs (B,) by class."""
    cols = [1] if n_groups == 2 else list(range(n_groups))
    b = next(iter(weights_by_class.values()))[1].shape[0]
    num = np.zeros((len(cols), b))
    den = np.zeros((len(cols), b))
    per_class = {}
    for c, (members, w) in weights_by_class.items():
        class_aucs = []
        for j, g in enumerate(cols):
            auc, d = _weighted_auc(scores[members, g], groups[members] == g, w)
            num[j] += np.nan_to_num(auc) * d
            den[j] += d
            class_aucs.append(auc)
        stacked = np.array(class_aucs)
        if np.isfinite(stacked).any():
            with warnings.catch_warnings():  # a bootstrap draw may leave one class without two groups
                warnings.simplefilter("ignore", RuntimeWarning)
                per_class[c] = np.nanmean(stacked, axis=0)
        else:
            per_class[c] = None
    with np.errstate(invalid="ignore", divide="ignore"):
        by_group = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    defined = np.isfinite(by_group)
    overall = np.where(defined.any(axis=0), np.nansum(by_group, axis=0) / np.maximum(defined.sum(axis=0), 1), np.nan)
    return overall, per_class


def within_class_auc(
    scores: np.ndarray, groups: np.ndarray, classes: np.ndarray, n_groups: int
) -> tuple[float | None, list[float | None]]:
    """The within-class, macro one-vs-rest AUC of ``scores`` (n, n_groups) for ``groups`` (and per class).

    Two groups: the AUC of column 1 for group 1, over same-class pairs. More: the mean over
    groups of each group's within-class AUC (a group alone in, or absent from, every class is left
    out). Per class: the AUC inside that class (``None`` where undefined).
    """
    scores = np.asarray(scores, dtype=np.float64)
    groups = np.asarray(groups, dtype=np.int64)
    classes = np.asarray(classes, dtype=np.int64)
    members = {int(c): np.flatnonzero(classes == c) for c in np.unique(classes)}
    weights = {c: (m, np.ones((1, len(m)))) for c, m in members.items()}
    overall, per = _within_class(scores, groups, classes, n_groups, weights)
    n_classes = int(classes.max()) + 1 if len(classes) else 0
    per_class: list[float | None] = []
    for c in range(n_classes):
        v = per.get(c)
        per_class.append(None if v is None or not np.isfinite(v[0]) else float(v[0]))
    return (None if not np.isfinite(overall[0]) else float(overall[0])), per_class


def probe_scores(
    features: np.ndarray,
    groups: np.ndarray,
    classes: np.ndarray,
    n_groups: int,
    *,
    folds: int = 5,
    seed: int = 0,
    c: float = 1.0,
) -> np.ndarray:
    """Out-of-fold group probabilities (n, n_groups) of a standardised logistic regression on
    ``features`` and the one-hot class, stratified k-fold on class x group (on group alone where a
    cell is smaller than ``folds``)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(features, dtype=np.float64)
    g = np.asarray(groups, dtype=np.int64)
    y = np.asarray(classes, dtype=np.int64)
    if x.ndim != 2 or len(x) != len(g) or len(g) != len(y):
        raise BamuInputError(f"features {x.shape}, groups {g.shape} and classes {y.shape} must have one row each")
    present = np.unique(g)
    if len(present) < 2:
        raise BamuInputError("the leakage probe needs images of at least two groups")
    if np.bincount(g)[present].min() < folds:
        raise BamuInputError(f"the leakage probe needs at least {folds} images of every group present")
    strata = y * n_groups + g
    if np.bincount(strata)[np.unique(strata)].min() < folds:
        strata = g
    onehot = np.eye(int(y.max()) + 1)[y]
    out = np.zeros((len(g), n_groups))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, strata):
        scaler = StandardScaler().fit(x[train])
        z_train = np.hstack([scaler.transform(x[train]), onehot[train]])
        z_test = np.hstack([scaler.transform(x[test]), onehot[test]])
        if len(np.unique(g[train])) < 2:
            out[test] = np.bincount(g[train], minlength=n_groups) / len(train)
            continue
        probe = LogisticRegression(C=c, max_iter=2000).fit(z_train, g[train])
        out[np.ix_(test, probe.classes_)] = probe.predict_proba(z_test)
    return out


def probe_auc(
    scores: np.ndarray,
    groups: np.ndarray,
    classes: np.ndarray,
    n_groups: int,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> ProbeScore:
    """:func:`within_class_auc` of out-of-fold ``scores`` with a bootstrap interval (resampled within classes)."""
    auc, per_class = within_class_auc(scores, groups, classes, n_groups)
    ci = None
    if n_boot and auc is not None:
        rng = np.random.default_rng(seed)
        weights = {}
        for c in np.unique(classes):
            m = np.flatnonzero(classes == c)
            weights[int(c)] = (m, rng.multinomial(len(m), np.full(len(m), 1.0 / len(m)), size=n_boot).astype(float))
        draws, _ = _within_class(np.asarray(scores, float), np.asarray(groups), np.asarray(classes), n_groups, weights)
        draws = draws[np.isfinite(draws)]
        if len(draws):
            tail = (1.0 - level) / 2.0 * 100.0
            ci = Interval(low=float(np.percentile(draws, tail)), high=float(np.percentile(draws, 100.0 - tail)))
    return ProbeScore(auc=auc, auc_ci=ci, per_class=per_class)


def _score(embedding, groups, classes, n_groups, *, folds, n_boot, level, seed) -> ProbeScore:
    with small_blas():
        scores = probe_scores(embedding, groups, classes, n_groups, folds=folds, seed=seed)
    return probe_auc(scores, groups, classes, n_groups, n_boot=n_boot, level=level, seed=seed)


def leakage_reading(result: Leakage) -> str:
    """One sentence: how strongly each model encodes the attribute, against chance."""

    def f(p: ProbeScore | None) -> str:
        return "n/a" if p is None or p.auc is None else f"{p.auc:.2f}"

    def chain_of(r) -> str:
        text = f(r.original)
        if r.unlearned is not None:
            text += f" -> {f(r.unlearned)}"
        if r.oracle is not None:
            text += f" (retrained oracle {f(r.oracle)})"
        return text

    o = result.original
    chain = chain_of(result)
    after = result.unlearned if result.unlearned is not None else o
    if after is None or after.auc is None:
        verdict = "the probe could not be scored"
    elif after.auc_ci is not None and after.auc_ci.low is not None and after.auc_ci.low <= result.chance:
        verdict = f"no more than chance within a class (chance {result.chance:.1f})"
    elif after.auc >= 0.6:
        verdict = f"still encodes {result.attr} within a class (chance {result.chance:.1f})"
    else:
        verdict = f"encodes {result.attr} only weakly within a class (chance {result.chance:.1f})"
    who = "the unlearned model" if result.unlearned is not None else "the model"
    text = f"{who} {verdict}: probe AUC {chain}"
    if result.output is not None and result.output.original is not None:
        text += f"; in its outputs (logits): {chain_of(result.output)}"
    return text


def leakage(
    original,
    groups,
    classes,
    *,
    unlearned=None,
    oracle=None,
    outputs: dict | None = None,
    group_names: list[str] | None = None,
    attr: str = "group",
    layer: str = "",
    split: str = "test",
    folds: int = 5,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> Leakage:
    """The attribute-leakage probe on penultimate features (n, d) of up to three models.

    ``original``, ``unlearned``, ``oracle`` are feature arrays of the same images (``groups`` and
    ``classes`` give each image's group id and true class). ``outputs`` maps the same names to the
    models' logits (n, k) of those images: the probe then also runs on them (``Leakage.output``).
    See the module docstring for the probe and its AUC; ``reading`` says it in one sentence.
    """
    start = time.perf_counter()
    if folds < 2:
        raise BamuInputError(f"folds must be >= 2, got {folds}")
    g = np.asarray(groups, dtype=np.int64)
    y = np.asarray(classes, dtype=np.int64)
    n_groups = len(group_names) if group_names is not None else int(g.max()) + 1
    opts = {"folds": folds, "n_boot": n_boot, "level": level, "seed": seed}
    result = Leakage(
        attr=attr,
        groups=list(group_names) if group_names is not None else [str(i) for i in range(n_groups)],
        split=split,
        n=int(len(g)),
        layer=layer,
        original=_score(original, g, y, n_groups, **opts),
        unlearned=None if unlearned is None else _score(unlearned, g, y, n_groups, **opts),
        oracle=None if oracle is None else _score(oracle, g, y, n_groups, **opts),
        output=None
        if not outputs or outputs.get("original") is None
        else OutputLeakage(**{k: _score(v, g, y, n_groups, **opts) for k, v in outputs.items() if v is not None}),
        folds=folds,
        n_boot=n_boot,
        seed=seed,
        method=(
            "logistic regression on standardised penultimate features + class one-hot; out-of-fold scores "
            f"({folds}-fold, stratified on class x group); AUC over same-class pairs, "
            + ("group 1 vs 0" if n_groups == 2 else "macro one-vs-rest over groups")
        ),
    )
    result.reading = leakage_reading(result)
    result.seconds = time.perf_counter() - start
    return result
