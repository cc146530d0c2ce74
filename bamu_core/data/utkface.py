"""``utkface-gender``: gender classification on UTKFace faces with one race x gender cell made rare.

UTKFace's aligned 200x200 face crops are read from a local folder (``meta.csv`` with columns
``path, age, gender, race`` and the images it names), decoded and resized once and cached as an
npz under ``BAMU_HOME/scenarios``. The 4 images labelled "black" are dropped, leaving four race
groups (white, asian, indian, other).

Splits are seeded, per race x gender cell: validation and test are **balanced** (the same number
of images in every cell), and the training split takes the rest, except that of the minority cell
(``female/white`` by default) it keeps only ``minority_share`` (5 %). A model trained on it calls
too many white women "male", so its test positive rate (class 1 = male) and its false-positive
rate differ between races: a demographic-parity and equalized-odds gap over ``race``. (Indian
women made rare instead, the small CNN still recognised most of them from the women of the other
races: its gap was within chance for one seed and small for another.)
:func:`check_bias` measures both gaps on the test split with bootstrap intervals and compares them
with a permutation estimate of how large they are by chance alone.

The measured numbers (baseline accuracy, gaps, intervals, training time) are written by
``benchmarks/utkface_bias.py`` to ``benchmarks/results/utkface_bias.md``.
"""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import BamuInputError
from ..storage import atomic_write, bamu_home, config_hash
from ._base import ImageData, Scenario
from .scenarios import register_scenario

__all__ = [
    "UTKFACE_GENDERS",
    "UTKFACE_RACES",
    "UTKFACE_MEAN",
    "UTKFACE_STD",
    "default_utkface_root",
    "utkface_split_paths",
    "BiasCheck",
    "check_bias",
    "bias_gaps",
]

UTKFACE_GENDERS = ["female", "male"]  # class ids: female 0, male 1 (the positive class)
UTKFACE_RACES = ["white", "asian", "indian", "other"]
# per-channel mean / std of the 7,672 kept images at 64 px, in [0, 1]
UTKFACE_MEAN = (0.646, 0.497, 0.430)
UTKFACE_STD = (0.242, 0.220, 0.219)
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 128
_CACHE_VERSION = 1
#: The baseline recipe: a small CNN from scratch (no downloads), a few minutes on two CPU cores.
UTKFACE_BASELINE = {"arch": "small_cnn", "epochs": 10, "lr": 3e-3, "batch_size": 64}


def default_utkface_root() -> Path | None:
    """``$BAMU_UTKFACE_ROOT``, else ``../shared/data/utkface`` beside the checkout or the cwd."""
    env = os.environ.get("BAMU_UTKFACE_ROOT")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2]
    for base in (here, Path.cwd()):
        candidate = base.parent / "shared" / "data" / "utkface"
        if candidate.is_dir():
            return candidate
    return None


def _missing(root) -> FileNotFoundError:
    where = f" (looked in {root})" if root is not None else ""
    return FileNotFoundError(
        f"utkface-gender needs UTKFace as <root>/meta.csv (columns path, age, gender, race) and the images it "
        f"names{where}; set BAMU_UTKFACE_ROOT or pass utkface_root"
    )


def _resolve_root(utkface_root) -> Path:
    root = Path(utkface_root) if utkface_root is not None else default_utkface_root()
    if root is None or not (root / "meta.csv").is_file():
        raise _missing(root)
    return root


