"""A back-fill across a month boundary resets monthly budgets: each month is its own period, with its own actual
(only that month's in-scope cost, summed here in Python from the raw rows) and its own threshold crossings, recorded
once per (budget, period, threshold, kind) however often the back-fill is re-run."""

from collections import defaultdict
from datetime import UTC, date
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest
import yaml

from tests.conftest import create_database, drop_database, run_cli

AMOUNT = Decimal(20000)


@pytest.fixture
def backfilled(tmp_path):
    config = tmp_path / "backfill.yaml"
    config.write_text(yaml.safe_dump({
        "sources": [{"id": "demo-aws", "type": "demo", "options": {"seed": 42, "datasets": ["cost_line_items"],
                                                                  "providers": ["aws"]}}],
        "budgets": [{"id": "aws-monthly", "name": "AWS monthly", "amount": str(AMOUNT), "currency": "USD",
                     "period": "monthly", "scope": {"providers": ["AWS"]}, "thresholds": [10, 50, 100],
                     "forecast_thresholds": [100]}],
    }))
    url = create_database("ofo_backfill")
    try:
        yield url, str(config)
    finally:
        drop_database(url)


def backfill(url: str, config: str) -> None:
    # Oct 20 .. Nov 5 (end exclusive) in one run, as a back-fill with params start/end does
    run_cli("--config", config, "collect", "demo-aws", "--start", "2026-10-20", "--end", "2026-11-05", url=url)
    run_cli("--config", config, "transform", "--select", "+fct_budget_status", "+fct_cost_anomalies",
            "--indirect-selection", "cautious", url=url)
    run_cli("--config", config, "alerts", "--no-deliver", url=url)


def test_backfill_across_a_month_boundary_resets_monthly_budgets(backfilled):
    url, config = backfilled
    backfill(url, config)
    with psycopg.connect(url) as conn:
        expected: dict = defaultdict(Decimal)
        for start, effective in conn.execute("SELECT charge_period_start, effective_cost "
                                             "FROM raw.focus_cost_line_items WHERE provider_name = 'AWS'"):
            day = start.astimezone(UTC).date()
            expected[date(day.year, day.month, 1)] += effective
        status = {r[0]: r[1:] for r in conn.execute(
            "SELECT period_start, period_end, actual_cost, utilisation_pct FROM marts.fct_budget_status "
            "WHERE budget_id = 'aws-monthly'")}
        crossings = conn.execute("SELECT period_start, threshold_pct FROM alerts.budget_threshold_crossings "
                                 "WHERE kind = 'actual' ORDER BY 1, 2").fetchall()
    assert set(status) == {date(2026, 10, 1), date(2026, 11, 1)}
    for period, (period_end, actual, utilisation) in status.items():
        assert actual == expected[period], period  # only this month's cost: the budget starts again at 0
        assert period_end == date(2026, 11, 1) if period.month == 10 else date(2026, 12, 1)
        assert utilisation == (actual / AMOUNT * 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
    # twelve October days cross more thresholds than four November days; each period records its own crossings
    want = [(p, t) for p in sorted(status) for t in (10, 50, 100) if status[p][2] >= t]
    assert crossings == want
    assert {p for p, _ in crossings} == set(status)
    # re-running the back-fill changes no figure and records no crossing twice
    backfill(url, config)
    with psycopg.connect(url) as conn:
        again = {r[0]: r[1:] for r in conn.execute(
            "SELECT period_start, period_end, actual_cost, utilisation_pct FROM marts.fct_budget_status "
            "WHERE budget_id = 'aws-monthly'")}
        assert again == status
        assert conn.execute("SELECT count(*) FROM alerts.budget_threshold_crossings "
                            "WHERE kind = 'actual'").fetchone()[0] == len(crossings)
