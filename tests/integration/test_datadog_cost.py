"""datadog_cost against a local Datadog Usage Metering API (tests/fakes/datadog_api.py): historical cost for a
closed month, estimated cost when there is none yet, every charge read with Decimal cost, a malformed charge
rejected naming the field, Datadog's 429 with X-RateLimit-* retried. The original agent's estimate (max hosts x $15)
cannot recur: the cost is the vendor's, asserted to the cent.

The usage summary (volumes): one row per month x organisation x field, equal to the fixture's numbers (computed here
from the served organisations, Decimal-exact above 2**53), a 429 waiting the X-RateLimit-Reset Datadog sends, the
malformed value in raw._rejects naming the source, the record and the field, the keys (from an Airflow connection)
in no raw table and no log line; then `dbt build` of the staging model and fct_datadog_usage_monthly: each product's
volume beside the cost Datadog bills for it."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest
import requests

from collectors.core.base import CollectorError, Reject, Window
from collectors.sources.datadog_cost import COST_CHARGES, USAGE_SUMMARY, DatadogCostCollector
from openfinops.loader import Loader
from tests.conftest import run_cli
from tests.fakes.datadog_api import (
    API_KEY,
    APP_KEY,
    NOVEMBER_ESTIMATE,
    NOVEMBER_USAGE,
    OCTOBER,
    OCTOBER_USAGE,
    DatadogApi,
    standard_api,
)

OCT_NOV = Window.from_dates(date(2026, 10, 1), date(2026, 12, 1))


def collector(api: DatadogApi, **options) -> DatadogCostCollector:
    return DatadogCostCollector("dd-test", {"api_url": api.url, **options},
                                clients={"api_key": API_KEY, "app_key": APP_KEY})


def test_historical_then_estimated_charges_with_decimal_costs():
    with standard_api(DatadogApi()) as api:
        api.throttle = 1
        out = list(collector(api).collect(COST_CHARGES, OCT_NOV))
    rows = [r for r in out if not isinstance(r, Reject)]
    rejects = [r for r in out if isinstance(r, Reject)]
    assert api.requests == ["historical_cost 2026-10", "historical_cost 2026-10", "historical_cost 2026-11",
                            "estimated_cost 2026-11"]  # the 429 retried; November has no historical cost yet
    assert [(r.record_ref, r.field, r.reason) for r in rejects] == [
        ("historical_cost 2026-10 data[0].charges[6]", "cost", "not a number: 'n/a'")]
    assert [(r[0], r[1], r[7], r[8], r[9]) for r in rows] == [
        (date(2026, 10, 1), "historical", "infra_host", "committed", Decimal("1200.00")),
        (date(2026, 10, 1), "historical", "infra_host", "on_demand", Decimal("345.67")),
        (date(2026, 10, 1), "historical", "infra_host", "total", Decimal("1545.67")),
        (date(2026, 10, 1), "historical", "apm_host", "committed", Decimal("800")),
        (date(2026, 10, 1), "historical", "apm_host", "on_demand", Decimal("0.5")),
        (date(2026, 10, 1), "historical", "apm_host", "total", Decimal("800.5")),
        (date(2026, 11, 1), "estimated", "infra_host", "committed", Decimal("600")),
        (date(2026, 11, 1), "estimated", "infra_host", "on_demand", Decimal("99.99")),
        (date(2026, 11, 1), "estimated", "infra_host", "total", Decimal("699.99")),
    ]
    assert {r[2:7] for r in rows} == {("abcdef12345", "Acme", "abcdef12345", "Acme", "eu")}


def test_options_and_keys_are_checked():
    with pytest.raises(ValueError, match="options.view: expected one of \\['summary', 'sub-org'\\], got 'all'"):
        DatadogCostCollector("dd", {"view": "all"})
    with standard_api(DatadogApi()) as api:
        bad = DatadogCostCollector("dd-test", {"api_url": api.url}, clients={"api_key": "x", "app_key": "y"})
        with pytest.raises(CollectorError, match="source dd-test: historical_cost 2026-10: GET "
                                                 "/api/v2/usage/historical_cost failed with HTTP 403"):
            list(bad.collect(COST_CHARGES, OCT_NOV))


# -- usage summary ------------------------------------------------------------------------------------------------
IDENTITY = {"id", "name", "public_id", "region", "account_name", "account_public_id"}
SERVED_USAGE = {date(2026, 10, 1): OCTOBER_USAGE, date(2026, 11, 1): NOVEMBER_USAGE}


def expected_volumes() -> dict[tuple[date, str, str], Decimal]:
    """(month, organisation, field) -> value for every served integer field (the JSON numbers; null and text out)."""
    return {(month, org["public_id"], field): Decimal(value)
            for month, orgs in SERVED_USAGE.items() for org in orgs for field, value in org.items()
            if field not in IDENTITY and isinstance(value, int) and not isinstance(value, bool)}


def parts(charges, product=None) -> Decimal:
    """The committed + on-demand parts of the fixture's charges (the totals and the malformed one out)."""
    return sum((Decimal(c) for p, t, c in charges if t != "total" and c[0].isdigit() and product in (None, p)),
               Decimal(0))