def _read_meta(root: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Paths, gender ids and race ids of the rows with a kept race (file order)."""
    paths, genders, races = [], [], []
    with open(root / "meta.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"path", "gender", "race"} - set(reader.fieldnames or [])
        if missing:
            raise BamuInputError(f"{root / 'meta.csv'} lacks the column(s) {sorted(missing)}")
        for row in reader:
            race, gender = row["race"].strip().lower(), row["gender"].strip().lower()
            if race not in UTKFACE_RACES:
                continue  # "black": 4 images, too few for a group
            if gender not in UTKFACE_GENDERS:
                raise BamuInputError(f"{root / 'meta.csv'}: unknown gender {row['gender']!r} for {row['path']}")
            paths.append(row["path"])
            genders.append(UTKFACE_GENDERS.index(gender))
            races.append(UTKFACE_RACES.index(race))
    if not paths:
        raise _missing(root)
    return paths, np.asarray(genders, dtype=np.int64), np.asarray(races, dtype=np.int64)


def _decode(root: Path, paths: list[str], size: int) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, rel in enumerate(paths):
        path = root / rel
        if not path.is_file():
            raise FileNotFoundError(f"UTKFace image {path} named in meta.csv is missing")
        with Image.open(path) as im:
            im.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster
            out[i] = np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.uint8)
    return out.transpose(0, 3, 1, 2).copy()


def _cached_faces(root: Path, size: int) -> dict[str, np.ndarray]:
    """``images`` (N, 3, size, size) uint8, ``gender``, ``race`` and ``path``, decoded once and cached."""
    key = config_hash({"root": str(root.resolve()), "size": size, "v": _CACHE_VERSION})
    cache = bamu_home() / "scenarios" / f"utkface-{key}.npz"
    if cache.exists():
        try:
            with np.load(cache, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError):
            pass  # damaged cache entry: decode afresh
    paths, genders, races = _read_meta(root)
    arrays = {
        "images": _decode(root, paths, size),
        "gender": genders,
        "race": races,
        "path": np.asarray(paths, dtype=str),
    }

    def write(tmp: Path):
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    atomic_write(cache, write)
    return arrays


def _parse_cell(cell) -> tuple[int, int]:
    """``"female/indian"`` (either order) -> (race id, gender id)."""
    parts = [p.strip().lower() for p in str(cell).split("/")] if isinstance(cell, str) else []
    races = [p for p in parts if p in UTKFACE_RACES]
    genders = [p for p in parts if p in UTKFACE_GENDERS]
    if len(parts) != 2 or len(races) != 1 or len(genders) != 1:
        raise BamuInputError(
            f"minority_cell must be 'gender/race' with gender one of {UTKFACE_GENDERS} and race one of "
            f"{UTKFACE_RACES}, e.g. 'female/indian'; got {cell!r}"
        )
    return UTKFACE_RACES.index(races[0]), UTKFACE_GENDERS.index(genders[0])


def _int_option(name: str, value, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise BamuInputError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise BamuInputError(f"{name} must be {bound}, got {value}")
    return int(value)


@dataclass(frozen=True)
class _Options:
    image_size: int
    minority: tuple[int, int]  # (race id, gender id)
    minority_share: float
    val_per_cell: int
    test_per_cell: int
    max_train_per_cell: int | None
    seed: int


def _check_options(
    *, image_size, minority_cell, minority_share, val_per_cell, test_per_cell, max_train_per_cell, seed
) -> _Options:
    size = _int_option("image_size", image_size, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)
    minority = _parse_cell(minority_cell)
    try:
        share = float(minority_share)
    except (TypeError, ValueError):
        raise BamuInputError(f"minority_share must be a number in [0, 1], got {minority_share!r}") from None
    if isinstance(minority_share, bool) or not 0.0 <= share <= 1.0:
        raise BamuInputError(f"minority_share must be in [0, 1] (the share of that cell kept), got {minority_share!r}")
    val = _int_option("val_per_cell", val_per_cell, 1)
    test = _int_option("test_per_cell", test_per_cell, 1)
    cap = None if max_train_per_cell is None else _int_option("max_train_per_cell", max_train_per_cell, 1)
    return _Options(size, minority, share, val, test, cap, _int_option("seed", seed, 0))


def _split_indices(race: np.ndarray, gender: np.ndarray, opts: _Options) -> tuple[dict[str, np.ndarray], dict]:
    """Seeded indices of every split and the training pool of the minority cell.

    In every race x gender cell (shuffled with the seed): the first ``test_per_cell`` images go to
    test, the next ``val_per_cell`` to validation, the rest form the cell's training pool (capped at
    ``max_train_per_cell``); of the minority cell's pool only ``round(minority_share * pool)``
    images are kept.
    """
    rng = np.random.default_rng(opts.seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    smallest = None
    pool_of_minority = 0
    for r in range(len(UTKFACE_RACES)):
        for g in range(len(UTKFACE_GENDERS)):
            members = rng.permutation(np.flatnonzero((race == r) & (gender == g)))
            need = opts.test_per_cell + opts.val_per_cell
            if smallest is None or len(members) < smallest[0]:
                smallest = (len(members), f"{UTKFACE_GENDERS[g]}/{UTKFACE_RACES[r]}")
            if len(members) <= need:
                raise BamuInputError(
                    f"val_per_cell + test_per_cell = {need}, but the cell {UTKFACE_GENDERS[g]}/{UTKFACE_RACES[r]} "
                    f"has only {len(members)} images; give fewer per cell so that every cell keeps training images"
                )
            parts["test"].append(members[: opts.test_per_cell])
            parts["val"].append(members[opts.test_per_cell : need])
            pool = members[need:]
            if opts.max_train_per_cell is not None:
                pool = pool[: opts.max_train_per_cell]
            if (r, g) == opts.minority:
                pool_of_minority = len(pool)
                pool = pool[: int(round(opts.minority_share * len(pool)))]
            parts["train"].append(pool)
    out = {split: np.sort(np.concatenate(chunks)) for split, chunks in parts.items()}
    return out, {"minority_pool": pool_of_minority, "smallest_cell": smallest}


def utkface_split_paths(
    *,
    utkface_root: str | os.PathLike | None = None,
    minority_cell: str = "female/white",
    minority_share: float = 0.05,
    val_per_cell: int = 50,
    test_per_cell: int = 100,
    max_train_per_cell: int | None = None,
    seed: int = 0,
) -> dict[str, list[str]]:
    """The image paths (relative to the root, as in ``meta.csv``) of every split of ``utkface-gender``
    with these options, in the order of the scenario's images; reads only ``meta.csv``."""
    root = _resolve_root(utkface_root)
    opts = _check_options(
        image_size=MIN_IMAGE_SIZE,
        minority_cell=minority_cell,
        minority_share=minority_share,
        val_per_cell=val_per_cell,
        test_per_cell=test_per_cell,
        max_train_per_cell=max_train_per_cell,
        seed=seed,
    )
    paths, gender, race = _read_meta(root)
    idx, _ = _split_indices(race, gender, opts)
    return {split: [paths[i] for i in ids] for split, ids in idx.items()}


