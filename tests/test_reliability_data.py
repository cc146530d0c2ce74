"""Data coming in: the Host a request names, images far larger than their files, the same image in
several rows or splits, labels written two ways, normalisation values, empty splits, and zip
entries whose names cannot be written.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import struct
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from reliability_kit import REPO, Case, files_under, reliability, write_folder

from bamu_core.data import ImageData, Scenario, load_folder
from bamu_core.data import folder as folder_module
from bamu_core.errors import BamuInputError

SPLITS = ("train", "val", "test")

# ------------------------------------------------------------------------------------------------
# images: a pixel budget read from the header
# ------------------------------------------------------------------------------------------------


def _one_bit_png(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG; 12000 x 12000 compresses to about 18 KB."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\0" * (1 + (width + 7) // 8)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(row * height, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@reliability("bad input", "library: image folder + CSV")
def test_a_tiny_png_declaring_144_million_pixels_is_refused_from_its_header(tmp_path):
    """An 18 KB 12000 x 12000 1-bit PNG is refused before decoding (above 64 million pixels), naming the file, in well under a second."""
    root, meta = write_folder(tmp_path / "d")
    (root / "img5.png").write_bytes(_one_bit_png(12_000, 12_000))
    assert (root / "img5.png").stat().st_size < 20_000
    with pytest.raises(BamuInputError) as info:
        load_folder(root, meta, image_size=8)
    message = str(info.value)
    assert "\n" not in message and message.startswith("cannot read image img5.png: ")
    assert "12000 x 12000 = 144 million pixels" in message and "limit of 64 million" in message
    assert "replace or remove this file" in message
    start = time.perf_counter()
    with pytest.raises(Exception, match="144 million pixels"):
        folder_module._read_image(root / "img5.png", 8)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5, elapsed  # decoding it took 18.6 s and 1 GB


@reliability("bad input", "command line")
def test_bamu_audit_on_a_144_million_pixel_png_prints_one_line_not_pillows_warning_too(tmp_path, monkeypatch, capsys):
    """`bamu audit` on data holding a 12000 x 12000 PNG: exit 2 and only bamu's one error line (Pillow's DecompressionBombWarning is not printed as a second line)."""
    from bamu_core.cli import main

    monkeypatch.setenv("BAMU_HOME", str(tmp_path / "home"))
    root, meta = write_folder(tmp_path / "d")
    (root / "img5.png").write_bytes(_one_bit_png(12_000, 12_000))
    code = main(["audit", "--data", str(root), "--meta", str(meta), "--image-size", "16", "--n-boot", "0"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("bamu audit: error: ") and "144 million pixels" in lines[0], lines


def test_an_image_at_the_budget_still_loads(tmp_path):
    path = tmp_path / "wide.png"
    path.write_bytes(_one_bit_png(4000, 2))
    assert folder_module._read_image(path, 8, max_pixels=8000).shape == (3, 8, 8)
    with pytest.raises(Exception, match="8001 x 1 = 0 million pixels"):
        path.write_bytes(_one_bit_png(8001, 1))
        folder_module._read_image(path, 8, max_pixels=8000)


@reliability("bad input", "library: image folder + CSV")
def test_20000_rows_naming_one_image_are_refused_at_once(tmp_path, monkeypatch):
    """20,000 rows naming one (bomb) image: refused as a repeated image in seconds, before any image is decoded."""
    root, meta = write_folder(tmp_path / "d")
    (root / "big.png").write_bytes(_one_bit_png(12_000, 12_000))
    meta.write_text(meta.read_text() + "".join(f"big.png,{('cat', 'dog')[i % 2]},a\n" for i in range(20_000)))
    decoded = []
    monkeypatch.setattr(folder_module, "_read_image", lambda *a, **k: decoded.append(a) or 1 / 0)
    start = time.perf_counter()
    with pytest.raises(
        BamuInputError, match=r"lists image 'big.png' 20000 times \(CSV lines 26, 27, 28, 29, 30 \.\.\.\)"
    ):
        load_folder(root, meta, image_size=8)
    assert time.perf_counter() - start < 10 and decoded == []


# ------------------------------------------------------------------------------------------------
# the same image twice: never in two splits
# ------------------------------------------------------------------------------------------------


def _twice(root: Path, meta: Path) -> None:
    lines = meta.read_text().strip().splitlines()
    meta.write_text("\n".join([lines[0], *lines[1:], *lines[1:]]) + "\n")


def _dot_slash(root: Path, meta: Path) -> None:
    meta.write_text(meta.read_text() + "./img0.png,cat,a\n")


def _via_link(root: Path, meta: Path) -> None:
    (root / "alias.png").symlink_to(root / "img3.png")
    meta.write_text(meta.read_text() + "alias.png,cat,a\n")


def _copy_in_two_splits(root: Path, meta: Path) -> None:
    lines = meta.read_text().strip().splitlines()
    rows = [f"{line},{('train', 'val', 'test')[i % 3]}" for i, line in enumerate(lines[1:])]
    (root / "copy.png").write_bytes((root / "img0.png").read_bytes())  # img0 is row 0: train
    meta.write_text("\n".join([lines[0] + ",split", *rows, "copy.png,cat,a,test"]) + "\n")


DUPLICATE_CASES = [
    Case(
        "csv-every-row-twice",
        "refused: names the image and its CSV lines; each image must be listed once",
        _twice,
        BamuInputError,
        r"meta.csv lists image 'img0.png' 2 times \(CSV lines 2, 26\), and 23 other image\(s\) more than once",
        r"list each image once, so that no image is both trained and tested on",
    ),
    Case(
        "csv-same-image-via-dot-slash",
        "refused: ./img0.png is img0.png",
        _dot_slash,
        BamuInputError,
        r"lists image 'img0.png' 2 times \(CSV lines 2, 26\)",
        r"list each image once",
    ),
    Case(
        "csv-same-image-via-link",
        "refused: a link inside the folder to a listed image is that image",
        _via_link,
        BamuInputError,
        r"lists image 'img3.png' 2 times",
        r"list each image once",
    ),
    Case(
        "csv-copy-in-two-splits",
        "refused: byte-identical copies given to train and test by the split column",
        _copy_in_two_splits,
        BamuInputError,
        r"images 'img0.png' \(train\) and 'copy.png' \(test\) are the same file content in two splits",
        r"put copies in one split \(column 'split'\) or remove them",
    ),
]


@pytest.mark.parametrize("case", DUPLICATE_CASES, ids=lambda c: c.id)
def test_an_image_listed_twice_is_refused(case, tmp_path):
    root, meta = write_folder(tmp_path / "d")
    case.make(root, meta)
    with pytest.raises(case.error) as info:
        load_folder(root, meta, image_size=8)
    case.check_message(str(info.value))


@reliability("valid input", "library: image folder + CSV")
def test_copies_of_an_image_under_other_names_share_a_split_and_are_decoded_once(tmp_path, monkeypatch):
    """30 byte-identical copies of one image under other names: decoded once, and the seeded split keeps all 31 in one split."""
    root, meta = write_folder(tmp_path / "d", n_per=8)
    rows = []
    for k in range(30):
        (root / f"copy{k}.png").write_bytes((root / "img0.png").read_bytes())
        rows.append(f"copy{k}.png,cat,a\n")
    meta.write_text(meta.read_text() + "".join(rows))
    calls = []
    real = folder_module._read_image
    monkeypatch.setattr(folder_module, "_read_image", lambda p, *a, **k: calls.append(p.name) or real(p, *a, **k))
    sc = load_folder(root, meta, image_size=8)
    assert len(calls) == 32 and sorted(set(calls)) == sorted(calls)  # 32 distinct files, each decoded once
    reference = real(root / "img0.png", 8)  # the splits keep no paths: find the copies by their pixels
    holding = {s: int((getattr(sc, s).images_u8.numpy() == reference).all(axis=(1, 2, 3)).sum()) for s in SPLITS}
    assert sorted(holding.values()) == [0, 0, 31], holding


def test_the_seeded_split_is_unchanged_for_a_csv_without_copies():
    labels = np.array([0, 1] * 20)
    groups = np.array([0] * 20 + [1] * 20)
    import pandas as pd

    table = pd.DataFrame({"path": [str(i) for i in range(40)]})
    a = folder_module._assign_splits(table, "split", labels, groups, 0.15, 0.25, 0)
    b = folder_module._assign_splits(table, "split", labels, groups, 0.15, 0.25, 0, np.arange(40))
    assert (a == b).all() and set(a) == {"train", "val", "test"}


# ------------------------------------------------------------------------------------------------
# labels, normalisation, empty splits
# ------------------------------------------------------------------------------------------------


@reliability("valid input", "library: image folder + CSV")
def test_labels_1_and_1_0_are_one_class(tmp_path):
    """Labels written 1, 1.0 and 01 (and 0, 0.0) are two classes, "0" and "1"; groups alike; 1.5 and text stay as written."""
    root, meta = write_folder(tmp_path / "d", labels=("0", "1"), groups=("2", "3"))
    lines = meta.read_text().strip().splitlines()
    spellings = {"0": ("0", "0.0", "00"), "1": ("1", "1.0", "01")}
    out = [lines[0]]
    for i, line in enumerate(lines[1:]):
        path, label, group = line.split(",")
        out.append(
            f"{path},{spellings[label][i % 3]},{group}.0" if i % 2 else f"{path},{spellings[label][i % 3]},{group}"
        )
    meta.write_text("\n".join(out) + "\n")
    sc = load_folder(root, meta, image_size=8)
    assert sc.class_names == ["0", "1"] and sc.test.group_names["site"] == ["2", "3"]
    assert [folder_module._canonical(v) for v in ("1.5", "cat", "1e0", " 7 ", "inf", "-0")] == [
        "1.5",
        "cat",
        "1",
        "7",
        "inf",
        "0",
    ]


NORMALISATION_CASES = [
    Case(
        "std-nan",
        "refused: std NaN",
        {"std": (float("nan"),) * 3},
        BamuInputError,
        r"std must be finite",
        r"give 3 numbers",
    ),
    Case(
        "std-inf",
        "refused: std infinite",
        {"std": (1.0, float("inf"), 1.0)},
        BamuInputError,
        r"std must be finite",
        r"give 3",
    ),
    Case(
        "std-zero",
        "refused: std 0 (division by zero)",
        {"std": (0.2, 0.0, 0.2)},
        BamuInputError,
        r"std must be positive",
        r"e\.g\.",
    ),
    Case(
        "std-negative",
        "refused: negative std",
        {"std": (-0.2, 0.2, 0.2)},
        BamuInputError,
        r"std must be positive",
        r"e\.g\.",
    ),
    Case(
        "mean-nan",
        "refused: mean NaN",
        {"mean": (0.5, float("nan"), 0.5)},
        BamuInputError,
        r"mean must be finite",
        r"give 3",
    ),
    Case(
        "mean-two-values",
        "refused: 2 values for 3 channels",
        {"mean": (0.5, 0.5)},
        BamuInputError,
        r"mean must have 3 values",
        r"R, G, B",
    ),
    Case(
        "std-text",
        "refused: not numbers",
        {"std": ("a", "b", "c")},
        BamuInputError,
        r"std must be 3 numbers",
        r"R, G, B",
    ),
]


@pytest.mark.parametrize("case", NORMALISATION_CASES, ids=lambda c: c.id)
def test_bad_mean_and_std_are_refused_before_reading(case, tmp_path, monkeypatch):
    root, meta = write_folder(tmp_path / "d")
    monkeypatch.setattr(folder_module, "_read_image", lambda *a, **k: 1 / 0)
    with pytest.raises(case.error) as info:
        load_folder(root, meta, image_size=8, **case.make)
    case.check_message(str(info.value))
    from bamu_core.data._official import check_image_options

    with pytest.raises(case.error):
        check_image_options(16, case.make.get("mean", (0.5,) * 3), case.make.get("std", (0.5,) * 3))


@reliability("bad input", "command line")
def test_bamu_audit_refuses_std_nan_with_exit_2(tmp_path, capsys):
    """`bamu audit --std nan,nan,nan`: exit 2, one line saying std must be finite, before any image is read."""
    from bamu_core.cli import main

    root, meta = write_folder(tmp_path / "d")
    code = main(["audit", "--data", str(root), "--meta", str(meta), "--image-size", "16", "--std", "nan,nan,nan"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "std must be finite" in err, err


def _tiny(n: int) -> ImageData:
    import torch

    return ImageData(
        **_tiny_kwargs(images=torch.zeros(n, 3, 4, 4, dtype=torch.uint8), labels=np.arange(n) % 2, attrs={"g": [0] * n})
    )


@reliability("bad input", "library: Scenario")
def test_an_empty_validation_split_is_a_clear_error():
    """A scenario with no validation image is refused on construction, saying checkpoints are chosen on it (not a numpy reduction error later)."""
    kw = dict(
        name="s", title="s", bias="b", class_names=["x", "y"], mean=(0.5,) * 3, std=(0.5,) * 3, default_arch="small_cnn"
    )
    with pytest.raises(BamuInputError, match=r"scenario 's': the val split is empty; checkpoints are chosen on it"):
        Scenario(train=_tiny(4), val=_tiny(0), test=_tiny(4), **kw)
    with pytest.raises(BamuInputError, match="the test split is empty"):
        Scenario(train=_tiny(4), val=_tiny(2), test=_tiny(0), **kw)
    with pytest.raises(BamuInputError, match="std must be finite"):
        ImageData(**_tiny_kwargs(std=(float("nan"),) * 3))


def _tiny_kwargs(**over):
    import torch

    kw = dict(
        images=torch.zeros(1, 3, 4, 4, dtype=torch.uint8),
        labels=[0],
        attrs={"g": [0]},
        group_names={"g": ["a"]},
        group_attr="g",
        mean=(0.5,) * 3,
        std=(0.5,) * 3,
    )
    return {**kw, **over}


# ------------------------------------------------------------------------------------------------
# zip entries whose names cannot be written: refused before anything is written
# ------------------------------------------------------------------------------------------------


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries:
            z.writestr(zipfile.ZipInfo(name), data)
    return buf.getvalue()


GOOD = ("ds/meta.csv", b"path,label,site\n")  # a good entry first: it must not be written either

ZIP_NAME_CASES = [
    Case(
        "zip-name-too-long",
        "refused: a 300-character file name (the file system allows 255 bytes)",
        lambda: _zip([GOOD, ("ds/" + "a" * 300 + ".png", b"x")]),
        BamuInputError,
        r"zip entry 'ds/a{57}\.\.\. \(307 characters\)' has a name too long to write",
        r"shorten it",
    ),
    Case(
        "zip-path-too-long",
        "refused: 40 folders of 100 characters (4 KB path)",
        lambda: _zip([GOOD, ("/".join(["d" * 100] * 40) + "/x.png", b"x")]),
        BamuInputError,
        r"has a name too long to write \(at most 255 bytes per name and 1024 in all\)",
        r"shorten it",
    ),
    Case(
        "zip-empty-name",
        "refused: an entry with an empty name",
        lambda: _zip([GOOD, ("", b"x")]),
        BamuInputError,
        r"zip entry '' has an empty or '\.' name part",
        r"relative paths",
    ),
    Case(
        "zip-dot-name",
        "refused: an entry named .",
        lambda: _zip([GOOD, (".", b"x")]),
        BamuInputError,
        r"zip entry '\.' has an empty or '\.' name part",
        r"relative paths",
    ),
    Case(
        "zip-dot-inside",
        "refused: ds/./x.png and ds//x.png",
        lambda: _zip([GOOD, ("ds/./x.png", b"x"), ("ds//y.png", b"y")]),
        BamuInputError,
        r"zip entry 'ds/\./x\.png' has an empty or '\.' name part",
        r"relative paths",
    ),
    Case(
        "zip-file-then-folder",
        "refused: ds/img is a file and the folder of ds/img/a.png",
        lambda: _zip([GOOD, ("ds/img", b"x"), ("ds/img/a.png", b"y")]),
        BamuInputError,
        r"zip entry 'ds/img' is a file, but 'ds/img/a\.png' uses the same name as a folder",
        r"rename one",
    ),
    Case(
        "zip-folder-then-file",
        "refused: the same clash in the other order, with a folder entry",
        lambda: _zip([GOOD, ("ds/img/", b""), ("ds/img", b"x")]),
        BamuInputError,
        r"zip entry 'ds/img' is a file, but 'ds/img/' uses the same name as a folder",
        r"rename one",
    ),
    Case(
        "zip-same-file-twice",
        "refused: two entries for one file",
        lambda: _zip([GOOD, ("ds/a.png", b"x"), ("ds/a.png", b"y")]),
        BamuInputError,
        r"zip entry 'ds/a\.png' appears twice",
        r"keep one copy",
    ),
]


@pytest.mark.parametrize("case", ZIP_NAME_CASES, ids=lambda c: c.id)
def test_zip_entries_with_unwritable_names_are_refused_before_anything_is_written(case, tmp_path):
    import warnings

    from dashboard.uploads import extract_zip

    dest = tmp_path / "inside" / "dest"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name it is asked to write
        payload = case.make()
    with pytest.raises(case.error) as info:
        extract_zip(payload, dest)
    case.check_message(str(info.value))
    assert files_under(tmp_path) == [] and list(dest.iterdir()) == []  # no file, no folder


@reliability("fault", "library: zip upload")
def test_an_entry_that_fails_while_written_leaves_nothing(tmp_path):
    """A corrupt entry (bad CRC) after good ones: BamuInputError saying nothing was kept; the files already written are removed."""
    from dashboard.uploads import extract_zip

    raw = bytearray(_zip([GOOD, ("ds/img/a.png", b"fine"), ("ds/img/b.png", b"0123456789" * 10)]))
    pos = raw.rfind(b"0123456789")
    raw[pos] ^= 0xFF  # the data of the last entry no longer matches its CRC
    dest = tmp_path / "dest"
    with pytest.raises(BamuInputError, match=r"cannot extract the zip \(BadZipFile: Bad CRC-32.*nothing was kept"):
        extract_zip(bytes(raw), dest)
    assert files_under(tmp_path) == [] and list(dest.iterdir()) == []


# ------------------------------------------------------------------------------------------------
# the dashboard's Host check (DNS rebinding)
# ------------------------------------------------------------------------------------------------


def test_host_names_are_matched_without_port_and_case():
    from dashboard.host_check import allowed_hosts, host_allowed

    names = allowed_hosts(["Lab-PC."], address="0.0.0.0", env="*.example.org, extra.test")
    assert names == ["localhost", "127.0.0.1", "::1", "lab-pc", "*.example.org", "extra.test"]
    for host in ("localhost", "LOCALHOST:8501", "127.0.0.1:80", "[::1]:8501", "[::1]", "lab-pc:1", "a.example.org"):
        assert host_allowed(host, names), host
    for host in (
        "evil.example",
        "evil.example:8501",
        "localhost.evil.example",
        "127.0.0.1.nip.io",
        "example.org",
        "user@localhost",
        "localhost:99999",
        "localhost:x",
        "localhost/x",
        "",
        None,
    ):
        assert not host_allowed(host, names), host
    assert host_allowed("anything", ["*"]) and allowed_hosts(address="10.0.0.5", env="")[-1] == "10.0.0.5"


@contextlib.contextmanager
def _launched(tmp_path: Path, *, allowed: str = "", bare: bool = False):
    """The dashboard started as ./run.sh starts it (or, ``bare``, as ``streamlit run app.py``); yields its port."""
    from test_e2e_browser import serve

    launcher = "streamlit" if bare else "dashboard.host_check"
    env = {"BAMU_ALLOWED_HOSTS": allowed}
    with serve(tmp_path / "home", tmp_path / "server.log", launcher=launcher, env=env) as url:
        yield int(url.rsplit(":", 1)[1])


def _get(port: int, host: str, path: str = "/") -> int:
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    con.request("GET", path, headers={"Host": host})
    status = con.getresponse().status
    con.close()
    return status


def _upgrade(port: int, host: str) -> int:
    """The status a websocket upgrade of /_stcore/stream gets with this Host and a matching Origin."""
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    con.request(
        "GET",
        "/_stcore/stream",
        headers={
            "Host": host,
            "Origin": f"http://{host}",
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Protocol": "streamlit",
        },
    )
    status = con.getresponse().status
    con.close()
    return status


@reliability("security", "streamlit server")
def test_the_dashboard_refuses_requests_naming_another_host(tmp_path):
    """`./run.sh`'s launcher: Host evil.example (DNS rebinding) gets 403 for GET / and the websocket; localhost, 127.0.0.1, [::1] and a BAMU_ALLOWED_HOSTS name get 200 / 101."""
    with _launched(tmp_path, allowed="lab.test") as port:
        for host in ("evil.example", f"evil.example:{port}", f"localhost.evil.example:{port}"):
            assert _get(port, host) == 403, host
            assert _get(port, host, "/_stcore/health") == 403, host
            assert _upgrade(port, host) == 403, host
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", f"lab.test:{port}"):
            assert _get(port, host) == 200, host
            assert _upgrade(port, host) == 101, host


