"""Membership-inference attacks on a forget set, from model outputs (logits and labels).

Two attacks, both seeded and both on balanced member / non-member sets (a third,
:func:`~bamu_core.privacy.class_matched_attack`, is the first against class-matched non-members):

- :func:`loss_threshold_attack` (Yeom et al. 2018): a sample is called a member when its loss is
  below a threshold; sweeping the threshold gives the ROC curve, its AUC and the TPR at 1 % FPR.
  Applied to forget samples (candidate members) vs test samples (non-members) it asks "can the
  forget set still be told apart from unseen data?"; an AUC of 0.5 means no.
- :func:`mia_efficacy` (as in SalUn, Fan et al. 2024): an attack classifier is trained on the
  features of retain samples (members) vs test samples (non-members); MIA-efficacy is the share of
  forget samples it predicts as non-members. Higher means the forget set looks less like training data.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import BamuInputError
from ._features import FEATURE_NAMES, attack_features, per_sample_loss

__all__ = [
    "ModelOutputs",
    "model_outputs",
    "loss_threshold_attack",
    "mia_efficacy",
    "membership_inference",
    "ATTACKS",
]

ATTACKS = ("logistic", "boosting")
_LOW_FPR = 0.01


class ModelOutputs(NamedTuple):
    """A model's logits on a set of samples, and the samples' true labels."""

    logits: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:  # type: ignore[override]
        return int(np.asarray(self.labels).shape[0])


def model_outputs(model, data, *, indices=None, device="cpu", batch_size: int = 512) -> ModelOutputs:
    """Run ``model`` once over ``data`` (an :class:`~bamu_core.data.ImageData`, optionally a subset).

    The model is put in eval mode for the pass and its mode restored; it is not modified.
    """
    from ..training import predict

    logits = predict(model, data, indices=indices, batch_size=batch_size, device=device).numpy()
    labels = data.labels if indices is None else data.labels[np.asarray(indices, dtype=np.int64)]
    return ModelOutputs(logits=logits, labels=np.asarray(labels, dtype=np.int64))


def _outputs(value, name: str) -> ModelOutputs:
    if isinstance(value, ModelOutputs):
        out = value
    else:
        try:
            logits, labels = value
        except (TypeError, ValueError):
            raise BamuInputError(f"{name} must be ModelOutputs or a (logits, labels) pair") from None
        out = ModelOutputs(logits=logits, labels=labels)
    if len(out) < 2:
        raise BamuInputError(f"{name} needs at least 2 samples, got {len(out)}")
    return out


def _balanced(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, cap: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Subsample rows of ``a`` and ``b`` (without replacement) to the same size, at most ``cap``."""
    n = min(len(a), len(b), cap or np.inf)
    n = int(n)
    ia = np.sort(rng.choice(len(a), size=n, replace=False))
    ib = np.sort(rng.choice(len(b), size=n, replace=False))
    return a[ia], b[ib]


