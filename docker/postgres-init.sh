#!/usr/bin/env bash
# Runs once on a new PostgreSQL volume: roles and databases for the warehouse, Airflow and Superset, and the
# read-only role Superset reads the marts with.
# Passwords come from the container environment (docker-compose.yml <- .env). They reach SQL only as psql variables
# quoted by psql itself (:'name'), so any character - quotes, backslashes, semicolons - is safe.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" \
  -v warehouse_password="${WAREHOUSE_DB_PASSWORD:?WAREHOUSE_DB_PASSWORD is not set}" \
  -v airflow_password="${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD is not set}" \
  -v superset_password="${SUPERSET_DB_PASSWORD:?SUPERSET_DB_PASSWORD is not set}" \
  -v reader_password="${READER_DB_PASSWORD:?READER_DB_PASSWORD is not set}" <<'SQL'
CREATE ROLE openfinops LOGIN PASSWORD :'warehouse_password';
CREATE DATABASE openfinops OWNER openfinops;
CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE superset LOGIN PASSWORD :'superset_password';
CREATE DATABASE superset OWNER superset;
-- Superset's read-only login: SELECT on schema marts only (granted by dbt's on-run-start hook,
-- dbt_project/macros/grants.sql); never the warehouse owner.
CREATE ROLE openfinops_reader LOGIN PASSWORD :'reader_password';
ALTER ROLE openfinops_reader SET default_transaction_read_only = on;
ALTER ROLE openfinops_reader SET statement_timeout = '60s';
REVOKE CONNECT ON DATABASE airflow, superset FROM PUBLIC;
SQL
