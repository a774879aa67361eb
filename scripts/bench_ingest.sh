#!/usr/bin/env bash
# `make bench-ingest`: the ingest server under concurrent agents vs bare COPY, on the embedded PostgreSQL.
# Extra args go to bench/ingest_benchmark.py (--agents, --batches, --records, --workers).
. "$(dirname "$0")/lib.sh"
bash "$OPENFINOPS_ROOT/scripts/setup_venvs.sh" all
bash "$OPENFINOPS_ROOT/scripts/pg.sh" start
eval "$(bash "$OPENFINOPS_ROOT/scripts/pg.sh" env)"
exec "$AIRFLOW_PY" "$OPENFINOPS_ROOT/bench/ingest_benchmark.py" "$@"
