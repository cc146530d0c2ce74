"""Outputs, numeric options, the environment's failures and damaged checkpoints.

- every file bamu writes for the user (``--json``, ``--out``, ``--html``, ``--csv``, ``--gallery``,
  a sweep's folder) goes *into* a path: a link, device, FIFO or folder, an input of the same
  command, the run store's files or the caches under ``BAMU_HOME`` are refused (exit 2, one
  line) and left byte-for-byte as they were; a missing folder is an error unless ``--mkdir``;
- the default ``--out`` of ``bamu unlearn`` names its run, so two runs never share a file;
- every numeric option has bounds and the message names the option and the limit;
- a full or read-only disk and a broken run store are one line, not a traceback;
- a checkpoint with non-name keys, non-tensors, sparse / meta tensors or non-float weights is
  refused with one line; absurd magnitudes are warned about.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from reliability_kit import REPO, Case, files_under, model_file, reliability, write_folder

from bamu_core.errors import BamuInputError
from bamu_core.models import build_model, read_state_dict, save_weights
from bamu_core.models.checkpoint import CheckpointWarning
from bamu_core.storage import atomic_write_bytes, check_output_folder, check_output_path

# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def _bamu(argv, capsys) -> tuple[int, list[str], str]:
    """Run ``bamu argv`` in-process: exit code, stderr lines (progress lines left out), stdout."""
    from bamu_core.cli import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out = capsys.readouterr()
    err = [line for line in out.err.splitlines() if line.strip() and not line.startswith("  ")]
    return code, err, out.out


def _refused(argv, capsys, *, problem: str, advice: str = "") -> str:
    """``bamu argv`` exits 2 with exactly one line that matches ``problem`` and ``advice``."""
    code, err, _ = _bamu(argv, capsys)
    assert code == 2, (code, err)
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    assert re.search(problem, err[0], re.IGNORECASE), err[0]
    assert re.search(advice, err[0], re.IGNORECASE), err[0]
    return err[0]


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` with its bytes (links as their target's name)."""
    out = {}
    for p in sorted(root.rglob("*")):
        key = str(p.relative_to(root))
        if p.is_symlink():
            out[key] = b"-> " + os.readlink(p).encode()
        elif p.is_file():
            out[key] = p.read_bytes()
    return out


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh BAMU_HOME for one test."""
    root = tmp_path / "home"
    monkeypatch.setenv("BAMU_HOME", str(root))
    return root


@pytest.fixture
def folder_data(tmp_path):
    """A tiny image folder + CSV and an (untrained) small CNN checkpoint: the data options of a command."""
    root, meta = write_folder(tmp_path / "data", n_per=4)
    ckpt = model_file(tmp_path / "model.safetensors")
    opts = ["--data", root, "--meta", meta, "--image-size", "16", "--model", ckpt, "--arch", "small_cnn"]
    return {"root": root, "meta": meta, "model": ckpt, "options": opts}


_AUDIT_QUICK = ["--n-boot", "0", "--saliency-per-group", "0"]
_UNLEARN_QUICK = ["--method", "finetune", "--intensity", "0.5", "--forget", "group:a", "--hp", "steps=2"]


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory):
    """A real (tiny) ``bamu unlearn`` run in its own BAMU_HOME: the home, the run id and the printed output."""
    from bamu_core.cli import main
    from bamu_core.runs import RunStore

    tmp = tmp_path_factory.mktemp("stored")
    root, meta = write_folder(tmp / "data", n_per=4)
    ckpt = model_file(tmp / "model.safetensors")
    home = tmp / "home"
    argv = ["unlearn", "--data", root, "--meta", meta, "--image-size", "16", "--model", ckpt, "--arch", "small_cnn"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BAMU_HOME", str(home))
        assert main([str(a) for a in argv + _UNLEARN_QUICK]) == 0
        [run] = RunStore(home / "runs").list()
    return {"home": home, "run_id": run.run_id, "argv": argv, "model": ckpt}


# ------------------------------------------------------------------------------------------------
# finding 1: an output never swaps another object in for its target
# ------------------------------------------------------------------------------------------------


@reliability("bad input", "command line: output paths")
def test_report_json_onto_the_run_store_database_is_refused_and_the_store_is_unchanged(stored_run, monkeypatch, capsys):
    """`bamu report RID --json $BAMU_HOME/runs/runs.sqlite3`: exit 2, one line; the database is byte-for-byte unchanged and still lists the run."""
    from bamu_core.runs import RunStore

    home = stored_run["home"]
    monkeypatch.setenv("BAMU_HOME", str(home))
    db = home / "runs" / "runs.sqlite3"
    before = db.read_bytes()
    _refused(["report", stored_run["run_id"], "--json", db], capsys, problem=r"which bamu manages", advice="outside")
    assert db.read_bytes() == before
    assert [r.run_id for r in RunStore(home / "runs").list()] == [stored_run["run_id"]]


@reliability("bad input", "command line: output paths")
def test_audit_json_onto_its_own_model_checkpoint_is_refused_before_any_work(folder_data, home, tmp_path, capsys):
    """`bamu audit --model X --json X`: exit 2, one line naming the input; the checkpoint is unchanged; nothing else is written."""
    ckpt = folder_data["model"]
    before = _snapshot(tmp_path)
    _refused(
        ["audit", *folder_data["options"], *_AUDIT_QUICK, "--json", ckpt],
        capsys,
        problem=r"an input of this command",
        advice=r"choose another path",
    )
    after = _snapshot(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("home")} == before
    assert read_state_dict(ckpt)  # still a checkpoint


@reliability("bad input", "command line: output paths")
def test_outputs_onto_the_metadata_csv_or_an_image_of_the_data_folder_are_refused(folder_data, home, capsys):
    """`--json` naming the `--meta` CSV, or an image inside `--data`: exit 2, one line each; both files unchanged."""
    meta, image = folder_data["meta"], folder_data["root"] / "img0.png"
    before = meta.read_bytes(), image.read_bytes()
    argv = ["audit", *folder_data["options"], *_AUDIT_QUICK, "--json"]
    _refused([*argv, meta], capsys, problem="an input of this command", advice="choose another path")
    _refused([*argv, image], capsys, problem=r"inside .*data, which this command reads", advice="outside it")
    assert (meta.read_bytes(), image.read_bytes()) == before


@reliability("security", "command line: output paths")
def test_a_symlink_target_is_refused_and_neither_link_nor_its_file_changes(tmp_path, home, capsys):
    """`--json LINK` where LINK is a symbolic link to a file: exit 2, one line; the link is still a link and its file unchanged."""
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    link = tmp_path / "link.json"
    link.symlink_to(victim)
    _refused(["scenarios", "--json", link], capsys, problem="symbolic link", advice="give the path of a file")
    assert link.is_symlink() and os.readlink(link) == str(victim)
    assert victim.read_text() == "keep me\n"
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "nowhere" / "x.json")
    _refused(["archs", "--json", dangling], capsys, problem="symbolic link", advice="give the path of a file")
    assert dangling.is_symlink() and not (tmp_path / "nowhere").exists()


@reliability("security", "command line: output paths")
def test_a_fifo_or_a_device_is_never_replaced_by_a_regular_file(tmp_path, home, capsys):
    """`--json FIFO` (and the check on `/dev/null`, `/dev/full`): exit 2, one line; the FIFO is still a FIFO, no temp file left."""
    import stat

    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    _refused(["scenarios", "--json", fifo], capsys, problem="named pipe", advice="give the path of a file")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert files_under(tmp_path) == []  # no temp file beside it
    for device in ("/dev/null", "/dev/full"):
        if os.path.exists(device):
            with pytest.raises(BamuInputError, match="is a device"):
                check_output_path(device, flag="--json")
    with pytest.raises(BamuInputError, match="is a named pipe"):  # the writers themselves refuse it too
        atomic_write_bytes(fifo, b"x")


@reliability("bad input", "command line: output paths")
def test_unlearn_out_and_json_at_one_path_are_refused_before_any_work(folder_data, home, tmp_path, capsys):
    """`bamu unlearn --out F --json F`: exit 2, one line before any data is read; no run is stored, F is not written."""
    target = tmp_path / "same.safetensors"
    _refused(
        ["unlearn", *folder_data["options"], *_UNLEARN_QUICK, "--out", target, "--json", target],
        capsys,
        problem="name the same file",
        advice="give each its own path",
    )
    assert not target.exists() and not (home / "runs").exists()


@reliability("bad input", "command line: output paths")
def test_report_exports_at_one_path_are_refused(stored_run, tmp_path, monkeypatch, capsys):
    """`bamu report RID --html F --csv F`: exit 2, one line; F is not written."""
    monkeypatch.setenv("BAMU_HOME", str(stored_run["home"]))
    target = tmp_path / "r.out"
    _refused(
        ["report", stored_run["run_id"], "--html", target, "--csv", target],
        capsys,
        problem="name the same file",
        advice="give each its own path",
    )
    assert not target.exists()


@reliability("valid input", "command line: output paths")
def test_a_regular_file_target_is_replaced_atomically_and_report_writes_its_exports(
    stored_run, tmp_path, monkeypatch, capsys
):
    """An existing regular file as `--html/--json/--csv`: replaced by the new content (exit 0), no temp file left."""
    monkeypatch.setenv("BAMU_HOME", str(stored_run["home"]))
    paths = [tmp_path / n for n in ("r.html", "r.json", "r.csv")]
    for p in paths:
        p.write_text("old")
    code, err, out = _bamu(
        ["report", stored_run["run_id"], "--html", paths[0], "--json", paths[1], "--csv", paths[2]], capsys
    )
    assert code == 0, err
    assert all(p.read_text() != "old" for p in paths)
    assert sorted(files_under(tmp_path)) == ["r.csv", "r.html", "r.json"]


@reliability("bad input", "command line: output paths")
def test_sweep_out_that_is_a_link_or_holds_the_json_is_refused_before_any_work(tmp_path, home, capsys):
    """`bamu sweep --out LINK`, or `--json` naming the sweep's own `sweep.json`: exit 2, one line before any run; nothing written."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    argv = ["sweep", *_SC, "--methods", "ga", "--no-store"]
    _refused([*argv, "--out", tmp_path / "link"], capsys, problem="symbolic link", advice="give a folder")
    out = tmp_path / "sweep"
    out.mkdir()
    _refused([*argv, "--out", out, "--json", out / "sweep.json"], capsys, problem="which the sweep writes itself")
    assert files_under(tmp_path) == [] and not (home / "models").exists()