def _cell_counts(race: np.ndarray, gender: np.ndarray) -> np.ndarray:
    table = np.zeros((len(UTKFACE_RACES), len(UTKFACE_GENDERS)), dtype=np.int64)
    np.add.at(table, (race, gender), 1)
    return table


@register_scenario(
    "utkface-gender",
    "UTKFace faces (local folder): predict gender; white women are rare in training, race is the group",
)
def utkface_gender(
    *,
    utkface_root: str | os.PathLike | None = None,
    image_size: int = 64,
    minority_cell: str = "female/white",
    minority_share: float = 0.05,
    val_per_cell: int = 50,
    test_per_cell: int = 100,
    max_train_per_cell: int | None = None,
    seed: int = 0,
) -> Scenario:
    """Build the ``utkface-gender`` scenario.

    Parameters
    ----------
    utkface_root : path, optional
        Folder with ``meta.csv`` and the images (default: ``$BAMU_UTKFACE_ROOT``, else
        ``../shared/data/utkface`` beside the checkout or the working directory).
    image_size : int, default 64
        Images are resized to ``image_size`` x ``image_size`` (16..128).
    minority_cell : str, default "female/white"
        The gender/race cell made rare in training.
    minority_share : float, default 0.05
        Share of that cell's training pool kept in training (0 removes it, 1 keeps it all).
    val_per_cell, test_per_cell : int, default 50 and 100
        Images per race x gender cell in the balanced validation and test splits.
    max_train_per_cell : int, optional
        Cap on each cell's training pool (before the minority subsample), for quick runs.
    seed : int, default 0
        Seeds the split and the minority subsample.
    """
    opts = _check_options(
        image_size=image_size,
        minority_cell=minority_cell,
        minority_share=minority_share,
        val_per_cell=val_per_cell,
        test_per_cell=test_per_cell,
        max_train_per_cell=max_train_per_cell,
        seed=seed,
    )
    root = _resolve_root(utkface_root)
    arrays = _cached_faces(root, opts.image_size)
    race, gender = arrays["race"].astype(np.int64), arrays["gender"].astype(np.int64)
    idx, info = _split_indices(race, gender, opts)
    splits = {}
    for split, ids in idx.items():
        splits[split] = ImageData(
            images=torch.as_tensor(arrays["images"][ids]),
            labels=gender[ids],
            attrs={"race": race[ids], "gender": gender[ids]},
            group_names={"race": list(UTKFACE_RACES), "gender": list(UTKFACE_GENDERS)},
            group_attr="race",
            mean=UTKFACE_MEAN,
            std=UTKFACE_STD,
        )
    r_min, g_min = opts.minority
    cell_name = f"{UTKFACE_GENDERS[g_min]}/{UTKFACE_RACES[r_min]}"
    train_counts = _cell_counts(race[idx["train"]], gender[idx["train"]])
    kept = int(train_counts[r_min, g_min])
    per_cell = ", ".join(
        f"{UTKFACE_GENDERS[g]}/{UTKFACE_RACES[r]} {train_counts[r, g]:,}"
        for r in range(len(UTKFACE_RACES))
        for g in range(len(UTKFACE_GENDERS))
    )
    bias = (
        f"Predict gender (male is the positive class) from {opts.image_size}x{opts.image_size} faces; groups are "
        f"race. Training keeps {kept:,} of the {info['minority_pool']:,} {cell_name} images it could have "
        f"({opts.minority_share:.0%}); training images per gender/race cell: {per_cell} ({len(idx['train']):,} in "
        f"all). Validation and test are balanced: {opts.val_per_cell} and {opts.test_per_cell} images in every "
        f"cell. A model that rarely saw {cell_name} faces misclassifies them, so its rate of predicting male and "
        "its error rates differ between races."
    )
    return Scenario(
        name="utkface-gender",
        title=f"UTKFace gender with few {cell_name} training faces",
        bias=bias,
        class_names=list(UTKFACE_GENDERS),
        mean=UTKFACE_MEAN,
        std=UTKFACE_STD,
        default_arch=UTKFACE_BASELINE["arch"],
        bias_attr="race",
        baseline=dict(UTKFACE_BASELINE),
        options={
            "utkface_root": str(root),
            "image_size": opts.image_size,
            "minority_cell": cell_name,
            "minority_share": opts.minority_share,
            "val_per_cell": opts.val_per_cell,
            "test_per_cell": opts.test_per_cell,
            "max_train_per_cell": opts.max_train_per_cell,
            "seed": opts.seed,
        },
        **splits,
    )


