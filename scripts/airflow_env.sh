# Airflow settings for the embedded runtime. Source after scripts/lib.sh and the pg env.
export AIRFLOW_HOME="${AIRFLOW_HOME:-$OPENFINOPS_STATE_DIR/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$OPENFINOPS_ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM=4
# New DAGs start paused: `make demo` creates its load runs first, then unpauses everything, so the loads and the
# scheduled runs of the latest interval land as one load cycle (one transform). Unpause a DAG in the UI to schedule it.
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-$OPENFINOPS_AIRFLOW_DB_URL}"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="${OPENFINOPS_AIRFLOW_PORT:-8080}"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:${AIRFLOW__API__PORT}/execution/"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30
# Re-parse a DAG file every 10 minutes, not every 30 s: parsing transform.py costs ~3-8 s of CPU, and re-parsing it
# twice a minute took a quarter of a core from dbt on this 2-core machine (bare dbt build 52 s -> 66 s beside it).
# A changed config file reaches the DAGs within 10 minutes (or at once with `airflow dags reserialize`).
export AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="${AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL:-600}"
# Parsing transform.py (Cosmos + a ~500-node manifest) takes ~12 s on 2 idle cores and > 30 s (the default import
# timeout) when the machine is busy; a task whose DAG does not parse in time is only rescheduled, again and again.
export AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT="${AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT:-180}"
export AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT="${AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT:-240}"
export AIRFLOW__COSMOS__CACHE_DIR="$OPENFINOPS_STATE_DIR/cosmos-cache"
export AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW__LOGGING__LOGGING_LEVEL:-INFO}"
# The warehouse as an Airflow connection (credentials from the environment only, never in git or the metadata DB).
export AIRFLOW_CONN_OPENFINOPS_WAREHOUSE="$OPENFINOPS_WAREHOUSE_URL"
# The e-mail alert channel's SMTP server (config: alert_channels finops-email, connection_id openfinops_smtp).
# Default: the demo's local alert sink (scripts/alert_sink.sh, no TLS, no login); set it to reach a real server.
if [ -z "${AIRFLOW_CONN_OPENFINOPS_SMTP:-}" ]; then
  export AIRFLOW_CONN_OPENFINOPS_SMTP='{"conn_type": "smtp", "host": "127.0.0.1", "port": 8025, "extra": {"disable_ssl": true, "disable_tls": true, "from_email": "openfinops@localhost", "timeout": 30}}'
fi
# Fixed logins with generated passwords (see $OPENFINOPS_CREDENTIALS_DIR/airflow_passwords.json).
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin,viewer:viewer"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$OPENFINOPS_CREDENTIALS_DIR/airflow_passwords.json"
if [ ! -f "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" ]; then
  mkdir -p "$OPENFINOPS_CREDENTIALS_DIR"
  (umask 077; python3 -c 'import json,secrets; print(json.dumps({"admin": secrets.token_urlsafe(16), "viewer": secrets.token_urlsafe(16)}))' \
    > "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
fi
if [ ! -f "$OPENFINOPS_CREDENTIALS_DIR/airflow.env" ]; then
  (umask 077; printf 'AIRFLOW__API_AUTH__JWT_SECRET=%s\nAIRFLOW__API__SECRET_KEY=%s\nAIRFLOW__CORE__FERNET_KEY=%s\n' \
    "$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')" \
    "$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')" \
    "$(python3 -c 'import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')" \
    > "$OPENFINOPS_CREDENTIALS_DIR/airflow.env")
fi
set -a; . "$OPENFINOPS_CREDENTIALS_DIR/airflow.env"; set +a
AIRFLOW_BIN="$OPENFINOPS_VENV_DIR/airflow/bin/airflow"
export PATH="$OPENFINOPS_VENV_DIR/airflow/bin:$PATH"  # standalone spawns `airflow` sub-processes
