#!/usr/bin/env bash
# Runs once on a new PostgreSQL volume: roles and databases for the warehouse, Airflow and Superset.
# Passwords come from the container environment (docker-compose.yml <- .env).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE ROLE openfinops LOGIN PASSWORD '${WAREHOUSE_DB_PASSWORD}';
CREATE DATABASE openfinops OWNER openfinops;
CREATE ROLE airflow LOGIN PASSWORD '${AIRFLOW_DB_PASSWORD}';
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE superset LOGIN PASSWORD '${SUPERSET_DB_PASSWORD}';
CREATE DATABASE superset OWNER superset;
SQL
