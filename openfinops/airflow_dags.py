"""DAG factory: one ``collect_<source_id>`` DAG per configured source, ``fold_in_telemetry`` (pushed data) and one
``transform`` DAG.

Parse time only reads the config file and the dbt manifest (local files): no provider import, no network, no
database. Provider hooks are imported inside the tasks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset, Param, TriggerRule, task
from airflow.sdk.definitions.timetables.interval import CronDataIntervalTimetable

from openfinops.collect_context import build_collector
from openfinops.config import OpenFinOpsConfig, SourceConfig
from openfinops.warehouse import DBT_PROJECT_DIR, dbt_executable
from openfinops.windows import close_days, lookback_days

TAGS = ["openfinops"]
DBT_THREADS = 2  # as dbt_project/profiles.yml (Cosmos' profile mapping would default to 1)


def raw_asset(table: str) -> Asset:
    """The Airflow Asset a load updates: one per raw table."""
    return Asset(name=f"raw.{table}", uri=f"openfinops://warehouse/raw/{table}", group="openfinops-raw")


def source_assets(cfg: OpenFinOpsConfig, source: SourceConfig) -> list[Asset]:
    """Building a collector only reads its options (no client, no network): its datasets name the raw tables."""
    return [raw_asset(ds.table) for ds in build_collector(cfg, source).datasets()]


def warehouse_connection(conn_id: str):
    """A psycopg 3 connection from the Airflow connection (PostgresHook returns psycopg 3 with SQLAlchemy 2)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=conn_id).get_conn()


def build_collect_dag(cfg: OpenFinOpsConfig, source: SourceConfig, config_path: str | None = None) -> DAG:
    outlets = source_assets(cfg, source)
    doc = f"""
### collect_{source.id}
{source.description or source.type}

Collects source `{source.id}` (type `{source.type}`) for the run's data interval [start, end) and replaces that
window in {", ".join(f"`{a.name}`" for a in outlets)} in one transaction. Re-running or back-filling never duplicates.

* Back-fill a range in one run: trigger with params `start` / `end` (YYYY-MM-DD, end exclusive),
  or `airflow backfill create --dag-id collect_{source.id} --from-date ... --to-date ...` for one run per day.
* Look-back: {lookback_days(source)} day(s) re-pulled before the window (restated bills); the previous billing
  period is re-pulled too while the window starts within {close_days(source)} day(s) of a new month (it is still
  open: late usage, credits, tax).
* Rejected records: `raw._rejects`; the run fails when more than {source.max_reject_ratio:.1%} are rejected, or
  at once when more than {source.max_rejects} are.
"""
    with DAG(
        dag_id=f"collect_{source.id}",
        description=source.description or f"Collect {source.type} source {source.id}",
        # A data interval [previous tick, tick): the window a run collects (Airflow 3's plain cron schedule has none).
        schedule=CronDataIntervalTimetable(source.schedule, timezone="UTC"),
        start_date=datetime.combine(source.start_date, datetime.min.time(), UTC),
        catchup=source.catchup,
        max_active_runs=4,
        tags=[*TAGS, "collect", f"type:{source.type}"],
        default_args={"owner": source.owner, "retries": 2, "retry_delay": timedelta(minutes=1),
                      "retry_exponential_backoff": True},
        params={
            "start": Param(None, type=["null", "string"], format="date",
                           description="Override the window start (YYYY-MM-DD) for a one-run back-fill."),
            "end": Param(None, type=["null", "string"], format="date",
                         description="Override the window end (YYYY-MM-DD, exclusive)."),
        },
        doc_md=doc,
    ) as dag:

        @task(task_id="collect_and_load", outlets=outlets)
        def collect_and_load(params=None, data_interval_start=None, data_interval_end=None, run_id=None) -> dict:
            from collectors.core.base import Window
            from openfinops import pipeline
            from openfinops.config import load_config

            window = resolve_window(params or {}, data_interval_start, data_interval_end)
            try:
                run_cfg = load_config(config_path)
            except Exception as exc:  # the file changed since parsing: record the failed run with the parsed config
                with warehouse_connection(cfg.warehouse.connection_id) as conn:
                    pipeline.record_failed_collect(conn, source.id, run_id, "airflow", exc)
                raise
            with warehouse_connection(run_cfg.warehouse.connection_id) as conn:
                result = pipeline.collect(run_cfg, source.id, Window(window[0], window[1]), conn,
                                          batch_id=run_id, trigger="airflow")
            print(result.summary())
            return {"rows": result.rows, "rejects": result.rejects, "window": str(result.window)}

        @task(task_id="close_load_cycle", outlets=[LOAD_CYCLE_ASSET], trigger_rule=TriggerRule.ALL_DONE, retries=3)
        def close_load_cycle(run_id=None, ti=None) -> dict:
            """The last load in flight closes the cycle (updates the Asset the transform is scheduled on); any
            other run's task is skipped (openfinops/load_cycle.py)."""
            from airflow.exceptions import AirflowSkipException

            from openfinops import load_cycle

            source_ids = [s.id for s in cfg.sources]
            with warehouse_connection(cfg.warehouse.connection_id) as conn:
                decision = load_cycle.close_if_last(conn, source.id, run_id,
                                                    lambda: load_cycle.loads_in_flight(ti, source_ids))
            print(decision.describe())
            if not decision.closed:
                raise AirflowSkipException(decision.describe())
            return {"cycle_id": decision.cycle_id, "sources": decision.sources}

        load = collect_and_load()
        load >> close_load_cycle()
        # The run's state follows its load: this leaf is upstream_failed when the load failed (an EmptyOperator
        # costs no worker process), while close_load_cycle (all_done) still closes the cycle.
        load >> EmptyOperator(task_id="loaded")
    return dag


