"""Pushed telemetry reaches the marts through the same transform as pulled data: node samples -> the cluster-health
marts, training steps (with the original LLMTrainingMetrics fields) -> the LLM marts, cost records -> fct_cost_daily,
a re-pushed day replacing (never adding to) the earlier push. Real server, real PostgreSQL, real dbt build."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

import psycopg
import pytest
import requests

from tests.conftest import run_cli
from tests.servers import Server

ADMIN = "fold-in-admin-token"


def node_samples() -> list[dict]:
    out = []
    for hour in range(6):
        for node in ("onprem-a-0", "onprem-a-1"):
            down = node == "onprem-a-1" and hour >= 4  # two NotReady hours out of six on one node
            out.append({"timestamp": f"2026-11-20T{hour:02d}:00:00Z", "cluster_id": "onprem-a", "node_id": node,
                        "status": "NotReady" if down else "Ready", "cpu_usage": 40 + hour, "gpu_usage": 80 + hour,
                        "memory_usage": 50, "gpu_memory_used_gb": 60, "gpu_count": 8})
    return out


def training_steps() -> list[dict]:
    return [{"timestamp": 1795132800 + 600 * i, "run_id": "llm-training-001", "model_name": "gpt-custom-7b",
             "cluster_id": "onprem-a", "epoch": i // 2, "step": 100 * i, "training_loss": round(2.0 - 0.1 * i, 3),
             "validation_loss": round(2.1 - 0.08 * i, 3), "learning_rate": 0.0001, "gpu_memory_mb": 40960,
             "batch_size": 32, "throughput_samples_per_sec": 120 + i} for i in range(6)]


BATCHES = [
    ("b1", {"node_metrics": node_samples(), "llm_training_metrics": training_steps(), "cost_records": [
        {"timestamp": "2026-11-20T00:00:00Z", "provider": "OnPrem", "service": "GPU hosting", "cost": "410.25",
         "currency": "EUR", "service_category": "Compute", "tags": {"team": "ml"}},
        {"timestamp": "2026-11-21T00:00:00Z", "provider": "OnPrem", "service": "GPU hosting", "cost": "399.10",
         "currency": "EUR", "service_category": "Compute", "tags": {"team": "ml"}}]}),
    # the agent's next cycle re-reads Nov 21 (restated) and adds Nov 22 with a credit
    ("b2", {"cost_records": [
        {"timestamp": "2026-11-21T00:00:00Z", "provider": "OnPrem", "service": "GPU hosting", "cost": "402.00",
         "currency": "EUR", "service_category": "Compute"},
        {"timestamp": "2026-11-22T00:00:00Z", "provider": "OnPrem", "service": "GPU hosting", "cost": "405.50",
         "currency": "EUR", "service_category": "Compute"},
        {"timestamp": "2026-11-22T00:00:00Z", "provider": "OnPrem", "service": "GPU hosting", "cost": "-20.00",
         "currency": "EUR", "service_category": "Compute"}]}),
]


@pytest.fixture(scope="module")
def folded():
    from tests.conftest import create_database, drop_database

    url = create_database("ofo_fold_in")
    run_cli("sync-config", url=url)
    server = Server(warehouse_url=url, admin_token=ADMIN)
    try:
        agent = requests.post(f"{server.url}/api/v1/agents/register", json={"agent_type": "onprem"},
                              headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10).json()
        for batch_id, records in BATCHES:
            r = requests.post(f"{server.url}/api/v1/telemetry/ingest", timeout=30,
                              json={"agent_id": agent["agent_id"], "batch_id": batch_id, **records},
                              headers={"Authorization": f"Bearer {agent['api_key']}"})
            assert r.status_code == 200, r.text
    finally:
        server.stop()
    run_cli("transform", url=url)
    yield url, agent["agent_id"]
    drop_database(url)


def fetch(url, sql, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def test_pushed_node_samples_reach_the_cluster_health_marts(folded):
    url, _ = folded
    samples = node_samples()
    ready = [s for s in samples if s["status"] == "Ready"]
    (row,) = fetch(url, """SELECT nodes_reporting, healthy_nodes, avg_cpu_utilization_pct, avg_gpu_utilization_pct
                           FROM marts.fct_cluster_health_daily WHERE cluster_id = 'onprem-a'
                           AND metric_date = '2026-11-20'""")
    cpu = sum(Decimal(s["cpu_usage"]) for s in ready) / len(ready)
    gpu = sum(Decimal(s["gpu_usage"]) for s in ready) / len(ready)
    # onprem-a-1 was Ready 4 of 6 samples (< 90 %): one healthy node of two
    assert row[0] == 2 and row[1] == 1
    assert abs(row[2] - cpu) < Decimal("0.01") and abs(row[3] - gpu) < Decimal("0.01")


def test_pushed_training_steps_keep_their_original_fields_in_the_llm_marts(folded):
    url, _ = folded
    steps = training_steps()
    (run,) = fetch(url, """SELECT model_name, total_steps, best_loss, last_loss, last_epoch, best_validation_loss,
                                  batch_size, avg_throughput_samples_per_sec
                           FROM marts.fct_llm_training_runs WHERE run_id = 'llm-training-001'""")
    assert run == ("gpt-custom-7b", 500, min(Decimal(str(s["training_loss"])) for s in steps),
                   Decimal(str(steps[-1]["training_loss"])), 2,
                   min(Decimal(str(s["validation_loss"])) for s in steps), 32,
                   Decimal(sum(s["throughput_samples_per_sec"] for s in steps)) / len(steps))
    assert fetch(url, """SELECT count(*), count(validation_loss), max(epoch) FROM marts.fct_llm_training_steps
                         WHERE run_id = 'llm-training-001'""") == [(6, 6, 2)]


def test_pushed_costs_reach_fct_cost_daily_and_a_re_pushed_day_replaces_the_earlier_push(folded):
    url, agent_id = folded
    # expected: per charge day, the records of the latest batch that has the day (computed here from BATCHES)
    latest: dict[date, str] = {}
    for batch_id, records in BATCHES:
        for rec in records.get("cost_records", []):
            latest[date.fromisoformat(rec["timestamp"][:10])] = batch_id
    expected: dict[date, Decimal] = defaultdict(Decimal)
    for batch_id, records in BATCHES:
        for rec in records.get("cost_records", []):
            day = date.fromisoformat(rec["timestamp"][:10])
            if latest[day] == batch_id:
                expected[day] += Decimal(rec["cost"])
    assert expected == {date(2026, 11, 20): Decimal("410.25"), date(2026, 11, 21): Decimal("402.00"),
                        date(2026, 11, 22): Decimal("385.50")}
    got = dict(fetch(url, """SELECT charge_date, sum(billed_cost) FROM marts.fct_cost_daily
                             WHERE provider_name = 'OnPrem' AND billing_currency = 'EUR' GROUP BY 1"""))
    assert got == expected
    assert fetch(url, "SELECT DISTINCT service_category, source_id, source_system FROM intermediate.int_focus_costs "
                      "WHERE provider_name = 'OnPrem'") == [("Compute", f"agent:{agent_id}", "telemetry")]
