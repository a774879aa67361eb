#!/usr/bin/env bash
# Runs once on a new PostgreSQL volume: roles and databases for the warehouse, Airflow and Superset, and the
# read-only role Superset reads the marts with.
# Passwords come from the container environment (docker-compose.yml <- .env).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE ROLE openfinops LOGIN PASSWORD '${WAREHOUSE_DB_PASSWORD}';
CREATE DATABASE openfinops OWNER openfinops;
CREATE ROLE airflow LOGIN PASSWORD '${AIRFLOW_DB_PASSWORD}';
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE superset LOGIN PASSWORD '${SUPERSET_DB_PASSWORD}';
CREATE DATABASE superset OWNER superset;
-- Superset's read-only login: SELECT on schema marts only (granted by dbt's on-run-start hook,
-- dbt_project/macros/grants.sql); never the warehouse owner.
CREATE ROLE openfinops_reader LOGIN PASSWORD '${READER_DB_PASSWORD}';
ALTER ROLE openfinops_reader SET default_transaction_read_only = on;
ALTER ROLE openfinops_reader SET statement_timeout = '60s';
REVOKE CONNECT ON DATABASE airflow, superset FROM PUBLIC;
SQL
