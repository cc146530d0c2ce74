"""Where bamu keeps its files, the checks every output path passes, and atomic writes."""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .errors import BamuInputError

__all__ = [
    "bamu_home",
    "MANAGED",
    "managed_folders",
    "check_output_path",
    "check_output_folder",
    "CreatedFolders",
    "track_created_folders",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_json",
    "config_hash",
]

#: The folders under ``BAMU_HOME`` that bamu manages itself (run store, baseline / retrain /
#: scenario caches): no output a user names may go there. ``unlearned/`` (the default place of
#: ``bamu unlearn``'s weights) is not among them.
MANAGED = ("runs", "models", "retrain", "scenarios")


def bamu_home() -> Path:
    """The root of bamu's cache and run store: ``$BAMU_HOME`` or ``~/.cache/bamu``."""
    root = Path(os.environ.get("BAMU_HOME") or Path.home() / ".cache" / "bamu").expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(
            f"BAMU_HOME {root} is not a folder; set BAMU_HOME to a folder bamu may write to"
        ) from None
    return root


def _home_path() -> Path:
    """``BAMU_HOME`` without creating it."""
    return Path(os.environ.get("BAMU_HOME") or Path.home() / ".cache" / "bamu").expanduser()


def managed_folders() -> list[Path]:
    """The folders of :data:`MANAGED` under the current ``BAMU_HOME`` (resolved; they need not exist)."""
    home = Path(os.path.realpath(_home_path()))
    return [home / name for name in MANAGED]


