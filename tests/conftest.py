"""Shared fixtures: real PostgreSQL (the embedded cluster, or OPENFINOPS_PG_ADMIN_URL), throw-away databases, and a
warehouse built end to end (demo data loaded by the real loader, ``dbt build`` by the real dbt).

Airflow is pointed at a temporary home with a SQLite metadata DB before anything imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))

# --- Airflow: temporary home + SQLite metadata, set before any airflow import --------------------------------------
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="openfinops-test-airflow-"))
os.environ.update({
    "AIRFLOW_HOME": str(_AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "AIRFLOW__COSMOS__CACHE_DIR": str(_AIRFLOW_HOME / "cosmos"),
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "SCARF_ANALYTICS": "false",
    "OPENFINOPS_DBT_BIN": str(ROOT / ".venv" / "dbt" / "bin" / "dbt"),
})

# 38 days across two month boundaries (Savings Plan purchases on Oct 1 and Nov 1); the demo's cost spikes on Oct 11
# and Nov 3 have the 14 days of history an anomaly verdict needs, and the one on the last day is an open anomaly
DEMO_START = date(2026, 9, 27)
DEMO_END = date(2026, 11, 4)


def admin_url() -> str:
    url = os.environ.get("OPENFINOPS_PG_ADMIN_URL")
    if not url:
        pytest.fail("OPENFINOPS_PG_ADMIN_URL is not set: run the suite with `make test` (it starts PostgreSQL)")
    return url


def with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def create_database(prefix: str) -> str:
    """A fresh database owned by the warehouse role; returns its URL (warehouse credentials)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    warehouse = os.environ["OPENFINOPS_WAREHOUSE_URL"]
    owner = urlsplit(warehouse).username
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
    return with_database(warehouse, name)


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def empty_db() -> Iterator[str]:
    url = create_database("ofo_test")
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def cfg():
    from openfinops.config import load_config

    return load_config(ROOT / "config" / "openfinops.yaml")


