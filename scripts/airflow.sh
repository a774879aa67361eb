#!/usr/bin/env bash
# Embedded Airflow: init (db migrate), start (standalone, in its own process group), stop, status.
. "$(dirname "$0")/lib.sh"
bash "$OPENFINOPS_ROOT/scripts/pg.sh" start
eval "$(bash "$OPENFINOPS_ROOT/scripts/pg.sh" env)"
. "$OPENFINOPS_ROOT/scripts/airflow_env.sh"
PID_FILE="$AIRFLOW_HOME/standalone.pid"
LOG_FILE="$AIRFLOW_HOME/standalone.log"

health() { curl -fsS "http://127.0.0.1:$AIRFLOW__API__PORT/api/v2/monitor/health" >/dev/null 2>&1; }
running() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

case "${1:-}" in
  init)
    mkdir -p "$AIRFLOW_HOME"
    log "airflow db migrate"
    "$AIRFLOW_BIN" db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { tail -n 30 "$AIRFLOW_HOME/migrate.log" >&2; die "airflow db migrate failed"; }
    log "airflow dags reserialize"
    "$AIRFLOW_BIN" dags reserialize >"$AIRFLOW_HOME/reserialize.log" 2>&1 || { tail -n 30 "$AIRFLOW_HOME/reserialize.log" >&2; die "airflow dags reserialize failed"; }
    ;;
  start)
    if running && health; then log "Airflow already running (pid $(cat "$PID_FILE"))"; exit 0; fi
    log "starting Airflow standalone on http://127.0.0.1:$AIRFLOW__API__PORT (log: $LOG_FILE)"
    setsid "$AIRFLOW_BIN" standalone >"$LOG_FILE" 2>&1 < /dev/null &
    echo $! > "$PID_FILE"
    for _ in $(seq 1 300); do health && break; sleep 1; done  # slow on a busy 2-core machine
    health || { tail -n 40 "$LOG_FILE" >&2; die "Airflow did not become healthy"; }
    log "Airflow is up"
    ;;
  stop)
    if running; then
      pgid=$(cat "$PID_FILE"); log "stopping Airflow (process group $pgid)"
      kill -TERM -- "-$pgid" 2>/dev/null || true
      for _ in $(seq 1 15); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 1; done
      kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
    ;;
  run) shift; exec "$AIRFLOW_BIN" "$@" ;;
  *) die "usage: airflow.sh init|start|stop|run ARGS" ;;
esac
