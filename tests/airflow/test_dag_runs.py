"""Real Airflow runs (dag.test) of a collect DAG and of the transform DAG (Cosmos -> real dbt -> alerts delivered to
the local alert sink) on real PostgreSQL."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest

from collectors.core.base import Window
from collectors.sources.demo import COST_LINE_ITEMS
from openfinops.alert_sink import AlertSink
from openfinops.collect_context import build_collector
from tests.conftest import run_cli


@pytest.fixture
def warehouse_conn_env(monkeypatch, empty_db):
    monkeypatch.setenv("AIRFLOW_CONN_OPENFINOPS_WAREHOUSE", empty_db)
    monkeypatch.setenv("OPENFINOPS_WAREHOUSE_URL", empty_db)
    return empty_db


@pytest.fixture
def alert_sink(monkeypatch, tmp_path):
    """The demo's local alert sink on free ports; the config's channels (env defaults) and SMTP connection point
    at it, as `make demo` does."""
    with AlertSink(tmp_path / "alerts-inbox", http_port=0, smtp_port=0) as sink:
        base = f"http://127.0.0.1:{sink.http_port}"
        monkeypatch.setenv("OPENFINOPS_SLACK_WEBHOOK_URL", f"{base}/slack/services/T00000000/B00000000/test")
        monkeypatch.setenv("OPENFINOPS_ALERT_WEBHOOK_URL", f"{base}/openfinops-alerts")
        monkeypatch.setenv("AIRFLOW_CONN_OPENFINOPS_SMTP", json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": sink.smtp_port,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "openfinops@localhost"}}))
        yield sink


def raw_day_totals(url):
    with psycopg.connect(url) as conn:
        return conn.execute("""SELECT charge_period_start::date, count(*), sum(billed_cost), min(_batch_id)
                               FROM raw.focus_cost_line_items GROUP BY 1 ORDER BY 1""").fetchall()


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
    with psycopg.connect(warehouse_conn_env) as conn:
        # ops: the run (trigger airflow, run id = batch id) and its load, logged by pipeline.collect and the loader
        assert conn.execute("SELECT pipeline, trigger, status, attempts FROM ops.pipeline_runs WHERE run_id = %s",
                            (run.run_id,)).fetchall() == [("collect_demo-gcp", "airflow", "success", 1)]
        assert conn.execute("SELECT source_id, status, rows_loaded FROM ops.loads WHERE batch_id = %s",
                            (run.run_id,)).fetchall() == [("demo-gcp", "success", len(list(collector.collect(
                                COST_LINE_ITEMS, Window.from_dates(date(2026, 11, 4), date(2026, 11, 5))))))]

        # no other load in flight (asked of Airflow by close_load_cycle): this run closed a load cycle
        assert conn.execute("SELECT closed_by_pipeline, closed_by_run, sources FROM ops.load_cycles").fetchall() == [
            ("collect_demo-gcp", run.run_id, {"demo-gcp": ["success"]})]

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


def test_transform_dag_builds_marts_and_sends_each_alert_once(airflow_db, dagbag, cfg, warehouse_conn_env,
                                                              alert_sink):
    url = warehouse_conn_env
    # from Sep 27: the demo's Oct 11 cost spike then has the 14 days of history an anomaly verdict needs
    for source in cfg.sources:
        run_cli("collect", source.id, "--start", "2026-09-27", "--end", "2026-11-02", url=url)
    dag = dagbag.dags["transform"]
    run = dag.test(logical_date=datetime(2026, 11, 2, tzinfo=UTC))
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances() if ti.state != "success"]
    with psycopg.connect(url) as conn:
        raw_total = sum((r[0] for r in conn.execute(
            "SELECT billed_cost FROM raw.focus_cost_line_items").fetchall()), Decimal(0))
        mart_cloud = conn.execute("""SELECT sum(billed_cost) FROM marts.fct_cost_daily
                                     WHERE provider_name IN ('AWS', 'Microsoft Azure', 'Google Cloud')""").fetchone()[0]
        crossings = conn.execute("SELECT count(*) FROM alerts.budget_threshold_crossings "
                                 "WHERE kind = 'actual'").fetchone()[0]
        forecast_crossings = conn.execute("SELECT count(*) FROM alerts.budget_threshold_crossings "
                                          "WHERE kind = 'forecast'").fetchone()[0]
        budgets = conn.execute("SELECT count(*) FROM config.budgets").fetchone()[0]
        over = conn.execute("""SELECT count(*) FROM marts.fct_budget_status s, unnest(s.thresholds) t
                               WHERE s.utilisation_pct >= t""").fetchone()[0]
        forecast_over = conn.execute("""
            SELECT count(*) FROM marts.fct_budget_status s, unnest(s.forecast_thresholds) t
            WHERE s.forecast_utilisation_pct >= t AND s.utilisation_pct < t""").fetchone()[0]
        # alerts about periods / days more than alerts.notify_within_days before the latest data are history
        per_budget = dict(conn.execute("SELECT budget_id, count(*) FROM alerts.budget_threshold_crossings "
                                       "WHERE suppressed_reason IS NULL GROUP BY 1").fetchall())
        history = conn.execute("""
            SELECT (SELECT count(*) FROM alerts.cost_anomalies WHERE suppressed_reason IS NOT NULL
                        AND charge_date <= date '2026-11-01' - %(days)s::int)
                 + (SELECT count(*) FROM alerts.budget_threshold_crossings WHERE suppressed_reason IS NOT NULL
                        AND period_end <= date '2026-11-01' - %(days)s::int),
                   (SELECT count(*) FROM alerts.cost_anomalies WHERE suppressed_reason IS NOT NULL)
                 + (SELECT count(*) FROM alerts.budget_threshold_crossings WHERE suppressed_reason IS NOT NULL)""",
                               {"days": cfg.alerts.notify_within_days}).fetchone()
        all_anomalies = conn.execute("SELECT count(*) FROM alerts.cost_anomalies").fetchone()[0]
        anomalies = conn.execute("SELECT count(*) FROM alerts.cost_anomalies "
                                 "WHERE suppressed_reason IS NULL").fetchone()[0]
        incidents = conn.execute("SELECT count(DISTINCT (charge_date, provider_name)) FROM alerts.cost_anomalies "
                                 "WHERE suppressed_reason IS NULL").fetchone()[0]
        sent = dict(conn.execute("SELECT channel_type, count(*) FROM alerts.notifications GROUP BY 1").fetchall())
    assert mart_cloud == raw_total
    assert budgets == len(cfg.budgets)
    assert crossings == over > 0
    assert forecast_crossings == forecast_over
    # the Oct 11 spike (3 weeks before the latest data): recorded, not sent; nothing recent is history
    assert all_anomalies > 0 and history[0] == history[1] > 0
    # deliver_alerts: each recorded (recent) alert once to each of its channels, all of it received by the sink;
    # the anomalies of one provider on one day are one message (one notification row per line)
    channels = {c.id: c.type for c in cfg.alert_channels}
    expected = {"slack": 0, "webhook": 0, "email": 0}
    for budget in cfg.budgets:
        for channel in budget.channels:
            expected[channels[channel]] += per_budget.get(budget.id, 0)
    messages = dict(expected)
    for channel in cfg.anomalies.channels:
        expected[channels[channel]] += anomalies
        messages[channels[channel]] += incidents
    assert {k: sent.get(k, 0) for k in expected} == expected and expected["slack"] > 0
    received = {k: len(alert_sink.inbox.read(k)) for k in expected}
    assert received == messages
    # ops.pipeline_runs: sync_config marked the run running, record_run_success ended it (record_run_failure skipped)
    with psycopg.connect(url) as conn:
        assert conn.execute("""SELECT trigger, status, attempts, error, finished_at > started_at FROM ops.pipeline_runs
                               WHERE pipeline = 'transform' AND run_id = %s""", (run.run_id,)).fetchall() == \
            [("airflow", "success", 1, None, True)]
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert (states["record_run_success"], states["record_run_failure"]) == ("success", "skipped")
    # A second run (dbt tasks marked success to save time) records and sends nothing twice.
    again = dag.test(logical_date=datetime(2026, 11, 3, tzinfo=UTC), mark_success_pattern=r"dbt\..*")
    assert again.state == "success"
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM alerts.budget_threshold_crossings "
                            "WHERE kind = 'actual'").fetchone()[0] == crossings
        assert conn.execute("SELECT count(*) FROM alerts.notifications").fetchone()[0] == sum(expected.values())
    assert {k: len(alert_sink.inbox.read(k)) for k in expected} == received


def test_a_failed_transform_run_is_recorded_and_still_fails(airflow_db, dagbag, warehouse_conn_env):
    """dbt tasks marked success on an empty warehouse: detect_alerts fails (no marts). record_run_failure (ONE_FAILED)
    records the failure naming the task; record_run_success is upstream_failed, so the DAG run is failed."""
    dag = dagbag.dags["transform"]
    detect = dag.get_task("detect_alerts")
    retries = detect.retries
    detect.retries = 0  # no retry delay in the test
    try:
        run = dag.test(logical_date=datetime(2026, 11, 4, tzinfo=UTC), mark_success_pattern=r"dbt\..*")
    finally:
        detect.retries = retries
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert (states["detect_alerts"], states["deliver_alerts"]) == ("failed", "upstream_failed")
    assert (states["record_run_success"], states["record_run_failure"]) == ("upstream_failed", "success")
    with psycopg.connect(warehouse_conn_env) as conn:
        assert conn.execute("""SELECT trigger, status, attempts, error FROM ops.pipeline_runs
                               WHERE pipeline = 'transform' AND run_id = %s""", (run.run_id,)).fetchall() == \
            [("airflow", "failed", 1, "failed task(s): detect_alerts")]


def test_fold_in_telemetry_updates_its_asset_only_when_batches_arrived(airflow_db, dagbag, warehouse_conn_env):
    """Nothing pushed: the check is skipped (no Asset event, no transform). A batch pushed: the run succeeds and
    updates raw.telemetry_batches, the Asset the transform DAG is scheduled on; the next run finds nothing new."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    from openfinops import run_log
    from openfinops.server import store

    def events() -> int:
        with create_session() as session:
            return session.query(AssetEvent).filter(AssetEvent.asset.has(name="raw.telemetry_batches")).count()

    dag = dagbag.dags["fold_in_telemetry"]
    before = events()
    run = dag.test(logical_date=datetime(2026, 11, 5, 0, 15, tzinfo=UTC))
    assert [ti.state for ti in run.get_task_instances()] == ["skipped"] and events() == before
    with psycopg.connect(warehouse_conn_env) as conn:
        store.ensure_tables(conn)
        store.register(conn, "test", None, None, agent_id="agt_fold")
        batch = {"agent_id": "agt_fold", "batch_id": "b-1", "metrics": [
            {"timestamp": "2026-11-05T00:00:00Z", "name": "queue_depth", "value": 3}]}
        assert store.store_batch(conn, "agt_fold", batch, "sha")[0] is True
    run = dag.test(logical_date=datetime(2026, 11, 5, 0, 30, tzinfo=UTC))
    assert [ti.state for ti in run.get_task_instances()] == ["success"] and events() == before + 1
    run = dag.test(logical_date=datetime(2026, 11, 5, 0, 45, tzinfo=UTC))
    assert [ti.state for ti in run.get_task_instances()] == ["skipped"] and events() == before + 1
    # a batch pushed before a transform that succeeded is in the marts already: no second transform for it
    with psycopg.connect(warehouse_conn_env) as conn:
        store.store_batch(conn, "agt_fold", {**batch, "batch_id": "b-2"}, "sha2")
        run_log.ensure_tables(conn)
        run_log.start_run(conn, "transform", "transform", "manual-after-b-2", "cli")
        run_log.finish_run(conn, "transform", "transform", "manual-after-b-2", "cli", "success")
    run = dag.test(logical_date=datetime(2026, 11, 5, 1, 0, tzinfo=UTC))
    assert [ti.state for ti in run.get_task_instances()] == ["skipped"] and events() == before + 1
    with psycopg.connect(warehouse_conn_env) as conn:  # one pushed after it is announced
        store.store_batch(conn, "agt_fold", {**batch, "batch_id": "b-3"}, "sha3")
    run = dag.test(logical_date=datetime(2026, 11, 5, 1, 15, tzinfo=UTC))
    assert [ti.state for ti in run.get_task_instances()] == ["success"] and events() == before + 2
    # make demo: telemetry pushed before a load cycle is left to that cycle's transform (the CLI step it runs)
    with psycopg.connect(warehouse_conn_env) as conn:
        store.store_batch(conn, "agt_fold", {**batch, "batch_id": "b-4"}, "sha4")
    proc = run_cli("telemetry-with-next-load", url=warehouse_conn_env)
    assert proc.stdout.startswith("1 pushed batch(es) left to the next load cycle's transform"), proc.stdout
    run = dag.test(logical_date=datetime(2026, 11, 5, 1, 30, tzinfo=UTC))
    assert [ti.state for ti in run.get_task_instances()] == ["skipped"] and events() == before + 2
