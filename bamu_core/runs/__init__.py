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
        run.complete(report.to_json())    # an UnlearnReport's document (docs/results.md)
    store.list()                          # newest first
    store.get(run.run_id).result
"""

from ._records import RunRecord
from ._schema import RUN_STATUSES, RunNotFoundError
from ._store import RunStore, default_store
from ._writer import RunHandle, RunWriter

__all__ = ["RunStore", "RunWriter", "RunHandle", "RunRecord", "RUN_STATUSES", "RunNotFoundError", "default_store"]
