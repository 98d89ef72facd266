#!/usr/bin/env bash
# The official postgres image's entrypoint contract, for Debian's postgresql-15: initialise an
# empty PGDATA from POSTGRES_* settings (each also as a *_FILE), run the init scripts once, then
# exec the server as the postgres user. Flags alone mean `postgres FLAGS`.
set -Eeuo pipefail

# setting VAR [DEFAULT]: $VAR, else the contents of the file named by $VAR_FILE, else DEFAULT
setting() {
  local var=$1 file_var="$1_FILE" value=${2:-}
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    echo "error: both $var and $file_var are set (they exclude each other)" >&2
    exit 1
  fi
  if [ -n "${!var:-}" ]; then value=${!var}; elif [ -n "${!file_var:-}" ]; then value=$(<"${!file_var}"); fi
  export "$var=$value"
  unset "$file_var"
}

sql() {  # psql over the local socket as the superuser, stopping at the first error
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

initialise() {  # arguments: the server's, for the temporary socket-only server
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    echo "Error: Database is uninitialized and superuser password is not specified." >&2
    echo "       Set POSTGRES_PASSWORD, or POSTGRES_HOST_AUTH_METHOD=trust (not recommended)." >&2
    exit 1
  fi
  eval 'initdb --username="$POSTGRES_USER" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"$POSTGRES_INITDB_ARGS"
  local auth=${POSTGRES_HOST_AUTH_METHOD:-$(postgres -C password_encryption "$@")}
  printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
  export PGPASSWORD=${PGPASSWORD:-$POSTGRES_PASSWORD}
  local flags=""; [ $# -eq 0 ] || flags=$(printf '%q ' "$@")  # none: no '' argument
  pg_ctl -D "$PGDATA" -w start -o "${flags}-c listen_addresses='' -p ${PGPORT:-5432}"
  sql --dbname postgres --set db="$POSTGRES_DB" <<'SQL'
SELECT format('CREATE DATABASE %I', :'db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
  local script
  for script in /docker-entrypoint-initdb.d/*; do
    case "$script" in
      *.sh) echo "$0: running $script"; if [ -x "$script" ]; then "$script"; else . "$script"; fi ;;
      *.sql) echo "$0: running $script"; sql --dbname "$POSTGRES_DB" -f "$script" ;;
      *.sql.gz) echo "$0: running $script"; gunzip -c "$script" | sql --dbname "$POSTGRES_DB" ;;
      *.sql.xz) echo "$0: running $script"; xzcat "$script" | sql --dbname "$POSTGRES_DB" ;;
      *) [ -e "$script" ] && echo "$0: ignoring $script" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  unset PGPASSWORD
  echo "PostgreSQL init process complete; ready for start up."
}

if [ "${1:0:1}" = - ]; then set -- postgres "$@"; fi
if [ "$1" = postgres ]; then
  for arg; do
    case $arg in -'?'|--help|--describe-config|-V|--version) exec "$@" ;; esac
  done
  setting POSTGRES_PASSWORD
  setting POSTGRES_USER postgres
  setting POSTGRES_DB "$POSTGRES_USER"
  setting POSTGRES_INITDB_ARGS
  export POSTGRES_HOST_AUTH_METHOD=${POSTGRES_HOST_AUTH_METHOD:-}
  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA" || true
    find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres '{}' +
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
  fi
  if [ -s "$PGDATA/PG_VERSION" ]; then
    echo "PostgreSQL Database directory appears to contain a database; Skipping initialization"
  else
    initialise "${@:2}"
  fi
fi
exec "$@"