def resolve_window(params: dict, interval_start, interval_end) -> tuple[datetime, datetime]:
    """Params ``start``/``end`` (dates) win over the data interval; a run with neither fails clearly."""
    if params.get("start") or params.get("end"):
        if not (params.get("start") and params.get("end")):
            raise ValueError("params: give both `start` and `end` (YYYY-MM-DD, end exclusive), or neither")
        start = datetime.fromisoformat(str(params["start"])).replace(tzinfo=UTC)
        end = datetime.fromisoformat(str(params["end"])).replace(tzinfo=UTC)
        return start, end
    if interval_start is None or interval_end is None or interval_start == interval_end:
        raise ValueError("this run has no data interval (a manual run without a logical date): "
                         "trigger it with a logical date or with params `start` and `end`")
    # plain datetimes: pendulum's DateTime drops a datetime.timezone when a timedelta is subtracted from it
    return _plain_utc(interval_start), _plain_utc(interval_end)


def _plain_utc(value: datetime) -> datetime:
    utc = value.astimezone(UTC)
    return datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=UTC)


# A closed load cycle (openfinops/load_cycle.py): updated by the last collect run of a set that landed together.
LOAD_CYCLE_ASSET = Asset(name="openfinops.load_cycle", uri="openfinops://warehouse/ops/load_cycles",
                         group="openfinops-raw")

# Pushed telemetry (the ingest server): one Asset for every batch table; the fold_in_telemetry DAG updates it when
# batches arrived since it last looked, and the transform DAG is scheduled on it like on the collectors' Assets.
TELEMETRY_ASSET = raw_asset("telemetry_batches")
TELEMETRY_CHECK_SCHEDULE = "*/15 * * * *"


def build_telemetry_dag(cfg: OpenFinOpsConfig) -> DAG:
    """``fold_in_telemetry``: every 15 minutes, updates the telemetry Asset (so ``transform`` runs) when agents
    pushed batches since the last update; otherwise its task is skipped and nothing is triggered."""
    with DAG(
        dag_id="fold_in_telemetry",
        description="Trigger the transform when agents pushed telemetry to the ingest server",
        schedule=TELEMETRY_CHECK_SCHEDULE,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=[*TAGS, "telemetry"],
        default_args={"owner": "finops-data", "retries": 1, "retry_delay": timedelta(minutes=1)},
        doc_md=f"""
### fold_in_telemetry
Agents push batches to the ingest server (`openfinops-server`), which commits them to `raw.telemetry_*`. Every 15
minutes this DAG looks for batches received since its last update of `{TELEMETRY_ASSET.name}`
(`ops.telemetry_fold_in` keeps the watermark). When there are some it updates the Asset, and the `transform` DAG
folds them into the marts with everything else; when there are none its task is skipped (no Asset event).
""",
    ) as dag:

        @task(task_id="new_batches", outlets=[TELEMETRY_ASSET])
        def new_batches(ti=None) -> dict:
            from airflow.exceptions import AirflowSkipException

            from openfinops import load_cycle, telemetry

            flying = load_cycle.loads_in_flight(ti, [s.id for s in cfg.sources])
            if flying:
                raise AirflowSkipException("loads in flight (" + ", ".join(sorted(flying)) + "): their cycle's "
                                           "transform folds the pushed telemetry in")
            with warehouse_connection(cfg.warehouse.connection_id) as conn:
                found = telemetry.advance_fold_in_watermark(conn)
            if not found["batches"]:
                raise AirflowSkipException(f"no batch received since {found['since']}")
            print(f"{found['batches']} batch(es) received since {found['since']}: updating {TELEMETRY_ASSET.name}")
            return {"batches": found["batches"], "since": str(found["since"]), "until": str(found["until"])}

        new_batches()
    return dag


