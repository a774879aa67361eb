#!/usr/bin/env bash
# `make bench`: the load benchmark on the embedded PostgreSQL. Extra args go to bench/load_benchmark.py.
. "$(dirname "$0")/lib.sh"
bash "$OPENFINOPS_ROOT/scripts/setup_venvs.sh" all
bash "$OPENFINOPS_ROOT/scripts/pg.sh" start
eval "$(bash "$OPENFINOPS_ROOT/scripts/pg.sh" env)"
exec "$AIRFLOW_PY" "$OPENFINOPS_ROOT/bench/load_benchmark.py" "$@"
