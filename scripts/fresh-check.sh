#!/usr/bin/env bash
# Before a landing (not CI; it costs minutes): does `make setup` + the tests pass on a NEW
# machine? Builds a root from images/build.sh's cached Debian 12 base plus the fresh-image
# list's packages the tests use (as the exec guard last measured them, else the whole list),
# binds this machine's Go, pyenv Python and registry trust (CA bundle, pip config) read-only (a
# new machine of the kind has them),
# copies a clean `git archive HEAD`, and runs `make setup`, the test tools and every test that
# needs no container engine in a Podman container from that root. Its last line names the
# first missing program, or says there is none.
#   scripts/fresh-check.sh [PYTEST_ARGS...]   default: all of tests/ but the containers tests
set -euo pipefail
cd "$(dirname "$0")/.."

KIND=polyglot
FRESH=${EXEC_GUARD_FRESH_IMAGE:-$(for d in .. /work; do [ -f "$d/shared/fresh-image/$KIND.txt" ] && { echo "$d/shared/fresh-image/$KIND.txt"; break; }; done)}
[ -n "$FRESH" ] || { echo "fresh-check: no fresh-image/$KIND.txt found" >&2; exit 2; }
FRESH=$(readlink -f "$FRESH")
USED=.synthmon/exec-guard/used-packages.txt  # written by the exec guard at each test run
scripts/podman.sh install
base=$(images/build.sh --base | tail -1)

# The packages of the new root: those the tests were seen to use, else the kind's whole list.
list=$FRESH
[ -s "$USED" ] && list=$USED
# ... and those of the shared libraries this machine's Python loads (it is bound in, not built)
python=$(python3 -c 'import sys; print(sys.base_prefix)')
libs=$(ldd "$python"/bin/python3 "$python"/lib/python3*/lib-dynload/*.so 2>/dev/null \
  | awk '/=> \// { print $3 }' | sort -u | xargs -r readlink -f | xargs -r dpkg -S 2>/dev/null \
  | cut -d: -f1 | sort -u || true)  # a library no package owns: in the base already
packages=$( { grep -v '^#' "$list"; echo "$libs"; echo make; } | grep -Fxf <(grep -v '^#' "$FRESH") | sort -u | tr '\n' ' ')
tag=localhost/synthmon/fresh-$KIND:$(echo "$base $packages" | sha256sum | cut -c1-12)
if ! podman image exists "$tag"; then
  echo "fresh-check: building $tag from $base + $(wc -w <<<"$packages") packages of $list" >&2
  ctr=synthmon-fresh-build-$$
  trap 'podman rm -f "$ctr" >/dev/null 2>&1 || true' EXIT
  podman run --name "$ctr" --network host "$base" bash -c \
    "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >/dev/null" \
    || { echo "fresh-check: installing the fresh-image packages failed" >&2; exit 1; }
  podman commit --quiet "$ctr" "$tag" >/dev/null
  podman rm -f "$ctr" >/dev/null
fi

work=$(mktemp -d /tmp/synthmon-fresh-XXXXXX)
chmod 755 "$work"  # as a clone is: PostgreSQL runs as its own user and must traverse it
ctr=synthmon-fresh-run-$$
trap 'podman rm -f "$ctr" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git archive HEAD | tar -x -C "$work"
go=$(dirname "$(dirname "$(readlink -f "$(command -v go)")")")
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(tests --ignore=tests/test_containers.py)
log=$work/fresh-check.log
# The machine's own registry trust and pip settings (a new machine of the kind has them too):
# its CA bundle at a path of its own (the root's ca-certificates owns /etc/ssl/certs)
ca=/run/synthmon-machine-ca.crt
machine=(-v "/etc/ssl/certs/ca-certificates.crt:$ca:ro")
[ -d /opt/wheels ] && machine+=(-v /opt/wheels:/opt/wheels:ro)
for var in $(env | grep -oE '^PIP_[A-Z_]+=' | grep -v '^PIP_CERT='); do machine+=(-e "${var%=}"); done
for var in PIP_CERT SSL_CERT_FILE REQUESTS_CA_BUNDLE CURL_CA_BUNDLE NODE_EXTRA_CA_CERTS; do
  machine+=(-e "$var=$ca")
done
set +e
podman run --name "$ctr" --network host --privileged "${machine[@]}" \
  -v "$FRESH:/work/shared/fresh-image/$KIND.txt:ro" -v "$python:$python:ro" -v "$go:$go:ro" \
  -v "$work:/work/fresh" -w /work/fresh -e "PATH=$python/bin:$go/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  "$tag" bash -c "make setup test-tools report-tools && .venv/bin/pytest -p no:cacheprovider ${args[*]}" \
  2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
first=$(grep -v '^debconf' "$log" | grep -m1 -E '^exec guard: |No such file or directory|command not found|is not installed' || true)
if [ -n "$first" ]; then
  echo "fresh-check: exit $status; first missing program: $first"
else
  echo "fresh-check: exit $status; no missing program"
fi
exit "$status"
