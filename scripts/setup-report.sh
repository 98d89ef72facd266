#!/usr/bin/env bash
# Installs what the Allure HTML report needs, idempotently: Allure's own release from the npm
# registry under .synthmon/tools (not global; Java and npm from Debian when missing), and
# Debian's chromium for the report's browser test. Usage: scripts/setup-report.sh [allure] [chromium]
# (default: both). Prints "allure: PATH" for the allure command it set up.
set -euo pipefail
cd "$(dirname "$0")/.."

ALLURE_VERSION=2.46.1
TOOLS=.synthmon/tools/allure-$ALLURE_VERSION
ALLURE=$TOOLS/node_modules/allure-commandline/dist/bin/allure
what=("$@")
[ ${#what[@]} -gt 0 ] || what=(allure chromium)

for part in "${what[@]}"; do
  case "$part" in
    allure|chromium) ;;
    *) echo "setup-report: unknown part '$part' (expected allure or chromium)" >&2; exit 2 ;;
  esac
done
# Java and npm for Allure's release, Debian's chromium for the report's browser test
scripts/apt.sh report

for part in "${what[@]}"; do
  if [ "$part" = allure ]; then
    if [ ! -x "$ALLURE" ]; then
      echo "setup-report: installing allure-commandline@$ALLURE_VERSION from npm into $TOOLS" >&2
      mkdir -p "$TOOLS"
      npm install --prefix "$TOOLS" --no-audit --no-fund --no-save --no-package-lock \
        --loglevel=error "allure-commandline@$ALLURE_VERSION" >&2
    fi
    echo "allure: $PWD/$ALLURE"
  fi
done
