"""Looking at a subject before and after acting on it: sample images of a group, the forget set a
strategy would select, a Grad-CAM gallery per group, and a checkpoint's weights read safely."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import BamuInputError

__all__ = ["sample_images", "preview_forget", "gallery", "checkpoint_tensors"]


def sample_images(data, *, group: int | None, k: int = 6, seed: int = 0) -> list:
    """Up to ``k`` images (H x W x C uint8 arrays) of ``group`` under the data's active group
    attribute (None: any group), drawn with ``seed``."""
    import numpy as np
    import torch

    if k < 1:
        raise BamuInputError(f"k must be >= 1, got {k}")
    members = np.arange(len(data)) if group is None else np.flatnonzero(data.groups == group)
    if len(members) == 0:
        return []
    chosen = np.sort(np.random.default_rng(seed).choice(members, size=min(k, len(members)), replace=False))
    u8 = data.images_u8.index_select(0, torch.as_tensor(np.asarray(chosen, dtype=np.int64)))
    return [img.permute(1, 2, 0).numpy() for img in u8]


def preview_forget(subject, strategy: str, **options):
    """The forget set ``strategy`` selects from the subject's training split (with the subject's
    model for model-based strategies), as :func:`bamu_core.forget.select_forget` returns it.

    Raises ``ValueError`` when the selection is empty or the options do not fit the strategy.
    """
    from ..forget import select_forget

    return select_forget(subject.scenario, strategy, model=subject.model, **options)


def gallery(
    subject,
    *,
    k: int,
    rule: str,
    seed: int = 0,
    region: Sequence[int] | None = None,
    model=None,
):
    """A Grad-CAM gallery (:func:`bamu_core.explain.group_gallery`) of ``k`` test images per group
    chosen by ``rule``, for the subject's model or ``model`` (e.g. an unlearned one)."""
    from ..explain import group_gallery

    sc = subject.scenario
    return group_gallery(
        subject.model if model is None else model,
        sc.test,
        k=k,
        rule=rule,
        seed=seed,
        region=region,
        class_names=sc.class_names,
    )


def checkpoint_tensors(path: str | Path) -> int:
    """How many tensors the checkpoint at ``path`` holds, read as weights only (never unpickled).

    Raises ``ValueError`` (or ``FileNotFoundError``) with what is wrong with the file.
    """
    from ..models import read_state_dict

    return len(read_state_dict(path))
