#!/usr/bin/env bash
# `make lint`: ruff on Python, sqlfluff (dbt templater) on the dbt models.
. "$(dirname "$0")/lib.sh"
bash "$OPENFINOPS_ROOT/scripts/setup_venvs.sh" all
"$OPENFINOPS_VENV_DIR/airflow/bin/ruff" check "$OPENFINOPS_ROOT"
bash "$OPENFINOPS_ROOT/scripts/pg.sh" start
eval "$(bash "$OPENFINOPS_ROOT/scripts/pg.sh" env)"
eval "$("$AIRFLOW_PY" -c 'from openfinops.warehouse import dbt_env; print(" ".join(f"export {k}={v!r}" for k, v in dbt_env().items()))')"
cd "$OPENFINOPS_ROOT/dbt_project" && "$OPENFINOPS_VENV_DIR/dbt/bin/sqlfluff" lint models
