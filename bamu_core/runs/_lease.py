"""Leases: whether the process writing a run is still alive, without asking about its pid.

While a run is being written, its writer holds an exclusive ``flock`` on
``<store>/.leases/<run_id>.lock``. The kernel releases the lock when the process ends in any way
(crash, ``SIGKILL``, power loss of a container), and the lock is seen by every process that
opens the same file, whatever its PID namespace or host name. So a reader that can take the lock
knows the writer is gone; one that cannot knows it is alive. The writer marks the run's final
status before it releases the lock, so a reader never fails a run that is completing.

A run without a lease file (written before leases existed, or on a system without ``fcntl``)
falls back to the process check of :mod:`._process`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._process import _process_alive

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["Lease", "lease_state", "writer_alive", "LEASES"]

LEASES = ".leases"


def _path(root: Path, run_id: str) -> Path:
    return root / LEASES / f"{run_id}.lock"


class Lease:
    """The lease of one run, held from :meth:`acquire` until :meth:`release` (or process end)."""

    def __init__(self, path: Path, fd: int | None):
        self.path = path
        self._fd = fd

    @classmethod
    def acquire(cls, root: Path, run_id: str) -> Lease:
        path = _path(root, run_id)
        if fcntl is None:  # pragma: no cover - Windows
            return cls(path, None)
        path.parent.mkdir(exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Remove the lease file, then drop the lock (safe to call twice)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def lease_state(root: Path, run_id: str) -> str:
    """``"held"`` (the writer is alive), ``"free"`` (the writer is gone) or ``"absent"`` (no lease
    file: decide by the process check)."""
    if fcntl is None:  # pragma: no cover - Windows
        return "absent"
    try:
        fd = os.open(_path(root, run_id), os.O_RDWR)
    except FileNotFoundError:
        return "absent"
    except OSError:
        return "absent"
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return "held"
    finally:
        os.close(fd)
    return "free"


def remove_free_lease(root: Path, run_id: str) -> None:
    """Delete the lease file of a run whose writer is gone."""
    _path(root, run_id).unlink(missing_ok=True)


def writer_alive(root: Path, run_id: str, row_host: str | None, pid, pid_start, host: str) -> bool:
    """Whether the writer of a ``running`` row is alive: by its lease, else (a run of an earlier
    bamu, no lease file) by its process on this host; rows of other hosts count as alive."""
    state = lease_state(root, run_id)
    if state != "absent":
        return state == "held"
    return row_host != host or _process_alive(pid, pid_start)
