"""`dbt build` on demo data (the built_warehouse fixture): mart figures against independent computations from the
raw rows in Python Decimal (no SQL aggregation on the expected side)."""

import json
from calendar import monthrange
from collections import defaultdict
from datetime import UTC, date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import psycopg

from collectors.sources.demo import SAVINGS_PLAN_ID, SAVINGS_PLAN_MONTHLY_MICRO, TEAMS
from tests.conftest import ROOT, databricks_raw_costs, run_cli, snowflake_raw_costs

CLOUDS = ("AWS", "Microsoft Azure", "Google Cloud")


def fetch(url, query, params=()):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def raw_costs_by_provider_day(url) -> dict:
    """Expected (provider, day) -> [billed, effective, list], from raw rows, in Python."""
    out: dict = defaultdict(lambda: [Decimal(0)] * 3)
    for provider, start, billed, effective, list_cost in fetch(url, """
            SELECT provider_name, charge_period_start, billed_cost, effective_cost, list_cost
            FROM raw.focus_cost_line_items"""):
        acc = out[(provider, start.astimezone(UTC).date())]
        acc[0] += billed
        acc[1] += effective
        acc[2] += list_cost
    for usage in databricks_raw_costs(url):
        acc = out[("Databricks", usage["usage_start_time"].astimezone(UTC).date())]
        for i in range(3):
            acc[i] += usage["cost"]
    for metering in snowflake_raw_costs(url):
        acc = out[("Snowflake", metering["usage_date"])]
        for i in range(3):
            acc[i] += metering["cost"]
    return dict(out)


def test_dbt_build_ran_every_test(built_warehouse):
    out = built_warehouse.dbt_output
    assert "Completed successfully" in out
    summary = [line for line in out.splitlines() if "Done. PASS=" in line][-1]
    assert "ERROR=0" in summary and "WARN=0" in summary, summary


def test_cost_daily_equals_raw_rows_per_provider_and_day_to_the_cent(built_warehouse):
    expected = raw_costs_by_provider_day(built_warehouse.url)
    mart = {(p, d): [b, e, li] for p, d, b, e, li in fetch(built_warehouse.url, """
        SELECT provider_name, charge_date, sum(billed_cost), sum(effective_cost), sum(list_cost)
        FROM marts.fct_cost_daily GROUP BY 1, 2""")}
    assert set(mart) == set(expected)
    cent = Decimal("0.01")
    for key, (b, e, li) in expected.items():
        got = mart[key]
        assert (got[0].quantize(cent), got[1].quantize(cent), got[2].quantize(cent)) == \
               (b.quantize(cent), e.quantize(cent), li.quantize(cent)), key
    days = {d for _, d in expected}
    assert min(days) == built_warehouse.start and len(days) == (built_warehouse.end - built_warehouse.start).days
    assert {p for p, _ in expected} == {*CLOUDS, "Databricks", "Snowflake"}


def test_credits_stay_negative_and_savings_plan_amortises_to_the_fee(built_warehouse):
    credits = fetch(built_warehouse.url, """SELECT count(*), max(billed_cost) FROM intermediate.int_focus_costs
                                           WHERE charge_category = 'Credit'""")[0]
    assert credits[0] > 0 and credits[1] < 0
    # October 2026 is wholly inside the demo window: its amortised Savings Plan cost equals the monthly fee.
    amortised = fetch(built_warehouse.url, """
        SELECT sum(effective_cost), sum(billed_cost) FROM intermediate.int_focus_costs
        WHERE commitment_discount_id = %s AND charge_category = 'Usage'
          AND charge_date >= '2026-10-01' AND charge_date < '2026-11-01'""", (SAVINGS_PLAN_ID,))[0]
    assert amortised == (Decimal(SAVINGS_PLAN_MONTHLY_MICRO).scaleb(-6), 0)


def test_team_and_environment_are_normalised_with_an_untagged_bucket(built_warehouse):
    teams = {t for (t,) in fetch(built_warehouse.url, "SELECT DISTINCT team FROM marts.fct_cost_daily")}
    assert teams == {*TEAMS, "untagged"}
    # Independent: raw tags with any casing of the `team` key, lower-cased values.
    raw = defaultdict(Decimal)
    for tags, cost in fetch(built_warehouse.url, "SELECT tags, effective_cost FROM raw.focus_cost_line_items"):
        team = next((str(v).lower() for k, v in (tags or {}).items() if k.lower() == "team"), "untagged")
        raw[team] += cost
    mart = dict(fetch(built_warehouse.url, """SELECT team, sum(effective_cost) FROM marts.fct_cost_daily
                                             WHERE provider_name IN ('AWS', 'Microsoft Azure', 'Google Cloud')
                                             GROUP BY 1"""))
    assert {k: v.quantize(Decimal("0.01")) for k, v in mart.items()} == \
           {k: v.quantize(Decimal("0.01")) for k, v in raw.items()}


