"""Unlearning: choose a forget set, run a method, audit the model before and after, keep the run."""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from ..data import Scenario
from ..errors import BamuInputError
from ..metrics import DEFAULT_N_BOOT
from ..models import baseline_recipe
from ..results import PAIRS_PICTURE, AuditResult, CounterfactualPairs, ForgetSummary, UnlearnReport
from ..training import StopRequested
from .assessment import assess
from .auditing import audit
from .inspection import inspect_unlearning
from .subject import Subject, require_training_rows

if TYPE_CHECKING:
    from ..insight import InsightOptions
    from ..runs import RunStore

__all__ = ["unlearn", "retrain_recipe", "scenario_hyperparameters"]


def retrain_recipe(scenario: Scenario, arch: str | None = None) -> dict:
    """The scenario's baseline recipe (:func:`bamu_core.models.baseline_recipe`) for ``arch`` as
    ``retrain`` hyper-parameters: epochs, lr, batch size, optimizer, and the starting point
    (``init`` pretrained weights, ``reinit`` layers), which only the recipe's own architecture has."""
    recipe = baseline_recipe(scenario, {"arch": arch})
    reinit = recipe.get("reinit") or []
    return {
        "epochs": int(recipe["epochs"]),
        "lr": float(recipe["lr"]),
        "batch_size": int(recipe["batch_size"]),
        "optimizer": recipe["optimizer"],
        "init": recipe.get("init"),
        "reinit": [reinit] if isinstance(reinit, str) else list(reinit),
    }


def scenario_hyperparameters(scenario: Scenario, method: str, intensity: float, arch: str | None = None) -> dict:
    """The scenario's defaults for ``method`` at ``intensity``: for ``retrain`` its baseline recipe
    (:func:`retrain_recipe`); for the other methods its ``unlearning`` entries, which were set for
    the scenario's own model and so apply only when ``arch`` is None or that architecture.

    Precedence, lowest first: the intensity table (the method's row over ``COMMON``), the
    scenario's ``"all"`` entry, the scenario's entry for the method, the user's overrides (given
    to :func:`unlearn`). Names the method lacks are left out. A method that does not train by
    gradient steps (no ``lr``: ``dfr``, ``newton``, whose ``steps`` are points of a grid) takes only
    the selection rule from the ``"all"`` entry (:data:`bamu_core.unlearn.SELECTION_KEYS`), not its loop settings: the
    ``steps`` and ``eval_every`` set for SGD on ``patch-cifar10`` made ``dfr`` stop at a fifth of its
    mixing grid.
    """
    from ..unlearn import SELECTION_KEYS, at_intensity, resolve_hyperparameters

    if method == "retrain":
        return retrain_recipe(scenario, arch)
    if method == "auto":  # the search uses no tuned table, only what the scenario says its bias is
        metric = scenario.unlearning.get("all", {}).get("selection_metric")
        return {} if metric is None else {"selection_metric": metric}
    if arch is not None and arch != baseline_recipe(scenario)["arch"]:
        return {}
    known = resolve_hyperparameters(method, float(intensity))
    shared = scenario.unlearning.get("all", {})
    if "lr" not in known:
        shared = {k: v for k, v in shared.items() if k in SELECTION_KEYS}
    row = {**shared, **scenario.unlearning.get(method, {})}
    return {k: v for k, v in at_intensity(row, float(intensity)).items() if k in known}


def _pairs(
    subject: Subject, unlearned, options: InsightOptions | None, *, device, seed: int, timings: dict
) -> CounterfactualPairs | None:
    """The counterfactual pairs view of the run on the test split, where the data can flip its
    attribute and ``options.pairs`` is on (the default); else ``None``."""
    from ..insight import InsightOptions, counterfactual_pairs, flip_attribute

    opts = options if options is not None else InsightOptions()
    sc = subject.scenario
    if not (opts.pairs and sc.test.has_counterfactual):
        return None
    attr, spatial = flip_attribute(sc)
    pairs = counterfactual_pairs(
        subject.model,
        sc.test,
        unlearned=unlearned,
        attr=attr,
        spatial=spatial,
        class_names=sc.class_names,
        examples=opts.pair_examples,
        max_images=opts.max_images,
        n_boot=opts.n_boot,
        seed=seed,
        device=device,
    )
    timings["insight_pairs"] = pairs.seconds
    return pairs


