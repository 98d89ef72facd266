#!/usr/bin/env bash
# Podman as the container engine of synthmon's containers backend, on machines without Docker.
#
#   scripts/podman.sh install       install and configure podman + runc (idempotent)
#   scripts/podman.sh start [ID]    start a Docker-compatible API service; prints DOCKER_HOST
#   scripts/podman.sh stop ID       stop that service (by the PID recorded when it started)
#   scripts/podman.sh stop --all    stop every service this checkout started
#   scripts/podman.sh run -- CMD    install, start a private service, run CMD with DOCKER_HOST
#                                   set, stop the service (also on failure or Ctrl-C)
#
# Each service listens on its own socket under .synthmon/podman/, so two runs on one machine
# never stop each other's engine. runc, not crun: crun fails on these hosts (cgroups v1).
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=.synthmon/podman
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

install() {
  scripts/apt.sh containers
  # a drop-in, so a machine's own containers.conf stays as it is
  local conf=/etc/containers/containers.conf.d/synthmon.conf
  local want='# synthmon (scripts/podman.sh): runc + cgroupfs work on cgroups v1; nproc > 32768 fails;
# netavark (with aardvark-dns): compose networks resolve service names (CNI here has no dnsname)
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"'
  if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
    $SUDO mkdir -p "$(dirname "$conf")"
    echo "$want" | $SUDO tee "$conf" >/dev/null
  fi
}

# The socket of the service this shell started; one per invocation.
socket_path() { echo "$PWD/$STATE/podman-$1.sock"; }

start() {
  local id=${1:-$$}
  mkdir -p "$STATE"
  local sock; sock=$(socket_path "$id")
  rm -f "$sock"
  podman system service --time=0 "unix://$sock" >"$STATE/service-$id.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$STATE/service-$id.pid"
  for _ in $(seq 100); do
    if [ -S "$sock" ] && curl -fsS --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
      echo "unix://$sock"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "podman: API service did not answer on $sock; its log:" >&2
  cat "$STATE/service-$id.log" >&2
  stop "$id"
  return 1
}

stop() {
  local id=$1
  [ "$id" = --all ] && id="*"
  local files=("$STATE"/service-$id.pid)
  for pidfile in "${files[@]}"; do
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile")
    # only our own service: the PID must still be a `podman system service` on our socket
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "system service.*$PWD/$STATE"; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    local name; name=$(basename "$pidfile" .pid)
    rm -f "$pidfile" "$STATE/$name.log" "$(socket_path "${name#service-}")"
  done
}

run() {
  [ "${1:-}" = "--" ] && shift
  install
  local host
  host=$(start "$$")
  trap 'stop "$$"' EXIT
  trap 'exit 130' INT TERM
  DOCKER_HOST="$host" TESTCONTAINERS_RYUK_DISABLED=true "$@"
}

case "${1:-}" in
  install) install ;;
  start) install; start "${2:-$$}" ;;
  stop) [ -n "${2:-}" ] || { echo "usage: $0 stop ID | stop --all" >&2; exit 2; }; stop "$2" ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 install | start [ID] | stop ID|--all | run -- COMMAND..." >&2; exit 2 ;;
esac
