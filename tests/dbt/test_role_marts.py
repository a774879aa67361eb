"""The marts behind the role dashboards (issue 10) on the built demo warehouse, against figures computed independently
in Python (``Decimal``) from their inputs: raw / staging rows, ops.* as the CLI runs of the fixture wrote them,
int_focus_costs lines classified with the config's AI/ML scopes, fct_cost_daily rows summed by month. No SQL
aggregation on the expected side."""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

import psycopg
import pytest

from openfinops.collect_context import build_collector
from openfinops.config import CostScope
from tests.conftest import DEMO_END, DEMO_START, create_database, drop_database, run_cli

CENT = Decimal("0.01")
MICRO = Decimal("0.000001")


def fetch(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def half_up(value: Decimal | None, unit: Decimal = CENT) -> Decimal | None:
    return None if value is None else value.quantize(unit, ROUND_HALF_UP)


def pct(part: Decimal, whole: Decimal) -> Decimal | None:
    """100 x part / whole to 2 decimals, half away from zero (PostgreSQL round); None for a zero whole."""
    if not whole:
        return None
    with localcontext() as ctx:
        ctx.prec = 50
        return half_up(Decimal(100) * part / whole)


def utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def seconds(delta: timedelta) -> Decimal:
    """Exact seconds of a timedelta (total_seconds() is a float)."""
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds).scaleb(-6)


# --- operations ----------------------------------------------------------------------------------------------------


def build_time(url: str) -> datetime:
    """When the operations marts were measured: measured_at of the current day = the build's start."""
    return fetch(url, "SELECT max(measured_at) FROM marts.fct_data_health_daily WHERE is_current")[0][0]


def test_data_health_reports_each_source_loaded_by_the_fixture(built_warehouse, cfg):
    """Other test modules may load and transform again later: the expectations use the ops rows the build saw."""
    url = built_warehouse.url
    built_at = build_time(url)
    rows = {r[0]: r for r in fetch(url, """
        SELECT source_id, health_date, is_current, loads_succeeded, loads_failed, rows_loaded, rows_rejected,
               last_load_at, last_window_start, last_window_end, data_through, measured_at, freshness_lag_hours,
               freshness_sla_hours, is_within_sla, status, last_error
        FROM marts.fct_data_health_daily WHERE is_current""")}
    assert set(rows) == {s.id for s in cfg.sources}
    attempts: dict = defaultdict(dict)  # source -> load_id -> (status, rows, finished_at, window)
    for load_id, source_id, status, loaded, finished, start, end in fetch(url, """
            SELECT load_id, source_id, status, rows_loaded, finished_at, window_start, window_end FROM ops.loads"""):
        if finished <= built_at:
            previous = attempts[source_id].get(load_id, (status, 0, finished, (start, end)))
            attempts[source_id][load_id] = (status, previous[1] + loaded, finished, (start, end))
    for source in cfg.sources:
        (_, health_date, _, succeeded, failed, loaded, rejected, last_load_at, window_start, window_end, through,
         measured_at, lag, sla, within, status, last_error) = rows[source.id]
        seen = [a for a in attempts[source.id].values() if a[2].astimezone(UTC).date() == health_date]
        assert (succeeded, failed) == (sum(a[0] == "success" for a in seen), sum(a[0] == "failed" for a in seen))
        assert loaded == sum(a[1] for a in seen if a[0] == "success") > 0
        assert (rejected, last_error) == (0, None)
        # the fixture's own load (the whole demo window, no look-back for the demo): what it reported is what is in
        # raw for that window, counted table by table
        fixture_loads = [a for a in seen if a[3] == (utc_midnight(DEMO_START), utc_midnight(DEMO_END))]
        assert len(fixture_loads) == 1, source.id
        tables = [ds.table for ds in build_collector(cfg, source).datasets()]
        raw_rows = sum(fetch(url, f"SELECT count(*) FROM raw.{t} WHERE _source_id = %s", (source.id,))[0][0]
                       for t in tables)
        assert fixture_loads[0][1] == raw_rows > 0, source.id
        # freshness: the latest successful load seen by the build, measured at the build time
        latest = max((a for a in attempts[source.id].values() if a[0] == "success"), key=lambda a: a[2])
        assert (last_load_at, (window_start, window_end)) == (latest[2], latest[3])
        assert through == max(a[3][1] for a in attempts[source.id].values() if a[0] == "success")
        assert through == utc_midnight(DEMO_END) and measured_at == built_at
        assert health_date == measured_at.astimezone(UTC).date() and last_load_at <= measured_at
        expected_lag = half_up(seconds(measured_at - through) / 3600)
        assert lag == expected_lag and sla == source.freshness_sla_hours == 30
        assert within == (expected_lag <= sla)
        assert status == ("on_time" if within else "late")
    # one row per source and day from its first load attempt to the build day
    days = fetch(url, "SELECT source_id, min(health_date), max(health_date), count(*) FROM marts.fct_data_health_daily "
                      "GROUP BY 1")
    for source_id, first, last, n in days:
        assert first == min(a[2].astimezone(UTC).date() for a in attempts[source_id].values())
        assert last == built_at.astimezone(UTC).date() and n == (last - first).days + 1


