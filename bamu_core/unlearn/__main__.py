"""``python -m bamu_core.unlearn [PATH]``: write the hyper-parameter reference (Markdown) to PATH
(e.g. ``docs/hyperparameters.md``), or print it."""

from __future__ import annotations

import sys
from pathlib import Path

from ._intensity import hyperparameters_markdown


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = hyperparameters_markdown()
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
