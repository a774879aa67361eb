"""Where pushed telemetry lands: registered agents and accepted batches in ``raw``, and the records of each batch in
one raw table per record list, written in one transaction with the batch's row (so a batch is stored whole or not at
all, and exactly once: ``(agent_id, batch_id)`` is the primary key of ``raw.telemetry_batches``).

Tables (created on first use, one session at a time):
- ``raw.telemetry_agents``: agent id, type, host, metadata, the SHA-256 of its API key (the key itself is shown once,
  at registration, and never stored), registration and rotation times.
- ``raw.telemetry_batches``: (agent_id, batch_id), the SHA-256 of the batch body (a retry must send the same batch),
  record counts, when it was committed.
- ``raw.telemetry_node_metrics``, ``raw.telemetry_llm_training_metrics``, ``raw.telemetry_cost_records``,
  ``raw.telemetry_metrics``: the records, each row stamped with ``_agent_id``, ``_batch_id``, ``_record_index`` (its
  0-based position in its list: (agent, batch, index) identifies a record) and ``_received_at``.
  Money is ``numeric`` (parsed from the JSON text as ``Decimal``, never through a float).
"""

from __future__ import annotations

import hashlib
import json
import queue
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from openfinops.warehouse import serialised_ddl

SCHEMA = "raw"
META = ("_agent_id text NOT NULL", "_batch_id text NOT NULL", "_record_index integer NOT NULL",
        "_received_at timestamptz NOT NULL")
TABLES: dict[str, tuple[str, tuple[tuple[str, str, str], ...]]] = {
    # record list -> (table, ((column, pg type, JSON field), ...))
    "node_metrics": ("telemetry_node_metrics", (
        ("sampled_at", "timestamptz NOT NULL", "timestamp"), ("cluster_id", "text NOT NULL", "cluster_id"),
        ("node_id", "text NOT NULL", "node_id"), ("node_status", "text", "status"),
        ("cpu_utilization_pct", "numeric", "cpu_usage"), ("gpu_utilization_pct", "numeric", "gpu_usage"),
        ("memory_utilization_pct", "numeric", "memory_usage"),
        ("gpu_memory_used_gb", "numeric", "gpu_memory_used_gb"), ("gpu_count", "integer", "gpu_count"),
        ("region", "text", "region"))),
    "llm_training_metrics": ("telemetry_llm_training_metrics", (
        ("logged_at", "timestamptz NOT NULL", "timestamp"), ("run_id", "text NOT NULL", "run_id"),
        ("model_name", "text NOT NULL", "model_name"), ("cluster_id", "text", "cluster_id"),
        ("epoch", "integer", "epoch"), ("step", "bigint NOT NULL", "step"),
        ("training_loss", "numeric", "training_loss"), ("validation_loss", "numeric", "validation_loss"),
        ("learning_rate", "numeric", "learning_rate"), ("gpu_memory_mb", "numeric", "gpu_memory_mb"),
        ("batch_size", "integer", "batch_size"),
        ("throughput_samples_per_sec", "numeric", "throughput_samples_per_sec"),
        ("tokens_per_second", "numeric", "tokens_per_second"), ("gpu_count", "integer", "gpu_count"))),
    "cost_records": ("telemetry_cost_records", (
        ("charge_period_start", "timestamptz NOT NULL", "timestamp"), ("charge_period_end", "timestamptz",
                                                                         "period_end"),
        ("provider_name", "text NOT NULL", "provider"), ("service_name", "text NOT NULL", "service"),
        ("service_category", "text", "service_category"), ("charge_category", "text", "charge_category"),
        ("cost", "numeric NOT NULL", "cost"), ("currency", "text NOT NULL", "currency"),
        ("account_id", "text", "account_id"), ("resource_id", "text", "resource_id"), ("region", "text", "region"),
        ("usage_quantity", "numeric", "usage_quantity"), ("usage_unit", "text", "usage_unit"),
        ("tags", "jsonb", "tags"))),
    "metrics": ("telemetry_metrics", (
        ("observed_at", "timestamptz NOT NULL", "timestamp"), ("metric_name", "text NOT NULL", "name"),
        ("metric_value", "numeric NOT NULL", "value"), ("unit", "text", "unit"), ("labels", "jsonb", "labels"))),
}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return "ofo_" + secrets.token_urlsafe(32)


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def parse_batch(body: bytes) -> Any:
    """JSON with decimals kept exact (money never passes through a float)."""
    return json.loads(body, parse_float=Decimal)


def ensure_tables(conn: Any) -> None:
    present = conn.execute("SELECT count(to_regclass(n)) FROM unnest(%s::text[]) n", (
        [f"{SCHEMA}.telemetry_agents", f"{SCHEMA}.telemetry_batches",
         *(f"{SCHEMA}.{t}" for t, _ in TABLES.values())],)).fetchone()[0]
    conn.commit()
    if present == 2 + len(TABLES):
        return
    with serialised_ddl(conn, "openfinops.server.ddl") as cur:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        cur.execute(f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.telemetry_agents (
            agent_id text PRIMARY KEY, agent_type text NOT NULL, hostname text, metadata jsonb,
            api_key_sha256 text NOT NULL UNIQUE, registered_at timestamptz NOT NULL, key_rotated_at timestamptz)""")
        cur.execute(f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.telemetry_batches (
            agent_id text NOT NULL, batch_id text NOT NULL, body_sha256 text NOT NULL, record_counts jsonb NOT NULL,
            sent_at timestamptz, received_at timestamptz NOT NULL, PRIMARY KEY (agent_id, batch_id))""")
        for table, columns in TABLES.values():
            cols = ", ".join([f"{name} {pg}" for name, pg, _ in columns] + list(META))
            cur.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{table} ({cols})")
            cur.execute(f"CREATE INDEX IF NOT EXISTS {table}_batch_idx ON {SCHEMA}.{table} (_agent_id, _batch_id)")