def test_pipeline_runs_count_one_success_per_collect_source_and_the_transform(built_warehouse, cfg):
    url = built_warehouse.url
    recorded = fetch(url, """SELECT pipeline, pipeline_type, run_id, trigger, status, attempts, error, started_at,
                                    finished_at FROM ops.pipeline_runs""")
    # every run of the fixture (and of other modules on this warehouse) ran through the CLI and succeeded
    assert {(r[1], r[3], r[4], r[5], r[6]) for r in recorded} == {("collect", "cli", "success", 1, None),
                                                                   ("transform", "cli", "success", 1, None)}
    assert {r[0] for r in recorded if r[1] == "collect"} == {f"collect_{s.id}" for s in cfg.sources}
    # each collect run's id is the batch id of its loads
    assert {r[2] for r in recorded if r[1] == "collect"} == {b for (b,) in fetch(url, "SELECT batch_id FROM ops.loads")}
    # the mart, recomputed from the runs the build saw (the transform building it was still running then)
    built_at = build_time(url)
    expected: dict = defaultdict(lambda: [None, 0, 0, 0, 0, []])
    for pipeline, pipeline_type, _, _, status, _, _, started, finished in recorded:
        if started > built_at:
            continue
        acc = expected[(pipeline, started.astimezone(UTC).date())]
        acc[0] = pipeline_type
        acc[1] += 1
        if finished is None or finished > built_at:
            acc[4] += 1
        else:
            acc[2 if status == "success" else 3] += 1
            acc[5].append(seconds(finished - started))
    mart = {(r[0], r[1]): r[2:] for r in fetch(url, """
        SELECT pipeline, run_date, pipeline_type, runs_total, runs_succeeded, runs_failed, runs_running, success_pct,
               avg_duration_seconds FROM marts.fct_pipeline_runs_daily""")}
    assert mart == {k: (t, n, ok, ko, running, pct(Decimal(ok), Decimal(ok + ko)),
                        half_up(sum(d, Decimal(0)) / len(d)) if d else None)
                    for k, (t, n, ok, ko, running, d) in expected.items()}
    transform = [v for (p, _), v in mart.items() if p == "transform"]
    assert transform and transform[0][4] >= 1  # the build's own transform run shows as running


