"""Real Airflow runs (dag.test) of a collect DAG and of the transform DAG (Cosmos -> real dbt) on real PostgreSQL."""

from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest

from collectors.base import Window
from collectors.demo import COST_LINE_ITEMS
from openfinops.collect_context import build_collector
from tests.conftest import run_cli


@pytest.fixture
def warehouse_conn_env(monkeypatch, empty_db):
    monkeypatch.setenv("AIRFLOW_CONN_OPENFINOPS_WAREHOUSE", empty_db)
    monkeypatch.setenv("OPENFINOPS_WAREHOUSE_URL", empty_db)
    return empty_db


def raw_day_totals(url):
    with psycopg.connect(url) as conn:
        return conn.execute("""SELECT charge_period_start::date, count(*), sum(billed_cost), min(_batch_id)
                               FROM raw.demo_cost_line_items GROUP BY 1 ORDER BY 1""").fetchall()


def test_collect_dag_loads_its_data_interval_and_reruns_idempotently(airflow_db, dagbag, cfg, warehouse_conn_env):
    dag = dagbag.dags["collect_demo-gcp"]
    run = dag.test(logical_date=datetime(2026, 11, 5, tzinfo=UTC))
    assert run.state == "success"
    first = raw_day_totals(warehouse_conn_env)
    # The run owns its data interval [2026-11-04, 2026-11-05) and nothing else.
    assert [r[0] for r in first] == [date(2026, 11, 4)]
    collector = build_collector(cfg, cfg.source("demo-gcp"))
    expected = sum(r[COST_LINE_ITEMS.column_names.index("billed_cost")]
                   for r in collector.collect(COST_LINE_ITEMS, Window.from_dates(date(2026, 11, 4), date(2026, 11, 5))))
    assert first[0][2] == expected
    assert first[0][3] == run.run_id  # the batch id is the Airflow run id

    again = dag.test(logical_date=datetime(2026, 11, 5, tzinfo=UTC))
    assert again.state == "success"
    assert [r[:3] for r in raw_day_totals(warehouse_conn_env)] == [r[:3] for r in first]


def test_collect_dag_params_backfill_a_range_in_one_run(airflow_db, dagbag, warehouse_conn_env):
    dag = dagbag.dags["collect_demo-aws"]
    run = dag.test(logical_date=datetime(2026, 11, 5, tzinfo=UTC),
                   run_conf={"start": "2026-10-30", "end": "2026-11-02"})
    assert run.state == "success"
    days = [r[0] for r in raw_day_totals(warehouse_conn_env)]
    assert days == [date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 1)]


def test_transform_dag_builds_marts_and_records_budget_crossings_once(airflow_db, dagbag, cfg, warehouse_conn_env):
    url = warehouse_conn_env
    for source in cfg.sources:
        run_cli("collect", source.id, "--start", "2026-10-01", "--end", "2026-11-02", url=url)
    dag = dagbag.dags["transform"]
    run = dag.test(logical_date=datetime(2026, 11, 2, tzinfo=UTC))
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances() if ti.state != "success"]
    with psycopg.connect(url) as conn:
        raw_total = sum((r[0] for r in conn.execute(
            "SELECT billed_cost FROM raw.demo_cost_line_items").fetchall()), Decimal(0))
        mart_cloud = conn.execute("""SELECT sum(billed_cost) FROM marts.fct_cost_daily
                                     WHERE provider_name IN ('AWS', 'Microsoft Azure', 'Google Cloud')""").fetchone()[0]
        crossings = conn.execute("SELECT count(*) FROM alerts.budget_threshold_crossings").fetchone()[0]
        budgets = conn.execute("SELECT count(*) FROM config.budgets").fetchone()[0]
        over = conn.execute("""SELECT count(*) FROM marts.fct_budget_status s, unnest(s.thresholds) t
                               WHERE s.utilisation_pct >= t""").fetchone()[0]
    assert mart_cloud == raw_total
    assert budgets == len(cfg.budgets)
    assert crossings == over > 0
    # A second run (dbt tasks marked success to save time) records no crossing twice.
    again = dag.test(logical_date=datetime(2026, 11, 3, tzinfo=UTC), mark_success_pattern=r"^dbt\.")
    assert again.state == "success"
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM alerts.budget_threshold_crossings").fetchone()[0] == crossings
