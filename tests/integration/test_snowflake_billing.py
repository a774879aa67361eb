"""snowflake_billing through the provider's SnowflakeHook settings and the real snowflake-connector-python, over
HTTP, against a local Snowflake (tests/fakes/snowflake_api.py: fakesnow's server speaking the connector's protocol,
SQL run by DuckDB) holding ACCOUNT_USAGE views with the documented columns: typed values (Decimal credits, UTC
timestamps), the source's price basis stamped on the metering rows, a null required value rejected naming the
field, wrong credentials a clear error that shows no secret. ORGANIZATION_USAGE.USAGE_IN_CURRENCY_DAILY (option
``usage_in_currency``): the source's account's rows of the window, and through the real loader and a real ``dbt
build``: an account-day with those rows costs exactly their sum (Snowflake's billed figure, adjustments included)
and no credits x price line, an account-day without them keeps credits x price, a malformed row lands in
raw._rejects."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import yaml

from collectors.core.base import CollectorError, Reject, Window
from collectors.sources.snowflake_billing import (
    METERING_DAILY,
    QUERY_HISTORY,
    STORAGE_DAILY,
    USAGE_IN_CURRENCY_DAILY,
    WAREHOUSE_METERING,
    SnowflakeBillingCollector,
)
from openfinops import pipeline
from openfinops.config import load_config
from tests.conftest import ROOT, create_database, drop_database, run_cli
from tests.fakes.snowflake_api import (
    PASSWORD,
    TIB,
    SnowflakeApi,
    metering_daily,
    queries,
    storage_days,
    usage_in_currency_daily,
    warehouse_hours,
)

WINDOW = Window.from_dates(date(2026, 10, 13), date(2026, 10, 17))


@pytest.fixture(scope="module")
def snowflake():
    with SnowflakeApi() as api:
        api.insert("metering_daily_history", metering_daily())
        api.insert("warehouse_metering_history", warehouse_hours())
        api.insert("query_history", queries())
        api.insert("storage_usage", storage_days())
        api.insert("usage_in_currency_daily", usage_in_currency_daily())
        yield api


@pytest.fixture
def connection(snowflake, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_TEST", json.dumps(snowflake.connection()))


def collector(**options) -> SnowflakeBillingCollector:
    return SnowflakeBillingCollector("sf-test", {"edition": "enterprise", "account_name": "ACME_PROD", **options},
                                     context={"connection_id": "snowflake_test"})


def test_metering_days_are_read_typed_with_the_price_basis(connection):
    out = list(collector().collect(METERING_DAILY, WINDOW))
    rows = [dict(zip(METERING_DAILY.column_names, r, strict=True)) for r in out]
    assert [(r["usage_date"], r["service_type"], r["credits_billed"]) for r in rows] == [
        (row[1], row[0], row[6]) for row in sorted(metering_daily(), key=lambda r: (r[1], r[0]))]
    first = rows[0]
    assert first["credits_used_compute"] == Decimal("10.5") and first["credits_adjustment_cloud_services"] == Decimal(
        "-0.6") and isinstance(first["credits_billed"], Decimal)
    assert (first["account_name"], first["edition"], first["contract_credit_price"], first["currency"]) == (
        "ACME_PROD", "enterprise", None, "USD")
    contract = list(collector(credit_price="2.61", currency="EUR").collect(METERING_DAILY, WINDOW))
    assert {(r[-2], r[-1]) for r in contract} == {(Decimal("2.61"), "EUR")}


def test_warehouse_hours_and_queries_are_read_with_utc_times(connection):
    hours = list(collector().collect(WAREHOUSE_METERING, WINDOW))
    assert [(h[0], h[3], h[5]) for h in hours] == [(w[0], w[3], w[5]) for w in warehouse_hours()]
    assert hours[0][0] == datetime(2026, 10, 14, 9, tzinfo=UTC) and hours[0][2] == "7"
    found = list(collector().collect(QUERY_HISTORY, WINDOW))
    assert [(q[0], q[3], q[5]) for q in found] == [(q[0], q[3], q[6]) for q in queries()]


def test_storage_days_are_read_as_exact_bytes_with_the_storage_price_basis(connection):
    out = list(collector().collect(STORAGE_DAILY, WINDOW))
    assert [r[:4] for r in out] == [(day, Decimal(t), Decimal(s), Decimal(f)) for day, t, s, f, _ in storage_days()]
    assert {r[-3:] for r in out} == {("on_demand", None, "USD")}
    contract = list(collector(storage_price_per_tb="21.5").collect(STORAGE_DAILY, WINDOW))
    assert {r[-3:] for r in contract} == {("on_demand", Decimal("21.5"), "USD")}


def test_a_null_required_value_is_rejected_naming_the_field(snowflake, connection):
    snowflake.insert("metering_daily_history", [("SEARCH_OPTIMIZATION", date(2026, 10, 15), Decimal(1), Decimal(0),
                                                 Decimal(1), Decimal(0), None)])
    try:
        out = list(collector().collect(METERING_DAILY, WINDOW))
        rejects = [r for r in out if isinstance(r, Reject)]
        assert [(r.dataset, r.field, r.reason) for r in rejects] == [
            ("metering_daily", "credits_billed", "required value is null")]
    finally:
        with snowflake.connect() as conn:
            conn.cursor().execute("delete from snowflake.account_usage.metering_daily_history "
                                  "where service_type = 'SEARCH_OPTIMIZATION'")


def test_wrong_credentials_are_a_clear_error_without_the_secret(snowflake, monkeypatch):
    wrong = dict(snowflake.connection(), password="not-the-password")
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_TEST", json.dumps(wrong))
    with pytest.raises(CollectorError, match=r"source sf-test: connection 'snowflake_test': could not log in to "
                                             r"Snowflake: .*Incorrect username or password") as err:
        list(collector().collect(METERING_DAILY, WINDOW))
    assert "not-the-password" not in str(err.value) and PASSWORD not in str(err.value)


def test_config_errors_name_the_option():
    with pytest.raises(ValueError, match=r"options.edition: expected one of \['standard', 'enterprise', "
                                         r"'business_critical'\] .*or set options.credit_price"):
        SnowflakeBillingCollector("sf", {})
    with pytest.raises(ValueError, match=r"options.credit_price: expected a positive decimal string"):
        SnowflakeBillingCollector("sf", {"credit_price": 2.5})


# --- ORGANIZATION_USAGE.USAGE_IN_CURRENCY_DAILY ----------------------------------------------------------------------
def test_usage_in_currency_is_off_by_default_and_an_option_turns_it_on():
    assert USAGE_IN_CURRENCY_DAILY not in SnowflakeBillingCollector("sf", {"edition": "enterprise"}).datasets()
    assert USAGE_IN_CURRENCY_DAILY in collector(usage_in_currency=True).datasets()
    assert USAGE_IN_CURRENCY_DAILY.table == "snowflake_billing_usage_in_currency_daily"
    with pytest.raises(ValueError, match=r"options.usage_in_currency: expected true or false"):
        collector(usage_in_currency="yes")


def test_usage_in_currency_rows_of_the_window_are_read_for_the_sources_account_only(connection):
    """ACME_PROD's rows of Oct 14 (the window), typed: exact Decimal amounts, the adjustment flag a bool, the
    source's labels after the view's columns; ACME_DEV's row of the same day and ACME_PROD's Oct 15 are not read."""
    source = collector(usage_in_currency=True, organization_name="ACME")
    out = list(source.collect(USAGE_IN_CURRENCY_DAILY, Window.from_dates(date(2026, 10, 14), date(2026, 10, 15))))
    rows = [dict(zip(USAGE_IN_CURRENCY_DAILY.column_names, r, strict=True)) for r in out]
    fixture = [r for r in usage_in_currency_daily() if r[2] == "ACME_PROD" and r[6] == date(2026, 10, 14)]
    assert sorted((r["usage_type"], r["service_type"], r["balance_source"], r["usage_in_currency"]) for r in rows) == (
        sorted((f[7], f[14], f[11], f[10]) for f in fixture))
    assert all(isinstance(r["usage_in_currency"], Decimal) and r["is_adjustment"] is False for r in rows)
    assert {(r["account_name"], r["account_locator"], r["currency"], r["source_account_name"],
             r["source_organization_name"]) for r in rows} == {("ACME_PROD", "XY12345", "USD", "ACME_PROD", "ACME")}
    # matched by locator too (the connection's account when no account_name is configured)
    by_locator = collector(usage_in_currency=True, account_name="xy12345")
    assert len(list(by_locator.collect(USAGE_IN_CURRENCY_DAILY, WINDOW))) == 9


def test_a_malformed_usage_in_currency_row_is_rejected_naming_record_and_field(snowflake, connection):
    bad = ("ACME", "C-1001", "ACME_PROD", "XY12345", "AWS_US_EAST_1", "Enterprise", date(2026, 10, 16), "compute",
           Decimal(1), "USD", None, "capacity", "consumption", "compute", "SEARCH_OPTIMIZATION", False)
    snowflake.insert("usage_in_currency_daily", [bad])
    try:
        out = list(collector(usage_in_currency=True).collect(USAGE_IN_CURRENCY_DAILY, WINDOW))
        rejects = [r for r in out if isinstance(r, Reject)]
        assert [(r.dataset, r.field, r.reason) for r in rejects] == [
            ("usage_in_currency_daily", "usage_in_currency", "required value is null")]
        assert "usage_date 2026-10-16 usage_type compute" in rejects[0].record_ref
        assert len(out) == 10
    finally:
        with snowflake.connect() as conn:
            conn.cursor().execute("delete from snowflake.organization_usage.usage_in_currency_daily "
                                  "where service_type = 'SEARCH_OPTIMIZATION'")


# --- through the loader and dbt -------------------------------------------------------------------------------------
SOURCE = "sf-org"
MALFORMED = ("ACME", "C-1001", "ACME_PROD", "XY12345", "AWS_US_EAST_1", "Enterprise", date(2026, 10, 16), "compute",
             Decimal("2.000"), "USD", None, "overage", "consumption", "compute", "SEARCH_OPTIMIZATION", False)


@dataclass
class Built:
    url: str
    dbt_output: str


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Iterator[Built]:
    """A Snowflake organisation account (its own fake, with a malformed currency row on Oct 16) collected for Oct
    13-16 through pipeline.collect (the real loader), then ``openfinops transform`` (a real ``dbt build`` of the
    cost models up to fct_cost_daily, tests included)."""
    tmp: Path = tmp_path_factory.mktemp("snowflake-currency")
    with SnowflakeApi() as api, pytest.MonkeyPatch.context() as env:
        api.insert("metering_daily_history", metering_daily())
        api.insert("storage_usage", storage_days())
        api.insert("usage_in_currency_daily", [*usage_in_currency_daily(), MALFORMED])
        env.setenv("AIRFLOW_CONN_SNOWFLAKE_ORG", json.dumps(api.connection()))
        config = tmp / "snowflake.yaml"
        config.write_text(yaml.safe_dump({"sources": [
            {"id": SOURCE, "type": "snowflake_billing", "connection_id": "snowflake_org", "max_reject_ratio": 0.5,
             "options": {"edition": "enterprise", "account_name": "ACME_PROD", "organization_name": "ACME",
                         "query_history": False, "usage_in_currency": True}}]}))
        url = create_database("ofo_sfcur")
        try:
            with psycopg.connect(url) as conn:
                result = pipeline.collect(load_config(config), SOURCE, WINDOW, conn)
            assert result.rejects == 1
            proc = run_cli("--config", str(config), "transform", "--select", "+fct_cost_daily",
                           "--indirect-selection", "cautious", "--target-path", str(tmp / "dbt-target"), url=url,
                           check=False)
            if proc.returncode != 0:
                pytest.fail(f"dbt build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
            yield Built(url, proc.stdout)
        finally:
            drop_database(url)


def seed_price(seed: str, key: str, value: str, column: str, day: date) -> Decimal:
    """The USD price of the seed file's row for key = value valid on day (read here, not through dbt)."""
    with open(ROOT / "dbt_project" / "seeds" / f"{seed}.csv", newline="") as f:
        match = [Decimal(p[column]) for p in csv.DictReader(f) if (p[key], p["currency"]) == (value, "USD")
                 and date.fromisoformat(p["effective_from"]) <= day
                 and (not p["effective_to"] or day < date.fromisoformat(p["effective_to"]))]
    assert len(match) == 1, (seed, value, day, match)
    return match[0]


