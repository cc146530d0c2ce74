"""The technical terms of bamu's pages and reports, each explained in one or two plain sentences.

:data:`GLOSSARY` is the one dictionary: the dashboard shows its entries as tooltips (``help=``)
and as a "Glossary" expander, the HTML report as ``<abbr title=...>`` and a glossary section.
:func:`explain` finds the entry of a label as the pages write it ("Demographic parity gap",
"MIA AUC ...", "worst-group accuracy ↑").
"""

from __future__ import annotations

import re

__all__ = ["GLOSSARY", "ALIASES", "explain", "term_of"]

GLOSSARY: dict[str, str] = {
    "accuracy": "The share of images the model labels correctly.",
    "balanced accuracy": (
        "Accuracy averaged over the classes, each counting the same however many images it has; a model that "
        "always answers the most common class scores low."
    ),
    "worst-group accuracy": "The accuracy of the group the model serves worst. Higher is better.",
    "demographic parity difference": (
        "How far apart the groups are in how often the model gives the positive answer (for several classes: "
        "the largest such gap over the classes). 0 means every group gets it equally often. Also called DP."
    ),
    "demographic parity ratio": (
        "The lowest group's rate of positive answers divided by the highest group's. 1 means equal rates."
    ),
    "equalized odds difference": (
        "The larger of two gaps between groups: in how often true positives are found, and in how often "
        "negatives are wrongly called positive. 0 means the model errs the same way for every group."
    ),
    "equal opportunity difference": (
        "The gap between groups in how often true positives are found (the true-positive rate). 0 is even."
    ),
    "accuracy gap": "The accuracy of the best-served group minus that of the worst-served group. 0 is even.",
    "selection rate": "The share of a group's images the model gives the positive class.",
    "TPR": "True-positive rate: of the images that truly are positive, the share the model calls positive.",
    "FPR": "False-positive rate: of the images that truly are negative, the share the model wrongly calls positive.",
    "bootstrap interval": (
        "A range of plausible values for a number (95 % by default), from re-measuring it on many resamples of "
        "the test images. A wide interval means the number is uncertain."
    ),
    "membership inference": (
        "An attack that guesses, from the model's answers, whether an image was in its training data. After "
        "unlearning it should do no better than chance on the forget set. Also called MIA."
    ),
    "AUC": (
        "Area under the ROC curve: how well a score separates two kinds of images. 0.5 is chance (no better than "
        "a coin), 1 is perfect separation."
    ),
    "MIA advantage": "How much better than chance the membership attack does at its best threshold; 0 is chance.",
    "MIA efficacy": "The share of forget-set images the membership attack calls unseen; higher means better forgotten.",
    "forget set": "The training images the model should forget, e.g. those that carry the bias.",
    "retain set": "The training images the model keeps learning from while it forgets the forget set.",
    "oracle": (
        "A model retrained from scratch without the forget set: the slow gold standard that unlearning tries to match."
    ),
    "admissible checkpoint": (
        "A checkpoint that keeps accuracy within the allowed drop and no class's recall falls too far; only "
        "these can be chosen."
    ),
    "eval_every": "How many training steps pass between two checks of the model on the validation images.",
    "max_recall_drop": (
        "The most any single class's recall may fall from the original before a checkpoint is refused."
    ),
    "collapse_drop": (
        "The accuracy drop on the retain or validation images at which a run is stopped as collapsed (diverged)."
    ),
    "composite score": "One number in [0, 1] that weighs utility, fairness, forgetting and privacy together.",
    "intensity": "How hard the method pushes, from 0 (no change) to 1 (strongest within the accuracy bound).",
    "Grad-CAM": "A heat map of the image areas the model's answer depends on most.",
    "bias region": "The image area that carries the bias, e.g. the patch of patch-cifar10.",
}

#: Other names of the terms, as the pages write them (compared in lower case).
ALIASES: dict[str, str] = {
    "worst group accuracy": "worst-group accuracy",
    "dp": "demographic parity difference",
    "dp gap": "demographic parity difference",
    "dp difference": "demographic parity difference",
    "demographic parity gap": "demographic parity difference",
    "eo": "equalized odds difference",
    "accuracy gap (best - worst group)": "accuracy gap",
    "mia": "membership inference",
    "mia auc": "AUC",
    "auc vs all test images": "AUC",
    "95 % ci": "bootstrap interval",
    "ci": "bootstrap interval",
    "confidence interval": "bootstrap interval",
    "forget-set accuracy": "forget set",
    "retrain oracle": "oracle",
    "true-positive rate at 1 % false positives": "membership inference",
    "tpr at 1 % fpr": "membership inference",
    "attack accuracy": "membership inference",
    "efficacy": "MIA efficacy",
    "advantage": "MIA advantage",
    "score": "composite score",
}

_LOWER = {k.lower(): k for k in GLOSSARY}


def term_of(label: str) -> str | None:
    """The glossary term a label names: the label itself, an alias, or the longest term it begins
    with (arrows, brackets and "MIA"/"forget-set" prefixes of the dashboard's tables are ignored)."""
    text = re.sub(r"\s*[↑↓→].*$", "", label).strip().lower()
    text = re.sub(r"\s*\(.*\)$", "", text) if text not in ALIASES else text
    if text in _LOWER:  # names with underscores (eval_every) as they are
        return _LOWER[text]
    text = re.sub(r"\s+", " ", text.replace("_", " ").replace(",", " ")).strip()
    if text in _LOWER:
        return _LOWER[text]
    if text in ALIASES:
        return ALIASES[text]
    for prefix in ("mia ", "forget-set "):
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            if ("mia " + rest) in _LOWER:
                return _LOWER["mia " + rest]
            if rest in _LOWER or rest in ALIASES:
                return "AUC" if rest.startswith("auc") else term_of(rest)
    candidates = [k for k in list(_LOWER) + list(ALIASES) if text.startswith(k + " ") or text == k]
    if candidates:
        best = max(candidates, key=len)
        return _LOWER.get(best) or ALIASES[best]
    return None


def explain(label: str) -> str | None:
    """The glossary's explanation of a label (see :func:`term_of`), or ``None`` when it has none."""
    term = term_of(label)
    return None if term is None else GLOSSARY[term]
