#!/usr/bin/env bash
# Installs what synthmon needs on Debian/Ubuntu, idempotently: the stack's Debian packages
# (scripts/packages.txt, only those missing; SYNTHMON_SETUP_PURPOSES adds other sets, e.g.
# "test") and the Python packages into .venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/apt.sh stack ${SYNTHMON_SETUP_PURPOSES:-}

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "setup: synthmon needs Python >= 3.11, found $(python3 --version)" >&2; exit 1; }

stamp=.venv/.synthmon-installed
examples=(examples/*/requirements.txt)
stale=""
for input in pyproject.toml "${examples[@]}"; do [ "$input" -nt "$stamp" ] && stale=1; done
if [ ! -f "$stamp" ] || [ -n "$stale" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1
  .venv/bin/python -m pip install -q -e '.[dev]' >.venv/pip-install.log 2>&1 || {
    cat .venv/pip-install.log >&2; echo "setup: pip install failed (log above)" >&2; exit 1; }
  # the examples' own dependencies (their services), which synthmon does not declare
  .venv/bin/python -m pip install -q $(printf -- '-r %s ' "${examples[@]}") >>.venv/pip-install.log 2>&1 || {
    cat .venv/pip-install.log >&2; echo "setup: pip install failed (log above)" >&2; exit 1; }
  touch "$stamp"
fi
