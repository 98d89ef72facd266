#!/usr/bin/env bash
# Air-gapped images for the containers and compose backends, for machines without a registry:
# look-alikes of the official images built from Debian packages on a debootstrap base, honouring
# the same contracts (entrypoint, arguments, env, listening on all interfaces, the tools their
# healthchecks use), tagged under the names synthmon's settings point at (SYNTHMON_IMAGE_* or
# the defaults), plus synthmon's own helpers (tools), plus the reference app's image from
# examples/manager-app/Containerfile (SYNTHMON_APP_DIR: another example's directory), plus each
# project's own image settings (a service's `image: NAME` that is no built-in setting, in
# examples/*/synthmon.yaml and $SYNTHMON_PROJECT): from the Containerfile next to its
# synthmon.yaml, with a wheelhouse of its requirements.txt (--build-arg WHEELS=wheels
# PIP_ARGS="--no-index --find-links /tmp/wheels").
#
#   images/build.sh            build what is missing or out of date (idempotent, cached)
#   images/build.sh app redis  only these
#   images/build.sh linkcheck  a project's own image (examples/linkcheck/Containerfile)
#   images/build.sh tools      synthmon's helpers (sinks, upstream, faultproxy) as an image,
#                              for the compose backend (images/tools/Containerfile)
#   images/build.sh toxiproxy  ghcr.io/shopify/toxiproxy:<gobuild's TOXIPROXY_VERSION>: the real
#                              server built from its Go module (needs Go, as make go-tools)
#   images/build.sh jaeger victorialogs
#                              jaegertracing/jaeger:<v2 version> and victoriametrics/victoria-logs:
#                              the real binaries built from their Go modules (as toxiproxy)
#   images/build.sh --list     print "service image" for each
#   images/build.sh --base     only the Debian base (prints its name)
#   SYNTHMON_APP_BASE=python:3.11-slim-bookworm images/build.sh app
#                              the app on the official Python image (with a registry)
#
# An image is rebuilt only when its inputs change: each carries a label with the hash of its
# Containerfile directory (and, for the app, its app/ and wheels) plus its base image's ID.
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE=${SYNTHMON_ENGINE:-podman}
PY=${PYTHON:-.venv/bin/python}
SUITE=bookworm
BASE=localhost/synthmon/debian:$SUITE
PYBASE=localhost/synthmon/python:$SUITE
WORK=.synthmon/build
BASE_RECIPE="minbase, host apt sources, policy-rc.d 101, no recommends: v1"  # bump to rebuild
LOGS=$WORK/logs
mkdir -p "$LOGS"
exec 9>"$WORK/lock" && flock 9  # one build at a time per checkout

# service → image name (and a project's directory for its own images), from the settings: one
# source of truth for the runner and this build
names=$("$PY" -c '
import glob, os, sys
from synthmon.errors import SynthmonError
from synthmon.settings import Settings
projects = sorted(glob.glob("examples/*/synthmon.yaml")) + [os.environ.get("SYNTHMON_PROJECT", "")]
try:
    fixed = Settings.from_values(lambda option: None).images
    for service, image in sorted(fixed.items()):
        print(service, image, "-")
    for project in filter(None, projects):
        settings = Settings.from_values(lambda option: project if option.name == "project" else None)
        for service, image in sorted(settings.images.items()):
            if service not in fixed:
                print(service, image, settings.project.root)
except SynthmonError as exc:
    sys.exit(f"images: {exc}")') || exit 1
declare -A IMAGE PROJECT_DIR
while read -r service image dir; do
  IMAGE[$service]=$image
  [ "$dir" = - ] || PROJECT_DIR[$service]=$dir
done <<<"$names"

# the official image's name at the version synthmon.gobuild pins, unless a setting names another
[ -n "${IMAGE[toxiproxy]:-}" ] || IMAGE[toxiproxy]=ghcr.io/shopify/toxiproxy:$("$PY" -c \
  'from synthmon.gobuild import TOXIPROXY_VERSION; print(TOXIPROXY_VERSION)')

if [ "${1:-}" = --list ]; then
  for service in "${!IMAGE[@]}"; do echo "$service ${IMAGE[$service]}"; done | sort
  exit 0
fi

# The name a registry pull would store: look-alikes stand in for docker.io images exactly.
qualified() {
  local first=${1%%/*}
  if [[ $1 != */* ]]; then echo "docker.io/library/$1"
  elif [[ $first == *.* || $first == *:* || $first == localhost ]]; then echo "$1"
  else echo "docker.io/$1"; fi
}

