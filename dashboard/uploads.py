"""Uploads of one browser session: a private folder, and zip archives unpacked safely into it.

- :class:`UploadDir`: a per-session temporary folder (0700), removed when the session goes;
- :func:`check_checkpoint`: reads an uploaded checkpoint as weights only and keeps the
  :class:`~bamu_core.models.checkpoint.CheckpointWarning` s it raised, for the page to show;
- :func:`extract_zip`: refuses path traversal, links, encrypted entries and zip bombs before
  writing anything; :func:`find_metadata_csv`: the dataset's CSV inside; :func:`csv_columns`.

Every refusal is a :class:`~bamu_core.errors.BamuInputError` saying what to change. Free of Streamlit.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import stat
import tempfile
import warnings
import weakref
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bamu_core.errors import BamuInputError

__all__ = ["UploadDir", "CheckedCheckpoint", "check_checkpoint", "extract_zip", "find_metadata_csv", "csv_columns"]


@dataclass(frozen=True)
class CheckedCheckpoint:
    """An uploaded checkpoint that can be read: its path, how many tensors it holds, and the
    warnings reading it raised (e.g. absurd magnitudes, entries that are not tensors left out)."""

    path: str
    tensors: int
    warnings: tuple[str, ...] = ()


def check_checkpoint(path: str | Path) -> CheckedCheckpoint:
    """Read the checkpoint at ``path`` as weights only (never unpickled) and record its warnings.

    Raises what :func:`bamu_core.models.read_state_dict` raises (one line, the user's to fix).
    Warnings other than :class:`~bamu_core.models.checkpoint.CheckpointWarning` are passed on.
    """
    from bamu_core.models.checkpoint import CheckpointWarning
    from bamu_core.workflows import checkpoint_tensors

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        n = checkpoint_tensors(path)
    mine = []
    for w in caught:
        if issubclass(w.category, CheckpointWarning):
            mine.append(" ".join(str(w.message).split()))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return CheckedCheckpoint(path=str(path), tensors=n, warnings=tuple(mine))


class UploadDir:
    """A private temporary folder for one browser session's uploads.

    The folder is removed by :meth:`cleanup`, when the object is garbage-collected (the session
    ended) or at interpreter exit, whichever comes first.
    """

    def __init__(self, prefix: str = "bamu-upload-"):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), True)

    def save(self, name: str, data: bytes, *, allowed: Sequence[str] | None = None) -> Path:
        """Write ``data`` under a sanitised version of ``name`` and return its path.

        Raises
        ------
        BamuInputError
            The file type is not in ``allowed`` (suffixes such as ``".pt"``) or the file is empty.
        """
        clean = _safe_name(name)
        suffix = Path(clean).suffix.lower()
        if allowed is not None and suffix not in allowed:
            raise BamuInputError(
                f"{name}: unsupported file type {suffix or '(none)'}; upload one of {', '.join(allowed)}"
            )
        if not data:
            raise BamuInputError(f"{name} is empty")
        digest = hashlib.sha256(data).hexdigest()[:12]
        folder = self.path / digest
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / clean
        target.write_bytes(data)
        return target

    def folder(self, name: str) -> Path:
        """A fresh sub-folder (emptied if it existed)."""
        target = self.path / _safe_name(name)
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        return target

    def cleanup(self) -> None:
        self._finalizer()

    @property
    def alive(self) -> bool:
        return self._finalizer.alive


def _safe_name(name: str) -> str:
    base = Path(str(name).replace("\\", "/")).name
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "upload"
    return clean[:120]


_REZIP = "make the zip from inside the dataset folder with plain files and relative paths (zip -r data.zip my_dataset)"


def extract_zip(
    source: str | Path | bytes,
    dest: str | Path,
    *,
    max_files: int = 50_000,
    max_bytes: int = 2 * 1024**3,
) -> Path:
    """Extract a zip archive into ``dest`` safely and return ``dest``.

    Refused (``BamuInputError``, nothing written): an entry with an absolute path or ``..`` (path
    traversal), a symbolic link, more than ``max_files`` entries or more than ``max_bytes``
    uncompressed (zip bomb), an encrypted entry, an empty or ``.`` name part, a name too long to
    write, the same file twice, or a name that is a file in one entry and a folder in another. A
    file that is not a zip is refused too. Should writing still fail (disk full, a corrupt entry),
    what was written is removed and a ``BamuInputError`` says so.
    """
    import io

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    except zipfile.BadZipFile:
        raise BamuInputError(
            "the upload is not a valid zip archive; zip the dataset folder (e.g. zip -r data.zip my_dataset) and "
            "upload that"
        ) from None
    with archive:
        infos = archive.infolist()
        if len(infos) > max_files:
            raise BamuInputError(f"the zip holds {len(infos)} entries; at most {max_files} are accepted")
        total = sum(i.file_size for i in infos)
        if total > max_bytes:
            raise BamuInputError(
                f"the zip expands to {total / 1e6:.0f} MB; at most {max_bytes / 1e6:.0f} MB are accepted"
            )
        targets = [(info, _entry_target(info, root)) for info in infos]
        _refuse_clashes(targets, root)
        written: list[Path] = []
        try:
            for info, target in targets:
                if "__MACOSX" in Path(info.filename).parts:
                    continue
                if info.is_dir():
                    _make_dirs(target, root, written)
                    continue
                _make_dirs(target.parent, root, written)
                with archive.open(info) as src, open(target, "xb") as out:
                    written.append(target)
                    shutil.copyfileobj(src, out)
        except (OSError, zipfile.BadZipFile, EOFError, RuntimeError, ValueError, NotImplementedError) as exc:
            for path in reversed(written):  # nothing half-extracted stays behind
                with contextlib.suppress(OSError):
                    path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
            raise BamuInputError(
                f"cannot extract the zip ({type(exc).__name__}: {exc}); nothing was kept: {_REZIP}"
            ) from None
    return dest


_MAX_NAME_BYTES = 255  # one path component, as on every common file system
_MAX_PATH_BYTES = 1024  # a whole entry name (Linux allows 4096, macOS 1024)


def _entry_target(info: zipfile.ZipInfo, root: Path) -> Path:
    """Where ``info`` goes below ``root``; a :class:`BamuInputError` for any entry that cannot be written there."""
    name = info.filename
    if info.flag_bits & 0x1:
        raise BamuInputError(f"zip entry {name!r} is encrypted; upload an unencrypted zip")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise BamuInputError(f"zip entry {name!r} is a symbolic link; links are refused: {_REZIP}")
    posix = name.replace("\\", "/")
    parts = posix.split("/")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise BamuInputError(
            f"zip entry {name!r} points outside the archive folder (path traversal); refused: {_REZIP}"
        )
    if posix.endswith("/"):
        parts = parts[:-1]  # a folder entry "a/b/"
    shown = name if len(name) <= 80 else name[:60] + f"... ({len(name)} characters)"
    if not parts or any(part in ("", ".") for part in parts) or "\0" in name:
        raise BamuInputError(f"zip entry {shown!r} has an empty or '.' name part; refused: {_REZIP}")
    if len(posix.encode()) > _MAX_PATH_BYTES or any(len(part.encode()) > _MAX_NAME_BYTES for part in parts):
        raise BamuInputError(
            f"zip entry {shown!r} has a name too long to write (at most {_MAX_NAME_BYTES} bytes per name and "
            f"{_MAX_PATH_BYTES} in all); shorten it: {_REZIP}"
        )
    target = (root / "/".join(parts)).resolve()
    if not target.is_relative_to(root) or target == root:
        raise BamuInputError(
            f"zip entry {shown!r} points outside the archive folder (path traversal); refused: {_REZIP}"
        )
    return target


def _refuse_clashes(targets: list[tuple[zipfile.ZipInfo, Path]], root: Path) -> None:
    """Two entries for one file, or a name that is a file in one entry and a folder in another, are refused."""
    files: dict[Path, str] = {}
    folders: dict[Path, str] = {}
    for info, target in targets:
        if info.is_dir():
            folders.setdefault(target, info.filename)
        elif target in files:
            raise BamuInputError(f"zip entry {info.filename!r} appears twice; keep one copy: {_REZIP}")
        else:
            files[target] = info.filename
        for parent in target.parents:
            if parent == root:
                break
            folders.setdefault(parent, info.filename)
    for path, name in files.items():
        if path in folders:
            raise BamuInputError(
                f"zip entry {name!r} is a file, but {folders[path]!r} uses the same name as a folder; "
                f"rename one: {_REZIP}"
            )


def _make_dirs(folder: Path, root: Path, written: list[Path]) -> None:
    """``folder`` and its missing parents below ``root``, each recorded in ``written`` (for clean-up)."""
    missing = []
    for path in (folder, *folder.parents):
        if path == root or path.exists():
            break
        missing.append(path)
    for path in reversed(missing):
        path.mkdir()
        written.append(path)


def find_metadata_csv(folder: str | Path) -> Path:
    """The metadata CSV inside an extracted dataset folder.

    One CSV anywhere in the folder is taken; among several, one whose name contains "meta"; the
    image paths in it are relative to the CSV's folder.

    Raises
    ------
    BamuInputError
        No CSV, or several without a clear "meta" one.
    """
    folder = Path(folder)
    found = sorted(p for p in folder.rglob("*.csv") if "__MACOSX" not in p.parts)
    if not found:
        raise BamuInputError("the zip holds no metadata CSV; add one with columns path, label and a group column")
    if len(found) == 1:
        return found[0]
    meta = [p for p in found if "meta" in p.name.lower()]
    if len(meta) == 1:
        return meta[0]
    names = ", ".join(str(p.relative_to(folder)) for p in found[:5])
    raise BamuInputError(f"the zip holds several CSV files ({names}); keep one, or name the metadata one meta.csv")


def csv_columns(path: str | Path) -> list[str]:
    """The header of a CSV file (for the column pickers)."""
    import csv

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metadata CSV {path} does not exist")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        try:
            header = next(csv.reader(fh))
        except StopIteration:
            raise BamuInputError(f"metadata CSV {path.name} is empty") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise BamuInputError(f"cannot read metadata CSV {path.name}: {exc}") from None
    return [h.strip() for h in header if h.strip()]
