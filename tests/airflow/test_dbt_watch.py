"""The transform's dbt node tasks start and end on the triggerer (openfinops/dbt_watch.py): every one is set up so,
its start arguments survive what the scheduler and the triggerer do with them, and the trigger ends the task only on
success or skip (a failure resumes it on a worker, where Cosmos raises naming the node)."""

import asyncio
from types import SimpleNamespace

import pytest
from cosmos.operators._watcher.base import BaseConsumerSensor

from openfinops.dbt_watch import NodeResultTrigger

PRODUCER = "dbt.dbt_producer_watcher"
MODEL = "model.openfinops.fct_cost_daily"


def node_tasks(dagbag):
    return [t for t in dagbag.dags["transform"].tasks if isinstance(t, BaseConsumerSensor)]


def test_every_node_task_starts_from_the_triggerer_and_its_trigger_inflates(airflow_db, dagbag):
    """The scheduler stores the start arguments as a Trigger row (encrypted kwargs) and the triggerer decodes them
    and builds the trigger class: the same calls here, for every node task of the serialized DAG."""
    from airflow.models.trigger import Trigger
    from airflow.sdk._shared.module_loading import import_string
    from airflow.serialization.decoders import smart_decode_trigger_kwargs
    from airflow.serialization.serialized_objects import DagSerialization

    dag = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags["transform"]))
    expected = {t.task_id: t for t in node_tasks(dagbag)}
    assert len(expected) > 100  # a run and a test task per model
    models = set()
    for task_id, source in expected.items():
        task = dag.get_task(task_id)
        assert task.start_from_trigger, task_id
        args = task.start_trigger_args
        assert args.next_method == "execute_complete"
        row = Trigger(classpath=args.trigger_cls, kwargs=args.trigger_kwargs or {})
        kwargs = {k: smart_decode_trigger_kwargs(v) for k, v in Trigger._decrypt_kwargs(row.encrypted_kwargs).items()}
        trigger = import_string(row.classpath)(**kwargs)
        assert isinstance(trigger, NodeResultTrigger)
        assert (trigger.model_unique_id, trigger.producer_task_id, trigger.is_test_sensor) == (
            source.model_unique_id, PRODUCER, source.is_test_sensor)
        assert trigger.serialize()[0] == "openfinops.dbt_watch.NodeResultTrigger"
        models.add(trigger.model_unique_id)
    assert MODEL in models
    # the producer and the plain Python tasks still run on a worker
    for task_id in [PRODUCER, "sync_config", "detect_alerts", "deliver_alerts"]:
        assert not dag.get_task(task_id).start_from_trigger, task_id


def run_trigger(xcoms: dict, producer_state: str | None = "running", try_number: int = 1, is_test_sensor=False):
    """Run the trigger against a producer whose XCom (the Airflow boundary it polls) holds ``xcoms``."""
    trigger = NodeResultTrigger(model_unique_id=MODEL, producer_task_id=PRODUCER, dag_id="transform", run_id="",
                                map_index=-1, poke_interval=0.01, is_test_sensor=is_test_sensor)
    trigger.task_instance = SimpleNamespace(dag_id="transform", task_id="dbt.fct_cost_daily_run",
                                            run_id="asset_triggered__2026", map_index=-1,
                                            try_number=try_number)
    asked = []

    async def get_xcom_val(key):
        asked.append((trigger.run_id, key))
        return xcoms.get(key)

    async def producer():
        return producer_state

    trigger.get_xcom_val = get_xcom_val
    trigger._get_producer_task_status = producer

    async def collect():
        return [event async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), 5)), asked


def test_a_successful_node_ends_on_the_triggerer():
    from airflow.triggers.base import TaskSuccessEvent

    events, asked = run_trigger({"model__openfinops__fct_cost_daily_status": {"status": "success"}})
    assert len(events) == 1 and isinstance(events[0], TaskSuccessEvent)
    # it read the producer's XCom of this task instance's run (the scheduler did not know the run id)
    assert ("asset_triggered__2026", "model__openfinops__fct_cost_daily_status") in asked


def test_a_passing_test_task_and_a_skipped_node_end_on_the_triggerer():
    from airflow.triggers.base import TaskSkippedEvent, TaskSuccessEvent

    events, _ = run_trigger({"model__openfinops__fct_cost_daily_tests_status": "pass"},
                            is_test_sensor=True)
    assert isinstance(events[0], TaskSuccessEvent)
    events, _ = run_trigger({"model__openfinops__fct_cost_daily_status": {"status": "skipped"}})
    assert isinstance(events[0], TaskSkippedEvent)


@pytest.mark.parametrize(("xcoms", "producer_state", "reason"), [
    ({"model__openfinops__fct_cost_daily_status": {"status": "error"}}, "running", "node_failed"),
    ({}, "failed", "producer_failed"),
])
def test_a_failure_resumes_the_task_on_a_worker(xcoms, producer_state, reason):
    from airflow.triggers.base import BaseTaskEndEvent

    events, _ = run_trigger({**xcoms}, producer_state=producer_state)
    assert len(events) == 1 and not isinstance(events[0], BaseTaskEndEvent)
    assert events[0].payload["status"] == "failed" and events[0].payload["reason"] == reason


def test_a_retry_resumes_on_a_worker_where_cosmos_runs_the_node_alone():
    events, asked = run_trigger({"model__openfinops__fct_cost_daily_status": {"status": "success"}},
                                try_number=2)
    assert events[0].payload["reason"] == "producer_skipped" and asked == []