def credits_times_price(day: date) -> Decimal:
    """Credits billed x the Enterprise list price + storage bytes / 1024^4 x the on-demand price per TB-month / 31
    (October), for one day of the fixture: the cost of an account-day Snowflake gives no currency amounts for."""
    cost = sum((billed * seed_price("snowflake_credit_prices", "edition", "enterprise", "credit_price", day)
                for _s, d, _c, _cs, _u, _a, billed in metering_daily() if d == day), Decimal(0))
    for d, tables, stages, failsafe, _hybrid in storage_days():
        if d == day:
            price = seed_price("snowflake_storage_prices", "pricing_model", "on_demand", "price_per_tb_month", day)
            cost += Decimal(tables + stages + failsafe) / TIB * price / 31
    return cost


def billed_in_currency() -> dict[date, Decimal]:
    """Per day, the sum of ACME_PROD's USAGE_IN_CURRENCY in the fixture (adjustments included, ACME_DEV's rows and
    the malformed row not)."""
    out: dict[date, Decimal] = defaultdict(Decimal)
    for row in usage_in_currency_daily():
        if row[2] == "ACME_PROD":
            out[row[6]] += row[10]
    return dict(out)


def test_dbt_build_passes_with_the_precedence_tests(warehouse):
    summary = [line for line in warehouse.dbt_output.splitlines() if "Done. PASS=" in line][-1]
    assert "ERROR=0" in summary and "WARN=0" in summary, summary
    for name in ("int_snowflake_usage_in_currency_maps_categories", "int_snowflake_costs_conformed_currency_day_wins",
                 "assert_int_focus_costs_matches_raw_landing", "unique_stg_snowflake_billing__usage_in_currency_daily_"
                 "currency_usage_key"):
        assert name in warehouse.dbt_output, name


