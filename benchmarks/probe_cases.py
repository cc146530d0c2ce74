"""Adversarial probe cases against the real ``bamu`` command line, each in its own subprocess.

    .venv/bin/python -m benchmarks.probe_cases                      # every case + memory at each bound
    .venv/bin/python -m benchmarks.probe_cases --only audit-json    # cases whose name contains a text
    .venv/bin/python -m benchmarks.probe_cases --no-memory --out DIR

Writes ``probe_cases.json`` and ``probe_cases.md`` into ``--out`` (default
``benchmarks/results/probe_cases``). Each case runs in a fresh copy of a tiny world (16 images,
a small CNN, a ``BAMU_HOME`` with one stored run and a baseline cache file; see
:mod:`benchmarks.probe_workspace`) under a temporary folder, and records its exit code, whether
what it printed is one line with no traceback, whether the paths it aims at are byte-for-byte
unchanged, and whether it held. Zip uploads exist only in the dashboard, so those cases call
``dashboard.uploads.extract_zip`` in this process; the Host-check cases start the dashboard as
``./run.sh`` does and send HTTP requests. ``benchmarks/memory_bounds.py`` adds the peak memory
of one run at each numeric option's limit.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import http.client
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .probe_workspace import (
    AUDIT_QUICK,
    CACHE_NAME,
    ROOT,
    UNLEARN_QUICK,
    CaseDir,
    Workspace,
    bamu_command,
    bamu_env,
    bomb_png,
    fingerprint,
    model_state,
    one_bit_png,
    save_model,
    zip_bytes,
)

OUT = ROOT / "benchmarks" / "results" / "probe_cases"


# ------------------------------------------------------------------------------------------------
# what a case is, and what it records
# ------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one run did: an exit code (an HTTP status for the Host cases) and its output."""

    code: int
    stdout: str = ""
    stderr: str = ""


@dataclass
class Setup:
    """A case made ready in its folder: the ``bamu`` command line (or a ``run`` of its own), the
    paths that must stay byte-for-byte as they were, and an extra check (a reason when it fails)."""

    argv: list | None = None
    watch: list[Path] = field(default_factory=list)
    check: Callable[[Outcome], str | None] | None = None
    run: Callable[[], Outcome] | None = None
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Probe:
    """One adversarial case: its name, finding class, expected behaviour and how to set it up.

    ``code`` is the expected exit code; ``message`` a regular expression that the one line printed
    (stderr; for a successful run, one of its lines) must match.
    """

    name: str
    finding: str
    expectation: str
    prepare: Callable[[CaseDir], Setup] = field(repr=False)
    code: int = 2
    message: str = ""
    skip: Callable[[], str | None] | None = field(default=None, repr=False)
    timeout: float = 120.0


@dataclass
class ProbeResult:
    name: str
    finding: str
    expectation: str
    exit_code: int | None
    one_line: bool
    unchanged: bool
    passed: bool
    seconds: float
    skipped: str | None = None
    detail: str = ""


# ------------------------------------------------------------------------------------------------
# running a case
# ------------------------------------------------------------------------------------------------


def _lines(stderr: str) -> list[str]:
    """The lines a user reads (progress lines, indented by two spaces, left out)."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("  ")]


def run_probe(probe: Probe, ws: Workspace) -> ProbeResult:
    """Set the case up in its own folder, run it, and judge it."""
    if probe.skip is not None and (why := probe.skip()):
        return ProbeResult(probe.name, probe.finding, probe.expectation, None, True, True, True, 0.0, skipped=why)
    case = CaseDir.make(ws, probe.name)
    setup = probe.prepare(case)
    before = [fingerprint(p) for p in setup.watch]
    start = time.perf_counter()
    try:
        if setup.run is not None:
            outcome = setup.run()
        else:
            done = subprocess.run(
                bamu_command(setup.argv),
                env={**bamu_env(case.home), **setup.env},
                cwd=case.dir,
                capture_output=True,
                text=True,
                timeout=probe.timeout,
            )
            outcome = Outcome(done.returncode, done.stdout, done.stderr)
    except subprocess.TimeoutExpired:
        outcome = Outcome(-9, "", f"timed out after {probe.timeout:g} s")
    seconds = time.perf_counter() - start
    lines = _lines(outcome.stderr)
    no_traceback = "Traceback" not in outcome.stderr and "Traceback" not in outcome.stdout
    if probe.code != 0:
        one_line = no_traceback and len(lines) == 1
        shown = lines[0] if lines else ""
        matched = bool(re.search(probe.message, shown, re.IGNORECASE))
    else:
        one_line = no_traceback and not any(": error:" in line for line in lines)
        found = [line for line in [*lines, *outcome.stdout.splitlines()] if re.search(probe.message, line, re.I)]
        matched = not probe.message or len(found) == 1
        shown = found[0] if found else (lines[0] if lines else "")
    changed = [str(p) for p, fp in zip(setup.watch, before) if fingerprint(p) != fp]
    problems = []
    if outcome.code != probe.code:
        problems.append(f"exit code {outcome.code}, expected {probe.code}")
    if not one_line:
        problems.append(f"not one line: {outcome.stderr.strip()[-300:]!r}")
    if not matched:
        problems.append(f"message {shown!r} does not match {probe.message!r}")
    if changed:
        problems.append(f"changed: {', '.join(changed)}")
    if setup.check is not None and (why := setup.check(outcome)):
        problems.append(why)
    return ProbeResult(
        name=probe.name,
        finding=probe.finding,
        expectation=probe.expectation,
        exit_code=outcome.code,
        one_line=one_line,
        unchanged=not changed,
        passed=not problems,
        seconds=round(seconds, 3),
        detail="; ".join(problems) if problems else shown[:300],
    )


def run_all(probes: list[Probe], root: Path, *, workers: int = 2, stored_run: bool = True) -> list[ProbeResult]:
    """Build the workspace under ``root`` and run ``probes`` (``workers`` at a time), in order;
    ``stored_run=False`` skips the workspace's stored run (only the ``report`` cases need it)."""
    ws = Workspace.build(root, stored_run=stored_run)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda p: run_probe(p, ws), probes))
    finally:
        _SERVER.stop()


# ------------------------------------------------------------------------------------------------
# the catalogue
# ------------------------------------------------------------------------------------------------

