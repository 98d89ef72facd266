#!/bin/sh
# The official redis image's entrypoint contract, for Debian's redis-server: arguments that
# start with '-' or name a .conf file are redis-server's; as root, /data is handed to the redis
# user and the server runs as that user.
#
# The official image builds redis with protected mode off by default, so a client in another
# container (a compose service) may connect; Debian's binary keeps it on and answers such a
# client "DENIED". The defaults file below restores the official default as the first config
# line, before the user's own .conf (read with include) and flags, so theirs still win.
set -e
DEFAULTS=/usr/local/etc/redis/lookalike-defaults.conf
case "$1" in
  -*|*.conf) set -- redis-server "$@" ;;
esac
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
if [ "$1" = redis-server ]; then
  shift
  case "${1:-}" in
    -v|--version|-h|--help|--test-memory|--check-system) set -- redis-server "$@" ;;
    -) set -- redis-server "$@" ;;  # config from stdin: left as it is
    *.conf) user_conf=$1; shift; set -- redis-server "$DEFAULTS" --include "$user_conf" "$@" ;;
    *) set -- redis-server "$DEFAULTS" "$@" ;;
  esac
fi
umask 0077
exec "$@"