def test_alert_delivery_counts_sent_and_failed_messages_per_channel_and_day():
    """Own small warehouse: the alert tables with hand-made rows, then only the models this mart needs."""
    url = create_database("ofo_alert_delivery")
    try:
        run_cli("sync-config", url=url)
        sent = [("budget_threshold", f"b{i}", "finops-slack", "slack", datetime(2026, 11, 3, 23, 59, tzinfo=UTC))
                for i in range(3)]
        sent += [("cost_anomaly", "a1", "finops-webhook", "webhook", datetime(2026, 11, 4, 0, 1, tzinfo=UTC))]
        failed = [("budget_threshold", "b9", "finops-slack", "slack", datetime(2026, 11, 3, 8, 0, tzinfo=UTC)),
                  ("cost_anomaly", "a2", "finops-email", "email", datetime(2026, 11, 4, 8, 0, tzinfo=UTC)),
                  ("cost_anomaly", "a2", "finops-email", "email", datetime(2026, 11, 4, 9, 0, tzinfo=UTC))]
        with psycopg.connect(url) as conn:
            conn.cursor().executemany(
                "INSERT INTO alerts.notifications VALUES (%s, %s, %s, %s, 'http://h/***', %s, 1, '{}', 'test')", sent)
            conn.cursor().executemany(
                """INSERT INTO alerts.delivery_failures (alert_type, alert_key, channel_id, channel_type, target,
                       failed_at, attempts, error, sent_by) VALUES (%s, %s, %s, %s, 'http://h/***', %s, 4,
                       'HTTP 500', 'test')""", failed)
        run_cli("dbt", "build", "-s", "+fct_alert_delivery_daily", url=url)
        expected: dict = defaultdict(lambda: [None, 0, 0])
        for _, _, channel, channel_type, at in sent:
            acc = expected[(channel, at.date())]
            acc[0], acc[1] = channel_type, acc[1] + 1
        for _, _, channel, channel_type, at in failed:
            acc = expected[(channel, at.date())]
            acc[0], acc[2] = channel_type, acc[2] + 1
        got = {(c, d): (t, s, f, p) for c, t, d, s, f, p in fetch(url, """
            SELECT channel_id, channel_type, delivery_date, messages_sent, messages_failed, success_pct
            FROM marts.fct_alert_delivery_daily""")}
        assert got == {k: (t, s, f, pct(Decimal(s), Decimal(s + f))) for k, (t, s, f) in expected.items()}
        assert got[("finops-slack", date(2026, 11, 3))] == ("slack", 3, 1, Decimal("75.00"))
    finally:
        drop_database(url)


# --- finance ---------------------------------------------------------------------------------------------------------


def test_period_comparison_matches_fct_cost_daily_summed_by_month(built_warehouse):
    url = built_warehouse.url
    daily = fetch(url, "SELECT charge_date, provider_name, billing_currency, effective_cost, billed_cost "
                       "FROM marts.fct_cost_daily")
    as_of = max(r[0] for r in daily)
    current = as_of.replace(day=1)
    prior = (current - timedelta(days=1)).replace(day=1)
    prior_end = prior.replace(day=min(as_of.day, calendar.monthrange(prior.year, prior.month)[1]))
    sums: dict = defaultdict(lambda: [Decimal(0)] * 4)  # mtd effective, mtd billed, prior mtd, prior month
    for day, provider, currency, effective, billed in daily:
        if day < prior:
            continue
        for key in ((provider, currency), ("All providers", currency)):
            if current <= day <= as_of:
                sums[key][0] += effective
                sums[key][1] += billed
            if prior <= day <= prior_end:
                sums[key][2] += effective
            if prior <= day < current:
                sums[key][3] += effective
    rows = {(r[0], r[1]): r[2:] for r in fetch(url, """
        SELECT provider_name, billing_currency, is_total, as_of_date, current_month, prior_month, prior_mtd_end,
               mtd_effective_cost, mtd_billed_cost, prior_mtd_effective_cost, prior_month_effective_cost,
               mtd_change_cost, mtd_change_pct
        FROM marts.fct_cost_period_comparison""")}
    assert set(rows) == set(sums)
    for key, (mtd, mtd_billed, prior_mtd, prior_month) in sums.items():
        assert rows[key] == (key[0] == "All providers", as_of, current, prior, prior_end, mtd, mtd_billed, prior_mtd,
                             prior_month, mtd - prior_mtd, pct(mtd - prior_mtd, prior_mtd)), key
    # the fixture's data ends on Nov 3: the month to date is three days, compared with Oct 1 .. Oct 3
    assert (as_of, prior_end) == (date(2026, 11, 3), date(2026, 10, 3))