# ------------------------------------------------------------------------------------------------
# missing folders, and --mkdir
# ------------------------------------------------------------------------------------------------


@reliability("bad input", "command line: output paths")
def test_a_missing_output_folder_is_an_error_unless_mkdir(tmp_path, home, capsys):
    """`--json a/b/c.json` under a missing folder: exit 2, one line suggesting --mkdir, no folder created; with `--mkdir` it is written."""
    target = tmp_path / "a" / "b" / "c.json"
    _refused(["scenarios", "--json", target], capsys, problem="does not exist", advice="--mkdir")
    assert not (tmp_path / "a").exists()
    code, err, _ = _bamu(["scenarios", "--json", target, "--mkdir"], capsys)
    assert code == 0, err
    assert target.is_file()


@reliability("fault", "command line: output paths")
def test_a_failed_mkdir_run_removes_the_empty_folders_it_created(tmp_path, home, capsys):
    """`bamu audit --mkdir --json new/a/b/out.json` that then fails (missing data folder): exit 2, one line, no `new/` left behind."""
    target = tmp_path / "new" / "a" / "b" / "out.json"
    argv = ["audit", "--data", tmp_path / "no-such-folder", "--json", target, "--mkdir", *_AUDIT_QUICK]
    code, err, _ = _bamu(argv, capsys)
    assert code == 2 and len(err) == 1, err
    assert not (tmp_path / "new").exists()
    assert list(tmp_path.iterdir()) == []  # nothing else was created either


