"""Warehouse connection settings. One URL (``OPENFINOPS_WAREHOUSE_URL``) points every part at the same PostgreSQL:
the CLI and tests connect with it, dbt gets its parts as ``OPENFINOPS_WH_*`` variables, Airflow gets it as the
``openfinops_warehouse`` connection."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from openfinops.config import ROOT

DBT_PROJECT_DIR = ROOT / "dbt_project"


def warehouse_url() -> str:
    url = os.environ.get("OPENFINOPS_WAREHOUSE_URL")
    if not url:
        raise RuntimeError("OPENFINOPS_WAREHOUSE_URL is not set: run through bin/openfinops (it starts the embedded "
                           "PostgreSQL and sets it) or export postgresql://user:password@host:port/dbname")
    return url


def connect(url: str | None = None):
    """A psycopg 3 connection (imported here so that DAG parsing never loads a database driver)."""
    import psycopg

    return psycopg.connect(url or warehouse_url())


def dbt_env(url: str | None = None) -> dict[str, str]:
    """The ``OPENFINOPS_WH_*`` variables ``dbt_project/profiles.yml`` reads, from a PostgreSQL URL."""
    parts = urlsplit(url or warehouse_url())
    if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise ValueError(f"OPENFINOPS_WAREHOUSE_URL: expected a postgresql:// URL, got scheme {parts.scheme!r}")
    return {
        "OPENFINOPS_WH_HOST": parts.hostname or "127.0.0.1",
        "OPENFINOPS_WH_PORT": str(parts.port or 5432),
        "OPENFINOPS_WH_USER": unquote(parts.username or ""),
        "OPENFINOPS_WH_PASSWORD": unquote(parts.password or ""),
        "OPENFINOPS_WH_DBNAME": parts.path.lstrip("/") or "postgres",
    }


def dbt_executable() -> str:
    return os.environ.get("OPENFINOPS_DBT_BIN") or str(ROOT / ".venv" / "dbt" / "bin" / "dbt")


@contextmanager
def serialised_ddl(conn: Any, key: str) -> Iterator[Any]:
    """Catalog changes one session at a time (two first loads, two collect runs creating ``raw`` / ``ops``): a
    session-level advisory lock on ``key``, taken in a short transaction of its own, then a cursor in a *new*
    transaction for the DDL. The new transaction matters: PostgreSQL reads other sessions' catalog changes at
    transaction start, so inside the transaction that waited, a cached "schema raw does not exist" made
    ``CREATE SCHEMA IF NOT EXISTS`` fail with a unique violation once the other session had created it. Call it on an
    idle connection (each ``conn.transaction()`` then is a transaction, not a savepoint)."""
    import psycopg

    with conn.transaction():
        conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
    try:
        with conn.transaction(), conn.cursor() as cur:
            yield cur
    finally:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
        except psycopg.OperationalError:
            pass  # the connection is gone, and its session lock with it
