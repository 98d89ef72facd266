#!/usr/bin/env bash
# Checks alertmanager.yml: amtool check-config (with the templates resolved from ./templates
# instead of /etc/alertmanager/templates), every template renders, and every line of
# routes-test.txt routes to exactly its receivers. Exit 1 on the first failing group.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sed "s#/etc/alertmanager/templates/#$PWD/templates/#" alertmanager.yml >"$tmp/alertmanager.yml"
amtool check-config "$tmp/alertmanager.yml" >"$tmp/check.log" 2>&1 || { cat "$tmp/check.log" >&2; exit 1; }
amtool template render --template.glob='templates/*.tmpl' \
  --template.text='{{ template "linkcheck.subject" . }}{{ template "linkcheck.text" . }}' >/dev/null

failed=0
while IFS= read -r line; do
  case "$line" in '' | '#'*) continue ;; esac
  labels=${line%%=>*}
  want=$(echo "${line#*=>}" | tr -d ' ')
  # shellcheck disable=SC2086  # labels are separate words on purpose
  if got=$(amtool config routes test --config.file=alertmanager.yml --verify.receivers="$want" \
      $labels 2>/dev/null); then
    echo "ok    $labels=> $got"
  else
    echo "FAIL  $labels=> got $got, want $want" >&2
    failed=1
  fi
done <routes-test.txt
exit $failed