def test_an_account_day_with_currency_rows_costs_exactly_what_snowflake_billed(warehouse):
    """Oct 14 and 15: fct_cost_daily = the sum of USAGE_IN_CURRENCY (to the cent: exactly, numeric end to end), the
    Oct 15 adjustment (-4.75) included; none of those days' lines is credits x price (metering or storage)."""
    expected = billed_in_currency()
    assert set(expected) == {date(2026, 10, 14), date(2026, 10, 15)} and expected[date(2026, 10, 15)] == Decimal(
        "95.35")
    with psycopg.connect(warehouse.url) as conn:
        marts = dict(conn.execute("""SELECT charge_date, sum(billed_cost) FROM marts.fct_cost_daily
                                     WHERE provider_name = 'Snowflake' AND charge_date IN ('2026-10-14', '2026-10-15')
                                     GROUP BY 1""").fetchall())
        lines = conn.execute("""
            SELECT charge_date, charge_category, pricing_unit, billing_currency, charge_description, service_name,
                   sub_account_id, billing_account_id
            FROM intermediate.int_focus_costs
            WHERE source_id = %s AND charge_date IN ('2026-10-14', '2026-10-15')""", (SOURCE,)).fetchall()
    assert marts == expected
    assert len(lines) == 9 and all(line[4].startswith("Snowflake billed amount") for line in lines)
    assert {line[3] for line in lines} == {"USD"} and {line[6:] for line in lines} == {("ACME_PROD", "ACME")}
    assert sorted(line[1] for line in lines) == ["Adjustment"] + ["Usage"] * 8
    assert {line[5] for line in lines} == {"Snowflake Compute", "Snowflake Cloud Services", "Snowflake Storage",
                                          "Snowflake Data Transfer"}
    assert "TB-months" not in {line[2] for line in lines}  # no storage line priced by us on these days