def _real(path: Path) -> Path:
    """``path`` with its folder resolved (links in the folder followed) but not its last part."""
    return Path(os.path.realpath(path.parent)) / path.name


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _kind_problem(path: Path) -> str | None:
    """What ``path`` is, if it is something an output must not replace (``None``: absent or a regular file)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None  # the folder check says what is wrong
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return "is a symbolic link (bamu does not write through links)"
    if stat.S_ISDIR(mode):
        return "is a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "is a socket"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    return None


@dataclass
class CreatedFolders:
    """The folders the output checks created while it was active (shallowest first)."""

    folders: list[Path] = field(default_factory=list)

    def rollback(self) -> list[Path]:
        """Remove the recorded folders that are still empty, deepest first; return those removed.

        Only folders this record created are touched; one that holds anything (or that is gone,
        or replaced by something other than a folder) is left as it is.
        """
        removed: list[Path] = []
        for folder in reversed(self.folders):
            try:
                if os.path.islink(folder) or not folder.is_dir():
                    continue
                folder.rmdir()  # fails on a non-empty folder: that one is kept
            except OSError:
                continue
            removed.append(folder)
        self.folders.clear()
        return removed


_CREATED: contextvars.ContextVar[CreatedFolders | None] = contextvars.ContextVar("bamu_created_folders", default=None)


@contextlib.contextmanager
def track_created_folders() -> Iterator[CreatedFolders]:
    """Record the folders :func:`check_output_path` / :func:`check_output_folder` create inside the block.

    The caller decides what to do with them: ``bamu``'s ``main`` calls
    :meth:`CreatedFolders.rollback` when the command fails, so that a failed ``--mkdir`` run
    leaves no empty folders behind.
    """
    record = CreatedFolders()
    token = _CREATED.set(record)
    try:
        yield record
    finally:
        _CREATED.reset(token)


def _make_folders(folder: Path) -> None:
    """``folder.mkdir(parents=True)``, recording each folder it creates with the active tracker.

    Each missing folder is made one at a time, so that one another process creates meanwhile is
    not recorded (and so never removed) as this one's.
    """
    missing: list[Path] = []
    probe = folder
    while not os.path.lexists(probe) and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    record = _CREATED.get()
    for path in reversed(missing):  # shallowest first
        try:
            path.mkdir()
        except FileExistsError:
            if not path.is_dir():
                raise
            continue
        if record is not None:
            record.folders.append(path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output_path(
    path: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike | None] = (),
    input_folders: Iterable[str | os.PathLike | None] = (),
    mkdir: bool = False,
    flag: str = "output",
) -> Path:
    """Check that bamu may write a file at ``path``; return it as a :class:`~pathlib.Path`.

    An output is written *into* ``path`` (atomically, beside itself) only when ``path`` is absent
    or a regular file. Refused with :class:`~bamu_core.errors.BamuInputError`: a symbolic link,
    a folder, a device, a FIFO or socket; one of ``inputs`` (files the same command reads, e.g.
    its checkpoint or metadata CSV) or an existing file inside one of ``input_folders`` (e.g. the
    image folder); anything in the run store or the baseline / retrain / scenario caches under
    ``BAMU_HOME``; and a path whose folder does not exist, unless ``mkdir`` (then the folders are
    created). ``flag`` names the option in the messages (e.g. ``--json``).
    """
    if path is None or str(path) == "":
        raise BamuInputError(f"{flag}: give the path of a file to write")
    path = Path(path).expanduser()
    problem = _kind_problem(path)
    if problem:
        raise BamuInputError(f"{flag} {path} {problem}; give the path of a file to write (new, or a regular file)")
    real = _real(path)
    for item in inputs:
        if item is None:
            continue
        item = Path(item).expanduser()
        if _real(item) == real or Path(os.path.realpath(item)) == real or _same_file(item, path):
            raise BamuInputError(
                f"{flag} {path} is {item}, an input of this command; writing it would destroy it: choose another path"
            )
    for folder in input_folders:
        if folder is None:
            continue
        root = Path(os.path.realpath(Path(folder).expanduser()))
        if _inside(real, root) and os.path.lexists(path):
            raise BamuInputError(
                f"{flag} {path} is a file inside {folder}, which this command reads; choose a path outside it"
            )
    for folder in managed_folders():
        if _inside(real, folder):
            raise BamuInputError(
                f"{flag} {path} is inside {folder}, which bamu manages (run store or cache); writing there would "
                "corrupt it: choose a path outside it"
            )
    parent = path.parent
    if not parent.is_dir():
        if parent.exists() or any(p.exists() and not p.is_dir() for p in parent.parents):
            raise BamuInputError(f"{flag} {path}: part of its folder path is a file, not a folder")
        if not mkdir:
            raise BamuInputError(
                f"{flag} {path}: folder {parent} does not exist; create it first or pass --mkdir to create it"
            )
        _make_folders(parent)
    return path


def check_output_folder(
    folder: str | os.PathLike,
    *,
    names: Iterable[str] = (),
    inputs: Iterable[str | os.PathLike | None] = (),
    input_folders: Iterable[str | os.PathLike | None] = (),
    mkdir: bool = False,
    flag: str = "output folder",
) -> Path:
    """Check a folder that bamu writes files into (and each of ``names`` in it); create it if missing.

    The folder itself is created when absent (its parent must exist unless ``mkdir``); it must
    not be a link, a file or device, nor inside one of ``input_folders`` (folders the command
    reads), the run store or a cache under ``BAMU_HOME``.
    Every file of ``names`` is checked by :func:`check_output_path`.
    """
    if folder is None or str(folder) == "":
        raise BamuInputError(f"{flag}: give the path of a folder to write into")
    folder = Path(folder).expanduser()
    if os.path.islink(folder):
        raise BamuInputError(f"{flag} {folder} is a symbolic link (bamu does not write through links); give a folder")
    if folder.exists() and not folder.is_dir():
        raise BamuInputError(f"{flag} {folder} is a file, not a folder; give a new or existing folder")
    real = Path(os.path.realpath(folder))
    for home in managed_folders():
        if _inside(real, home):
            raise BamuInputError(
                f"{flag} {folder} is inside {home}, which bamu manages (run store or cache): choose a folder outside it"
            )
    for item in input_folders:
        if item is not None and _inside(real, Path(os.path.realpath(Path(item).expanduser()))):
            raise BamuInputError(
                f"{flag} {folder} is inside {item}, which this command reads: choose a folder outside it"
            )
    if not folder.exists():
        if not folder.parent.is_dir() and not mkdir:
            raise BamuInputError(
                f"{flag} {folder}: folder {folder.parent} does not exist; create it first or pass --mkdir to create it"
            )
        try:
            _make_folders(folder)
        except (FileExistsError, NotADirectoryError):
            raise BamuInputError(f"{flag} {folder}: part of its folder path is a file, not a folder") from None
    for name in names:
        check_output_path(folder / name, inputs=inputs, input_folders=input_folders, flag=flag)
    return folder


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None], *, mkdir: bool = True) -> Path:
    """Write a file atomically: ``write(tmp_path)`` beside ``path``, then rename it over ``path``.

    Only an absent ``path`` or a regular file is replaced: a link, folder, device, FIFO or socket
    is refused with :class:`~bamu_core.errors.BamuInputError` (a rename would swap a new file in
    for it). ``mkdir`` creates missing folders (bamu's own caches); outputs a user names are
    checked first by :func:`check_output_path`. A crash or exception inside ``write`` leaves
    ``path`` untouched and no temp file behind.
    """
    path = Path(path)
    problem = _kind_problem(path)
    if problem:
        raise BamuInputError(f"cannot write {path}: it {problem}; give the path of a file (new, or a regular file)")
    if mkdir:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise NotADirectoryError(f"cannot write {path}: part of its folder path is a file, not a folder") from None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        problem = _kind_problem(path)  # something else may have appeared there meanwhile
        if problem:
            raise BamuInputError(f"cannot write {path}: it {problem}; give the path of a file (new, or a regular file)")
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, mkdir: bool = True) -> Path:
    return atomic_write(path, lambda p: p.write_bytes(data), mkdir=mkdir)


def atomic_write_json(path: str | os.PathLike, obj: Any, *, mkdir: bool = True) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default)
    return atomic_write(path, lambda p: p.write_text(text + "\n", encoding="utf-8"), mkdir=mkdir)


def _json_default(obj: Any):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def config_hash(config: dict) -> str:
    """A short stable hash of a JSON-serialisable configuration."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
