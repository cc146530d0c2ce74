"""Which process writes a run, and whether it still runs (Linux /proc, else os.kill)."""

from __future__ import annotations

import os
import socket
from pathlib import Path


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
