#!/usr/bin/env bash
# The demo's local alert sink (openfinops/alert_sink.py): HTTP on 127.0.0.1:8099 (Slack-style /slack/... and the
# generic /openfinops-alerts webhook) and SMTP on 127.0.0.1:8025; received messages go to
# $OPENFINOPS_STATE_DIR/alerts-inbox/{slack,webhook,email}.jsonl. The demo config's channels point at it.
#   scripts/alert_sink.sh start | stop | status
. "$(dirname "$0")/lib.sh"
SINK_DIR="$OPENFINOPS_STATE_DIR/alert-sink"
PID_FILE="$SINK_DIR/alert-sink.pid"
LOG_FILE="$SINK_DIR/alert-sink.log"
HTTP_PORT=8099
SMTP_PORT=8025

running() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }
health() { curl -fsS "http://127.0.0.1:$HTTP_PORT/health" >/dev/null 2>&1; }

case "${1:-}" in
  start)
    if running && health; then log "alert sink already running (pid $(cat "$PID_FILE"))"; exit 0; fi
    mkdir -p "$SINK_DIR"
    log "starting the alert sink: http://127.0.0.1:$HTTP_PORT, smtp://127.0.0.1:$SMTP_PORT (log: $LOG_FILE)"
    setsid "$AIRFLOW_PY" -m openfinops.cli alert-sink --inbox "$OPENFINOPS_STATE_DIR/alerts-inbox" \
      --http-port "$HTTP_PORT" --smtp-port "$SMTP_PORT" >"$LOG_FILE" 2>&1 < /dev/null &
    echo $! > "$PID_FILE"
    for _ in $(seq 1 30); do health && break; sleep 0.5; done
    health || { tail -n 20 "$LOG_FILE" >&2; die "the alert sink did not start"; }
    ;;
  stop)
    if running; then
      pid=$(cat "$PID_FILE"); log "stopping the alert sink (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 10); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
    ;;
  status) running && health && echo "running (pid $(cat "$PID_FILE"))" || { echo "stopped"; exit 1; } ;;
  *) die "usage: alert_sink.sh start|stop|status" ;;
esac
