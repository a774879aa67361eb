#!/usr/bin/env bash
# Superset for OpenFinOps (metadata on PostgreSQL, config in superset/superset_config.py).
#   scripts/superset.sh init     secrets (once) + db upgrade + admin user + superset init (skipped when stamped)
#   scripts/superset.sh start    gunicorn on 127.0.0.1:${OPENFINOPS_SUPERSET_PORT:-8088}, waits for /health
#   scripts/superset.sh stop     TERM the process group, then KILL
#   scripts/superset.sh status   running or not
#   scripts/superset.sh deploy [--demo-users]   validate + import superset/bundle, apply superset/access.yaml
#                                (roles, permissions, row-level security) and users (superset/deploy.py)
#   scripts/superset.sh env      print `export ...` lines (URL, admin user/password) for `eval`
# Uses OPENFINOPS_WAREHOUSE_URL, OPENFINOPS_READER_URL and OPENFINOPS_SUPERSET_DB_URL when set; otherwise starts the
# embedded PostgreSQL. Superset's warehouse connection is OPENFINOPS_READER_URL (read-only role, schema marts only).
# State: $OPENFINOPS_STATE_DIR/superset (pid, log, init stamp, SUPERSET_HOME); secrets:
# $OPENFINOPS_CREDENTIALS_DIR/superset.env (SUPERSET_SECRET_KEY, GUEST_TOKEN_JWT_SECRET, SUPERSET_ADMIN_PASSWORD).
. "$(dirname "$0")/lib.sh"

SS_STATE="$OPENFINOPS_STATE_DIR/superset"
SS_CRED="$OPENFINOPS_CREDENTIALS_DIR/superset.env"
SS_PORT="${OPENFINOPS_SUPERSET_PORT:-8088}"
SS_URL="http://127.0.0.1:$SS_PORT"
SS_PIDFILE="$SS_STATE/gunicorn.pid"
SS_LOG="$SS_STATE/superset.log"
SS_PY="$OPENFINOPS_VENV_DIR/superset/bin/python"
SS_GUNICORN="$OPENFINOPS_VENV_DIR/superset/bin/gunicorn"
SS_ADMIN_USER="${SUPERSET_ADMIN_USER:-admin}"

gen_secret() { python3 -c 'import secrets, sys; print(secrets.token_urlsafe(int(sys.argv[1])))' "$1"; }

ensure_pg_env() {
  if [ -z "${OPENFINOPS_WAREHOUSE_URL:-}" ] || [ -z "${OPENFINOPS_SUPERSET_DB_URL:-}" ]; then
    bash "$OPENFINOPS_ROOT/scripts/pg.sh" start
    eval "$(bash "$OPENFINOPS_ROOT/scripts/pg.sh" env)"
  fi
}

ensure_credentials() {
  mkdir -p "$OPENFINOPS_CREDENTIALS_DIR" "$SS_STATE"
  chmod 700 "$OPENFINOPS_CREDENTIALS_DIR"
  if [ ! -f "$SS_CRED" ]; then
    (umask 077
     cat > "$SS_CRED" <<CRED
SUPERSET_SECRET_KEY=$(gen_secret 48)
GUEST_TOKEN_JWT_SECRET=$(gen_secret 32)
SUPERSET_ADMIN_PASSWORD=$(gen_secret 18)
CRED
    )
    log "generated Superset secrets in $SS_CRED"
  fi
  set -a
  # shellcheck disable=SC1090
  . "$SS_CRED"
  set +a
}

superset_env() {
  [ -x "$SUPERSET_BIN" ] || die "Superset venv missing ($SUPERSET_BIN): run scripts/setup_venvs.sh"
  ensure_pg_env
  ensure_credentials
  mkdir -p "$SS_STATE/home"
  export SUPERSET_CONFIG_PATH="$OPENFINOPS_ROOT/superset/superset_config.py"
  export SUPERSET_HOME="$SS_STATE/home"
  export OPENFINOPS_SUPERSET_DB_URL SUPERSET_SECRET_KEY GUEST_TOKEN_JWT_SECRET
  export FLASK_APP="superset.app:create_app()"
  # The repo's superset/ folder must never shadow the installed `superset` package.
  export PYTHONPATH=""
}

