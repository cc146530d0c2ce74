"""Peak memory of one ``bamu`` run with each bounded numeric option at its limit.

Part of ``python -m benchmarks.probe_cases`` (its "memory at each bound" section). Each run is
a subprocess on the probe cases' tiny subject (16 images, small_cnn; 24 Waterbirds-layout
images for ``--max-per-split``); its peak resident set size is the child's own ``ru_maxrss``
from ``os.wait4`` (read by a small wrapper process, see :data:`_WRAPPER`). Options whose limit costs time rather than memory (``--hp steps``,
``--budget-s``) are listed with the reason they are not run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bamu_core.cli._common import (
    MAX_CLASSES,
    MAX_GALLERY_K,
    MAX_IMAGE_SIZE,
    MAX_N_BOOT,
    MAX_PER_SPLIT,
    MAX_RETAIN,
    MAX_SALIENCY_PER_GROUP,
    MAX_SEED,
    MIN_IMAGE_SIZE,
)

from .probe_workspace import AUDIT_QUICK, UNLEARN_QUICK, CaseDir, Workspace, bamu_command, bamu_env, save_model

#: Above this a run at an option's limit is a finding (the limit, or the memory use, must change).
BUDGET_MIB = 2048


@dataclass(frozen=True)
class Bound:
    """One option at its limit and the command line that exercises it."""

    option: str
    limit: str
    argv: Callable[[CaseDir], list] | None
    note: str = ""


@dataclass
class BoundMemory:
    option: str
    limit: str
    exit_code: int | None
    peak_rss_mib: float | None
    seconds: float
    note: str = ""

    @property
    def within_budget(self) -> bool:
        return self.peak_rss_mib is None or self.peak_rss_mib < BUDGET_MIB


def _audit(*extra):
    return lambda c: ["audit", *c.subject(), *AUDIT_QUICK, *extra]


def _unlearn(*extra):
    return lambda c: ["unlearn", *c.subject(), *UNLEARN_QUICK, "--out", c.dir / "m.safetensors", *extra]


def _many_classes(c: CaseDir) -> list:
    from .probe_workspace import model_state

    model = save_model(c.dir / "wide.safetensors", model_state(MAX_CLASSES))
    return ["audit", *c.subject(model), *AUDIT_QUICK, "--num-classes", str(MAX_CLASSES)]


BOUNDS = [
    Bound("--n-boot", f"{MAX_N_BOOT}", lambda c: ["audit", *c.subject(), "--saliency-per-group", "0", "--n-boot", str(MAX_N_BOOT)]),
    Bound("--image-size", f"{MAX_IMAGE_SIZE}", lambda c: ["audit", *c.subject(), *AUDIT_QUICK, "--image-size", str(MAX_IMAGE_SIZE)]),
    Bound("--image-size", f"{MIN_IMAGE_SIZE}", lambda c: ["audit", *c.subject(), *AUDIT_QUICK, "--image-size", str(MIN_IMAGE_SIZE)]),
    Bound("--saliency-per-group", f"{MAX_SALIENCY_PER_GROUP}", lambda c: ["audit", *c.subject(), "--n-boot", "0", "--saliency-per-group", str(MAX_SALIENCY_PER_GROUP)]),
    Bound("--gallery-k", f"{MAX_GALLERY_K}", _audit("--gallery", "gallery", "--gallery-k", str(MAX_GALLERY_K))),
    Bound("--seed", f"{MAX_SEED}", _unlearn("--seed", str(MAX_SEED))),
    Bound("--max-per-split", f"{MAX_PER_SPLIT}", lambda c: ["audit", "--waterbirds-root", c.waterbirds, "--image-size", "16", "--model", c.model, "--arch", "small_cnn", *AUDIT_QUICK, "--max-per-split", str(MAX_PER_SPLIT)]),
    Bound("--num-classes", f"{MAX_CLASSES}", _many_classes, "a 100000-class small_cnn checkpoint on 2-class data"),
    Bound("--retain-max", f"{MAX_RETAIN}", _unlearn("--retain-max", str(MAX_RETAIN))),
    Bound("--hp batch_size", "65536", lambda c: ["unlearn", *c.subject(), *UNLEARN_QUICK, "--hp", "batch_size=65536", "--out", c.dir / "m.safetensors"]),
    Bound("--hp steps", "1000000", None, "not run: a million steps costs time (hours), not memory; each step's memory is that of --hp batch_size"),
    Bound("--budget-s", "86400", None, "not run: a day of `--method auto` search; its memory is that of one candidate run"),
    Bound("--classes", "200", None, "not run: CUB-200-2011 only (no copy here); at most 200 species of that dataset"),
]  # fmt: skip


#: Runs the command as its own child and writes the child's ``ru_maxrss`` (KiB) to ``argv[1]``. A
#: wrapper, because Linux carries a process's peak RSS across ``exec``: a child started straight
#: from this (large) process would report this process's peak as its own.
_WRAPPER = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def measure(argv: list, case: CaseDir, *, timeout: float = 600) -> tuple[int | None, float | None, float]:
    """Run ``bamu argv`` in ``case``: (exit code or ``None`` on a timeout, peak RSS in MiB, seconds)."""
    report = case.dir / "maxrss.txt"
    start = time.perf_counter()
    with open(case.dir / "out.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRAPPER, str(report), *bamu_command(argv)],
            env=bamu_env(case.home),
            cwd=case.dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code: int | None = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
    seconds = time.perf_counter() - start
    kib = float(report.read_text()) if report.is_file() else None
    return code, (None if kib is None else kib / 1024), seconds  # ru_maxrss is in KiB on Linux


def measure_all(root: Path, bounds: list[Bound] = BOUNDS) -> list[BoundMemory]:
    """Each bound of ``bounds``, one after the other (so that runs do not compete for memory)."""
    ws = Workspace.build(root, stored_run=False)
    out = []
    for i, bound in enumerate(bounds):
        if bound.argv is None:
            out.append(BoundMemory(bound.option, bound.limit, None, None, 0.0, bound.note))
            continue
        case = CaseDir.make(ws, f"bound-{i}")
        code, mib, seconds = measure(bound.argv(case), case)
        note = bound.note
        if code not in (0, None):
            tail = (case.dir / "out.log").read_text(errors="replace").strip().splitlines()[-1:]
            note = "; ".join(filter(None, [note, f"exit {code}: {tail[0][:200] if tail else ''}"]))
        out.append(BoundMemory(bound.option, bound.limit, code, round(mib, 1), round(seconds, 2), note))
    return out


def markdown(rows: list[BoundMemory]) -> list[str]:
    measured = [r for r in rows if r.peak_rss_mib is not None]
    top = max(measured, key=lambda r: r.peak_rss_mib) if measured else None
    lines = [
        "## Memory at each bound",
        "",
        "Peak resident memory (the child's own `ru_maxrss`) of one `bamu` run with the option at its limit, on the "
        f"tiny subject; the budget is {BUDGET_MIB} MiB. On 16 images the data-size limits (`--max-per-split`, "
        "`--retain-max`, `--hp batch_size`) cannot bite: those runs show the cost of the option itself, and memory "
        "grows with the data actually read, not with the limit.",
    ]
    if top is not None:
        lines += ["", f"Largest: **{top.peak_rss_mib:.0f} MiB** (`{top.option} {top.limit}`)."]
    lines += ["", "| option | limit | exit | peak RSS MiB | s | note |", "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        mib = "-" if r.peak_rss_mib is None else f"{r.peak_rss_mib:.0f}"
        code = "-" if r.exit_code is None else str(r.exit_code)
        lines.append(f"| `{r.option}` | {r.limit} | {code} | {mib} | {r.seconds:.1f} | {r.note.replace('|', '/')} |")
    return lines
