"""Writing a run's artifacts into its staging folder, and the handle of a run in progress."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import BamuInputError
from ..storage import (
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
)
from ._records import RunRecord
from ._schema import (
    _NAME_RE,
)

if TYPE_CHECKING:
    from ._lease import Lease
    from ._store import RunStore


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
            raise BamuInputError(
                f"artifact name {name!r} must be a plain file name of letters, digits, '_', '-' and '.'"
            )
        if suffix and not name.lower().endswith(suffix):
            raise BamuInputError(f"artifact name {name!r} must end with {suffix}")
        if name in self.names:
            raise BamuInputError(f"artifact {name!r} was already written in this run")
        self.names.append(name)
        return self.folder / name

    def add_bytes(self, name: str, data: bytes) -> Path:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"artifact {name!r}: expected bytes, got {type(data).__name__}; use a .json, .png or .safetensors name"
            )
        return atomic_write_bytes(self._path(name), bytes(data))

    def add_text(self, name: str, text: str) -> Path:
        return atomic_write_bytes(self._path(name), text.encode("utf-8"))

    def add_json(self, name: str, obj: Any) -> Path:
        return atomic_write_json(self._path(name, ".json"), obj)

    def add_weights(self, name: str, model) -> Path:
        """A model or state dict as safetensors (``name`` ends with ``.safetensors``)."""
        from ..models import save_weights

        return save_weights(model, self._path(name, ".safetensors"))

    def add_png(self, name: str, image) -> Path:
        """PNG bytes, a PIL image, or an (H, W[, 3|4]) uint8 array, as ``name`` (ends with ``.png``)."""
        path = self._path(name, ".png")
        if isinstance(image, (bytes, bytearray)):
            if not bytes(image[:8]) == b"\x89PNG\r\n\x1a\n":
                raise BamuInputError(f"artifact {name!r}: the bytes are not a PNG image")
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

    def __init__(self, store: RunStore, run_id: str, folder: Path, *, lease: Lease | None = None):
        super().__init__(run_id, folder)
        self._store = store
        self._lease = lease
        self.status = "running"

    def complete(self, result: Mapping, *, message: str = "") -> RunRecord:
        """Publish the artifacts and mark the run ``complete`` with ``result`` (a JSON-ready dict)."""
        if self.status != "running":
            raise BamuInputError(f"run {self.run_id} is already {self.status}")
        try:
            record = self._store._publish(self, result=dict(result), message=message, new_row=None)
        except BaseException:
            self._release()  # the run ends failed (by __exit__ or the next recover())
            raise
        self.status = "complete"
        self._release()  # after the final status is written: a reader never fails a completing run
        return record

    def fail(self, message: str, *, cancelled: bool = False) -> None:
        """Discard the artifacts and mark the run ``failed`` (or ``cancelled``)."""
        if self.status != "running":
            return
        self.status = "cancelled" if cancelled else "failed"
        shutil.rmtree(self.folder, ignore_errors=True)
        try:
            self._store._set_status(self.run_id, self.status, message)
        finally:
            self._release()

    def _release(self) -> None:
        if self._lease is not None:
            self._lease.release()

    def cancel(self, message: str = "cancelled") -> None:
        self.fail(message, cancelled=True)

    def __enter__(self) -> RunHandle:
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