@reliability("fault", "command line: output paths")
def test_a_crashed_mkdir_run_removes_its_folders_but_keeps_pre_existing_ones(tmp_path, home, monkeypatch, capsys):
    """A command that crashes after `--mkdir` created `kept/new/a/b/`: `new/a/b` are removed, the pre-existing empty `kept/` stays."""
    from bamu_core import cli

    kept = tmp_path / "kept"
    kept.mkdir()
    target = kept / "new" / "a" / "b" / "out.json"

    def crash(args):
        assert target.parent.is_dir()  # created before the command ran
        raise RuntimeError("boom")

    monkeypatch.setitem(cli._COMMANDS, "scenarios", crash)
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["scenarios", "--json", str(target), "--mkdir"])
    assert kept.is_dir() and list(kept.iterdir()) == []


@reliability("valid input", "command line: output paths")
def test_a_succeeding_mkdir_run_keeps_its_folders(tmp_path, home, capsys):
    """`bamu scenarios --mkdir --json new/a/b/out.json` that succeeds: the folders and the file stay."""
    target = tmp_path / "new" / "a" / "b" / "out.json"
    code, err, _ = _bamu(["scenarios", "--json", target, "--mkdir"], capsys)
    assert code == 0, err
    assert target.is_file()


def test_a_failed_run_keeps_a_created_folder_that_is_no_longer_empty(tmp_path, home, monkeypatch, capsys):
    """Only empty folders are removed: a file written into a created folder keeps it (and its parents)."""
    from bamu_core import cli
    from bamu_core.errors import BamuInputError

    target = tmp_path / "new" / "a" / "out.json"

    def fail(args):
        (target.parent / "partial.png").write_bytes(b"x")
        raise BamuInputError("bad input after writing a file")

    monkeypatch.setitem(cli._COMMANDS, "scenarios", fail)
    code, err, _ = _bamu(["scenarios", "--json", target, "--mkdir"], capsys)
    assert code == 2, err
    assert (target.parent / "partial.png").is_file()


