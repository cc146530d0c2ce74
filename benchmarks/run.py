"""One entry point for every benchmark, and ``RESULTS.md``.

    .venv/bin/python -m benchmarks.run digits       # method x intensity x 3 seeds on the digit scenarios
    .venv/bin/python -m benchmarks.run cifar ARGS   # the paper's CIFAR-10 patch setting (see benchmarks/cifar_patch.py)
    .venv/bin/python -m benchmarks.run speed        # audit throughput and Grad-CAM latency
    .venv/bin/python -m benchmarks.run insight      # the views inside the model on the digit scenarios
    .venv/bin/python -m benchmarks.run results      # rebuild benchmarks/RESULTS.md from benchmarks/results/*.md

Every figure in ``RESULTS.md`` is in one of the result files, each written by the script named at
its top.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bamu_core.storage import atomic_write

HERE = Path(__file__).parent
SECTIONS = [
    ("auto_digits.md", "auto and strong baselines on the digit scenarios (3 data seeds)", "benchmarks/auto_bench.py"),
    (
        "auto_utkface.md",
        "auto and strong baselines on UTKFace gender / race (3 data seeds)",
        "benchmarks/auto_bench.py",
    ),
    (
        "auto_utkface_val100.md",
        "auto and dfr on UTKFace with twice the validation images (100 per race x gender cell)",
        "benchmarks/auto_bench.py",
    ),
    (
        "auto_cifar.md",
        "auto without the generator on CIFAR-10 patch bias, no hand table (3 data seeds)",
        "benchmarks/auto_bench.py",
    ),
    (
        "auto_cifar_variant.md",
        "auto on a CIFAR-10 patch variant (target cat, patch top-left)",
        "benchmarks/auto_bench.py",
    ),
    (
        "noise_floor.md",
        "Noise floor: the headline gaps of never-biased models (3 data seeds)",
        "benchmarks/noise_floor.py",
    ),
    ("utkface_bias.md", "The UTKFace scenario's bias, per seed", "benchmarks/utkface_bias.py"),
    ("cifar_patch.md", "CIFAR-10 patch bias, the paper's setting, every method (3 seeds)", "benchmarks/cifar_patch.py"),
    (
        "cifar_patch_cat_top_left.md",
        "CIFAR-10 patch variant (target cat, patch top-left), the methods without per-variant settings",
        "benchmarks/cifar_patch.py",
    ),
    ("unlearn_digits.md", "Unlearning on the digit scenarios", "benchmarks/unlearn_digits.py"),
    ("insight_digits.md", "Views inside the model on the digit scenarios", "benchmarks/insight_digits.py"),
    (
        "insight_digits_methods.md",
        "Views inside the model after ga, counterfactual and auto (relearning curves)",
        "benchmarks/insight_digits.py",
    ),
    (
        "insight_cifar.md",
        "Views inside the model on CIFAR-10 patch bias (leakage, CKA per block)",
        "benchmarks/insight_digits.py",
    ),
    (
        "dfr_validation_noise.md",
        "DFR settings judged on validation halves of patch-cifar10 (how noisy the choice is)",
        "benchmarks/dfr_validation_noise.py",
    ),
    (
        "validation_budget.md",
        "Results with 10 / 25 / 100 % of the validation split (3 data seeds)",
        "benchmarks/validation_budget.py",
    ),
    ("audit_speed.md", "Audit throughput and Grad-CAM latency", "benchmarks/audit_speed.py"),
    (
        "eval_every.md",
        "Judging every step or a quarter of the time (eval_every 1 vs 0) on the digits",
        "benchmarks/eval_every.py",
    ),
    (
        "speed_digits.md",
        "Unlearning speed on the digits, one thread, share of validation",
        "benchmarks/speed_digits.py",
    ),
    ("ray_sweep.md", "A sweep in process and on a local Ray (2 CPUs)", "benchmarks/ray_sweep.py"),
    ("ray_audit_cifar.md", "A sharded patch-cifar10 audit on a local Ray", "bamu audit --executor ray"),
    (
        "probe_cases/probe_cases.md",
        "Adversarial input and output cases, memory at each bound",
        "benchmarks/probe_cases.py",
    ),
    ("zoo_and_datasets-cuda.md", "Official-format loaders and backbones on a GPU", "benchmarks/zoo_and_datasets.py"),
    ("cold_start.md", "Dashboard cold start to the first radar chart", "benchmarks/cold_start.py"),
    ("job_sharing.md", "A small job beside another session's long job (fair sharing)", "benchmarks/job_sharing.py"),
]


def write_results() -> str:
    lines = [
        "# Benchmark results",
        "",
        "Rebuilt by `.venv/bin/python -m benchmarks.run results`. Each section below is a result file in",
        "`benchmarks/results/`, written by the script named beside it; rerun that script to regenerate it.",
        "Every figure states the device it was measured on.",
        "",
        "| topic | result file | plots (fairness vs utility) | script |",
        "|---|---|---|---|",
    ]
    present = []
    for name, title, script in SECTIONS:
        path = HERE / "results" / name
        if path.exists():
            plots = sorted((HERE / "results").glob(f"{path.stem}_pareto*"))
            links = ", ".join(f"[{p.name}](results/{p.name})" for p in plots) or "–"
            lines.append(f"| {title} | [results/{name}](results/{name}) | {links} | `{script}` |")
            present.append(path)
    lines.append("")
    for path in present:
        lines += ["---", "", path.read_text().replace("\n# ", "\n## ").lstrip().replace("# ", "## ", 1), ""]
    text = "\n".join(lines)
    atomic_write(HERE / "RESULTS.md", lambda p: p.write_text(text))
    return text


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return
    part, rest = argv[0], argv[1:]
    if part == "digits":
        from . import unlearn_digits

        unlearn_digits.main(rest)
    elif part == "cifar":
        from . import cifar_patch

        cifar_patch.main(rest)
    elif part == "speed":
        from . import audit_speed

        audit_speed.main(rest)
    elif part == "insight":
        from . import insight_digits

        insight_digits.main(rest)
    elif part == "results":
        write_results()
        print(f"wrote {HERE / 'RESULTS.md'}")
    else:
        raise SystemExit(f"unknown part {part!r}; use digits, cifar, speed, insight or results")


if __name__ == "__main__":
    main()
