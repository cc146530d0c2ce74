"""Audit throughput against a bare ``torch.inference_mode`` loop, and Grad-CAM latency.

Run from the repository root::

    .venv/bin/python -m benchmarks.audit_speed            # writes benchmarks/results/audit_speed.md

For each case the model and data are the same for both contenders: the bare loop iterates the
split with ``bamu_core.data.batches`` under ``torch.inference_mode`` and does nothing else; the
audit is ``bamu_core.workflows.audit`` with 200 bootstrap resamples and no saliency (its one
inference pass plus every metric and interval). The two are timed alternately ``--repeats`` times
and the medians reported, because the CPU may be shared. The audit with its default saliency
summary (16 images per group) is timed separately. Grad-CAM: ``bamu_core.explain.grad_cam`` on 16
CIFAR-10 images with ResNet-20 on the CPU (Captum ``LayerGradCam`` on ``layer3``), after one
warm-up call, with the default thread count and with one thread. Weights do not change the
timings; the pretrained ResNet-20 is used when ``../shared/models`` has it, else a seeded one.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from bamu_core.data import batches, default_cifar_root, load_scenario
from bamu_core.explain import grad_cam
from bamu_core.metrics import audit_metrics
from bamu_core.models import build_model, load_weights, read_state_dict, shared_resnet20_path
from bamu_core.storage import atomic_write
from bamu_core.workflows import Subject, audit

RESULTS = Path(__file__).parent / "results" / "audit_speed.md"


def _model(arch: str, scenario) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(arch, num_classes=scenario.num_classes, in_channels=scenario.image_shape[0])
    path = shared_resnet20_path() if arch == "resnet20" else None
    if path is not None:
        load_weights(model, read_state_dict(path), source=path.name)
    return model.eval()


def _bare_loop(model, data, batch_size: int) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        for x, *_ in batches(data, batch_size=batch_size):
            model(x)
    return time.perf_counter() - start


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _cases(cifar_per_class: int):
    yield "binary-colored-digits", load_scenario("binary-colored-digits"), "small_cnn"
    yield "colored-digits", load_scenario("colored-digits"), "small_cnn"
    root = default_cifar_root()
    if root is not None and (root / "test").is_dir():
        sc = load_scenario("patch-cifar10", cifar_root=root, per_class=cifar_per_class, val_per_class=10)
        yield f"patch-cifar10 ({cifar_per_class}/class)", sc, "resnet20"


def bench_audit(repeats: int, batch_size: int, cifar_per_class: int) -> list[dict]:
    rows = []
    for name, sc, arch in _cases(cifar_per_class):
        model = _model(arch, sc)
        subject = Subject(scenario=sc, model=model, arch=arch, model_source="benchmark")
        data = sc.test
        kw = dict(device="cpu", batch_size=batch_size)
        audit(subject, saliency_per_group=0, **kw)  # warm-up
        _bare_loop(model, data, batch_size)
        bare, full = [], []
        for _ in range(repeats):  # alternate, so both see the same load
            bare.append(_bare_loop(model, data, batch_size))
            full.append(_timed(lambda: audit(subject, saliency_per_group=0, n_boot=200, **kw)))
        with_saliency = [_timed(lambda: audit(subject, **kw)) for _ in range(max(1, repeats // 2))]
        with torch.inference_mode():
            preds = torch.cat([model(x).argmax(1) for x, *_ in batches(data, batch_size=batch_size)]).numpy()
        metrics = [
            _timed(
                lambda: audit_metrics(
                    y_true=data.labels,
                    y_pred=preds,
                    groups=data.groups,
                    group_names=data.group_names[data.group_attr],
                    num_classes=sc.num_classes,
                    n_boot=200,
                )
            )
            for _ in range(repeats)
        ]
        b, a = statistics.median(bare), statistics.median(full)
        rows.append(
            {
                "case": name,
                "arch": arch,
                "images": len(data),
                "groups": len(data.group_names[data.group_attr]),
                "bare_s": b,
                "audit_s": a,
                "ratio": b / a,
                "audit_saliency_s": statistics.median(with_saliency),
                "metrics_ms": 1000 * statistics.median(metrics),
            }
        )
        print(f"{name}: bare {b:.3f} s, audit {a:.3f} s, throughput ratio {b / a:.2f}", flush=True)
    return rows


def bench_gradcam(repeats: int) -> list[dict]:
    root = default_cifar_root()
    sc = None
    if root is not None and (root / "test").is_dir():
        sc = load_scenario("patch-cifar10", cifar_root=root, per_class=20, val_per_class=10)
        images = sc.test.images(np.arange(16) * 10)
        source = "16 CIFAR-10 test images"
    else:
        images = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        source = "16 random 32x32 images"
    model = _model("resnet20", sc) if sc is not None else build_model("resnet20", num_classes=10).eval()
    rows = []
    default_threads = torch.get_num_threads()
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        try:
            grad_cam(model, images)  # warm-up
            times = [_timed(lambda: grad_cam(model, images)) for _ in range(repeats)]
        finally:
            torch.set_num_threads(default_threads)
        sal = grad_cam(model, images)
        rows.append(
            {
                "threads": threads,
                "median_s": statistics.median(times),
                "min_s": min(times),
                "max_s": max(times),
                "method": sal.method,
                "layer": sal.layer,
                "source": source,
            }
        )
        print(
            f"Grad-CAM, 16 images, ResNet-20, {threads} thread(s): median {statistics.median(times):.3f} s", flush=True
        )
    return rows


def _machine() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "load": load,
    }


def report(machine: dict, audit_rows: list[dict], cam_rows: list[dict], repeats: int, load_after) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Audit speed",
        "",
        "Produced by `.venv/bin/python -m benchmarks.audit_speed` (see the script's docstring for the method).",
        "",
        f"Machine: {machine['cpu_count']} CPUs ({machine['processor']}), {machine['platform']}; torch {machine['torch']} "
        f"({machine['torch_threads']} threads), numpy {machine['numpy']}, Python {machine['python']}. Run {when}. "
        f"Load average at start {machine['load'][0]:.1f}, at end {load_after[0]:.1f}: the CPU was shared, so every "
        f"time is the median of {repeats} runs (bare loop and audit alternating).",
        "",
        "## Audit throughput vs a bare inference loop (goal: ratio >= 0.8)",
        "",
        "Audit = one inference pass + all metrics + 200 group-stratified bootstrap resamples, no saliency.",
        "Ratio = audit throughput / bare-loop throughput = bare time / audit time.",
        "",
        "| case | model | test images | groups | bare loop (s) | audit (s) | ratio | audit + saliency (s) | metrics + CIs alone (ms) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in audit_rows:
        lines.append(
            f"| {r['case']} | {r['arch']} | {r['images']} | {r['groups']} | {r['bare_s']:.3f} | {r['audit_s']:.3f} | "
            f"{r['ratio']:.2f} | {r['audit_saliency_s']:.3f} | {r['metrics_ms']:.1f} |"
        )
    lines += [
        "",
        "The saliency summary (16 images per group, Grad-CAM/HiResCAM) is extra work on top of the one",
        "inference pass; `--saliency-per-group 0` skips it.",
        "",
        "## Grad-CAM latency, 16 images, ResNet-20, CPU (goal: <= 1 s)",
        "",
        "| threads | method | layer | images | median (s) | min (s) | max (s) |",
        "|---:|---|---|---|---:|---:|---:|",
    ]
    for r in cam_rows:
        lines.append(
            f"| {r['threads']} | {r['method']} | {r['layer']} | {r['source']} | {r['median_s']:.3f} | {r['min_s']:.3f} | {r['max_s']:.3f} |"
        )
    if len(cam_rows) > 1:
        lines += [
            "",
            "When other processes keep the cores busy, torch's multi-threaded kernels wait on each other and",
            "the spread between min and max shows it; the single-thread row is the stable figure there.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median reported; default 5)")
    p.add_argument("--batch-size", type=int, default=512, help="inference batch size for both contenders (default 512)")
    p.add_argument("--cifar-per-class", type=int, default=100, help="CIFAR-10 test images per class (default 100)")
    p.add_argument("--threads", type=int, help="torch threads for the audit comparison (default: torch's default)")
    p.add_argument("--out", type=Path, default=RESULTS, help=f"markdown output (default {RESULTS})")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = _machine()
    audit_rows = bench_audit(args.repeats, args.batch_size, args.cifar_per_class)
    cam_rows = bench_gradcam(max(args.repeats, 7))
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    text = report(machine, audit_rows, cam_rows, args.repeats, load_after)
    atomic_write(args.out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
