#!/usr/bin/env bash
# bamu launcher.
#   ./run.sh [OPTS]     set up .venv on first use, then start the dashboard on the built-in demo
#                       (OPTS go to streamlit, e.g. --server.port 8502; requests naming a Host other
#                       than localhost or one in BAMU_ALLOWED_HOSTS are refused: dashboard/host_check.py)
#   ./run.sh test [ARGS] set up .venv on first use, then run the test suite (ARGS go to pytest)
#   ./run.sh lint       ruff: lint rules and formatting (configured in pyproject.toml)
#   ./run.sh bamu ARGS  run the command-line tool inside .venv
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ] || [ requirements.txt -nt .venv/.bamu-installed ] || [ pyproject.toml -nt .venv/.bamu-installed ]; then
  echo "setting up .venv (first run takes a few minutes) ..." >&2
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  .venv/bin/python -m pip install -q --no-deps -e .
  touch .venv/.bamu-installed
fi
cmd=app
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then  # a first argument not starting with '-' names the command
  cmd=$1
  shift
fi
case "$cmd" in
  app)  exec .venv/bin/python -m dashboard.host_check run app.py "$@" ;;  # refuses other Host names
  test) exec .venv/bin/python -m pytest -ra --durations=15 "$@" ;;
  lint) .venv/bin/ruff check . && exec .venv/bin/ruff format --check . ;;
  bamu) exec .venv/bin/bamu "$@" ;;
  *) echo "usage: ./run.sh [app|test|lint|bamu] [ARGS...]" >&2; exit 2 ;;
esac