def test_usage_summary_rows_are_the_served_numbers_per_month_org_and_field():
    waits: list[float] = []
    with standard_api(DatadogApi()) as api:
        api.usage_throttle = 1
        out = list(DatadogCostCollector("dd-test", {"api_url": api.url}, clients={
            "api_key": API_KEY, "app_key": APP_KEY, "sleep": waits.append}).collect(USAGE_SUMMARY, OCT_NOV))
    rows = [dict(zip(USAGE_SUMMARY.column_names, r, strict=True)) for r in out if not isinstance(r, Reject)]
    rejects = [r for r in out if isinstance(r, Reject)]
    assert api.requests == ["summary 2026-10", "summary 2026-10", "summary 2026-11"]  # the 429 retried once
    assert waits == [7.0]  # X-RateLimit-Reset (seconds) with X-RateLimit-Remaining: 0, not the 2 s backoff
    assert [{k: v[0] for k, v in q.items()} for q in api.usage_queries[1:]] == [
        {"start_month": m, "end_month": m, "include_org_details": "true"} for m in ("2026-10", "2026-11")]
    assert {(r["usage_month"], r["org_public_id"], r["usage_field"]): r["usage_value"] for r in rows} == \
        expected_volumes()
    assert len(rows) == len(expected_volumes())  # one row per month x organisation x field
    assert all(type(r["usage_value"]) is Decimal for r in rows)
    big = next(r for r in rows if r["usage_field"] == "ingested_events_bytes_sum" and r["org_name"] == "Acme")
    assert big["usage_value"] == Decimal(2**53 + 1)  # a float would have rounded it
    assert {(r["org_public_id"], r["org_name"], r["org_id"], r["region"], r["account_public_id"]) for r in rows} == {
        ("abcdef12345", "Acme", "abcdef12345-id", "eu", "abcdef12345"),
        ("fedcba54321", "Acme Staging", "fedcba54321-id", "eu", "abcdef12345")}
    assert not [r for r in rows if r["usage_field"] == "gcp_host_top99p"]  # null: no usage, no row
    assert [(r.dataset, r.record_ref, r.field, r.reason, r.at) for r in rejects] == [
        ("usage_summary", "usage summary 2026-10 usage[0].orgs[1] (org fedcba54321)", "apm_host_top99p",
         "not a number: 'twelve'", datetime(2026, 10, 1, tzinfo=UTC))]


class BothMonths(requests.Session):
    """A session that pushes end_month one month on: the server then answers October and November."""

    def request(self, method, url, params=None, **kwargs):
        if url.endswith("/api/v1/usage/summary"):
            params = {**params, "end_month": "2026-11"}
        return super().request(method, url, params=params, **kwargs)


def test_a_usage_entry_of_another_month_is_not_loaded_in_this_one():
    """Whether Datadog counts end_month in or not, only the month asked for is kept."""
    with standard_api(DatadogApi()) as api:
        out = list(DatadogCostCollector("dd-test", {"api_url": api.url}, clients={
            "api_key": API_KEY, "app_key": APP_KEY, "session": BothMonths()}).collect(
            USAGE_SUMMARY, Window.from_dates(date(2026, 10, 1), date(2026, 11, 1))))
    assert api.usage_queries[0]["end_month"] == ["2026-11"]
    assert {r[0] for r in out if not isinstance(r, Reject)} == {date(2026, 10, 1)}
    assert len([r for r in out if not isinstance(r, Reject)]) == len(
        [k for k in expected_volumes() if k[0] == date(2026, 10, 1)])


def test_usage_summary_option():
    assert DatadogCostCollector("dd", {}).datasets() == (COST_CHARGES, USAGE_SUMMARY)
    assert DatadogCostCollector("dd", {"usage_summary": False}).datasets() == (COST_CHARGES,)
    with pytest.raises(ValueError, match="options.usage_summary: expected true or false, got 'yes'"):
        DatadogCostCollector("dd", {"usage_summary": "yes"})


class Lines(logging.Handler):
    """Every log record of the process, formatted with its arguments (DEBUG included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()}")


@pytest.fixture
def loaded(empty_db, monkeypatch, capfd):
    """Both datasets loaded into PostgreSQL by the real loader, the keys read from an Airflow connection, every log
    record at DEBUG and the process's output captured; the usage summary answers its first call with a 429."""
    from airflow.providers.http.hooks.http import HttpHook

    monkeypatch.setenv("AIRFLOW_CONN_DATADOG_TEST", json.dumps({"conn_type": "http", "login": API_KEY,
                                                                "password": APP_KEY}))
    HttpHook.get_connection("datadog_test")  # Airflow configures its logging on first use: before our handler
    root, handler = logging.getLogger(), Lines()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    waits: list[float] = []
    try:
        with standard_api(DatadogApi()) as api:
            api.usage_throttle = 1
            collector = DatadogCostCollector("dd-test", {"api_url": api.url}, clients={"sleep": waits.append},
                                             context={"connection_id": "datadog_test"})
            with psycopg.connect(empty_db) as conn:
                result = Loader(conn, max_reject_ratio=0.2).load(collector, OCT_NOV)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    out, err = capfd.readouterr()
    yield {"url": empty_db, "result": result, "waits": waits, "requests": api.requests,
           "logs": "\n".join(handler.lines) + out + err}