def build_transform_dag(cfg: OpenFinOpsConfig, config_path: str | None = None) -> DAG:
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import (
        PRODUCER_WATCHER_TASK_ID,
        ExecutionMode,
        InvocationMode,
        LoadMode,
        TestBehavior,
        TestIndirectSelection,
    )
    from cosmos.profiles import PostgresUserPasswordProfileMapping

    from openfinops import dbt_watch

    # Once per closed load cycle (never on a half-loaded one), and when agents pushed telemetry while no load was
    # in flight.
    schedule = LOAD_CYCLE_ASSET | TELEMETRY_ASSET
    manifest = Path(DBT_PROJECT_DIR) / "target" / "manifest.json"
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest} is missing: run `make dbt-parse` (the setup scripts do) so the "
                                "transform DAG can render dbt models without running dbt at parse time")
    conn_id = cfg.warehouse.connection_id
    with DAG(
        dag_id="transform",
        description="dbt build of staging, FOCUS intermediate and marts; then budget and anomaly alerts",
        schedule=schedule,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=[*TAGS, "transform", "dbt"],
        default_args={"owner": "finops-data", "retries": 1, "retry_delay": timedelta(minutes=1)},
        doc_md=f"""
### transform
Runs once per closed load cycle (the last of the collect runs that landed together updates
`{LOAD_CYCLE_ASSET.name}`; never on a half-loaded cycle) and when agents pushed telemetry while no load was in flight
(`{TELEMETRY_ASSET.name}`). Steps: write
budgets/clusters from the config file to `config.*`; one `dbt build` through Cosmos in watcher mode (the producer
task runs it; one task per model and per model's tests shows each node's result); `detect_alerts` records new budget
threshold crossings (actual and forecast) and anomalies; `deliver_alerts` sends each once per channel (Slack,
webhook, e-mail) and records it in `alerts.notifications`. The run is recorded in `ops.pipeline_runs` (pipeline
`transform`): `sync_config` marks it running, then `record_run_success` (after `deliver_alerts`) or
`record_run_failure` (when any task failed) ends it.
""",
    ) as dag:

        @task(task_id="sync_config")
        def sync_config(run_id=None, dag_run=None) -> dict:
            """Record the run as 'running' in ops.pipeline_runs, then write the config tables."""
            from openfinops import pipeline, run_log
            from openfinops.config import load_config

            with warehouse_connection(conn_id) as conn:
                run_log.ensure_tables(conn)
                run_log.start_run(conn, run_log.TRANSFORM_PIPELINE, "transform", run_id, "airflow",
                                  started_at=getattr(dag_run, "start_date", None))
                return pipeline.sync_config(load_config(config_path), conn)

        dbt = DbtTaskGroup(
            group_id="dbt",
            project_config=ProjectConfig(dbt_project_path=DBT_PROJECT_DIR, manifest_path=manifest,
                                         install_dbt_deps=False),
            profile_config=ProfileConfig(
                profile_name="openfinops", target_name="airflow",
                profile_mapping=PostgresUserPasswordProfileMapping(
                    conn_id=conn_id, profile_args={"schema": "public", "threads": DBT_THREADS})),
            # A model's task runs only the tests on that model alone (cautious); tests spanning several models
            # (relationships, cross-model sums) get their own task after all their parents (detached).
            execution_config=ExecutionConfig(execution_mode=ExecutionMode.WATCHER,
                                             dbt_executable_path=dbt_executable(),
                                             invocation_mode=InvocationMode.SUBPROCESS,
                                             test_indirect_selection=TestIndirectSelection.CAUTIOUS),
            render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.AFTER_EACH,
                                       should_detach_multiple_parents_tests=True,
                                       dbt_executable_path=dbt_executable(),
                                       invocation_mode=InvocationMode.SUBPROCESS),
        )

        @task(task_id="detect_alerts")
        def detect_alerts(run_id=None) -> dict:
            """Record new budget threshold crossings (actual, forecast) and anomalies (openfinops/alerts.py)."""
            from openfinops import alerts, load_cycle
            from openfinops.config import load_config

            run_cfg = load_config(config_path)
            with warehouse_connection(conn_id) as conn:
                cycle = load_cycle.latest_cycle(conn)
                if cycle:
                    print(load_cycle.describe_cycle(cycle))
                detected = alerts.detect(run_cfg, conn, detected_by=run_id)
            print(detected.describe())
            return {"budget_crossings": len(detected.crossings), "anomalies": len(detected.anomalies)}

        @task(task_id="deliver_alerts")
        def deliver_alerts(run_id=None) -> dict:
            """Send each recorded alert once per channel; fails (after sending the rest) when a channel fails."""
            from openfinops import alerts
            from openfinops.config import load_config

            run_cfg = load_config(config_path)
            with warehouse_connection(conn_id) as conn:
                try:
                    report = alerts.deliver(run_cfg, conn, sent_by=run_id)
                except alerts.DeliveryError as exc:
                    print(exc.report.summary())
                    raise
            print(report.summary())
            return {"sent": len(report.sent)}

        @task(task_id="record_run_success")
        def record_run_success(run_id=None, dag_run=None) -> None:
            """Every task succeeded: the run is 'success' in ops.pipeline_runs."""
            from openfinops import run_log

            with warehouse_connection(conn_id) as conn:
                run_log.ensure_tables(conn)
                run_log.finish_run(conn, run_log.TRANSFORM_PIPELINE, "transform", run_id, "airflow", "success",
                                   started_at=getattr(dag_run, "start_date", None))

        @task(task_id="record_run_failure", trigger_rule=TriggerRule.ONE_FAILED)
        def record_run_failure(run_id=None, dag_run=None, ti=None) -> None:
            """Some task failed: the run is 'failed' in ops.pipeline_runs, the error names the failed tasks. The
            DAG run still fails: record_run_success (a leaf) is then upstream_failed."""
            from openfinops import run_log

            failed = failed_task_ids(ti, dag_run, run_id)
            error = ("failed task(s): " + ", ".join(failed)) if failed else "a task of the run failed"
            with warehouse_connection(conn_id) as conn:
                run_log.ensure_tables(conn)
                run_log.finish_run(conn, run_log.TRANSFORM_PIPELINE, "transform", run_id, "airflow", "failed",
                                   error=error, started_at=getattr(dag_run, "start_date", None))

        sync_config() >> dbt
        producer = dag.get_task(f"{dbt.group_id}.{PRODUCER_WATCHER_TASK_ID}")
        # The producer's success means every model and test passed: the alerts need not wait for the node tasks
        # that only show those results (they finish beside the alerts). The run's success is recorded when both did.
        deliver = producer >> detect_alerts() >> deliver_alerts()
        success = record_run_success()
        failure = record_run_failure()
        deliver >> success
        # Watcher mode: one `dbt build` (the producer) runs the whole project and reports each node's result; every
        # model / test task shows that result. They start and end on the triggerer (no worker process on success,
        # openfinops/dbt_watch.py), with the model tests beside the chain of models, not in it.
        dbt_watch.start_node_tasks_on_triggerer(dag.tasks)
        dbt_watch.tests_beside_the_chain(dag.tasks)
        dbt_watch.producer_pushes_only_finished_events()
        # The producer is upstream of the root node tasks (as Cosmos does for a DbtDag): a node task never waits on
        # a build that has not started, which would block dag.test(), where tasks run one at a time.
        for root in dbt.roots:
            if root is not producer and hasattr(root, "producer_task_id"):
                producer >> root
        # Cosmos skips the producer on a second try (so a retry would end in skipped tasks, not a failed run).
        producer.retries = 0
        dbt >> success  # after the test tasks moved: the group's leaves are final now
        # record_run_failure watches every task (Cosmos node tasks included) but record_run_success, which stays a
        # leaf: when anything fails it is upstream_failed, so the run is failed even though the failure is recorded.
        for other in dag.tasks:
            if other.task_id not in (success.operator.task_id, failure.operator.task_id):
                other >> failure
    return dag


def failed_task_ids(ti, dag_run, run_id: str | None) -> list[str]:
    """The failed tasks of this DAG run, from the Airflow 3 execution API (best effort: [] when unavailable)."""
    try:
        states = ti.get_task_states(dag_id=dag_run.dag_id, run_ids=[run_id])
    except Exception:  # e.g. an execution API without the call; the run is recorded as failed either way
        return []
    return sorted(task for task, state in (states.get(run_id) or {}).items() if state == "failed")