def test_created_folders_are_recorded_only_inside_the_tracker(tmp_path):
    """Folders made outside :func:`track_created_folders` or before it are never rolled back."""
    from bamu_core.storage import track_created_folders

    before = tmp_path / "before" / "x.json"
    check_output_path(before, mkdir=True)
    with track_created_folders() as created:
        check_output_folder(tmp_path / "before" / "g1" / "g2", mkdir=True)
        check_output_path(tmp_path / "c" / "d" / "y.json", mkdir=True)
    assert created.folders == [
        tmp_path / "before" / "g1",
        tmp_path / "before" / "g1" / "g2",
        tmp_path / "c",
        tmp_path / "c" / "d",
    ]
    removed = created.rollback()
    assert removed == [
        tmp_path / "c" / "d",
        tmp_path / "c",
        tmp_path / "before" / "g1" / "g2",
        tmp_path / "before" / "g1",
    ]
    assert (tmp_path / "before").is_dir() and not (tmp_path / "c").exists()


@reliability("bad input", "command line: output paths")
def test_unlearn_out_under_a_missing_folder_is_refused_before_any_work(folder_data, home, tmp_path, capsys):
    """`bamu unlearn --out new/tree/m.safetensors`: exit 2, one line, before training; no folder, no run."""
    out = tmp_path / "new" / "tree" / "m.safetensors"
    _refused(["unlearn", *folder_data["options"], *_UNLEARN_QUICK, "--out", out], capsys, problem="does not exist")
    assert not (tmp_path / "new").exists() and not (home / "runs").exists()


# ------------------------------------------------------------------------------------------------
# finding 3: default output names never collide
# ------------------------------------------------------------------------------------------------


@reliability("concurrency", "command line: bamu unlearn")
def test_two_unlearn_runs_with_the_same_options_save_to_their_own_files(stored_run, monkeypatch, capsys):
    """Two `bamu unlearn` runs with identical options and no `--out`: two files, each named after its run id and printed as "saved to"."""
    from bamu_core.runs import RunStore

    home = stored_run["home"]
    monkeypatch.setenv("BAMU_HOME", str(home))
    code, err, out = _bamu([*stored_run["argv"], *_UNLEARN_QUICK], capsys)
    assert code == 0, err
    runs = RunStore(home / "runs").list(kind="unlearn")
    assert len(runs) == 2
    saved = sorted((home / "unlearned").glob("*.safetensors"))
    assert len(saved) == 2
    for r in runs:  # one file per run, named after it
        assert len([p for p in saved if p.name.endswith(f"-{r.run_id}.safetensors")]) == 1
    newest = runs[0].run_id
    assert re.search(rf"saved the unlearned model to \S+-{newest}\.safetensors \(run {newest}\)", out), out


# ------------------------------------------------------------------------------------------------
# finding 8: nothing is written into the caches or the run store
# ------------------------------------------------------------------------------------------------


@reliability("bad input", "command line: output paths")
def test_out_onto_the_baseline_cache_is_refused_and_the_cache_unchanged(folder_data, home, capsys):
    """`bamu unlearn --out $BAMU_HOME/models/<baseline>.safetensors` (or `--json` into the retrain cache): exit 2, one line; the cache file is unchanged."""
    cache = home / "models"
    cache.mkdir(parents=True)
    cached = model_file(cache / "binary-colored-digits-small_cnn.safetensors")
    before = cached.read_bytes()
    argv = ["unlearn", *folder_data["options"], *_UNLEARN_QUICK]
    _refused([*argv, "--out", cached], capsys, problem=r"which bamu manages", advice="outside it")
    _refused([*argv, "--json", home / "retrain" / "x.json"], capsys, problem=r"which bamu manages", advice="outside")
    assert cached.read_bytes() == before and not (home / "retrain").exists() and not (home / "runs").exists()