def scope_matches(scope: CostScope, line: dict) -> bool:
    """The budget scope rules, in Python: listed dimensions ANDed, values ORed; teams, environments and tags
    case-insensitive."""
    plain = (("providers", "provider_name"), ("billing_account_ids", "billing_account_id"),
             ("sub_account_ids", "sub_account_id"), ("services", "service_name"),
             ("service_categories", "service_category"), ("sources", "source_id"))
    for attr, column in plain:
        values = getattr(scope, attr)
        if values is not None and line[column] not in values:
            return False
    for attr, column in (("teams", "team"), ("environments", "environment")):
        values = getattr(scope, attr)
        if values is not None and line[column] not in [v.strip().lower() for v in values]:
            return False
    if scope.tags:
        tags = {k.lower(): str(v).strip().lower() for k, v in (line["tags"] or {}).items()}
        if any(tags.get(k) not in v for k, v in scope.tags.items()):
            return False
    return True


@pytest.fixture(scope="module")
def ai_ml_by_month(built_warehouse, cfg) -> dict:
    """(month, currency) -> [total, ai_ml, {team: ai_ml}], int_focus_costs lines classified in Python."""
    out: dict = defaultdict(lambda: [Decimal(0), Decimal(0), defaultdict(Decimal)])
    columns = ("charge_date", "provider_name", "billing_account_id", "sub_account_id", "service_name",
               "service_category", "source_id", "team", "environment", "tags", "billing_currency", "effective_cost")
    for values in fetch(built_warehouse.url, f"SELECT {', '.join(columns)} FROM intermediate.int_focus_costs"):
        line = dict(zip(columns, values, strict=True))
        acc = out[(line["charge_date"].replace(day=1), line["billing_currency"])]
        acc[0] += line["effective_cost"]
        if any(scope_matches(scope, line) for scope in cfg.ai_ml.scopes):
            acc[1] += line["effective_cost"]
            acc[2][line["team"]] += line["effective_cost"]
    return dict(out)


def test_ai_ml_spend_classifies_each_line_once_from_the_config_scopes(built_warehouse, ai_ml_by_month):
    rows = {(m, c): (t, a, o, s) for m, c, t, a, o, s in fetch(built_warehouse.url, """
        SELECT charge_month, billing_currency, total_effective_cost, ai_ml_effective_cost, other_effective_cost,
               ai_ml_share_pct FROM marts.fct_ai_ml_spend_monthly""")}
    assert set(rows) == set(ai_ml_by_month)
    for key, (total, ai_ml, _) in ai_ml_by_month.items():
        assert rows[key] == (total, ai_ml, total - ai_ml, pct(ai_ml, total)), key
    october = ai_ml_by_month[(date(2026, 10, 1), "USD")]
    assert 0 < october[1] < october[0]
    assert set(october[2]) >= {"ml", "web"}  # team ml lines and AI services of other teams both count


def test_ai_ml_roi_says_not_configured_on_the_demo_config(built_warehouse, cfg, ai_ml_by_month):
    assert cfg.ai_ml.value == []
    rows = fetch(built_warehouse.url, """
        SELECT charge_month, billing_currency, value_scope, is_all_teams, ai_ml_effective_cost, value_amount,
               net_value, roi_pct, value_status FROM marts.fct_ai_ml_roi_monthly""")
    assert sorted(rows) == sorted((m, c, "all teams", True, ai_ml, None, None, None, "not configured")
                                  for (m, c), (_, ai_ml, _) in ai_ml_by_month.items())


