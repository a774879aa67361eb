"""The demo source: deterministic, windowed, realistic enough to exercise the marts."""

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from collectors.core.base import Window
from collectors.core.registry import collector_class
from collectors.sources.demo import (
    ALL_DATASETS,
    COST_LINE_ITEMS,
    DATABRICKS_JOB_RUN_TIMELINE,
    DATABRICKS_JOBS,
    DATABRICKS_LIST_PRICES,
    DATABRICKS_USAGE,
    SAVINGS_PLAN_ID,
    SAVINGS_PLAN_MONTHLY_MICRO,
    SNOWFLAKE_METERING_DAILY,
    SNOWFLAKE_QUERY_HISTORY,
    SNOWFLAKE_WAREHOUSE_METERING,
    DemoCollector,
)

CLUSTERS = [{"cluster_id": "gpu-a", "nodes": 3, "gpus_per_node": 8}, {"cluster_id": "gpu-b", "nodes": 2}]


def rows(collector, dataset, start, end):
    return list(collector.collect(dataset, Window.from_dates(start, end)))


def col(dataset, name):
    return dataset.column_names.index(name)


def test_registry_and_contract():
    assert collector_class("demo") is DemoCollector
    with pytest.raises(KeyError, match="unknown source type 'x'"):
        collector_class("x")
    c = DemoCollector("d", {}, context={"clusters": CLUSTERS})
    assert c.datasets() == ALL_DATASETS


def test_deterministic_and_window_additive():
    c1 = DemoCollector("d", {"seed": 7}, context={"clusters": CLUSTERS})
    c2 = DemoCollector("d", {"seed": 7}, context={"clusters": CLUSTERS})
    for ds in ALL_DATASETS:
        whole = rows(c1, ds, date(2026, 10, 30), date(2026, 11, 2))
        assert whole == rows(c2, ds, date(2026, 10, 30), date(2026, 11, 2)), ds.name
        if ds is DATABRICKS_LIST_PRICES:  # the price list as read for a window: the same prices, stamped with it
            part = rows(c2, ds, date(2026, 10, 31), date(2026, 11, 2))
            assert [r[1:] for r in part] == [r[1:] for r in whole] and {r[0] for r in part} == {
                datetime(2026, 10, 31, tzinfo=UTC)}
            continue
        parts = rows(c2, ds, date(2026, 10, 30), date(2026, 10, 31)) + rows(c2, ds, date(2026, 10, 31),
                                                                               date(2026, 11, 2))
        assert parts == whole, f"{ds.name}: two windows must give exactly the rows of the whole window"
        assert all(len(r) == len(ds.columns) for r in whole)
    other_seed = DemoCollector("d", {"seed": 8}).collect(COST_LINE_ITEMS, Window.from_dates(date(2026, 10, 30),
                                                                                          date(2026, 10, 31)))
    assert list(other_seed) != rows(c1, COST_LINE_ITEMS, date(2026, 10, 30), date(2026, 10, 31))


def test_records_lie_inside_the_window():
    c = DemoCollector("d", {}, context={"clusters": CLUSTERS})
    window = Window(datetime(2026, 11, 1, 6, tzinfo=UTC), datetime(2026, 11, 1, 18, tzinfo=UTC))
    for ds in ALL_DATASETS:
        pos = col(ds, ds.time_column)
        for record in c.collect(ds, window):
            value = record[pos]
            value = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day, tzinfo=UTC)
            assert window.start <= value < window.end, (ds.name, value)


def test_cost_lines_have_realistic_features():
    c = DemoCollector("d", {"datasets": ["cost_line_items"]})
    lines = rows(c, COST_LINE_ITEMS, date(2026, 10, 1), date(2026, 11, 1))
    ids = [json.loads(r[col(COST_LINE_ITEMS, "x_extensions")])["x_LineItemId"] for r in lines]
    assert len(ids) == len(set(ids)), "x_LineItemId must be unique"
    positions = [(r[col(COST_LINE_ITEMS, "source_file")], r[col(COST_LINE_ITEMS, "source_line")]) for r in lines]
    assert len(positions) == len(set(positions)), "(source_file, source_line) must be unique"
    assert {r[col(COST_LINE_ITEMS, "focus_version")] for r in lines} == {"1.2"}
    assert COST_LINE_ITEMS.table == "focus_cost_line_items"  # the FOCUS sources' table: one staging model
    providers = Counter(r[col(COST_LINE_ITEMS, "provider_name")] for r in lines)
    assert set(providers) == {"AWS", "Microsoft Azure", "Google Cloud"}
    assert len({r[col(COST_LINE_ITEMS, "sub_account_id")] for r in lines}) >= 10
    categories = Counter(r[col(COST_LINE_ITEMS, "charge_category")] for r in lines)
    assert categories["Credit"] == 3 * 31 and categories["Purchase"] == 1
    credits = [r for r in lines if r[col(COST_LINE_ITEMS, "charge_category")] == "Credit"]
    assert all(r[col(COST_LINE_ITEMS, "billed_cost")] < 0 for r in credits)
    money = [r[i] for r in lines for i in (col(COST_LINE_ITEMS, n) for n in ("billed_cost", "effective_cost"))]
    assert all(isinstance(m, Decimal) for m in money)
    # Savings Plan: purchase billed once, amortised over covered usage; the month's amortisation equals the fee.
    billed, effective = col(COST_LINE_ITEMS, "billed_cost"), col(COST_LINE_ITEMS, "effective_cost")
    cd = col(COST_LINE_ITEMS, "commitment_discount_id")
    purchase = [r for r in lines if r[col(COST_LINE_ITEMS, "charge_category")] == "Purchase"]
    fee = Decimal(SAVINGS_PLAN_MONTHLY_MICRO).scaleb(-6)
    assert purchase[0][billed] == fee and purchase[0][effective] == 0
    covered = [r for r in lines if r[cd] == SAVINGS_PLAN_ID and r[col(COST_LINE_ITEMS, "charge_category")] == "Usage"]
    assert covered and all(r[billed] == 0 for r in covered)
    assert sum(r[effective] for r in covered) == fee
    # Tags: inconsistent key casing, some untagged.
    tags = col(COST_LINE_ITEMS, "tags")
    tag_keys = Counter(k for r in lines if r[tags] for k in json.loads(r[tags]))
    assert {"team", "Team", "TEAM"} <= set(tag_keys)
    assert any(r[tags] is None for r in lines)