F_KIND = "1 output onto a link, FIFO or folder"
F_INPUT = "2 output onto an input or the run store"
F_UNIQUE = "3 default --out names collide"
F_HOST = "4 Host header (DNS rebinding)"
F_BOUND = "5 unbounded numeric options"
F_BOMB = "6 decompression bombs"
F_DUP = "7 duplicate rows"
F_CACHE = "8 output into bamu's caches"
F_ENV = "9 environment failures"
F_CKPT = "10 damaged checkpoints"
F_DATA = "11 data spellings and normalisation"
F_ZIP = "12 malformed zip uploads"
F_MKDIR = "13 --mkdir leaves empty folders"
FINDINGS = (F_KIND, F_INPUT, F_UNIQUE, F_HOST, F_BOUND, F_BOMB, F_DUP, F_CACHE, F_ENV, F_CKPT, F_DATA, F_ZIP, F_MKDIR)

# -- output targets ------------------------------------------------------------------------------


def _make_target(kind: str, c: CaseDir, suffix: str) -> tuple[Path, list[Path]]:
    """A bad target of ``kind`` for a file output: (the path to pass, the paths to watch)."""
    if kind == "run-store":
        path = c.home / "runs" / "runs.sqlite3"
        return path, [path]
    if kind == "checkpoint":
        return c.model, [c.model]
    if kind == "metadata-csv":
        return c.meta, [c.meta]
    if kind == "data-image":
        return c.data / "img0.png", [c.data]
    if kind == "symlink":
        real = c.dir / f"real{suffix}"
        real.write_text("mine\n")
        link = c.dir / f"link{suffix}"
        link.symlink_to(real)
        return link, [link, real]
    if kind == "fifo":
        pipe = c.dir / f"pipe{suffix}"
        os.mkfifo(pipe)
        return pipe, [pipe]
    if kind == "folder":
        folder = c.dir / f"folder{suffix}"
        folder.mkdir()
        (folder / "keep.txt").write_text("mine\n")
        return folder, [folder]
    if kind == "baseline-cache":
        path = c.home / "models" / CACHE_NAME
        return path, [path]
    if kind == "missing-folder":
        return c.dir / "new" / "a" / f"out{suffix}", [c.dir / "new"]
    raise ValueError(kind)


_KIND_MESSAGE = {
    "run-store": r"which bamu manages",
    "checkpoint": r"an input of this command",
    "metadata-csv": r"an input of this command",
    "data-image": r"which this command reads",
    "symlink": r"symbolic link",
    "fifo": r"named pipe \(FIFO\)",
    "folder": r"is a folder",
    "baseline-cache": r"which bamu manages",
    "missing-folder": r"does not exist.*--mkdir",
}
_KIND_WORDS = {
    "run-store": "the run store's database",
    "checkpoint": "the command's own checkpoint",
    "metadata-csv": "the command's metadata CSV",
    "data-image": "an image of the data folder",
    "symlink": "a symbolic link to a file",
    "fifo": "a named pipe",
    "folder": "an existing folder",
    "baseline-cache": "a baseline cache file",
    "missing-folder": "a path under a missing folder (no --mkdir)",
}
_KIND_FINDING = {
    "run-store": F_INPUT,
    "checkpoint": F_INPUT,
    "metadata-csv": F_INPUT,
    "data-image": F_INPUT,
    "symlink": F_KIND,
    "fifo": F_KIND,
    "folder": F_KIND,
    "baseline-cache": F_CACHE,
    "missing-folder": F_MKDIR,
}
ALL_KINDS = tuple(_KIND_MESSAGE)
NO_INPUT_KINDS = ("run-store", "symlink", "fifo", "folder", "baseline-cache", "missing-folder")


def _command(command: str, c: CaseDir) -> list:
    if command == "audit":
        return ["audit", *c.subject(), *AUDIT_QUICK]
    if command == "unlearn":
        return ["unlearn", *c.subject(), *UNLEARN_QUICK]
    if command == "sweep":
        return ["sweep", *c.subject(), "--methods", "finetune", "--intensities", "0.5", "--forget", "group:a"]
    if command == "sweep-out":
        return [*_command("sweep", c), "--out", c.dir / "sweep"]
    if command == "report":
        return ["report", c.run_id]
    return [command]


_FILE_OUTPUTS = [  # (command, flag, suffix, kinds)
    ("audit", "--json", ".json", ALL_KINDS),
    ("unlearn", "--json", ".json", ALL_KINDS),
    ("unlearn", "--out", ".safetensors", ALL_KINDS),
    ("sweep-out", "--json", ".json", ALL_KINDS),
    ("report", "--json", ".json", NO_INPUT_KINDS),
    ("report", "--html", ".html", NO_INPUT_KINDS),
    ("report", "--csv", ".csv", NO_INPUT_KINDS),
    ("scenarios", "--json", ".json", NO_INPUT_KINDS),
    ("runs", "--json", ".json", NO_INPUT_KINDS),
]


def _file_output_probe(command: str, flag: str, suffix: str, kind: str) -> Probe:
    def prepare(c: CaseDir) -> Setup:
        target, watch = _make_target(kind, c, suffix)
        return Setup(argv=[*_command(command, c), flag, target], watch=[*watch, c.home / "runs"])

    message = _KIND_MESSAGE[kind]
    if flag == "--out" and kind in ("run-store", "metadata-csv", "data-image"):
        message = r"--out must be a \.safetensors file"  # refused on its name before the path is looked at
    name = command.split("-")[0]
    return Probe(
        name=f"{name}{flag.replace('--', '-')}-onto-{kind}",
        finding=_KIND_FINDING[kind],
        expectation=f"`bamu {name} {flag}` onto {_KIND_WORDS[kind]}: exit 2, one line, target and run store unchanged",
        prepare=prepare,
        message=message,
    )


_FOLDER_KINDS = {  # kind: (message, words, finding)
    "symlink": (r"symbolic link", "a symbolic link to a folder", F_KIND),
    "regular-file": (r"is a file, not a folder", "an existing regular file", F_KIND),
    "run-store": (r"which bamu manages", "a folder inside the run store", F_INPUT),
    "data-folder": (r"which this command reads", "a folder inside the data folder", F_INPUT),
    "baseline-cache": (r"which bamu manages", "a folder inside the baseline cache", F_CACHE),
    "missing-parent": (r"does not exist.*--mkdir", "a folder whose parent is missing (no --mkdir)", F_MKDIR),
}


def _folder_target(kind: str, c: CaseDir) -> tuple[Path, list[Path]]:
    if kind == "symlink":
        real = c.dir / "real-folder"
        real.mkdir()
        (real / "keep.txt").write_text("mine\n")
        link = c.dir / "link-folder"
        link.symlink_to(real)
        return link, [link, real]
    if kind == "regular-file":
        path = c.dir / "notes.txt"
        path.write_text("mine\n")
        return path, [path]
    if kind == "run-store":
        return c.home / "runs" / "out", [c.home / "runs"]
    if kind == "data-folder":
        return c.data / "out", [c.data]
    if kind == "baseline-cache":
        return c.home / "models" / "out", [c.home / "models"]
    if kind == "missing-parent":
        return c.dir / "new" / "a" / "out", [c.dir / "new"]
    raise ValueError(kind)