# ------------------------------------------------------------------------------------------------
# finding 5 (and the other numeric options): bounds, named in the message
# ------------------------------------------------------------------------------------------------

_SC = ["--scenario", "binary-colored-digits"]
_UL = ["unlearn", *_SC, "--method", "ga", "--intensity", "0.5"]

BOUNDS = [
    Case(
        "n-boot-huge",
        "`--n-boot 100000000`: exit 2 at once, one line naming `--n-boot` and the limit 10000",
        lambda t: ["audit", *_SC, "--n-boot", "100000000"],
        problem=r"argument --n-boot: must be an integer from 0 to 10000",
    ),
    Case(
        "image-size-small",
        "`--image-size 2`: exit 2, one line naming the range 8..512",
        lambda t: ["audit", *_SC, "--image-size", "2"],
        problem=r"argument --image-size: must be an integer from 8 to 512",
    ),
    Case(
        "image-size-huge",
        "`--image-size 100000`: exit 2, one line naming the range 8..512",
        lambda t: ["audit", *_SC, "--image-size", "100000"],
        problem=r"argument --image-size: must be an integer from 8 to 512",
    ),
    Case(
        "max-per-split-zero",
        "`--max-per-split 0`: exit 2, one line",
        lambda t: ["audit", "--waterbirds-root", str(t), "--max-per-split", "0"],
        problem=r"argument --max-per-split: must be an integer from 1",
    ),
    Case(
        "gallery-k-huge",
        "`--gallery-k 100000`: exit 2, one line naming the limit",
        lambda t: ["audit", *_SC, "--gallery", str(t / "g"), "--gallery-k", "100000"],
        problem=r"argument --gallery-k: must be an integer from 1 to 256",
    ),
    Case(
        "saliency-per-group-huge",
        "`--saliency-per-group 10**9`: exit 2, one line naming the limit",
        lambda t: ["audit", *_SC, "--saliency-per-group", "1000000000"],
        problem=r"argument --saliency-per-group: must be an integer from 0 to 10000",
    ),
    Case(
        "level-outside",
        "`--level 1.5`: exit 2, one line naming (0, 1)",
        lambda t: ["audit", *_SC, "--level", "1.5"],
        problem=r"argument --level: must be a number in \(0, 1\)",
    ),
    Case(
        "seed-negative",
        "`--seed -1`: exit 2, one line naming `--seed` and its range",
        lambda t: [*_UL, "--seed", "-1"],
        problem=r"argument --seed: must be an integer from 0 to 4294967295",
    ),
    Case(
        "retain-max-zero",
        "`--retain-max 0`: exit 2, one line naming `--retain-max`",
        lambda t: [*_UL, "--retain-max", "0"],
        problem=r"argument --retain-max: must be an integer from 1",
    ),
    Case(
        "num-classes-one",
        "`--num-classes 1`: exit 2, one line",
        lambda t: ["audit", *_SC, "--num-classes", "1"],
        problem=r"argument --num-classes: must be an integer from 2",
    ),
    Case(
        "runs-limit-zero",
        "`bamu runs --limit 0`: exit 2, one line",
        lambda t: ["runs", "--limit", "0"],
        problem=r"argument --limit: must be an integer >= 1",
    ),
    Case(
        "hp-not-a-number",
        "`--hp steps=abc`: exit 2, one line naming `--hp steps=abc` and an example",
        lambda t: [*_UL, "--hp", "steps=abc"],
        problem=r"--hp steps=abc: steps must be an integer",
        advice=r"e\.g\. --hp steps=\d+",
    ),
    Case(
        "hp-batch-size-zero",
        "`--hp batch_size=0`: exit 2, one line naming the range",
        lambda t: [*_UL, "--hp", "batch_size=0"],
        problem=r"--hp batch_size=0: batch_size must be an integer in 1\.\.65,536",
    ),
    Case(
        "hp-steps-huge",
        "`--hp steps=1000000000`: exit 2, one line naming the limit",
        lambda t: [*_UL, "--hp", "steps=1000000000"],
        problem=r"--hp steps=1000000000: steps must be an integer in 0\.\.1,000,000",
    ),
    Case(
        "hp-lr-not-finite",
        "`--hp lr=NaN`: exit 2, one line",
        lambda t: [*_UL, "--hp", "lr=NaN"],
        problem=r"--hp lr=nan: lr must be a finite number",
    ),
    Case(
        "hp-unknown",
        "`--hp nope=1`: exit 2, one line naming `--hp` and the known names",
        lambda t: [*_UL, "--hp", "nope=1"],
        problem=r"--hp: method 'ga' has no hyper-parameter\(s\) nope",
        advice="known: ",
    ),
]


