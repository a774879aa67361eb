#!/usr/bin/env bash
# Embedded PostgreSQL for the demo, the CLI and the tests.
#   scripts/pg.sh start   -> initdb (first time), start on 127.0.0.1:$OPENFINOPS_PG_PORT, create roles + databases
#   scripts/pg.sh stop
#   scripts/pg.sh env     -> prints `export ...` lines (warehouse/reader/airflow/superset URLs) for `eval`
# With OPENFINOPS_WAREHOUSE_URL set (to a PostgreSQL of yours), `env` keeps it as the warehouse for every part
# (collectors, dbt, Superset's database); the embedded cluster then only holds Airflow and Superset metadata, and
# Superset reads the warehouse with OPENFINOPS_READER_URL if you give one (a read-only role of yours).
# Roles: openfinops owns the warehouse database `openfinops` (collectors, dbt); openfinops_reader (LOGIN, read-only
# by default, 60 s statement timeout) is what Superset connects with - dbt grants it SELECT on schema marts only
# (dbt_project/macros/grants.sql). airflow and superset own their metadata databases; nobody else may connect there.
# bin/openfinops with OPENFINOPS_WAREHOUSE_URL set starts nothing.
# As root, the server runs as a dedicated system user (postgres refuses to run as root).
. "$(dirname "$0")/lib.sh"

PG_DIR="$OPENFINOPS_STATE_DIR/pg"
# When the server user cannot reach the clone (e.g. a clone in root's home, mode 700), start() links PG_DIR to a
# folder under /var/lib; the server is then given the resolved path for everything it touches (data, socket,
# password file, log), never a path through the unreachable clone.
[ -L "$PG_DIR" ] && PG_DIR="$(readlink -f "$PG_DIR")"
PG_RUN_USER="${OPENFINOPS_PG_SYSTEM_USER:-openfinops-pg}"
PW_FILE="$OPENFINOPS_CREDENTIALS_DIR/postgres.env"

find_bindir() {
  local d
  for d in "${OPENFINOPS_PG_BINDIR:-}" /usr/lib/postgresql/17/bin /usr/lib/postgresql/16/bin /usr/lib/postgresql/15/bin; do
    [ -n "$d" ] && [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

install_server() {
  log "PostgreSQL server binaries not found: installing the Debian 'postgresql' package"
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "PostgreSQL server binaries are missing and this user cannot install them; install 'postgresql' or set OPENFINOPS_WAREHOUSE_URL"
    SUDO=sudo
  else SUDO=""; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq postgresql >/dev/null
  # Debian's package starts a cluster on 5432; ours is separate, so leave it alone.
}

# As root: run as the server user from / (the caller's folder may be one that user cannot enter).
as_pg() { if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u "$PG_RUN_USER" -- "$@"); else "$@"; fi; }

gen_secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }

ensure_credentials() {
  mkdir -p "$OPENFINOPS_CREDENTIALS_DIR"; chmod 700 "$OPENFINOPS_CREDENTIALS_DIR"
  if [ ! -f "$PW_FILE" ]; then
    # umask in a subshell: folders made later (the /var/lib fallback) must stay reachable by the server user
    (umask 077
    cat > "$PW_FILE" <<CRED
OPENFINOPS_PG_SUPERUSER_PASSWORD=$(gen_secret)
OPENFINOPS_PG_WAREHOUSE_PASSWORD=$(gen_secret)
OPENFINOPS_PG_AIRFLOW_PASSWORD=$(gen_secret)
OPENFINOPS_PG_SUPERSET_PASSWORD=$(gen_secret)
OPENFINOPS_PG_READER_PASSWORD=$(gen_secret)
CRED
    )
  fi
  # shellcheck disable=SC1090
  . "$PW_FILE"
}

pg_env() {
  ensure_credentials
  local h="127.0.0.1:$OPENFINOPS_PG_PORT"
  echo "export OPENFINOPS_EMBEDDED_PG=1"
  echo "export OPENFINOPS_PG_HOST=127.0.0.1 OPENFINOPS_PG_PORT=$OPENFINOPS_PG_PORT"
  if [ -n "${OPENFINOPS_WAREHOUSE_URL:-}" ] && [ -z "${OPENFINOPS_EMBEDDED_PG:-}" ]; then
    : # an external warehouse was given: keep it and a given OPENFINOPS_READER_URL (the embedded cluster still holds
      # Airflow/Superset metadata)
  else
    echo "export OPENFINOPS_WAREHOUSE_URL='postgresql://openfinops:$OPENFINOPS_PG_WAREHOUSE_PASSWORD@$h/openfinops'"
    echo "export OPENFINOPS_READER_URL='postgresql://openfinops_reader:$OPENFINOPS_PG_READER_PASSWORD@$h/openfinops'"
  fi
  echo "export OPENFINOPS_AIRFLOW_DB_URL='postgresql+psycopg://airflow:$OPENFINOPS_PG_AIRFLOW_PASSWORD@$h/airflow'"
  echo "export OPENFINOPS_SUPERSET_DB_URL='postgresql+psycopg2://superset:$OPENFINOPS_PG_SUPERSET_PASSWORD@$h/superset'"
  echo "export OPENFINOPS_PG_ADMIN_URL='postgresql://postgres:$OPENFINOPS_PG_SUPERUSER_PASSWORD@$h/postgres'"
}

