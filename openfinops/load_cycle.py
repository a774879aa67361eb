"""Load cycles: the transform starts once per set of loads that land together, never on a half-loaded one.

Several collect runs often land together: the daily schedule of every source, a back-fill, ``make demo``. If each
load triggered the transform, the first one would build the marts (and detect alerts) on partial data and the others
would queue more transforms behind it. Instead every collect run ends with ``close_load_cycle``, which asks
:func:`close_if_last` whether it is the last load in flight:

* under one advisory lock (so two runs finishing together decide one after the other),
* if a cycle already covers this run (a sibling that finished after it closed it), nothing happens;
* if any collect run's ``collect_and_load`` is not finished yet (queued, running, waiting for a retry; asked of
  Airflow), nothing happens: that run's own ``close_load_cycle`` comes later;
* otherwise this run closes the cycle: ``ops.load_cycles`` gets a row naming every collect run it covers and how it
  ended (``ops.load_cycle_runs``), and the task updates the Asset the transform is scheduled on.

A failed load still ends its run's ``close_load_cycle`` (trigger rule all_done): the cycle closes with the sources
that loaded and says which one failed (``describe``); the transform builds on what is there. ``fold_in_telemetry``
asks the same question before it announces pushed telemetry (:func:`loads_in_flight`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from psycopg import Connection

from openfinops import run_log
from openfinops.warehouse import serialised_ddl

LOAD_TASK_ID = "collect_and_load"
# Every task-instance state before a terminal one ("null": created, not scheduled yet).
IN_FLIGHT_STATES = ["null", "scheduled", "queued", "running", "up_for_retry", "up_for_reschedule", "deferred",
                    "restarting"]
_LOCK = "openfinops.load_cycle"
_DDL_LOCK = "openfinops.load_cycle.ddl"
DDL = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.load_cycles (
    cycle_id bigserial PRIMARY KEY, closed_at timestamptz NOT NULL DEFAULT now(),
    closed_by_pipeline text NOT NULL, closed_by_run text NOT NULL, sources jsonb NOT NULL
);
COMMENT ON TABLE ops.load_cycles IS
    'One row per closed load cycle (the collect runs that landed together); sources: source id -> statuses of '
    'its covered runs. The transform runs once per cycle.';
CREATE TABLE IF NOT EXISTS ops.load_cycle_runs (
    pipeline text NOT NULL, run_id text NOT NULL, finished_at timestamptz, status text NOT NULL,
    cycle_id bigint NOT NULL REFERENCES ops.load_cycles, PRIMARY KEY (pipeline, run_id)
);
COMMENT ON TABLE ops.load_cycle_runs IS
    'The collect run (as last finished: finished_at) that each load cycle covers; a run re-run later is '
    'covered again by a later cycle.';
"""


def ensure_tables(conn: Connection) -> None:
    run_log.ensure_tables(conn)
    with conn.transaction():
        present = conn.execute("SELECT to_regclass('ops.load_cycles') IS NOT NULL "
                               "AND to_regclass('ops.load_cycle_runs') IS NOT NULL").fetchone()[0]
    if not present:
        with serialised_ddl(conn, _DDL_LOCK) as cur:
            cur.execute(DDL)


@dataclass
class Decision:
    closed: bool
    reason: str
    cycle_id: int | None = None
    sources: dict[str, list[str]] = field(default_factory=dict)

    def describe(self) -> str:
        if not self.closed:
            return f"load cycle not closed by this run: {self.reason}"
        return f"closed load cycle {self.cycle_id}: {_sources_seen(self.sources)}"


def _sources_seen(sources: dict[str, list[str]]) -> str:
    return ", ".join(f"{source} ({'/'.join(statuses)})" for source, statuses in sorted(sources.items()))


def loads_in_flight(ti: Any, source_ids: Iterable[str]) -> dict[str, int]:
    """{source id: number of its collect runs whose load has not finished}, asked of Airflow through the running
    task instance (the Task SDK's execution API)."""
    counts = {}
    for source_id in source_ids:
        n = ti.get_ti_count(dag_id=run_log.collect_pipeline(source_id), task_ids=[LOAD_TASK_ID],
                            states=IN_FLIGHT_STATES)
        if n:
            counts[source_id] = n
    return counts