def test_budget_status_matches_an_independent_computation(built_warehouse, cfg):
    budget = next(b for b in cfg.budgets if b.id == "all-cloud-monthly")
    actual: dict = defaultdict(Decimal)
    for provider, start, effective in fetch(built_warehouse.url, """
            SELECT provider_name, charge_period_start, effective_cost FROM raw.focus_cost_line_items"""):
        if provider in budget.scope.providers:
            day = start.astimezone(UTC).date()
            actual[day.replace(day=1)] += effective
    rows = fetch(built_warehouse.url, """SELECT period_start, period_end, budget_amount, actual_cost,
                                                utilisation_pct, status
                                         FROM marts.fct_budget_status WHERE budget_id = %s ORDER BY 1""",
                 (budget.id,))
    assert [r[0] for r in rows] == sorted(actual)
    for period_start, period_end, amount, got, utilisation, status in rows:
        assert period_start.day == 1
        assert period_end == period_start + timedelta(days=monthrange(period_start.year, period_start.month)[1])
        assert amount == budget.amount
        assert got.quantize(Decimal("0.01")) == actual[period_start].quantize(Decimal("0.01"))
        expected_pct = (actual[period_start] / budget.amount * 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert utilisation == expected_pct
        assert status == ("exceeded" if expected_pct >= 100 else "warning" if expected_pct >= 80 else "ok")


def test_quarterly_budget_periods_follow_start_month(built_warehouse):
    rows = fetch(built_warehouse.url, """SELECT period_start, period_end FROM marts.fct_budget_status
                                         WHERE budget_id = 'team-ml-quarterly' ORDER BY 1""")
    # start_month 2: quarters begin in Feb, May, Aug, Nov. The demo window (2026-09-28 .. 2026-11-01) spans two.
    assert rows == [(date(2026, 8, 1), date(2026, 11, 1)), (date(2026, 11, 1), date(2027, 2, 1))]


def test_the_demo_clusters_pushed_every_sample_through_the_server(built_warehouse, cfg):
    """make demo's clusters push (agents/demo_telemetry_agent.py): an hourly sample of every configured node for
    every day of the window, each stored once, all by the demo agent, in acknowledged batches."""
    days = (built_warehouse.end - built_warehouse.start).days
    expected = sum(c.nodes for c in cfg.clusters) * 24 * days
    rows = fetch(built_warehouse.url, """
        SELECT count(*), count(DISTINCT (cluster_id, node_id, sampled_at)), min(sampled_at), max(sampled_at),
               array_agg(DISTINCT a.agent_type)
        FROM raw.telemetry_node_metrics m JOIN raw.telemetry_agents a ON a.agent_id = m._agent_id""")
    count, distinct, first, last, agent_types = rows[0]
    assert (count, distinct, agent_types) == (expected, expected, ["demo_clusters"])
    assert first.astimezone(UTC).date() == built_warehouse.start
    assert last.astimezone(UTC).date() == built_warehouse.end - timedelta(days=1)
    batches = fetch(built_warehouse.url, "SELECT sum((record_counts->>'node_metrics')::int) FROM raw.telemetry_batches")
    assert batches == [(expected,)]


def test_cluster_health_counts_each_node_once(built_warehouse, cfg):
    samples: dict = defaultdict(lambda: defaultdict(list))
    for ts, cluster, node, status in fetch(built_warehouse.url, """
            SELECT sampled_at, cluster_id, node_id, node_status FROM raw.telemetry_node_metrics"""):
        samples[(cluster, ts.astimezone(UTC).date())][node].append(status == "Ready")
    mart = {(c, d): (n, h) for c, d, n, h in fetch(built_warehouse.url, """
        SELECT cluster_id, metric_date, nodes, healthy_nodes FROM marts.fct_cluster_health_daily""")}
    configured = {c.cluster_id: c.nodes for c in cfg.clusters}
    assert set(mart) == set(samples)
    for key, nodes in samples.items():
        healthy = sum(1 for flags in nodes.values() if sum(flags) / len(flags) >= 0.9)
        assert mart[key] == (configured[key[0]], healthy), key
    assert any(n > h for n, h in mart.values()), "the demo has flaky nodes on some days"


def raw_cluster_costs(url) -> dict:
    """(cluster, node, UTC hour) -> effective cost, from the raw demo lines tagged with a cluster (all hourly)."""
    out: dict = defaultdict(Decimal)
    for start, end, resource, tags, effective in fetch(url, """
            SELECT charge_period_start, charge_period_end, resource_id, tags, effective_cost
            FROM raw.focus_cost_line_items WHERE tags::jsonb ? 'cluster'"""):
        assert end - start == timedelta(hours=1)
        out[(json.loads(tags)["cluster"] if isinstance(tags, str) else tags["cluster"], resource,
             start.astimezone(UTC))] += effective
    return dict(out)


def test_cluster_cost_per_day_and_hour_counts_each_node_once(built_warehouse, cfg):
    expected = raw_cluster_costs(built_warehouse.url)
    nodes = {c.cluster_id: c.nodes for c in cfg.clusters}
    assert {k[0] for k in expected} == set(nodes)
    by_day: dict = defaultdict(Decimal)
    by_hour: dict = defaultdict(Decimal)
    billed_nodes: dict = defaultdict(set)
    for (cluster, node, hour), cost in expected.items():
        by_day[(cluster, hour.date())] += cost
        by_hour[(cluster, hour.replace(tzinfo=None))] += cost
        billed_nodes[(cluster, hour.date())].add(node)
    daily = {(c, d): (cost, n) for c, d, cost, n in fetch(built_warehouse.url, """
        SELECT cluster_id, metric_date, effective_cost, billed_nodes FROM marts.fct_cluster_health_daily""")}
    for key, cost in by_day.items():
        assert daily[key] == (cost, len(billed_nodes[key])), key
        assert len(billed_nodes[key]) == nodes[key[0]]
    hourly = {(c, h): cost for c, h, cost in fetch(built_warehouse.url, """
        SELECT cluster_id, metric_hour, effective_cost FROM marts.fct_cluster_health_hourly""")}
    assert {k: v for k, v in hourly.items() if v} == dict(by_hour)
    # hourly health agrees with the daily mart: one row per configured cluster and hour of the metrics range
    assert len(hourly) == len(daily) * 24


def test_training_run_cost_is_the_cluster_cost_over_the_run(built_warehouse):
    hour_cost: dict = defaultdict(Decimal)
    for (cluster, _node, hour), cost in raw_cluster_costs(built_warehouse.url).items():
        hour_cost[(cluster, hour)] += cost
    runs = fetch(built_warehouse.url, """SELECT run_id, cluster_id, started_at, last_logged_at, total_steps,
                                                run_cost, cost_per_step FROM marts.fct_llm_training_runs""")
    assert runs
    spans = {r[0]: (r[1], r[2], r[3]) for r in runs}
    overlap: dict = defaultdict(dict)  # (cluster, hour) -> run -> fraction of the hour
    for run_id, (cluster, start, end) in spans.items():
        hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        while hour < end:
            part = (min(end, hour + timedelta(hours=1)) - max(start, hour)).total_seconds()
            if part > 0:
                overlap[(cluster, hour)][run_id] = Decimal(int(part)) / 3600
            hour += timedelta(hours=1)
    expected: dict = defaultdict(Decimal)
    for key, parts in overlap.items():
        for run_id, fraction in parts.items():
            expected[run_id] += hour_cost.get(key, Decimal(0)) * fraction / len(parts)
    for run_id, _cluster, _s, _e, steps, run_cost, per_step in runs:
        assert abs(run_cost - expected[run_id]) < Decimal("0.000001"), run_id
        assert run_cost > 0
        if steps:
            assert abs(per_step - run_cost / steps) < Decimal("0.000001")


def test_reloading_and_rebuilding_leaves_totals_unchanged(built_warehouse):
    query = "SELECT provider_name, sum(billed_cost), sum(effective_cost), count(*) FROM marts.fct_cost_daily " \
            "GROUP BY 1 ORDER BY 1"
    before = fetch(built_warehouse.url, query)
    run_cli("collect", "demo-aws", "--start", "2026-10-15", "--end", "2026-10-20", url=built_warehouse.url)
    run_cli("collect", "demo-snowflake", "--start", "2026-10-01", "--end", "2026-11-02", url=built_warehouse.url)
    run_cli("transform", "--select", "fct_cost_daily+", url=built_warehouse.url)
    assert fetch(built_warehouse.url, query) == before


def test_every_mart_and_column_is_documented(built_warehouse):
    manifest = json.loads((ROOT / "dbt_project" / "target" / "manifest.json").read_text())
    marts = {n["name"]: n for n in manifest["nodes"].values()
             if n["resource_type"] == "model" and n["schema"] == "marts"}
    assert {"fct_cost_daily", "fct_budget_status", "fct_cluster_health_daily", "fct_cluster_health_hourly",
            "fct_llm_training_runs"} <= set(marts)
    for name, node in marts.items():
        assert node["description"].strip(), f"{name} has no description"
        assert "grain" in node["description"].lower(), f"{name} does not state its grain"
        db_columns = {c for (c,) in fetch(built_warehouse.url, """SELECT column_name FROM information_schema.columns
                                                                  WHERE table_schema = 'marts' AND table_name = %s""",
                                          (name,))}
        assert db_columns, f"marts.{name} missing"
        undocumented = sorted(c for c in db_columns if not node["columns"].get(c, {}).get("description"))
        assert not undocumented, f"{name}: columns without description: {undocumented}"
