"""snowflake_billing through the provider's SnowflakeHook settings and the real snowflake-connector-python, over
HTTP, against a local Snowflake (tests/fakes/snowflake_api.py: fakesnow's server speaking the connector's protocol,
SQL run by DuckDB) holding ACCOUNT_USAGE views with the documented columns: typed values (Decimal credits, UTC
timestamps), the source's price basis stamped on the metering rows, a null required value rejected naming the
field, wrong credentials a clear error that shows no secret."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from collectors.core.base import CollectorError, Reject, Window
from collectors.sources.snowflake_billing import (
    METERING_DAILY,
    QUERY_HISTORY,
    STORAGE_DAILY,
    WAREHOUSE_METERING,
    SnowflakeBillingCollector,
)
from tests.fakes.snowflake_api import (
    PASSWORD,
    SnowflakeApi,
    metering_daily,
    queries,
    storage_days,
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
