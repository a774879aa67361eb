"""Budgets, forecasts and anomalies (issue 5) end to end: five months of demo data (2026-06-01 .. 2026-11-01) loaded
by the real loader, ``openfinops transform`` (sync-config + real ``dbt build`` of the budget, forecast and anomaly
marts with everything upstream and all their tests), then every mart figure recomputed here in Python ``Decimal``
straight from the raw rows - never from our SQL.

Five months, not the 36 days of ``built_warehouse``: the back-test needs complete months with history before
them, and the anomaly rules need ``min_history_days`` (14) days before a spike. The config is the repo's plus one
budget scoped by tags (keys and values in another casing than the data), written to a temporary file.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import psycopg
import pytest
import yaml

from collectors.sources.demo import EPOCH, PROVIDERS
from openfinops.config import load_config
from tests.conftest import (
    ROOT,
    create_database,
    databricks_raw_costs,
    drop_database,
    run_cli,
    snowflake_raw_costs,
)

START = date(2026, 6, 1)
END = date(2026, 11, 2)  # exclusive: the latest charge_date is 2026-11-01
LATEST = END - timedelta(days=1)
TRAILING_DAYS = 28  # the dbt var forecast_trailing_days (default)
BACKTEST_MIN_HISTORY = 7  # the dbt var forecast_backtest_min_history_days (default)
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")
SEVERITIES = ("low", "medium", "high", "critical")

TAG_BUDGET = {
    "id": "tagged-prod-payments-web",
    "name": "Payments + web in prod, by tags (quarterly from February)",
    "amount": 60000,
    "currency": "USD",
    "period": "quarterly",
    "start_month": 2,
    # the data has keys env / Env / environment and team / Team / TEAM, values like "Web" and "prod"
    "scope": {"providers": ["AWS", "Google Cloud"], "tags": {"Env": ["PROD"], "TEAM": ["payments", " Web "]}},
    "forecast_thresholds": [90, 100],
}


@dataclass
class Warehouse:
    url: str
    dbt_output: str
    cfg: object


@dataclass(frozen=True)
class Line:
    """One cost line as the raw tables have it, with what the marts derive from it (computed here)."""

    day: date
    provider: str
    sub_account: str
    service: str
    category: str
    cost: Decimal  # effective cost, USD
    team: str
    tags: dict  # keys lower-cased, values as delivered


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Iterator[Warehouse]:
    config = yaml.safe_load((ROOT / "config" / "openfinops.yaml").read_text())
    config["budgets"].append(TAG_BUDGET)
    config_file = Path(tmp_path_factory.mktemp("config")) / "openfinops.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    cfg = load_config(config_file)
    env = {"OPENFINOPS_CONFIG": str(config_file)}
    url = create_database("ofo_budget")
    try:
        for source in cfg.sources:
            run_cli("collect", source.id, "--start", START.isoformat(), "--end", END.isoformat(), url=url,
                    extra_env=env)
        # these marts, everything upstream and every test of them (not other marts: this module is about these)
        proc = run_cli("transform", "--select", "+fct_budget_status", "+fct_cost_forecast", "+fct_cost_anomalies",
                       "stg_config__anomaly_settings", "--indirect-selection", "buildable", url=url, check=False,
                       extra_env=env)
        if proc.returncode != 0:
            pytest.fail(f"dbt build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
        yield Warehouse(url=url, dbt_output=proc.stdout, cfg=cfg)
    finally:
        drop_database(url)


def fetch(url, query, params=()):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def _team(tags: dict) -> str:
    value = next((str(v).strip().lower() for k, v in tags.items() if k == "team" and str(v).strip()), None)
    return value or "untagged"


def raw_lines(url) -> list[Line]:
    """Every cost line of the three demo raw tables, with the FOCUS day rule (UTC date of the charge start)."""
    lines = []
    for provider, start, sub, service, category, cost, tags in fetch(url, """
            SELECT provider_name, charge_period_start, sub_account_id, service_name, charge_category, effective_cost,
                   tags FROM raw.focus_cost_line_items"""):
        lowered = {k.lower(): v for k, v in (tags or {}).items()}
        lines.append(Line(start.astimezone(UTC).date(), provider, sub or "n/a", service, category, cost,
                          _team(lowered), lowered))
    for usage in databricks_raw_costs(url):
        lowered = {k.lower(): v for k, v in (usage["custom_tags"] or {}).items()}
        lines.append(Line(usage["usage_start_time"].astimezone(UTC).date(), "Databricks", usage["workspace_id"],
                          f"databricks:{usage['billing_origin_product']}", "Usage", usage["cost"], _team(lowered),
                          lowered))
    for metering in snowflake_raw_costs(url):
        lines.append(Line(metering["usage_date"], "Snowflake", metering["account_name"],
                          f"snowflake:{metering['service_type']}", "Usage", metering["cost"], "untagged", {}))
    return lines


@pytest.fixture(scope="module")
def lines(warehouse) -> list[Line]:
    return raw_lines(warehouse.url)


def run_rate(daily: dict[date, Decimal], first: date, as_of: date) -> Decimal:
    """Trailing-28-day average of the (purchase-free) daily cost up to as_of, days before `first` not counted,
    rounded to micro-units like the marts."""
    days = [as_of - timedelta(days=i) for i in range(TRAILING_DAYS) if as_of - timedelta(days=i) >= first]
    return (sum((daily.get(d, Decimal(0)) for d in days), Decimal(0)) / len(days)).quantize(MICRO, ROUND_HALF_UP)


def month_end(day: date) -> date:
    """First day of the next month."""
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def pct(value: Decimal, amount: Decimal) -> Decimal:
    return (value / amount * 100).quantize(CENT, ROUND_HALF_UP)


def test_dbt_build_ran_every_test(warehouse):
    summary = [line for line in warehouse.dbt_output.splitlines() if "Done. PASS=" in line][-1]
    assert "ERROR=0" in summary and "WARN=0" in summary and "SKIP=0" in summary, summary


# -- budgets ------------------------------------------------------------------------------------------------------

def _in_scope(budget, line: Line) -> bool:
    scope = budget.scope
    used = {k for k, v in scope.model_dump().items() if v is not None}
    assert used <= {"providers", "sub_account_ids", "teams", "tags"}, f"{budget.id}: extend the test for {used}"
    if scope.providers is not None and line.provider not in scope.providers:
        return False
    if scope.sub_account_ids is not None and line.sub_account not in scope.sub_account_ids:
        return False
    if scope.teams is not None and line.team not in {t.strip().lower() for t in scope.teams}:
        return False
    for key, values in (scope.tags or {}).items():
        value = line.tags.get(key.lower())
        if value is None or str(value).strip().lower() not in {v.strip().lower() for v in values}:
            return False
    return True


def _period_start(day: date, period: str, start_month: int) -> date:
    months = {"monthly": 1, "quarterly": 3, "annual": 12}[period]
    back = (day.month - start_month) % months
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def expected_budget_rows(budget, lines: list[Line]) -> dict:
    months = {"monthly": 1, "quarterly": 3, "annual": 12}[budget.period]
    daily: dict[date, Decimal] = defaultdict(Decimal)  # all in-scope effective cost
    recurring: dict[date, Decimal] = defaultdict(Decimal)  # without purchases: what the run rate averages
    for line in lines:
        if _in_scope(budget, line):
            daily[line.day] += line.cost
            if line.category != "Purchase":
                recurring[line.day] += line.cost
    if not daily:
        return {}
    first = min(daily)
    rows = {}
    start = _period_start(first, budget.period, budget.start_month)
    while start <= LATEST:
        end = _add_months(start, months)
        as_of = min(LATEST, end - timedelta(days=1))
        actual = sum((c for d, c in daily.items() if start <= d <= as_of), Decimal(0))
        rate = run_rate(recurring, first, as_of)
        remaining = (end - as_of).days - 1
        forecast = actual + rate * remaining
        utilisation, forecast_utilisation = pct(actual, budget.amount), pct(forecast, budget.amount)
        status = ("exceeded" if utilisation >= 100 else "forecast_exceeded" if forecast_utilisation >= 100
                  else "warning" if utilisation >= 80 else "ok")
        rows[start] = {
            "period_end": end, "as_of_date": as_of, "days_remaining": remaining, "actual_cost": actual,
            "run_rate_daily_cost": rate, "forecast_cost": forecast, "utilisation_pct": utilisation,
            "forecast_utilisation_pct": forecast_utilisation, "status": status,
            "highest_threshold_crossed": max((t for t in budget.thresholds if utilisation >= t), default=None),
            "highest_forecast_threshold_crossed": max(
                (t for t in budget.forecast_thresholds if forecast_utilisation >= t), default=None),
        }
        start = end
    return rows


BUDGET_COLUMNS = ("period_end", "as_of_date", "days_remaining", "actual_cost", "run_rate_daily_cost",
                  "forecast_cost", "utilisation_pct", "forecast_utilisation_pct", "status",
                  "highest_threshold_crossed", "highest_forecast_threshold_crossed")


def test_budget_actuals_forecasts_and_status_match_an_independent_computation(warehouse, lines):
    statuses = set()
    for budget in warehouse.cfg.budgets:
        expected = expected_budget_rows(budget, lines)
        mart = {r[0]: dict(zip(BUDGET_COLUMNS, r[1:], strict=True)) for r in fetch(warehouse.url, f"""
            SELECT period_start, {", ".join(BUDGET_COLUMNS)} FROM marts.fct_budget_status WHERE budget_id = %s""",
            (budget.id,))}
        assert set(mart) == set(expected), budget.id
        for start, want in expected.items():
            got = mart[start]
            for column in ("actual_cost", "run_rate_daily_cost", "forecast_cost"):
                assert got[column].quantize(CENT) == want[column].quantize(CENT), (budget.id, start, column)
            for column in set(BUDGET_COLUMNS) - {"actual_cost", "run_rate_daily_cost", "forecast_cost"}:
                assert got[column] == want[column], (budget.id, start, column, got[column], want[column])
            statuses.add(want["status"])
    # the demo budgets between them show every status
    assert statuses == {"ok", "warning", "exceeded", "forecast_exceeded"}, statuses


def test_budget_thresholds_and_tag_scope_come_from_the_config(warehouse, lines):
    rows = fetch(warehouse.url, """SELECT DISTINCT budget_id, thresholds, forecast_thresholds
                                   FROM marts.fct_budget_status""")
    configured = {b.id: (b.thresholds, b.forecast_thresholds) for b in warehouse.cfg.budgets}
    assert {r[0]: (r[1], r[2]) for r in rows} == configured
    scope = fetch(warehouse.url, "SELECT scope_tags FROM staging.stg_config__budgets WHERE budget_id = %s",
                  (TAG_BUDGET["id"],))[0][0]
    assert scope == {"env": ["prod"], "team": ["payments", "web"]}  # normalised by sync-config
    tagged = [line for line in lines if _in_scope(warehouse.cfg.budgets[-1], line)]
    # the scope really selects on tags (other teams, other environments, other providers are out)
    assert tagged and {line.team for line in tagged} == {"payments", "web"}
    assert {line.provider for line in tagged} == {"AWS", "Google Cloud"}


def test_closed_periods_forecast_their_actual(warehouse):
    rows = fetch(warehouse.url, """SELECT count(*), count(*) FILTER (WHERE forecast_cost = actual_cost)
                                   FROM marts.fct_budget_status WHERE is_period_closed""")[0]
    assert rows[0] > 0 and rows[0] == rows[1]


# -- forecasts ----------------------------------------------------------------------------------------------------

def _daily_by_provider(lines: list[Line]) -> tuple[dict, dict]:
    daily: dict = defaultdict(lambda: defaultdict(Decimal))
    recurring: dict = defaultdict(lambda: defaultdict(Decimal))
    for line in lines:
        daily[line.provider][line.day] += line.cost
        if line.category != "Purchase":
            recurring[line.provider][line.day] += line.cost
    return daily, recurring


def projection(daily: dict, recurring: dict, first: date, as_of: date) -> tuple[Decimal, Decimal, Decimal, int]:
    """(actual to date, run rate, forecast, days remaining) for the month of as_of, with data up to as_of only."""
    month = as_of.replace(day=1)
    actual = sum((c for d, c in daily.items() if month <= d <= as_of), Decimal(0))
    rate = run_rate(recurring, first, as_of)
    remaining = (month_end(as_of) - as_of).days - 1
    return actual, rate, actual + rate * remaining, remaining


def test_forecast_per_provider_and_total_matches_an_independent_computation(warehouse, lines):
    daily, recurring = _daily_by_provider(lines)
    expected: dict = {}
    for provider, days in daily.items():
        first = min(days)
        month = first.replace(day=1)
        while month <= LATEST:
            as_of = min(LATEST, month_end(month) - timedelta(days=1))
            expected[(month, provider)] = projection(days, recurring[provider], first, as_of)
            month = month_end(month)
    for month in {m for m, _ in expected}:
        parts = [v for (m, _), v in expected.items() if m == month]
        expected[(month, "All providers")] = (sum(p[0] for p in parts), sum(p[1] for p in parts),
                                              sum(p[2] for p in parts), parts[0][3])
    mart = {(m, p): (a, r, f, d) for m, p, a, r, f, d in fetch(warehouse.url, """
        SELECT forecast_month, provider_name, actual_cost, run_rate_daily_cost, forecast_cost, days_remaining
        FROM marts.fct_cost_forecast WHERE billing_currency = 'USD'""")}
    assert set(mart) == set(expected)
    for key, (actual, rate, forecast, remaining) in expected.items():
        got = mart[key]
        assert (got[0].quantize(CENT), got[1].quantize(CENT), got[2].quantize(CENT), got[3]) == \
               (actual.quantize(CENT), rate.quantize(CENT), forecast.quantize(CENT), remaining), key
    # November 2026 is running (1 day of data): 29 days projected; October is complete: forecast = actual
    november = mart[(date(2026, 11, 1), "All providers")]
    assert november[3] == 29 and november[2] > 25 * november[0]
    october = mart[(date(2026, 10, 1), "All providers")]
    assert october[3] == 0 and october[2] == october[0]


def test_backtest_error_matches_an_independent_computation_and_is_small(warehouse, lines):
    daily, recurring = _daily_by_provider(lines)
    errors: dict = defaultdict(list)
    for provider, days in daily.items():
        first = min(days)
        month = first.replace(day=1) if first.day == 1 else month_end(first)
        while month_end(month) - timedelta(days=1) <= LATEST:
            last = month_end(month) - timedelta(days=1)
            month_actual = sum((c for d, c in days.items() if month <= d <= last), Decimal(0))
            as_of = month
            while as_of < last:
                if min(TRAILING_DAYS, (as_of - first).days + 1) >= BACKTEST_MIN_HISTORY:
                    forecast = projection(days, recurring[provider], first, as_of)[2]
                    total = errors[("All providers", month, as_of)]
                    total.append((forecast, month_actual))
                    ape = (abs(forecast - month_actual) / abs(month_actual) * 100).quantize(
                        Decimal("0.0001"), ROUND_HALF_UP)
                    errors[provider].append(ape)
                as_of += timedelta(days=1)
            month = month_end(month)
    for key in [k for k in errors if isinstance(k, tuple)]:
        pairs = errors.pop(key)
        forecast, actual = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
        errors["All providers"].append((abs(forecast - actual) / abs(actual) * 100).quantize(
            Decimal("0.0001"), ROUND_HALF_UP))
    mart = {p: (m, n) for p, m, n in fetch(warehouse.url, """
        SELECT DISTINCT provider_name, backtest_mape_pct, backtest_projections FROM marts.fct_cost_forecast""")}
    assert set(mart) == set(errors)
    for provider, apes in errors.items():
        mape = (sum(apes) / len(apes)).quantize(CENT, ROUND_HALF_UP)
        assert mart[provider] == (mape, len(apes)), provider
        # June (from its 7th day) + July..October: 23 + 31 + 31 + 30 + 31 - 4 last days
        assert len(apes) == 142
        assert mape < Decimal(3), (provider, mape)  # the method is good to a few percent on the demo
    print("back-test MAPE %:", {p: str(m) for p, (m, _) in sorted(mart.items())})


# -- anomalies ----------------------------------------------------------------------------------------------------

def _median(values: list[Decimal]) -> Decimal:
    ordered = sorted(values)
    return (ordered[(len(ordered) - 1) // 2] + ordered[len(ordered) // 2]) / 2


def expected_anomalies(lines: list[Line], settings) -> dict:
    """(day, provider, sub account, service) -> (robust_z, severity or None) for every day with a verdict, from the
    documented rules, computed here."""
    series: dict = defaultdict(lambda: defaultdict(Decimal))
    latest: dict = {}
    for line in lines:
        series[(line.provider, line.sub_account, line.service)][line.day] += line.cost
        latest[line.provider] = max(latest.get(line.provider, line.day), line.day)
    # a day is in the mart when the series has lines that day or non-zero cost in the baseline window
    out = {}
    for key, days in series.items():
        first = min(days)
        day = first
        while day <= latest[key[0]]:
            history = [days.get(day - timedelta(days=i), Decimal(0)) for i in range(1, settings.baseline_days + 1)
                       if day - timedelta(days=i) >= first]
            listed = day in days or any(history)
            if listed and len(history) >= settings.min_history_days:
                baseline = _median(history).quantize(MICRO, ROUND_HALF_UP)
                mad = _median([abs(x - baseline) for x in history]).quantize(MICRO, ROUND_HALF_UP)
                scale = max(Decimal("1.4826") * mad, Decimal("0.05") * abs(baseline), settings.min_cost_delta / 10,
                            CENT).quantize(MICRO, ROUND_HALF_UP)
                deviation = days.get(day, Decimal(0)) - baseline
                z = (deviation / scale).quantize(CENT, ROUND_HALF_UP)
                severity = None
                if abs(deviation) >= settings.min_cost_delta and abs(z) >= Decimal("3.5"):
                    size = abs(z)
                    severity = ("medium" if deviation < 0 and size >= 5 else "critical" if size >= 10
                                else "high" if size >= 7 else "medium" if size >= 5 else "low")
                out[(day, *key)] = (z, severity)
            day += timedelta(days=1)
    return out


def _seed_service_names() -> dict[str, str]:
    """'databricks:JOBS' -> 'Databricks Jobs' etc. from the seed file the marts use for data-platform services."""
    rows = (ROOT / "dbt_project" / "seeds" / "focus_service_mapping.csv").read_text().splitlines()[1:]
    return {f"{system}:{value}": name for system, value, name, _ in (row.split(",") for row in rows if row)}


def test_anomaly_verdicts_match_an_independent_computation(warehouse, lines):
    names = _seed_service_names()
    verdicts = expected_anomalies(lines, warehouse.cfg.anomalies)
    expected = {(day, provider, sub, names.get(service, service)): verdict
                for (day, provider, sub, service), verdict in verdicts.items()}
    mart = {(d, p, s, n): (z, sev) for d, p, s, n, z, sev in fetch(warehouse.url, """
        SELECT charge_date, provider_name, sub_account_id, service_name, robust_z, severity
        FROM marts.fct_cost_anomalies WHERE has_enough_history""")}
    assert set(mart) == set(expected)
    assert mart == expected


def test_the_demo_spikes_are_found_and_nothing_else_alerts(warehouse):
    rows = fetch(warehouse.url, """SELECT charge_date, provider_name, service_name, severity, direction
                                   FROM marts.fct_cost_anomalies WHERE is_anomaly""")
    by_severity = defaultdict(int)
    for *_, severity, _ in rows:
        by_severity[severity] += 1
    print("anomalies by severity:", dict(by_severity))
    alert_level = SEVERITIES.index(warehouse.cfg.anomalies.alert_min_severity)
    alerting = [r for r in rows if SEVERITIES.index(r[3]) >= alert_level]
    assert alerting, "the demo has spikes: at least one anomaly at the alert level"
    # The demo multiplies one service of each cloud by 4 on every 23rd day (collectors/sources/demo.py). Every alerting
    # anomaly is such a spike; every spike day with 14 days of history has one on AWS, Azure or Google Cloud.
    spikes = {}
    for day in (START + timedelta(days=i) for i in range((END - START).days)):
        n = (day - EPOCH).days
        if n % 23 == 7:
            for spec in PROVIDERS.values():
                spikes[(day, spec.provider_name)] = spec.services[n % len(spec.services)][0]
    for day, provider, service, severity, direction in alerting:
        assert spikes.get((day, provider)) == service and direction == "spike", (day, provider, service, severity)
    judged_spike_days = {d for d, _ in spikes if (d - START).days >= warehouse.cfg.anomalies.min_history_days}
    assert judged_spike_days == {d for d, *_ in alerting}
    # weekends (18 % less usage) and month starts (the Savings Plan purchase) never alert
    assert not any(r[4] == "drop" and SEVERITIES.index(r[3]) >= alert_level for r in rows)


def test_anomaly_baseline_excludes_the_day_and_is_robust_to_the_spike(warehouse):
    """The day after a spike: the spike is in the 28-day history, the median baseline barely moves."""
    rows = fetch(warehouse.url, """
        SELECT a.charge_date, a.baseline_cost, b.baseline_cost, a.actual_cost
        FROM marts.fct_cost_anomalies AS a
        JOIN marts.fct_cost_anomalies AS b
          ON b.provider_name = a.provider_name AND b.sub_account_id = a.sub_account_id
         AND b.service_name = a.service_name AND b.charge_date = a.charge_date + 1
        WHERE a.severity = 'critical'""")
    assert rows
    for day, baseline, next_baseline, actual in rows:
        assert next_baseline < baseline + (actual - baseline) / 10, day  # a mean would move by ~1/28 of the jump
    assert statistics.median(float(n / b) for _, b, n, _ in rows) < 1.05
