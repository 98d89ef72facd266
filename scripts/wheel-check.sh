#!/usr/bin/env bash
# Proves the wheel is the whole library: build it from this checkout, install it with only the
# reference example's requirements into a fresh venv in a temp dir, and run the example's suite
# from a copy outside the checkout (nothing of the checkout on sys.path). Temp dirs go on exit.
#
#   scripts/wheel-check.sh                        the whole suite, as `make run` runs it
#   scripts/wheel-check.sh checks/test_health.py  a part (paths relative to the suite's root)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
PY=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/synthmon-wheel-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # PostgreSQL (another user) traverses the run directory

[ $# -gt 0 ] || set -- checks load slo examples/manager-app/checks
started=$(date +%s)
.venv/bin/python -m pip wheel -q --no-deps -w "$work/dist" . >"$work/wheel.log" 2>&1 || {
  cat "$work/wheel.log" >&2; echo "wheel-check: building the wheel failed" >&2; exit 1; }
wheel=$(ls "$work"/dist/synthmon-*.whl)
"$PY" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$wheel" -r examples/manager-app/requirements.txt \
  >"$work/install.log" 2>&1 || {
  cat "$work/install.log" >&2; echo "wheel-check: installing the wheel failed" >&2; exit 1; }

# the suite as a user would have it: the generic checks and the example, not the library
mkdir -p "$work/suite"
tar -C "$repo" --exclude=__pycache__ -c pytest.ini conftest.py checks load slo examples/manager-app \
  | tar -C "$work/suite" -x
cd "$work/suite"
clean_env=(env -u PYTHONPATH)
for name in $(compgen -e); do [[ $name == SYNTHMON_* ]] && clean_env+=(-u "$name"); done
"${clean_env[@]}" "$work/venv/bin/python" - <<'PY'
import importlib.util, pathlib, sys
import synthmon
where = pathlib.Path(synthmon.__file__).resolve()
assert "site-packages" in where.parts, f"synthmon imported from {where}, not the wheel"
assert importlib.util.find_spec("app") is None, "a top-level `app` is importable"
print(f"wheel-check: synthmon from {where.parent}")
PY
status=0
"${clean_env[@]}" "$work/venv/bin/python" -m pytest -p no:cacheprovider --run-dir "$work/runs" \
  "$@" || status=$?
echo "wheel-check: pytest exit $status in $(( $(date +%s) - started )) s (wheel $(basename "$wheel"))"
exit $status
