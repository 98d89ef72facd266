#!/usr/bin/env bash
# Installs what synthmon needs on Debian/Ubuntu, idempotently: the stack's Debian packages
# (only those missing) and the Python packages into .venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
have_pg() { compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || command -v postgres >/dev/null; }
have_pg || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v prometheus >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v prometheus-pushgateway >/dev/null || command -v pushgateway >/dev/null || missing+=(prometheus-pushgateway)
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
for extra in ${SYNTHMON_EXTRA_PACKAGES:-}; do command -v "$extra" >/dev/null || missing+=("$extra"); done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # policy-rc.d 101: the packages must not start system-wide daemons; synthmon runs its own
  echo 'exit 101' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null && $SUDO chmod +x /usr/sbin/policy-rc.d
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  $SUDO rm -f /usr/sbin/policy-rc.d
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "setup: synthmon needs Python >= 3.11, found $(python3 --version)" >&2; exit 1; }

stamp=.venv/.synthmon-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1
  .venv/bin/python -m pip install -q -e '.[dev]' >.venv/pip-install.log 2>&1 || {
    cat .venv/pip-install.log >&2; echo "setup: pip install failed (log above)" >&2; exit 1; }
  # the reference example's own dependencies (its app), which synthmon does not declare
  .venv/bin/python -m pip install -q -r examples/manager-app/requirements.txt >>.venv/pip-install.log 2>&1 || {
    cat .venv/pip-install.log >&2; echo "setup: pip install failed (log above)" >&2; exit 1; }
  touch "$stamp"
fi