def _tpr_at(fpr: np.ndarray, tpr: np.ndarray, max_fpr: float) -> float:
    ok = fpr <= max_fpr + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def loss_threshold_attack(*, members, nonmembers, seed: int = 0, max_samples: int | None = 2000) -> dict:
    """Loss-threshold membership inference: AUC, TPR at 1 % FPR and the attack advantage.

    Parameters
    ----------
    members, nonmembers : ModelOutputs or (logits, labels)
        Outputs on the samples the attack should call members (e.g. the forget set) and on samples
        the model never saw (e.g. the test split). The larger set is subsampled (seeded) so both
        have the same size, at most ``max_samples`` each.
    seed : int
        Seed of the subsampling.
    max_samples : int or None
        Cap on the samples taken from each side.

    Returns
    -------
    dict
        ``auc`` (ROC AUC of the score ``-loss``; 0.5 = chance), ``tpr_at_1pct_fpr``, ``advantage``
        (max over thresholds of TPR - FPR), ``n`` (samples per side).
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    m = _outputs(members, "members")
    nm = _outputs(nonmembers, "nonmembers")
    rng = np.random.default_rng(seed)
    loss_m, loss_n = _balanced(per_sample_loss(*m), per_sample_loss(*nm), rng, max_samples)
    y = np.r_[np.ones(len(loss_m)), np.zeros(len(loss_n))]
    score = -np.r_[loss_m, loss_n]
    fpr, tpr, _ = roc_curve(y, score)
    return {
        "auc": float(roc_auc_score(y, score)),
        "tpr_at_1pct_fpr": _tpr_at(fpr, tpr, _LOW_FPR),
        "advantage": float(np.max(tpr - fpr)),
        "n": int(len(loss_m)),
    }


def _transform(features: np.ndarray) -> np.ndarray:
    """Log-scale loss and entropy (they span many orders of magnitude near memorisation)."""
    out = features.copy()
    out[:, 0] = np.log(np.maximum(out[:, 0], 1e-12))
    out[:, 1] = np.log(np.maximum(out[:, 1], 1e-12))
    return out


def _attack_model(attack: str, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if attack == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    if attack == "boosting":
        return HistGradientBoostingClassifier(max_iter=100, max_depth=3, learning_rate=0.1, random_state=seed)
    raise BamuInputError(f"attack must be one of {', '.join(ATTACKS)}, got {attack!r}")


def mia_efficacy(
    *,
    retain,
    test,
    forget,
    attack: str = "logistic",
    seed: int = 0,
    max_samples: int | None = 2000,
    cv_folds: int = 5,
) -> dict:
    """MIA-efficacy as in SalUn: the share of forget samples an attack calls non-members.

    The attack classifier (``"logistic"``: standardised logistic regression; ``"boosting"``:
    histogram gradient boosting) is trained on the features of :func:`attack_features`
    (log-loss, log-entropy, margin) of a balanced sample of retain outputs (label member) and test
    outputs (label non-member), then applied to every forget sample.

    Parameters
    ----------
    retain, test, forget : ModelOutputs or (logits, labels)
    attack : {"logistic", "boosting"}
    seed : int
        Seed of the subsampling and of the attack model.
    max_samples : int or None
        Cap on the samples taken from each of retain and test.
    cv_folds : int
        Folds of the stratified cross-validation that estimates the attack's own accuracy on
        retain vs test (0 or 1 to skip it).

    Returns
    -------
    dict
        ``efficacy`` (share of forget predicted non-member, in [0, 1]), ``attack_accuracy``
        (cross-validated accuracy of the attack on retain vs test; near 0.5 means the model
        leaks little membership and efficacy is then not informative), ``n_shadow`` (samples per
        side), ``n_forget``, ``attack``.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from threadpoolctl import threadpool_limits

    model = _attack_model(attack, seed)
    r, t, f = _outputs(retain, "retain"), _outputs(test, "test"), _outputs(forget, "forget")
    rng = np.random.default_rng(seed)
    feat_r, feat_t = _balanced(_transform(attack_features(*r)), _transform(attack_features(*t)), rng, max_samples)
    x = np.r_[feat_r, feat_t]
    y = np.r_[np.ones(len(feat_r), dtype=int), np.zeros(len(feat_t), dtype=int)]
    attack_accuracy = None
    # One OpenMP thread: the attack data is tiny, and after torch has run, scikit-learn's OpenMP
    # pool contends with torch's and a boosting fit took 30 s instead of 0.5 s (2-core machine).
    with threadpool_limits(limits=1, user_api="openmp"):
        if cv_folds and cv_folds > 1 and len(feat_r) >= cv_folds:
            folds = StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=seed)
            attack_accuracy = float(cross_val_score(_attack_model(attack, seed), x, y, cv=folds).mean())
        model.fit(x, y)
        pred = model.predict(_transform(attack_features(*f)))
    return {
        "efficacy": float(np.mean(pred == 0)),
        "attack_accuracy": attack_accuracy,
        "n_shadow": int(len(feat_r)),
        "n_forget": int(len(f)),
        "attack": attack,
        "features": list(FEATURE_NAMES),
    }


def membership_inference(
    *,
    forget,
    retain,
    test,
    forget_groups=None,
    test_groups=None,
    attack: str = "logistic",
    seed: int = 0,
    max_samples: int | None = 2000,
    n_bootstrap: int = 200,
) -> dict:
    """The attacks on one forget set: the privacy entry of the unlearn JSON.

    ``forget``, ``retain`` and ``test`` are a model's outputs on the forget set, the retained
    training samples and the test split (:func:`model_outputs`), so the model runs once per set.
    ``forget_groups`` and ``test_groups`` (group ids, optional) refine the class matching.

    Returns
    -------
    dict
        ``auc``, ``auc_ci``, ``tpr_at_1pct_fpr``, ``advantage``, ``n_pairs``, ``matching``: the
        loss-threshold attack against class-matched test images
        (:func:`~bamu_core.privacy.class_matched_attack`; the radar's privacy axis);
        ``auc_vs_all_test``, ``tpr_at_1pct_fpr_vs_all_test``, ``advantage_vs_all_test``: the same
        attack against the whole test split (not class-matched: it also measures how easy the
        forget set's kind of image is); ``efficacy``, ``attack_accuracy`` (SalUn MIA-efficacy);
        ``n_forget``, ``n_test``, ``n_shadow``, ``attack``, ``seed``; ``scores``: the class-matched
        attack's per-sample scores (``-loss``, higher = more member-like; see
        :func:`~bamu_core.privacy.class_matched_attack`).
    """
    from ._matched import class_matched_attack

    cm = class_matched_attack(
        members=forget,
        nonmembers=test,
        member_groups=forget_groups,
        nonmember_groups=test_groups,
        seed=seed,
        max_samples=max_samples,
        n_bootstrap=n_bootstrap,
    )
    lt = loss_threshold_attack(members=forget, nonmembers=test, seed=seed, max_samples=max_samples)
    eff = mia_efficacy(retain=retain, test=test, forget=forget, attack=attack, seed=seed, max_samples=max_samples)
    return {
        "auc": cm["auc"],
        "auc_ci": cm["auc_ci"],
        "tpr_at_1pct_fpr": cm["tpr_at_1pct_fpr"],
        "advantage": cm["advantage"],
        "matching": cm["matching"],
        "auc_vs_all_test": lt["auc"],
        "tpr_at_1pct_fpr_vs_all_test": lt["tpr_at_1pct_fpr"],
        "advantage_vs_all_test": lt["advantage"],
        "efficacy": eff["efficacy"],
        "attack_accuracy": eff["attack_accuracy"],
        "n_forget": eff["n_forget"],
        "n_test": int(len(_outputs(test, "test"))),
        "n_pairs": cm["n"],
        "n_shadow": eff["n_shadow"],
        "attack": attack,
        "seed": seed,
        "scores": cm["scores"],
    }
