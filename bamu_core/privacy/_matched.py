"""Class-matched membership inference: the forget set against test images of the same classes (and groups).

Comparing a forget set (e.g. the patched airplanes) with the whole test split mixes two effects:
whether the model remembers those images, and whether images of that kind are easier than the
average test image. A model that never saw the forget set still separates them from the rest of
the test split when they are of an easy class or carry the shortcut, so the AUC moves even when
membership does not. :func:`class_matched_attack` removes the second effect: the non-members are
test images of the same class and, where the test split has them, of the same group as the forget
images, in the same proportions (each stratum is subsampled, seeded, to the smaller side).
"""

from __future__ import annotations

import numpy as np

from ..errors import BamuInputError
from ._features import per_sample_loss

__all__ = ["matched_indices", "class_matched_attack", "auc_from_scores"]

_LOW_FPR = 0.01


def _ints(value, n: int, name: str) -> np.ndarray:
    a = np.asarray(value, dtype=np.int64).reshape(-1)
    if a.shape != (n,):
        raise BamuInputError(f"{name} must have one entry per sample ({n}), got shape {a.shape}")
    return a


def matched_indices(
    member_labels,
    nonmember_labels,
    *,
    member_groups=None,
    nonmember_groups=None,
    seed: int = 0,
    max_samples: int | None = 2000,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Indices of members and non-members with the same class (and group) composition, same size.

    Strata are (class, group) cells when both group arrays are given, else classes. A member
    whose cell has no non-member falls back to its class; one whose class has no non-member is
    left out. Each stratum keeps ``min(members, non-members)`` samples of each side (seeded
    subsampling without replacement); with ``max_samples`` every stratum is shrunk by the same
    factor so that each side has at most that many.

    Returns
    -------
    (member_idx, nonmember_idx, matching)
        Sorted index arrays of equal length, and ``"class and group"``, ``"class"`` or
        ``"class (group where available)"`` saying how the strata were formed.
    """
    ml = np.asarray(member_labels, dtype=np.int64).reshape(-1)
    nl = np.asarray(nonmember_labels, dtype=np.int64).reshape(-1)
    use_groups = member_groups is not None and nonmember_groups is not None
    if use_groups:
        mg, ng = _ints(member_groups, len(ml), "member_groups"), _ints(nonmember_groups, len(nl), "nonmember_groups")
    else:
        mg, ng = np.zeros(len(ml), dtype=np.int64), np.zeros(len(nl), dtype=np.int64)
    rng = np.random.default_rng(seed)
    cells_n = {(c, g) for c, g in zip(nl.tolist(), ng.tolist())}
    # stratum key of each member: its cell when the non-members have it, else its class alone
    m_key = [(c, g) if (c, g) in cells_n else (c, None) for c, g in zip(ml.tolist(), mg.tolist())]
    fallback = any(k[1] is None for k in m_key)
    strata: dict = {}
    for i, k in enumerate(m_key):
        strata.setdefault(k, ([], []))[0].append(i)
    for j, (c, g) in enumerate(zip(nl.tolist(), ng.tolist())):
        if (c, g) in strata:
            strata[(c, g)][1].append(j)
    class_only = {c for c, g in strata if g is None}
    if class_only:
        claimed = {j for k, (_, js) in strata.items() if k[1] is not None for j in js}
        for j, c in enumerate(nl.tolist()):
            if c in class_only and j not in claimed:
                strata[(c, None)][1].append(j)
    sizes = {k: min(len(a), len(b)) for k, (a, b) in strata.items()}
    total = sum(sizes.values())
    if total < 2:
        raise BamuInputError(
            "the test split has fewer than 2 images of the forget set's classes: a class-matched attack needs them"
        )
    if max_samples is not None and total > max_samples:
        scale = max_samples / total
        sizes = {k: int(np.floor(v * scale)) for k, v in sizes.items()}
    mi, ni = [], []
    for k in sorted(strata, key=lambda t: (t[0], -1 if t[1] is None else t[1])):
        n = sizes[k]
        a, b = strata[k]
        if n:
            mi.append(rng.choice(np.asarray(a), size=n, replace=False))
            ni.append(rng.choice(np.asarray(b), size=n, replace=False))
    member_idx = np.sort(np.concatenate(mi)) if mi else np.zeros(0, np.int64)
    nonmember_idx = np.sort(np.concatenate(ni)) if ni else np.zeros(0, np.int64)
    matching = "class" if not use_groups else ("class (group where available)" if fallback else "class and group")
    return member_idx, nonmember_idx, matching


def auc_from_scores(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC of ``pos`` above ``neg`` (Mann-Whitney, ties count one half)."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    both = np.r_[pos, neg]
    order = both.argsort(kind="mergesort")
    ranks = np.empty(len(both))
    sorted_vals = both[order]
    # average ranks of ties
    _, first, counts = np.unique(sorted_vals, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    r_pos = ranks[: len(pos)].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2.0) / (len(pos) * len(neg)))


def class_matched_attack(
    *,
    members,
    nonmembers,
    member_groups=None,
    nonmember_groups=None,
    seed: int = 0,
    max_samples: int | None = 2000,
    n_bootstrap: int = 200,
) -> dict:
    """Loss-threshold membership inference against class-matched non-members (see the module doc).

    Parameters
    ----------
    members, nonmembers : ModelOutputs or (logits, labels)
        Outputs on the forget set and on the test split.
    member_groups, nonmember_groups : array-like of int, optional
        Group ids of the samples (both or neither): strata are then (class, group) cells.
    seed : int
        Seed of the matching and of the bootstrap.
    max_samples : int or None
        Cap on the matched samples per side.
    n_bootstrap : int
        Bootstrap resamples (of each side, stratum by stratum) for the 95 % interval of the AUC;
        0 skips it.

    Returns
    -------
    dict
        ``auc`` (score ``-loss``, 0.5 = chance), ``auc_ci`` (``{"low", "high"}``, percentile
        bootstrap) , ``tpr_at_1pct_fpr``, ``advantage`` (worst case over thresholds of
        ``|TPR - FPR|``: either direction of the threshold counts), ``n`` (samples per side),
        ``matching``, and ``scores``: the per-sample attack scores, ``{"member", "nonmember",
        "member_index"}`` (lists). A score is ``-loss`` (cross-entropy of the true class), the
        quantity the attack ranks by: higher means "more likely a member", and the attack predicts
        member when the score is at or above its threshold. ``member_index`` gives each member
        score's position in ``members`` (the forget set), in the same order; at most
        ``max_samples`` of each side.
    """
    from sklearn.metrics import roc_curve

    from ._attacks import _outputs

    m, nm = _outputs(members, "members"), _outputs(nonmembers, "nonmembers")
    mi, ni, matching = matched_indices(
        m.labels,
        nm.labels,
        member_groups=member_groups,
        nonmember_groups=nonmember_groups,
        seed=seed,
        max_samples=max_samples,
    )
    loss_m, loss_n = per_sample_loss(m.logits, m.labels)[mi], per_sample_loss(nm.logits, nm.labels)[ni]
    auc = auc_from_scores(-loss_m, -loss_n)
    y = np.r_[np.ones(len(loss_m)), np.zeros(len(loss_n))]
    fpr, tpr, _ = roc_curve(y, -np.r_[loss_m, loss_n])
    ok = fpr <= _LOW_FPR + 1e-12
    ci = None
    if n_bootstrap and n_bootstrap > 0:
        rng = np.random.default_rng(seed + 1)
        # resample within strata: members and non-members of one class stay paired in number
        key_m = np.asarray(m.labels)[mi]
        key_n = np.asarray(nm.labels)[ni]
        boots = []
        for _ in range(int(n_bootstrap)):
            bm, bn = [], []
            for c in np.unique(key_m):
                im, inn = np.flatnonzero(key_m == c), np.flatnonzero(key_n == c)
                bm.append(loss_m[rng.choice(im, size=len(im))])
                bn.append(loss_n[rng.choice(inn, size=len(inn))])
            boots.append(auc_from_scores(-np.concatenate(bm), -np.concatenate(bn)))
        lo, hi = np.percentile(boots, [2.5, 97.5])
        ci = {"low": float(lo), "high": float(hi)}
    return {
        "auc": auc,
        "auc_ci": ci,
        "tpr_at_1pct_fpr": float(tpr[ok].max()) if ok.any() else 0.0,
        "advantage": float(np.max(np.abs(tpr - fpr))),
        "n": int(len(mi)),
        "matching": matching,
        "scores": {
            "member": (-loss_m).astype(float).tolist(),
            "nonmember": (-loss_n).astype(float).tolist(),
            "member_index": mi.astype(int).tolist(),
        },
    }