def test_an_account_day_without_currency_rows_keeps_credits_times_price(warehouse):
    """Oct 13 and 16 (Oct 16's only currency row was malformed, so rejected): credits billed x the list price per
    credit + storage at the list price per TB-month, as without the option."""
    with psycopg.connect(warehouse.url) as conn:
        marts = dict(conn.execute("""SELECT charge_date, round(sum(billed_cost), 12) FROM marts.fct_cost_daily
                                     WHERE provider_name = 'Snowflake' AND charge_date IN ('2026-10-13', '2026-10-16')
                                     GROUP BY 1""").fetchall())
        units = conn.execute("""SELECT DISTINCT pricing_unit FROM intermediate.int_focus_costs
                                WHERE source_id = %s AND charge_date IN ('2026-10-13', '2026-10-16')
                                ORDER BY 1""", (SOURCE,)).fetchall()
    assert marts == {day: round(credits_times_price(day), 12) for day in (date(2026, 10, 13), date(2026, 10, 16))}
    assert units == [("Credits",), ("TB-months",)]


def test_the_malformed_currency_row_is_in_raw_rejects_naming_source_record_and_field(warehouse):
    with psycopg.connect(warehouse.url) as conn:
        rejects = conn.execute("SELECT _source_id, dataset, record_ref, field, reason FROM raw._rejects").fetchall()
        loaded = conn.execute("SELECT count(*) FROM raw.snowflake_billing_usage_in_currency_daily").fetchone()[0]
    assert [(r[0], r[1], r[3], r[4]) for r in rejects] == [
        (SOURCE, "usage_in_currency_daily", "usage_in_currency", "required value is null")]
    assert "usage_date 2026-10-16 usage_type compute" in rejects[0][2]
    assert loaded == len([r for r in usage_in_currency_daily() if r[2] == "ACME_PROD"]) == 9  # the good rows
