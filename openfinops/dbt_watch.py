"""The transform's per-model tasks, started and ended on the triggerer (no worker process on success).

In Cosmos' watcher mode one task (the producer) runs ``dbt build`` and publishes every node's result as XCom; each
``dbt.<model>.run`` / ``dbt.<model>.test`` task only shows that result. Run as ordinary deferrable sensors, every one
of them costs a worker process that imports Airflow and Cosmos and parses the transform DAG (~5 s of CPU on this
machine) just to defer, and a second one to resume: on 2 cores the ~220 node tasks took several times the build.

:func:`start_node_tasks_on_triggerer` sets them to ``start_from_trigger`` (Airflow 3.3): the scheduler hands each one
straight to the triggerer with :class:`NodeResultTrigger`, which polls the producer's XCom like Cosmos' own trigger
and ends the task there on success (``TaskSuccessEvent``) or skip. Anything else (the node failed, the producer
failed or was skipped) resumes the task on a worker with Cosmos' ``execute_complete``, which raises with the message
naming the model and the producer's log, exactly as before. A retry (try 2+) also resumes on a worker, where Cosmos
falls back to running dbt for that node alone.

Each node task still waits for its upstream tasks, and every hop costs 3-5.5 s of scheduler and triggerer loops and
of handing the serialized DAG to each trigger (measured), not work. :func:`tests_beside_the_chain` takes the
model-test tasks out of the chain (``a.run -> a.test -> b.run`` becomes ``a.run -> a.test`` and ``a.run -> b.run``),
which halves the depth (19 to 10 hops here) without hiding anything: the node tasks only show results after the
producer's build, and a failed test fails that build (its log names the test).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import StartTriggerArgs, TaskSkippedEvent, TaskSuccessEvent, TriggerEvent
from cosmos.listeners.dag_run_listener import EventStatus
from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key
from cosmos.operators._watcher.base import BaseConsumerSensor
from cosmos.operators._watcher.state import (
    ProducerTaskState,
    is_dbt_node_status_failed,
    is_dbt_node_status_skipped,
    is_dbt_node_status_success,
)
from cosmos.operators._watcher.triggerer import WatcherEventReason, WatcherTrigger
from cosmos.operators.watcher import DbtTestWatcherOperator

POKE_INTERVAL_SECONDS = 5.0


class NodeResultTrigger(WatcherTrigger):
    """Cosmos' WatcherTrigger (its XCom and producer-state calls, its event payloads) for a task started by the
    scheduler: the DAG run comes from the task instance the triggerer attaches, and a success or skip ends the task
    here."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return f"{__name__}.{type(self).__name__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        ti = self.task_instance
        # The scheduler built this trigger from the serialized task (no run yet): the run is the task instance's.
        self.dag_id, self.run_id, self.map_index = ti.dag_id, ti.run_id, ti.map_index
        if (ti.try_number or 1) > 1:
            # A retry: resume on a worker, where Cosmos runs dbt for this node alone.
            yield TriggerEvent({"status": EventStatus.FAILED, "reason": WatcherEventReason.PRODUCER_SKIPPED})
            return
        # Cosmos' own loop asks for dbt's start-up events, the producer's state, the node's status and its compiled
        # SQL on every poll; with a hundred triggers at once those calls queue in the triggerer and every hop of the
        # chain waits. Here a poll is one call while the node has a result (nearly always: dbt is ahead of the
        # tasks), and the producer's state is asked only while it has none.
        key = get_tests_status_xcom_key(self.model_unique_id) if self.is_test_sensor else None
        while True:
            if key:
                status = await self.get_xcom_val(key)
            else:
                status = await self._get_node_status()
            if is_dbt_node_status_success(status):
                self.log.info("dbt node %s: %s (reported by %s)", self.model_unique_id, status, self.producer_task_id)
                yield TaskSuccessEvent()
                return
            if is_dbt_node_status_skipped(status):
                self.log.info("dbt node %s: skipped by dbt", self.model_unique_id)
                yield TaskSkippedEvent()
                return
            if is_dbt_node_status_failed(status):
                # resumes on a worker: Cosmos' execute_complete raises, naming the node and the producer
                yield TriggerEvent({"status": EventStatus.FAILED, "reason": WatcherEventReason.NODE_FAILED})
                return
            producer = await self._get_producer_task_status()
            if producer in (ProducerTaskState.FAILED, ProducerTaskState.UPSTREAM_FAILED, ProducerTaskState.REMOVED):
                yield TriggerEvent({"status": EventStatus.FAILED, "reason": WatcherEventReason.PRODUCER_FAILED})
                return
            if producer == ProducerTaskState.SKIPPED:
                yield TriggerEvent({"status": EventStatus.FAILED, "reason": WatcherEventReason.PRODUCER_SKIPPED})
                return
            if producer == ProducerTaskState.SUCCESS:
                # dbt did not report this node (an ephemeral model, an empty file): nothing to show but success
                self.log.info("dbt node %s: not run by the build, which succeeded", self.model_unique_id)
                yield TaskSuccessEvent()
                return
            await asyncio.sleep(self.poke_interval)


def start_node_tasks_on_triggerer(tasks) -> int:
    """Make every Cosmos watcher node task among ``tasks`` start from the triggerer; returns how many."""
    count = 0
    for task in tasks:
        if not isinstance(task, BaseConsumerSensor) or not task.deferrable:
            continue
        task.start_from_trigger = True
        task.start_trigger_args = StartTriggerArgs(
            trigger_cls=f"{__name__}.{NodeResultTrigger.__name__}",
            trigger_kwargs={
                "model_unique_id": task.model_unique_id,
                "producer_task_id": task.producer_task_id,
                "dag_id": task.dag_id,
                "run_id": "",  # the triggerer's task instance gives it
                "map_index": -1,
                "poke_interval": POKE_INTERVAL_SECONDS,
                "is_test_sensor": task.is_test_sensor,
            },
            next_method="execute_complete",
            next_kwargs=None,
            timeout=task.execution_timeout,
        )
        count += 1
    return count


def tests_beside_the_chain(tasks) -> int:
    """Hang every model-test task off its model instead of between the model and what comes after it (see the
    module); returns how many edges moved."""
    moved = 0
    by_id = {t.task_id: t for t in tasks}
    for test in [t for t in tasks if isinstance(t, DbtTestWatcherOperator)]:
        models = [by_id[u] for u in test.upstream_task_ids if isinstance(by_id.get(u), BaseConsumerSensor)]
        if not models:
            continue
        for down_id in list(test.downstream_task_ids):
            down = by_id.get(down_id)
            if not isinstance(down, BaseConsumerSensor):
                continue
            test.downstream_task_ids.discard(down_id)
            down.upstream_task_ids.discard(test.task_id)
            for model in models:
                model >> down
            moved += 1
    return moved


def producer_pushes_only_finished_events() -> None:
    """The producer pushes an XCom (one execution-API call from inside its loop over dbt's log) for each of dbt's
    NodeStart / NodeCompiling / NodeExecuting / NodeFinished events of every node, ~3,100 calls a build here. Only
    NodeFinished (and the error events) are ever read: by Cosmos' execute_complete when a node failed. Cosmos has
    no option for it, so this narrows its module-level allow-list; called when the transform DAG is built (the
    producer runs in the process that parsed it)."""
    import cosmos.operators._watcher.base as watcher_base

    watcher_base._DBT_EVENT_ALLOWLIST = watcher_base._DBT_ERROR_EVENTS_TYPES | frozenset({"NodeFinished"})
