"""The run store: one SQLite table of runs plus a folder of artifacts per run.

Layout under ``BAMU_HOME/runs/``::

    runs.sqlite3           one row per run (WAL mode, so readers never block the writer)
    <run_id>/              the artifacts of a finished run (weights, audit JSON, PNGs ...)
    .staging/<run_id>/     artifacts being written (never read by anyone else)
    .trash/                folders being deleted

Guarantees:

- **Atomic.** Artifacts are written into ``.staging/<run_id>/`` (each file itself via temp file +
  rename), the folder is renamed to ``<run_id>/`` and only then the row is marked ``complete`` in one
  transaction; a row is never ``complete`` before its artifacts are in place. An exception while
  writing removes the staging folder; :meth:`RunStore.save` then leaves no row at all, a run begun
  with :meth:`RunStore.start` ends ``failed`` (or ``cancelled``) with the error as its message.
- **Concurrent.** Every write is one short ``BEGIN IMMEDIATE`` transaction on its own connection
  with a busy timeout, so several processes (the dashboard, a CLI sweep) can write at once.
  (SQLite's WAL mode needs a local file system: keep ``BAMU_HOME`` off NFS.)
- **Crash-safe.** A run records the pid (and the pid's start time on Linux) of the process writing
  it. When a store is opened, ``running`` rows whose process no longer exists on this host are marked
  ``failed``, and leftover staging folders of dead processes are removed.

Typical use::

    store = RunStore()
    with store.start(kind="unlearn", config={"scenario": "colored-digits", "method": "ga"}) as run:
        run.add_weights("unlearned.safetensors", model)
        run.add_json("audit_after.json", audit)
        run.complete(result)              # the unlearn JSON of DESIGN.md
    store.list()                          # newest first
    store.get(run.run_id).result
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from .storage import _json_default, atomic_write, atomic_write_bytes, atomic_write_json, bamu_home

__all__ = ["RunStore", "RunWriter", "RunHandle", "RunRecord", "RUN_STATUSES", "RunNotFoundError", "default_store"]

RUN_STATUSES = ("running", "complete", "failed", "cancelled")
_DB_NAME = "runs.sqlite3"
_SCHEMA_VERSION = 1
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_OWNER_FILE = ".owner.json"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id     TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed', 'cancelled')),
    label      TEXT NOT NULL DEFAULT '',
    created    REAL NOT NULL,
    finished   REAL,
    scenario   TEXT,
    method     TEXT,
    intensity  REAL,
    score      REAL,
    seconds    REAL,
    message    TEXT NOT NULL DEFAULT '',
    pid        INTEGER,
    pid_start  TEXT,
    host       TEXT,
    config     TEXT NOT NULL DEFAULT '{}',
    summary    TEXT NOT NULL DEFAULT '{}',
    result     TEXT,
    artifacts  TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created);
"""


class RunNotFoundError(ValueError, LookupError):
    """No run with that id in the store."""


# --------------------------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of ``pid`` from ``/proc`` on Linux; None elsewhere or if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text[text.rfind(")") + 2 :].split()
    return rest[0], rest[19]  # fields 3 (state) and 22 (starttime)


