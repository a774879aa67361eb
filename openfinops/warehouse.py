"""Warehouse connection settings. One URL (``OPENFINOPS_WAREHOUSE_URL``) points every part at the same PostgreSQL:
the CLI and tests connect with it, dbt gets its parts as ``OPENFINOPS_WH_*`` variables, Airflow gets it as the
``openfinops_warehouse`` connection."""

from __future__ import annotations

import os
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
