"""Errors a user can fix by changing their input.

Front ends (the CLI, the dashboard's job runner and its pages) catch :class:`BamuInputError` in
one place each and show its message as one line; every other exception is a bug and keeps its
traceback. It subclasses ``ValueError`` so that callers that already catch ``ValueError`` keep
working.
"""

from __future__ import annotations

__all__ = ["BamuInputError", "USER_ERRORS"]


class BamuInputError(ValueError):
    """Bad input that the user can fix: the message says what is wrong and what to change."""


#: What a front end reports as one line instead of a traceback: bad input, and the operating
#: system's refusals about files the user named (missing, a folder, no permission, disk full).
USER_ERRORS: tuple[type[BaseException], ...] = (BamuInputError, OSError)
