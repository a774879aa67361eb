"""Load cycles on real PostgreSQL: the last load in flight closes the cycle once, whatever the order and however many
finish together; a re-run is covered again; a failed load is named."""

import threading

import psycopg

from openfinops import load_cycle, run_log


def finish(conn, source_id, run_id, status="success"):
    run_log.ensure_tables(conn)
    run_log.start_run(conn, run_log.collect_pipeline(source_id), "collect", run_id, "airflow")
    run_log.finish_run(conn, run_log.collect_pipeline(source_id), "collect", run_id, "airflow", status)


def cycles(conn):
    return conn.execute("SELECT cycle_id, closed_by_pipeline, closed_by_run, sources FROM ops.load_cycles "
                        "ORDER BY cycle_id").fetchall()


def test_the_last_load_closes_one_cycle_and_siblings_do_not_close_another(empty_db):
    with psycopg.connect(empty_db, autocommit=True) as conn:
        finish(conn, "aws", "r1")
        # azure and gcp are still loading: aws's close does nothing
        first = load_cycle.close_if_last(conn, "aws", "r1", lambda: {"azure": 1, "gcp": 1})
        assert not first.closed and "azure (1), gcp (1)" in first.reason
        finish(conn, "azure", "r1", status="failed")
        assert not load_cycle.close_if_last(conn, "azure", "r1", lambda: {"gcp": 1}).closed
        finish(conn, "gcp", "r1")
        last = load_cycle.close_if_last(conn, "gcp", "r1", dict)
        assert last.closed
        assert last.sources == {"aws": ["success"], "azure": ["failed"], "gcp": ["success"]}
        assert "azure (failed)" in last.describe()
        # the siblings' close tasks running after it find their run covered
        late = load_cycle.close_if_last(conn, "aws", "r1", dict)
        assert not late.closed and f"load cycle {last.cycle_id}" in late.reason
        assert [c[:3] for c in cycles(conn)] == [(last.cycle_id, "collect_gcp", "r1")]
        assert load_cycle.latest_cycle(conn)["sources"] == last.sources

        # a re-run of a covered run (an Airflow task cleared later) loads again: a new cycle covers it
        finish(conn, "aws", "r1")
        again = load_cycle.close_if_last(conn, "aws", "r1", dict)
        assert again.closed and again.sources == {"aws": ["success"]}
        assert len(cycles(conn)) == 2


def test_a_load_that_failed_before_it_was_recorded_still_closes_and_is_named(empty_db):
    with psycopg.connect(empty_db, autocommit=True) as conn:
        decision = load_cycle.close_if_last(conn, "snowflake", "r9", dict)
        assert decision.closed and decision.sources == {"snowflake": ["failed"]}


def test_loads_finishing_together_close_exactly_one_cycle(empty_db):
    """Six runs' close tasks at the same instant, each seeing no load in flight: the advisory lock orders them and
    exactly one closes the cycle, covering all six."""
    runs = 6
    sources = [f"s{i}" for i in range(runs)]
    with psycopg.connect(empty_db, autocommit=True) as conn:
        load_cycle.ensure_tables(conn)
        for s in sources:
            finish(conn, s, "r")
    barrier = threading.Barrier(runs)
    decisions = {}

    def close(source_id):
        with psycopg.connect(empty_db, autocommit=True) as conn:
            barrier.wait()
            decisions[source_id] = load_cycle.close_if_last(conn, source_id, "r", dict)

    threads = [threading.Thread(target=close, args=(s,)) for s in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    closed = [d for d in decisions.values() if d.closed]
    assert len(decisions) == runs and len(closed) == 1
    assert closed[0].sources == {s: ["success"] for s in sources}
    with psycopg.connect(empty_db) as conn:
        assert len(cycles(conn)) == 1
        assert conn.execute("SELECT count(*) FROM ops.load_cycle_runs").fetchone()[0] == runs
