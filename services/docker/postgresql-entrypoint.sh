#!/bin/bash
# Entry point of the telemetra-postgresql image (Debian's PostgreSQL, uid 999), used the way the official postgres
# image's docker-entrypoint.sh is: when the command is `postgres` and PGDATA holds no cluster yet, initdb makes
# one with POSTGRES_USER (default postgres) as superuser and POSTGRES_PASSWORD as its password, password
# (scram-sha-256) authentication for TCP clients from any address, and the database POSTGRES_DB (default: the
# user's name); extra initdb options come from POSTGRES_INITDB_ARGS. Then the command runs in its place.
set -euo pipefail

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

initialize() {
  local user="${POSTGRES_USER:-postgres}"
  local database="${POSTGRES_DB:-$user}"
  local extra_options=()
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "error: PGDATA ($PGDATA) is empty and POSTGRES_PASSWORD is not set: cannot initialize" >&2
    exit 1
  fi
  read -r -a extra_options <<<"${POSTGRES_INITDB_ARGS:-}"
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  initdb --username="$user" --pwfile=<(echo "$POSTGRES_PASSWORD") --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 "${extra_options[@]}"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$database" != postgres ]; then
    # single-user mode: no server, no socket; identifiers double their quotes
    echo "CREATE DATABASE \"${database//\"/\"\"}\"" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
  echo "initialized $PGDATA: superuser $user, database $database"
}

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  initialize
fi
exec "$@"
