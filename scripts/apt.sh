#!/usr/bin/env bash
# Installs the Debian packages of the given purposes in scripts/packages.txt that are not
# installed yet (idempotent; nothing to do means no apt call). Their system daemons are not
# started (policy-rc.d 101): synthmon runs its own instances.
#   scripts/apt.sh stack test      install the "stack" and "test" sets
#   scripts/apt.sh --list PURPOSE  print that set's packages, one a line
set -euo pipefail
cd "$(dirname "$0")/.."
LIST=scripts/packages.txt

packages_of() {
  local purpose=$1 found
  found=$(awk -v want="$purpose:" '$1 == want { $1 = ""; print }' "$LIST")
  [ -n "$found" ] || { echo "apt.sh: $LIST has no purpose '$purpose'" >&2; return 2; }
  echo $found
}

if [ "${1:-}" = --list ]; then
  packages_of "${2:?usage: $0 --list PURPOSE}" | tr ' ' '\n'
  exit 0
fi
[ $# -gt 0 ] || { echo "usage: $0 PURPOSE... | --list PURPOSE" >&2; exit 2; }

# installed, or provided by an installed package (a machine's own nodejs provides npm)
installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ] ||
    dpkg-query -W -f='${db:Status-Status} ${Provides}\n' 2>/dev/null |
      grep -E "^installed .*(^|[ ,])$1([ ,(]|\$)" >/dev/null  # not -q: an early exit + pipefail fails
}
missing=()
for purpose in "$@"; do
  for choice in $(packages_of "$purpose"); do
    have=""
    for pkg in ${choice//|/ }; do installed "$pkg" && have=1; done
    pkg=${choice%%|*}
    [ -n "$have" ] || [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
  done
done
[ ${#missing[@]} -gt 0 ] || exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing Debian packages: ${missing[*]}" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
restore=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  echo 'exit 101' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null && $SUDO chmod +x /usr/sbin/policy-rc.d
  restore=1
fi
status=0
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null || status=$?
[ -z "$restore" ] || $SUDO rm -f /usr/sbin/policy-rc.d
exit $status
