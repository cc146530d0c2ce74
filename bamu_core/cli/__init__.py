"""``bamu``: the workflows without the dashboard (also ``python -m bamu_core``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import USER_ERRORS
from ._common import _one_line, _Parser
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
    s.add_argument("--json", dest="json_path")
    a = sub.add_parser("archs", help="list model architectures")
    a.add_argument("--json", dest="json_path")
    au = sub.add_parser("audit", help="per-group accuracy and fairness gaps of a model")
    _add_subject_options(au)
    _add_audit_options(au)
    _add_run_commands(sub)
    _add_unlearn_command(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    import warnings

    args = _parser().parse_args(argv)

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"bamu {args.command}: warning: {_one_line(message)}", file=sys.stderr, flush=True)

    try:
        with warnings.catch_warnings():  # restores the warning display on the way out
            warnings.showwarning = show_warning
            result = _COMMANDS[args.command](args)
        if getattr(args, "json_path", None):
            from ..storage import atomic_write_json

            atomic_write_json(Path(args.json_path), result)
    except (
        USER_ERRORS
    ) as exc:  # the user's to fix: one line, exit code 2; anything else is a bug and keeps its traceback
        print(f"bamu {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
