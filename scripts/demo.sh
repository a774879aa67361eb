#!/usr/bin/env bash
# `make demo`: set up everything and run the whole pipeline on the embedded default (no credentials needed).
# Safe to run again: windows are replaced, never appended; totals stay the same on the same day.
. "$(dirname "$0")/lib.sh"
DAYS="${OPENFINOPS_DEMO_DAYS:-90}"
step() { log "[$1/8] $2"; }

step 1 "locked virtual environments (Airflow+collectors, dbt, Superset)"
bash "$OPENFINOPS_ROOT/scripts/setup_venvs.sh" all
step 2 "embedded PostgreSQL (warehouse, Airflow and Superset metadata databases)"
bash "$OPENFINOPS_ROOT/scripts/pg.sh" start
eval "$(bash "$OPENFINOPS_ROOT/scripts/pg.sh" env)"
step 3 "dbt parse (manifest for the transform DAG)"
"$AIRFLOW_PY" -m openfinops.cli dbt parse --quiet
step 4 "Airflow metadata (db migrate, DAG serialisation)"
bash "$OPENFINOPS_ROOT/scripts/airflow.sh" init
step 5 "Superset metadata (db upgrade, admin, init)"
bash "$OPENFINOPS_ROOT/scripts/superset.sh" init
step 6 "the ingest server, and the demo's GPU clusters and training jobs pushing $DAYS days of telemetry to it (left to the load cycle's transform); the local alert sink (Slack/webhook on :8099, SMTP on :8025); Airflow"
bash "$OPENFINOPS_ROOT/scripts/ingest_server.sh" start
(eval "$(bash "$OPENFINOPS_ROOT/scripts/ingest_server.sh" env)"
 "$AIRFLOW_PY" -m agents.demo_telemetry_agent --openfinops-endpoint "$OPENFINOPS_ENDPOINT" --lookback-days "$DAYS" \
   --spool-dir "$OPENFINOPS_STATE_DIR/demo-agent" --log-level WARNING --once)
"$AIRFLOW_PY" -m openfinops.cli telemetry-with-next-load
bash "$OPENFINOPS_ROOT/scripts/alert_sink.sh" start
bash "$OPENFINOPS_ROOT/scripts/airflow.sh" start
step 7 "load $DAYS days through the collect DAGs, then the Asset-triggered transform (dbt; it folds in the pushed telemetry too) and the alerts"
(. "$OPENFINOPS_ROOT/scripts/airflow_env.sh"
 "$AIRFLOW_PY" "$OPENFINOPS_ROOT/scripts/demo_run.py" --days "$DAYS" \
   --password-file "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
step 8 "start Superset; deploy the dashboards, roles, row-level security and one demo user per role"
bash "$OPENFINOPS_ROOT/scripts/superset.sh" start
bash "$OPENFINOPS_ROOT/scripts/superset.sh" deploy --demo-users

totals=$(psql "$OPENFINOPS_WAREHOUSE_URL" -X -A -t -F ' ' -c "
  SELECT provider_name, to_char(sum(billed_cost), 'FM999G999G990D00'), billing_currency
  FROM marts.fct_cost_daily GROUP BY provider_name, billing_currency ORDER BY 1" 2>/dev/null || true)
cat <<MSG

OpenFinOps demo is running.
  Airflow   http://127.0.0.1:${OPENFINOPS_AIRFLOW_PORT:-8080}   user admin, password in $OPENFINOPS_CREDENTIALS_DIR/airflow_passwords.json
  Superset  http://127.0.0.1:${OPENFINOPS_SUPERSET_PORT:-8088}/dashboard/list/   user admin, password in $OPENFINOPS_CREDENTIALS_DIR/superset.env
            dashboards: overview, cfo, coo, infrastructure, ml, team (http://127.0.0.1:${OPENFINOPS_SUPERSET_PORT:-8088}/superset/dashboard/<slug>/)
            one user per role (cfo, coo, infrastructure, ml, analyst, team-<id>): passwords in
            $OPENFINOPS_CREDENTIALS_DIR/superset_users.json
            SQL Lab (Analyst) reads the warehouse as the read-only role openfinops_reader (schema marts only)
  Ingest    http://127.0.0.1:${OPENFINOPS_SERVER_PORT:-8081}/api/health   (agents and the Python API push here; admin token in
            $OPENFINOPS_CREDENTIALS_DIR/server.env)
  Warehouse $(echo "$OPENFINOPS_WAREHOUSE_URL" | sed -E 's#//([^:]+):[^@]+@#//\1:***@#')   (password in $OPENFINOPS_CREDENTIALS_DIR/postgres.env)
  Alerts    sent by the transform DAG to the local sink: $OPENFINOPS_STATE_DIR/alerts-inbox/{slack,webhook,email}.jsonl
            ($(psql "$OPENFINOPS_WAREHOUSE_URL" -X -A -t -c "SELECT count(*) FROM alerts.notifications" 2>/dev/null || echo "?") message(s) recorded in alerts.notifications)
  CLI       bin/openfinops sources | collect SOURCE --start D --end D | transform | alerts
Billed cost in marts.fct_cost_daily (last $DAYS days):
$(echo "$totals" | sed 's/^/  /')
Stop everything: make stop
MSG