def _process_start(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return None if stat is None else stat[1]


def _process_alive(pid: int | None, start: str | None) -> bool:
    """Whether the process that wrote a row still runs (a reused pid or a zombie counts as dead)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    stat = _proc_stat(pid)
    if stat is not None:
        if stat[0] in ("Z", "X"):
            return False
        if start is not None and stat[1] != start:
            return False
    return True


def _owner() -> dict:
    pid = os.getpid()
    return {"pid": pid, "pid_start": _process_start(pid), "host": socket.gethostname()}


# --------------------------------------------------------------------------------------------
# records and the artifact writer
# --------------------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """One run as stored. ``result`` is loaded by :meth:`RunStore.get` (``None`` in listings).

    ``summary`` holds the headline numbers for listings: ``scenario, method, intensity, score,
    seconds`` and ``metrics`` (``accuracy_before/after, dp_before/after, worst_group_before/after,
    mia_auc_after``; ``None`` where the result lacks them).
    """

    run_id: str
    kind: str
    status: str
    label: str
    created: float
    finished: float | None
    scenario: str | None
    method: str | None
    intensity: float | None
    score: float | None
    seconds: float | None
    message: str
    pid: int | None
    host: str | None
    config: dict
    summary: dict
    artifact_names: list[str]
    folder: Path
    result: dict | None = None

    @property
    def artifacts(self) -> dict[str, Path]:
        """Artifact name -> path, for the artifacts that exist on disk."""
        out = {}
        for name in self.artifact_names:
            p = self.folder / name
            if p.is_file():
                out[name] = p
        return out

    def artifact(self, name: str) -> Path:
        """The path of artifact ``name``; ``FileNotFoundError`` naming the available ones if absent."""
        p = self.folder / name
        if name not in self.artifact_names or not p.is_file():
            have = ", ".join(self.artifact_names) or "none"
            raise FileNotFoundError(f"run {self.run_id} has no artifact {name!r} (available: {have})")
        return p

    def to_dict(self, *, with_result: bool = False) -> dict:
        """A JSON-ready summary (and the full result if asked)."""
        d = {
            "run_id": self.run_id,
            "kind": self.kind,
            "status": self.status,
            "label": self.label,
            "created": self.created,
            "created_iso": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created)),
            "finished": self.finished,
            "scenario": self.scenario,
            "method": self.method,
            "intensity": self.intensity,
            "score": self.score,
            "seconds": self.seconds,
            "message": self.message,
            "summary": self.summary,
            "artifacts": list(self.artifact_names),
            "folder": str(self.folder),
        }
        if with_result:
            d["config"] = self.config
            d["result"] = self.result
        return d


class RunWriter:
    """Writes the artifacts of one run into its staging folder.

    Artifact names are file names (``[A-Za-z0-9_.-]``); the suffix decides the format in
    :meth:`add`. Nothing written here is visible in the store until the run completes.
    """

    def __init__(self, run_id: str, folder: Path):
        self.run_id = run_id
        self.folder = folder
        self.names: list[str] = []

    def _path(self, name: str, suffix: str | None = None) -> Path:
        if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
            raise ValueError(f"artifact name {name!r} must be a plain file name of letters, digits, '_', '-' and '.'")
        if suffix and not name.lower().endswith(suffix):
            raise ValueError(f"artifact name {name!r} must end with {suffix}")
        if name in self.names:
            raise ValueError(f"artifact {name!r} was already written in this run")
        self.names.append(name)
        return self.folder / name

    def add_bytes(self, name: str, data: bytes) -> Path:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"artifact {name!r}: expected bytes, got {type(data).__name__}; use a .json, .png or .safetensors name")
        return atomic_write_bytes(self._path(name), bytes(data))

    def add_text(self, name: str, text: str) -> Path:
        return atomic_write_bytes(self._path(name), text.encode("utf-8"))

    def add_json(self, name: str, obj: Any) -> Path:
        return atomic_write_json(self._path(name, ".json"), obj)

    def add_weights(self, name: str, model) -> Path:
        """A model or state dict as safetensors (``name`` ends with ``.safetensors``)."""
        from .models import save_weights

        return save_weights(model, self._path(name, ".safetensors"))

    def add_png(self, name: str, image) -> Path:
        """PNG bytes, a PIL image, or an (H, W[, 3|4]) uint8 array, as ``name`` (ends with ``.png``)."""
        path = self._path(name, ".png")
        if isinstance(image, (bytes, bytearray)):
            if not bytes(image[:8]) == b"\x89PNG\r\n\x1a\n":
                raise ValueError(f"artifact {name!r}: the bytes are not a PNG image")
            return atomic_write_bytes(path, bytes(image))
        from PIL import Image

        if not isinstance(image, Image.Image):
            import numpy as np

            image = Image.fromarray(np.asarray(image))
        return atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))

    def add_file(self, name: str, source: str | os.PathLike) -> Path:
        """A copy of an existing file."""
        src = Path(source)
        if not src.is_file():
            raise FileNotFoundError(f"artifact source {src} does not exist")
        return atomic_write(self._path(name), lambda tmp: shutil.copyfile(src, tmp))

    def add(self, name: str, value) -> Path:
        """Write ``value`` in the format its name's suffix says: .json, .safetensors, .png, else bytes/text."""
        low = name.lower()
        if low.endswith(".json"):
            return self.add_json(name, value)
        if low.endswith(".safetensors"):
            return self.add_weights(name, value)
        if low.endswith(".png"):
            return self.add_png(name, value)
        if isinstance(value, os.PathLike):
            return self.add_file(name, value)
        if isinstance(value, str):
            return self.add_text(name, value)
        return self.add_bytes(name, value)


class RunHandle(RunWriter):
    """A run begun with :meth:`RunStore.start`; use it as a context manager."""

    def __init__(self, store: "RunStore", run_id: str, folder: Path):
        super().__init__(run_id, folder)
        self._store = store
        self.status = "running"

    def complete(self, result: Mapping, *, message: str = "") -> RunRecord:
        """Publish the artifacts and mark the run ``complete`` with ``result`` (a JSON-ready dict)."""
        if self.status != "running":
            raise ValueError(f"run {self.run_id} is already {self.status}")
        record = self._store._publish(self, result=dict(result), message=message, new_row=None)
        self.status = "complete"
        return record

    def fail(self, message: str, *, cancelled: bool = False) -> None:
        """Discard the artifacts and mark the run ``failed`` (or ``cancelled``)."""
        if self.status != "running":
            return
        self.status = "cancelled" if cancelled else "failed"
        shutil.rmtree(self.folder, ignore_errors=True)
        self._store._set_status(self.run_id, self.status, message)

    def cancel(self, message: str = "cancelled") -> None:
        self.fail(message, cancelled=True)

    def __enter__(self) -> "RunHandle":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.status != "running":
            return False
        if exc_type is None:
            self.fail("the run ended without complete()")
        else:
            cancelled = issubclass(exc_type, KeyboardInterrupt) or exc_type.__name__ in ("StopRequested", "Cancelled")
            self.fail(f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__, cancelled=cancelled)
        return False


# --------------------------------------------------------------------------------------------
# the store
# --------------------------------------------------------------------------------------------


def _summary_of(config: Mapping, result: Mapping | None) -> dict:
    """Headline numbers kept in their own columns / JSON for fast listings."""
    r = result or {}

    def dig(d, *keys):
        for k in keys:
            if not isinstance(d, Mapping) or k not in d:
                return None
            d = d[k]
        return d

    return {
        "scenario": config.get("scenario") or dig(r, "dataset", "name"),
        "method": r.get("method", config.get("method")),
        "intensity": r.get("intensity", config.get("intensity")),
        "score": r.get("score"),
        "seconds": r.get("seconds"),
        "metrics": {
            "accuracy_before": dig(r, "before", "utility", "accuracy"),
            "accuracy_after": dig(r, "after", "utility", "accuracy"),
            "dp_before": dig(r, "before", "fairness", "demographic_parity_difference"),
            "dp_after": dig(r, "after", "fairness", "demographic_parity_difference"),
            "worst_group_before": dig(r, "before", "fairness", "worst_group_accuracy"),
            "worst_group_after": dig(r, "after", "fairness", "worst_group_accuracy"),
            "mia_auc_after": dig(r, "privacy", "mia_after", "auc"),
        },
    }


def _dumps(obj) -> str:
    return json.dumps(obj, default=_json_default)


def _num_or_none(v) -> float | None:
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


class RunStore:
    """The run store under ``root`` (default ``BAMU_HOME/runs``).

    Parameters
    ----------
    root : path, optional
        Folder of the store; created if missing.
    busy_timeout : float
        Seconds a write waits for another process's transaction before giving up.
    recover : bool
        Mark ``running`` rows of dead processes ``failed`` and remove stale staging folders on open.
    """

    def __init__(self, root: str | os.PathLike | None = None, *, busy_timeout: float = 30.0, recover: bool = True):
        self.root = Path(root) if root is not None else bamu_home() / "runs"
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / ".staging").mkdir(exist_ok=True)
        (self.root / ".trash").mkdir(exist_ok=True)
        self.db_path = self.root / _DB_NAME
        self.busy_timeout = float(busy_timeout)
        with self._connection() as con:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                con.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the database file
        if version < _SCHEMA_VERSION:
            with self._transaction() as con:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        con.execute(statement)
                con.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        if recover:
            self.recover()

    # -- connections --------------------------------------------------------------------
    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.db_path, timeout=self.busy_timeout, isolation_level=None)
        try:
            con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            con.execute("PRAGMA synchronous=NORMAL")
            con.row_factory = sqlite3.Row
            yield con
        finally:
            con.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    # -- writing ------------------------------------------------------------------------
    @staticmethod
    def new_run_id() -> str:
        """A fresh, time-ordered run id such as ``20260101-120000-1a2b3c4d``."""
        return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"

    def _claim_id(self, run_id: str | None) -> str:
        if run_id is None:
            return self.new_run_id()
        self._check_id(run_id)
        if run_id in self or (self.root / run_id).exists() or (self.root / ".staging" / run_id).exists():
            raise ValueError(f"run id {run_id!r} is already used in {self.root}")
        return run_id

    def _staging(self, run_id: str) -> Path:
        folder = self.root / ".staging" / run_id
        folder.mkdir(parents=True)
        atomic_write_json(folder / _OWNER_FILE, _owner())
        return folder

    def start(self, *, kind: str, config: Mapping | None = None, label: str = "", run_id: str | None = None) -> RunHandle:
        """Begin a run: a ``running`` row now, artifacts and result at :meth:`RunHandle.complete`.

        Use the handle as a context manager: leaving the block with an exception marks the run
        ``failed`` (``cancelled`` for ``KeyboardInterrupt`` or a ``StopRequested``), leaving it
        without ``complete()`` marks it ``failed``. ``run_id`` defaults to :meth:`new_run_id`.
        """
        kind = _check_kind(kind)
        config = dict(config or {})
        run_id = self._claim_id(run_id)
        folder = self._staging(run_id)
        own = _owner()
        summ = _summary_of(config, None)
        try:
            with self._transaction() as con:
                con.execute(
                    "INSERT INTO runs (run_id, kind, status, label, created, scenario, method, intensity, pid, pid_start, host, config, summary)"
                    " VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        run_id, kind, str(label), time.time(), summ["scenario"], summ["method"],
                        _num_or_none(summ["intensity"]), own["pid"], own["pid_start"], own["host"],
                        _dumps(config), _dumps(summ),
                    ),
                )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return RunHandle(self, run_id, folder)

    def save(
        self,
        *,
        kind: str,
        result: Mapping,
        config: Mapping | None = None,
        artifacts: Mapping[str, Any] | Callable[[RunWriter], None] | None = None,
        label: str = "",
        run_id: str | None = None,
    ) -> RunRecord:
        """Store a finished run in one step: artifacts first, then one ``complete`` row.

        ``artifacts`` is a mapping name -> value (written by :meth:`RunWriter.add`, the suffix
        decides the format) or a function that receives a :class:`RunWriter`. If writing raises,
        nothing of the run remains: no row, no folder. ``run_id`` defaults to :meth:`new_run_id`
        (pass one to put the id inside ``result`` before saving).
        """
        kind = _check_kind(kind)
        run_id = self._claim_id(run_id)
        writer = RunWriter(run_id, self._staging(run_id))
        try:
            if callable(artifacts):
                artifacts(writer)
            elif artifacts:
                for name, value in artifacts.items():
                    writer.add(name, value)
            new_row = {"kind": kind, "config": dict(config or {}), "label": str(label)}
            return self._publish(writer, result=dict(result), message="", new_row=new_row)
        except BaseException:
            shutil.rmtree(writer.folder, ignore_errors=True)
            raise

    def _publish(self, writer: RunWriter, *, result: dict, message: str, new_row: dict | None) -> RunRecord:
        """Rename staging -> final folder, then mark the row complete (or insert it, with ``new_row``)."""
        final = self.root / writer.run_id
        json_result = _dumps(result)  # fail before touching anything if not serialisable
        os.replace(writer.folder, final)
        try:
            with self._transaction() as con:
                if new_row is not None:
                    config = new_row["config"]
                    summ = _summary_of(config, result)
                    own = _owner()
                    now = time.time()
                    con.execute(
                        "INSERT INTO runs (run_id, kind, status, label, created, finished, scenario, method, intensity, score,"
                        " seconds, message, pid, pid_start, host, config, summary, result, artifacts)"
                        " VALUES (?, ?, 'complete', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            writer.run_id, new_row["kind"], new_row["label"], now, now,
                            summ["scenario"], summ["method"], _num_or_none(summ["intensity"]), _num_or_none(summ["score"]),
                            _num_or_none(summ["seconds"]), message, own["pid"], own["pid_start"], own["host"],
                            _dumps(config), _dumps(summ), json_result, _dumps(writer.names),
                        ),
                    )
                else:
                    row = con.execute("SELECT status, config FROM runs WHERE run_id = ?", (writer.run_id,)).fetchone()
                    if row is None or row["status"] != "running":
                        raise ValueError(
                            f"run {writer.run_id} can no longer complete: it is "
                            f"{'gone (deleted)' if row is None else row['status']}"
                        )
                    summ = _summary_of(json.loads(row["config"]), result)
                    con.execute(
                        "UPDATE runs SET status = 'complete', finished = ?, scenario = ?, method = ?, intensity = ?,"
                        " score = ?, seconds = ?, message = ?, summary = ?, result = ?, artifacts = ? WHERE run_id = ?",
                        (
                            time.time(), summ["scenario"], summ["method"], _num_or_none(summ["intensity"]),
                            _num_or_none(summ["score"]), _num_or_none(summ["seconds"]), message,
                            _dumps(summ), json_result, _dumps(writer.names), writer.run_id,
                        ),
                    )
        except BaseException:
            self._discard(final)
            raise
        return self.get(writer.run_id)

    def _set_status(self, run_id: str, status: str, message: str) -> None:
        with self._transaction() as con:
            con.execute(
                "UPDATE runs SET status = ?, message = ?, finished = ? WHERE run_id = ? AND status = 'running'",
                (status, message, time.time(), run_id),
            )

    def _trash_path(self, name: str) -> Path:
        return self.root / ".trash" / f"{os.getpid()}-{name}-{secrets.token_hex(4)}"

    def _discard(self, folder: Path) -> None:
        """Remove a folder by first moving it out of sight (into .trash), so no half folder is ever visible."""
        if not folder.exists():
            return
        trash = self._trash_path(folder.name)
        try:
            os.replace(folder, trash)
        except OSError:
            trash = folder
        shutil.rmtree(trash, ignore_errors=True)

    # -- reading ------------------------------------------------------------------------
    def _record(self, row: sqlite3.Row, *, with_result: bool) -> RunRecord:
        return RunRecord(
            run_id=row["run_id"],
            kind=row["kind"],
            status=row["status"],
            label=row["label"],
            created=row["created"],
            finished=row["finished"],
            scenario=row["scenario"],
            method=row["method"],
            intensity=row["intensity"],
            score=row["score"],
            seconds=row["seconds"],
            message=row["message"],
            pid=row["pid"],
            host=row["host"],
            config=json.loads(row["config"]),
            summary=json.loads(row["summary"]),
            artifact_names=json.loads(row["artifacts"]),
            folder=self.root / row["run_id"],
            result=json.loads(row["result"]) if with_result and row["result"] is not None else None,
        )

    def list(self, *, status: str | None = None, kind: str | None = None, limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first, optionally only those with ``status`` / ``kind`` (results not loaded)."""
        if status is not None and status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        sql, args = "SELECT * FROM runs WHERE 1 = 1", []
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        sql += " ORDER BY created DESC, run_id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._connection() as con:
            rows = con.execute(sql, args).fetchall()
        return [self._record(r, with_result=False) for r in rows]

    def get(self, run_id: str) -> RunRecord:
        """One run with its result; :class:`RunNotFoundError` (a ``ValueError``) if there is none."""
        run_id = self._check_id(run_id)
        with self._connection() as con:
            row = con.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFoundError(f"no run {run_id!r} in {self.root} (see `bamu runs`)")
        return self._record(row, with_result=True)

    def __contains__(self, run_id: str) -> bool:
        try:
            self.get(run_id)
        except RunNotFoundError:
            return False
        return True

    def __len__(self) -> int:
        with self._connection() as con:
            return int(con.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def _check_id(self, run_id: str) -> str:
        if not isinstance(run_id, str) or not _ID_RE.match(run_id):
            raise RunNotFoundError(f"{run_id!r} is not a run id (see `bamu runs`)")
        return run_id

    # -- deleting and recovering --------------------------------------------------------
    def delete(self, run_id: str) -> None:
        """Delete a run: its row and its artifact folder. A run still being written cannot be deleted."""
        record = self.get(run_id)
        if record.status == "running" and _process_alive(record.pid, self._pid_start(run_id)):
            raise ValueError(f"run {run_id} is still running (pid {record.pid}); cancel it before deleting")
        folder = self.root / run_id
        trash = self._trash_path(run_id)
        moved = False
        if folder.exists():
            os.replace(folder, trash)
            moved = True
        try:
            with self._transaction() as con:
                con.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
        except BaseException:
            if moved:
                os.replace(trash, folder)
            raise
        shutil.rmtree(trash, ignore_errors=True)
        shutil.rmtree(self.root / ".staging" / run_id, ignore_errors=True)

    def _pid_start(self, run_id: str) -> str | None:
        with self._connection() as con:
            row = con.execute("SELECT pid_start FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else row["pid_start"]

    def recover(self) -> list[str]:
        """Mark ``running`` runs of dead processes on this host ``failed``; clean stale folders.

        Returns the ids of the runs marked failed.
        """
        host = socket.gethostname()
        with self._connection() as con:
            rows = con.execute("SELECT run_id, pid, pid_start, host FROM runs WHERE status = 'running'").fetchall()
        dead = [r for r in rows if r["host"] == host and not _process_alive(r["pid"], r["pid_start"])]
        failed = []
        for r in dead:
            with self._transaction() as con:
                cur = con.execute(
                    "UPDATE runs SET status = 'failed', finished = ?, message = ? WHERE run_id = ? AND status = 'running'",
                    (time.time(), f"the process writing this run (pid {r['pid']}) ended before it finished", r["run_id"]),
                )
                if cur.rowcount:
                    failed.append(r["run_id"])
            shutil.rmtree(self.root / ".staging" / r["run_id"], ignore_errors=True)
        # staging folders whose writer died (including one-shot saves that never got a row),
        # and final folders left by a writer that died between the rename and the commit
        with self._connection() as con:
            complete = {row[0] for row in con.execute("SELECT run_id FROM runs WHERE status = 'complete'")}
        candidates = list((self.root / ".staging").iterdir()) + [
            p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in complete
        ]
        for folder in candidates:
            owner = _read_owner(folder)
            if owner is None or owner.get("host") != host or _process_alive(owner.get("pid"), owner.get("pid_start")):
                continue
            self._discard(folder)
        for p in (self.root / ".trash").iterdir():  # named <pid of the deleting process>-...
            pid = p.name.split("-", 1)[0]
            if not pid.isdigit() or not _process_alive(int(pid), None):
                shutil.rmtree(p, ignore_errors=True)
        return failed

    # -- comparing ----------------------------------------------------------------------
    def compare(self, a: str, b: str) -> dict:
        """Two runs side by side: their summaries and one row per headline metric with b - a.

        Returns ``{"a": summary, "b": summary, "rows": [{"metric", "a", "b", "delta"}]}``; metrics
        either run lacks are ``None``.
        """
        ra, rb = self.get(a), self.get(b)
        rows = []
        for metric, path in _COMPARE_METRICS:
            va, vb = _dig(ra.result, path), _dig(rb.result, path)
            delta = vb - va if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
            rows.append({"metric": metric, "a": va, "b": vb, "delta": delta})
        return {"a": ra.to_dict(), "b": rb.to_dict(), "rows": rows}


_COMPARE_METRICS = [
    ("accuracy (after)", "after.utility.accuracy"),
    ("balanced accuracy (after)", "after.utility.balanced_accuracy"),
    ("demographic parity difference (after)", "after.fairness.demographic_parity_difference"),
    ("equalized odds difference (after)", "after.fairness.equalized_odds_difference"),
    ("worst-group accuracy (after)", "after.fairness.worst_group_accuracy"),
    ("forget-set accuracy (after)", "forget.accuracy_after"),
    ("MIA AUC (after)", "privacy.mia_after.auc"),
    ("MIA efficacy (after)", "privacy.mia_after.efficacy"),
    ("radar: utility", "radar.after.utility"),
    ("radar: fairness", "radar.after.fairness"),
    ("radar: forgetting", "radar.after.forgetting"),
    ("radar: privacy", "radar.after.privacy"),
    ("score", "score"),
    ("seconds", "seconds"),
]


def _dig(d, path: str):
    for key in path.split("."):
        if not isinstance(d, Mapping) or key not in d:
            return None
        d = d[key]
    return d


def _read_owner(folder: Path) -> dict | None:
    try:
        return json.loads((folder / _OWNER_FILE).read_text())
    except (OSError, ValueError):
        return None


def _check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not re.match(r"^[a-z][a-z0-9_-]{0,31}$", kind):
        raise ValueError(f"kind must be a short lowercase word such as 'unlearn' or 'audit', got {kind!r}")
    return kind


def default_store() -> RunStore:
    """The store under the current ``BAMU_HOME``."""
    return RunStore()
