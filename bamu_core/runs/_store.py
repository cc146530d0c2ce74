"""The run store: the SQLite table of runs and the folder of artifacts per run."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ..errors import BamuInputError
from ..storage import (
    atomic_write_json,
    bamu_home,
)
from ._lease import LEASES, Lease, lease_state, remove_free_lease, writer_alive
from ._process import _owner, _process_alive
from ._records import RunRecord, _summary_of, compare_records
from ._schema import (
    _DB_NAME,
    _ID_RE,
    _OWNER_FILE,
    _SCHEMA,
    _SCHEMA_VERSION,
    RUN_STATUSES,
    RunNotFoundError,
    _check_kind,
    _dumps,
    _num_or_none,
    _read_owner,
)
from ._writer import RunHandle, RunWriter


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
        (self.root / LEASES).mkdir(exist_ok=True)
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
            raise BamuInputError(f"run id {run_id!r} is already used in {self.root}")
        return run_id

    def _staging(self, run_id: str) -> Path:
        folder = self.root / ".staging" / run_id
        folder.mkdir(parents=True)
        atomic_write_json(folder / _OWNER_FILE, _owner())
        return folder

    def start(
        self, *, kind: str, config: Mapping | None = None, label: str = "", run_id: str | None = None
    ) -> RunHandle:
        """Begin a run: a ``running`` row now, artifacts and result at :meth:`RunHandle.complete`.

        Use the handle as a context manager: leaving the block with an exception marks the run
        ``failed`` (``cancelled`` for ``KeyboardInterrupt`` or a ``StopRequested``), leaving it
        without ``complete()`` marks it ``failed``. ``run_id`` defaults to :meth:`new_run_id`.
        """
        kind = _check_kind(kind)
        config = dict(config or {})
        run_id = self._claim_id(run_id)
        lease = Lease.acquire(self.root, run_id)  # held until the run's final status is written
        folder = self._staging(run_id)
        own = _owner()
        summ = _summary_of(config, None)
        try:
            with self._transaction() as con:
                con.execute(
                    "INSERT INTO runs (run_id, kind, status, label, created, scenario, method, intensity, pid, "
                    "pid_start, host, config, summary)"
                    " VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        run_id,
                        kind,
                        str(label),
                        time.time(),
                        summ["scenario"],
                        summ["method"],
                        _num_or_none(summ["intensity"]),
                        own["pid"],
                        own["pid_start"],
                        own["host"],
                        _dumps(config),
                        _dumps(summ),
                    ),
                )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            lease.release()
            raise
        return RunHandle(self, run_id, folder, lease=lease)

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
        lease = Lease.acquire(self.root, run_id)
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
        finally:
            lease.release()

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
                        "INSERT INTO runs (run_id, kind, status, label, created, finished, scenario, method, "
                        "intensity, score,"
                        " seconds, message, pid, pid_start, host, config, summary, result, artifacts)"
                        " VALUES (?, ?, 'complete', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            writer.run_id,
                            new_row["kind"],
                            new_row["label"],
                            now,
                            now,
                            summ["scenario"],
                            summ["method"],
                            _num_or_none(summ["intensity"]),
                            _num_or_none(summ["score"]),
                            _num_or_none(summ["seconds"]),
                            message,
                            own["pid"],
                            own["pid_start"],
                            own["host"],
                            _dumps(config),
                            _dumps(summ),
                            json_result,
                            _dumps(writer.names),
                        ),
                    )
                else:
                    row = con.execute("SELECT status, config FROM runs WHERE run_id = ?", (writer.run_id,)).fetchone()
                    if row is None or row["status"] != "running":
                        raise BamuInputError(
                            f"run {writer.run_id} can no longer complete: it is "
                            f"{'gone (deleted)' if row is None else row['status']}"
                        )
                    summ = _summary_of(json.loads(row["config"]), result)
                    con.execute(
                        "UPDATE runs SET status = 'complete', finished = ?, scenario = ?, method = ?, intensity = ?,"
                        " score = ?, seconds = ?, message = ?, summary = ?, result = ?, artifacts = ? WHERE run_id = ?",
                        (
                            time.time(),
                            summ["scenario"],
                            summ["method"],
                            _num_or_none(summ["intensity"]),
                            _num_or_none(summ["score"]),
                            _num_or_none(summ["seconds"]),
                            message,
                            _dumps(summ),
                            json_result,
                            _dumps(writer.names),
                            writer.run_id,
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
            raise BamuInputError(f"status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
        if limit is not None and limit < 1:
            raise BamuInputError(f"limit must be >= 1, got {limit}")
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
            raise BamuInputError(f"run {run_id} is still running (pid {record.pid}); cancel it before deleting")
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
        """Mark ``running`` runs whose writer has ended ``failed``; clean stale folders.

        A run's writer holds its lease (:mod:`._lease`) while it works, so a run is dead when its
        lease can be taken, whatever PID namespace or host name the writer had; runs without a
        lease file (written by an earlier bamu) are dead when their process is gone from this host.
        Returns the ids of the runs marked failed.
        """
        host = socket.gethostname()
        with self._connection() as con:
            rows = con.execute("SELECT run_id, pid, pid_start, host FROM runs WHERE status = 'running'").fetchall()
        dead = [r for r in rows if not writer_alive(self.root, r["run_id"], r["host"], r["pid"], r["pid_start"], host)]
        failed = []
        for r in dead:
            with self._transaction() as con:
                cur = con.execute(
                    "UPDATE runs SET status = 'failed', finished = ?, message = ? WHERE run_id = ? AND status = "
                    "'running'",
                    (
                        time.time(),
                        f"the process writing this run (pid {r['pid']}) ended before it finished",
                        r["run_id"],
                    ),
                )
                if cur.rowcount:
                    failed.append(r["run_id"])
            shutil.rmtree(self.root / ".staging" / r["run_id"], ignore_errors=True)
            remove_free_lease(self.root, r["run_id"])
        # staging folders whose writer died (including one-shot saves that never got a row),
        # and final folders left by a writer that died between the rename and the commit
        with self._connection() as con:
            complete = {row[0] for row in con.execute("SELECT run_id FROM runs WHERE status = 'complete'")}
        candidates = list((self.root / ".staging").iterdir()) + [
            p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in complete
        ]
        for folder in candidates:
            state = lease_state(self.root, folder.name)
            if state == "held":
                continue
            if state == "absent":
                owner = _read_owner(folder)
                if (
                    owner is None
                    or owner.get("host") != host
                    or _process_alive(owner.get("pid"), owner.get("pid_start"))
                ):
                    continue
            self._discard(folder)
            remove_free_lease(self.root, folder.name)
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
        return compare_records(self.get(a), self.get(b))


def default_store() -> RunStore:
    """The store under the current ``BAMU_HOME``."""
    return RunStore()