def _forget_set(subject: Subject, method: str, forget: str, options: dict | None, device):
    """The forget set of ``forget``; for ``auto``, when it selects nothing (balanced data has no
    bias-aligned majority), the first strategy that does: the images the model gets right only
    through the bias (where there are counterfactual images), else the 10 % of training images
    whose removal most reduces the bias (influence). The description says which was used."""
    from ..forget import select_forget

    sc = subject.scenario
    try:
        return select_forget(sc, forget, model=subject.model, device=device, **(options or {}))
    except BamuInputError as exc:
        if method != "auto" or "selected no training images" not in str(exc):
            raise
        why = str(exc).split(";")[0]
    fallbacks = (["counterfactual"] if sc.train.has_counterfactual else []) + [
        f"influence:{max(1, min(len(sc.train) - 1, len(sc.train) // 10))}"
    ]
    for name in fallbacks:
        try:
            fs = select_forget(sc, name, model=subject.model, device=device)
        except BamuInputError:
            continue
        fs.description = f"{fs.description} (auto: {forget!r} selected nothing: {why})"
        return fs
    raise BamuInputError(f"no forget strategy selects any training image ({why})")


def _no_change_is_the_original(result, original):
    """A ``no_change`` run whose kept checkpoint differs from the original (its gain was within noise)
    hands back a copy of the original instead: a change that is no measurable improvement is not
    given to the user as the unlearned model (its accuracy may even be lower). ``chosen_step`` becomes 0."""
    if result.status != "no_change" or result.chosen_step == 0:
        return result
    model = copy.deepcopy(original).to("cpu").eval()
    step = result.chosen_step
    return replace(
        result,
        model=model,
        chosen_step=0,
        message=f"{result.message}; returned the original model, not step {step}'s checkpoint (within noise)",
    )


