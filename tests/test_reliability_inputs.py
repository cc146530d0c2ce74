"""Bad input, table-driven, over the library, the command line and the dashboard.

Every case gives one clear message on one line that names the problem and says what to do:
a ``ValueError`` (or ``FileNotFoundError``) in the library, exit code 2 and one line on stderr
from ``bamu``, an ``st.error`` and no exception in the dashboard. Inputs that are unusual but
valid (mixed image modes and sizes, extra CSV columns, padded headers) load, with exact pixels.
Cases already covered elsewhere (tests/test_folder.py, test_models.py, test_cli.py,
test_unlearn_cli.py, test_app.py) are not repeated here.
"""

from __future__ import annotations

import io
import os
import pickle
import stat
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from reliability_kit import (
    QUICK_RUN,
    REPO,
    Case,
    close_app,
    files_under,
    model_file,
    open_app,
    png_bytes,
    reliability,
    settle,
    texts,
    tiny_subject,
    write_folder,
)

from bamu_core.data import load_folder
from bamu_core.data.folder import _read_image
from bamu_core.models import read_state_dict

# ------------------------------------------------------------------------------------------------
# the image folder + metadata CSV
# ------------------------------------------------------------------------------------------------


def _load(root, meta, **kw):
    return lambda: load_folder(root, meta, image_size=8, **kw)


def _dataset(tmp, **kw):
    return write_folder(tmp / "d", **kw)


def _edit_csv(edit, **kw):
    def make(tmp):
        root, meta = _dataset(tmp, **kw)
        meta.write_text(edit(meta.read_text()))
        return _load(root, meta)

    return make


def _new_images(root: Path, rows: str) -> str:
    """Write a new image of its own (distinct pixels) for each CSV row in ``rows``; return ``rows``.

    Rows added by a case name new files: a second row naming an existing image is refused as a duplicate.
    """
    for k, row in enumerate(rows.strip().splitlines()):
        (root / row.split(",")[0]).write_bytes(png_bytes(np.full((10, 12, 3), 11 + k, dtype=np.uint8)))
    return rows


def _add_rows(rows: str, **kw):
    def make(tmp):
        root, meta = _dataset(tmp, **kw)
        meta.write_text(meta.read_text() + _new_images(root, rows))
        return _load(root, meta)

    return make


def _replace_image(data: bytes | Callable, name="img5.png"):  # noqa: F821 - Callable only in the hint
    def make(tmp):
        root, meta = _dataset(tmp)
        (root / name).write_bytes(data(root) if callable(data) else data)
        return _load(root, meta)

    return make


