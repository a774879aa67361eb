"""Two back-fills of the same month of one source, through Airflow, at the same time: two processes, each running
the source's collect DAG (``dag.test``, its own copy of the migrated metadata DB so SQLite is not the thing under
test) with the same ``start``/``end`` params, against one warehouse. Both are held at the start line - the test owns
the source's load lock until both runs wait on it, seen in ``pg_locks`` - and released together. Raw then holds the
month exactly once (per-day counts and totals of one collect, computed here from the collector), and both runs are
recorded as successful loads of the whole month."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date
from decimal import Decimal

import psycopg

from collectors.core.base import Window
from collectors.sources.demo import COST_LINE_ITEMS
from openfinops.collect_context import build_collector
from tests.airflow.conftest import own_airflow_home
from tests.conftest import ROOT

SOURCE = "demo-aws"
MONTH = ("2026-10-01", "2026-11-01")
RUN = """
import sys
from datetime import datetime
from airflow.models.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).dags[sys.argv[2]]
run = dag.test(logical_date=datetime.fromisoformat(sys.argv[3]), run_conf={"start": sys.argv[4], "end": sys.argv[5]})
print("RESULT", run.state, run.run_id)
"""


def waiting_loads(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone()[0]


def test_two_backfills_of_one_month_at_once_load_it_exactly_once(airflow_db, cfg, empty_db, tmp_path):
    procs = []
    with psycopg.connect(empty_db) as gate:
        # the start line: the same lock a load of this source takes before replacing its window
        gate.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"openfinops.load:{SOURCE}",))
        for i, logical in enumerate(("2026-11-10T00:00:00+00:00", "2026-11-11T00:00:00+00:00")):
            home = tmp_path / f"airflow{i}"
            env = os.environ | own_airflow_home(home) | {
                "AIRFLOW_CONN_OPENFINOPS_WAREHOUSE": empty_db, "OPENFINOPS_WAREHOUSE_URL": empty_db,
                "PYTHONPATH": str(ROOT)}
            procs.append(subprocess.Popen(
                [sys.executable, "-c", RUN, str(ROOT / "dags"), f"collect_{SOURCE}", logical, *MONTH],
                cwd=ROOT, env=env, stdout=(home / "out.log").open("w"), stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 300
        both_waited = False
        while not both_waited and any(p.poll() is None for p in procs):
            assert time.monotonic() < deadline, "both back-fills should reach the load"
            both_waited = waiting_loads(empty_db) >= 2
            time.sleep(0.5)
        gate.rollback()  # both go
    for p in procs:
        p.wait(timeout=600)
    outputs = [(tmp_path / f"airflow{i}" / "out.log").read_text() for i in range(2)]
    results = [next((line.split() for line in out.splitlines() if line.startswith("RESULT")), None)
               for out in outputs]
    assert [r and r[1] for r in results] == ["success", "success"], [out[-3000:] for out in outputs]
    run_ids = [r[2] for r in results]

    collector = build_collector(cfg, cfg.source(SOURCE))
    window = Window.from_dates(date.fromisoformat(MONTH[0]), date.fromisoformat(MONTH[1]))
    columns = COST_LINE_ITEMS.column_names
    expected: dict[date, list] = defaultdict(lambda: [0, Decimal(0)])
    for row in collector.collect(COST_LINE_ITEMS, window):
        day = row[columns.index("charge_period_start")].date()
        expected[day][0] += 1
        expected[day][1] += row[columns.index("billed_cost")]
    assert len(expected) == 31
    with psycopg.connect(empty_db) as conn:
        loaded = conn.execute("""
            SELECT charge_period_start::date, count(*), sum(billed_cost), count(DISTINCT _batch_id)
            FROM raw.focus_cost_line_items WHERE _source_id = %s GROUP BY 1 ORDER BY 1""", (SOURCE,)).fetchall()
        loads = conn.execute("""SELECT batch_id, status, window_start::date, window_end::date FROM ops.loads
                                WHERE source_id = %s ORDER BY finished_at""", (SOURCE,)).fetchall()
    assert [(d, n, total) for d, n, total, _ in loaded] == [(d, *expected[d]) for d in sorted(expected)]
    assert {batches for *_, batches in loaded} == {1}  # each day from one load, not a mix of both
    assert sorted(b for b, *_ in loads) == sorted(run_ids)
    assert {tuple(rest) for _, *rest in loads} == {("success", date(2026, 10, 1), date(2026, 11, 1))}
    assert both_waited, "the two back-fills never waited for each other"