# Key of an initialised metadata DB: Superset version + hash of the DB URL + hash of the admin password.
init_key() {
  local version
  version=$("$SS_PY" -c 'import importlib.metadata as m; print(m.version("apache-superset"))')
  printf '%s %s %s\n' "$version" \
    "$(printf '%s' "$OPENFINOPS_SUPERSET_DB_URL" | sha256sum | cut -c1-16)" \
    "$(printf '%s:%s' "$SS_ADMIN_USER" "$SUPERSET_ADMIN_PASSWORD" | sha256sum | cut -c1-16)"
}

# Cheap check that the stamped DB still holds an initialised Superset (someone may have dropped it).
metadata_db_ready() {
  "$SS_PY" - "$SS_ADMIN_USER" <<'PY' >/dev/null 2>&1
import os, sys
import psycopg2
url = os.environ["OPENFINOPS_SUPERSET_DB_URL"].replace("+psycopg2", "")
with psycopg2.connect(url) as conn, conn.cursor() as cur:
    cur.execute("SELECT 1 FROM alembic_version")
    cur.execute("SELECT 1 FROM ab_user WHERE username = %s", (sys.argv[1],))
    sys.exit(0 if cur.fetchone() else 1)
PY
}

cmd_init() {
  superset_env
  local stamp="$SS_STATE/init.stamp" key t0
  key=$(init_key)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] && metadata_db_ready; then
    log "Superset metadata already initialised ($(cut -d' ' -f1 <<<"$key")); skipping"
    return 0
  fi
  t0=$(date +%s)
  log "superset db upgrade"
  "$SUPERSET_BIN" db upgrade >>"$SS_STATE/init.log" 2>&1 || { tail -n 30 "$SS_STATE/init.log" >&2; die "superset db upgrade failed"; }
  log "admin user '$SS_ADMIN_USER'"
  # `superset fab create-admin` leaves an existing user's password alone; superset/admin_user.py also syncs the
  # password with $SS_CRED, so re-initialising a kept metadata DB with fresh credentials still lets us log in.
  "$SS_PY" "$OPENFINOPS_ROOT/superset/admin_user.py" "$SS_ADMIN_USER" >>"$SS_STATE/init.log" 2>&1 || { tail -n 30 "$SS_STATE/init.log" >&2; die "admin user setup failed"; }
  log "superset init (roles and permissions)"
  "$SUPERSET_BIN" init >>"$SS_STATE/init.log" 2>&1 || { tail -n 30 "$SS_STATE/init.log" >&2; die "superset init failed"; }
  echo "$key" > "$stamp"
  log "Superset initialised in $(( $(date +%s) - t0 )) s"
}

running_pgid() {
  [ -f "$SS_PIDFILE" ] || return 1
  local pgid; pgid=$(cat "$SS_PIDFILE")
  [ -n "$pgid" ] && kill -0 -- "-$pgid" 2>/dev/null && { echo "$pgid"; return 0; }
  return 1
}

healthy() { curl -fsS -m 5 "$SS_URL/health" >/dev/null 2>&1; }

