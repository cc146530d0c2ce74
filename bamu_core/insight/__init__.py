"""Views inside a model: is the bias gone from the model, or only hidden from its output?

- :mod:`.leakage`: a linear probe on penultimate features predicting the sensitive group within
  each class (cross-validated AUC with a bootstrap interval), for the original, unlearned and
  oracle models;
- :mod:`.cohorts`: the worst slices of the data over its metadata columns (single columns and
  pairs), with Fisher p-values and Benjamini-Hochberg q-values;
- :mod:`.representation`: linear CKA per block between models, and a 2-D projection of the
  embeddings with each point's group and class;
- :mod:`.counterfactual_pairs`: where the data can flip its attribute, the share of predictions
  that change with it alone (the flip rate, with a bootstrap interval) and a few example pairs;
- :mod:`.relearning`: how many fine-tuning steps on bias-aligned images bring the removed gap back.

Every result (:mod:`bamu_core.results`) has a one-sentence ``reading``. :func:`model_views`
computes the leakage and representation views of an unlearning run from one pass per model.
"""

from __future__ import annotations

import numpy as np

from ..data import ImageData
from ..errors import BamuInputError
from ..results import Leakage, Representation
from ._features import Embeddings, embed, pooled
from ._options import InsightOptions
from .cohorts import benjamini_hochberg, data_columns, find_cohorts, wilson_interval
from .counterfactual_pairs import counterfactual_pairs, flip_attribute, flip_rate, pairs_picture, pairs_reading
from .leakage import leakage, probe_auc, probe_scores, within_class_auc
from .relearning import relearning, relearning_curve, sample_indices
from .representation import linear_cka, project, representation

__all__ = [
    "InsightOptions",
    "Embeddings",
    "embed",
    "pooled",
    "leakage",
    "probe_scores",
    "probe_auc",
    "within_class_auc",
    "find_cohorts",
    "data_columns",
    "benjamini_hochberg",
    "wilson_interval",
    "linear_cka",
    "project",
    "representation",
    "counterfactual_pairs",
    "flip_attribute",
    "flip_rate",
    "pairs_picture",
    "pairs_reading",
    "relearning",
    "relearning_curve",
    "sample_indices",
    "model_views",
    "audit_cohorts",
]


def audit_cohorts(data: ImageData, y_pred, options: InsightOptions, class_names=None):
    """:func:`find_cohorts` of predictions ``y_pred`` on ``data`` over its columns (:func:`data_columns`)."""
    correct = np.asarray(y_pred) == data.labels
    return find_cohorts(
        correct,
        data_columns(data),
        min_size=options.cohort_min_size,
        k=options.cohort_k,
        alpha=options.cohort_alpha,
        class_names=class_names,
    )


def model_views(
    original,
    unlearned,
    data: ImageData,
    *,
    options: InsightOptions,
    class_names=None,
    split: str = "test",
    seed: int = 0,
    device=None,
) -> tuple[Leakage | None, Representation | None]:
    """The leakage probe and the representation view of ``unlearned`` against ``original`` (and
    ``options.oracle``) on ``data``: one pass of each model over the split."""
    if not (options.leakage or options.representation):
        return None, None
    models = {"original": original, "unlearned": unlearned}
    if options.oracle is not None:
        models["oracle"] = options.oracle
    idx = sample_indices(len(data), options.max_images, seed)
    groups, classes = data.groups[idx], data.labels[idx]
    names = data.group_names[data.group_attr]
    try:
        emb = {k: embed(m, data, indices=idx, blocks=options.representation, device=device) for k, m in models.items()}
    except BamuInputError as exc:  # e.g. a model without an nn.Linear classifier
        why = f"did not run: {exc}"
        return (
            Leakage(attr=data.group_attr, reading=f"the leakage probe {why}") if options.leakage else None,
            Representation(reading=f"the representation view {why}") if options.representation else None,
        )
    leak = None
    if options.leakage:
        try:
            leak = leakage(
                emb["original"].penultimate,
                groups,
                classes,
                unlearned=emb["unlearned"].penultimate,
                oracle=emb["oracle"].penultimate if "oracle" in emb else None,
                outputs={k: e.logits for k, e in emb.items()},
                group_names=names,
                attr=data.group_attr,
                layer=emb["original"].layer,
                split=split,
                folds=options.folds,
                n_boot=options.n_boot,
                seed=seed,
            )
        except BamuInputError as exc:  # e.g. a group with fewer test images than folds
            leak = Leakage(
                attr=data.group_attr, groups=list(names), n=len(idx), reading=f"the leakage probe did not run: {exc}"
            )
    rep = None
    if options.representation:
        cls = list(class_names) if class_names is not None else [str(c) for c in range(int(data.labels.max()) + 1)]
        penult = {k: e.penultimate for k, e in emb.items()}
        blocks = {k: {**e.blocks, e.layer + " (input)": e.penultimate} for k, e in emb.items()}
        rep = representation(
            blocks["original"],
            blocks["unlearned"],
            oracle_blocks=blocks.get("oracle"),
            embeddings=penult if options.projection_points else None,
            groups=[names[g] for g in groups],
            classes=[cls[c] for c in classes],
            indices=idx,
            max_points=options.projection_points,
            method=options.projection,
            split=split,
            seed=seed,
        )
    return leak, rep
