"""The read-only role Superset connects with (scripts/pg.sh creates it; dbt's on-run-start hook
macros/grants.sql grants it the marts), on the built demo warehouse: it reads every mart and nothing else, writes and
creates nothing (also after lifting its read-only default), cannot reach the Airflow and Superset metadata databases,
and a mart rebuilt by dbt stays readable - during the rebuild too."""

from __future__ import annotations

import os
import threading
import time
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import errors, sql

from tests.conftest import run_cli, with_database

REFUSED = (errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction)
PRIVATE_SCHEMAS = ("raw", "staging", "intermediate", "config", "ops", "alerts")


@pytest.fixture(scope="module")
def reader_url(built_warehouse) -> str:
    url = os.environ.get("OPENFINOPS_READER_URL")
    if not url:
        pytest.skip("OPENFINOPS_READER_URL is not set (scripts/pg.sh env exports it for the embedded PostgreSQL)")
    return with_database(url, urlsplit(built_warehouse.url).path.lstrip("/"))


def relations(url: str, schemas: tuple[str, ...]) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("""SELECT table_schema, table_name FROM information_schema.tables
                               WHERE table_schema = ANY(%s) ORDER BY 1, 2""", (list(schemas),)).fetchall()


def refused(url: str, statement: str | sql.Composable, read_write: bool = False) -> Exception | None:
    """Run one statement as the reader in its own session; the error it raised (None if it succeeded)."""
    with psycopg.connect(url, autocommit=True) as conn:
        if read_write:  # a session can lift default_transaction_read_only: privileges must still refuse
            conn.execute("SET default_transaction_read_only = off")
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            return exc
    return None


def test_the_reader_reads_every_mart(built_warehouse, reader_url):
    marts = relations(built_warehouse.url, ("marts",))
    assert len(marts) >= 20 and ("marts", "fct_data_health_daily") in marts
    with psycopg.connect(reader_url) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "1min"
        for schema, table in marts:
            conn.execute(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(schema, table))).fetchall()
        assert conn.execute("SELECT count(*) FROM marts.fct_cost_daily").fetchone()[0] > 0


def test_the_reader_is_refused_everything_outside_marts(built_warehouse, reader_url):
    private = relations(built_warehouse.url, PRIVATE_SCHEMAS)
    assert {s for s, _ in private} == set(PRIVATE_SCHEMAS)
    for schema, table in private:
        exc = refused(reader_url, sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(schema, table)))
        assert isinstance(exc, errors.InsufficientPrivilege), (schema, table, exc)


@pytest.mark.parametrize("read_write", [False, True], ids=["read-only default", "read-only lifted"])
def test_the_reader_writes_and_creates_nothing(reader_url, read_write):
    statements = [
        "INSERT INTO marts.fct_cost_daily SELECT * FROM marts.fct_cost_daily WHERE false",
        "UPDATE marts.fct_cost_daily SET billed_cost = 0 WHERE false",
        "DELETE FROM marts.fct_cost_daily WHERE false",
        "TRUNCATE marts.fct_budget_status",
        "DROP TABLE marts.fct_budget_status",
        "ALTER TABLE marts.fct_cost_daily ADD COLUMN x int",
        "CREATE TABLE marts.reader_table (i int)",
        "CREATE VIEW marts.reader_view AS SELECT 1 AS one",
        "CREATE TABLE public.reader_table (i int)",
        "CREATE FUNCTION public.reader_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE TEMP TABLE reader_temp (i int)",
        "CREATE SCHEMA reader_schema",
    ]
    for statement in statements:
        exc = refused(reader_url, statement, read_write=read_write)
        expected = errors.InsufficientPrivilege if read_write else REFUSED
        assert isinstance(exc, expected), (statement, exc)


def test_the_reader_cannot_connect_to_the_metadata_databases(reader_url):
    for database in ("airflow", "superset"):
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(with_database(reader_url, database)).close()


def test_a_rebuilt_mart_stays_readable_during_and_after_the_rebuild(built_warehouse, reader_url):
    def oid() -> int:
        with psycopg.connect(built_warehouse.url) as conn:
            return conn.execute("SELECT 'marts.fct_cost_daily'::regclass::oid").fetchone()[0]

    before = oid()
    stop, errors_seen, reads = threading.Event(), [], []

    def poll() -> None:
        with psycopg.connect(reader_url, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    reads.append(conn.execute("SELECT count(*) FROM marts.fct_cost_daily").fetchone()[0])
                except psycopg.Error as exc:
                    errors_seen.append(exc)
                time.sleep(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        proc = run_cli("dbt", "run", "-s", "fct_cost_daily", url=built_warehouse.url)
    finally:
        stop.set()
        poller.join(timeout=30)
    assert "grant_marts_to_reader: SELECT on schema marts" in proc.stdout
    assert oid() != before  # dbt really replaced the table
    assert errors_seen == [] and len(reads) > 10 and len(set(reads)) == 1
    with psycopg.connect(reader_url) as conn:
        assert conn.execute("SELECT count(*) FROM marts.fct_cost_daily").fetchone()[0] == reads[0]


def test_no_grants_and_a_log_line_when_the_reader_role_does_not_exist(built_warehouse):
    proc = run_cli("dbt", "run", "-s", "fct_llm_training_steps", url=built_warehouse.url,
                   extra_env={"OPENFINOPS_WH_READER_ROLE": "no_such_reader_role"})
    assert "grant_marts_to_reader: role no_such_reader_role does not exist - no read-only grants on marts" \
        in proc.stdout
