"""Operational logs in the warehouse: what was loaded and how each pipeline run ended (schema ``ops``).

Two tables, created idempotently by :func:`ensure_tables` (called by ``pipeline.sync_config`` before every dbt build,
so the dbt sources always exist, and by every writer):

* ``ops.loads`` - one row per load attempt and dataset (:meth:`openfinops.loader.Loader.load`). A successful load
  writes its rows **inside the load transaction**, so a load that is rolled back leaves no 'success' row; a failed
  load writes 'failed' rows in a transaction of their own after the rollback. ``load_id`` identifies the attempt
  (all datasets of one attempt share it), ``batch_id`` the Airflow run id or the CLI batch id, ``window_start`` /
  ``window_end`` the window actually replaced (look-back and alignment included).
* ``ops.pipeline_runs`` - one row per pipeline run, key (pipeline, run_id): ``collect_<source_id>`` (type
  ``collect``) or ``transform``. :func:`start_run` upserts it as 'running' and counts the attempt, so an Airflow retry
  of the same run id updates the row (attempts + 1) instead of adding one; :func:`finish_run` sets the final status,
  ``finished_at`` and the error.

Errors are stored redacted (:func:`redact_error`: connection URLs lose their password, ``password=...`` pairs and
the passwords of the environment are replaced by ``***``) and truncated to :data:`MAX_ERROR_CHARS` characters.
Times are the wall clock of the writing process (UTC): these tables say when things happened, not which data
window they cover.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from psycopg import Connection, pq

from openfinops.warehouse import serialised_ddl

log = logging.getLogger(__name__)

PipelineType = Literal["collect", "transform"]
Trigger = Literal["airflow", "cli"]
MAX_ERROR_CHARS = 2000
REDACTED = "***"
TRANSFORM_PIPELINE = "transform"
_DDL_LOCK = "openfinops.run_log.ddl"

OPS_DDL = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.loads (
    load_id text NOT NULL, source_id text NOT NULL, batch_id text NOT NULL, dataset text NOT NULL,
    raw_table text NOT NULL, window_start timestamptz NOT NULL, window_end timestamptz NOT NULL,
    status text NOT NULL CHECK (status IN ('success', 'failed')),
    rows_loaded bigint NOT NULL, rows_rejected bigint NOT NULL, rows_replaced bigint NOT NULL,
    started_at timestamptz NOT NULL, finished_at timestamptz NOT NULL, error text,
    PRIMARY KEY (load_id, dataset)
);
CREATE INDEX IF NOT EXISTS loads_source_finished_idx ON ops.loads (source_id, finished_at);
COMMENT ON TABLE ops.loads IS
    'One row per load attempt (load_id) and dataset, written by the loader: success rows inside the load '
    'transaction, failed rows after its rollback. error is redacted.';
CREATE TABLE IF NOT EXISTS ops.pipeline_runs (
    pipeline text NOT NULL, pipeline_type text NOT NULL CHECK (pipeline_type IN ('collect', 'transform')),
    run_id text NOT NULL, trigger text NOT NULL CHECK (trigger IN ('airflow', 'cli')),
    status text NOT NULL CHECK (status IN ('running', 'success', 'failed')),
    started_at timestamptz NOT NULL, finished_at timestamptz, attempts int NOT NULL, error text,
    PRIMARY KEY (pipeline, run_id)
);
COMMENT ON TABLE ops.pipeline_runs IS
    'One row per pipeline run (collect_<source_id> or transform); a retry of the same run id updates it '
    '(attempts + 1). error is redacted.';
"""

# scheme://user:password@host -> scheme://user:***@host (any scheme, also postgresql+psycopg://)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:)(?P<secret>[^@\s/]+)(?=@)")
# password=..., password: ..., "password": "..." (libpq DSNs, JSON, log lines)
_KEY_VALUE_SECRET = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|secret|token|api[_-]?key)\b[\"']?\s*[=:]\s*[\"']?)(?P<secret>[^\s\"',;&]+)",
    re.IGNORECASE)
_MIN_SECRET_LENGTH = 6  # shorter values would redact ordinary text


_RELATIONS = ("ops.loads", "ops.loads_source_finished_idx", "ops.pipeline_runs")


