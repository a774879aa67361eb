#!/usr/bin/env bash
# `make test` (and .ci/run): set up everything the suite needs, then run it. Extra args go to pytest.
. "$(dirname "$0")/lib.sh"
bash "$OPENFINOPS_ROOT/scripts/setup_venvs.sh" all
was_running=0
[ -f "$OPENFINOPS_STATE_DIR/pg/data/postmaster.pid" ] && was_running=1
bash "$OPENFINOPS_ROOT/scripts/pg.sh" start
eval "$(bash "$OPENFINOPS_ROOT/scripts/pg.sh" env)"
# Stop PostgreSQL on exit when this run started it (CI starts with nothing running).
[ "$was_running" = 1 ] || [ -n "${OPENFINOPS_KEEP_PG:-}" ] || trap 'bash "$OPENFINOPS_ROOT/scripts/pg.sh" stop' EXIT
bash "$OPENFINOPS_ROOT/scripts/install_chromium.sh"
log "lint: ruff + sqlfluff"
bash "$OPENFINOPS_ROOT/scripts/lint.sh"
log "dbt parse (manifest for the transform DAG)"
"$AIRFLOW_PY" -m openfinops.cli dbt parse --quiet
log "pytest"
cd "$OPENFINOPS_ROOT"
"$AIRFLOW_PY" -m pytest tests -p no:cacheprovider "$@"