def close_if_last(conn: Connection, source_id: str, run_id: str,
                  in_flight: Callable[[], dict[str, int]]) -> Decision:
    """Close the load cycle if this collect run (its load finished) is the last one in flight; see the module."""
    ensure_tables(conn)
    pipeline = run_log.collect_pipeline(source_id)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_LOCK,))
        covered = conn.execute(
            """SELECT c.cycle_id, l.closed_by_pipeline FROM ops.load_cycle_runs AS c
               JOIN ops.load_cycles AS l USING (cycle_id)
               LEFT JOIN ops.pipeline_runs AS r ON (r.pipeline, r.run_id) = (c.pipeline, c.run_id)
               WHERE (c.pipeline, c.run_id) = (%s, %s)
                 AND c.finished_at IS NOT DISTINCT FROM r.finished_at""", (pipeline, run_id)).fetchone()
        if covered:
            return Decision(False, f"load cycle {covered[0]} (closed by {covered[1]}) already covers this run")
        flying = in_flight()
        if flying:
            waiting = ", ".join(f"{s} ({n})" for s, n in sorted(flying.items()))
            return Decision(False, f"loads still in flight: {waiting}; the last of them closes the cycle")
        runs = conn.execute(
            """SELECT r.pipeline, r.run_id, r.finished_at, r.status FROM ops.pipeline_runs AS r
               WHERE r.pipeline_type = 'collect' AND r.status <> 'running'
                 AND NOT EXISTS (SELECT 1 FROM ops.load_cycle_runs AS c
                                 WHERE (c.pipeline, c.run_id) = (r.pipeline, r.run_id)
                                   AND c.finished_at IS NOT DISTINCT FROM r.finished_at)""").fetchall()
        if not any((p, r) == (pipeline, run_id) for p, r, _, _ in runs):
            runs.append((pipeline, run_id, None, "failed"))  # its load failed before it was recorded
        sources: dict[str, list[str]] = {}
        for p, _, _, status in runs:
            statuses = sources.setdefault(p.removeprefix("collect_"), [])
            if status not in statuses:
                statuses.append(status)
        cycle_id = conn.execute(
            """INSERT INTO ops.load_cycles (closed_by_pipeline, closed_by_run, sources) VALUES (%s, %s, %s)
               RETURNING cycle_id""", (pipeline, run_id, json.dumps(sources))).fetchone()[0]
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO ops.load_cycle_runs (pipeline, run_id, finished_at, status, cycle_id)
                   VALUES (%s, %s, %s, %s, %s)
                   ON CONFLICT (pipeline, run_id) DO UPDATE
                   SET finished_at = excluded.finished_at, status = excluded.status, cycle_id = excluded.cycle_id""",
                [(p, r, f, s, cycle_id) for p, r, f, s in runs])
    return Decision(True, "no other load in flight", cycle_id, sources)


def latest_cycle(conn: Connection) -> dict[str, Any] | None:
    """The newest closed cycle: {"cycle_id", "closed_at", "closed_by", "sources"}, or None."""
    with conn.transaction():
        if not conn.execute("SELECT to_regclass('ops.load_cycles')").fetchone()[0]:
            return None
        row = conn.execute("""SELECT cycle_id, closed_at, closed_by_pipeline, sources FROM ops.load_cycles
                              ORDER BY cycle_id DESC LIMIT 1""").fetchone()
    if row is None:
        return None
    return {"cycle_id": row[0], "closed_at": row[1], "closed_by": row[2], "sources": row[3]}


def describe_cycle(cycle: dict[str, Any]) -> str:
    return (f"marts built after load cycle {cycle['cycle_id']} (closed {cycle['closed_at']:%Y-%m-%d %H:%M:%S %Z} by "
            f"{cycle['closed_by']}): {_sources_seen(cycle['sources'])}")
