"""Reading speed of the official-format loaders, and the backbones end to end (audit, Grad-CAM, LoRA).

Run from the repository root::

    .venv/bin/python -m benchmarks.zoo_and_datasets                       # CPU, small
    python -m benchmarks.zoo_and_datasets --device cuda --images 4000 --zoo-images 512

Part 1 writes a CelebA-layout folder of ``--images`` synthetic 178 x 218 JPEGs (seeded smooth
colour fields with noise, quality 90, about the size of the real files) and times
``load_celeba(image_size=64)`` with one decoding thread and with ``--workers``; it reports images
per second and the bytes held per image. Part 2, for every registered ImageNet-style backbone at
``--size`` (224) on ``--device``: build time, ``workflows.audit`` on ``--zoo-images`` random test images
(200 bootstrap resamples, saliency summary of 16 images per group), ``explain.grad_cam`` on 16
images, and the ``lora`` unlearning method for 10 steps (forget 64, retain 192 images), with its
status and the peak GPU memory. Weights are random: the timings, not the accuracies, are the point.
Results go to ``benchmarks/results/zoo_and_datasets-<device>.md``.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from bamu_core.data import ImageData, Scenario, load_celeba
from bamu_core.data.folder import IMAGENET_MEAN, IMAGENET_STD
from bamu_core.storage import atomic_write
from bamu_core.workflows import Subject, audit

ZOO = [
    "resnet18",
    "resnet50",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "convnext_tiny",
    "vit_b_16",
]
CELEBA_ATTRS = 40


def write_celeba(root: Path, n: int, seed: int = 0) -> None:
    """A CelebA-layout folder with ``n`` synthetic 178 x 218 JPEGs and random -1/1 attributes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    images = root / "img_align_celeba"
    images.mkdir(parents=True)
    names = [f"A{i:02d}" for i in range(CELEBA_ATTRS - 2)] + ["Male", "Smiling"]
    files = [f"{i + 1:06d}.jpg" for i in range(n)]
    yy, xx = np.mgrid[0:218, 0:178]
    for f in files:
        base = rng.uniform(0, 255, size=3)
        slope = rng.uniform(-0.6, 0.6, size=(3, 2))
        img = base[:, None, None] + slope[:, 0, None, None] * yy + slope[:, 1, None, None] * xx
        img = img + rng.normal(0, 12, size=img.shape)
        Image.fromarray(img.clip(0, 255).astype(np.uint8).transpose(1, 2, 0)).save(images / f, quality=90)
    values = rng.choice([-1, 1], size=(n, CELEBA_ATTRS))
    lines = [f"{n}\n", " ".join(names) + "\n"] + [
        f + " " + " ".join(map(str, row)) + "\n" for f, row in zip(files, values)
    ]
    (root / "list_attr_celeba.txt").write_text("".join(lines))
    split = np.where(np.arange(n) < 0.8 * n, 0, np.where(np.arange(n) < 0.9 * n, 1, 2))
    (root / "list_eval_partition.txt").write_text("".join(f"{f} {s}\n" for f, s in zip(files, split)))


def bench_reading(n: int, workers: int) -> list[str]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "celeba"
        start = time.perf_counter()
        write_celeba(root, n)
        written = time.perf_counter() - start
        jpeg_kb = sum(p.stat().st_size for p in (root / "img_align_celeba").iterdir()) / n / 1024
        for w in sorted({1, workers}):
            start = time.perf_counter()
            sc = load_celeba(root, image_size=64, workers=w)
            seconds = time.perf_counter() - start
            held = sum(d.images_u8.numel() for d in (sc.train, sc.val, sc.test))
            rows.append(f"| {n} | {jpeg_kb:.1f} | {w} | {seconds:.2f} | {n / seconds:,.0f} | {held / n:,.0f} |")
        print(f"wrote {n} JPEGs in {written:.1f} s")
    return rows


