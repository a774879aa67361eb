#!/usr/bin/env bash
# `make bench-dashboards`: chart-data latency of every dashboard as its role's demo user vs the same SQL on
# PostgreSQL. Needs the running demo (`make demo`: Superset with the demo users). Extra args go to the benchmark.
. "$(dirname "$0")/lib.sh"
eval "$(bash "$OPENFINOPS_ROOT/scripts/pg.sh" env)"
eval "$(bash "$OPENFINOPS_ROOT/scripts/superset.sh" env)"
bash "$OPENFINOPS_ROOT/scripts/superset.sh" status >/dev/null || die "Superset is not running at $SUPERSET_URL: run make demo first"
exec "$AIRFLOW_PY" "$OPENFINOPS_ROOT/bench/dashboard_benchmark.py" --url "$SUPERSET_URL" \
  --users-file "$OPENFINOPS_CREDENTIALS_DIR/superset_users.json" "$@"