def _folder_output_probe(command: str, flag: str, kind: str) -> Probe:
    message, words, finding = _FOLDER_KINDS[kind]

    def prepare(c: CaseDir) -> Setup:
        target, watch = _folder_target(kind, c)
        return Setup(argv=[*_command(command, c), flag, target], watch=[*watch, c.home / "runs"])

    return Probe(
        name=f"{command}{flag.replace('--', '-')}-onto-{kind}",
        finding=finding,
        expectation=f"`bamu {command} {flag}` onto {words}: exit 2, one line, before any work; nothing changes",
        prepare=prepare,
        message=message,
    )


def _same_path_probes() -> list[Probe]:
    def unlearn(c: CaseDir) -> Setup:
        target = c.dir / "both.safetensors"
        target.write_bytes(b"mine")
        return Setup(argv=[*_command("unlearn", c), "--out", target, "--json", target], watch=[target, c.home / "runs"])

    def report(c: CaseDir) -> Setup:
        target = c.dir / "both.html"
        return Setup(argv=["report", c.run_id, "--html", target, "--json", target], watch=[target])

    def sweep(c: CaseDir) -> Setup:
        out = c.dir / "sweep"
        out.mkdir()
        return Setup(argv=[*_command("sweep", c), "--out", out, "--json", out / "sweep.json"], watch=[out, c.home])

    return [
        Probe(
            "unlearn-out-and-json-one-path",
            F_INPUT,
            "`bamu unlearn --out X --json X`: exit 2, one line naming both flags, X unchanged",
            unlearn,
            message=r"name the same file",
        ),
        Probe(
            "report-html-and-json-one-path",
            F_INPUT,
            "`bamu report --html X --json X`: exit 2, one line, X not created",
            report,
            message=r"name the same file",
        ),
        Probe(
            "sweep-json-inside-its-out",
            F_INPUT,
            "`bamu sweep --json OUT/sweep.json`: exit 2, one line (the sweep writes that file itself)",
            sweep,
            message=r"which the sweep writes itself",
        ),
    ]


def _cache_probes() -> list[Probe]:
    def retrain(c: CaseDir) -> Setup:
        return Setup(argv=[*_command("unlearn", c), "--json", c.home / "retrain" / "x.json"], watch=[c.home])

    def scenarios(c: CaseDir) -> Setup:
        return Setup(argv=[*_command("unlearn", c), "--out", c.home / "scenarios" / "x.safetensors"], watch=[c.home])

    return [
        Probe(
            "unlearn-json-into-retrain-cache",
            F_CACHE,
            "`--json $BAMU_HOME/retrain/x.json`: exit 2, one line; BAMU_HOME unchanged",
            retrain,
            message=r"which bamu manages",
        ),
        Probe(
            "unlearn-out-into-scenario-cache",
            F_CACHE,
            "`--out $BAMU_HOME/scenarios/x.safetensors`: exit 2, one line; BAMU_HOME unchanged",
            scenarios,
            message=r"which bamu manages",
        ),
    ]


def _mkdir_probes() -> list[Probe]:
    def failing_audit(c: CaseDir) -> Setup:
        target = c.dir / "new" / "a" / "b" / "out.json"
        argv = ["audit", "--data", c.dir / "no-such-folder", *AUDIT_QUICK, "--mkdir", "--json", target]
        return Setup(argv=argv, watch=[c.dir / "new"])

    def failing_unlearn(c: CaseDir) -> Setup:
        target = c.dir / "new" / "a" / "m.safetensors"
        argv = ["unlearn", *c.subject(), *UNLEARN_QUICK[:4], "--hp", "steps=abc", "--mkdir", "--out", target]
        return Setup(argv=argv, watch=[c.dir / "new", c.home / "runs"])

    def failing_gallery(c: CaseDir) -> Setup:
        bad = c.dir / "empty.pt"
        bad.write_bytes(b"")
        argv = ["audit", *c.subject(bad), *AUDIT_QUICK, "--mkdir", "--gallery", c.dir / "new" / "a" / "g"]
        return Setup(argv=argv, watch=[c.dir / "new"])

    def failing_sweep(c: CaseDir) -> Setup:
        bad = c.dir / "empty.pt"
        bad.write_bytes(b"")
        argv = ["sweep", *c.subject(bad), "--methods", "finetune", "--mkdir", "--out", c.dir / "new" / "a" / "s"]
        return Setup(argv=argv, watch=[c.dir / "new"])

    def keeps_existing(c: CaseDir) -> Setup:
        (c.dir / "kept").mkdir()
        argv = ["audit", "--data", c.dir / "nowhere", "--mkdir", "--json", c.dir / "kept" / "new" / "out.json"]
        return Setup(argv=argv, watch=[c.dir / "kept"])

    def succeeding(c: CaseDir) -> Setup:
        target = c.dir / "new" / "a" / "out.json"

        def check(outcome: Outcome) -> str | None:
            return None if target.is_file() else f"{target} was not written"

        return Setup(argv=["scenarios", "--mkdir", "--json", target], check=check)

    return [
        Probe(
            "mkdir-failed-audit-json",
            F_MKDIR,
            "`bamu audit --mkdir --json new/a/b/out.json` that fails (missing data): exit 2, no `new/` left",
            failing_audit,
            message=r"needs a metadata CSV",
        ),
        Probe(
            "mkdir-failed-unlearn-out",
            F_MKDIR,
            "`bamu unlearn --mkdir --out new/a/m.safetensors --hp steps=abc`: exit 2, no `new/` left, no run",
            failing_unlearn,
            message=r"--hp steps=abc",
        ),
        Probe(
            "mkdir-failed-audit-gallery",
            F_MKDIR,
            "`bamu audit --mkdir --gallery new/a/g` with an empty checkpoint: exit 2, no `new/` left",
            failing_gallery,
            message=r"checkpoint empty\.pt",
        ),
        Probe(
            "mkdir-failed-sweep-out",
            F_MKDIR,
            "`bamu sweep --mkdir --out new/a/s` with an empty checkpoint: exit 2, no `new/` left",
            failing_sweep,
            message=r"checkpoint empty\.pt",
        ),
        Probe(
            "mkdir-keeps-a-pre-existing-folder",
            F_MKDIR,
            "a failed `--mkdir` run under an existing empty `kept/`: `kept/new` removed, `kept/` stays",
            keeps_existing,
            message=r"needs a metadata CSV",
        ),
        Probe(
            "mkdir-succeeding-run-keeps-folders",
            F_MKDIR,
            "`bamu scenarios --mkdir --json new/a/out.json`: exit 0, the folders and the file stay",
            succeeding,
            code=0,
        ),
    ]