def test_team_budget_status_repeats_fct_budget_status_per_listed_team(built_warehouse, cfg):
    url = built_warehouse.url
    columns = ("budget_id", "period_start", "budget_name", "period", "period_end", "billing_currency",
               "budget_amount", "actual_cost", "utilisation_pct", "forecast_cost", "forecast_utilisation_pct",
               "status", "is_period_closed")
    status = {(r[0], r[1]): r for r in fetch(url, f"SELECT {', '.join(columns)} FROM marts.fct_budget_status")}
    teams = {t.id: t.name for t in cfg.teams}
    expected = {}
    for budget in cfg.budgets:
        for team in budget.scope.teams or []:
            for (budget_id, period_start), row in status.items():
                if budget_id == budget.id:
                    closed = row[-1]
                    within = (row[7] if closed else row[9]) <= row[6]
                    expected[(budget_id, period_start, team.strip().lower())] = (*row, teams.get(team), within, 1)
    got = {(r[0], r[1], r[2]): r[3:] for r in fetch(url, f"""
        SELECT budget_id, period_start, team, {', '.join(columns)}, team_name, is_within_budget, team_count
        FROM marts.fct_team_budget_status""")}
    assert got == expected
    assert {t for _, _, t in got} == {t.id for t in cfg.teams}  # the demo config gives every team a budget


def test_open_anomalies_are_the_last_seven_days_of_anomalies(built_warehouse):
    rows = fetch(built_warehouse.url, "SELECT charge_date, is_anomaly, is_open FROM marts.fct_cost_anomalies")
    latest = max(r[0] for r in rows)
    assert all(is_open == (is_anomaly and day > latest - timedelta(days=7)) for day, is_anomaly, is_open in rows)


# --- infrastructure and ML -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node_samples(built_warehouse) -> list[tuple]:
    return fetch(built_warehouse.url, """
        SELECT cluster_id, node_id, sampled_at, node_status, cpu_utilization_pct, gpu_utilization_pct,
               memory_utilization_pct FROM staging.stg_telemetry__node_metrics""")


@pytest.fixture(scope="module")
def node_hour_costs(built_warehouse) -> list[tuple]:
    return fetch(built_warehouse.url, "SELECT cluster_id, node_id, usage_hour, billing_currency, effective_cost "
                                      "FROM intermediate.int_cluster_costs_hourly")


def mean_of_ready(samples: list[tuple], index: int) -> Decimal | None:
    values = [s[index] for s in samples if s[3] == "Ready" and s[index] is not None]
    return half_up(sum(values, Decimal(0)) / len(values)) if values else None


def test_cluster_efficiency_recomputed_from_node_metrics_and_hourly_costs(built_warehouse, cfg, node_samples,
                                                                         node_hour_costs):
    gpu_clusters = {c.cluster_id for c in cfg.clusters if c.gpus_per_node > 0}
    by_hour: dict = defaultdict(list)
    for s in node_samples:
        by_hour[(s[0], s[2].astimezone(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None))].append(s)
    hour_cost: dict = defaultdict(Decimal)
    for cluster, _, hour, _, cost in node_hour_costs:
        hour_cost[(cluster, hour)] += cost
    days = {h.date() for _, h in by_hour}
    expected: dict = {}
    with localcontext() as ctx:
        ctx.prec = 60
        acc: dict = defaultdict(lambda: [Decimal(0), 0, 0, Decimal(0)])  # cost, node hours, healthy, utilised
        for key in set(by_hour) | set(hour_cost):
            cluster, hour = key
            samples = by_hour.get(key, [])
            nodes: dict = defaultdict(list)
            for s in samples:
                nodes[s[1]].append(s)
            healthy = sum(1 for ns in nodes.values() if sum(s[3] == "Ready" for s in ns) >= Decimal("0.9") * len(ns))
            util = mean_of_ready(samples, 5 if cluster in gpu_clusters else 4) if samples else None
            a = acc[(cluster, hour.date())]
            a[0] += hour_cost.get(key, Decimal(0))
            a[1] += len(nodes)
            a[2] += healthy
            a[3] += hour_cost.get(key, Decimal(0)) * (util or 0) / 100
        for (cluster, day), (cost, node_hours, healthy_hours, utilised) in acc.items():
            if day in days:
                utilised = half_up(utilised, MICRO)
                expected[(cluster, day)] = ("gpu" if cluster in gpu_clusters else "cpu", cost, node_hours,
                                            healthy_hours, half_up(cost / healthy_hours, MICRO) if healthy_hours
                                            else None, utilised, cost - utilised, pct(utilised, cost))
    rows = {(r[0], r[1]): r[2:] for r in fetch(built_warehouse.url, """
        SELECT cluster_id, metric_date, utilisation_basis, effective_cost, node_hours, healthy_node_hours,
               cost_per_healthy_node_hour, utilised_cost, idle_cost, utilisation_weighted_pct
        FROM marts.fct_cluster_efficiency_daily""")}
    assert set(rows) == set(expected)
    assert rows == expected
    # the demo GPU clusters run busy but not flat out: some idle cost on every day
    assert all(0 < r[5] < r[1] for r in rows.values())


