#!/usr/bin/env bash
# `make bench-transform`: the transform DAG's wall time vs the dbt build inside it and vs a bare dbt build. Needs the
# running demo (`make demo`: Airflow with the demo data loaded). Extra args go to the benchmark.
. "$(dirname "$0")/lib.sh"
eval "$(bash "$OPENFINOPS_ROOT/scripts/pg.sh" env)"
. "$OPENFINOPS_ROOT/scripts/airflow_env.sh"
curl -fsS "http://127.0.0.1:$AIRFLOW__API__PORT/api/v2/monitor/health" >/dev/null 2>&1 \
  || die "Airflow is not running on port $AIRFLOW__API__PORT: run make demo first"
exec "$AIRFLOW_PY" "$OPENFINOPS_ROOT/bench/transform_overhead.py" \
  --password-file "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" "$@"