@reliability("security", "streamlit server")
def test_a_bare_streamlit_run_still_refuses_the_websocket_for_another_host(tmp_path):
    """Plain `streamlit run app.py`: .streamlit/config.toml's server.allowedHosts refuses the websocket (403) for Host evil.example; localhost gets 101."""
    with _launched(tmp_path, bare=True) as port:
        assert _upgrade(port, f"evil.example:{port}") == 403
        assert _upgrade(port, f"localhost:{port}") == 101


@reliability("security", "run.sh")
def test_run_sh_starts_the_dashboard_through_the_host_check():
    """`./run.sh` starts the dashboard with `python -m dashboard.host_check run app.py`, never a bare `streamlit run`."""
    text = (REPO / "run.sh").read_text()
    [line] = [line for line in text.splitlines() if line.strip().startswith("app)")]
    assert "-m dashboard.host_check run app.py" in line and "streamlit run" not in line


def test_the_launcher_refuses_to_start_without_its_hook(monkeypatch):
    from streamlit.web.server.starlette import starlette_app

    from dashboard import host_check

    monkeypatch.delattr(starlette_app, "create_streamlit_middleware")
    with pytest.raises(SystemExit, match="the Host check cannot be installed; not starting without it"):
        host_check.main(["run", "app.py"])


README_TABLES = [
    ("bad input", "library: image folder + CSV", DUPLICATE_CASES),
    ("bad input", "library: mean / std", NORMALISATION_CASES),
    ("bad input", "library: zip upload", ZIP_NAME_CASES),
]