def test_node_utilisation_recomputed_from_node_metrics(built_warehouse, cfg, node_samples, node_hour_costs):
    gpu_clusters = {c.cluster_id for c in cfg.clusters if c.gpus_per_node > 0}
    by_node_day: dict = defaultdict(list)
    for s in node_samples:
        by_node_day[(s[0], s[1], s[2].astimezone(UTC).date())].append(s)
    costs: dict = defaultdict(Decimal)
    for cluster, node, hour, _, cost in node_hour_costs:
        if node != "n/a":
            costs[(cluster, node, hour.date())] += cost
    days = {d for _, _, d in by_node_day}
    expected = {}
    for key in set(by_node_day) | {k for k in costs if k[2] in days}:
        samples = by_node_day.get(key, [])
        basis = mean_of_ready(samples, 5 if key[0] in gpu_clusters else 4)
        ready = sum(s[3] == "Ready" for s in samples)
        expected[key] = (mean_of_ready(samples, 4), mean_of_ready(samples, 5), mean_of_ready(samples, 6),
                         bool(samples) and ready >= Decimal("0.9") * len(samples), costs.get(key),
                         basis is not None and basis < 30)
    rows = {(r[0], r[1], r[2]): r[3:] for r in fetch(built_warehouse.url, """
        SELECT cluster_id, node_id, metric_date, avg_cpu_utilization_pct, avg_gpu_utilization_pct,
               avg_memory_utilization_pct, is_healthy, effective_cost, is_below_threshold
        FROM marts.fct_node_utilisation_daily""")}
    assert rows == expected
    # node costs add up to the cluster's daily cost (every demo cluster line has a node id)
    cluster_cost = dict(((c, d), e) for c, d, e in fetch(built_warehouse.url, """
        SELECT cluster_id, metric_date, effective_cost FROM marts.fct_cluster_health_daily"""))
    node_sum: dict = defaultdict(Decimal)
    for (cluster, _, day), row in rows.items():
        node_sum[(cluster, day)] += row[4] or 0
    assert all(node_sum[k] == v for k, v in cluster_cost.items())


def test_training_steps_are_the_staged_metrics(built_warehouse):
    url = built_warehouse.url
    staged = fetch(url, "SELECT run_id, step, model_name, cluster_id, logged_at, loss, learning_rate, "
                        "tokens_per_second, gpu_memory_used_gb, gpu_count "
                        "FROM staging.stg_telemetry__llm_training_metrics")
    mart = fetch(url, "SELECT run_id, step, model_name, cluster_id, logged_at, loss, learning_rate, "
                      "tokens_per_second, gpu_memory_used_gb, gpu_count FROM marts.fct_llm_training_steps")
    raw_keys = {(r, s) for r, s in fetch(url, "SELECT run_id, step FROM raw.telemetry_llm_training_metrics")}
    assert sorted(mart) == sorted(staged) and len(mart) == len(raw_keys) > 0
    runs = {r for r, in fetch(url, "SELECT run_id FROM marts.fct_llm_training_runs")}
    assert {r[0] for r in mart} == runs
