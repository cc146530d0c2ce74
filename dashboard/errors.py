"""Which exceptions the dashboard shows as the user's to fix, and how it words an exception.

Pages catch :data:`USER_ERRORS` where an input is used; anything else reaches
:func:`dashboard.widgets.page_failed` (logged with its traceback, shown as unexpected).
"""

from __future__ import annotations

import zipfile

from bamu_core.errors import USER_ERRORS as _LIBRARY_USER_ERRORS

__all__ = ["USER_ERRORS", "user_message"]

#: The library's user errors (``BamuInputError``, ``OSError``) and a corrupt zip upload. Any other
#: exception is a bug: it is logged with its traceback and shown as unexpected.
USER_ERRORS: tuple[type[BaseException], ...] = (*_LIBRARY_USER_ERRORS, zipfile.BadZipFile)


def user_message(exc: BaseException, *, doing: str = "") -> str:
    """An exception as a sentence for ``st.error``: what went wrong and what to do, no traceback."""
    prefix = f"Could not {doing}: " if doing else ""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, USER_ERRORS):
        hint = ""
        if isinstance(exc, FileNotFoundError):
            hint = " Check the path (it is read on the machine running the dashboard)."
        return f"{prefix}{text}.{hint}".replace("..", ".")
    if isinstance(exc, MemoryError):
        return f"{prefix}the computer ran out of memory. Use a smaller dataset or image size, or a GPU."
    return (
        f"{prefix}an unexpected error happened ({type(exc).__name__}: {text}). "
        "Try again; if it keeps happening, report it with the steps that led here."
    )