def test_scale_multiplies_rows():
    day = (date(2026, 11, 2), date(2026, 11, 3))
    small = len(rows(DemoCollector("d", {"scale": 1}), COST_LINE_ITEMS, *day))
    big = len(rows(DemoCollector("d", {"scale": 10}), COST_LINE_ITEMS, *day))
    assert 9 * small < big < 11 * small
    # 1M rows/day is reachable: rows grow linearly with scale (checked on the catalogue size, not by generating 1M).
    assert small * 2700 > 1_000_000


def test_bad_options_are_named():
    with pytest.raises(ValueError, match=r"options.datasets has unknown \['nope'\]"):
        DemoCollector("d", {"datasets": ["nope"]})
    with pytest.raises(ValueError, match=r"options.providers has unknown \['oci'\]"):
        DemoCollector("d", {"providers": ["oci"]})


def test_window_rejects_naive_and_empty():
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(datetime(2026, 1, 1), datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="must be after"):
        Window.from_dates(date(2026, 1, 2), date(2026, 1, 2))


def test_databricks_job_runs_match_the_usage_they_bill():
    """The demo's jobs compute is billed to the runs in job_run_timeline (usage_metadata.job_run_id), and the runs
    have the outcomes the COO view's job success rate counts: successes, failures and repaired runs."""
    c = DemoCollector("d", {"datasets": ["databricks_usage"]})
    window = (date(2026, 10, 1), date(2026, 10, 15))
    usage = rows(c, DATABRICKS_USAGE, *window)
    slices = rows(c, DATABRICKS_JOB_RUN_TIMELINE, *window)
    metadata = [json.loads(r[col(DATABRICKS_USAGE, "usage_metadata")]) for r in usage
                if r[col(DATABRICKS_USAGE, "billing_origin_product")] == "JOBS"]
    run_ids = {r[col(DATABRICKS_JOB_RUN_TIMELINE, "run_id")] for r in slices}
    assert metadata and {m["job_run_id"] for m in metadata} == run_ids
    outcomes: dict = {}
    for r in slices:
        start, end = r[col(DATABRICKS_JOB_RUN_TIMELINE, "period_start_time")], r[col(
            DATABRICKS_JOB_RUN_TIMELINE, "period_end_time")]
        assert start < end and start.date() == end.date() and (end - start).total_seconds() <= 3600
        if r[col(DATABRICKS_JOB_RUN_TIMELINE, "result_state")]:
            outcomes.setdefault(r[col(DATABRICKS_JOB_RUN_TIMELINE, "run_id")], []).append(
                r[col(DATABRICKS_JOB_RUN_TIMELINE, "result_state")])
    kinds = Counter(tuple(v) for v in outcomes.values())
    assert set(kinds) == {("SUCCEEDED",), ("FAILED",), ("FAILED", "SUCCEEDED")}
    assert kinds[("SUCCEEDED",)] > 3 * (kinds[("FAILED",)] + kinds[("FAILED", "SUCCEEDED")])
    jobs = rows(c, DATABRICKS_JOBS, *window)  # redeployed on the 1st: every job that ran is named
    assert {r[col(DATABRICKS_JOBS, "job_id")] for r in jobs} == {
        r[col(DATABRICKS_JOB_RUN_TIMELINE, "job_id")] for r in slices}


def test_snowflake_warehouse_day_is_the_sum_of_its_metered_hours():
    c = DemoCollector("d", {"datasets": ["snowflake_metering_daily"]})
    day = (date(2026, 10, 5), date(2026, 10, 6))
    hours = rows(c, SNOWFLAKE_WAREHOUSE_METERING, *day)
    queries = rows(c, SNOWFLAKE_QUERY_HISTORY, *day)
    daily = {r[col(SNOWFLAKE_METERING_DAILY, "service_type")]: r for r in rows(c, SNOWFLAKE_METERING_DAILY, *day)}
    compute = sum(r[col(SNOWFLAKE_WAREHOUSE_METERING, "credits_used_compute")] for r in hours)
    assert daily["WAREHOUSE_METERING"][col(SNOWFLAKE_METERING_DAILY, "credits_used_compute")] == compute > 0
    metered = {(r[col(SNOWFLAKE_WAREHOUSE_METERING, "warehouse_name")], r[0]) for r in hours}
    for q in queries:  # every query ran in a metered hour of its warehouse, inside that hour
        start, end = q[col(SNOWFLAKE_QUERY_HISTORY, "start_time")], q[col(SNOWFLAKE_QUERY_HISTORY, "end_time")]
        hour = start.replace(minute=0, second=0, microsecond=0)
        assert (q[col(SNOWFLAKE_QUERY_HISTORY, "warehouse_name")], hour) in metered
        assert end <= hour + timedelta(hours=1)
        assert q[col(SNOWFLAKE_QUERY_HISTORY, "execution_time_ms")] == (end - start).total_seconds() * 1000