def synthetic_scenario(n: int, size: int = 224, seed: int = 0) -> Scenario:
    rng = np.random.default_rng(seed)

    def split(k: int) -> ImageData:
        return ImageData(
            images=torch.from_numpy(rng.integers(0, 256, size=(k, 3, size, size), dtype=np.uint8)),
            labels=rng.integers(0, 2, size=k),
            attrs={"group": rng.integers(0, 2, size=k)},
            group_names={"group": ["a", "b"]},
            group_attr="group",
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
        )

    return Scenario(
        name="synthetic-224",
        title="random images",
        bias="none",
        class_names=["no", "yes"],
        train=split(256),
        val=split(64),
        test=split(n),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        default_arch="resnet18",
        target_class=1,
    )


def bench_zoo(device: str, n: int, size: int) -> list[str]:
    from bamu_core.explain import grad_cam
    from bamu_core.models import build_model
    from bamu_core.unlearn import get_method

    sc = synthetic_scenario(n, size)
    rows = []
    for arch in ZOO:
        torch.manual_seed(0)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        model = build_model(arch, num_classes=2).eval()
        built = time.perf_counter() - start
        params = sum(p.numel() for p in model.parameters())
        subject = Subject(scenario=sc, model=model, arch=arch, model_source="random weights")
        audit(subject, device=device, saliency_per_group=0)  # warm-up (kernels, allocator)
        start = time.perf_counter()
        result = audit(subject, device=device)
        audited = time.perf_counter() - start
        model.to(device)
        x = sc.train.images(np.arange(16)).to(device)
        grad_cam(model, x[:2])
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        maps = grad_cam(model, x)
        if device == "cuda":
            torch.cuda.synchronize()
        cam = time.perf_counter() - start
        model.to("cpu")
        start = time.perf_counter()
        res = get_method("lora").run(
            model,
            sc.train.subset(np.arange(64)),
            sc.train.subset(np.arange(64, 256)),
            intensity=0.5,
            device=device,
            val=sc.val,
            hyperparameters={"steps": 10},
        )
        lora = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
        rows.append(
            f"| {arch} | {params / 1e6:.1f} M | {built:.2f} | {audited:.2f} | {result.saliency['layer']} "
            f"{tuple(maps.layer_shape)} | {cam:.3f} | {lora:.1f} ({res.status}, {res.extras['lora_parameters']:,} adapter params) | {peak:.1f} |"
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--images", type=int, default=200, help="synthetic CelebA images to write and read")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--zoo-images", type=int, default=32, help="test images per backbone audit")
    p.add_argument("--size", type=int, default=224, help="image size for the backbones")
    p.add_argument("--skip-zoo", action="store_true")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    lines = [
        f"# Official-format loaders and backbones ({args.device})",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
        + (f", {torch.cuda.get_device_name()}" if args.device == "cuda" else ""),
        "",
        f"Command: `python -m benchmarks.zoo_and_datasets --device {args.device} --images {args.images} "
        f"--workers {args.workers} --zoo-images {args.zoo_images} --size {args.size}`",
        "",
        "## Reading a CelebA-layout folder at 64 x 64",
        "",
        "| images | JPEG KiB each | threads | seconds | images / s | bytes held per image |",
        "|---|---|---|---|---|---|",
        *bench_reading(args.images, args.workers),
    ]
    if not args.skip_zoo:
        lines += [
            "",
            f"## Backbones at {args.size} x {args.size} ({args.zoo_images} test images)",
            "",
            "| arch | parameters | build s | audit s | Grad-CAM layer (map) | Grad-CAM 16 images s | LoRA 10 steps s | peak GPU GiB |",
            "|---|---|---|---|---|---|---|---|",
            *bench_zoo(args.device, args.zoo_images, args.size),
        ]
    text = "\n".join(lines) + "\n"
    out = args.out or Path(__file__).parent / "results" / f"zoo_and_datasets-{args.device}.md"
    atomic_write(out, lambda tmp: tmp.write_text(text))
    print(text)


if __name__ == "__main__":
    main()
