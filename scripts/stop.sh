#!/usr/bin/env bash
# `make stop`: stop what `make demo` started (Superset, Airflow, PostgreSQL).
. "$(dirname "$0")/lib.sh"
bash "$OPENFINOPS_ROOT/scripts/superset.sh" stop || true
bash "$OPENFINOPS_ROOT/scripts/airflow.sh" stop || true
bash "$OPENFINOPS_ROOT/scripts/pg.sh" stop
