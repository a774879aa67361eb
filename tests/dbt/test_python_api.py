"""The original Python API (``ObservabilityHub``, ``LLMObservabilityHub``, ``CostObservatory``, the dashboards) on a
built warehouse: the documented examples run essentially verbatim (docs: the OpenFinOps API reference), their printed
lines checked, and every figure compared with independent SQL on the marts."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest

CENT = Decimal("0.01")


def fetch(url, query, params=()):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def execute(url, statement):
    with psycopg.connect(url) as conn:
        conn.execute(statement)


def pct(part, whole):
    return (Decimal(part) / Decimal(whole) * 100).quantize(CENT)


@pytest.fixture
def warehouse(built_warehouse, monkeypatch):
    monkeypatch.setenv("OPENFINOPS_WAREHOUSE_URL", built_warehouse.url)
    for name in ("OPENFINOPS_ENDPOINT", "OPENFINOPS_API_KEY", "OPENFINOPS_AGENT_ID"):
        monkeypatch.delenv(name, raising=False)
    return built_warehouse.url


def test_cluster_health_example_prints_the_latest_day_of_the_mart(warehouse, capsys):
    from openfinops import ObservabilityHub

    hub = ObservabilityHub()
    # Query health (populated by agents)
    health = hub.get_cluster_health_summary()
    for cluster_id, metrics in health.items():
        print(f"{cluster_id}: {metrics['health_status']}")
        print(f" CPU: {metrics['avg_cpu_usage']:.1f}%")
        print(f" GPU: {metrics['avg_gpu_usage']:.1f}%")

    rows = fetch(warehouse, """SELECT cluster_id, status, avg_cpu_utilization_pct, avg_gpu_utilization_pct,
                                      avg_memory_utilization_pct, nodes, healthy_nodes
                               FROM marts.fct_cluster_health_daily
                               WHERE metric_date = (SELECT max(metric_date) FROM marts.fct_cluster_health_daily)
                               ORDER BY cluster_id""")
    assert [r[0] for r in rows] == ["gpu-train-a", "gpu-train-b"]
    expected = []
    for cluster_id, status, cpu, gpu, memory, nodes, healthy in rows:
        expected += [f"{cluster_id}: {status}", f" CPU: {cpu:.1f}%", f" GPU: {gpu:.1f}%"]
        got = health[cluster_id]
        assert (got["avg_cpu_usage"], got["avg_gpu_usage"], got["avg_memory_usage"]) == (cpu, gpu, memory)
        assert (got["node_count"], got["healthy_nodes"]) == (nodes, healthy)
        assert isinstance(got["effective_cost"], Decimal)
    assert capsys.readouterr().out.splitlines() == expected

    hourly = hub.get_cluster_health_summary(granularity="hour")
    latest_hour = fetch(warehouse, "SELECT max(metric_hour) FROM marts.fct_cluster_health_hourly")[0][0]
    assert {m["period"] for m in hourly.values()} == {latest_hour}


def test_register_cluster_is_an_idempotent_upsert(warehouse):
    from openfinops import ObservabilityHub

    hub = ObservabilityHub()
    try:
        hub.register_cluster(cluster_id="gpu-cluster-1", nodes=["node-1", "node-2", "node-3"], region="us-west-2")
        hub.register_cluster(cluster_id="gpu-cluster-1", nodes=["node-1", "node-2", "node-3"], region="us-west-2")
        hub.register_cluster(cluster_id="gpu-train-a", nodes=[f"a-{i}" for i in range(8)])
        assert fetch(warehouse, "SELECT cluster_id, region, nodes, node_ids FROM config.api_clusters "
                                "ORDER BY cluster_id") == [
            ("gpu-cluster-1", "us-west-2", 3, ["node-1", "node-2", "node-3"]),
            ("gpu-train-a", "us-east-1", 8, [f"a-{i}" for i in range(8)])]
        hub.register_cluster("gpu-cluster-1", ["node-1", "node-2"], region="eu-west-1")
        assert fetch(warehouse, "SELECT region, nodes FROM config.api_clusters WHERE cluster_id = 'gpu-cluster-1'") \
            == [("eu-west-1", 2)]
        health = hub.get_cluster_health_summary()
        # registered but no telemetry yet: listed, no invented figures
        assert health["gpu-cluster-1"]["health_status"] == "unknown"
        assert health["gpu-cluster-1"]["avg_cpu_usage"] is None
        assert health["gpu-train-a"]["region"] == "us-east-1"
        assert health["gpu-train-a"]["source"] == "marts.fct_cluster_health_daily"
    finally:
        execute(warehouse, "DELETE FROM config.api_clusters")


def test_llm_metrics_straight_to_the_warehouse_then_a_raw_summary(empty_db, monkeypatch, capsys):
    monkeypatch.setenv("OPENFINOPS_WAREHOUSE_URL", empty_db)
    for name in ("OPENFINOPS_ENDPOINT", "OPENFINOPS_API_KEY", "OPENFINOPS_AGENT_ID"):
        monkeypatch.delenv(name, raising=False)
    from openfinops.observability.llm_observability import LLMObservabilityHub

    llm_hub = LLMObservabilityHub()
    from openfinops.observability.llm_observability import LLMTrainingMetrics

    metrics = LLMTrainingMetrics(
        run_id="llm-training-001", model_name="gpt-custom-7b", epoch=5, step=1000, training_loss=0.245,
        validation_loss=0.289, learning_rate=0.0001, gpu_memory_mb=42000, batch_size=32,
        throughput_samples_per_sec=128.5, timestamp=time.time())
    llm_hub.collect_llm_training_metrics(metrics)
    for step, loss in ((1100, 0.231), (1200, 0.238)):
        llm_hub.collect_llm_training_metrics(LLMTrainingMetrics(
            run_id="llm-training-001", model_name="gpt-custom-7b", epoch=5, step=step, training_loss=loss,
            validation_loss=None, learning_rate=0.0001, gpu_memory_mb=43000, batch_size=32,
            throughput_samples_per_sec=130.5, timestamp=time.time(), cluster_id="gpu-train-a"))

    summary = llm_hub.get_training_summary("llm-training-001")
    print(f"Model: {summary['model_name']}")
    print(f"Total Steps: {summary['total_steps']}")
    print(f"Best Loss: {summary['best_loss']:.4f}")
    assert capsys.readouterr().out.splitlines() == ["Model: gpt-custom-7b", "Total Steps: 200",
                                                    "Best Loss: 0.2310"]
    assert summary["source"] == "raw (not yet transformed)"
    assert (summary["best_loss"], summary["latest_loss"], summary["first_loss"]) == \
        (Decimal("0.231"), Decimal("0.238"), Decimal("0.245"))
    assert summary["logged_steps"] == 3 and summary["cluster_id"] == "gpu-train-a"
    assert summary["best_validation_loss"] == Decimal("0.289") and summary["peak_gpu_memory_mb"] == 43000
    # one batch per call, every original field kept
    assert fetch(empty_db, "SELECT count(*), count(DISTINCT batch_id), min(agent_id) FROM raw.telemetry_batches") \
        == [(3, 3, "python-api")]
    assert fetch(empty_db, """SELECT epoch, step, training_loss, validation_loss, learning_rate, gpu_memory_mb,
                                     batch_size, throughput_samples_per_sec
                              FROM raw.telemetry_llm_training_metrics WHERE step = 1000""") == [
        (5, 1000, Decimal("0.245"), Decimal("0.289"), Decimal("0.0001"), Decimal("42000"), 32, Decimal("128.5"))]
    with pytest.raises(KeyError):
        llm_hub.get_training_summary("no-such-run")


def test_llm_metrics_through_the_ingest_endpoint(empty_db):
    """With an endpoint + key the record is POSTed to the real ingest server and committed to raw with every
    original field; a refusal (a revoked key: 401) raises, nothing is dropped silently."""
    import requests

    from openfinops.observability.llm_observability import IngestError, LLMObservabilityHub, LLMTrainingMetrics
    from tests.servers import Server

    server = Server(warehouse_url=empty_db, admin_token="api-test-admin")
    try:
        agent = requests.post(f"{server.url}/api/v1/agents/register", json={"agent_type": "trainer"}, timeout=10,
                              headers={"Authorization": "Bearer api-test-admin"}).json()
        hub = LLMObservabilityHub(endpoint=server.url, api_key=agent["api_key"], agent_id=agent["agent_id"])
        assert agent["api_key"] not in repr(hub)
        record = dict(run_id="r1", model_name="m", epoch=0, step=1, training_loss=1.5, validation_loss=1.7,
                      learning_rate=0.001, gpu_memory_mb=1000, batch_size=8, throughput_samples_per_sec=10.0,
                      timestamp=1790000000.0)
        result = hub.collect_llm_training_metrics(LLMTrainingMetrics(**record))
        assert result["via"] == "ingest server"
        assert fetch(empty_db, """SELECT _agent_id, run_id, epoch, step, training_loss, validation_loss, batch_size,
                                         throughput_samples_per_sec FROM raw.telemetry_llm_training_metrics""") == [
            (agent["agent_id"], "r1", 0, 1, Decimal("1.5"), Decimal("1.7"), 8, Decimal("10.0"))]
        revoked = LLMObservabilityHub(endpoint=server.url, api_key="ofo_revoked", agent_id=agent["agent_id"])
        with pytest.raises(IngestError, match="401"):
            revoked.collect_llm_training_metrics(LLMTrainingMetrics(**{**record, "step": 7}))
    finally:
        server.stop()


def test_training_summary_of_a_run_the_marts_know(warehouse):
    from openfinops.observability.llm_observability import LLMObservabilityHub

    run_id, model, total, best, last, cost = fetch(warehouse, """
        SELECT run_id, model_name, total_steps, best_loss, last_loss, run_cost FROM marts.fct_llm_training_runs
        ORDER BY run_id LIMIT 1""")[0]
    summary = LLMObservabilityHub().get_training_summary(run_id)
    assert (summary["model_name"], summary["total_steps"], summary["best_loss"], summary["latest_loss"],
            summary["run_cost"]) == (model, total, best, last, cost)
    assert summary["source"] == "marts.fct_llm_training_runs"


def test_cost_summary_and_budget_examples(warehouse, capsys):
    from openfinops.observability.cost_observatory import CostObservatory

    cost_obs = CostObservatory()
    from openfinops.observability.cost_observatory import Budget

    budget = Budget(
        budget_id="monthly-ai-budget", name="AI/ML Monthly Budget", amount_usd=50000.0, period="monthly",
        start_time=time.time(), scope={"provider": "aws", "tags": {"team": "ml-research"}},
        alert_threshold=0.8  # Alert at 80%
    )
    try:
        cost_obs.create_budget(budget)
        stored = cost_obs.get_budget("monthly-ai-budget")
        assert (stored["budget_name"], stored["amount"], stored["currency"], stored["period"], stored["thresholds"],
                stored["scope_providers"], stored["scope_tags"], stored["alert_threshold"]) == \
            ("AI/ML Monthly Budget", Decimal("50000.0"), "USD", "monthly", [80, 100], ["AWS"],
             {"team": ["ml-research"]}, Decimal("0.8"))
        cost_obs.create_budget(budget)  # upsert, not a second row
        # a team that has cost, to check the provisional figure; and a clash with a config-file budget
        cost_obs.create_budget(Budget("aws-ml", "AWS ML", 20000, "monthly", time.time(),
                                      {"provider": "aws", "tags": {"team": "ml"}}, 0.9))
        cost_obs.create_budget(Budget("all-cloud-monthly", "clash", 1, "monthly", time.time(), {}, 0.5))
        assert fetch(warehouse, "SELECT count(*) FROM config.api_budgets") == [(3,)]

        summary = cost_obs.get_cost_summary(time_range_hours=24)
        print(f"Total: ${summary['total_cost']:.2f}")
        for provider, cost in summary['by_provider'].items():
            print(f"{provider}: ${cost:.2f}")
        for service, cost in summary['by_service'].items():
            print(f"{service}: ${cost:.2f}")
        cost_lines = capsys.readouterr().out.splitlines()

        status = cost_obs.get_budget_status()
        for budget_id, info in status.items():  # noqa: B007 (the documented example, verbatim)
            print(f"{info['name']}:")
            print(f" Budget: ${info['amount']:.2f}")
            print(f" Spent: ${info['spent']:.2f}")
            print(f" Status: {info['status']}")
        budget_lines = capsys.readouterr().out.splitlines()

        # cost summary: the latest charge day, independent SQL on fct_cost_daily
        day = fetch(warehouse, "SELECT max(charge_date) FROM marts.fct_cost_daily")[0][0]
        assert summary["period_start"].date() == day and summary["period_end"].date() == day + timedelta(days=1)
        assert summary["currency"] == "USD" and isinstance(summary["total_cost"], Decimal)
        total = fetch(warehouse, "SELECT sum(effective_cost) FROM marts.fct_cost_daily WHERE charge_date = %s",
                      (day,))[0][0]
        providers = dict(fetch(warehouse, """SELECT provider_name, sum(effective_cost) FROM marts.fct_cost_daily
                                            WHERE charge_date = %s GROUP BY 1 ORDER BY 2 DESC, 1""", (day,)))
        services = dict(fetch(warehouse, """SELECT service_name, sum(effective_cost) FROM marts.fct_cost_daily
                                           WHERE charge_date = %s GROUP BY 1 ORDER BY 2 DESC, 1""", (day,)))
        assert summary["total_cost"] == total and summary["by_provider"] == providers
        assert summary["by_service"] == services
        assert cost_lines == [f"Total: ${total:.2f}", *(f"{p}: ${c:.2f}" for p, c in providers.items()),
                              *(f"{s}: ${c:.2f}" for s, c in services.items())]
        three = cost_obs.get_cost_summary(time_range_hours=72)
        assert three["days"] == 3 and three["total_cost"] == fetch(warehouse, """
            SELECT sum(effective_cost) FROM marts.fct_cost_daily WHERE charge_date > %s::date - 3""", (day,))[0][0]

        # budget status: current period of every config budget, from fct_budget_status
        mart = fetch(warehouse, """SELECT DISTINCT ON (budget_id) budget_id, budget_name, budget_amount, actual_cost,
                                          status, utilisation_pct, forecast_cost
                                   FROM marts.fct_budget_status ORDER BY budget_id, period_start DESC""")
        for budget_id, name, amount, actual, state, utilisation, forecast in mart:
            info = status[budget_id]
            assert (info["name"], info["amount"], info["spent"], info["status"], info["utilization"],
                    info["forecast"]) == (name, amount, actual, state, utilisation, forecast)
            assert [f"{name}:", f" Budget: ${amount:.2f}", f" Spent: ${actual:.2f}", f" Status: {state}"] == \
                budget_lines[4 * list(status).index(budget_id):4 * list(status).index(budget_id) + 4]
        assert status["all-cloud-monthly"]["name"] == "All cloud, monthly"  # the config file wins the clash
        assert set(status) == {r[0] for r in mart} | {"monthly-ai-budget", "aws-ml"}
        # API budgets not yet in the marts: provisional spend from fct_cost_daily, labelled
        month = day.replace(day=1)
        for budget_id, team in (("monthly-ai-budget", "ml-research"), ("aws-ml", "ml")):
            info = status[budget_id]
            assert info["source"] == "config.api_budgets (not yet transformed)" and info["forecast"] is None
            spent = fetch(warehouse, """SELECT coalesce(sum(effective_cost), 0) FROM marts.fct_cost_daily
                                        WHERE provider_name = 'AWS' AND team = %s AND charge_date BETWEEN %s AND %s
                                          AND billing_currency = 'USD'""", (team, month, day))[0][0]
            assert info["spent"] == spent and info["period_start"] == month
        assert status["aws-ml"]["spent"] > 0
    finally:
        execute(warehouse, "DELETE FROM config.api_budgets")


def test_dashboard_examples(warehouse, capsys):
    from openfinops import ObservabilityHub

    hub = ObservabilityHub()
    from openfinops.dashboard import CFODashboard

    cfo_dash = CFODashboard(hub)
    # Generate financial report
    report = cfo_dash.generate_financial_report()
    print(f"Total Spend: ${report.total_spend}")
    print(f"AI/ML ROI: {report.ai_ml_roi}%")
    print(f"Budget Status: {report.budget_utilization}%")
    from openfinops.dashboard import COODashboard

    coo_dash = COODashboard(hub)
    # Get operational metrics
    metrics = coo_dash.get_operational_metrics()
    print(f"SLA Compliance: {metrics.sla_compliance}%")
    print(f"Efficiency Score: {metrics.operational_efficiency}%")
    from openfinops.dashboard import InfrastructureLeaderDashboard

    infra_dash = InfrastructureLeaderDashboard(hub)
    # Get resource utilization
    util = infra_dash.get_resource_utilization()
    print(f"CPU: {util.cpu_percent}%")
    print(f"Memory: {util.memory_percent}%")
    print(f"Storage: {util.storage_percent}%")
    lines = capsys.readouterr().out.splitlines()

    # CFO: month-to-date spend = Σ effective_cost of fct_cost_daily from the 1st of the latest month
    day = fetch(warehouse, "SELECT max(charge_date) FROM marts.fct_cost_daily")[0][0]
    mtd = fetch(warehouse, "SELECT sum(effective_cost) FROM marts.fct_cost_daily WHERE charge_date >= %s",
                (day.replace(day=1),))[0][0]
    assert report.total_spend == mtd and report.currency == "USD" and report.as_of_date == day
    actual, amount = fetch(warehouse, """SELECT sum(actual_cost), sum(budget_amount) FROM (
        SELECT DISTINCT ON (budget_id) actual_cost, budget_amount FROM marts.fct_budget_status
        ORDER BY budget_id, period_start DESC) AS current_periods""")[0]
    assert report.budget_utilization == pct(actual, amount)
    assert report.ai_ml_roi is None and any("not configured" in n for n in report.notes)  # the demo has no value
    assert report.forecast_month_end == fetch(warehouse, """SELECT forecast_cost FROM marts.fct_cost_forecast
        WHERE is_total AND forecast_month = %s""", (day.replace(day=1),))[0][0]

    # COO
    within, total = fetch(warehouse, """SELECT count(*) FILTER (WHERE is_within_sla), count(*)
                                        FROM marts.fct_data_health_daily WHERE is_current""")[0]
    assert total > 0 and metrics.sla_compliance == pct(within, total)
    utilised, effective = fetch(warehouse, """SELECT sum(utilised_cost), sum(effective_cost)
        FROM marts.fct_cluster_efficiency_daily
        WHERE metric_date > (SELECT max(metric_date) FROM marts.fct_cluster_efficiency_daily) - 30""")[0]
    assert metrics.operational_efficiency == pct(utilised, effective)
    assert 0 < metrics.operational_efficiency < 100

    # Infrastructure: node-weighted mean of the latest day
    cpu, memory = fetch(warehouse, """SELECT sum(avg_cpu_utilization_pct * nodes_reporting) / sum(nodes_reporting),
                                             sum(avg_memory_utilization_pct * nodes_reporting) / sum(nodes_reporting)
        FROM marts.fct_cluster_health_daily
        WHERE metric_date = (SELECT max(metric_date) FROM marts.fct_cluster_health_daily)""")[0]
    assert (util.cpu_percent, util.memory_percent) == (cpu.quantize(CENT), memory.quantize(CENT))
    assert util.storage_percent is None and any("storage" in n for n in util.notes)

    assert lines == [f"Total Spend: ${mtd}", "AI/ML ROI: None%", f"Budget Status: {pct(actual, amount)}%",
                     f"SLA Compliance: {pct(within, total)}%",
                     f"Efficiency Score: {pct(utilised, effective)}%",
                     f"CPU: {cpu.quantize(CENT)}%", f"Memory: {memory.quantize(CENT)}%", "Storage: None%"]
