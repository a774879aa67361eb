"""Folding pushed telemetry into the marts: the watermark of the ``fold_in_telemetry`` DAG.

``ops.telemetry_fold_in`` holds one row: the ``received_at`` of the newest batch the DAG has announced (through its
Asset) to the transform. :func:`advance_fold_in_watermark` counts the batches received after it and moves it to the
newest, in one transaction (a row lock, so two runs never announce the same batches twice)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from openfinops.server import store

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def advance_fold_in_watermark(conn: Any) -> dict[str, Any]:
    """{"batches": n received after the watermark, "since": old watermark, "until": new watermark}."""
    store.ensure_tables(conn)
    with conn.transaction():
        conn.execute("CREATE SCHEMA IF NOT EXISTS ops")
        conn.execute("""CREATE TABLE IF NOT EXISTS ops.telemetry_fold_in (
                            id boolean PRIMARY KEY DEFAULT true CHECK (id), announced_until timestamptz NOT NULL)""")
        conn.execute("INSERT INTO ops.telemetry_fold_in (announced_until) VALUES (%s) ON CONFLICT DO NOTHING",
                     (EPOCH,))
        since = conn.execute("SELECT announced_until FROM ops.telemetry_fold_in FOR UPDATE").fetchone()[0]
        batches, until = conn.execute(
            "SELECT count(*), max(received_at) FROM raw.telemetry_batches WHERE received_at > %s", (since,)).fetchone()
        if batches:
            conn.execute("UPDATE ops.telemetry_fold_in SET announced_until = %s", (until,))
    return {"batches": batches, "since": since, "until": until or since}
