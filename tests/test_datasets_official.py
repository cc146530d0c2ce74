"""CelebA, CUB-200-2011 and Waterbirds read from miniature replicas in their official file formats."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bamu_core.data import (
    celeba_attributes,
    cub_attributes,
    cub_parts,
    list_datasets,
    load_celeba,
    load_cub,
    load_dataset,
    load_waterbirds,
)

CELEBA_ATTRS = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
    "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
    "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
    "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
    "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()
CUB_PARTS = [
    "back",
    "beak",
    "belly",
    "breast",
    "crown",
    "forehead",
    "left eye",
    "left leg",
    "left wing",
    "nape",
    "right eye",
    "right leg",
    "right wing",
    "tail",
    "throat",
]
CUB_ATTRS = [
    "has_bill_shape::curved_(up_or_down)",
    "has_bill_shape::dagger",
    "has_wing_color::blue",
    "has_wing_color::brown",
]


def _image(path: Path, value: int, size=(12, 15)) -> None:
    """A tiny solid-colour JPEG whose red channel encodes ``value``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, 128, 255 - value)).save(path, quality=100)


# --- CelebA replica -----------------------------------------------------------------------------

N_CELEBA = 36  # 24 train, 6 val, 6 test, in file order as in the release


def celeba_table():
    """file names, the 40 attribute columns (-1/1), partition ids and identities of the replica."""
    rng = np.random.default_rng(7)
    values = rng.choice([-1, 1], size=(N_CELEBA, len(CELEBA_ATTRS)))
    i = np.arange(N_CELEBA)
    values[:, CELEBA_ATTRS.index("Male")] = np.where(i % 2 == 1, 1, -1)
    values[:, CELEBA_ATTRS.index("Smiling")] = np.where((i // 2) % 2 == 1, 1, -1)
    files = [f"{k + 1:06d}.jpg" for k in i]
    partition = np.array([0] * 24 + [1] * 6 + [2] * 6)
    identity = 100 + i // 3
    return files, values, partition, identity


def make_celeba(root: Path, *, layout: str = "flat", identity: bool = True) -> Path:
    files, values, partition, ident = celeba_table()
    base = {"flat": root, "torchvision": root / "celeba"}.get(layout, root)
    anno = base / "Anno" if layout == "release" else base
    evald = base / "Eval" if layout == "release" else base
    imgs = base / "Img" / "img_align_celeba" if layout == "release" else base / "img_align_celeba"
    for d in (anno, evald, imgs):
        d.mkdir(parents=True, exist_ok=True)
    lines = [f"{N_CELEBA}\n", " ".join(CELEBA_ATTRS) + " \n"]
    for f, row in zip(files, values):
        lines.append(f + " " + " ".join(f"{v:2d}" for v in row) + "\n")
    (anno / "list_attr_celeba.txt").write_text("".join(lines))
    (evald / "list_eval_partition.txt").write_text("".join(f"{f} {p}\n" for f, p in zip(files, partition)))
    if identity:
        (anno / "identity_CelebA.txt").write_text("".join(f"{f} {k}\n" for f, k in zip(files, ident)))
    for k, f in enumerate(files):
        _image(imgs / f, 5 * k, size=(12, 15))
    return root


@pytest.fixture(scope="module")
def celeba_root(tmp_path_factory) -> Path:
    return make_celeba(tmp_path_factory.mktemp("celeba"))


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    return dst


def test_celeba_smiling_by_male_follows_the_partition_file(celeba_root):
    files, values, partition, ident = celeba_table()
    sc = load_celeba(celeba_root, target="Smiling", sensitive="Male", image_size=8)
    assert (len(sc.train), len(sc.val), len(sc.test)) == (24, 6, 6)
    assert sc.class_names == ["not Smiling", "Smiling"]
    assert sc.test.group_names["Male"] == ["not Male", "Male"]
    assert sc.test.group_attr == "Male" and sc.bias_attr == "Male" and sc.target_class == 1
    smiling = (values[:, CELEBA_ATTRS.index("Smiling")] == 1).astype(int)
    male = (values[:, CELEBA_ATTRS.index("Male")] == 1).astype(int)
    for split, code in (("train", 0), ("val", 1), ("test", 2)):
        d = getattr(sc, split)
        assert d.labels.tolist() == smiling[partition == code].tolist()
        assert d.groups.tolist() == male[partition == code].tolist()
    # image k is a solid colour with red = 5k: the test split holds files 31..36
    assert sc.test.image_shape == (3, 8, 8)
    red = sc.test.images_u8[:, 0].float().mean(dim=(1, 2)).numpy()
    assert np.abs(red - 5 * np.arange(30, 36)).max() <= 2
    card = sc.card()
    assert card["splits"]["test"]["counts"]["Male"] == {"not Male": [1, 2], "Male": [1, 2]}
    assert sc.options["identities"] == {"train": 8, "val": 2, "test": 2}
    assert sc.options["preprocessing"]["resize"].startswith("whole image, bilinear, to 8x8")


def test_celeba_any_attribute_is_a_target_and_several_can_be_groups(celeba_root):
    files, values, partition, _ = celeba_table()
    sc = load_celeba(celeba_root, target="eyeglasses", sensitive=["young", "Male"], image_size=8)
    assert sc.class_names == ["not Eyeglasses", "Eyeglasses"]
    assert sc.group_attrs == ["Young", "Male"] and sc.test.group_attr == "Young"
    train = partition == 0
    assert sc.train.labels.tolist() == (values[train, CELEBA_ATTRS.index("Eyeglasses")] == 1).astype(int).tolist()
    assert sc.train.attrs["Young"].tolist() == (values[train, CELEBA_ATTRS.index("Young")] == 1).astype(int).tolist()
    assert celeba_attributes(celeba_root) == CELEBA_ATTRS
    with pytest.raises(ValueError, match="target 'Male' cannot also be a sensitive attribute"):
        load_celeba(celeba_root, target="Male", sensitive="Male")
    with pytest.raises(ValueError, match=r"unknown CelebA attribute 'Smile'.*did you mean 'Smiling'"):
        load_celeba(celeba_root, target="Smile")


@pytest.mark.parametrize("layout", ["torchvision", "release"])
def test_celeba_torchvision_and_release_layouts(tmp_path, layout):
    root = make_celeba(tmp_path / layout, layout=layout, identity=False)
    sc = load_celeba(root, image_size=8, max_per_split=2)
    assert (len(sc.train), len(sc.val), len(sc.test)) == (2, 2, 2)
    assert sc.options["identities"] is None


def test_celeba_limit_reads_only_the_kept_images_and_reports_progress(celeba_root):
    calls = []
    sc = load_celeba(
        celeba_root,
        image_size=8,
        max_per_split={"train": 5, "val": 2, "test": 3},
        seed=1,
        progress=lambda ev: calls.append((ev.step, ev.total)),
        workers=2,
    )
    assert (len(sc.train), len(sc.val), len(sc.test)) == (5, 2, 3)
    assert calls[-1] == (10, 10)
    again = load_celeba(celeba_root, image_size=8, max_per_split={"train": 5, "val": 2, "test": 3}, seed=1)
    assert np.array_equal(again.train.images_u8.numpy(), sc.train.images_u8.numpy())
    with pytest.raises(ValueError, match="max_per_split has unknown split"):
        load_celeba(celeba_root, max_per_split={"training": 3})


@pytest.mark.parametrize(
    "victim, match",
    [
        ("list_eval_partition.txt", r"list_eval_partition\.txt not found .*point the root at the folder"),
        ("list_attr_celeba.txt", r"list_attr_celeba\.txt not found"),
        ("img_align_celeba/000007.jpg", r"1 image\(s\) listed in list_eval_partition\.txt are missing .*000007\.jpg"),
        ("img_align_celeba", r"folder img_align_celeba/ not found"),
    ],
)
def test_celeba_missing_files_are_named(celeba_root, tmp_path, victim, match):
    root = _copy(celeba_root, tmp_path)
    target = root / victim
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(FileNotFoundError, match=match):
        load_celeba(root, image_size=8)


@pytest.mark.parametrize(
    "file, line, replacement, match",
    [
        (
            "list_attr_celeba.txt",
            5,
            "000003.jpg " + " ".join(["1"] * 39) + "\n",
            r"list_attr_celeba\.txt line 5: expected 41 fields",
        ),
        (
            "list_attr_celeba.txt",
            6,
            "000004.jpg " + " ".join(["1"] * 20 + ["0"] + ["1"] * 19) + "\n",
            r"list_attr_celeba\.txt line 6: attribute Male must be -1 or 1, got '0'",
        ),
        ("list_attr_celeba.txt", 1, "36 images\n", r"list_attr_celeba\.txt line 1: expected the number of images"),
        ("list_attr_celeba.txt", 1, "37\n", r"line 1: says 37 images but the file lists 36"),
        (
            "list_eval_partition.txt",
            4,
            "000004.jpg 3\n",
            r"list_eval_partition\.txt line 4: the partition must be one of 0, 1, 2",
        ),
        ("list_eval_partition.txt", 2, "000002.jpg\n", r"list_eval_partition\.txt line 2: expected 2 fields"),
        ("identity_CelebA.txt", 3, "000003.jpg x\n", r"identity_CelebA\.txt line 3: the identity must be an integer"),
    ],
)
def test_celeba_malformed_lines_name_file_and_line(celeba_root, tmp_path, file, line, replacement, match):
    root = _copy(celeba_root, tmp_path)
    path = root / file
    lines = path.read_text().splitlines(keepends=True)
    lines[line - 1] = replacement
    path.write_text("".join(lines))
    with pytest.raises(ValueError, match=match):
        load_celeba(root, image_size=8)


def test_celeba_files_of_different_releases_are_refused(celeba_root, tmp_path):
    root = _copy(celeba_root, tmp_path)
    part = root / "list_eval_partition.txt"
    part.write_text(part.read_text().replace("000036.jpg", "999999.jpg"))
    with pytest.raises(
        ValueError,
        match=r"1 image\(s\) of list_attr_celeba\.txt are not in list_eval_partition\.txt, e\.g\. 000036\.jpg",
    ):
        load_celeba(root, image_size=8)


# --- CUB-200-2011 replica -----------------------------------------------------------------------

CUB_CLASSES = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]
PER_CLASS = 10  # 6 official train + 4 official test each


def cub_table():
    """image ids 1..30: class id, is_train, beak / left eye / right eye visibility, attribute rows."""
    rows = []
    for c in range(3):
        for k in range(PER_CLASS):
            img = c * PER_CLASS + k + 1
            rows.append(
                {
                    "id": img,
                    "cls": c + 1,
                    "train": 1 if k < 6 else 0,
                    "beak": int(k % 2 == 0),
                    "left eye": int(k % 3 != 0),
                    "right eye": int(k % 4 < 2),
                    "attrs": [int((img + a) % 3 == 0) for a in range(len(CUB_ATTRS))],
                }
            )
    return rows


def make_cub(parent: Path) -> Path:
    """The release: ``parent/CUB_200_2011/...`` with ``attributes.txt`` beside it, as in the tarball."""
    root = parent / "CUB_200_2011"
    (root / "attributes").mkdir(parents=True)
    (root / "parts").mkdir()
    rows = cub_table()
    images, labels, split, attrs, locs = [], [], [], [], []
    for r in rows:
        cls = CUB_CLASSES[r["cls"] - 1]
        rel = f"{cls}/{cls.split('.')[1]}_{r['id']:04d}_{r['id'] + 100}.jpg"
        _image(root / "images" / rel, 8 * r["id"], size=(20, 16))
        images.append(f"{r['id']} {rel}\n")
        labels.append(f"{r['id']} {r['cls']}\n")
        split.append(f"{r['id']} {r['train']}\n")
        for a, present in enumerate(r["attrs"], start=1):
            certainty = 3 if present else 1
            if r["id"] == 5 and a == 2:  # the release has a few lines with one more field
                attrs.append(f"{r['id']} {a} {present} {certainty} 0 12.5\n")
            else:
                attrs.append(f"{r['id']} {a} {present} {certainty} 7.125\n")
        for p, name in enumerate(CUB_PARTS, start=1):
            vis = r.get(name, 1)
            x, y = (10.0 + p, 20.0) if vis else (0.0, 0.0)
            locs.append(f"{r['id']} {p} {x:.1f} {y:.1f} {vis}\n")
    (root / "images.txt").write_text("".join(images))
    (root / "image_class_labels.txt").write_text("".join(labels))
    (root / "train_test_split.txt").write_text("".join(split))
    (root / "classes.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(CUB_CLASSES, start=1)))
    (root / "attributes" / "image_attribute_labels.txt").write_text("".join(attrs))
    (root / "attributes" / "certainties.txt").write_text("1 not visible\n2 guessing\n3 probably\n4 definitely\n")
    (parent / "attributes.txt").write_text("".join(f"{i} {a}\n" for i, a in enumerate(CUB_ATTRS, start=1)))
    (root / "parts" / "parts.txt").write_text("".join(f"{i} {p}\n" for i, p in enumerate(CUB_PARTS, start=1)))
    (root / "parts" / "part_locs.txt").write_text("".join(locs))
    return root


@pytest.fixture(scope="module")
def cub_root(tmp_path_factory) -> Path:
    return make_cub(tmp_path_factory.mktemp("cub"))


def _ids_of(sc, split):
    """Image ids of a split, recovered from the red channel (8 x id)."""
    red = getattr(sc, split).images_u8[:, 0].float().mean(dim=(1, 2)).numpy()
    return np.round(red / 8).astype(int).tolist()


def test_cub_groups_by_beak_visibility_with_a_seeded_val_split(cub_root):
    rows = {r["id"]: r for r in cub_table()}
    sc = load_cub(cub_root, part="beak", image_size=8, seed=0)
    assert sc.class_names == ["Black footed Albatross", "Laysan Albatross", "Sooty Albatross"]
    assert (len(sc.train), len(sc.val), len(sc.test)) == (15, 3, 12)
    assert sc.test.group_attr == "beak visible"
    assert sc.test.group_names["beak visible"] == ["beak hidden", "beak visible"]
    for split in ("train", "val", "test"):
        ids = _ids_of(sc, split)
        d = getattr(sc, split)
        assert d.labels.tolist() == [rows[i]["cls"] - 1 for i in ids]
        assert d.groups.tolist() == [rows[i]["beak"] for i in ids]
        assert all(rows[i]["train"] == (split != "test") for i in ids)
    assert sorted(d.labels.tolist() for d in [sc.val]) == [[0, 1, 2]]  # one val image per class
    other = load_cub(cub_root, part="beak", image_size=8, seed=1)
    assert _ids_of(other, "test") == _ids_of(sc, "test") and _ids_of(other, "val") != _ids_of(sc, "val")
    assert cub_parts(cub_root) == CUB_PARTS


def test_cub_eyes_give_facing_groups(cub_root):
    rows = {r["id"]: r for r in cub_table()}
    sc = load_cub(cub_root.parent, part="eyes", image_size=8)  # the release's parent folder works too
    names = sc.test.group_names["eyes visible"]
    assert names == ["both eyes visible", "left eye only", "right eye only", "no eye visible"]
    expected = {(1, 1): 0, (1, 0): 1, (0, 1): 2, (0, 0): 3}
    ids = _ids_of(sc, "train")
    assert sc.train.groups.tolist() == [expected[(rows[i]["left eye"], rows[i]["right eye"])] for i in ids]
    # one val image per class, plus one for each group the class quotas missed
    assert sorted(set(sc.val.groups.tolist())) == [0, 1, 2, 3] and len(sc.val) + len(sc.train) == 18
    with pytest.raises(ValueError, match=r"have no image in the val split; raise val_fraction or max_per_split"):
        load_cub(cub_root, part="eyes", image_size=8, max_per_split={"val": 1})


def test_cub_groups_by_an_attribute_by_name_or_id_and_class_subsets(cub_root):
    rows = {r["id"]: r for r in cub_table()}
    assert cub_attributes(cub_root) == CUB_ATTRS
    by_name = load_cub(cub_root, group_source="attribute", attribute="HAS_BILL_SHAPE::DAGGER", image_size=8)
    by_id = load_cub(cub_root, group_source="attribute", attribute=2, image_size=8, classes=2)
    assert by_name.test.group_names["has_bill_shape::dagger"] == [
        "not has_bill_shape::dagger",
        "has_bill_shape::dagger",
    ]
    ids = _ids_of(by_name, "test")
    assert by_name.test.groups.tolist() == [rows[i]["attrs"][1] for i in ids]
    assert by_id.num_classes == 2 and len(by_id.test) == 8 and set(by_id.train.labels.tolist()) == {0, 1}
    ids = _ids_of(by_id, "train")
    assert by_id.train.groups.tolist() == [rows[i]["attrs"][1] for i in ids]
    named = load_cub(cub_root, part="beak", image_size=8, classes=["Sooty Albatross", "001.Black_footed_Albatross"])
    assert named.class_names == ["Black footed Albatross", "Sooty Albatross"]
    with pytest.raises(ValueError, match="needs an attribute name or id"):
        load_cub(cub_root, group_source="attribute")
    with pytest.raises(ValueError, match="group_source must be one of visibility, attribute"):
        load_cub(cub_root, group_source="pose")
    with pytest.raises(ValueError, match=r"unknown CUB part 'bek'.*did you mean 'beak'"):
        load_cub(cub_root, part="bek")


@pytest.mark.parametrize(
    "victim, match",
    [
        ("parts/part_locs.txt", r"CUB-200-2011: part_locs\.txt not found .*point the root at the CUB_200_2011 folder"),
        ("train_test_split.txt", r"train_test_split\.txt not found"),
        ("../attributes.txt", r"attributes\.txt not found .*copy it into CUB_200_2011/attributes/"),
        ("images/002.Laysan_Albatross", r"10 image\(s\) listed in images\.txt are missing"),
    ],
)
def test_cub_missing_files_are_named(cub_root, tmp_path, victim, match):
    root = make_cub(tmp_path)
    target = (root / victim).resolve()
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    kwargs = {"group_source": "attribute", "attribute": 1} if "attributes" in victim else {}
    with pytest.raises(FileNotFoundError, match=match):
        load_cub(root, image_size=8, **kwargs)


@pytest.mark.parametrize(
    "file, line, replacement, match",
    [
        ("images.txt", 3, "3\n", r"images\.txt line 3: expected 2 fields \(an image id and a relative path\)"),
        ("image_class_labels.txt", 4, "4 one\n", r"image_class_labels\.txt line 4: a class id must be an integer"),
        ("image_class_labels.txt", 4, "4 9\n", r"uses class id\(s\) \[9\] that classes\.txt does not list"),
        (
            "train_test_split.txt",
            2,
            "2 2\n",
            r"train_test_split\.txt line 2: 1 \(train\) or 0 \(test\) must be one of 0, 1",
        ),
        ("parts/part_locs.txt", 17, "2 2 10.0 twenty 1\n", r"part_locs\.txt line 17: y must be a number"),
        ("parts/part_locs.txt", 17, "2 2 10.0 20.0 1 9\n", r"part_locs\.txt line 17: expected 5 fields"),
        (
            "attributes/image_attribute_labels.txt",
            6,
            "2 2 yes 3 1.0\n",
            r"image_attribute_labels\.txt line 6: is_present must be an integer",
        ),
    ],
)
def test_cub_malformed_lines_name_file_and_line(cub_root, tmp_path, file, line, replacement, match):
    root = make_cub(tmp_path)
    path = root / file
    lines = path.read_text().splitlines(keepends=True)
    lines[line - 1] = replacement
    path.write_text("".join(lines))
    kwargs = {"group_source": "attribute", "attribute": 2} if "attribute" in file else {}
    with pytest.raises(ValueError, match=match):
        load_cub(root, image_size=8, **kwargs)


# --- Waterbirds replica --------------------------------------------------------------------------


def waterbirds_rows():
    """24 rows: (y, place, split); every (y, place) group appears in every split."""
    rows = []
    for split, n in ((0, 12), (1, 4), (2, 8)):
        for k in range(n):
            rows.append((k % 2, (k // 2) % 2, split))
    return rows


def make_waterbirds(root: Path) -> Path:
    lines = ["img_id,img_filename,y,split,place,place_filename\n"]
    for i, (y, place, split) in enumerate(waterbirds_rows(), start=1):
        rel = f"{1 + y:03d}.{'Gull' if y else 'Sparrow'}/bird_{i:04d}.jpg"
        _image(root / rel, 10 * i, size=(16, 16))
        lines.append(f"{i},{rel},{y},{split},{place},/b/bamboo_forest/00000{i}.jpg\n")
    (root / "metadata.csv").write_text("".join(lines))
    return root


@pytest.fixture(scope="module")
def waterbirds_root(tmp_path_factory) -> Path:
    return make_waterbirds(tmp_path_factory.mktemp("waterbirds"))


def test_waterbirds_has_the_four_groups_and_the_official_splits(waterbirds_root):
    rows = waterbirds_rows()
    sc = load_waterbirds(waterbirds_root, image_size=8)
    assert sc.class_names == ["landbird", "waterbird"]
    assert (len(sc.train), len(sc.val), len(sc.test)) == (12, 4, 8)
    assert sc.test.group_attr == "place" and sc.test.group_names["place"] == ["land", "water"]
    assert sc.test.group_names["group"] == [
        "landbird on land",
        "landbird on water",
        "waterbird on land",
        "waterbird on water",
    ]
    test_rows = [r for r in rows if r[2] == 2]
    assert sc.test.labels.tolist() == [r[0] for r in test_rows]
    assert sc.test.attrs["place"].tolist() == [r[1] for r in test_rows]
    assert sc.test.attrs["group"].tolist() == [2 * r[0] + r[1] for r in test_rows]
    assert sc.card()["splits"]["test"]["counts"]["group"] == {
        "landbird on land": [2, 0],
        "landbird on water": [2, 0],
        "waterbird on land": [0, 2],
        "waterbird on water": [0, 2],
    }
    small = load_waterbirds(waterbirds_root, image_size=8, max_per_split={"train": 8})
    assert len(small.train) == 8 and len(small.test) == 8


@pytest.mark.parametrize(
    "line, replacement, match",
    [
        (1, "img_id,img_filename,label,split,place\n", r"metadata\.csv line 1: lacks column\(s\) y"),
        (3, "2,x.jpg,1,0\n", r"metadata\.csv line 3: expected 6 fields, got 4"),
        (4, "3,003.Gull/bird_0003.jpg,1,5,0,p.jpg\n", r"metadata\.csv line 4: split must be one of 0, 1, 2, got '5'"),
        (
            5,
            "4,../outside.jpg,1,0,0,p.jpg\n",
            r"metadata\.csv line 5: image path '\.\./outside\.jpg' points outside the root",
        ),
        (6, "5,002.Gull/none.jpg,1,0,0,p.jpg\n", r"1 image\(s\) listed in metadata\.csv are missing .*none\.jpg"),
    ],
)
def test_waterbirds_bad_metadata_names_the_line(waterbirds_root, tmp_path, line, replacement, match):
    root = _copy(waterbirds_root, tmp_path)
    path = root / "metadata.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[line - 1] = replacement
    path.write_text("".join(lines))
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        load_waterbirds(root, image_size=8)
    with pytest.raises(FileNotFoundError, match=r"Waterbirds: metadata\.csv not found"):
        load_waterbirds(tmp_path, image_size=8)


def test_load_dataset_dispatches_by_name(celeba_root, waterbirds_root):
    assert list_datasets() == ["celeba", "cub", "waterbirds"]
    assert load_dataset("waterbirds", waterbirds_root, image_size=8).name == "waterbirds"
    assert load_dataset("celeba", celeba_root, target="Young", image_size=8).class_names == ["not Young", "Young"]
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet", celeba_root)


def test_dataset_registry_summaries_and_input_errors():
    from bamu_core.data import DATASETS, dataset_summary, register_dataset
    from bamu_core.errors import BamuInputError

    assert DATASETS.names() == list_datasets()
    assert DATASETS.get("cub") is load_cub and DATASETS.get("waterbirds") is load_waterbirds
    assert dataset_summary("waterbirds").startswith("Waterbirds (metadata.csv")
    with pytest.raises(BamuInputError, match="unknown dataset 'imagenet'; available: celeba, cub, waterbirds"):
        dataset_summary("imagenet")
    with pytest.raises(ValueError, match="dataset 'celeba' is already registered"):
        register_dataset("celeba", summary="again")(lambda root, **k: None)


# --- workflows and CLI --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    import torch

    from bamu_core.models import build_model, save_weights

    torch.manual_seed(0)
    return save_weights(build_model("small_cnn", num_classes=2), tmp_path_factory.mktemp("ckpt") / "cnn.safetensors")


def test_cli_audits_celeba_with_target_and_sensitive_and_writes_the_cards(
    celeba_root, tiny_checkpoint, tmp_path, capsys
):
    from bamu_core.cli import main

    out = tmp_path / "audit.json"
    argv = [
        "audit",
        "--celeba-root",
        str(celeba_root),
        "--target",
        "Smiling",
        "--sensitive",
        "Male",
        "--model",
        str(tiny_checkpoint),
        "--arch",
        "small_cnn",
        "--image-size",
        "16",
        "--json",
        str(out),
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "dataset: CelebA: Smiling, groups by Male | images 3x16x16 | train 24 / val 6 / test 6" in captured.out
    assert (
        "test split by Male x class: not Male: not Smiling 1, Smiling 2 | Male: not Smiling 1, Smiling 2"
        in captured.out
    )
    assert "model: small_cnn (cnn), 25,634 parameters, input 3x16x16" in captured.out
    assert "reading images: 36/36" in captured.err
    result = json.loads(out.read_text())
    card = result["dataset"]
    assert card["splits"]["train"]["counts"]["Male"] == {"not Male": [6, 6], "Male": [6, 6]}
    assert card["preprocessing"]["resize"].startswith("whole image, bilinear, to 16x16")
    assert card["preprocessing"]["normalise"]["mean"] == [0.485, 0.456, 0.406]
    assert card["source"]["target"] == "Smiling" and card["source"]["sensitive"] == ["Male"]
    assert card["source"]["identities"] == {"train": 8, "val": 2, "test": 2}
    assert result["model"]["parameters"] == 25_634 and result["model"]["gradcam_layer"] == "conv3"
    assert [g["group"] for g in result["groups"]] == ["not Male", "Male"] and result["n"] == 6


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--scenario", "colored-digits", "--target", "Smiling"], "--target only applies with --celeba-root"),
        (["--waterbirds-root", "WB", "--part", "beak"], "--part only applies with --cub-root"),
        (
            ["--celeba-root", "CELEBA", "--waterbirds-root", "WB"],
            "give one dataset root, not --celeba-root and --waterbirds-root",
        ),
        (["--celeba-root", "CELEBA", "--target", "Smile"], "unknown CelebA attribute 'Smile'"),
        (["--cub-root", "MISSING"], "CUB-200-2011 root .*missing is not a folder"),
    ],
)
def test_cli_dataset_flags_bad_input_exits_2(extra, match, celeba_root, waterbirds_root, capsys):
    from bamu_core.cli import main

    paths = {"CELEBA": str(celeba_root), "WB": str(waterbirds_root), "MISSING": str(celeba_root / "missing")}
    assert main(["audit", *[paths.get(a, a) for a in extra], "--arch", "small_cnn"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(match, err[0]), err


def test_load_subject_reads_a_dataset_and_gives_a_vit_its_image_size(waterbirds_root, tiny_checkpoint, monkeypatch):
    import bamu_core.workflows as wf
    from bamu_core.models import load_model
    from bamu_core.workflows import subject as subject_module

    subject = wf.load_subject(
        dataset="waterbirds",
        dataset_root=waterbirds_root,
        dataset_options={"max_per_split": {"train": 4}},
        image_size=8,
        model_path=tiny_checkpoint,
        arch="small_cnn",
        group_attr="group",
    )
    assert subject.scenario.image_shape == (3, 8, 8) and len(subject.scenario.train) == 4
    assert subject.scenario.test.group_attr == "group"
    assert wf.dataset_card(subject.scenario)["source"]["dataset"] == "waterbirds"

    def small_model_instead(arch, *, num_classes, checkpoint, in_channels):
        return load_model("small_cnn", num_classes=num_classes, checkpoint=checkpoint)

    monkeypatch.setattr(subject_module, "load_model", small_model_instead)  # only the data side is under test here
    vit = wf.load_subject(
        dataset="waterbirds",
        dataset_root=waterbirds_root,
        dataset_options={"max_per_split": {"train": 2}},
        model_path=tiny_checkpoint,
        arch="vit_b_16",
    )
    assert vit.scenario.image_shape == (3, 224, 224)
    with pytest.raises(ValueError, match="exactly one of them"):
        wf.load_subject(scenario="colored-digits", dataset="celeba", dataset_root=waterbirds_root)
    with pytest.raises(ValueError, match="dataset 'celeba' needs its local root folder"):
        wf.load_subject(dataset="celeba")
