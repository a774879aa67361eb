"""Folding pushed telemetry into the marts: the watermark of the ``fold_in_telemetry`` DAG.

``ops.telemetry_fold_in`` holds one row: the ``received_at`` of the newest batch the DAG has announced (through its
Asset) to the transform. :func:`advance_fold_in_watermark` counts the batches received after it and moves it to the
newest, in one transaction (a row lock, so two runs never announce the same batches twice). A batch received before
the start of the latest successful transform (``ops.pipeline_runs``) is in the marts already and is not announced
again: telemetry pushed before a load cycle (as ``make demo`` does) rides on that cycle's one transform instead of
triggering a second."""

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
        transformed = None
        if conn.execute("SELECT to_regclass('ops.pipeline_runs')").fetchone()[0]:
            transformed = conn.execute("""SELECT max(started_at) FROM ops.pipeline_runs
                                          WHERE pipeline_type = 'transform' AND status = 'success'""").fetchone()[0]
        since = max(since, transformed or since)
        batches, until = conn.execute(
            "SELECT count(*), max(received_at) FROM raw.telemetry_batches WHERE received_at > %s", (since,)).fetchone()
        if batches:
            conn.execute("UPDATE ops.telemetry_fold_in SET announced_until = %s", (until,))
    return {"batches": batches, "since": since, "until": until or since}


def leave_to_next_load(conn: Any) -> dict[str, Any]:
    """Move the watermark past every batch received so far, so ``fold_in_telemetry`` does not trigger a transform
    for them: a load cycle about to run (``make demo`` pushes its clusters' telemetry, then loads its sources) folds
    them in with its own transform, which reads every raw table. {"batches": n moved past, "until": watermark}."""
    found = advance_fold_in_watermark(conn)
    conn.commit()
    return found