def test_loaded_volumes_rejects_and_no_key_in_raw_tables_or_logs(loaded):
    url = loaded["url"]
    with psycopg.connect(url) as conn:
        volumes = conn.execute("""SELECT usage_month, org_public_id, usage_field, usage_value
                                  FROM raw.datadog_cost_usage_summary WHERE _source_id = 'dd-test'""").fetchall()
        rejects = conn.execute("""SELECT dataset, record_ref, field, reason, record_time FROM raw._rejects
                                  WHERE _source_id = 'dd-test' ORDER BY dataset""").fetchall()
        stored = conn.execute("""SELECT coalesce(string_agg(t::text, ' '), '') FROM raw.datadog_cost_usage_summary t
                                 UNION ALL SELECT coalesce(string_agg(t::text, ' '), '') FROM raw.datadog_cost_charges t
                                 UNION ALL SELECT coalesce(string_agg(r::text, ' '), '') FROM raw._rejects r
                              """).fetchall()
    assert {(m, o, f): v for m, o, f, v in volumes} == expected_volumes() and len(volumes) == len(expected_volumes())
    assert loaded["waits"] == [7.0] and loaded["requests"].count("summary 2026-10") == 2
    assert rejects == [
        ("cost_charges", "historical_cost 2026-10 data[0].charges[6]", "cost", "not a number: 'n/a'", None),
        ("usage_summary", "usage summary 2026-10 usage[0].orgs[1] (org fedcba54321)", "apm_host_top99p",
         "not a number: 'twelve'", datetime(2026, 10, 1, tzinfo=UTC))]
    assert "retry 1 of 6" in loaded["logs"] and "/api/v1/usage/summary" in loaded["logs"]  # the logs were captured,
    assert "urllib3.connectionpool DEBUG Starting new HTTP connection" in loaded["logs"]  # at DEBUG too
    for key in (API_KEY, APP_KEY):
        assert key not in loaded["logs"]
        assert all(key not in text for (text,) in stored)


def test_fct_datadog_usage_monthly_puts_volumes_beside_the_billed_cost(loaded, tmp_path):
    """dbt build of the staging models and the mart (their tests included). Each product's cost is the sum of the
    committed and on-demand parts Datadog reports (the fixture's, summed here), never its hosts x $15; the hosts are
    the usage summary's infra_host_top99p / apm_host_top99p of the same organisation; the sub-organisation has
    volumes and no cost (the cost view `summary` reports the account's cost on the parent)."""
    run_cli("transform", "--select", "+fct_datadog_usage_monthly", "--target-path", str(tmp_path / "dbt"),
            url=loaded["url"])
    with psycopg.connect(loaded["url"]) as conn:
        mart = conn.execute("""SELECT usage_month, org_public_id, product_name, usage_field, usage_unit,
                                      usage_quantity, billed_cost, committed_cost, on_demand_cost, is_estimated
                               FROM marts.fct_datadog_usage_monthly ORDER BY 1, 2, 3""").fetchall()
        staged = conn.execute("SELECT count(*) FROM staging.stg_datadog_cost__usage_summary").fetchone()[0]
    oct_, nov = date(2026, 10, 1), date(2026, 11, 1)
    hosts = expected_volumes()
    parent, sub = "abcdef12345", "fedcba54321"
    assert staged == len(expected_volumes())
    assert mart == [
        (oct_, parent, "apm_host", "apm_host_top99p", "hosts", hosts[oct_, parent, "apm_host_top99p"],
         parts(OCTOBER, "apm_host"), Decimal("800"), Decimal("0.5"), False),
        (oct_, parent, "infra_host", "infra_host_top99p", "hosts", hosts[oct_, parent, "infra_host_top99p"],
         parts(OCTOBER, "infra_host"), Decimal("1200.00"), Decimal("345.67"), False),
        # the sub-organisation: its hosts, no cost of its own; its apm_host_top99p was malformed (rejected)
        (oct_, sub, "infra_host", "infra_host_top99p", "hosts", hosts[oct_, sub, "infra_host_top99p"],
         None, None, None, None),
        (nov, parent, "apm_host", "apm_host_top99p", "hosts", hosts[nov, parent, "apm_host_top99p"],
         None, None, None, None),  # no APM charge in November's estimate yet
        (nov, parent, "infra_host", "infra_host_top99p", "hosts", hosts[nov, parent, "infra_host_top99p"],
         parts(NOVEMBER_ESTIMATE, "infra_host"), Decimal("600"), Decimal("99.99"), True),
    ]
    assert parts(OCTOBER, "infra_host") == Decimal("1545.67")
    assert parts(OCTOBER, "infra_host") != hosts[oct_, parent, "infra_host_top99p"] * 15  # the original bug's figure
    assert parts(NOVEMBER_ESTIMATE, "infra_host") != hosts[nov, parent, "infra_host_top99p"] * 15
