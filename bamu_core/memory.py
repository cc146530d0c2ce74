"""Running out of accelerator memory: recognise it, free the cache, continue with a smaller batch.

Inference (:func:`bamu_core.training.predict`), training (:func:`bamu_core.training.fit`) and the
unlearning loop catch an out-of-memory error, halve their batch size, warn with
:class:`BatchSizeWarning` and carry on from the batch that failed. Only when a single image does
not fit do they give up, with a :class:`MemoryError` that says what to change.
"""

from __future__ import annotations

import gc
import warnings

import torch

__all__ = ["BatchSizeWarning", "is_out_of_memory", "smaller_batch"]

# what allocators say when they fail: CUDA (torch.OutOfMemoryError), MPS, the CPU allocator
_MESSAGES = ("out of memory", "can't allocate memory")


class BatchSizeWarning(UserWarning):
    """A computation ran out of memory and continues with a smaller batch."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocator's out-of-memory error (CUDA, MPS or CPU)."""
    if isinstance(exc, torch.OutOfMemoryError):  # torch.cuda.OutOfMemoryError is this class
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _MESSAGES)


def smaller_batch(batch_size: int, *, where: str) -> int:
    """Half of ``batch_size`` (at least 1) after freeing cached memory, with a :class:`BatchSizeWarning`.

    Call it after leaving the ``except`` block of the out-of-memory error, so that the failed
    step's tensors can be freed.

    Raises
    ------
    MemoryError
        ``batch_size`` is already 1: even one image does not fit.
    """
    if batch_size <= 1:
        raise MemoryError(
            f"{where}: out of memory even with one image per batch; use a smaller image size or model, "
            "free the device (other programs may hold its memory) or run on another device"
        )
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    new = max(1, int(batch_size) // 2)
    message = f"{where}: out of memory with batch size {batch_size}; continuing with batch size {new}"
    warnings.warn(message, BatchSizeWarning, stacklevel=3)
    return new
