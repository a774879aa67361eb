# Shared settings for the project scripts. Source it: `. scripts/lib.sh`.
# Everything generated (venvs aside) lives under $OPENFINOPS_STATE_DIR (default .openfinops/, git-ignored).
set -euo pipefail

OPENFINOPS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OPENFINOPS_ROOT
export OPENFINOPS_STATE_DIR="${OPENFINOPS_STATE_DIR:-$OPENFINOPS_ROOT/.openfinops}"
export OPENFINOPS_VENV_DIR="${OPENFINOPS_VENV_DIR:-$OPENFINOPS_ROOT/.venv}"
export OPENFINOPS_CREDENTIALS_DIR="$OPENFINOPS_STATE_DIR/credentials"
export OPENFINOPS_CONFIG="${OPENFINOPS_CONFIG:-$OPENFINOPS_ROOT/config/openfinops.yaml}"
export OPENFINOPS_PG_PORT="${OPENFINOPS_PG_PORT:-54329}"
export PYTHONPATH="$OPENFINOPS_ROOT${PYTHONPATH:+:$PYTHONPATH}"
# Telemetry off everywhere: the machine has no route out and we do not phone home.
export DO_NOT_TRACK=1 DBT_SEND_ANONYMOUS_USAGE_STATS=false AIRFLOW__COSMOS__ENABLE_TELEMETRY=False
export SCARF_ANALYTICS=false

AIRFLOW_PY="$OPENFINOPS_VENV_DIR/airflow/bin/python"
DBT_BIN="$OPENFINOPS_VENV_DIR/dbt/bin/dbt"
SUPERSET_BIN="$OPENFINOPS_VENV_DIR/superset/bin/superset"
export OPENFINOPS_DBT_BIN="$DBT_BIN"

log() { printf '[openfinops %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
