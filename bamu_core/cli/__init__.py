"""``bamu``: the workflows without the dashboard (also ``python -m bamu_core``)."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

from ..errors import USER_ERRORS
from ._common import _add_mkdir_option, _check_output, _one_line, _Parser
from ._subject import _add_subject_options
from .audit import _add_audit_options, _cmd_archs, _cmd_audit, _cmd_scenarios
from .runs import _add_run_commands, _cmd_report, _cmd_runs, _cmd_sweep
from .unlearn import _add_unlearn_command, _cmd_unlearn

__all__ = ["main"]

_COMMANDS = {
    "scenarios": _cmd_scenarios,
    "archs": _cmd_archs,
    "audit": _cmd_audit,
    "unlearn": _cmd_unlearn,
    "runs": _cmd_runs,
    "report": _cmd_report,
    "sweep": _cmd_sweep,
}


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bamu", description="Bias-aware machine unlearning for vision models.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scenarios", help="list built-in scenarios")
    s.add_argument("--json", dest="json_path", help="also write the list as JSON to this file")
    _add_mkdir_option(s)
    a = sub.add_parser("archs", help="list model architectures")
    a.add_argument("--json", dest="json_path", help="also write the list as JSON to this file")
    _add_mkdir_option(a)
    au = sub.add_parser("audit", help="per-group accuracy and fairness gaps of a model")
    _add_subject_options(au)
    _add_audit_options(au)
    _add_run_commands(sub)
    _add_unlearn_command(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code. A failed command removes the (still empty) folders
    that its output checks created (``--mkdir``, a new gallery or sweep folder)."""
    from ..storage import track_created_folders

    args = _parser().parse_args(argv)
    with track_created_folders() as created:
        code = 1
        try:
            code = _run(args)
        finally:
            if code != 0:
                created.rollback()
    return code


def _run(args) -> int:
    import warnings

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"bamu {args.command}: warning: {_one_line(message)}", file=sys.stderr, flush=True)

    args.outputs_taken = {}  # output paths of this command -> their flag (two outputs at one path are refused)
    try:
        with warnings.catch_warnings():  # restores the warning display on the way out
            warnings.showwarning = show_warning
            json_path = _check_output(args, getattr(args, "json_path", None), "--json", taken=args.outputs_taken)
            result = _COMMANDS[args.command](args)
        if json_path is not None:
            from ..storage import atomic_write_json

            _check_output(args, json_path, "--json")  # again: something may have appeared there meanwhile
            atomic_write_json(Path(json_path), result, mkdir=False)
        sys.stdout.flush()  # a full disk under a redirected stdout is an error here, not at exit
    except (
        USER_ERRORS
    ) as exc:  # the user's to fix: one line, exit code 2; anything else is a bug and keeps its traceback
        _quiet_stdout(exc)
        print(f"bamu {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:
        print(f"bamu {args.command}: error: {_sqlite_message(exc)}", file=sys.stderr)
        return 2 if _environmental(exc) else 1
    except MemoryError as exc:
        print(
            f"bamu {args.command}: error: out of memory: {_one_line(exc) or 'use a smaller dataset or image size'}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print(f"bamu {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


def _environmental(exc: sqlite3.Error) -> bool:
    """A run-store error the user's environment causes (disk full or read-only, a lock, a damaged file)."""
    return type(exc) in (sqlite3.OperationalError, sqlite3.DatabaseError)


def _sqlite_message(exc: sqlite3.Error) -> str:
    """One line for an error of the run store's database, with what to check."""
    from ..storage import _home_path

    where = _home_path() / "runs" / "runs.sqlite3"
    text = _one_line(exc) or type(exc).__name__
    if not _environmental(exc):
        return f"run store {where}: unexpected database error ({type(exc).__name__}: {text})"
    low = text.lower()
    if "locked" in low or "busy" in low:
        advice = "another bamu process holds it; wait for it to finish and try again"
    elif "not a database" in low or "malformed" in low:
        advice = "the file is damaged; move it aside (its runs are lost) or set BAMU_HOME to another folder"
    else:
        advice = "check that the disk has free space and BAMU_HOME is writable (or set BAMU_HOME to another folder)"
    return f"run store {where}: {text}; {advice}"


def _quiet_stdout(exc: BaseException) -> None:
    """After stdout itself failed (e.g. redirected to a full disk), send what is left to /dev/null
    so that the interpreter's own flush at exit does not print a second error."""
    if not isinstance(exc, OSError):
        return
    try:
        sys.stdout.flush()
    except OSError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
