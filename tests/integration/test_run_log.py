"""Operational logs on the real PostgreSQL: ops.loads is written inside the load transaction (a rolled-back load
leaves no 'success' row), failed loads and failed collect runs are recorded (redacted), and ops.pipeline_runs is
upserted per run id (a retry updates the row)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg
import pytest

from collectors.core.base import Window
from collectors.sources.demo import DemoCollector
from openfinops import pipeline, run_log
from openfinops.config import ConfigError
from openfinops.loader import Loader, LoadError
from tests.conftest import run_cli
from tests.fakes.collectors import BadRecords

WINDOW = Window.from_dates(date(2026, 11, 1), date(2026, 11, 3))


def loads(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("""SELECT load_id, source_id, batch_id, dataset, raw_table, window_start, window_end,
                                      status, rows_loaded, rows_rejected, rows_replaced, started_at <= finished_at,
                                      error
                               FROM ops.loads ORDER BY finished_at, dataset""").fetchall()


def runs(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("""SELECT pipeline, pipeline_type, run_id, trigger, status, attempts, error,
                                      finished_at IS NOT NULL AND finished_at >= started_at
                               FROM ops.pipeline_runs ORDER BY started_at""").fetchall()


def raw_count(url: str, table: str, source_id: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT count(*) FROM raw.{table} WHERE _source_id = %s", (source_id,)).fetchone()[0]


def test_a_successful_load_logs_each_dataset_in_its_own_transaction(empty_db, monkeypatch):
    clusters = DemoCollector("demo-clusters", {"datasets": ["node_metrics", "llm_training_metrics"]},
                             context={"clusters": [{"cluster_id": "gpu-a", "provider": "aws", "region": "us-east-1",
                                                    "nodes": 2, "gpus_per_node": 8, "gpu_type": "H100"}]})
    with psycopg.connect(empty_db) as conn:
        result = Loader(conn).load(clusters, WINDOW, batch_id="batch-1")
    rows = loads(empty_db)
    assert [r[3] for r in rows] == ["llm_training_metrics", "node_metrics"]
    counts = {d.dataset: d for d in result.datasets}
    for _, source, batch, dataset, table, start, end, status, loaded, rejected, replaced, ordered, error in rows:
        assert (source, batch, status, error, ordered) == ("demo-clusters", "batch-1", "success", None, True)
        assert (start, end) == (WINDOW.start, WINDOW.end)
        assert (table, loaded, rejected, replaced) == (counts[dataset].table, counts[dataset].rows, 0, 0)
        assert loaded == raw_count(empty_db, table, "demo-clusters") > 0
    assert len({r[0] for r in rows}) == 1  # one attempt, one load_id for both datasets

    # The success rows are written inside the load transaction: if anything fails after them (forced here, right
    # after they were inserted), the rollback takes them away with the data - and a 'failed' row is recorded.
    real_write = run_log.write_loads

    def write_then_fail(conn, **kwargs):
        real_write(conn, **kwargs)
        if kwargs["status"] == "success":
            raise RuntimeError("forced failure after the success rows were written")

    monkeypatch.setattr(run_log, "write_loads", write_then_fail)
    with psycopg.connect(empty_db) as conn, pytest.raises(RuntimeError, match="forced failure"):
        Loader(conn).load(clusters, WINDOW, batch_id="batch-2")
    second = [r for r in loads(empty_db) if r[2] == "batch-2"]
    assert sorted((r[3], r[7], r[8], r[10]) for r in second) == [
        ("llm_training_metrics", "failed", 0, 0), ("node_metrics", "failed", 0, 0)]
    assert second[0][12] == "RuntimeError: forced failure after the success rows were written"
    # the first load's data is still there, untouched by the rolled-back replacement
    assert raw_count(empty_db, "demo_node_metrics", "demo-clusters") == counts["node_metrics"].rows


def test_a_load_refused_for_rejects_logs_a_failed_row_naming_the_source(empty_db):
    with psycopg.connect(empty_db) as conn, pytest.raises(LoadError):
        Loader(conn, max_reject_ratio=0.01).load(BadRecords(30), WINDOW, batch_id="batch-bad")
    rows = loads(empty_db)
    assert len(rows) == 1
    _, source, batch, dataset, table, *_rest = rows[0]
    status, loaded, rejected, replaced, _, error = rows[0][7:]
    assert (source, batch, dataset, table) == ("bad-source", "batch-bad", "cost_line_items", "focus_cost_line_items")
    assert (status, loaded, rejected, replaced) == ("failed", 0, 30, 0)
    assert error.startswith("LoadError: source bad-source: 30 of ") and "max_reject_ratio" in error
    assert raw_count(empty_db, "focus_cost_line_items", "bad-source") == 0


def test_collect_records_its_run_and_failures_before_loading(empty_db, cfg, monkeypatch):
    with psycopg.connect(empty_db) as conn:
        result = pipeline.collect(cfg, "demo-snowflake", WINDOW, conn, batch_id="run-ok", trigger="airflow")
        # unknown source: fails before anything is loaded, still recorded
        with pytest.raises(ConfigError):
            pipeline.collect(cfg, "no-such-source", WINDOW, conn, batch_id="run-unknown")
    assert result.rows > 0
    recorded = runs(empty_db)
    assert recorded[0] == ("collect_demo-snowflake", "collect", "run-ok", "airflow", "success", 1, None, True)
    assert recorded[1][:6] == ("collect_no-such-source", "collect", "run-unknown", "cli", "failed", 1)
    assert recorded[1][6].startswith("ConfigError: no source with id 'no-such-source'")
    # one load row per dataset of demo-snowflake (metering, warehouse-hours, queries); none for the unknown source
    assert [r[2] for r in loads(empty_db)] == ["run-ok"] * 3

    # a collector error while loading: a failed run and a failed load, the error redacted (no password from a URL)
    def broken(self, dataset, window):
        raise ConnectionError("could not reach postgresql://billing:Sup3rS3cretPw@vendor.example/db")
        yield  # pragma: no cover

    monkeypatch.setattr(DemoCollector, "collect", broken)
    with psycopg.connect(empty_db) as conn, pytest.raises(ConnectionError):
        pipeline.collect(cfg, "demo-databricks", WINDOW, conn, batch_id="run-broken")
    failed_run = runs(empty_db)[-1]
    failed_load = [r for r in loads(empty_db) if r[2] == "run-broken"]
    expected = "ConnectionError: could not reach postgresql://billing:***@vendor.example/db"
    assert failed_run[:7] == ("collect_demo-databricks", "collect", "run-broken", "cli", "failed", 1, expected)
    # one per dataset: usage, list prices, job run timeline, jobs
    assert [(r[7], r[12]) for r in failed_load] == [("failed", expected)] * 4


def test_a_retry_of_the_same_run_updates_its_row(empty_db, cfg, monkeypatch):
    real_collect = DemoCollector.collect
    calls = []

    def flaky(self, dataset, window):
        calls.append(dataset.name)
        if len(calls) == 1:
            raise TimeoutError("vendor API timed out")
        yield from real_collect(self, dataset, window)

    monkeypatch.setattr(DemoCollector, "collect", flaky)
    with psycopg.connect(empty_db) as conn:
        with pytest.raises(TimeoutError):
            pipeline.collect(cfg, "demo-snowflake", WINDOW, conn, batch_id="manual__2026-11-03", trigger="airflow")
        assert runs(empty_db) == [("collect_demo-snowflake", "collect", "manual__2026-11-03", "airflow", "failed", 1,
                                   "TimeoutError: vendor API timed out", True)]
        pipeline.collect(cfg, "demo-snowflake", WINDOW, conn, batch_id="manual__2026-11-03", trigger="airflow")
    assert runs(empty_db) == [("collect_demo-snowflake", "collect", "manual__2026-11-03", "airflow", "success", 2,
                               None, True)]
    # each attempt has its own load rows (one per dataset: metering, warehouse-hours, queries), same batch
    assert sorted((r[7], r[2]) for r in loads(empty_db)) == [("failed", "manual__2026-11-03")] * 3 + [
        ("success", "manual__2026-11-03")] * 3


def test_cli_runs_are_recorded_with_trigger_cli_even_with_a_broken_config(empty_db, tmp_path):
    run_cli("collect", "demo-snowflake", "--start", "2026-11-01", "--end", "2026-11-02", url=empty_db)
    broken = tmp_path / "broken.yaml"
    broken.write_text("sources: [{id: demo-snowflake, type: no-such-type}]\n")
    proc = run_cli("--config", str(broken), "collect", "demo-snowflake", "--start", "2026-11-01", "--end",
                   "2026-11-02", url=empty_db, check=False)
    assert proc.returncode == 2
    recorded = runs(empty_db)
    assert [(r[0], r[3], r[4], r[5]) for r in recorded] == [("collect_demo-snowflake", "cli", "success", 1),
                                                            ("collect_demo-snowflake", "cli", "failed", 1)]
    assert recorded[0][2] == loads(empty_db)[0][2]  # run id = the CLI's batch id
    assert recorded[1][6].startswith("ConfigError:") and "no-such-type" in recorded[1][6]


def test_errors_are_redacted_and_truncated(monkeypatch):
    monkeypatch.setenv("OPENFINOPS_TEST_API_PASSWORD", "env-pa55word-xyz")
    text = run_log.redact_error(RuntimeError(
        "connect to postgresql+psycopg://openfinops:pw-in-url-123@127.0.0.1:54329/openfinops failed; "
        "dsn host=db password=dsn-secret-99 user=x; header api_key: abc123def; env-pa55word-xyz leaked"))
    assert text == ("RuntimeError: connect to postgresql+psycopg://openfinops:***@127.0.0.1:54329/openfinops failed; "
                    "dsn host=db password=*** user=x; header api_key: ***; *** leaked")
    assert len(run_log.redact_error("x" * 5000)) == run_log.MAX_ERROR_CHARS
    assert run_log.redact_error(None) is None


def test_finish_without_start_inserts_the_run(empty_db):
    started = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)
    with psycopg.connect(empty_db) as conn:
        run_log.ensure_tables(conn)
        run_log.finish_run(conn, "transform", "transform", "scheduled__1", "airflow", "failed",
                           error="failed task(s): sync_config", started_at=started)
    assert runs(empty_db) == [("transform", "transform", "scheduled__1", "airflow", "failed", 1,
                               "failed task(s): sync_config", True)]
