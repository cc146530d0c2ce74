"""The audit of one split: accuracy, fairness gaps with intervals, saliency per group."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from .._compat import describe_device, on_device, pick_device
from ..errors import BamuInputError
from ..metrics import DEFAULT_N_BOOT, audit_metrics, audit_warnings, check_bootstrap
from ..results import AuditResult
from ..training import predict
from .subject import Subject

if TYPE_CHECKING:
    from ..execution import Executor
    from ..insight import InsightOptions

__all__ = ["audit"]


def audit(
    subject: Subject,
    *,
    split: str = "test",
    device: str | None = None,
    batch_size: int = 512,
    n_boot: int = DEFAULT_N_BOOT,
    level: float = 0.95,
    seed: int = 0,
    intersect: Sequence[str] | None = None,
    saliency_per_group: int = 16,
    saliency_method: str = "auto",
    region: Sequence[int] | None = None,
    gallery_dir: str | Path | None = None,
    gallery_k: int = 4,
    gallery_rule: str = "confident",
    insight: InsightOptions | None = None,
    executor: str | Executor | None = None,
    shards: int | None = None,
) -> AuditResult:
    """Evaluate the model once on ``split`` and return its audit.

    The model runs once over the split; every metric and bootstrap interval comes from those
    predictions. Saliency maps need gradients and are computed for a small seeded sample.

    Parameters
    ----------
    subject : Subject
        Data and model (see :func:`load_subject`).
    split : {"train", "val", "test", "all"}, default "test"
        Which split to audit; ``all``: every image of the data (train, val and test together).
    device : str, optional
        Compute device (default: :func:`pick_device`).
    batch_size : int, default 512
        Images per inference batch.
    n_boot : int, default 200
        Bootstrap resamples for the confidence intervals (0: none).
    level : float, default 0.95
        Coverage of the intervals.
    seed : int, default 0
        Seed of the bootstrap, the saliency sample and the ``random`` gallery rule.
    intersect : (str, str), optional
        Audit the intersection of two group attributes (e.g. ``("colour", "alignment")``).
    saliency_per_group : int, default 16
        Images per group for the saliency summary (0 skips it).
    saliency_method : {"auto", "gradcam", "hirescam"}, default "auto"
        See :func:`bamu_core.explain.grad_cam`.
    region : (top, left, height, width), optional
        Box for the bias-region score (default: the scenario's ``bias_region``, e.g. the
        patch of ``patch-cifar10``).
    gallery_dir : path, optional
        Also write overlay PNGs of ``gallery_k`` images per group chosen by ``gallery_rule``
        (``confident``, ``misclassified`` or ``random``) into this folder.
    insight : InsightOptions, optional
        Which views inside the model to add (:mod:`bamu_core.insight`); the audit uses
        ``cohorts`` (on by default; ``InsightOptions(cohorts=False)`` or ``.off()`` skips it).
    executor : "local", "ray" or an executor, optional
        Run the inference over the split in ``shards`` tasks on this executor
        (:mod:`bamu_core.execution`) and merge their logits in order
        (:func:`~bamu_core.workflows.sharded_inference.sharded_logits`); the metrics, intervals,
        cohorts and saliency are then computed here from those predictions, so every number equals
        the one-process audit's (with the same torch threads). ``None``: inference here.
    shards : int, optional
        How many inference tasks (default with an executor: one per batch); only with ``executor``.

    Returns
    -------
    AuditResult
        ``utility``, ``groups``, ``fairness`` with their intervals (``utility_ci``,
        ``fairness_ci``), per-class recall and DP (:func:`bamu_core.metrics.audit_metrics`),
        ``target_class`` (DP and recall of the scenario's target class, when it has one),
        ``saliency``, ``gallery`` (when written), ``cohorts`` (the worst slices over the metadata
        columns, :func:`bamu_core.insight.find_cohorts`), ``group_attr``, ``split``, ``n``, ``seconds``,
        ``timing``, ``device`` and ``warnings`` (why the numbers may mislead, :func:`bamu_core.metrics.audit_warnings`;
        see ``docs/results.md``). ``saliency`` (see
        :func:`bamu_core.explain.saliency_summary`) reports per group the share of saliency inside
        the bias region when there is one (``region_share`` vs ``region_area``), and for images
        on a black background (the digit scenarios) the share on the strokes (``foreground_share``
        vs ``foreground_area``); always the centre of mass of the group-averaged map.
    """
    from ..explain import check_region, group_gallery, saliency_summary, save_gallery
    from ..insight import InsightOptions, audit_cohorts

    insight = insight if insight is not None else InsightOptions()

    if split not in ("train", "val", "test", "all"):
        raise BamuInputError(f"split must be train, val, test or all, got {split!r}")
    check_bootstrap(n_boot, level)
    if saliency_per_group < 0:
        raise BamuInputError(f"saliency_per_group must be >= 0, got {saliency_per_group}")
    if gallery_dir is not None and gallery_k < 1:
        raise BamuInputError(f"gallery k must be >= 1, got {gallery_k}")
    if gallery_rule not in ("confident", "misclassified", "random"):
        raise BamuInputError(f"gallery_rule must be confident, misclassified or random, got {gallery_rule!r}")
    if shards is not None and executor is None:
        raise BamuInputError("shards only apply with an executor (executor='ray' or 'local')")
    if shards is not None and (not isinstance(shards, int) or shards < 1):
        raise BamuInputError(f"shards must be a whole number >= 1, got {shards!r}")
    data = subject.scenario.split(split)
    if intersect is not None:
        if len(intersect) != 2:
            raise BamuInputError(f"intersect needs two group attributes, got {list(intersect)}")
        data = data.with_intersection(*intersect)
    scenario_region = None if subject.scenario.bias_region is None else tuple(subject.scenario.bias_region)
    region = scenario_region if region is None else check_region(region, data.image_shape[1:])
    region_source = None if region is None else ("scenario bias region" if region == scenario_region else "user box")
    dev = pick_device(device)
    timing = {}
    start = time.perf_counter()
    device_copy = contextlib.ExitStack()  # the subject's model may be shared: it is never moved
    model = device_copy.enter_context(on_device(subject.model, dev))
    if executor is None:
        logits = predict(model, data, batch_size=batch_size, device=dev)
    else:
        from .sharded_inference import sharded_logits

        logits = sharded_logits(
            subject.model, data, executor=executor, shards=shards, batch_size=batch_size, device=device
        )
    timing["inference"] = time.perf_counter() - start
    y_pred = logits.argmax(1).numpy()
    t0 = time.perf_counter()
    result = audit_metrics(
        y_true=data.labels,
        y_pred=y_pred,
        groups=data.groups,
        group_names=data.group_names[data.group_attr],
        num_classes=subject.scenario.num_classes,
        n_boot=n_boot,
        level=level,
        seed=seed,
    )
    timing["metrics"] = time.perf_counter() - t0
    if insight.cohorts:
        t0 = time.perf_counter()
        result["cohorts"] = audit_cohorts(data, y_pred, insight, class_names=subject.scenario.class_names).to_json()
        timing["cohorts"] = time.perf_counter() - t0
    target = subject.scenario.target_class
    if target is not None:
        result["target_class"] = {
            "index": int(target),
            "name": subject.scenario.class_names[target],
            "dp": result["per_class_dp"][target],
            "dp_ci": result["per_class_dp_ci"][target] if result["per_class_dp_ci"] else None,
            "recall": result["per_class_recall"][target],
            "recall_ci": result["per_class_recall_ci"][target] if result["per_class_recall_ci"] else None,
        }
    try:
        t0 = time.perf_counter()
        if saliency_per_group:
            result["saliency"] = {
                "enabled": True,
                "region_source": region_source,
                **saliency_summary(
                    model,
                    data,
                    per_group=saliency_per_group,
                    seed=seed,
                    logits=logits,
                    region=region,
                    method=saliency_method,
                ),
            }
        else:
            result["saliency"] = {"enabled": False, "images": 0, "groups": []}
        timing["saliency"] = time.perf_counter() - t0
        if gallery_dir is not None:
            t0 = time.perf_counter()
            gallery = group_gallery(
                model,
                data,
                k=gallery_k,
                rule=gallery_rule,
                seed=seed,
                logits=logits,
                region=region,
                class_names=subject.scenario.class_names,
                method=saliency_method,
            )
            files = save_gallery(gallery, gallery_dir)
            result["gallery"] = {"dir": str(gallery_dir), "files": len(files), "k": gallery_k, "rule": gallery_rule}
            timing["gallery"] = time.perf_counter() - t0
    finally:
        device_copy.close()
    result.update(
        {
            "group_attr": data.group_attr,
            "split": split,
            "n": int(len(data)),
            "seconds": time.perf_counter() - start,
            "timing": timing,
            "device": describe_device(dev),
        }
    )
    out = AuditResult.from_json(result)
    out.warnings = audit_warnings(out, class_names=subject.scenario.class_names)
    return out
