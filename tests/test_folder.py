"""The image-folder + metadata-CSV loader and its error messages."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bamu_core.data import load_folder


def make_folder(root, n_per=6, *, groups=("a", "b"), labels=("cat", "dog"), extra_rows=(), split=False):
    root.mkdir(parents=True, exist_ok=True)
    rows = ["path,label,site" + (",split" if split else "")]
    rng = np.random.default_rng(0)
    k = 0
    for lab in labels:
        for grp in groups:
            for j in range(n_per):
                name = f"img{k}.png"
                Image.fromarray(rng.integers(0, 255, (10, 12, 3), dtype=np.uint8)).save(root / name)
                s = ["train", "train", "val", "test"][j % 4]
                rows.append(f"{name},{lab},{grp}" + (f",{s}" if split else ""))
                k += 1
    rows.extend(extra_rows)
    (root / "meta.csv").write_text("\n".join(rows) + "\n")
    return root, root / "meta.csv"


def test_loads_images_labels_groups_and_splits(tmp_path):
    root, meta = make_folder(tmp_path / "d")
    sc = load_folder(root, meta, image_size=16)
    assert sc.class_names == ["cat", "dog"]
    assert sc.test.group_names["site"] == ["a", "b"]
    assert sum(len(getattr(sc, s)) for s in ("train", "val", "test")) == 24
    x, y, g, i = sc.test[0]
    assert x.shape == (3, 16, 16)
    # every label x group stratum appears in the test split
    assert (sc.test.counts() > 0).all()


def test_split_column_is_respected(tmp_path):
    root, meta = make_folder(tmp_path / "d", split=True)
    sc = load_folder(root, meta, image_size=8)
    # rows j = 0..5 of each of the 4 label x site strata: j % 4 == 2 -> val, j % 4 == 3 -> test
    assert (len(sc.train), len(sc.val), len(sc.test)) == (16, 4, 4)


def test_mixed_modes_and_sizes_are_converted(tmp_path):
    root, meta = make_folder(tmp_path / "d")
    Image.fromarray(np.full((20, 7), 40000, dtype=np.uint16)).save(root / "img0.png")  # 16-bit grey
    Image.fromarray(np.zeros((5, 5, 4), dtype=np.uint8)).save(root / "img1.png")  # RGBA
    Image.fromarray(np.zeros((30, 30), dtype=np.uint8)).convert("P").save(root / "img2.png")  # palette
    sc = load_folder(root, meta, image_size=12)
    assert sc.train.images_u8.shape[1:] == (3, 12, 12)


@pytest.mark.parametrize(
    "mutate, error, match",
    [
        (lambda r, m: m.write_text("path,label\nimg0.png,cat\n"), ValueError, "no group column"),
        (lambda r, m: (r / "img3.png").unlink(), FileNotFoundError, "missing, e.g. img3.png"),
        (lambda r, m: (r / "img4.png").write_bytes(b"not an image"), ValueError, "cannot read image img4.png"),
        (
            lambda r, m: (r / "img5.png").write_bytes((r / "img6.png").read_bytes()[:60]),
            ValueError,
            "cannot read image img5.png",
        ),
        (lambda r, m: m.write_text(m.read_text() + "img0.png,cat,\n"), ValueError, "column 'site' is empty"),
        (lambda r, m: m.write_text(m.read_text() + "../outside.png,cat,a\n"), ValueError, "outside the data folder"),
        (lambda r, m: m.write_text(m.read_text().replace("cat", "dog")), ValueError, "only one class"),
        (lambda r, m: m.write_text(""), ValueError, "cannot parse|no rows"),
    ],
    ids=[
        "no-group-col",
        "missing-file",
        "not-an-image",
        "truncated",
        "nan-group",
        "traversal",
        "one-class",
        "empty-csv",
    ],
)
def test_bad_inputs_name_the_problem(tmp_path, mutate, error, match):
    root, meta = make_folder(tmp_path / "d")
    mutate(root, meta)
    with pytest.raises(error, match=match):
        load_folder(root, meta, image_size=8)


def test_unknown_group_column_is_named(tmp_path):
    root, meta = make_folder(tmp_path / "d")
    with pytest.raises(ValueError, match="lacks column\\(s\\) 'gender'"):
        load_folder(root, meta, group_cols=["gender"])


def test_group_without_test_images_is_refused(tmp_path):
    root, meta = make_folder(tmp_path / "d", split=True)
    # a group present only in train
    (root / "lonely.png").write_bytes((root / "img0.png").read_bytes())
    meta.write_text(meta.read_text() + "lonely.png,cat,c,train\n")
    with pytest.raises(ValueError, match="'c' of column 'site' have no image in the test split"):
        load_folder(root, meta, image_size=8)


def test_missing_folder_and_csv(tmp_path):
    with pytest.raises(FileNotFoundError, match="data folder"):
        load_folder(tmp_path / "nope", tmp_path / "m.csv")
    (tmp_path / "d").mkdir()
    with pytest.raises(FileNotFoundError, match="metadata CSV"):
        load_folder(tmp_path / "d", tmp_path / "m.csv")