@dataclass(frozen=True)
class Agent:
    agent_id: str
    agent_type: str


def register(conn: Any, agent_type: str, hostname: str | None, metadata: dict | None,
             agent_id: str | None = None) -> tuple[str, str]:
    """A new agent (or a new key for an existing ``agent_id``): returns (agent_id, api_key)."""
    key = new_api_key()
    agent_id = agent_id or "agt_" + secrets.token_hex(8)
    now = datetime.now(UTC)
    with conn.transaction():
        conn.execute(f"""
            INSERT INTO {SCHEMA}.telemetry_agents
                (agent_id, agent_type, hostname, metadata, api_key_sha256, registered_at)
            VALUES (%s, %s, %s, %s, %s, %s)
            ON CONFLICT (agent_id) DO UPDATE SET api_key_sha256 = excluded.api_key_sha256,
                agent_type = excluded.agent_type, hostname = excluded.hostname, metadata = excluded.metadata,
                key_rotated_at = excluded.registered_at""",
                     (agent_id, agent_type, hostname, json.dumps(metadata or {}, default=str), hash_key(key), now))
    return agent_id, key


def agent_for_key(conn: Any, key: str) -> Agent | None:
    row = conn.execute(f"SELECT agent_id, agent_type FROM {SCHEMA}.telemetry_agents WHERE api_key_sha256 = %s",
                       (hash_key(key),)).fetchone()
    conn.commit()
    return Agent(*row) if row else None


class ConflictingRetry(Exception):
    """The batch id was already used for a different body."""


def store_batch(conn: Any, agent_id: str, batch: dict, digest: str) -> tuple[bool, dict[str, int]]:
    """Write the batch and its records in one transaction. Returns (stored, counts): ``stored`` is False when the
    same batch was committed before (then nothing is written again)."""
    counts = {name: len(batch.get(name) or []) for name in TABLES}
    now = datetime.now(UTC)
    with conn.transaction():
        inserted = conn.execute(f"""
            INSERT INTO {SCHEMA}.telemetry_batches
                (agent_id, batch_id, body_sha256, record_counts, sent_at, received_at)
            VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (agent_id, batch_id) DO NOTHING RETURNING 1""",
                                (agent_id, batch["batch_id"], digest, json.dumps(counts),
                                 to_time(batch.get("sent_at")), now)).fetchone()
        if not inserted:  # a retry (possibly concurrent: the unique index made us wait for the first to commit)
            previous = conn.execute(f"SELECT body_sha256, record_counts FROM {SCHEMA}.telemetry_batches "
                                    "WHERE agent_id = %s AND batch_id = %s", (agent_id, batch["batch_id"])).fetchone()
            if previous[0] != digest:
                raise ConflictingRetry(batch["batch_id"])
            return False, previous[1]
        for name, (table, columns) in TABLES.items():
            records = batch.get(name) or []
            if not records:
                continue
            names = ", ".join([c for c, _, _ in columns] + ["_agent_id", "_batch_id", "_record_index", "_received_at"])
            make = ROW_MAKERS[name]
            with conn.cursor().copy(f"COPY {SCHEMA}.{table} ({names}) FROM STDIN") as copy:
                for index, record in enumerate(records):
                    row = make(record)
                    row += (agent_id, batch["batch_id"], index, now)
                    copy.write_row(row)
    return True, counts


def to_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float, Decimal)):
        return datetime.fromtimestamp(float(value), UTC)
    parsed = datetime.fromisoformat(str(value).upper().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no UTC offset")
    return parsed


def _time_value(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else to_time(value)


def _json_value(value: Any) -> str:
    return json.dumps(value, default=str)


def _numeric_value(value: Any) -> Any:
    return Decimal(str(value)) if isinstance(value, float) else value


def row_maker(columns: tuple[tuple[str, str, str], ...]):
    """A function record -> COPY row for one table. A checked batch's values go as they are where COPY takes them:
    RFC 3339 text as is (PostgreSQL reads it; the schema check parsed it already), numbers as the int / Decimal the
    JSON decoder made (a float from a caller that built the batch itself goes through its text: no binary noise);
    Unix seconds become a datetime, labels JSON text."""
    fields = [field for _, _, field in columns]
    convert = [(i, _time_value if pg.startswith("timestamptz") else _json_value if pg.startswith("jsonb")
                else _numeric_value) for i, (_, pg, _) in enumerate(columns)
               if pg.startswith(("timestamptz", "jsonb", "numeric"))]

    def make(record: dict[str, Any]) -> list[Any]:
        row = [record.get(field) for field in fields]
        for i, fn in convert:
            if row[i] is not None:
                row[i] = fn(row[i])
        return row

    return make


ROW_MAKERS = {name: row_maker(columns) for name, (_, columns) in TABLES.items()}


class Pool:
    """A few reusable warehouse connections (psycopg 3, autocommit off); a broken one is dropped."""

    def __init__(self, url: str, size: int = 8) -> None:
        self.url = url
        self.idle: queue.LifoQueue = queue.LifoQueue(maxsize=size)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        import psycopg

        try:
            conn = self.idle.get_nowait()
        except queue.Empty:
            conn = psycopg.connect(self.url, connect_timeout=5, application_name="openfinops-server")
        try:
            yield conn
        except BaseException:
            try:
                conn.rollback()
            except psycopg.Error:
                conn.close()
            raise
        finally:
            if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.close()
            else:
                try:
                    self.idle.put_nowait(conn)
                except queue.Full:
                    conn.close()

    def close(self) -> None:
        while True:
            try:
                self.idle.get_nowait().close()
            except queue.Empty:
                return