cmd_start() {
  superset_env
  if running_pgid >/dev/null; then
    healthy && { log "Superset already running at $SS_URL"; return 0; }
  fi
  healthy && die "port $SS_PORT already answers /health but not from our pid file ($SS_PIDFILE): stop the other server or set OPENFINOPS_SUPERSET_PORT"
  [ -f "$SS_STATE/init.stamp" ] || log "warning: no init stamp; run 'scripts/superset.sh init' first"
  local t0; t0=$(date +%s)
  # chart results cached by an earlier server (superset_config.py DATA_CACHE_CONFIG) may predate a transform
  rm -rf "$SUPERSET_HOME/data-cache"
  log "starting Superset on $SS_URL (log: $SS_LOG)"
  # setsid: gunicorn leads its own process group, so stop can signal master and workers together.
  setsid "$SS_GUNICORN" -w "${OPENFINOPS_SUPERSET_WORKERS:-2}" -k gthread --threads 4 --timeout 120 \
    --chdir "$SS_STATE" -b "127.0.0.1:$SS_PORT" --access-logfile - --error-logfile - \
    "superset.app:create_app()" >>"$SS_LOG" 2>&1 </dev/null &
  local pid=$!
  local pgid; pgid=$(ps -o pgid= -p "$pid" | tr -d ' ')
  echo "${pgid:-$pid}" > "$SS_PIDFILE"
  local deadline=$(( $(date +%s) + ${OPENFINOPS_SUPERSET_START_TIMEOUT:-180} ))
  until healthy; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$SS_LOG" >&2; rm -f "$SS_PIDFILE"; die "Superset exited during start-up (log: $SS_LOG)"
    fi
    [ "$(date +%s)" -lt "$deadline" ] || { tail -n 40 "$SS_LOG" >&2; cmd_stop; die "Superset not healthy in time (log: $SS_LOG)"; }
    sleep 1
  done
  log "Superset healthy at $SS_URL after $(( $(date +%s) - t0 )) s"
}

cmd_stop() {
  local pgid
  if ! pgid=$(running_pgid); then
    rm -f "$SS_PIDFILE"; log "Superset not running"; return 0
  fi
  log "stopping Superset (process group $pgid)"
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for _ in $(seq 1 20); do
    kill -0 -- "-$pgid" 2>/dev/null || { rm -f "$SS_PIDFILE"; log "stopped"; return 0; }
    sleep 0.5
  done
  kill -KILL -- "-$pgid" 2>/dev/null || true
  rm -f "$SS_PIDFILE"
  log "killed"
}

cmd_status() {
  if running_pgid >/dev/null && healthy; then echo "running $SS_URL"; else echo "stopped"; return 1; fi
}

cmd_deploy() {
  ensure_pg_env
  ensure_credentials
  [ -x "$AIRFLOW_PY" ] || die "python for deploy missing ($AIRFLOW_PY)"
  if [ -z "${OPENFINOPS_READER_URL:-}" ]; then  # take only the reader URL from pg.sh env, keep the other URLs
    OPENFINOPS_READER_URL=$(eval "$(bash "$OPENFINOPS_ROOT/scripts/pg.sh" env)"; printf '%s' "${OPENFINOPS_READER_URL:-}")
  fi
  [ -n "$OPENFINOPS_READER_URL" ] || die "OPENFINOPS_READER_URL is not set (scripts/pg.sh env exports it)"
  SUPERSET_ADMIN_PASSWORD="$SUPERSET_ADMIN_PASSWORD" OPENFINOPS_WAREHOUSE_URL="$OPENFINOPS_WAREHOUSE_URL" \
    OPENFINOPS_READER_URL="$OPENFINOPS_READER_URL" \
    "$AIRFLOW_PY" "$OPENFINOPS_ROOT/superset/deploy.py" --url "$SS_URL" --user "$SS_ADMIN_USER" "$@"
}

cmd_env() {
  ensure_credentials
  printf "export SUPERSET_URL='%s' SUPERSET_ADMIN_USER='%s' SUPERSET_ADMIN_PASSWORD='%s'\n" \
    "$SS_URL" "$SS_ADMIN_USER" "$SUPERSET_ADMIN_PASSWORD"
}

case "${1:-}" in
  init) cmd_init ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  deploy) shift; cmd_deploy "$@" ;;
  env) cmd_env ;;
  *) echo "usage: $0 {init|start|stop|restart|status|deploy|env}" >&2; exit 2 ;;
esac
