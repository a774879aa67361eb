#!/usr/bin/env bash
# The demo's ingest server (openfinops-server: agents and the Python API push telemetry to it) on
# 127.0.0.1:${OPENFINOPS_SERVER_PORT:-8081}, writing to the warehouse of `scripts/pg.sh env`. Its admin token (agent
# registration) is generated once into $OPENFINOPS_CREDENTIALS_DIR/server.env (git-ignored, mode 600).
#   scripts/ingest_server.sh start | stop | status | env
. "$(dirname "$0")/lib.sh"
SERVER_DIR="$OPENFINOPS_STATE_DIR/ingest-server"
PID_FILE="$SERVER_DIR/server.pid"
LOG_FILE="$SERVER_DIR/server.log"
PORT="${OPENFINOPS_SERVER_PORT:-8081}"
TOKEN_FILE="$OPENFINOPS_CREDENTIALS_DIR/server.env"

running() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }
health() { curl -fsS "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1; }
token() {
  if [ ! -s "$TOKEN_FILE" ]; then
    mkdir -p "$OPENFINOPS_CREDENTIALS_DIR"
    (umask 077; printf 'OPENFINOPS_SERVER_ADMIN_TOKEN=%s\n' "$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')" \
      > "$TOKEN_FILE")
  fi
  sed -n 's/^OPENFINOPS_SERVER_ADMIN_TOKEN=//p' "$TOKEN_FILE"
}

case "${1:-}" in
  start)
    if running && health; then log "ingest server already running (pid $(cat "$PID_FILE"))"; exit 0; fi
    eval "$(bash "$OPENFINOPS_ROOT/scripts/pg.sh" env)"
    mkdir -p "$SERVER_DIR"
    log "starting the ingest server: http://127.0.0.1:$PORT (log: $LOG_FILE)"
    OPENFINOPS_SERVER_ADMIN_TOKEN="$(token)" setsid "$AIRFLOW_PY" -m openfinops.server.cli --host 127.0.0.1 \
      --port "$PORT" --log-level warning >"$LOG_FILE" 2>&1 < /dev/null &
    echo $! > "$PID_FILE"
    for _ in $(seq 1 60); do health && break; sleep 0.5; done
    health || { tail -n 20 "$LOG_FILE" >&2; die "the ingest server did not start"; }
    ;;
  stop)
    if running; then
      pid=$(cat "$PID_FILE"); log "stopping the ingest server (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
    ;;
  status) running && health && echo "running (pid $(cat "$PID_FILE"), http://127.0.0.1:$PORT)" || { echo "stopped"; exit 1; } ;;
  env) printf 'export OPENFINOPS_ENDPOINT=http://127.0.0.1:%s OPENFINOPS_SERVER_ADMIN_TOKEN=%q\n' "$PORT" "$(token)" ;;
  *) die "usage: ingest_server.sh start|stop|status|env" ;;
esac
