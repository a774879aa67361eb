"""DAG integrity: every DAG imports, is documented, tagged and retried (but the dbt build producer), and parsing
needs no secret or network."""

import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def test_no_import_errors_and_one_dag_per_source(dagbag, cfg):
    assert dagbag.import_errors == {}
    expected = {f"collect_{s.id}" for s in cfg.sources} | {"transform", "fold_in_telemetry"}
    assert set(dagbag.dag_ids) == expected


def test_dags_are_tagged_documented_and_retried(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert "openfinops" in dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md) > 80, dag_id
        for t in dag.tasks:
            if t.task_id == "dbt.dbt_producer_watcher":
                # Cosmos skips a watcher producer's second try: a retry would turn a failed build into skipped tasks.
                assert t.retries == 0, "the dbt producer must not retry"
            else:
                assert t.retries >= 1, f"{dag_id}.{t.task_id} has no retries"
            assert t.owner and t.owner != "airflow", f"{dag_id}.{t.task_id} has no owner"


def asset_names(condition):
    """Flatten an asset condition (Asset, AssetAny/AssetAll of them) into asset names."""
    if hasattr(condition, "objects"):
        for obj in condition.objects:
            yield from asset_names(obj)
    else:
        yield condition.name


def test_collect_dags_emit_an_asset_per_raw_table_and_the_transform_waits_for_the_cycle(dagbag, cfg):
    transform = dagbag.dags["transform"]
    scheduled_on = set(asset_names(transform.timetable.asset_condition))
    from collectors.core.registry import collector_class

    emitted = set()
    for s in cfg.sources:
        task = dagbag.dags[f"collect_{s.id}"].get_task("collect_and_load")
        names = {o.name for o in task.outlets}
        tables = {f"raw.{d.table}" for d in collector_class(s.type)(s.id, s.options).datasets()}
        assert names and names == tables, s.id  # the demo writes demo_* tables and the vendors' (Databricks, ...)
        emitted |= names
        # the last run of a load cycle closes it (openfinops/load_cycle.py): the Asset the transform waits for
        close = dagbag.dags[f"collect_{s.id}"].get_task("close_load_cycle")
        assert [o.name for o in close.outlets] == ["openfinops.load_cycle"], s.id
        assert close.trigger_rule == "all_done" and close.upstream_task_ids == {"collect_and_load"}
        # ... while the run's state follows its load (an EmptyOperator leaf after it)
        assert dagbag.dags[f"collect_{s.id}"].get_task("loaded").upstream_task_ids == {"collect_and_load"}
    # and the Asset the fold_in_telemetry DAG updates when agents pushed batches to the ingest server
    telemetry = {o.name for o in dagbag.dags["fold_in_telemetry"].get_task("new_batches").outlets}
    assert telemetry == {"raw.telemetry_batches"}
    # not on each raw table (the first load of several would start it on half-loaded data): once per load cycle
    assert scheduled_on == {"openfinops.load_cycle"} | telemetry
    assert emitted.isdisjoint(scheduled_on)
    # dbt runs through Cosmos: one task per model inside the `dbt` group, after sync_config, before the alerts.
    dbt_tasks = [t for t in transform.task_ids if t.startswith("dbt.")]
    assert any("fct_cost_daily" in t for t in dbt_tasks) and any("fct_budget_status" in t for t in dbt_tasks)
    # the alert tasks come after the dbt task group: detect, then deliver
    detect, deliver = transform.get_task("detect_alerts"), transform.get_task("deliver_alerts")
    assert deliver.upstream_task_ids == {"detect_alerts"}
    assert detect.upstream_task_ids and all(t.startswith("dbt.") for t in detect.upstream_task_ids)
    assert detect.downstream_task_ids == {"deliver_alerts", "record_run_failure"}
    assert deliver.downstream_task_ids == {"record_run_success", "record_run_failure"}


def test_transform_records_its_run_success_or_failure(dagbag):
    """ops.pipeline_runs: record_run_success after deliver_alerts and the dbt node tasks (default trigger rule),
    record_run_failure (ONE_FAILED) downstream of every other task, Cosmos node tasks included, so exactly one of them
    runs; both are leaves, so a failure still fails the run (record_run_success is then upstream_failed)."""
    from airflow.sdk import TriggerRule

    transform = dagbag.dags["transform"]
    success, failure = transform.get_task("record_run_success"), transform.get_task("record_run_failure")
    # the alerts wait for the producer's build only; the node tasks (its results) finish beside them
    assert transform.get_task("detect_alerts").upstream_task_ids == {"dbt.dbt_producer_watcher"}
    dbt_leaves = {t.task_id for t in transform.tasks if t.task_id.startswith("dbt.")
                  and not any(d.startswith("dbt.") for d in t.downstream_task_ids)}
    assert success.upstream_task_ids == {"deliver_alerts"} | dbt_leaves
    assert success.trigger_rule == TriggerRule.ALL_SUCCESS
    assert failure.trigger_rule == TriggerRule.ONE_FAILED
    others = set(transform.task_ids) - {"record_run_success", "record_run_failure"}
    assert failure.upstream_task_ids == others
    assert any(t.startswith("dbt.") and "fct_data_health_daily" in t for t in failure.upstream_task_ids)
    assert {t.task_id for t in transform.leaves} == {"record_run_success", "record_run_failure"}
    assert "sync_config" in others and transform.get_task("sync_config").upstream_task_ids == set()


def test_collect_schedule_has_a_daily_data_interval(dagbag):
    from airflow.sdk.definitions.timetables.interval import CronDataIntervalTimetable

    dag = dagbag.dags["collect_demo-aws"]
    # A data interval timetable: each run owns [previous midnight, midnight) UTC (dag.test below checks the window).
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.catchup is False and dag.max_active_runs >= 1
    assert set(dag.params.keys()) == {"start", "end"}


PARSE_PROBE = r"""
import json, sys, time
t = time.perf_counter()
from airflow.models.dagbag import DagBag
t_import = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
heavy = [m for m in ("airflow.providers.postgres.hooks.postgres", "psycopg") if m in sys.modules]
print(json.dumps({"errors": {k: v[-300:] for k, v in bag.import_errors.items()}, "dags": len(bag.dags),
                  "parse_s": round(time.perf_counter() - t_import, 2), "heavy": heavy}))
"""


def test_parse_needs_no_secrets_no_database_and_no_provider_hooks(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("AIRFLOW_CONN_") or k.startswith("OPENFINOPS_WAREHOUSE") or "PASSWORD" in k)}
    env["PYTHONPATH"] = str(ROOT)
    env["PGHOST"] = "127.0.0.1"
    env["PGPORT"] = "1"  # anything that tried the database would fail
    proc = subprocess.run([sys.executable, "-c", PARSE_PROBE, str(ROOT / "dags")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert result["dags"] >= 7
    assert result["heavy"] == [], f"imported at parse time: {result['heavy']}"
    print(f"dags folder parsed in {result['parse_s']} s")