# --------------------------------------------------------------------------------------------
# is the bias real?
# --------------------------------------------------------------------------------------------


def bias_gaps(y_true, y_pred, groups, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Binary demographic-parity and equalized-odds differences for one or many group assignments.

    ``groups`` is (n,) or (m, n) group ids; returns two arrays of shape (m,) (or scalars' arrays
    of shape (1,)). Rates of a group without positives / negatives are 0 (Fairlearn's convention),
    as in :mod:`bamu_core.metrics`.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    g = np.atleast_2d(np.asarray(groups, dtype=np.int64))
    m = g.shape[0]
    offs = g + n_groups * np.arange(m)[:, None]  # a distinct bin per (assignment, group)

    def count(mask):
        return np.bincount(offs[:, mask].ravel(), minlength=m * n_groups).reshape(m, n_groups).astype(float)

    size = count(np.ones_like(y_true, dtype=bool))
    pos_pred = count(y_pred == 1)
    pos = count(y_true == 1)
    neg = size - pos
    tp = count((y_true == 1) & (y_pred == 1))
    fp = pos_pred - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(size > 0, pos_pred / size, 0.0)
        tpr = np.where(pos > 0, tp / np.maximum(pos, 1), 0.0)
        fpr = np.where(neg > 0, fp / np.maximum(neg, 1), 0.0)

    def spread(a):
        return a.max(axis=1) - a.min(axis=1)

    return spread(rate), np.maximum(spread(tpr), spread(fpr))


@dataclass
class BiasCheck:
    """The test-split bias of a model over one group attribute, against chance.

    ``dp`` / ``eo``: demographic-parity and equalized-odds differences (class 1 positive) with
    bootstrap intervals ``*_ci`` (group-stratified, :func:`bamu_core.metrics.audit_metrics`);
    ``*_null``: the ``level`` quantile of the same gap when the group labels are permuted within
    each true class (what chance alone gives on a test split of this size); ``*_p``: the share of
    permutations with a gap at least as large as observed. ``beyond_noise``: some gap exceeds its
    null quantile (its p-value is below ``1 - level``).
    """

    attr: str
    n_test: int
    accuracy: float
    group_accuracy: dict[str, float]
    cell_accuracy: dict[str, float]
    dp: float
    dp_ci: tuple[float, float]
    dp_null: float
    dp_p: float
    eo: float
    eo_ci: tuple[float, float]
    eo_null: float
    eo_p: float
    level: float
    beyond_noise: bool

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        verdict = "beyond noise" if self.beyond_noise else "within noise"
        return (
            f"accuracy {self.accuracy:.3f}; {self.attr} DP {self.dp:.3f} [{self.dp_ci[0]:.3f}, {self.dp_ci[1]:.3f}] "
            f"(chance {self.dp_null:.3f}, p={self.dp_p:.3f}); EO {self.eo:.3f} [{self.eo_ci[0]:.3f}, "
            f"{self.eo_ci[1]:.3f}] (chance {self.eo_null:.3f}, p={self.eo_p:.3f}): {verdict}"
        )


def check_bias(
    model: torch.nn.Module,
    scenario: Scenario,
    *,
    attr: str | None = None,
    split: str = "test",
    n_boot: int = 1000,
    n_perm: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> BiasCheck:
    """Measure a binary classifier's DP / EO gap over ``attr`` (default: the scenario's bias
    attribute) on ``split`` and whether it is larger than chance (see :class:`BiasCheck`)."""
    from ..metrics import audit_metrics
    from ..training import predict

    if scenario.num_classes != 2:
        raise BamuInputError(f"check_bias needs two classes; {scenario.name!r} has {scenario.num_classes}")
    if split not in ("train", "val", "test"):
        raise BamuInputError(f"split must be train, val or test, got {split!r}")
    _perm = _int_option("n_perm", n_perm, 1)
    data: ImageData = getattr(scenario, split)
    attr = attr or scenario.bias_attr or data.group_attr
    data = data.with_group(attr)
    y_true = data.labels
    y_pred = predict(model, data, device=device).argmax(1).numpy()
    groups = data.groups
    names = data.group_names[attr]
    audit = audit_metrics(
        y_true=y_true, y_pred=y_pred, groups=groups, group_names=names, num_classes=2, n_boot=n_boot, seed=seed
    )
    fair, ci = audit["fairness"], audit["fairness_ci"]

    rng = np.random.default_rng(seed + 1)
    perms = np.empty((_perm, len(groups)), dtype=np.int64)
    for c in (0, 1):  # permute group labels within each true class: no link between group and prediction
        members = np.flatnonzero(y_true == c)
        perms[:, members] = rng.permuted(np.broadcast_to(groups[members], (_perm, len(members))), axis=1)
    null_dp, null_eo = bias_gaps(y_true, y_pred, perms, len(names))
    dp, eo = float(fair["demographic_parity_difference"]), float(fair["equalized_odds_difference"])
    dp_p = float((np.sum(null_dp >= dp - 1e-12) + 1) / (_perm + 1))
    eo_p = float((np.sum(null_eo >= eo - 1e-12) + 1) / (_perm + 1))

    correct = y_true == y_pred
    cells = {}
    if "gender" in data.attrs and attr != "gender":
        gnames = data.group_names["gender"]
        for gi, gname in enumerate(names):
            for si, sname in enumerate(gnames):
                mask = (groups == gi) & (data.attrs["gender"] == si)
                if mask.any():
                    cells[f"{sname}/{gname}"] = float(correct[mask].mean())

    def interval(key):
        box = ci.get(key) or {}
        return tuple(np.nan if box.get(end) is None else float(box[end]) for end in ("low", "high"))

    return BiasCheck(
        attr=attr,
        n_test=len(y_true),
        accuracy=float(audit["utility"]["accuracy"]),
        group_accuracy={row["group"]: float(row["accuracy"]) for row in audit["groups"]},
        cell_accuracy=cells,
        dp=dp,
        dp_ci=interval("demographic_parity_difference"),
        dp_null=float(np.quantile(null_dp, level)),
        dp_p=dp_p,
        eo=eo,
        eo_ci=interval("equalized_odds_difference"),
        eo_null=float(np.quantile(null_eo, level)),
        eo_p=eo_p,
        level=level,
        beyond_noise=bool(min(dp_p, eo_p) < 1 - level),
    )
