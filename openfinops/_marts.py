"""Shared plumbing of the Python API (``ObservabilityHub``, ``CostObservatory``, ``LLMObservabilityHub``, the
dashboards): which warehouse to read, read-only queries on the marts, and the two small tables the API writes
(``config.api_clusters``, ``config.api_budgets``)."""

from __future__ import annotations

import os
from typing import Any

from openfinops.warehouse import serialised_ddl

API_DDL = """
CREATE SCHEMA IF NOT EXISTS config;
CREATE TABLE IF NOT EXISTS config.api_clusters (
    cluster_id text PRIMARY KEY, region text NOT NULL, nodes int NOT NULL, node_ids text[] NOT NULL,
    registered_at timestamptz NOT NULL, updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS config.api_budgets (
    budget_id text PRIMARY KEY, budget_name text NOT NULL, amount numeric NOT NULL, currency text NOT NULL,
    period text NOT NULL, start_month int NOT NULL, thresholds int[] NOT NULL,
    forecast_thresholds int[] NOT NULL DEFAULT '{100}', channels text[] NOT NULL DEFAULT '{}',
    scope_providers text[], scope_billing_account_ids text[], scope_sub_account_ids text[], scope_services text[],
    scope_service_categories text[], scope_sources text[], scope_teams text[], scope_environments text[],
    scope_tags jsonb,
    start_time timestamptz NOT NULL, alert_threshold numeric NOT NULL, scope_original jsonb NOT NULL,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL
);
"""


def resolve_url(warehouse_url: str | None) -> str:
    url = warehouse_url or os.environ.get("OPENFINOPS_WAREHOUSE_URL")
    if not url:
        raise RuntimeError("no warehouse: pass warehouse_url=... or set OPENFINOPS_WAREHOUSE_URL "
                           "(postgresql://user:password@host:port/dbname)")
    return url


def connect(url: str, read_only: bool = False) -> Any:
    import psycopg

    conn = psycopg.connect(url, connect_timeout=10, application_name="openfinops-python-api")
    if read_only:
        conn.read_only = True
    return conn


def query(url: str, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    """Rows as dicts, in a read-only transaction (numeric comes back as ``Decimal``)."""
    from psycopg.rows import dict_row

    with connect(url, read_only=True) as conn:
        try:
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.rollback()


def relation_exists(url: str, name: str) -> bool:
    return bool(query(url, "SELECT to_regclass(%s) IS NOT NULL AS present", (name,))[0]["present"])


def ensure_api_tables(conn: Any) -> None:
    """Create ``config.api_clusters`` / ``config.api_budgets`` once (serialised like every DDL of the project)."""
    present = conn.execute("SELECT count(to_regclass(n)) FROM unnest(%s::text[]) n",
                           (["config.api_clusters", "config.api_budgets"],)).fetchone()[0]
    conn.commit()
    if present == 2:
        return
    with serialised_ddl(conn, "openfinops.api.ddl") as cur:
        cur.execute(API_DDL)