def _bomb_png(width=20_000, height=20_000) -> bytes:
    """A 60-byte PNG header that claims 400 million pixels (a decompression bomb)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 8)) + chunk(b"IEND", b"")


def _symlink_out(tmp):
    root, meta = _dataset(tmp)
    secret = tmp / "secret.png"
    secret.write_bytes((root / "img0.png").read_bytes())
    (root / "link.png").symlink_to(secret)
    meta.write_text(meta.read_text() + "link.png,cat,a\n")
    return _load(root, meta)


def _absolute_path(tmp):
    root, meta = _dataset(tmp)
    outside = tmp / "outside.png"
    outside.write_bytes((root / "img0.png").read_bytes())
    meta.write_text(meta.read_text() + f"{outside.resolve()},cat,a\n")
    return _load(root, meta)


def _no_header_columns(tmp):
    root, meta = _dataset(tmp)
    return _load(root, meta, label_col="species")


def _not_utf8(tmp):
    root, meta = _dataset(tmp)
    meta.write_bytes("path,label,site\nimg0.png,caf\u00e9,a\n".encode("utf-16"))
    return _load(root, meta)


FOLDER_CASES = [
    Case(
        "csv-missing-label-column",
        "refused: names the missing column, lists the columns the CSV has",
        _edit_csv(lambda t: t.replace("path,label,site", "path,species,site")),
        ValueError,
        r"lacks column\(s\) 'label'.*it has 'path', 'species', 'site'",
        r"--label-col",
    ),
    Case(
        "csv-missing-path-column",
        "refused: names the missing column",
        _edit_csv(lambda t: t.replace("path,label,site", "file,label,site")),
        ValueError,
        r"lacks column\(s\) 'path'",
        r"rename the column",
    ),
    Case(
        "csv-label-column-not-there",
        "refused: the chosen label column is named",
        _no_header_columns,
        ValueError,
        r"lacks column\(s\) 'species'",
        r"--label-col",
    ),
    Case(
        "csv-extra-id-column",
        "refused: an extra column with a new value in every row is not taken as groups",
        _edit_csv(
            lambda t: (
                "\n".join(line + (",id" if i == 0 else f",{i}") for i, line in enumerate(t.strip().splitlines())) + "\n"
            )
        ),
        ValueError,
        r"column 'id' .* different value in every row",
        r"--group-col",
    ),
    Case(
        "csv-not-utf8",
        "refused: says how to save the CSV",
        _not_utf8,
        ValueError,
        r"cannot parse metadata CSV meta.csv",
        r"UTF-8 text with a header row",
    ),
    Case(
        "csv-header-only",
        "refused: the CSV has no rows",
        _edit_csv(lambda t: t.splitlines()[0] + "\n"),
        ValueError,
        r"has no rows",
        r"add one row per image",
    ),
    Case(
        "csv-unknown-split",
        "refused: names the unknown split values",
        _edit_csv(
            lambda t: (
                "\n".join(line + (",split" if i == 0 else ",training") for i, line in enumerate(t.strip().splitlines()))
                + "\n"
            )
        ),
        ValueError,
        r"column 'split' has value\(s\) \['training'\]",
        r"use train, val or test",
    ),
    Case(
        "label-empty",
        "refused: names the column and the CSV line",
        _edit_csv(lambda t: t + "img0.png,,a\n"),
        ValueError,
        r"column 'label' is empty in 1 row\(s\) \(CSV line 26\)",
        r"fill in a value or remove those rows",
    ),
    Case(
        "group-nan-literal",
        "refused: NaN / NA group values count as missing",
        _edit_csv(lambda t: t + "img0.png,cat,NaN\nimg1.png,dog,NA\n"),
        ValueError,
        r"column 'site' is empty in 2 row\(s\) \(CSV line 26, 27\)",
        r"fill in a value",
    ),
    Case(
        "group-with-one-sample",
        "refused: the group cannot be measured on the test split",
        _add_rows("new0.png,cat,c\n"),
        ValueError,
        r"group\(s\) 'c' of column 'site' have no image in the test split",
        r"add images .* or drop the group",
    ),
    Case(
        "class-absent-from-test",
        "refused: a class with no test image cannot be measured",
        _add_rows("new0.png,bird,a\nnew1.png,bird,b\n"),
        ValueError,
        r"class\(es\) 'bird' of column 'label' have no image in the test split",
        r"add images .* or remove those rows",
    ),
    Case(
        "image-not-an-image",
        "refused: names the file",
        _replace_image(b"%PDF-1.4 a document, not a picture"),
        ValueError,
        r"cannot read image img5.png: UnidentifiedImageError",
        r"replace or remove this file",
    ),
    Case(
        "image-empty-file",
        "refused: names the file",
        _replace_image(b""),
        ValueError,
        r"cannot read image img5.png",
        r"replace or remove this file",
    ),
    Case(
        "image-decompression-bomb",
        "refused before decoding: 400 million pixels declared",
        _replace_image(_bomb_png()),
        ValueError,
        r"cannot read image img5.png: DecompressionBombError",
        r"replace or remove this file",
    ),
    Case(
        "image-path-absolute",
        "refused: an absolute path leaves the data folder",
        _absolute_path,
        ValueError,
        r"points outside the data folder",
        r"paths must be relative to it",
    ),
    Case(
        "image-symlink-outside",
        "refused: a link to a file outside the data folder",
        _symlink_out,
        ValueError,
        r"'link.png' points outside the data folder",
        r"relative to it",
    ),
    Case(
        "image-missing",
        "refused: counts the missing files and says where paths are looked up",
        _edit_csv(lambda t: t + "nope/absent.png,cat,a\n"),
        FileNotFoundError,
        r"1 image\(s\) listed in meta.csv are missing, e.g. nope/absent.png",
        r"relative to the data folder",
    ),
]


@pytest.mark.parametrize("case", FOLDER_CASES, ids=lambda c: c.id)
def test_bad_folder_datasets_are_refused_with_one_clear_message(case, tmp_path):
    load = case.make(tmp_path)
    with pytest.raises(case.error) as info:
        load()
    case.check_message(str(info.value))


@reliability("valid input", "library: image folder + CSV")
def test_extra_columns_and_padded_headers_are_accepted(tmp_path):
    """Extra columns are ignored when the group columns are named; spaces around header names are dropped."""
    root, meta = write_folder(tmp_path / "d")
    lines = meta.read_text().strip().splitlines()
    lines = [" path , label , site ,notes"] + [f"{line},free text" for line in lines[1:]]
    meta.write_text("\n".join(lines) + "\n")
    sc = load_folder(root, meta, image_size=8, group_cols=["site"])
    assert sc.class_names == ["cat", "dog"] and sc.group_attrs == ["site"]
    assert sum(len(s) for s in (sc.train, sc.val, sc.test)) == 24


# ------------------------------------------------------------------------------------------------
# image modes and sizes: the same picture gives the same pixels in every mode
# ------------------------------------------------------------------------------------------------

_GREY = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5  # 0 .. 235
_SIZE = 8  # load at the picture's own width, height resized from 6 to 8


def _with_palette(grey):
    im = Image.new("P", (grey.shape[1], grey.shape[0]))
    im.putpalette([v for i in range(256) for v in (i, i, i)])
    im.putdata(grey.flatten().tolist())
    return im


MODES = {
    "L (8-bit grey)": lambda g: Image.fromarray(g, mode="L"),
    "RGB": lambda g: Image.fromarray(np.stack([g] * 3, -1)),
    "RGBA, opaque": lambda g: Image.fromarray(np.stack([g] * 3 + [np.full_like(g, 255)], -1)),
    "LA, opaque": lambda g: Image.fromarray(np.stack([g, np.full_like(g, 255)], -1), mode="LA"),
    "P (palette)": _with_palette,
    "I;16 (16-bit grey)": lambda g: Image.fromarray(g.astype(np.uint16) * 257),
    "I (32-bit integer, 8-bit range)": lambda g: Image.fromarray(g.astype(np.int32)),
    "F (float 0..1)": lambda g: Image.fromarray(g.astype(np.float32) / 255.0),
    "CMYK": lambda g: Image.fromarray(np.stack([g] * 3, -1)).convert("CMYK"),
}
MODE_CASES = [
    Case(f"mode {name}", "loads to exactly the pixels of the same picture saved as 8-bit grey", make)
    for name, make in MODES.items()
]


@pytest.mark.parametrize("case", MODE_CASES, ids=lambda c: c.id)
def test_every_image_mode_loads_to_the_same_pixels(case, tmp_path):
    reference = _read_image(_save(tmp_path / "ref.png", Image.fromarray(_GREY, mode="L")), _SIZE)
    image = case.make(_GREY)
    path = _save(tmp_path / f"x.{'tiff' if image.mode in ('F', 'I', 'CMYK') else 'png'}", image)
    got = _read_image(path, _SIZE)
    assert got.shape == (3, _SIZE, _SIZE) and got.dtype == np.uint8
    assert np.array_equal(got, reference), f"{case.id}: max difference {np.abs(got.astype(int) - reference).max()}"


def _save(path, image):
    image.save(path)
    return path


DEPTH_CASES = [
    Case(
        "rgba-transparent",
        "transparent pixels composite onto black: (0, 0, 0)",
        lambda: (Image.new("RGBA", (5, 3), (200, 100, 50, 0)), (0, 0, 0)),
    ),
    Case(
        "la-opaque",
        "grey with alpha keeps its grey: (90, 90, 90)",
        lambda: (Image.new("LA", (5, 3), (90, 255)), (90, 90, 90)),
    ),
    Case("1-bit", "1-bit white is 255", lambda: (Image.new("1", (5, 3), 1), (255, 255, 255))),
    Case(
        "16-bit-40000",
        "16-bit maps by its full range: 40000 -> 156",
        lambda: (Image.fromarray(np.full((3, 5), 40000, dtype=np.uint16)), (156, 156, 156)),
    ),
    Case(
        "32-bit-1000",
        "32-bit integers above 255 map as 16-bit: 1000 -> 4",
        lambda: (Image.fromarray(np.full((3, 5), 1000, dtype=np.int32)), (4, 4, 4)),
    ),
    Case(
        "float-half",
        "float images in 0..1 map by 255: 0.5 -> 128",
        lambda: (Image.fromarray(np.full((3, 5), 0.5, dtype=np.float32)), (128, 128, 128)),
    ),
]


@pytest.mark.parametrize("case", DEPTH_CASES, ids=lambda c: c.id)
def test_alpha_and_bit_depths_map_to_exact_values(case, tmp_path):
    image, expected = case.make()
    got = _read_image(_save(tmp_path / ("x.tiff" if image.mode in ("F", "I") else "x.png"), image), 4)
    assert tuple(got[:, 0, 0]) == expected and (got == got[:, :1, :1]).all()


@reliability("valid input", "library: image folder + CSV")
def test_a_folder_of_mixed_sizes_and_modes_loads_as_one_dataset(tmp_path):
    """24 images of 6 sizes (1 x 40 to 300 x 200) and 7 modes load as one dataset, all resized alike."""
    root, meta = write_folder(tmp_path / "d")
    png_modes = [m for name, m in MODES.items() if not name.startswith(("I ", "F", "CMYK"))]
    sizes = [(1, 40), (40, 1), (300, 200), (3, 3), (64, 64), (7, 100)]
    for k in range(24):  # replace every image, in the same file, by another mode and size
        grey = np.random.default_rng(k).integers(0, 255, sizes[k % len(sizes)], dtype=np.uint8)
        png_modes[k % len(png_modes)](grey).save(root / f"img{k}.png")
    sc = load_folder(root, meta, image_size=16)
    assert sum(len(s) for s in (sc.train, sc.val, sc.test)) == 24
    assert sc.train.images_u8.shape[1:] == (3, 16, 16)


# ------------------------------------------------------------------------------------------------
# checkpoints
# ------------------------------------------------------------------------------------------------


def _truncated_pt(tmp):
    path = model_file(tmp / "m.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_safetensors(tmp):
    path = model_file(tmp / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    return path


def _tensor_not_dict(tmp):
    torch.save(torch.zeros(3), tmp / "t.pt")
    return tmp / "t.pt"


def _no_tensors(tmp):
    torch.save({"epoch": 3, "note": "no weights here"}, tmp / "e.pt")
    return tmp / "e.pt"


CHECKPOINT_CASES = [
    Case(
        "checkpoint-nan-weights",
        "refused: NaN or infinite weights, named",
        lambda tmp: model_file(tmp / "nan.safetensors", poison=True),
        ValueError,
        r"holds NaN or infinite values in 1 tensor\(s\), e\.g\. conv1\.weight",
        r"use an earlier checkpoint",
    ),
    Case(
        "checkpoint-truncated-pt",
        "refused: the file is cut short",
        _truncated_pt,
        ValueError,
        r"m.pt cannot be read",
        r"truncated: save one with torch\.save",
    ),
    Case(
        "checkpoint-truncated-safetensors",
        "refused: the file is cut short",
        _truncated_safetensors,
        ValueError,
        r"not a valid safetensors file",
        r"truncated: save it again",
    ),
    Case(
        "checkpoint-bare-tensor",
        "refused: a tensor is not a state dict",
        _tensor_not_dict,
        ValueError,
        r"does not contain a state dict",
        r"torch\.save\(model\.state_dict\(\)",
    ),
    Case(
        "checkpoint-without-tensors",
        "refused: a dict with no weights",
        _no_tensors,
        ValueError,
        r"does not contain a state dict",
        r"torch\.save\(model\.state_dict\(\)",
    ),
]


@pytest.mark.parametrize("case", CHECKPOINT_CASES, ids=lambda c: c.id)
def test_bad_checkpoints_are_refused_with_one_clear_message(case, tmp_path):
    path = case.make(tmp_path)
    with pytest.raises(case.error) as info:
        read_state_dict(path)
    case.check_message(str(info.value))


# ------------------------------------------------------------------------------------------------
# uploads: zip archives and single files (dashboard.uploads, used by the Load page)
# ------------------------------------------------------------------------------------------------


def _zip(entries: dict, *, symlink: str | None = None, encrypted: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            if name == symlink:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, data)
    raw = buf.getvalue()
    if encrypted:  # set the "encrypted" flag bit of the entry (local header and central directory)
        raw = bytearray(raw)
        for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            pos = raw.find(sig)
            raw[pos + offset] |= 0x1
        raw = bytes(raw)
    return raw


def _bomb_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", b"\0" * (3 * 1024 * 1024))  # 3 MB of zeros in a few kB
    return buf.getvalue()


ZIP_CASES = [
    Case(
        "zip-parent-path",
        "refused: path traversal with ../",
        lambda: _zip({"ok/a.csv": b"x", "../evil.csv": b"x"}),
        ValueError,
        r"'\.\./evil\.csv' points outside the archive folder \(path traversal\)",
        r"relative paths",
    ),
    Case(
        "zip-nested-parent-path",
        "refused: path traversal inside a path",
        lambda: _zip({"data/../../evil.csv": b"x"}),
        ValueError,
        r"path traversal",
        r"make the zip from inside the dataset folder",
    ),
    Case(
        "zip-absolute-path",
        "refused: an absolute path",
        lambda: _zip({"/tmp/evil.csv": b"x"}),
        ValueError,
        r"'/tmp/evil\.csv' points outside",
        r"relative paths",
    ),
    Case(
        "zip-windows-drive",
        "refused: a drive-letter path",
        lambda: _zip({"C:\\evil.csv": b"x"}),
        ValueError,
        r"points outside",
        r"make the zip from inside",
    ),
    Case(
        "zip-backslash-parent",
        "refused: ..\\ traversal",
        lambda: _zip({"..\\evil.csv": b"x"}),
        ValueError,
        r"path traversal",
        r"make the zip from inside the dataset folder",
    ),
    Case(
        "zip-symlink",
        "refused: a symbolic link entry",
        lambda: _zip({"link": b"/etc/passwd"}, symlink="link"),
        ValueError,
        r"'link' is a symbolic link",
        r"links are refused",
    ),
    Case(
        "zip-encrypted",
        "refused: an encrypted entry",
        lambda: _zip({"a.csv": b"x"}, encrypted="a.csv"),
        ValueError,
        r"'a\.csv' is encrypted",
        r"upload an unencrypted zip",
    ),
    Case(
        "zip-too-many-entries",
        "refused: more entries than allowed",
        lambda: _zip({f"f{i}.txt": b"" for i in range(12)}),
        ValueError,
        r"holds 12 entries",
        r"at most 10",
    ),
    Case(
        "zip-bomb",
        "refused: expands beyond the allowed size",
        _bomb_zip,
        ValueError,
        r"expands to 3 MB",
        r"at most 1 MB are accepted",
    ),
    Case(
        "zip-not-a-zip",
        "refused: not an archive",
        lambda: b"PK but not really a zip",
        ValueError,
        r"not a valid zip archive",
        r"zip -r data.zip",
    ),
]


@pytest.mark.parametrize("case", ZIP_CASES, ids=lambda c: c.id)
def test_bad_zip_uploads_are_refused_and_write_nothing(case, tmp_path):
    from dashboard.uploads import extract_zip

    dest = tmp_path / "inside" / "dest"
    with pytest.raises(case.error) as info:
        extract_zip(case.make(), dest, max_files=10, max_bytes=1_000_000)
    case.check_message(str(info.value))
    assert files_under(tmp_path) == []  # nothing inside, nothing beside (../evil.csv)


@reliability("valid input", "library: zip upload")
def test_a_good_zip_is_extracted_in_place(tmp_path):
    """A well-formed dataset zip is extracted below its folder and its metadata CSV found."""
    from dashboard.uploads import extract_zip, find_metadata_csv

    dest = extract_zip(
        _zip({"ds/meta.csv": b"path,label,g\n", "ds/img/a.png": png_bytes(np.zeros((2, 2), np.uint8))}), tmp_path / "x"
    )
    assert files_under(dest) == ["ds/img/a.png", "ds/meta.csv"]
    assert find_metadata_csv(dest) == dest / "ds" / "meta.csv"


UPLOAD_CASES = [
    Case(
        "upload-pickle-suffix",
        "refused: lists the accepted checkpoint types",
        lambda: ("model.pkl", b"x"),
        problem=r"unsupported file type \.pkl",
        advice=r"upload one of \.pt",
    ),
    Case(
        "upload-empty-file",
        "refused: the file is empty",
        lambda: ("model.pt", b""),
        problem=r"model\.pt is empty",
        advice=r"model\.pt is empty",
    ),
]


@pytest.mark.parametrize("case", UPLOAD_CASES, ids=lambda c: c.id)
def test_bad_single_file_uploads_are_refused(case):
    from bamu_core.models import CHECKPOINT_SUFFIXES
    from dashboard.uploads import UploadDir

    folder = UploadDir()
    try:
        with pytest.raises(case.error) as info:
            folder.save(*case.make(), allowed=CHECKPOINT_SUFFIXES)
        case.check_message(str(info.value))
        assert files_under(folder.path) == []
    finally:
        folder.cleanup()


# ------------------------------------------------------------------------------------------------
# the workflows: bad arguments fail before any work and leave nothing in the run store
# ------------------------------------------------------------------------------------------------

WORKFLOW_CASES = [
    Case(
        "intensity-above-1",
        "refused before any work; nothing stored",
        lambda: {"intensity": 1.5},
        ValueError,
        r"intensity must be a number in \[0, 1\], got 1\.5",
        r"in \[0, 1\]",
    ),
    Case(
        "intensity-negative",
        "refused before any work; nothing stored",
        lambda: {"intensity": -0.1},
        ValueError,
        r"intensity must be a number in \[0, 1\], got -0\.1",
        r"in \[0, 1\]",
    ),
    Case(
        "intensity-nan",
        "refused before any work; nothing stored",
        lambda: {"intensity": float("nan")},
        ValueError,
        r"got nan",
        r"in \[0, 1\]",
    ),
    Case(
        "intensity-text",
        "refused before any work; nothing stored",
        lambda: {"intensity": "high"},
        ValueError,
        r"got 'high'",
        r"in \[0, 1\]",
    ),
    Case(
        "forget-set-empty",
        "refused: the forget set is empty",
        lambda: {"forget": "indices:,"},
        ValueError,
        r"selected no training images",
        r"choose another forget set",
    ),
    Case(
        "forget-set-everything",
        "refused: nothing would be left to retain",
        lambda: {"forget": "indices:" + ",".join(map(str, range(64)))},
        ValueError,
        r"selected the whole training split",
        r"choose a smaller forget set",
    ),
    Case(
        "forget-unknown-group",
        "refused: names the groups there are",
        lambda: {"forget": "group:blue"},
        ValueError,
        r"group 'blue' is not a group of 'colour'",
        r"choose one of \['red', 'green'\]",
    ),
    Case(
        "method-unknown",
        "refused: lists the methods",
        lambda: {"method": "delete_bias"},
        ValueError,
        r"unknown unlearning method 'delete_bias'",
        r"available: .*ga",
    ),
    Case(
        "hyperparameter-unknown",
        "refused: names the bad hyper-parameter",
        lambda: {"hyperparameters": {"stepz": 3}},
        ValueError,
        r"stepz",
        r"ga|steps",
    ),
]


@pytest.mark.parametrize("case", WORKFLOW_CASES, ids=lambda c: c.id)
def test_bad_unlearn_arguments_fail_fast_and_store_nothing(case, tmp_path):
    from bamu_core.runs import RunStore
    from bamu_core.workflows import unlearn

    store = RunStore(tmp_path / "runs")
    kwargs = {"method": "ga", "intensity": 0.5, "forget": "group:red", **case.make()}
    with pytest.raises(case.error) as info:
        unlearn(tiny_subject(), store=store, **kwargs, **QUICK_RUN)
    case.check_message(str(info.value))
    assert len(store) == 0
    assert [f for f in files_under(store.root) if not f.startswith("runs.sqlite3")] == []


# ------------------------------------------------------------------------------------------------
# the command line: exit code 2, one line on stderr, no traceback
# ------------------------------------------------------------------------------------------------


class _Evil:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def _cli_dataset(tmp, **kw):
    root, meta = write_folder(tmp / "d", n_per=8, **kw)
    return ["--data", str(root), "--meta", str(meta), "--image-size", "16"]


def _cli_model(tmp, **kw):
    return ["--model", str(model_file(tmp / f"m{len(kw)}.safetensors", **kw)), "--arch", "small_cnn"]


def _pickle_file(tmp):
    path = tmp / "evil.pt"
    with open(path, "wb") as fh:
        pickle.dump({"weight": _Evil()}, fh)
    return ["--model", str(path), "--arch", "small_cnn"]


def _corrupt_image(tmp):
    args = _cli_dataset(tmp)
    (tmp / "d" / "img3.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return args


def _csv_rows(tmp, rows):
    args = _cli_dataset(tmp)
    meta = Path(args[3])
    meta.write_text(meta.read_text() + _new_images(meta.parent, rows))
    return args


def _csv_edit(tmp, edit):
    args = _cli_dataset(tmp)
    meta = Path(args[3])
    meta.write_text(edit(meta.read_text()))
    return args


CLI_CASES = [
    Case(
        "cli-csv-missing-column",
        "`bamu audit --data`: exit 2, one line naming the missing column and --label-col",
        lambda t: ["audit", *_csv_edit(t, lambda s: s.replace("path,label,site", "path,kind,site")), *_cli_model(t)],
        problem=r"lacks column\(s\) 'label'",
        advice=r"--label-col",
    ),
    Case(
        "cli-corrupt-image",
        "exit 2, one line naming the unreadable image",
        lambda t: ["audit", *_corrupt_image(t), *_cli_model(t)],
        problem=r"cannot read image img3\.png",
        advice=r"replace or remove this file",
    ),
    Case(
        "cli-class-absent-from-test",
        "exit 2, one line naming the class with no test image",
        lambda t: ["audit", *_csv_rows(t, "new0.png,bird,a\n"), *_cli_model(t)],
        problem=r"class\(es\) 'bird'",
        advice=r"add images",
    ),
    Case(
        "cli-group-nan",
        "exit 2, one line naming the column and CSV line with a NaN group",
        lambda t: ["audit", *_csv_edit(t, lambda s: s + "img0.png,cat,nan\n"), *_cli_model(t)],
        problem=r"column 'site' is empty",
        advice=r"fill in a value",
    ),
    Case(
        "cli-checkpoint-other-arch",
        "ResNet-20 weights for a small CNN: exit 2, one line naming missing / unexpected keys",
        lambda t: [
            "audit",
            *_cli_dataset(t),
            "--model",
            str(model_file(t / "r.safetensors", arch="resnet20")),
            "--arch",
            "small_cnn",
        ],
        problem=r"does not fit architecture 'small_cnn'",
        advice=r"check the architecture",
    ),
    Case(
        "cli-checkpoint-other-class-count",
        "10-class weights for 2-class data: exit 2, one line naming the mismatched shapes",
        lambda t: ["audit", *_cli_dataset(t), *_cli_model(t, num_classes=10)],
        problem=r"shape mismatch.*fc\.weight: checkpoint \(10, ",
        advice=r"number of classes",
    ),
    Case(
        "cli-checkpoint-pickle",
        "a pickle that would write a file: exit 2, one line; its code never runs",
        lambda t: ["audit", *_cli_dataset(t), *_pickle_file(t)],
        problem=r"holds pickled Python objects",
        advice=r"save model\.state_dict\(\) instead",
    ),
    Case(
        "cli-checkpoint-nan",
        "NaN weights: exit 2, one line naming the tensor",
        lambda t: ["audit", *_cli_dataset(t), *_cli_model(t, poison=True)],
        problem=r"NaN or infinite values",
        advice=r"use an earlier checkpoint",
    ),
    Case(
        "cli-unlearn-unknown-group",
        "`bamu unlearn --forget group:zzz`: exit 2, one line listing the groups",
        lambda t: [
            "unlearn",
            *_cli_dataset(t),
            *_cli_model(t),
            "--method",
            "ga",
            "--intensity",
            "0.5",
            "--forget",
            "group:zzz",
        ],
        problem=r"group 'zzz' is not a group of 'site'",
        advice=r"choose one of \['a', 'b'\]",
    ),
    Case(
        "cli-unlearn-intensity-nan",
        "`--intensity nan`: exit 2, one line, before any data is read",
        lambda t: ["unlearn", *_cli_dataset(t), *_cli_model(t), "--method", "ga", "--intensity", "nan"],
        problem=r"--intensity must be in \[0, 1\], got nan",
        advice=r"\[0, 1\]",
    ),
    Case(
        "cli-bad-option-value",
        "`--image-size big`: exit 2, one line (not argparse's usage block) pointing to --help",
        lambda t: ["audit", "--image-size", "big"],
        problem=r"argument --image-size: invalid int value: 'big'",
        advice=r"see bamu audit --help",
    ),
    Case(
        "cli-unknown-command",
        "exit 2, one line listing the commands",
        lambda t: ["forget-everything"],
        problem=r"invalid choice: 'forget-everything'",
        advice=r"choose from .*audit",
    ),
    Case(
        "cli-report-unknown-run",
        "exit 2, one line pointing to `bamu runs`",
        lambda t: ["report", "20990101-000000-abcdef12", "--html", str(t / "r.html")],
        problem=r"no run '20990101-000000-abcdef12'",
        advice=r"see `bamu runs`",
    ),
    Case(
        "cli-json-path-is-a-folder",
        "`--json` naming a folder: exit 2, one line",
        lambda t: ["scenarios", "--json", str(t)],
        problem=r"is a folder",
        advice=r"give the path of a file",
    ),
    Case(
        "cli-json-parent-is-a-file",
        "`--json` below a file: exit 2, one line",
        lambda t: ["scenarios", "--json", str(model_file(t / "m.pt") / "out.json")],
        problem=r"part of its folder path is a file",
        advice=r"not a folder",
    ),
    Case(
        "cli-bamu-home-is-a-file",
        "BAMU_HOME naming a file: exit 2, one line",
        lambda t: (["runs"], {"BAMU_HOME": str(model_file(t / "home.pt"))}),
        problem=r"BAMU_HOME .* is not a folder",
        advice=r"set BAMU_HOME to a folder",
    ),
    Case(
        "cli-run-id-traversal",
        "`bamu runs --delete ../../etc`: exit 2, one line; nothing deleted",
        lambda t: ["runs", "--delete", "../../etc"],
        problem=r"'\.\./\.\./etc' is not a run id",
        advice=r"see `bamu runs`",
    ),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda c: c.id)
def test_bad_cli_input_exits_2_with_one_line(case, tmp_path, capsys, monkeypatch):
    from bamu_core.cli import main

    monkeypatch.chdir(tmp_path)
    argv = case.make(tmp_path)
    if isinstance(argv, tuple):  # (argv, environment)
        argv, env = argv
        for key, value in env.items():
            monkeypatch.setenv(key, value)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    out = capsys.readouterr()
    err = [line for line in out.err.splitlines() if line.strip() and not line.startswith("  ")]
    assert len(err) == 1, err
    case.check_message(err[0])
    assert not (tmp_path / "PWNED").exists()


@reliability("bad input", "command line (own process)")
def test_a_pickle_checkpoint_in_a_real_process_is_refused_without_running_its_code(tmp_path):
    """A pickle whose unpickling would write a file: `python -m bamu_core audit` exits 2 with one line; no file appears."""
    args = ["audit", *_cli_dataset(tmp_path), *_pickle_file(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "BAMU_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-m", "bamu_core", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "refuses to load" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "PWNED").exists()


# ------------------------------------------------------------------------------------------------
# the dashboard: st.error with the message, never an exception
# ------------------------------------------------------------------------------------------------


def _dataset_zip(tmp, edit=None, **kw) -> bytes:
    root, meta = write_folder(tmp / "zipped" / "ds", **kw)
    if edit is not None:
        edit(root, meta)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for path in sorted(root.rglob("*")):
            z.write(path, path.relative_to(root.parent).as_posix())
    return buf.getvalue()


def _append(text):
    return lambda root, meta: meta.write_text(meta.read_text() + text)


def _append_rows(rows):
    return lambda root, meta: meta.write_text(meta.read_text() + _new_images(root, rows))


def _zip_then_load(edit=None):
    def act(at, tmp):
        at.radio(key="load_source").set_value("zip").run()
        at.file_uploader(key="load_zip").upload("data.zip", _dataset_zip(tmp, edit), "application/zip").run()
        at.number_input[0].set_value(16).run()
        at.button(key="load_button").click()
        settle(at)

    return act


def _upload_zip(payload):
    def act(at, tmp):
        at.radio(key="load_source").set_value("zip").run()
        at.file_uploader(key="load_zip").upload("data.zip", payload, "application/zip").run()

    return act


def _upload_checkpoint(make, *, load: bool = False):
    def act(at, tmp):
        path = make(tmp)
        at.radio(key="load_model").set_value("checkpoint").run()
        at.file_uploader(key="load_ckpt").upload(path.name, path.read_bytes()).run()
        if load:
            at.button(key="load_button").click()
            settle(at)

    return act


def _missing_csv(at, tmp):
    at.radio(key="load_source").set_value("folder").run()
    at.text_input(key="load_dir").input(str(tmp)).run()
    at.text_input(key="load_csv").input(str(tmp / "no-such.csv")).run()


def _break_image(root, meta):
    (root / "img3.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")


APP_CASES = [
    Case(
        "app-csv-path-missing",
        "st.error: the CSV path does not exist",
        _missing_csv,
        problem=r"metadata CSV .*no-such\.csv does not exist",
        advice=r"Check the path",
    ),
    Case(
        "app-zip-corrupt-image",
        "st.error after Load: names the image",
        _zip_then_load(_break_image),
        problem=r"cannot read image img3\.png",
        advice=r"replace or remove this file",
    ),
    Case(
        "app-zip-class-absent-from-test",
        "st.error after Load",
        _zip_then_load(_append_rows("new0.png,bird,a\n")),
        problem=r"class\(es\) 'bird'",
        advice=r"add images",
    ),
    Case(
        "app-zip-nan-group",
        "st.error after Load",
        _zip_then_load(_append("img0.png,cat,NaN\n")),
        problem=r"column 'site' is empty",
        advice=r"fill in a value",
    ),
    Case(
        "app-zip-group-with-one-sample",
        "st.error after Load",
        _zip_then_load(_append_rows("new0.png,cat,c\n")),
        problem=r"group\(s\) 'c' .* no image in the test split",
        advice=r"add images",
    ),
    Case(
        "app-zip-symlink",
        "st.error on upload; nothing extracted",
        _upload_zip(_zip({"ds/link": b"/etc"}, symlink="ds/link")),
        problem=r"is a symbolic link",
        advice=r"make the zip from inside the dataset folder",
    ),
    Case(
        "app-checkpoint-nan",
        "st.error on upload",
        _upload_checkpoint(lambda t: model_file(t / "nan.safetensors", poison=True)),
        problem=r"NaN or infinite values",
        advice=r"use an earlier checkpoint",
    ),
    Case(
        "app-checkpoint-truncated",
        "st.error on upload",
        _upload_checkpoint(_truncated_pt),
        problem=r"cannot be read",
        advice=r"truncated",
    ),
    Case(
        "app-checkpoint-other-class-count",
        "st.error after Load: names the shapes",
        _upload_checkpoint(lambda t: model_file(t / "ten.safetensors", num_classes=10), load=True),
        problem=r"does not fit architecture 'small_cnn'.*fc\.weight: checkpoint \(10, ",
        advice=r"number of classes",
    ),
]


@pytest.mark.parametrize("case", APP_CASES, ids=lambda c: c.id)
def test_bad_input_in_the_dashboard_shows_an_error_and_no_exception(case, tmp_path):
    at = open_app(tmp_path)
    try:
        case.make(at, tmp_path)
        assert not at.exception, texts(at.exception)
        errors = texts(at.error)
        assert errors and not any("unexpected error" in e for e in errors), errors
        case.check_message(" ".join(errors))
    finally:
        close_app(at)


README_TABLES = [
    ("bad input", "library: image folder + CSV", FOLDER_CASES),
    ("bad input", "library: checkpoint", CHECKPOINT_CASES),
    ("bad input", "library: zip upload", ZIP_CASES),
    ("bad input", "library: single-file upload", UPLOAD_CASES),
    ("bad input", "library: unlearn()", WORKFLOW_CASES),
    ("bad input", "command line", CLI_CASES),
    ("bad input", "dashboard", APP_CASES),
    ("valid input", "library: image modes", MODE_CASES),
    ("valid input", "library: alpha and bit depth", DEPTH_CASES),
]


def test_the_readme_reliability_section_is_current():
    """README.md's Reliability table is what benchmarks/reliability_table.py makes of these tests."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("reliability_table", REPO / "benchmarks" / "reliability_table.py")
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    assert table.section() in (REPO / "README.md").read_text(encoding="utf-8"), (
        "README.md is out of date: run `.venv/bin/python -m benchmarks.reliability_table --write`"
    )