# -- default --out uniqueness --------------------------------------------------------------------


def _concurrent_unlearn(c: CaseDir) -> Setup:
    folder = c.home / "unlearned"
    before = set(folder.glob("*.safetensors"))

    def run() -> Outcome:
        procs = [
            subprocess.Popen(
                bamu_command(["unlearn", *c.subject(), *UNLEARN_QUICK]),
                env=bamu_env(c.home),
                cwd=c.dir,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        outs = [p.communicate(timeout=300) for p in procs]
        codes = [p.returncode for p in procs]
        return Outcome(max(codes, key=abs), "\n".join(o[0] for o in outs), "\n".join(o[1] for o in outs))

    def check(outcome: Outcome) -> str | None:
        new = set(folder.glob("*.safetensors")) - before
        if len(new) != 3:
            return f"{len(new)} new weight files for 3 runs: {sorted(p.name for p in new)}"
        saved = re.findall(r"saved the unlearned model to (\S+\.safetensors)", outcome.stdout)
        if len(set(saved)) != 3:
            return f"the runs printed {len(set(saved))} distinct files: {saved}"
        return None

    return Setup(run=run, check=check)


# -- the Host check ------------------------------------------------------------------------------


class _Dashboard:
    """The dashboard started once (as ``./run.sh`` starts it) for the Host cases, stopped at the end."""

    def __init__(self):
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.error: str | None = None

    def start(self, home: Path, log: Path) -> int:
        with self._lock:
            if self.port is not None or self.error is not None:
                if self.error:
                    raise RuntimeError(self.error)
                return self.port
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            args = [sys.executable, "-m", "dashboard.host_check", "run", "app.py", "--server.headless", "true"]
            env = {**bamu_env(home), "BAMU_ALLOWED_HOSTS": "lab.test"}
            self._log = open(log, "w")
            self._proc = subprocess.Popen(
                [*args, "--server.port", str(port)], cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
            )
            deadline = time.time() + 90
            while time.time() < deadline and self._proc.poll() is None:
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=1) as r:
                        if r.status == 200:
                            self.port = port
                            return port
                time.sleep(0.3)
            self.error = f"the dashboard did not start within 90 s (see {log})"
            raise RuntimeError(self.error)

    def stop(self) -> None:
        with self._lock:
            if self._proc is not None:
                self._proc.terminate()
                try:
                    self._proc.wait(15)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
                self._log.close()
                self._proc = None


_SERVER = _Dashboard()


def _http_status(port: int, host: str, path: str = "/", *, upgrade: bool = False) -> int:
    headers = {"Host": host}
    if upgrade:
        headers.update(
            {
                "Origin": f"http://{host}",
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Protocol": "streamlit",
            }
        )
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        con.request("GET", path, headers=headers)
        return con.getresponse().status
    finally:
        con.close()


def _host_probe(name: str, host: str, *, path: str = "/", upgrade: bool = False, status: int, words: str) -> Probe:
    def prepare(c: CaseDir) -> Setup:
        def run() -> Outcome:
            try:
                port = _SERVER.start(c.home, c.dir / "server.log")
            except RuntimeError as exc:
                return Outcome(-1, "", str(exc))
            got = _http_status(port, host.replace("PORT", str(port)), path, upgrade=upgrade)
            return Outcome(got, "", f"HTTP {got} for Host {host}")

        return Setup(run=run)

    return Probe(name, F_HOST, words, prepare, code=status, message=r"HTTP \d+", timeout=120)


# -- numeric options -----------------------------------------------------------------------------


def _bound(name: str, words: str, argv: Callable[[CaseDir], list], message: str) -> Probe:
    def prepare(c: CaseDir) -> Setup:
        return Setup(argv=argv(c), watch=[c.home / "runs", c.home / "models", c.dir / "g"])

    return Probe(f"bound-{name}", F_BOUND, words, prepare, message=message)


def _audit(*extra):
    return lambda c: ["audit", *c.subject(), *extra]


def _unlearn(*extra):
    return lambda c: ["unlearn", *c.subject(), "--method", "finetune", "--intensity", "0.5", *extra]


BOUND_PROBES = [
    _bound("n-boot-huge", "`--n-boot 100000000`: refused at once naming the limit 10000", _audit("--n-boot", "100000000"), r"argument --n-boot: must be an integer from 0 to 10000"),
    _bound("n-boot-negative", "`--n-boot -1`: refused naming the range", _audit("--n-boot", "-1"), r"argument --n-boot: must be an integer from 0"),
    _bound("image-size-small", "`--image-size 2`: refused naming 8..512", _audit("--image-size", "2"), r"argument --image-size: must be an integer from 8 to 512"),
    _bound("image-size-huge", "`--image-size 100000`: refused naming 8..512", _audit("--image-size", "100000"), r"argument --image-size: must be an integer from 8 to 512"),
    _bound("image-size-just-above", "`--image-size 513`: refused naming 8..512 (the data loaders' own limit)", _audit("--image-size", "513"), r"argument --image-size: must be an integer from 8 to 512"),
    _bound("max-per-split-zero", "`--max-per-split 0`: refused", lambda c: ["audit", "--waterbirds-root", c.waterbirds, "--max-per-split", "0"], r"argument --max-per-split: must be an integer from 1"),
    _bound("max-per-split-huge", "`--max-per-split 10**12`: refused naming the limit", lambda c: ["audit", "--waterbirds-root", c.waterbirds, "--max-per-split", "1000000000000"], r"argument --max-per-split: must be an integer from 1 to 10000000"),
    _bound("gallery-k-huge", "`--gallery-k 100000`: refused naming 256", lambda c: ["audit", *c.subject(), "--gallery", c.dir / "g", "--gallery-k", "100000"], r"argument --gallery-k: must be an integer from 1 to 256"),
    _bound("saliency-per-group-huge", "`--saliency-per-group 10**9`: refused naming 10000", _audit("--saliency-per-group", "1000000000"), r"argument --saliency-per-group: must be an integer from 0 to 10000"),
    _bound("level-above-one", "`--level 1.5`: refused naming (0, 1)", _audit("--level", "1.5"), r"argument --level: must be a number in \(0, 1\)"),
    _bound("level-nan", "`--level nan`: refused", _audit("--level", "nan"), r"argument --level: must be a number in \(0, 1\)"),
    _bound("num-classes-one", "`--num-classes 1`: refused", _audit("--num-classes", "1"), r"argument --num-classes: must be an integer from 2"),
    _bound("num-classes-huge", "`--num-classes 10**9`: refused naming 100000", _audit("--num-classes", "1000000000"), r"argument --num-classes: must be an integer from 2 to 100000"),
    _bound("seed-negative", "`--seed -1`: refused naming `--seed` and 0..4294967295", _unlearn("--seed", "-1"), r"argument --seed: must be an integer from 0 to 4294967295"),
    _bound("seed-too-large", "`--seed 2**32`: refused naming the range", _unlearn("--seed", str(2**32)), r"argument --seed: must be an integer from 0 to 4294967295"),
    _bound("seed-not-a-number", "`--seed abc`: refused naming `--seed`", _unlearn("--seed", "abc"), r"argument --seed: invalid int value: 'abc'"),
    _bound("classes-one", "`--classes 1` (CUB): refused naming 2..200", lambda c: ["audit", "--cub-root", c.dir, "--classes", "1"], r"argument --classes: must be an integer from 2 to 200"),
    _bound("retain-max-zero", "`--retain-max 0`: refused", _unlearn("--retain-max", "0"), r"argument --retain-max: must be an integer from 1"),
    _bound("intensity-above-one", "`--intensity 2`: refused naming [0, 1]", _unlearn("--intensity", "2"), r"--intensity must be in \[0, 1\]"),
    _bound("budget-without-auto", "`--budget-s 10` with `--method finetune`: refused", _unlearn("--budget-s", "10"), r"--budget-s applies to --method auto only"),
    _bound("runs-limit-zero", "`bamu runs --limit 0`: refused", lambda c: ["runs", "--limit", "0"], r"argument --limit: must be an integer >= 1"),
    _bound("hp-steps-abc", "`--hp steps=abc`: refused naming `--hp steps=abc` and an example", _unlearn("--hp", "steps=abc"), r"--hp steps=abc: steps must be an integer.*e\.g\. --hp steps=\d+"),
    _bound("hp-batch-size-zero", "`--hp batch_size=0`: refused naming 1..65,536", _unlearn("--hp", "batch_size=0"), r"--hp batch_size=0: batch_size must be an integer in 1\.\.65,536"),
    _bound("hp-steps-huge", "`--hp steps=10**9`: refused naming 1,000,000", _unlearn("--hp", "steps=1000000000"), r"--hp steps=1000000000: steps must be an integer in 0\.\.1,000,000"),
    _bound("hp-lr-nan", "`--hp lr=NaN`: refused", _unlearn("--hp", "lr=NaN"), r"--hp lr=nan: lr must be a finite number"),
    _bound("hp-unknown", "`--hp nope=1`: refused naming the known names", _unlearn("--hp", "nope=1"), r"--hp: method 'finetune' has no hyper-parameter\(s\) nope.*known: "),
    _bound("hp-no-equals", "`--hp steps`: refused asking for KEY=VALUE", _unlearn("--hp", "steps"), r"argument --hp: expected KEY=VALUE"),
    _bound("sweep-intensities-outside", "`bamu sweep --intensities 2`: refused naming [0, 1]", lambda c: ["sweep", *c.subject(), "--methods", "ga", "--intensities", "2", "--out", c.dir / "s"], r"argument --intensities: expected comma-separated numbers in \[0, 1\]"),
]  # fmt: skip


# -- data: bombs, duplicates, spellings, normalisation -------------------------------------------


def _data_probe(name, finding, words, edit, message, *, code=2, extra=(), check=None) -> Probe:
    def prepare(c: CaseDir) -> Setup:
        edit(c)
        chk = (lambda o: check(c, o)) if check else None
        return Setup(argv=["audit", *c.subject(), *AUDIT_QUICK, *extra], watch=[c.home / "runs"], check=chk)

    return Probe(name, finding, words, prepare, code=code, message=message)


def _rows(c: CaseDir) -> tuple[str, list[str]]:
    lines = c.meta.read_text().strip().splitlines()
    return lines[0], lines[1:]


def _write_rows(c: CaseDir, header: str, rows: list[str]) -> None:
    c.meta.write_text("\n".join([header, *rows]) + "\n")


def _every_row_twice(c):
    header, rows = _rows(c)
    _write_rows(c, header, rows + rows)


def _dot_slash(c):
    c.meta.write_text(c.meta.read_text() + "./img0.png,cat,a\n")


def _via_link(c):
    (c.data / "alias.png").symlink_to(c.data / "img3.png")
    c.meta.write_text(c.meta.read_text() + "alias.png,cat,a\n")


def _copy_in_two_splits(c):
    header, rows = _rows(c)
    rows = [f"{r},{('train', 'val', 'test')[i % 3]}" for i, r in enumerate(rows)]
    (c.data / "copy.png").write_bytes((c.data / "img0.png").read_bytes())
    _write_rows(c, header + ",split", [*rows, "copy.png,cat,a,test"])


def _bomb_header(c):
    (c.data / "img5.png").write_bytes(bomb_png())


def _bomb_one_bit(c):
    (c.data / "img5.png").write_bytes(one_bit_png(12_000, 12_000))


def _bomb_rows(c):
    (c.data / "big.png").write_bytes(one_bit_png(12_000, 12_000))
    c.meta.write_text(c.meta.read_text() + "".join(f"big.png,{('cat', 'dog')[i % 2]},a\n" for i in range(20_000)))


def _labels_spelled(c):
    header, rows = _rows(c)
    spelled = {"cat": ("0", "0.0", "00"), "dog": ("1", "1.0", "01")}
    out = []
    for i, r in enumerate(rows):
        path, label, group = r.split(",")
        out.append(f"{path},{spelled[label][i % 3]},{group}")
    _write_rows(c, header, out)


def _two_classes(c: CaseDir, outcome: Outcome) -> str | None:
    card = json.loads((c.dir / "audit.json").read_text())["dataset"]
    return None if card["classes"] == ["0", "1"] else f"classes {card['classes']}, expected ['0', '1']"


def _no_val_rows(c):
    header, rows = _rows(c)
    _write_rows(c, header + ",split", [f"{r},{('train', 'test')[i % 2]}" for i, r in enumerate(rows)])


DATA_PROBES = [
    _data_probe("bomb-png-header-400-megapixels", F_BOMB, "an image whose 60-byte header claims 20000 x 20000 pixels: refused before decoding, naming the file", _bomb_header, r"cannot read image img5\.png: DecompressionBombError"),
    _data_probe("bomb-png-one-bit-144-megapixels", F_BOMB, "an 18 KB valid 1-bit PNG of 12000 x 12000: refused from its header, naming the file", _bomb_one_bit, r"img5\.png.*million pixels"),
    _data_probe("bomb-png-listed-20000-times", F_BOMB, "20,000 rows naming one bomb image: refused as a repeated image, before any decoding", _bomb_rows, r"lists image 'big\.png' 20000 times"),
    _data_probe("dup-every-row-twice", F_DUP, "every CSV row twice: refused, naming the image and its CSV lines", _every_row_twice, r"lists image 'img0\.png' 2 times \(CSV lines 2, 18\).*list each image once"),
    _data_probe("dup-dot-slash", F_DUP, "`./img0.png` beside `img0.png`: refused as the same image", _dot_slash, r"lists image 'img0\.png' 2 times"),
    _data_probe("dup-via-link", F_DUP, "a link inside the folder to a listed image: refused as the same image", _via_link, r"lists image 'img3\.png' 2 times"),
    _data_probe("dup-copy-in-two-splits", F_DUP, "byte-identical copies given to train and test: refused", _copy_in_two_splits, r"same file content in two splits"),
    _data_probe("labels-1-and-1.0", F_DATA, "labels 0 / 0.0 / 00 and 1 / 1.0 / 01: exit 0, two classes '0' and '1'", _labels_spelled, "", code=0, extra=("--json", "audit.json"), check=_two_classes),
    _data_probe("std-nan", F_DATA, "`--std nan,nan,nan`: refused, one line, before any image is read", lambda c: None, r"std must be finite", extra=("--std", "nan,nan,nan")),
    _data_probe("std-zero", F_DATA, "`--std 0,0.2,0.2`: refused (division by zero)", lambda c: None, r"std must be positive", extra=("--std", "0,0.2,0.2")),
    _data_probe("mean-nan", F_DATA, "`--mean 0.5,nan,0.5`: refused", lambda c: None, r"mean must be finite", extra=("--mean", "0.5,nan,0.5")),
    _data_probe("std-text", F_DATA, "`--std a,b,c`: refused naming --std", lambda c: None, r"--std", extra=("--std", "a,b,c")),
    _data_probe("split-without-val-rows", F_DATA, "a split column with no `val` rows: refused, one line", _no_val_rows, r"column 'split' has no 'val' rows"),
]  # fmt: skip


# -- environment ---------------------------------------------------------------------------------


def _not_as_root() -> str | None:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "running as root: chmod does not stop root from writing, so a read-only BAMU_HOME cannot be made"
    return None


def _env_probes() -> list[Probe]:
    def read_only(c: CaseDir) -> Setup:
        os.chmod(c.home / "runs", 0o555)
        os.chmod(c.home, 0o555)
        return Setup(argv=["unlearn", *c.subject(), *UNLEARN_QUICK, "--out", c.dir / "m.safetensors"], watch=[c.home])

    def home_file(c: CaseDir) -> Setup:
        home = c.dir / "home-file"
        home.write_text("mine\n")
        return Setup(argv=["runs"], watch=[home], env={"BAMU_HOME": str(home)})

    def home_file_audit(c: CaseDir) -> Setup:
        home = c.dir / "home-file"
        home.write_text("mine\n")
        argv = ["unlearn", *c.subject(), *UNLEARN_QUICK, "--out", c.dir / "m.safetensors"]
        return Setup(argv=argv, watch=[home, c.dir / "m.safetensors"], env={"BAMU_HOME": str(home)})

    def damaged_db(command):
        def prepare(c: CaseDir) -> Setup:
            db = c.home / "runs" / "runs.sqlite3"
            db.write_bytes(b"this is not a database" * 100)
            for extra in db.parent.glob("runs.sqlite3-*"):
                extra.unlink()
            argv = ["runs"] if command == "runs" else ["report", c.run_id, "--json", c.dir / "r.json"]
            return Setup(argv=argv, watch=[db])

        return prepare

    return [
        Probe(
            "home-read-only",
            F_ENV,
            "a read-only BAMU_HOME during `bamu unlearn`: exit 2, one line naming BAMU_HOME",
            read_only,
            message=r"BAMU_HOME|read-only|permission",
            skip=_not_as_root,
        ),
        Probe(
            "home-is-a-file-runs",
            F_ENV,
            "BAMU_HOME naming a file: `bamu runs` exits 2 with one line; the file is unchanged",
            home_file,
            message=r"BAMU_HOME .* is not a folder",
        ),
        Probe(
            "home-is-a-file-unlearn",
            F_ENV,
            "BAMU_HOME naming a file: `bamu unlearn` (which stores its run) exits 2 with one line; nothing written",
            home_file_audit,
            message=r"BAMU_HOME .* is not a folder",
        ),
        Probe(
            "run-store-damaged-runs",
            F_ENV,
            "a runs.sqlite3 that is not a database: `bamu runs` exits 2, one line saying it is damaged; file unchanged",
            damaged_db("runs"),
            message=r"runs\.sqlite3: .*damaged",
        ),
        Probe(
            "run-store-damaged-report",
            F_ENV,
            "a runs.sqlite3 that is not a database: `bamu report` exits 2, one line; file unchanged",
            damaged_db("report"),
            message=r"runs\.sqlite3: .*damaged",
        ),
    ]


# -- checkpoints ---------------------------------------------------------------------------------


def _ckpt_probe(name, words, make, message, *, code=2) -> Probe:
    def prepare(c: CaseDir) -> Setup:
        path = make(c)
        return Setup(argv=["audit", *c.subject(path), *AUDIT_QUICK], watch=[path, c.home / "runs"])

    return Probe(f"ckpt-{name}", F_CKPT, words, prepare, code=code, message=message)


def _saved(change, suffix=".pt"):
    def make(c: CaseDir) -> Path:
        import torch

        state = model_state()
        first = next(k for k in state if k.endswith("weight"))
        state = change(state, first, torch) or state
        return save_model(c.dir / f"bad{suffix}", state)

    return make


def _raw(data: bytes, name: str):
    def make(c: CaseDir) -> Path:
        path = c.dir / name
        path.write_bytes(data)
        return path

    return make


def _truncated(c: CaseDir) -> Path:
    path = c.dir / "cut.safetensors"
    path.write_bytes(c.model.read_bytes()[:200])
    return path


def _pickled_module(c: CaseDir) -> Path:
    import torch

    path = c.dir / "module.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    return path


CKPT_PROBES = [
    _ckpt_probe("int-keys", "integer keys `{0: tensor}`: one line, not a traceback", _saved(lambda s, f, t: {0: t.zeros(3), 1: t.zeros(3)}), r"key\(s\) that are not parameter names, e\.g\. 0 \(int\)"),
    _ckpt_probe("lists-only", "values that are lists, not tensors: one line", _saved(lambda s, f, t: {k: v.tolist() for k, v in s.items()}), r"does not contain a state dict"),
    _ckpt_probe("epoch-beside-tensors", "an `epoch: 3` entry beside the tensors: exit 0, one warning line naming the key", _saved(lambda s, f, t: {**s, "epoch": 3}), r"warning: checkpoint bad\.pt: left out 1 value\(s\) that are not tensors: 'epoch' \(int\)", code=0),
    _ckpt_probe("sparse", "a sparse weight: one line saying to make it dense", _saved(lambda s, f, t: s.update({f: s[f].to_sparse()})), r"is sparse_coo, not dense.*to_dense"),
    _ckpt_probe("meta", "a weight on the meta device: one line", _saved(lambda s, f, t: s.update({f: t.empty(s[f].shape, device="meta")})), r"on the meta device"),
    _ckpt_probe("bool", "bool weights: one line naming the dtype", _saved(lambda s, f, t: {k: v.bool() for k, v in s.items()}), r"dtype bool.*must be floating point"),
    _ckpt_probe("int64", "int64 weights: one line naming the dtype", _saved(lambda s, f, t: {k: v.long() for k, v in s.items()}), r"dtype int64.*must be floating point"),
    _ckpt_probe("complex", "complex weights: one line naming the dtype", _saved(lambda s, f, t: {k: v.to(t.complex64) for k, v in s.items()}), r"dtype complex64.*must be floating point"),
    _ckpt_probe("nan", "a NaN weight: one line saying the run diverged", _saved(lambda s, f, t: s[f].view(-1).__setitem__(0, float("nan"))), r"NaN or infinite values"),
    _ckpt_probe("3e38", "weights of 3e38 (finite, absurd): exit 0, one warning line naming the magnitude", _saved(lambda s, f, t: {k: t.full_like(v, 3e38) if v.is_floating_point() else v for k, v in s.items()}, ".safetensors"), r"warning: checkpoint bad\.safetensors: .*above 1e\+06", code=0),
    _ckpt_probe("pickled-module", "a pickled nn.Module: refused (pickles can run code), one line", _pickled_module, r"pickled Python objects"),
    _ckpt_probe("empty-file", "an empty .pt file: one line", _raw(b"", "empty.pt"), r"checkpoint empty\.pt"),
    _ckpt_probe("truncated-safetensors", "a safetensors file cut after 200 bytes: one line saying it may be truncated", _truncated, r"not a valid safetensors file.*truncated"),
    _ckpt_probe("wrong-suffix", "a checkpoint named .txt: one line listing the file types", _raw(b"weights", "weights.txt"), r"unsupported file type '\.txt'"),
    _ckpt_probe("wrong-class-count", "a 10-class checkpoint for 2-class data: one line naming the shape mismatch", lambda c: save_model(c.dir / "ten.safetensors", model_state(10)), r"does not fit architecture 'small_cnn'.*shape mismatch"),
]  # fmt: skip


# -- zip uploads (the dashboard's, called in this process) ---------------------------------------


def _zip_probe(name: str, words: str, payload: Callable[[], bytes], message: str) -> Probe:
    def prepare(c: CaseDir) -> Setup:
        dest = c.dir / "upload"

        def run() -> Outcome:
            from bamu_core.errors import BamuInputError
            from dashboard.uploads import extract_zip

            try:
                extract_zip(payload(), dest)
            except (BamuInputError, ValueError) as exc:
                return Outcome(2, "", f"upload: error: {' '.join(str(exc).split())}")
            return Outcome(0, "", "")

        def check(outcome: Outcome) -> str | None:
            left = [str(p) for p in dest.rglob("*") if p.is_file()] if dest.exists() else []
            return f"wrote {left}" if left else None

        return Setup(run=run, check=check, watch=[c.dir / "evil.csv", Path("/tmp/evil.csv")])

    return Probe(f"zip-{name}", F_ZIP, words, prepare, message=message)


ZIP_PROBES = [
    _zip_probe("parent-path", "an entry `../evil.csv`: refused as path traversal, nothing written", lambda: zip_bytes({"ok/a.csv": b"x", "../evil.csv": b"x"}), r"path traversal"),
    _zip_probe("nested-parent-path", "an entry `data/../../evil.csv`: refused", lambda: zip_bytes({"data/../../evil.csv": b"x"}), r"path traversal"),
    _zip_probe("absolute-path", "an entry `/tmp/evil.csv`: refused", lambda: zip_bytes({"/tmp/evil.csv": b"x"}), r"points outside"),
    _zip_probe("windows-drive", "an entry `C:\\evil.csv`: refused", lambda: zip_bytes({"C:\\evil.csv": b"x"}), r"points outside"),
    _zip_probe("backslash-parent", "an entry `..\\evil.csv`: refused", lambda: zip_bytes({"..\\evil.csv": b"x"}), r"path traversal"),
    _zip_probe("symlink", "a symbolic-link entry: refused", lambda: zip_bytes({"link": b"/etc/passwd"}, symlink="link"), r"is a symbolic link"),
    _zip_probe("encrypted", "an encrypted entry: refused", lambda: zip_bytes({"a.csv": b"x"}, encrypted=True), r"is encrypted"),
    _zip_probe("bomb", "a 1 KB entry declaring 3.75 GiB uncompressed (beyond the 2 GiB limit): refused before writing", lambda: _bomb_zip(), r"the zip expands to 4027 MB; at most 2147 MB"),
    _zip_probe("not-a-zip", "bytes that are not a zip: refused", lambda: b"PK but not really a zip", r"not a valid zip archive"),
    _zip_probe("duplicate-names", "two entries with one name: refused", lambda: _duplicate_zip(), r"appears twice"),
]  # fmt: skip


def _bomb_zip() -> bytes:
    """A 1 KB entry whose headers declare 3.75 GiB uncompressed (what a zip bomb declares)."""
    import struct

    raw = bytearray(zip_bytes({"zeros.bin": b"\0" * 1024}))
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = raw.find(sig) + offset
        raw[pos : pos + 4] = struct.pack("<I", 0xF0000000)
    return bytes(raw)


def _duplicate_zip() -> bytes:
    import io
    import warnings
    import zipfile

    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as z:
        warnings.simplefilter("ignore")
        z.writestr("data/meta.csv", b"path,label,g\n")
        z.writestr("data/meta.csv", b"path,label,g\nevil\n")
    return buf.getvalue()


def catalogue() -> list[Probe]:
    """Every probe case, in the order they are reported."""
    probes = [_file_output_probe(*spec[:3], kind) for spec in _FILE_OUTPUTS for kind in spec[3]]
    probes += [
        _folder_output_probe(cmd, flag, kind)
        for cmd, flag in (("audit", "--gallery"), ("sweep", "--out"))
        for kind in _FOLDER_KINDS
    ]
    probes += _same_path_probes() + _cache_probes() + _mkdir_probes()
    probes.append(
        Probe(
            "unlearn-default-out-3-concurrent",
            F_UNIQUE,
            "3 concurrent `bamu unlearn` runs with the same options and no `--out`: 3 weight files, each printed once",
            _concurrent_unlearn,
            code=0,
            timeout=300,
        )
    )
    probes += [
        _host_probe("host-evil-get", "evil.example:PORT", status=403, words="GET / with Host evil.example (DNS rebinding): 403"),
        _host_probe("host-evil-websocket", "evil.example:PORT", path="/_stcore/stream", upgrade=True, status=403, words="websocket upgrade with Host evil.example: 403"),
        _host_probe("host-localhost-get", "localhost:PORT", status=200, words="GET / with Host localhost: 200 (the check lets the real name through)"),
        _host_probe("host-allowed-name-websocket", "lab.test:PORT", path="/_stcore/stream", upgrade=True, status=101, words="websocket upgrade with a BAMU_ALLOWED_HOSTS name: 101"),
    ]  # fmt: skip
    probes += BOUND_PROBES + DATA_PROBES + _env_probes() + CKPT_PROBES + ZIP_PROBES
    names = [p.name for p in probes]
    if len(names) != len(set(names)):
        raise ValueError(f"probe names repeat: {sorted(n for n in names if names.count(n) > 1)}")
    return probes


# ------------------------------------------------------------------------------------------------
# the report
# ------------------------------------------------------------------------------------------------


@dataclass
class Machine:
    platform: str
    python: str
    cpus: int
    torch: str

    @classmethod
    def here(cls) -> Machine:
        import torch

        return cls(platform.platform(), platform.python_version(), os.cpu_count() or 0, torch.__version__)


def summary(results: list[ProbeResult]) -> dict[str, dict[str, int]]:
    """Per finding class: how many cases held, failed, were skipped."""
    out: dict[str, dict[str, int]] = {}
    for finding in FINDINGS:
        rows = [r for r in results if r.finding == finding]
        if rows:
            out[finding] = {
                "held": sum(r.passed and not r.skipped for r in rows),
                "failed": sum(not r.passed for r in rows),
                "skipped": sum(bool(r.skipped) for r in rows),
            }
    return out


def write_results(results: list[ProbeResult], out: Path, *, memory=None, seconds: float | None = None) -> None:
    """``probe_cases.json`` and ``probe_cases.md`` into ``out``."""
    from bamu_core.storage import atomic_write, atomic_write_json

    out.mkdir(parents=True, exist_ok=True)
    machine = Machine.here()
    counts = summary(results)
    held = sum(c["held"] for c in counts.values())
    failed = sum(c["failed"] for c in counts.values())
    skipped = sum(c["skipped"] for c in counts.values())
    payload = {
        "machine": asdict(machine),
        "total": len(results),
        "held": held,
        "failed": failed,
        "skipped": skipped,
        "seconds": seconds,
        "by_finding": counts,
        "cases": [asdict(r) for r in results],
        "memory": [asdict(m) for m in memory] if memory is not None else None,
    }
    atomic_write_json(out / "probe_cases.json", payload)
    lines = [
        "# Probe cases",
        "",
        "Generated by `python -m benchmarks.probe_cases`: adversarial cases against the real `bamu` command line, "
        "each in a subprocess under a fresh temporary BAMU_HOME on a tiny folder dataset (16 images, small_cnn). "
        "Two classes are not command-line runs: the zip cases call the dashboard's `extract_zip` in process "
        "(a refusal is shown as exit 2), and the Host cases record the HTTP status the dashboard answers.",
        "",
        f"Machine: {machine.platform}, {machine.cpus} CPUs, Python {machine.python}, torch {machine.torch}.",
        "",
        f"**{len(results)} cases: {held} held, {failed} failed, {skipped} skipped**"
        + (f" ({seconds:.0f} s in all)." if seconds is not None else "."),
        "",
        "| finding class | held | failed | skipped |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {f} | {c['held']} | {c['failed']} | {c['skipped']} |" for f, c in counts.items()]
    failures = [r for r in results if not r.passed]
    if failures:
        lines += ["", "## Failed cases", ""]
        lines += [f"- `{r.name}` ({r.finding}): {r.detail}" for r in failures]
    skips = [r for r in results if r.skipped]
    if skips:
        lines += ["", "## Skipped cases", ""]
        lines += [f"- `{r.name}`: {r.skipped}" for r in skips]
    if memory is not None:
        from .memory_bounds import markdown as memory_markdown

        lines += ["", *memory_markdown(memory)]
    lines += [
        "",
        "## Every case",
        "",
        "One line: what was printed is one line with no traceback (a successful run: no error line). "
        "Unchanged: every path the case aims at is byte-for-byte as before.",
        "",
        "| case | finding | expected | exit | one line | unchanged | held | s |",
        "|---|---|---|---:|:---:|:---:|:---:|---:|",
    ]
    for r in results:
        held_cell = "skipped" if r.skipped else ("yes" if r.passed else "**no**")
        exit_cell = "-" if r.exit_code is None else str(r.exit_code)
        expectation = r.expectation.replace("|", "\\|")
        lines.append(
            f"| `{r.name}` | {r.finding} | {expectation} | {exit_cell} | "
            f"{'yes' if r.one_line else 'no'} | {'yes' if r.unchanged else 'no'} | {held_cell} | {r.seconds:.2f} |"
        )
    atomic_write(out / "probe_cases.md", lambda p: p.write_text("\n".join(lines) + "\n", encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.probe_cases", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=OUT, help=f"folder for the results (default: {OUT})")
    p.add_argument("--only", action="append", help="run only cases whose name contains this text (repeatable)")
    p.add_argument("--workers", type=int, default=2, help="cases run at a time (default: 2)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak memory at each numeric option's limit")
    args = p.parse_args(argv)
    probes = catalogue()
    if args.only:
        probes = [pr for pr in probes if any(text in pr.name for text in args.only)]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bamu-probe-") as tmp:
        results = run_all(probes, Path(tmp), workers=args.workers)
        memory = None
        if not args.no_memory:
            from .memory_bounds import measure_all

            memory = measure_all(Path(tmp) / "memory")
    seconds = time.perf_counter() - start
    write_results(results, args.out, memory=memory, seconds=seconds)
    for r in results:
        if not r.passed:
            print(f"FAILED {r.name}: {r.detail}", file=sys.stderr)
    held = sum(r.passed and not r.skipped for r in results)
    print(f"{len(results)} cases: {held} held, {sum(not r.passed for r in results)} failed in {seconds:.0f} s")
    print(f"wrote {args.out / 'probe_cases.md'} and {args.out / 'probe_cases.json'}")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