@pytest.mark.parametrize("case", BOUNDS, ids=lambda c: c.id)
def test_numeric_options_are_bounded_and_the_message_names_the_option(case, tmp_path, home, capsys):
    before = _snapshot(tmp_path)
    _refused(case.make(tmp_path), capsys, problem=case.problem, advice=case.advice)
    assert {k: v for k, v in _snapshot(tmp_path).items() if not k.startswith("home")} == before
    assert not (home / "runs").exists() and not (home / "models").exists()  # refused before any work


# ------------------------------------------------------------------------------------------------
# finding 9: the environment's failures are one line
# ------------------------------------------------------------------------------------------------


def _connect_failing(message: str):
    def connect(*args, **kwargs):
        raise sqlite3.OperationalError(message)

    return connect


@reliability("fault", "command line: run store")
def test_a_disk_io_error_of_the_run_store_during_unlearn_is_one_line(folder_data, home, monkeypatch, capsys):
    """A full disk under the run store during `bamu unlearn` (sqlite `disk I/O error`): exit 2, one line naming the store and what to check."""
    monkeypatch.setattr(sqlite3, "connect", _connect_failing("disk I/O error"))
    _refused(
        ["unlearn", *folder_data["options"], *_UNLEARN_QUICK],
        capsys,
        problem=r"run store .*runs\.sqlite3: disk I/O error",
        advice="free space",
    )