is_running() { [ -f "$PG_DIR/data/postmaster.pid" ] && as_pg "$BINDIR/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; }

psql_admin() { PGPASSWORD="$OPENFINOPS_PG_SUPERUSER_PASSWORD" "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$OPENFINOPS_PG_PORT" -U postgres "$@"; }

ensure_role_db() { # role password database
  psql_admin -d postgres <<SQL
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', '$1', '$2') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$1')\gexec
ALTER ROLE "$1" PASSWORD '$2';
SELECT format('CREATE DATABASE %I OWNER %I', '$3', '$1') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$3')\gexec
SQL
}

start() {
  ensure_credentials
  BINDIR=$(find_bindir) || { install_server; BINDIR=$(find_bindir) || die "PostgreSQL server binaries still missing after install"; }
  mkdir -p "$PG_DIR/run"
  if [ "$(id -u)" -eq 0 ]; then
    id "$PG_RUN_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_RUN_USER"
    # The server user must reach the data dir: fall back to /var/lib when a parent folder blocks it.
    if ! runuser -u "$PG_RUN_USER" -- test -x "$OPENFINOPS_STATE_DIR"; then
      local alt="/var/lib/openfinops-pg/$(echo -n "$OPENFINOPS_ROOT" | sha256sum | cut -c1-12)"
      local link="$OPENFINOPS_STATE_DIR/pg"
      if [ ! -L "$link" ]; then
        [ -f "$link/data/PG_VERSION" ] && die "the server user $PG_RUN_USER cannot reach the cluster in $link (a parent folder blocks it): move the clone, open its parents (chmod o+x), or move $link to $alt and link it"
        rm -rf "$link"; ln -s "$alt" "$link"
      fi
      mkdir -p "$alt"; chmod 755 "${alt%/*}"
      PG_DIR="$alt"
      mkdir -p "$PG_DIR/run"
    fi
    chown -R "$PG_RUN_USER" "$PG_DIR/" "$PG_DIR/run"
    chown "$PG_RUN_USER" "$PG_DIR"
  fi
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    log "initdb in $PG_DIR/data"
    local pwtmp="$PG_DIR/run/.pw"
    (umask 077; echo "$OPENFINOPS_PG_SUPERUSER_PASSWORD" > "$pwtmp")
    [ "$(id -u)" -eq 0 ] && chown "$PG_RUN_USER" "$pwtmp"
    as_pg "$BINDIR/initdb" -D "$PG_DIR/data" -U postgres --pwfile="$pwtmp" --auth-local=scram-sha-256 \
      --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwtmp"
    cat >> "$PG_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DIR/run'
max_connections = 200
shared_buffers = 512MB
max_wal_size = 4GB
CONF
  fi
  # Clusters made by earlier versions turned synchronous_commit off, which can lose loads and notification rows
  # already reported as committed if the server crashes: back to PostgreSQL's default (on).
  if grep -q '^synchronous_commit = off' "$PG_DIR/data/postgresql.conf" 2>/dev/null; then
    as_pg sed -i '/^synchronous_commit = off$/d' "$PG_DIR/data/postgresql.conf"
    is_running && as_pg "$BINDIR/pg_ctl" -D "$PG_DIR/data" reload >/dev/null
  fi
  if ! is_running; then
    log "starting PostgreSQL on 127.0.0.1:$OPENFINOPS_PG_PORT"
    as_pg "$BINDIR/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -o "-p $OPENFINOPS_PG_PORT" -w -t 60 start >/dev/null \
      || { tail -n 20 "$PG_DIR/postgres.log" >&2; die "PostgreSQL did not start (log: $PG_DIR/postgres.log)"; }
  fi
  ensure_role_db openfinops "$OPENFINOPS_PG_WAREHOUSE_PASSWORD" openfinops
  ensure_role_db airflow "$OPENFINOPS_PG_AIRFLOW_PASSWORD" airflow
  ensure_role_db superset "$OPENFINOPS_PG_SUPERSET_PASSWORD" superset
  psql_admin -d postgres -c "ALTER ROLE openfinops CREATEDB" >/dev/null
  ensure_reader_role
}

# Superset's warehouse role: can log in and read what dbt grants it (SELECT on marts), nothing else. Read-only by
# default and bounded in time (a user can lift the read-only default for a session, so privileges - not this
# setting - are what keep it from writing: it owns nothing and is granted nothing but SELECT).
ensure_reader_role() {
  [ -n "${OPENFINOPS_PG_READER_PASSWORD:-}" ] || {  # credentials file from before the reader existed
    echo "OPENFINOPS_PG_READER_PASSWORD=$(gen_secret)" >> "$PW_FILE"; . "$PW_FILE"; }
  psql_admin -d postgres <<SQL
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', 'openfinops_reader', '$OPENFINOPS_PG_READER_PASSWORD')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'openfinops_reader')\gexec
ALTER ROLE openfinops_reader WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS
  PASSWORD '$OPENFINOPS_PG_READER_PASSWORD';
ALTER ROLE openfinops_reader SET default_transaction_read_only = on;
ALTER ROLE openfinops_reader SET statement_timeout = '60s';
-- the metadata databases: their owners only (PUBLIC may connect to a new database by default)
REVOKE CONNECT ON DATABASE airflow FROM PUBLIC;
REVOKE CONNECT ON DATABASE superset FROM PUBLIC;
SQL
}

stop() {
  BINDIR=$(find_bindir) || return 0
  if is_running; then log "stopping PostgreSQL"; as_pg "$BINDIR/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) pg_env ;;
  *) die "usage: pg.sh start|stop|env" ;;
esac