label() { "$ENGINE" image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }
image_id() { "$ENGINE" image inspect --format '{{ .Id }}' "$1" 2>/dev/null || echo "$1"; }
hash_of() { { for path in "$@"; do
    if [ -d "$path" ]; then find "$path" -type f -not -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum
    elif [ -f "$path" ]; then sha256sum "$path"
    else echo "$path"; fi
  done; } | sha256sum | cut -c1-16; }

# The Debian base: debootstrap minbase from the host's own mirror, apt sources as on the host.
mirror() {
  local uri
  uri=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

build_base() {
  local inputs; inputs=$(hash_of "$SUITE" "$(mirror)" "$BASE_RECIPE")
  [ "$(label "$BASE" synthmon.inputs)" = "$inputs" ] && return 0
  echo "images: debootstrap $SUITE from $(mirror) (about 30 s)" >&2
  command -v debootstrap >/dev/null || { echo "images: debootstrap is missing (scripts/podman.sh install)" >&2; exit 1; }
  local root=$WORK/rootfs
  rm -rf "$root"
  debootstrap --variant=minbase "$SUITE" "$root" "$(mirror)" >"$LOGS/base.log" 2>&1 || {
    tail -20 "$LOGS/base.log" >&2; echo "images: debootstrap failed (log: $LOGS/base.log)" >&2; exit 1; }
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"
    rm -f "$root/etc/apt/sources.list"
  fi
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" && chmod +x "$root/usr/sbin/policy-rc.d"
  echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/90synthmon"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | "$ENGINE" import --quiet --change 'CMD ["/bin/bash"]' \
    --change "LABEL synthmon.inputs=$inputs" - "$BASE" >/dev/null
  rm -rf "$root"
}

# wheels REQUIREMENTS DIR: the wheels of REQUIREMENTS in DIR, pinned to the versions in the
# project's venv, for CPython 3.11 on this arch (cached by their inputs). pip runs on Debian's
# python3 when there is one: the interpreter of the images' Python base, so that markers such as
# redis's `python_full_version < "3.11.3"` (async-timeout) are read as in the image.
wheels() {
  local requirements=$1 wheels=$2 name; name=$(basename "$(dirname "$wheels")")
  local constraints=$WORK/constraints-$name.txt log=$LOGS/wheels-$name.log
  [ "$name" != app-context ] || { constraints=$WORK/constraints.txt; log=$LOGS/wheels.log; }
  mkdir -p "$wheels"
  "$PY" -m pip freeze --exclude-editable >"$constraints"
  local want; want=$(hash_of "$requirements" "$constraints" "$(uname -m)")
  if [ "$(cat "$wheels/.inputs" 2>/dev/null)" != "$want" ]; then
    rm -rf "$wheels" && mkdir -p "$wheels"
    local arch; arch=$(uname -m)
    local pip_py=$PY; /usr/bin/python3 -m pip --version >/dev/null 2>&1 && pip_py=/usr/bin/python3
    "$pip_py" -m pip download -q -d "$wheels" -r "$requirements" -c "$constraints" \
      --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
      --platform "manylinux_2_28_$arch" --platform "manylinux_2_17_$arch" \
      --platform "manylinux2014_$arch" --platform any >"$log" 2>&1 || {
        tail -20 "$log" >&2; echo "images: pip download failed (log: $log)" >&2; exit 1; }
    grep -v '^#' "$requirements" >"$wheels/requirements.txt"
    echo "$want" >"$wheels/.inputs"
  fi
}

# The app's context: its app/, Containerfile and wheels.
app_context() {
  local APP_DIR=${SYNTHMON_APP_DIR:-examples/manager-app}
  local context=$WORK/app-context
  wheels "$APP_DIR/requirements.txt" "$context/wheels"
  rm -rf "$context/app" && cp -r "$APP_DIR/app" "$context/app" && find "$context/app" -name __pycache__ -prune -exec rm -rf {} +
  cp "$APP_DIR/Containerfile" "$context/Containerfile"
  echo "$context"
}

# A project's own image's context: its directory as it is (no caches), plus wheels/.
project_context() {
  local service=$1 dir=${PROJECT_DIR[$1]} context=$WORK/$1-context
  [ -f "$dir/Containerfile" ] || { echo "images: $service: no Containerfile in $dir" >&2; exit 1; }
  [ -f "$dir/requirements.txt" ] || { echo "images: $service: no requirements.txt in $dir" >&2; exit 1; }
  wheels "$dir/requirements.txt" "$context/wheels"
  find "$context" -mindepth 1 -maxdepth 1 -not -name wheels -exec rm -rf {} +
  tar -C "$dir" --exclude=__pycache__ --exclude='*.pyc' --exclude=.synthmon -c . | tar -C "$context" -x
  echo "$context"
}

# The tools image's context: its Containerfile, the wheels of what the helpers import, and the
# synthmon wheel built from a copy of the checkout's sources (so no build/ or egg-info lands in
# the checkout), rebuilt only when those sources change: the context's hash, and so the
# image's inputs, follow the sources.
tools_context() {
  local context=$WORK/tools-context src=$WORK/tools-src want
  wheels images/tools/requirements.txt "$context/wheels"
  want=$(hash_of pyproject.toml README.md synthmon)
  if [ "$(cat "$context/synthmon/.inputs" 2>/dev/null)" != "$want" ]; then
    rm -rf "$src" "$context/synthmon" && mkdir -p "$src" "$context/synthmon"
    tar --exclude=__pycache__ --exclude='*.pyc' -c pyproject.toml README.md synthmon | tar -C "$src" -x
    "$PY" -m pip wheel -q --no-deps -w "$context/synthmon" "$src" >"$LOGS/wheel-tools.log" 2>&1 || {
      tail -20 "$LOGS/wheel-tools.log" >&2
      echo "images: tools: pip wheel of synthmon failed (log: $LOGS/wheel-tools.log)" >&2; exit 1; }
    rm -rf "$src"
    echo "$want" >"$context/synthmon/.inputs"
  fi
  cp images/tools/Containerfile "$context/Containerfile"
  echo "$context"
}

# The Toxiproxy image's context: its Containerfile and the server synthmon.gobuild built (once
# per machine, cached outside the checkout), copied here so the engine can read it.
toxiproxy_context() {
  local context=$WORK/toxiproxy-context server
  server=$(PATH="$PATH:/usr/local/go/bin" "$PY" -c \
    'from synthmon.gobuild import toxiproxy_server; print(toxiproxy_server())') || {
    echo "images: toxiproxy: building the server failed" >&2; exit 1; }
  mkdir -p "$context"
  cp "$server" "$context/toxiproxy"
  cp images/toxiproxy/Containerfile "$context/Containerfile"
  echo "$context"
}

# Jaeger's and VictoriaLogs' contexts: the binary synthmon.gobuild built (as Toxiproxy's) and,
# for Jaeger, the all-in-one config its image runs by default (synthmon.stack.jaeger_config).
gobuild_context() {
  local service=$1 function=$2 binary=$3 context=$WORK/$1-context path
  path=$(PATH="$PATH:/usr/local/go/bin" "$PY" -c \
    "from synthmon.gobuild import $function; print($function())") || {
    echo "images: $service: building $binary failed" >&2; exit 1; }
  mkdir -p "$context"
  cp "$path" "$context/$binary"
  cp "images/$service/Containerfile" "$context/Containerfile"
  if [ "$service" = jaeger ]; then
    "$PY" -W ignore::RuntimeWarning -m synthmon.stack.jaeger_config --listen 0.0.0.0 >"$context/config.yaml"
  fi
  echo "$context"
}

# build SERVICE CONTEXT BASE [BUILD-ARG...]: build the image when its inputs changed; print
# what happened.
build() {
  local service=$1 context=$2 base=$3 tag=${IMAGE[$1]}; shift 3
  local own=no  # synthmon's own images keep their names; look-alikes get the registry's
  [ "$service" = app ] || [ "$service" = tools ] || [ -n "${PROJECT_DIR[$service]:-}" ] && own=yes
  [ $own = yes ] || [ "$service" = python ] || tag=$(qualified "$tag")
  local args=(); for arg in "$@"; do args+=(--build-arg "$arg"); done
  local inputs; inputs=$(hash_of "$context" "$(image_id "$base")" "$@")
  [ "$(label "$tag" synthmon.inputs)" = "$inputs" ] && return 0  # up to date
  if "$ENGINE" build --network host --build-arg "BASE=$base" ${args[@]+"${args[@]}"} \
      --label "synthmon.inputs=$inputs" \
      --label synthmon.lookalike="$([ $own = yes ] && echo no || echo debian)" \
      -t "$tag" "$context" >"$LOGS/$service.log" 2>&1; then
    echo "images: $service $tag built"
  else
    tail -20 "$LOGS/$service.log" >&2
    echo "images: $service: build failed (log: $LOGS/$service.log)" >&2
    return 1
  fi
}

IMAGE[python]=$PYBASE  # the app's base here; not a setting
if [ "${1:-}" = --base ]; then build_base; echo "$BASE"; exit 0; fi  # scripts/fresh-check.sh
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(postgres redis prometheus alertmanager pushgateway app tools toxiproxy jaeger victorialogs "${!PROJECT_DIR[@]}")
for service in "${wanted[@]}"; do
  [ -n "${IMAGE[$service]:-}" ] || { echo "images: unknown service $service (have: ${!IMAGE[*]})" >&2; exit 2; }
done

start=$SECONDS
[ "${wanted[*]}" = app ] && [ -n "${SYNTHMON_APP_BASE:-}" ] || build_base
for service in "${wanted[@]}"; do  # the Python base, once, before the images on it
  if { [ "$service" = app ] && [ -z "${SYNTHMON_APP_BASE:-}" ]; } || [ "$service" = tools ] \
      || [ -n "${PROJECT_DIR[$service]:-}" ]; then
    build python images/python "$BASE" >/dev/null; break
  fi
done
pids=()
for service in "${wanted[@]}"; do
  if [ "$service" = app ] && [ -n "${SYNTHMON_APP_BASE:-}" ]; then
    ( context=$(app_context) && build app "$context" "$SYNTHMON_APP_BASE" ) &
  elif [ "$service" = app ]; then
    ( context=$(app_context) && build app "$context" "$PYBASE" ) &
  elif [ "$service" = tools ]; then
    ( context=$(tools_context) && build tools "$context" "$PYBASE" ) &
  elif [ "$service" = toxiproxy ]; then
    ( context=$(toxiproxy_context) && build toxiproxy "$context" "$BASE" ) &
  elif [ "$service" = jaeger ]; then
    ( context=$(gobuild_context jaeger jaeger_binary jaeger) && build jaeger "$context" "$BASE" ) &
  elif [ "$service" = victorialogs ]; then
    ( context=$(gobuild_context victorialogs victorialogs_binary victoria-logs) \
        && build victorialogs "$context" "$BASE" ) &
  elif [ -n "${PROJECT_DIR[$service]:-}" ]; then
    ( context=$(project_context "$service") && build "$service" "$context" "$PYBASE" \
        WHEELS=wheels PIP_ARGS="--no-index --find-links /tmp/wheels" ) &
  else
    build "$service" "images/$service" "$BASE" &
  fi
  pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ $failed -eq 0 ] || { echo "images: some builds failed" >&2; exit 1; }
echo "images: ${wanted[*]} ready in $((SECONDS - start)) s"