def unlearn(
    subject: Subject,
    *,
    method: str,
    intensity: float,
    forget: str = "aligned",
    device: str | None = None,
    seed: int = 0,
    progress: Callable | None = None,
    should_stop: Callable[[], bool] | None = None,
    hyperparameters: dict | None = None,
    forget_options: dict | None = None,
    retain_max: int | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    saliency_per_group: int = 0,
    store: RunStore | None = None,
    mia_samples: int = 2000,
    gradcam_images: int = 8,
    reference_forget_accuracy: float | None = None,
    reference_gap: float | None = None,
    retrain_seconds: float | None = None,
    original_audit: AuditResult | None = None,
    insight: InsightOptions | None = None,
) -> UnlearnReport:
    """Choose a forget set, run an unlearning method, and audit the model before and after.

    Parameters
    ----------
    subject : Subject
        The model (never modified) and its scenario. Checkpoints are chosen on
        ``subject.scenario.val``; the audits are on ``test``, which chooses nothing.
    method : str
        A registered method (:func:`bamu_core.unlearn.list_methods`).
    intensity : float
        In [0, 1]; 0 returns the model unchanged (see :mod:`bamu_core.unlearn._intensity`).
    forget : str
        A forget strategy (:func:`bamu_core.forget.list_strategies`), e.g. ``"aligned"``,
        ``"counterfactual"``, ``"group:blue"``, ``"influence:100"``, ``"indices:1,2,3"``.
    device, seed :
        Where and how reproducibly to run.
    progress : callable, optional
        ``progress(event)`` with a :class:`~bamu_core.unlearn.ProgressEvent` after every step.
    should_stop : callable, optional
        Checked before every step and before the run is saved; once true, :class:`StopRequested`
        is raised and nothing of the run is kept but its ``cancelled`` row.
    hyperparameters : dict, optional
        Raw overrides of the intensity table and of the scenario's own defaults
        (:func:`scenario_hyperparameters`; for ``retrain`` the scenario's baseline recipe).
    forget_options : dict, optional
        Options of the forget strategy (e.g. ``{"attr": "colour"}``).
    retain_max : int, optional
        Subsample the retain set (the complement of the forget set) to this many images.
    n_boot, saliency_per_group :
        Passed to :func:`audit` (saliency is off by default: it needs gradients).
    store : RunStore or None
        Where the run is saved (weights, audits, Grad-CAM strips, the unlearn JSON); ``None`` (the
        default) saves nothing. The CLI and the dashboard pass the store under ``BAMU_HOME``. The run's row is
        written (``running``) before the method starts and completed at the end; an exception marks
        it ``failed``, a killed process leaves it to be marked ``failed`` by the next ``RunStore()``.
    reference_gap : float, optional
        The retrain oracle's test demographic parity difference: the fairness axis measures the share
        of the original gap closed towards it (default: towards 0).
    mia_samples, gradcam_images, reference_forget_accuracy, retrain_seconds :
        See :func:`evaluate_unlearning`: membership inference, Grad-CAM strips, the retrain
        oracle's forget-set accuracy and retraining time (for the forgetting and efficiency axes).
    original_audit : dict, optional
        The original model's audit made with the same ``device``, ``n_boot``, ``seed`` and
        ``saliency_per_group`` (a sweep passes its first run's ``before``), so it is not measured again.
    insight : InsightOptions, optional
        The views inside the model (:mod:`bamu_core.insight`, ``docs/insight.md``): by default the
        leakage probe (``leakage``), the representation view (``representation``) and the audits'
        cohorts are added, and where the data can flip its attribute the counterfactual pairs
        (``pairs``: the flip rate before and after, a few example pairs); the relearning stress
        test (``relearning``) is not; ``oracle`` adds a retrained model's numbers beside the
        unlearned one's.

    Returns
    -------
    UnlearnReport
        Both audits, the forget set, privacy, radar, score, the run's steps, chosen step,
        hyper-parameters, validation selection and history; ``model`` is the unlearned network
        (on the CPU), ``result`` the method's :class:`~bamu_core.unlearn.UnlearnResult` (e.g.
        ``result.extras["lora"]``) and ``forget_set`` the forget set.

    Raises
    ------
    ValueError
        Unknown method or strategy, intensity outside [0, 1], bad hyper-parameters, or an empty
        forget or retain set.
    StopRequested
        ``should_stop()`` turned true: the run is stored as ``cancelled``, with no artifacts.
    """
    from ..unlearn import get_method, resolve_hyperparameters

    require_training_rows(subject.scenario)
    runner = get_method(method)
    if not isinstance(intensity, (int, float)) or not 0.0 <= float(intensity) <= 1.0:
        raise BamuInputError(f"intensity must be a number in [0, 1], got {intensity!r}")
    hp = {
        **scenario_hyperparameters(subject.scenario, method, float(intensity), subject.arch),
        **(hyperparameters or {}),
    }
    resolve_hyperparameters(method, float(intensity), hp)  # unknown names fail before any work
    sc = subject.scenario
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    forget_set = _forget_set(subject, method, forget, forget_options, device)
    forget_data, retain_data = forget_set.split(sc.train, retain_max=retain_max, seed=seed)
    timings["forget_selection"] = time.perf_counter() - t0

    # The run is in the store from here on: a process killed midway leaves a "running" row that
    # the next RunStore() marks failed; a cancelled or failed run leaves its row and no artifacts.
    handle = None
    if store is not None:  # (an empty RunStore is falsy: it has a length)
        config = {"scenario": sc.name, "method": method, "intensity": float(intensity), "forget": forget, "seed": seed}
        handle = store.start(kind="unlearn", config=config)
    with handle if handle is not None else contextlib.nullcontext():
        result = runner.run(
            subject.model,
            forget_data,
            retain_data,
            intensity=float(intensity),
            device=device,
            progress=progress,
            should_stop=should_stop,
            val=sc.val,
            hyperparameters=hp,
            seed=seed,
        )
        timings["unlearning"] = result.seconds
        if result.status == "cancelled":  # no evaluation of a run the user stopped
            raise StopRequested(f"unlearning was cancelled ({result.message.split(';')[0]}); nothing was saved")
        result = _no_change_is_the_original(result, subject.model)

        t0 = time.perf_counter()
        audit_options = {
            "device": device,
            "n_boot": n_boot,
            "seed": seed,
            "saliency_per_group": saliency_per_group,
            "insight": insight,
        }
        before = original_audit if original_audit is not None else audit(subject, **audit_options)
        after = audit(replace(subject, model=result.model), **audit_options)
        timings["evaluation"] = time.perf_counter() - t0

        parts = assess(
            subject,
            unlearned=result.model,
            forget_indices=forget_set.indices,
            retain_indices=forget_set.retain(),
            before=before,
            after=after,
            seconds=result.seconds,
            reference_forget_accuracy=reference_forget_accuracy,
            reference_gap=reference_gap,
            retrain_seconds=retrain_seconds,
            device=device,
            seed=seed,
            mia_samples=mia_samples,
            gradcam_images=gradcam_images,
        )
        timings.update(parts.timings)
        leak, rep, relearn = inspect_unlearning(
            subject, result.model, options=insight, device=device, seed=seed, timings=timings
        )
        pairs = _pairs(subject, result.model, insight, device=device, seed=seed, timings=timings)
        settings = {
            "forget_strategy": forget,
            "forget_options": forget_options or {},
            "seed": seed,
            "steps": result.steps,
            "chosen_step": result.chosen_step,
            "hyperparameters": result.hyperparameters,
        }
        run = UnlearnReport(
            method=method,
            intensity=float(intensity),
            before=before,
            after=after,
            forget=ForgetSummary(
                n=len(forget_set),
                accuracy_before=parts.forget_accuracy_before,  # from the privacy pass's forget-set logits
                accuracy_after=parts.forget_accuracy_after,
                reference_accuracy=reference_forget_accuracy,
                strategy=forget_set.strategy,
                description=forget_set.description,
                retain_n=len(retain_data),
            ),
            seconds=result.seconds,
            status=result.status,
            message=result.message,
            chosen_step=result.chosen_step,
            steps=result.steps,
            hyperparameters=result.hyperparameters,
            selection=result.extras.get("selection"),
            search=result.extras["auto"].to_json() if "auto" in result.extras else None,
            history=[e.to_json() for e in result.history],
            timings=timings,
            privacy=parts.privacy,
            radar=parts.radar,
            score=parts.score,
            dataset=parts.dataset,
            model_card=parts.model_card,
            gradcam=parts.gradcam,
            environment=parts.environment,
            settings=settings,
            leakage=leak,
            representation=rep,
            relearning=relearn,
            pairs=pairs,
            model=result.model,
            result=result,
            forget_set=forget_set,
        )
        if should_stop is not None and should_stop():
            raise StopRequested("unlearning was cancelled while its result was being measured; nothing was saved")
        if handle is not None:
            run.run_id = handle.run_id
            for name, value in parts.store_artifacts(run.model).items():
                handle.add(name, value)
            if pairs is not None and pairs.examples:
                from ..insight import pairs_picture

                handle.add(PAIRS_PICTURE, pairs_picture(sc.test, [e.index for e in pairs.examples]))
            handle.complete(run.to_json())
    return run
