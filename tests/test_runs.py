"""The run store: round trip, atomicity, two concurrent writer processes, crash recovery, delete, compare."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bamu_core.runs import RUN_STATUSES, RunNotFoundError, RunStore

REPO = Path(__file__).resolve().parents[1]


def _result(score: float, acc_after: float = 0.9) -> dict:
    return {
        "run_id": None,
        "method": "ga",
        "intensity": 0.5,
        "before": {"utility": {"accuracy": 0.8}, "fairness": {"demographic_parity_difference": 0.4}},
        "after": {"utility": {"accuracy": acc_after}, "fairness": {"demographic_parity_difference": 0.1}},
        "privacy": {"mia_after": {"auc": 0.55}},
        "radar": {"after": {"utility": 1.0, "fairness": 0.9}},
        "score": score,
        "seconds": 2.5,
        "status": "ok",
    }


def _visible_folders(store: RunStore) -> list[str]:
    return sorted(p.name for p in store.root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _staging(store: RunStore) -> list[str]:
    return sorted(p.name for p in (store.root / ".staging").iterdir())


def test_save_get_list_and_reopen(tmp_path):
    store = RunStore(tmp_path / "runs")
    rec = store.save(
        kind="unlearn",
        config={"scenario": "colored-digits"},
        result=_result(0.75),
        artifacts={"audit_after.json": {"a": 1}, "gallery.png": np.full((4, 5, 3), 200, np.uint8), "notes.txt": "hi"},
        label="first",
    )
    assert rec.status == "complete" and rec.label == "first"
    assert (rec.scenario, rec.method, rec.intensity, rec.score, rec.seconds) == ("colored-digits", "ga", 0.5, 0.75, 2.5)
    assert rec.summary["metrics"]["accuracy_after"] == 0.9 and rec.summary["metrics"]["dp_before"] == 0.4
    assert rec.summary["score"] == 0.75 and rec.summary["scenario"] == "colored-digits"
    assert set(rec.artifacts) == {"audit_after.json", "gallery.png", "notes.txt"}
    assert json.loads(rec.artifact("audit_after.json").read_text()) == {"a": 1}
    assert rec.artifact("gallery.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(FileNotFoundError, match="no artifact 'weights.safetensors'"):
        rec.artifact("weights.safetensors")
    second = store.save(kind="audit", result={"utility": {"accuracy": 0.5}})
    # a new store object on the same folder (a restart) sees both runs, newest first
    again = RunStore(tmp_path / "runs")
    assert [r.run_id for r in again.list()] == [second.run_id, rec.run_id]
    assert [r.run_id for r in again.list(kind="unlearn")] == [rec.run_id]
    assert again.list()[0].result is None  # listings do not load results
    assert again.get(rec.run_id).result["score"] == 0.75
    assert len(again) == 2 and rec.run_id in again and "nope" not in again
    assert _staging(again) == []


def test_weights_artifact_round_trips_through_safe_loading(tmp_path):
    import torch

    from bamu_core.models import build_model, read_state_dict

    model = build_model("small_cnn", num_classes=2)
    store = RunStore(tmp_path)
    rec = store.save(kind="unlearn", result={}, artifacts={"unlearned.safetensors": model})
    state = read_state_dict(rec.artifact("unlearned.safetensors"))
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_an_exception_mid_write_leaves_no_row_and_no_folder(tmp_path):
    store = RunStore(tmp_path)

    def write(w):
        w.add_json("audit_before.json", {"ok": True})
        w.add_bytes("half.bin", b"x" * 1000)
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        store.save(kind="unlearn", result=_result(0.5), artifacts=write)
    assert len(store) == 0 and _visible_folders(store) == [] and _staging(store) == []
    # a result that cannot be stored as JSON fails before anything is published
    with pytest.raises(TypeError, match="not JSON serialisable"):
        store.save(kind="unlearn", result={"x": object()}, artifacts={"a.json": {}})
    assert len(store) == 0 and _visible_folders(store) == [] and _staging(store) == []


def test_a_failing_commit_removes_the_published_folder(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    seen = {}
    real = store._transaction

    def failing_transaction():
        seen["folders_at_commit"] = _visible_folders(store)  # the artifacts are in place before the row
        raise OSError("database is locked")

    monkeypatch.setattr(store, "_transaction", failing_transaction)
    with pytest.raises(OSError, match="locked"):
        store.save(kind="unlearn", result=_result(0.5), artifacts={"a.json": {"x": 1}})
    assert len(seen["folders_at_commit"]) == 1
    monkeypatch.setattr(store, "_transaction", real)
    assert len(store) == 0 and _visible_folders(store) == [] and _staging(store) == []


def test_started_runs_end_complete_failed_or_cancelled(tmp_path):
    store = RunStore(tmp_path)
    with store.start(kind="unlearn", config={"scenario": "s", "method": "lora", "intensity": 0.25}) as run:
        assert store.get(run.run_id).status == "running"
        assert store.get(run.run_id).artifacts == {}  # nothing visible while running
        run.add_json("audit_after.json", {"v": 2})
        rec = run.complete(_result(0.6))
    assert rec.status == "complete" and rec.artifacts.keys() == {"audit_after.json"} and rec.method == "ga"

    with pytest.raises(ZeroDivisionError):
        with store.start(kind="unlearn") as bad:
            bad.add_json("a.json", {})
            1 / 0  # noqa: B018 (the failure under test)
    failed = store.get(bad.run_id)
    assert failed.status == "failed" and "ZeroDivisionError" in failed.message
    assert failed.artifacts == {} and not failed.folder.exists()

    with pytest.raises(KeyboardInterrupt):
        with store.start(kind="unlearn") as stopped:
            raise KeyboardInterrupt
    assert store.get(stopped.run_id).status == "cancelled"

    with store.start(kind="unlearn") as forgotten:
        pass
    assert store.get(forgotten.run_id).status == "failed"
    assert "without complete()" in store.get(forgotten.run_id).message

    with store.start(kind="unlearn") as cancelled:
        cancelled.cancel("user pressed stop")
    assert (store.get(cancelled.run_id).status, store.get(cancelled.run_id).message) == (
        "cancelled",
        "user pressed stop",
    )
    with pytest.raises(ValueError, match="already cancelled"):
        cancelled.complete({})
    assert {r.status for r in store.list()} <= set(RUN_STATUSES)
    assert [r.run_id for r in store.list(status="failed")] == [forgotten.run_id, bad.run_id]
    assert _staging(store) == []


_WRITER = textwrap.dedent(
    """
    import sys
    from bamu_core.runs import RunStore
    store = RunStore(sys.argv[1])
    tag = sys.argv[2]
    for i in range(50):
        result = {"writer": tag, "i": i, "score": i / 100, "method": tag}
        if i % 2:
            store.save(kind="unlearn", result=result, artifacts={"payload.json": {"writer": tag, "i": i, "pad": "x" * 2000}})
        else:
            with store.start(kind="unlearn", config={"method": tag}) as run:
                run.add_json("payload.json", {"writer": tag, "i": i, "pad": "x" * 2000})
                run.complete(result)
    """
)


def test_two_processes_writing_50_runs_each(tmp_path):
    root = tmp_path / "runs"
    RunStore(root)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(root), tag], env=env, stderr=subprocess.PIPE, text=True)
        for tag in ("a", "b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    store = RunStore(root)
    runs = store.list()
    assert len(runs) == 100 and all(r.status == "complete" for r in runs)
    seen = set()
    for r in runs:
        full = store.get(r.run_id)
        payload = json.loads(full.artifact("payload.json").read_text())
        assert (payload["writer"], payload["i"]) == (full.result["writer"], full.result["i"])
        assert full.score == full.result["i"] / 100
        seen.add((payload["writer"], payload["i"]))
    assert seen == {(w, i) for w in "ab" for i in range(50)}
    assert len(_visible_folders(store)) == 100 and _staging(store) == []
    with store._connection() as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


_KILLED = textwrap.dedent(
    """
    import sys, time
    from bamu_core.runs import RunStore
    store = RunStore(sys.argv[1])
    run = store.start(kind="unlearn", config={"method": "ga"})
    run.add_json("partial.json", {"step": 1})
    print(run.run_id, flush=True)
    time.sleep(60)
    """
)


def test_a_run_left_running_by_a_killed_process_is_failed_on_reopen(tmp_path):
    root = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED, str(root)], env=env, stdout=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().strip()
    store = RunStore(root)  # the writer is alive: its run stays running and cannot be deleted
    assert store.get(run_id).status == "running"
    assert _staging(store) == [run_id]
    with pytest.raises(ValueError, match="still running"):
        store.delete(run_id)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    reopened = RunStore(root)
    rec = reopened.get(run_id)
    assert rec.status == "failed"
    assert f"pid {proc.pid}" in rec.message and "ended before it finished" in rec.message
    assert _staging(reopened) == [] and _visible_folders(reopened) == []
    reopened.delete(run_id)
    assert len(reopened) == 0


def test_a_folder_published_by_a_process_that_died_before_its_commit_is_removed(tmp_path):
    store = RunStore(tmp_path)
    orphan = tmp_path / "20260101-000000-deadbeef"
    orphan.mkdir()
    (orphan / "a.json").write_text("{}")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    import socket

    (orphan / ".owner.json").write_text(json.dumps({"pid": pid, "pid_start": None, "host": socket.gethostname()}))
    mine = tmp_path / "20260101-000000-0000aaaa"  # owned by a live process (this one): left alone
    mine.mkdir()
    (mine / ".owner.json").write_text(json.dumps({"pid": os.getpid(), "pid_start": None, "host": socket.gethostname()}))
    RunStore(tmp_path)
    assert _visible_folders(store) == [mine.name]


def test_delete_removes_row_and_artifacts(tmp_path):
    store = RunStore(tmp_path)
    keep = store.save(kind="unlearn", result=_result(0.1), artifacts={"a.json": {}})
    gone = store.save(
        kind="unlearn", result=_result(0.2), artifacts={"a.json": {}, "b.png": np.zeros((2, 2), np.uint8)}
    )
    assert gone.folder.is_dir()
    store.delete(gone.run_id)
    assert not gone.folder.exists() and gone.run_id not in store
    assert [r.run_id for r in store.list()] == [keep.run_id] and keep.folder.is_dir()
    assert list((tmp_path / ".trash").iterdir()) == []
    with pytest.raises(RunNotFoundError, match="no run"):
        store.delete(gone.run_id)
    with pytest.raises(ValueError, match="is not a run id"):
        store.get("../etc")


def test_compare_two_runs(tmp_path):
    store = RunStore(tmp_path)
    a = store.save(kind="unlearn", result=_result(0.5, acc_after=0.75))
    b = store.save(kind="unlearn", result=_result(0.625, acc_after=0.875))
    cmp = store.compare(a.run_id, b.run_id)
    rows = {r["metric"]: r for r in cmp["rows"]}
    assert rows["score"] == {"metric": "score", "a": 0.5, "b": 0.625, "delta": 0.125}
    assert rows["accuracy (after)"]["delta"] == 0.125
    assert rows["forget-set accuracy (after)"] == {
        "metric": "forget-set accuracy (after)",
        "a": None,
        "b": None,
        "delta": None,
    }
    assert cmp["a"]["run_id"] == a.run_id and cmp["b"]["run_id"] == b.run_id


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda s: s.save(kind="Unlearn!", result={}), "kind must be a short lowercase word"),
        (lambda s: s.save(kind="unlearn", result={}, artifacts={"../x.json": {}}), "plain file name"),
        (lambda s: s.save(kind="unlearn", result={}, artifacts={"w.bin": 3}), "expected bytes, got int"),
        (
            lambda s: s.save(kind="unlearn", result={}, artifacts=lambda w: w.add_weights("w.pt", {})),
            r"must end with \.safetensors",
        ),
        (lambda s: s.save(kind="unlearn", result={}, artifacts=lambda w: w.add_png("x.png", b"GIF89a")), "not a PNG"),
        (lambda s: s.list(status="done"), "status must be one of"),
    ],
)
def test_bad_arguments_are_refused_and_leave_nothing(tmp_path, call, match):
    store = RunStore(tmp_path)
    with pytest.raises((ValueError, TypeError), match=match):
        call(store)
    assert len(store) == 0 and _visible_folders(store) == [] and _staging(store) == []


def test_an_explicit_run_id_is_used_once(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.new_run_id()
    rec = store.save(kind="unlearn", result={"run_id": run_id}, run_id=run_id)
    assert rec.run_id == run_id == rec.result["run_id"] and rec.folder.name == run_id
    with pytest.raises(ValueError, match="already used"):
        store.save(kind="unlearn", result={}, run_id=run_id)
    with pytest.raises(ValueError, match="already used"):
        store.start(kind="unlearn", run_id=run_id)
    with pytest.raises(ValueError, match="is not a run id"):
        store.save(kind="unlearn", result={}, run_id="a/b")
    assert len(store) == 1


def test_bamu_runs_lists_compares_and_deletes(tmp_path, monkeypatch, capsys):
    from bamu_core.cli import main

    monkeypatch.setenv("BAMU_HOME", str(tmp_path))
    store = RunStore()
    a = store.save(kind="unlearn", result=_result(0.5, acc_after=0.75), config={"scenario": "colored-digits"})
    b = store.save(kind="unlearn", result=_result(0.625, acc_after=0.875), config={"scenario": "colored-digits"})
    out = tmp_path / "runs.json"
    assert main(["runs", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert a.run_id in text and b.run_id in text and "colored-digits" in text and "0.625" in text
    assert [r["run_id"] for r in json.loads(out.read_text())["runs"]] == [b.run_id, a.run_id]
    assert main(["runs", "--compare", a.run_id, b.run_id]) == 0
    assert "+0.125" in capsys.readouterr().out
    assert main(["runs", "--delete", a.run_id]) == 0
    assert a.run_id not in RunStore()
    assert main(["runs", "--delete", a.run_id]) == 2
    assert "no run" in capsys.readouterr().err