def ensure_tables(conn: Connection) -> None:
    """Create schema ``ops`` and its tables if missing (own transaction). When they all exist nothing is executed
    (no DDL lock is taken while loads write); otherwise ``warehouse.serialised_ddl`` keeps concurrent collect runs
    from racing on the catalog."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT count(to_regclass(name)) FROM unnest(%s::text[]) AS name", (list(_RELATIONS),))
        if cur.fetchone()[0] == len(_RELATIONS):
            return
    with serialised_ddl(conn, _DDL_LOCK) as cur:
        cur.execute(OPS_DDL)


def new_run_id() -> str:
    """A run / batch id for runs without an Airflow run id (the CLI)."""
    return uuid.uuid4().hex


def collect_pipeline(source_id: str) -> str:
    return f"collect_{source_id}"


def _environment_secrets() -> list[str]:
    """Passwords this process knows of: every ``*PASSWORD*`` variable and the password of every URL-valued
    variable (the warehouse URL, Airflow connections given as URIs)."""
    secrets = []
    for name, value in os.environ.items():
        if not value:
            continue
        if "PASSWORD" in name.upper() or "SECRET" in name.upper():
            secrets.append(value)
        for match in _URL_PASSWORD.finditer(value):
            secrets.append(match.group("secret"))
    return [s for s in secrets if len(s) >= _MIN_SECRET_LENGTH]


def redact_error(error: BaseException | str | None) -> str | None:
    """The text to store for an error: ``<ExceptionType>: <message>``, with URL passwords, ``password=...`` pairs
    and known environment secrets replaced by ``***``, truncated to :data:`MAX_ERROR_CHARS`."""
    if error is None:
        return None
    text = error if isinstance(error, str) else (f"{type(error).__name__}: {error}" if str(error)
                                                 else type(error).__name__)
    for secret in sorted(set(_environment_secrets()), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED, text)
    text = _KEY_VALUE_SECRET.sub(lambda m: m.group("head") + REDACTED, text)
    if len(text) > MAX_ERROR_CHARS:
        text = text[:MAX_ERROR_CHARS - 3] + "..."
    return text


# --- ops.loads -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadRow:
    """One dataset of one load attempt, as ``ops.loads`` keeps it."""

    dataset: str
    raw_table: str
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_replaced: int = 0


def write_loads(conn: Connection, *, load_id: str, source_id: str, batch_id: str, window_start: datetime,
                window_end: datetime, status: Literal["success", "failed"], rows: list[LoadRow],
                started_at: datetime, error: BaseException | str | None = None) -> None:
    """Insert the attempt's rows. Runs in the caller's transaction (the loader's load transaction for a success);
    open one around it for a failure."""
    finished_at = datetime.now(UTC)
    stored_error = redact_error(error) if status == "failed" else None
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO ops.loads (load_id, source_id, batch_id, dataset, raw_table, window_start, window_end,
                   status, rows_loaded, rows_rejected, rows_replaced, started_at, finished_at, error)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [(load_id, source_id, batch_id, r.dataset, r.raw_table, window_start, window_end, status, r.rows_loaded,
              r.rows_rejected, r.rows_replaced, started_at, finished_at, stored_error) for r in rows])


# --- ops.pipeline_runs ---------------------------------------------------------------------------------------------


def start_run(conn: Connection, pipeline: str, pipeline_type: PipelineType, run_id: str, trigger: Trigger,
              started_at: datetime | None = None) -> None:
    """Upsert the run as 'running' and count this attempt (a retry of the same run id: attempts + 1, status back
    to 'running', error cleared; started_at stays the first attempt's)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            """INSERT INTO ops.pipeline_runs AS r (pipeline, pipeline_type, run_id, trigger, status, started_at,
                   finished_at, attempts, error)
               VALUES (%s, %s, %s, %s, 'running', %s, NULL, 1, NULL)
               ON CONFLICT (pipeline, run_id) DO UPDATE
               SET status = 'running', finished_at = NULL, attempts = r.attempts + 1, error = NULL""",
            (pipeline, pipeline_type, run_id, trigger, started_at or datetime.now(UTC)))


def finish_run(conn: Connection, pipeline: str, pipeline_type: PipelineType, run_id: str, trigger: Trigger,
               status: Literal["success", "failed"], error: BaseException | str | None = None,
               started_at: datetime | None = None) -> None:
    """Set the run's final status (own transaction). A run that was never started (it failed before
    :func:`start_run`) is inserted with one attempt."""
    now = datetime.now(UTC)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            """INSERT INTO ops.pipeline_runs AS r (pipeline, pipeline_type, run_id, trigger, status, started_at,
                   finished_at, attempts, error)
               VALUES (%s, %s, %s, %s, %s, %s, %s, 1, %s)
               ON CONFLICT (pipeline, run_id) DO UPDATE
               SET status = excluded.status, finished_at = excluded.finished_at, error = excluded.error""",
            (pipeline, pipeline_type, run_id, trigger, status, min(started_at or now, now), now,
             redact_error(error) if status == "failed" else None))


def _usable(conn: Connection) -> bool:
    """Roll back a transaction that an error left aborted, so the failure can still be written."""
    if conn.closed or conn.broken:
        return False
    if conn.info.transaction_status == pq.TransactionStatus.INERROR:
        conn.rollback()
    return conn.info.transaction_status in (pq.TransactionStatus.IDLE, pq.TransactionStatus.INTRANS)


def record_failure_quietly(write, *args, **kwargs) -> None:
    """Write a failure record without ever hiding the error being handled: if the warehouse cannot take it (the
    connection is gone), log and move on."""
    try:
        conn = args[0] if args else kwargs["conn"]
        if _usable(conn):
            write(*args, **kwargs)
        else:
            log.warning("could not record the failure in ops (the warehouse connection is closed or broken)")
    except Exception:  # the original error is the one to raise
        log.exception("could not record the failure in ops")


@contextmanager
def recorded_run(conn: Connection, pipeline: str, pipeline_type: PipelineType, run_id: str,
                 trigger: Trigger) -> Iterator[None]:
    """Record the block as one attempt of the run: 'running' on entry, 'success' on a normal exit, 'failed' (with
    the redacted error) when it raises - the exception is re-raised."""
    ensure_tables(conn)
    start_run(conn, pipeline, pipeline_type, run_id, trigger)
    try:
        yield
    except BaseException as exc:
        record_failure_quietly(finish_run, conn, pipeline, pipeline_type, run_id, trigger, "failed", exc)
        raise
    finish_run(conn, pipeline, pipeline_type, run_id, trigger, "success")
