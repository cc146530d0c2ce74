"""The run table's schema, names and small shared helpers."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import BamuInputError
from ..storage import (
    _json_default,
)

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


class RunNotFoundError(BamuInputError, LookupError):
    """No run with that id in the store."""


def _dumps(obj) -> str:
    return json.dumps(obj, default=_json_default)


def _num_or_none(v) -> float | None:
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


def _read_owner(folder: Path) -> dict | None:
    try:
        return json.loads((folder / _OWNER_FILE).read_text())
    except (OSError, ValueError):
        return None


def _check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not re.match(r"^[a-z][a-z0-9_-]{0,31}$", kind):
        raise BamuInputError(f"kind must be a short lowercase word such as 'unlearn' or 'audit', got {kind!r}")
    return kind
