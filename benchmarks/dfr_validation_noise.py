"""How much a validation half can tell DFR settings apart on patch-cifar10 (validation data only).

Run: ``.venv/bin/python -m benchmarks.dfr_validation_noise`` (writes
``benchmarks/results/dfr_validation_noise.md``; needs the CIFAR-10 folder; ``--seed`` picks the
scenario seed whose baseline is used, trained or loaded from ``BAMU_HOME``).

``auto`` and ``dfr`` choose on the validation split: a setting is fitted on one half and judged on
the other. This script repeats that on three stratified splits of the validation split
(:func:`bamu_core.unlearn.auto.split_validation`): for DFR's two samples (every image of the fit
half, or a group x class balanced sample of it) and a grid of inverse strengths ``C``, the last layer
is refitted on the fit half's penultimate features (the refit of :mod:`bamu_core.unlearn.dfr`,
without its blend with the original layer) and the judging half's accuracy and demographic-parity
difference (max over classes, patch vs no patch) are measured. Nothing here sees the test split.
Torch runs on one thread.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from bamu_core.forget._influence import features
from bamu_core.metrics import audit_metrics
from bamu_core.models.introspect import classifier_layer
from bamu_core.storage import atomic_write
from bamu_core.unlearn.auto import split_validation
from bamu_core.unlearn.dfr import _fit, balanced_sample
from bamu_core.workflows import load_subject

OUT = Path(__file__).parent / "results" / "dfr_validation_noise.md"
GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0, help="the scenario seed (data and baseline)")
    p.add_argument("--splits", default="0,1,2", help="seeds of the validation splits")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    subject = load_subject(scenario="patch-cifar10", seed=args.seed, device="cpu")
    val, model = subject.scenario.val, subject.model
    _, head = classifier_layer(model)
    k = head.out_features
    phi = features(model, val, device="cpu").double().numpy()
    theta0 = np.c_[head.weight.detach().double().numpy(), head.bias.detach().double().numpy()]
    y, g = val.labels, val.groups
    names = val.group_names[val.group_attr]

    def judged(theta, idx):
        pred = (phi[idx] @ theta[:, :-1].T + theta[:, -1]).argmax(1)
        m = audit_metrics(y_true=y[idx], y_pred=pred, groups=g[idx], group_names=names, num_classes=k, n_boot=0)
        return m["utility"]["accuracy"], m["fairness"]["demographic_parity_difference"]

    splits = [int(s) for s in args.splits.split(",")]
    table: dict[tuple[str, float], list[str]] = {}
    originals = []
    for split in splits:
        fit, choose = split_validation(val, 0.5, split)
        acc0, dp0 = judged(theta0, choose)
        originals.append(f"split {split}: accuracy {acc0:.3f}, DP {dp0:.3f} ({len(choose)} images)")
        for sample in ("all", "balanced"):
            idx = fit if sample == "all" else fit[balanced_sample(val.subset(fit), None, split)]
            for c in GRID:
                acc, dp = judged(_fit(phi[idx], y[idx], c, k, split), choose)
                cut = 1 - dp / dp0 if dp0 > 0 else float("nan")
                table.setdefault((sample, c), []).append(f"{cut:+.0%} (acc {acc - acc0:+.3f})")
    lines = [
        "# DFR settings judged on a validation half of patch-cifar10",
        "",
        f"Made by `python -m benchmarks.dfr_validation_noise --seed {args.seed} --splits {args.splits}` on "
        f"{time.strftime('%Y-%m-%d')} (CPU, one torch thread, {time.perf_counter() - t0:.0f} s). Validation data "
        f"only ({len(val)} images): each split fits on one half and judges on the other; cells are the judging "
        "half's cut of the demographic-parity difference (max over classes) against the original model, and "
        "its accuracy change.",
        "",
        "The original model on each judging half: " + "; ".join(originals) + ".",
        "",
        "| sample | C | " + " | ".join(f"split {s}" for s in splits) + " |",
        "|---|---|" + "---|" * len(splits),
    ]
    for (sample, c), cells in table.items():
        lines.append(f"| {sample} | {c:g} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "When the same setting's cut changes sign from one split to the next, a validation half of this size "
        "cannot tell the settings apart: the choice `auto` and `dfr` make on it is mostly noise.",
        "",
    ]
    text = "\n".join(lines)
    atomic_write(args.out, lambda tmp: tmp.write_text(text))
    print(text)


if __name__ == "__main__":
    main()