@reliability("fault", "command line: run store")
def test_bamu_runs_on_a_full_or_read_only_disk_is_one_line(home, monkeypatch, capsys):
    """`bamu runs` when the disk is full (ENOSPC), read-only (EROFS) or the database read-only: exit 2, one line each."""
    for code, text in ((errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")):
        with monkeypatch.context() as mp:

            def mkdir(self, *args, _code=code, _text=text, **kwargs):
                raise OSError(_code, _text, str(self))

            mp.setattr(Path, "mkdir", mkdir)
            _refused(["runs"], capsys, problem=text)
    with monkeypatch.context() as mp:
        mp.setattr(sqlite3, "connect", _connect_failing("attempt to write a readonly database"))
        _refused(["runs"], capsys, problem="readonly database", advice="BAMU_HOME is writable")


@reliability("fault", "command line: run store")
def test_a_damaged_run_store_database_is_one_line_and_left_alone(home, capsys):
    """`bamu runs` with a runs.sqlite3 that is not a database: exit 2, one line saying it is damaged and what to do; the file is unchanged."""
    db = home / "runs" / "runs.sqlite3"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not sqlite " * 100)
    before = db.read_bytes()
    _refused(["runs"], capsys, problem="not a database", advice="move it aside")
    assert db.read_bytes() == before


@reliability("fault", "command line: output paths")
def test_scenarios_json_on_a_full_disk_is_one_line_and_the_old_file_stays(tmp_path, home, monkeypatch, capsys):
    """`bamu scenarios --json F` when the disk fills at the rename (ENOSPC): exit 2, one line; F keeps its old bytes; no temp file left."""
    target = tmp_path / "s.json"
    target.write_text("old\n")

    def replace(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(os, "replace", replace)
    _refused(["scenarios", "--json", target], capsys, problem="No space left on device")
    assert target.read_text() == "old\n" and files_under(tmp_path) == ["s.json"]


@reliability("fault", "command line (own process)")
def test_stdout_to_a_full_disk_is_one_line_and_no_shutdown_traceback(tmp_path):
    """`bamu scenarios > /dev/full`: exit 2 and one line on stderr, no "Exception ignored" at exit."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    env = {**os.environ, "PYTHONPATH": str(REPO), "BAMU_HOME": str(tmp_path / "home")}
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "bamu_core", "scenarios"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
        )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "No space left on device" in lines[0], lines
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr


@reliability("bad input", "command line: output paths")
def test_a_gallery_naming_an_existing_file_is_refused_before_any_work(folder_data, home, tmp_path, capsys):
    """`bamu audit --gallery FILE`: exit 2, one line before the audit; the file is unchanged."""
    existing = tmp_path / "notes.txt"
    existing.write_text("mine\n")
    _refused(
        ["audit", *folder_data["options"], *_AUDIT_QUICK, "--gallery", existing],
        capsys,
        problem="is a file, not a folder",
        advice="give a new or existing folder",
    )
    assert existing.read_text() == "mine\n"
    _refused(
        ["audit", *folder_data["options"], *_AUDIT_QUICK, "--gallery", folder_data["root"] / "g"],
        capsys,
        problem="which this command reads",
        advice="outside it",
    )
    assert not (folder_data["root"] / "g").exists()


@reliability("bad input", "library: output paths")
def test_library_writers_refuse_the_same_targets(tmp_path):
    """`write_sweep`, `save_gallery` and `check_output_*`: a folder that is a link or a file, a path in the caches, refused with BamuInputError."""
    from bamu_core.explain import save_gallery
    from bamu_core.report import write_sweep
    from bamu_core.storage import managed_folders

    runs = managed_folders()[0]
    with pytest.raises(BamuInputError, match="which bamu manages"):
        check_output_folder(runs / "x")
    with pytest.raises(BamuInputError, match="which bamu manages"):
        check_output_path(runs / "runs.sqlite3-wal")
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    (tmp_path / "file").write_text("mine")
    for target in (tmp_path / "link", tmp_path / "file", runs / "sweep"):
        with pytest.raises(BamuInputError, match="symbolic link|not a folder|which bamu manages"):
            write_sweep(None, target)  # refused before the result is looked at
        with pytest.raises(BamuInputError, match="symbolic link|not a folder|which bamu manages"):
            save_gallery(None, target)
    assert files_under(real) == [] and (tmp_path / "file").read_text() == "mine" and not (runs / "sweep").exists()


# ------------------------------------------------------------------------------------------------
# finding 10: damaged checkpoints
# ------------------------------------------------------------------------------------------------


def _state() -> dict:
    torch.manual_seed(0)
    return {k: v.clone() for k, v in build_model("small_cnn", num_classes=2).state_dict().items()}


def _first(state: dict) -> str:
    return next(k for k in state if k.endswith("weight"))


def _with(change):
    def make(t: Path) -> Path:
        state = _state()
        state = change(state) or state
        path = t / "bad.pt"
        torch.save(state, path)
        return path

    return make


CHECKPOINTS = [
    Case(
        "ckpt-int-keys",
        "a state dict with integer keys (`{0: tensor}`): one line, not a traceback",
        _with(lambda s: {0: torch.zeros(3), 1: torch.zeros(3)}),
        error=BamuInputError,
        problem=r"key\(s\) that are not parameter names, e\.g\. 0 \(int\)",
        advice=r"state_dict\(\)",
    ),
    Case(
        "ckpt-non-tensor-only",
        "a state dict whose values are lists, not tensors: one line",
        _with(lambda s: {k: v.tolist() for k, v in s.items()}),
        error=BamuInputError,
        problem=r"does not contain a state dict",
        advice=r"state_dict\(\)",
    ),
    Case(
        "ckpt-sparse",
        "a sparse weight: one line saying to make it dense",
        _with(lambda s: s.update({_first(s): s[_first(s)].to_sparse()})),
        error=BamuInputError,
        problem=r"is sparse_coo, not dense",
        advice=r"to_dense",
    ),
    Case(
        "ckpt-meta",
        "a weight on the meta device (no values): one line",
        _with(lambda s: s.update({_first(s): torch.empty(s[_first(s)].shape, device="meta")})),
        error=BamuInputError,
        problem=r"on the meta device",
        advice=r"materialised model",
    ),
    Case(
        "ckpt-bool",
        "bool weights: refused, one line naming the dtype",
        _with(lambda s: {k: v.bool() for k, v in s.items()}),
        error=BamuInputError,
        problem=r"dtype bool",
        advice=r"must be floating point",
    ),
    Case(
        "ckpt-int64",
        "int64 weights: refused, one line naming the dtype (BatchNorm's counter may stay an integer)",
        _with(lambda s: {k: v.long() for k, v in s.items()}),
        error=BamuInputError,
        problem=r"dtype int64",
        advice=r"must be floating point",
    ),
    Case(
        "ckpt-complex",
        "complex weights: refused, one line naming the dtype",
        _with(lambda s: {k: v.to(torch.complex64) for k, v in s.items()}),
        error=BamuInputError,
        problem=r"dtype complex64",
        advice=r"must be floating point",
    ),
]


@pytest.mark.parametrize("case", CHECKPOINTS, ids=lambda c: c.id)
def test_damaged_checkpoints_are_one_line_errors(case, tmp_path):
    path = case.make(tmp_path)
    with pytest.raises(case.error) as info:
        read_state_dict(path)
    case.check_message(str(info.value))


@reliability("bad input", "command line: checkpoint")
def test_a_checkpoint_with_integer_keys_through_bamu_audit_is_one_line(folder_data, home, tmp_path, capsys):
    """`bamu audit --model` a checkpoint with integer keys: exit 2, one line."""
    bad = tmp_path / "intkeys.pt"
    torch.save({0: torch.zeros(3)}, bad)
    argv = ["audit", *folder_data["options"], *_AUDIT_QUICK]
    argv[argv.index("--model") + 1] = bad
    _refused(argv, capsys, problem="not parameter names")


@reliability("valid input", "library: checkpoint")
def test_float16_float64_and_batchnorm_counters_still_load(tmp_path):
    """float16 / bfloat16 / float64 weights and an int64 `num_batches_tracked` load without a warning."""
    from bamu_core.models import load_weights

    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        state = {k: v.to(dtype) for k, v in _state().items()}
        state["bn.num_batches_tracked"] = torch.tensor(3)
        path = save_weights(state, tmp_path / f"m-{dtype}.safetensors")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loaded = read_state_dict(path)
        del loaded["bn.num_batches_tracked"]
        load_weights(build_model("small_cnn", num_classes=2), loaded)


@reliability("bad input", "command line: checkpoint")
def test_absurd_weights_load_with_one_warning_line(folder_data, home, tmp_path, capsys):
    """Weights of 3e38 (finite, absurd): `bamu audit` runs and prints one `warning:` line naming the magnitude."""
    state = {k: torch.full_like(v, 3e38) if v.is_floating_point() else v for k, v in _state().items()}
    huge = save_weights(state, tmp_path / "huge.safetensors")
    with pytest.warns(CheckpointWarning, match=r"above 1e\+06"):
        read_state_dict(huge)
    argv = ["audit", *folder_data["options"], *_AUDIT_QUICK]
    argv[argv.index("--model") + 1] = huge
    code, err, _ = _bamu(argv, capsys)
    warned = [line for line in err if "warning" in line]
    assert len(warned) == 1 and re.match(
        r"bamu audit: warning: checkpoint huge\.safetensors: .* above 1e\+06", warned[0]
    )


@reliability("valid input", "library: checkpoint")
def test_non_tensor_entries_beside_the_tensors_are_left_out_with_a_warning_naming_them(tmp_path):
    """A state dict with `epoch: 3` and a string beside its tensors: it loads, and one CheckpointWarning names both left-out keys."""
    state = {**_state(), "epoch": 3, "note": "best"}
    path = tmp_path / "extras.pt"
    torch.save(state, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = read_state_dict(path)
    assert set(loaded) == set(_state())
    [w] = caught
    assert issubclass(w.category, CheckpointWarning)
    assert re.search(r"left out 2 value\(s\) that are not tensors: 'epoch' \(int\), 'note' \(str\)", str(w.message))
    with warnings.catch_warnings():  # a plain state dict warns about nothing
        warnings.simplefilter("error")
        torch.save(_state(), path)
        read_state_dict(path)


@reliability("bad input", "dashboard: Load page")
def test_checkpoint_warnings_of_an_upload_are_shown_on_the_load_page(tmp_path):
    """Uploading a checkpoint with weights of 3e38 and an `epoch: 3` entry: the Load page shows both CheckpointWarnings with st.warning."""
    from reliability_kit import close_app, open_app, texts

    state = {k: torch.full_like(v, 3e38) if v.is_floating_point() else v for k, v in _state().items()}
    path = tmp_path / "odd.pt"
    torch.save({**state, "epoch": 3}, path)
    at = open_app(tmp_path)
    try:
        at.radio(key="load_source").set_value("folder").run()
        at.radio(key="load_model").set_value("checkpoint").run()
        at.file_uploader(key="load_ckpt").upload("odd.pt", path.read_bytes()).run()
        assert not at.exception, texts(at.exception)
        shown = texts(at.warning)
        assert any(re.search(r"checkpoint odd\.pt: .* above 1e\+06", t) for t in shown), shown
        assert any("left out 1 value(s) that are not tensors: 'epoch' (int)" in t for t in shown), shown
        at.run()  # the upload is checked once; its warnings stay on every rerun
        assert len([t for t in texts(at.warning) if "odd.pt" in t]) == 2, texts(at.warning)
    finally:
        close_app(at)


README_TABLES = [
    ("bad input", "command line: numeric options", BOUNDS),
    ("bad input", "library: checkpoint", CHECKPOINTS),
]