def run_cli(*args: str, url: str, check: bool = True, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENFINOPS_WAREHOUSE_URL": url, "PYTHONPATH": str(ROOT), **(extra_env or {})}
    proc = subprocess.run([sys.executable, "-m", "openfinops.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        pytest.fail(f"openfinops {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                    f"{proc.stderr[-4000:]}")
    return proc


@dataclass
class BuiltWarehouse:
    url: str
    start: date
    end: date
    dbt_output: str


def push_demo_telemetry(cfg, url: str, start: date, end: date) -> None:
    """The demo's cluster and training telemetry pushed as make demo pushes it: the demo agent against a real
    ingest server on ``url`` (every batch acknowledged, i.e. committed)."""
    from agents.demo_telemetry_agent import DemoTelemetryAgent
    from tests.servers import Server

    admin = uuid.uuid4().hex
    server = Server(warehouse_url=url, admin_token=admin)
    try:
        with tempfile.TemporaryDirectory(prefix="ofo-demo-agent-") as spool:
            agent = DemoTelemetryAgent(server.url, admin_token=admin, spool_dir=Path(spool),
                                       clusters=[c.model_dump() for c in cfg.clusters],
                                       lookback_days=(end - start).days,
                                       now=lambda: datetime.combine(end, time(), UTC))
            result = agent.run_once()
            assert result.ok, f"demo telemetry not delivered: {result.summary()}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def built_warehouse(cfg) -> Iterator[BuiltWarehouse]:
    """36 days of demo data: every configured source loaded through the CLI (real loader), the demo clusters' and
    training jobs' telemetry pushed through the ingest server by the demo agent, then ``openfinops transform``
    (config tables, the telemetry fold-in's tables, real ``dbt build`` with its tests)."""
    url = create_database("ofo_built")
    for source in cfg.sources:
        run_cli("collect", source.id, "--start", DEMO_START.isoformat(), "--end", DEMO_END.isoformat(), url=url)
    push_demo_telemetry(cfg, url, DEMO_START, DEMO_END)
    proc = run_cli("transform", url=url, check=False)
    if proc.returncode != 0:
        drop_database(url)
        pytest.fail(f"dbt build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
    yield BuiltWarehouse(url=url, start=DEMO_START, end=DEMO_END, dbt_output=proc.stdout)
    drop_database(url)


# -- throw-away PostgreSQL clusters (tests that restart a server or run init scripts) ------------------------------

PG_USER = os.environ.get("OPENFINOPS_PG_SYSTEM_USER", "openfinops-pg")


def bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL server binaries missing: make test installs them (scripts/pg.sh)")
    return found[-1].parent


def as_pg(argv: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        argv = ["runuser", "-u", PG_USER, "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def databricks_raw_costs(url: str) -> list[dict]:
    """Every Databricks usage record in raw with its cost, computed here from the two raw tables: quantity x the
    price of the same source, SKU, cloud and unit valid at usage_start_time (effective_list.default, else default),
    the price rows taken from their latest load. Raises if a record has no price."""
    from decimal import Decimal

    with psycopg.connect(url) as conn:
        prices = conn.execute("""SELECT _source_id, sku_name, cloud, usage_unit, price_start_time, price_end_time,
                                        pricing, currency_code, _loaded_at
                                 FROM raw.databricks_billing_list_prices ORDER BY _loaded_at""").fetchall()
        usage = conn.execute("""SELECT _source_id, record_id, account_id, workspace_id, sku_name, cloud, usage_unit,
                                       usage_start_time, usage_quantity, billing_origin_product, custom_tags
                                FROM raw.databricks_billing_usage""").fetchall()
    latest = {}
    for source, sku, cloud, unit, start, end, pricing, currency, _ in prices:  # later loads overwrite
        price = (pricing.get("effective_list") or {}).get("default") or pricing["default"]
        latest[(source, sku, cloud, unit, start)] = (end, Decimal(price), currency)
    out = []
    for source, record, account, workspace, sku, cloud, unit, start, quantity, product, tags in usage:
        match = [(p, c) for (s, k, cl, u, begin), (end, p, c) in latest.items()
                 if (s, k, cl, u) == (source, sku, cloud, unit) and begin <= start and (end is None or start < end)]
        assert len(match) == 1, (source, record, match)
        out.append({"source_id": source, "record_id": record, "account_id": account, "workspace_id": workspace,
                    "usage_start_time": start, "billing_origin_product": product, "custom_tags": tags,
                    "cost": quantity * match[0][0], "currency": match[0][1]})
    return out


def snowflake_raw_costs(url: str) -> list[dict]:
    """Every Snowflake metering day in raw with its cost, computed here: credits_billed x the source's contract price,
    else its edition's list price of the day read from the seed file (dbt_project/seeds/snowflake_credit_prices.csv),
    the latest load of each (source, account, service type, day)."""
    import csv
    from datetime import date as _date
    from decimal import Decimal

    with open(ROOT / "dbt_project" / "seeds" / "snowflake_credit_prices.csv", newline="") as f:
        prices = list(csv.DictReader(f))

    def list_price(edition: str, currency: str, day) -> Decimal:
        match = [Decimal(p["credit_price"]) for p in prices if (p["edition"], p["currency"]) == (edition, currency)
                 and _date.fromisoformat(p["effective_from"]) <= day
                 and (not p["effective_to"] or day < _date.fromisoformat(p["effective_to"]))]
        assert len(match) == 1, (edition, currency, day, match)
        return match[0]

    with psycopg.connect(url) as conn:
        rows = conn.execute("""SELECT DISTINCT ON (_source_id, account_name, service_type, usage_date)
                                      _source_id, account_name, organization_name, service_type, usage_date,
                                      credits_billed, edition, contract_credit_price, currency
                               FROM raw.snowflake_billing_metering_daily
                               ORDER BY _source_id, account_name, service_type, usage_date, _loaded_at DESC
                            """).fetchall()
    out = []
    for source, account, organisation, service_type, day, credits, edition, contract, currency in rows:
        price = contract if contract is not None else list_price(edition, currency, day)
        out.append({"source_id": source, "account_name": account, "organization_name": organisation,
                    "service_type": service_type, "usage_date": day, "cost": credits * price,
                    "currency": currency})
    return out
