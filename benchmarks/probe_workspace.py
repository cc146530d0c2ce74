"""The tiny world the probe cases run in: a 16-image folder dataset, a small CNN checkpoint, a
``BAMU_HOME`` holding one stored run and a baseline cache file, and the makers of bad inputs
(bomb PNGs, damaged checkpoints, hostile zips) and of fingerprints that tell whether a path
was left byte-for-byte as it was.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE_NAME = "binary-colored-digits-small_cnn.safetensors"  # a baseline cache file's name under models/


def png_bytes(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def write_folder(root: Path, *, n_per: int = 4, labels=("cat", "dog"), groups=("a", "b"), seed: int = 0) -> Path:
    """``n_per`` 12 x 10 RGB PNGs per (label, group) and ``meta.csv`` (path,label,site); returns the CSV."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = ["path,label,site"]
    k = 0
    for label in labels:
        for group in groups:
            for _ in range(n_per):
                (root / f"img{k}.png").write_bytes(png_bytes(rng.integers(0, 255, (10, 12, 3), dtype=np.uint8)))
                rows.append(f"img{k}.png,{label},{group}")
                k += 1
    meta = root / "meta.csv"
    meta.write_text("\n".join(rows) + "\n")
    return meta


def write_waterbirds(root: Path) -> Path:
    """A 24-image folder in the Waterbirds release layout (metadata.csv, species folders of JPEGs)."""
    from PIL import Image

    lines = ["img_id,img_filename,y,split,place,place_filename\n"]
    i = 0
    for split, n in ((0, 12), (1, 4), (2, 8)):
        for k in range(n):
            i += 1
            y, place = k % 2, (k // 2) % 2
            rel = f"{1 + y:03d}.{'Gull' if y else 'Sparrow'}/bird_{i:04d}.jpg"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (16, 16), (10 * i % 255, 80 * y, 120 * place)).save(root / rel)
            lines.append(f"{i},{rel},{y},{split},{place},/b/bamboo_forest/{i:06d}.jpg\n")
    (root / "metadata.csv").write_text("".join(lines))
    return root


def model_state(num_classes: int = 2) -> dict:
    import torch

    from bamu_core.models import build_model

    torch.manual_seed(0)
    return {k: v.clone() for k, v in build_model("small_cnn", num_classes=num_classes).state_dict().items()}


def save_model(path: Path, state: dict | None = None) -> Path:
    import torch

    from bamu_core.models import save_weights

    state = model_state() if state is None else state
    if path.suffix == ".safetensors":
        save_weights(state, path)
    else:
        torch.save(state, path)
    return path


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A PNG of a few dozen bytes whose header claims ``width x height`` RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 8)) + _chunk(b"IEND", b"")
    )


def one_bit_png(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG; 12000 x 12000 compresses to about 18 KB."""
    row = b"\0" * (1 + (width + 7) // 8)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(row * height, 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def zip_bytes(entries: dict[str, bytes], *, symlink: str | None = None, encrypted: bool = False) -> bytes:
    """A zip of ``entries``; ``symlink`` names an entry marked as a link, ``encrypted`` flags the first entry."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name == symlink:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, data)
    raw = buf.getvalue()
    if encrypted:  # the "encrypted" flag bit of the first entry (local header and central directory)
        raw = bytearray(raw)
        for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            raw[raw.find(sig) + offset] |= 0x1
        raw = bytes(raw)
    return raw


def fingerprint(path: Path):
    """What ``path`` is and holds: equal fingerprints mean it is byte-for-byte as it was."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return ("absent",)
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path), fingerprint(Path(os.path.realpath(path))))
    if stat.S_ISDIR(st.st_mode):
        return ("folder", tuple((p.name, fingerprint(p)) for p in sorted(path.iterdir())))
    if stat.S_ISREG(st.st_mode):
        return ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return ("special", stat.S_IFMT(st.st_mode))


def bamu_env(home: Path) -> dict[str, str]:
    """The environment of a ``bamu`` subprocess: this checkout, ``home`` as BAMU_HOME, the CPU, one thread."""
    return {
        **os.environ,
        "BAMU_HOME": str(home),
        "BAMU_DEVICE": "cpu",
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }


def bamu_command(argv: list) -> list[str]:
    return [sys.executable, "-m", "bamu_core", *[str(a) for a in argv]]


AUDIT_QUICK = ["--n-boot", "0", "--saliency-per-group", "0"]
UNLEARN_QUICK = ["--method", "finetune", "--intensity", "0.5", "--forget", "group:a", "--hp", "steps=2"]


@dataclass(frozen=True)
class Workspace:
    """The shared inputs, built once: copied into each case so that no case can spoil another's."""

    root: Path
    data: Path
    model: Path
    home: Path
    run_id: str
    waterbirds: Path

    @classmethod
    def build(cls, root: Path, *, stored_run: bool = True) -> Workspace:
        """The data, checkpoint and home under ``root``; ``stored_run``: with one real ``bamu unlearn``
        run in the home's run store (the ``report`` cases need it; a few seconds)."""
        root.mkdir(parents=True, exist_ok=True)
        data = root / "data"
        write_folder(data)
        model = save_model(root / "model.safetensors")
        home = root / "home"
        (home / "models").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model, home / "models" / CACHE_NAME)
        waterbirds = write_waterbirds(root / "waterbirds")
        if not stored_run:
            return cls(root=root, data=data, model=model, home=home, run_id="", waterbirds=waterbirds)
        argv = ["unlearn", "--data", data, "--meta", data / "meta.csv", "--image-size", "16", "--model", model]
        done = subprocess.run(
            bamu_command([*argv, "--arch", "small_cnn", *UNLEARN_QUICK]),
            env=bamu_env(home),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the workspace's stored run failed: {done.stderr[-2000:]}")
        listing = subprocess.run(
            bamu_command(["runs", "--json", root / "runs.json"]),
            env=bamu_env(home),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if listing.returncode != 0:
            raise RuntimeError(f"bamu runs failed: {listing.stderr[-2000:]}")
        run_id = json.loads((root / "runs.json").read_text())["runs"][0]["run_id"]
        return cls(root=root, data=data, model=model, home=home, run_id=run_id, waterbirds=waterbirds)


@dataclass(frozen=True)
class CaseDir:
    """One case's own copies: its folder, data folder, checkpoint and BAMU_HOME."""

    dir: Path
    data: Path
    model: Path
    home: Path
    run_id: str
    waterbirds: Path

    @property
    def meta(self) -> Path:
        return self.data / "meta.csv"

    @classmethod
    def make(cls, ws: Workspace, name: str) -> CaseDir:
        folder = ws.root / "cases" / name
        folder.mkdir(parents=True)
        data = folder / "data"
        shutil.copytree(ws.data, data)
        model = folder / "model.safetensors"
        shutil.copyfile(ws.model, model)
        home = folder / "home"
        shutil.copytree(ws.home, home, symlinks=True)
        return cls(dir=folder, data=data, model=model, home=home, run_id=ws.run_id, waterbirds=ws.waterbirds)

    def data_options(self, model: Path | None = None) -> list:
        return ["--data", self.data, "--meta", self.meta, "--image-size", "16", "--model", model or self.model]

    def subject(self, model: Path | None = None) -> list:
        """The data and model options of a command on this case's tiny data."""
        return [*self.data_options(model), "--arch", "small_cnn"]
