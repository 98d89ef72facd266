#!/bin/sh
# The official redis image's entrypoint contract, for Debian's redis-server: arguments that
# start with '-' or name a .conf file are redis-server's; as root, /data is handed to the redis
# user and the server runs as that user.
set -e
case "$1" in
  -*|*.conf) set -- redis-server "$@" ;;
esac
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
umask 0077
exec "$@"
