#!/usr/bin/env bash
# `make stop`: stop what `make demo` started (Superset, Airflow, the ingest server, the alert sink, PostgreSQL).
. "$(dirname "$0")/lib.sh"
bash "$OPENFINOPS_ROOT/scripts/superset.sh" stop || true
bash "$OPENFINOPS_ROOT/scripts/airflow.sh" stop || true
bash "$OPENFINOPS_ROOT/scripts/ingest_server.sh" stop || true
bash "$OPENFINOPS_ROOT/scripts/alert_sink.sh" stop || true
bash "$OPENFINOPS_ROOT/scripts/pg.sh" stop
