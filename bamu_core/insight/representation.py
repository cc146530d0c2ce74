"""Representation views: linear CKA per block between two models, and a 2-D projection of embeddings.

Linear CKA (Kornblith et al., 2019) compares two sets of features of the same images,
``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with ``Xc``, ``Yc`` column-centred: 1 when one
is a rotation and scaling of the other, near 0 for unrelated features. A block's features are its
output averaged over space (or tokens), see :func:`bamu_core.insight._features.pooled`.
"""

from __future__ import annotations

import time
from typing import Mapping, Sequence

import numpy as np

from ..errors import BamuInputError
from ..results import BlockSimilarity, Projection, Representation
from ._features import small_blas

__all__ = ["linear_cka", "project", "representation", "representation_reading"]


def linear_cka(x, y) -> float:
    """Linear CKA of ``x`` (n, p) and ``y`` (n, q); 0 when either has no variance."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or len(a) != len(b):
        raise BamuInputError(f"CKA needs two (n, d) arrays of the same images, got {a.shape} and {b.shape}")
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    # with more features than images, the n x n Gram form is cheaper and the same number
    if a.shape[1] + b.shape[1] > 2 * len(a):
        ka, kb = a @ a.T, b @ b.T
        cross, na, nb = (ka * kb).sum(), np.linalg.norm(ka), np.linalg.norm(kb)
    else:
        cross = np.linalg.norm(b.T @ a) ** 2
        na, nb = np.linalg.norm(a.T @ a), np.linalg.norm(b.T @ b)
    if na == 0 or nb == 0:
        return 0.0
    return float(cross / (na * nb))


def project(
    embeddings: Mapping[str, np.ndarray], *, method: str = "pca", seed: int = 0
) -> tuple[str, dict[str, np.ndarray], dict[str, list[float]]]:
    """2-D coordinates of each model's embeddings (one projection fitted per model, on standardised
    features). ``method`` ``"umap"`` uses umap-learn when importable, else PCA."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    if method not in ("pca", "umap"):
        raise BamuInputError(f"projection method must be pca or umap, got {method!r}")
    if method == "umap":
        try:
            import umap  # noqa: F401
        except ImportError:
            method = "pca"
    coords, explained = {}, {}
    for name, x in embeddings.items():
        z = StandardScaler().fit_transform(np.asarray(x, dtype=np.float64))
        if method == "umap":
            import umap

            coords[name] = umap.UMAP(n_components=2, random_state=seed).fit_transform(z)
            explained[name] = []
        else:
            pca = PCA(n_components=2, random_state=seed).fit(z)
            coords[name] = pca.transform(z)
            ratio = pca.explained_variance_ratio_
            explained[name] = [round(float(v), 4) for v in ratio] if np.isfinite(ratio).all() else []
        coords[name] = np.nan_to_num(np.asarray(coords[name], dtype=np.float64))
    return method, coords, explained


def representation_reading(result: Representation) -> str:
    vals = [(b.block, b.unlearned) for b in result.blocks if b.unlearned is not None]
    if not vals:
        return "no block could be compared"
    low_block, low = min(vals, key=lambda t: t[1])
    last_block, last = vals[-1]
    if low >= 0.95:
        return (
            f"the unlearned model's internal representations are almost unchanged (CKA >= {low:.3f} in every "
            "block): the change sits near the output"
        )
    return (
        f"the representations moved most in {low_block} (CKA {low:.2f} with the original; 1 = unchanged); "
        f"the last block {last_block} is at {last:.2f}"
    )


def representation(
    original_blocks: Mapping[str, np.ndarray],
    unlearned_blocks: Mapping[str, np.ndarray],
    *,
    oracle_blocks: Mapping[str, np.ndarray] | None = None,
    embeddings: Mapping[str, np.ndarray] | None = None,
    groups: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
    indices: Sequence[int] | None = None,
    max_points: int = 1000,
    method: str = "pca",
    split: str = "test",
    seed: int = 0,
) -> Representation:
    """CKA per block (blocks both models have, in the original's order) and, with ``embeddings``
    (model name -> (n, d)), a 2-D projection of up to ``max_points`` of them (a seeded sample)
    with each point's group and class name."""
    start = time.perf_counter()
    with small_blas():
        return _representation(
            original_blocks,
            unlearned_blocks,
            oracle_blocks=oracle_blocks,
            embeddings=embeddings,
            groups=groups,
            classes=classes,
            indices=indices,
            max_points=max_points,
            method=method,
            split=split,
            seed=seed,
            start=start,
        )


def _representation(
    original_blocks,
    unlearned_blocks,
    *,
    oracle_blocks,
    embeddings,
    groups,
    classes,
    indices,
    max_points,
    method,
    split,
    seed,
    start,
) -> Representation:
    blocks = []
    n = 0
    for name, x in original_blocks.items():
        if name not in unlearned_blocks:
            continue
        n = len(x)
        row = BlockSimilarity(block=name, dim=int(x.shape[1]), unlearned=linear_cka(x, unlearned_blocks[name]))
        if oracle_blocks is not None and name in oracle_blocks:
            row.oracle = linear_cka(x, oracle_blocks[name])
        blocks.append(row)
    proj = None
    if embeddings:
        size = len(next(iter(embeddings.values())))
        keep = np.arange(size)
        if size > max_points:
            keep = np.sort(np.random.default_rng(seed).choice(size, size=max_points, replace=False))
        used, coords, explained = project({k: v[keep] for k, v in embeddings.items()}, method=method, seed=seed)
        ids = np.asarray(indices if indices is not None else np.arange(size))[keep]
        proj = Projection(
            method=used,
            indices=[int(i) for i in ids],
            groups=[groups[i] for i in keep] if groups is not None else [],
            classes=[classes[i] for i in keep] if classes is not None else [],
            coordinates={k: np.round(v, 4).tolist() for k, v in coords.items()},
            explained_variance=explained,
        )
    result = Representation(blocks=blocks, projection=proj, n=n, split=split)
    result.reading = representation_reading(result)
    result.seconds = time.perf_counter() - start
    return result
