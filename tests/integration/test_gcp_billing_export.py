"""The gcp_billing_export collector against a fake BigQuery REST API (tests/fakes/bigquery_api.py), the real
google-cloud-bigquery client and google-auth's service-account JWT flow, and the real loader on PostgreSQL.

The test data are Cloud Billing export rows (nested, as the export table holds them); the fake returns what the
collector's query would make of them (one 'cost' row per export row, one 'credit' row per credit), in BigQuery's
wire format. Expected figures are Decimal sums over those export rows, computed here.
"""

from __future__ import annotations

import json
import logging
import math
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from collectors.core.base import CollectorError, Window
from collectors.sources.gcp_billing_export import COST_LINES, BillingExportCollector
from openfinops.loader import Loader
from tests.fakes.bigquery_api import FakeBigQuery
from tests.fakes.gcp_billing_export import RESULT_SCHEMA, query_result, service_account_key

TABLE = "example-billing.billing_export.gcp_billing_export_v1_0123AB_4567CD_89EF01"
BILLING_ACCOUNT = "0123AB-4567CD-89EF01"
SOURCE = "gcp-billing"
DAYS = (date(2026, 10, 5), date(2026, 10, 6), date(2026, 10, 7))
WINDOW = Window.from_dates(DAYS[0], DAYS[-1] + timedelta(days=1))
NANO = Decimal("0.000000001")

PROJECTS = (
    {"id": "shop-prod-7f3a", "number": "412345678901", "name": "Shop production",
     "labels": [{"key": "CostCenter", "value": "CC-100"}, {"key": "env", "value": "prod"}]},
    {"id": "ml-train-2c9d", "number": "498765432109", "name": "ML training",
     "labels": [{"key": "costcenter", "value": "cc-200"}]},
)
# (service id, description, sku id, sku description, unit, pricing unit, resource labels, credits)
SKUS = (
    ("6F81-5844-456A", "Compute Engine", "CF4E-A0C7-E3BF", "N2 Instance Core running in Americas", "seconds",
     "hour", [{"key": "Team", "value": "ML"}, {"key": "ENV", "value": "Prod"}],
     [("SUSTAINED_USAGE_DISCOUNT", "Sustained Usage Discount", "", ""),
      ("COMMITTED_USAGE_DISCOUNT", "Committed Usage Discount: CPU", "Committed Usage Discount: CPU", "")]),
    ("95FF-2EF5-5EA1", "Cloud Storage", "E5F0-6A5D-7BAD", "Standard Storage US Multi-region", "byte-seconds",
     "gibibyte month", [{"key": "team", "value": "data"}], []),
    ("24E6-581D-38E5", "BigQuery", "3362-E469-6BEF", "Analysis", "bytes", "tebibyte",
     [], [("FREE_TIER", "Free tier", "", "")]),
    ("152E-C115-5142", "Vertex AI", "D1C4-A5B3-0A5B", "Custom model training Nvidia A100 running in Iowa",
     "seconds", "hour", [{"key": "Team", "value": "ml"}],
     [("PROMOTION", "Free trial credit", "12-b34-c56-d78", "Free trial credit")]),
)


def export_rows() -> list[dict]:
    """Cloud Billing export rows for two projects, three days, four SKUs (two hours a day), with credits."""
    rng = random.Random(20261005)
    rows = []
    for day in DAYS:
        for project in PROJECTS:
            for service_id, service, sku_id, sku, unit, pricing_unit, labels, credits in SKUS:
                for hour in (3, 15):
                    start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
                    cost = Decimal(rng.randrange(1, 90_000_000_000)) * NANO  # up to 90.00, 9 decimals
                    row = {
                        "billing_account_id": BILLING_ACCOUNT,
                        "service": {"id": service_id, "description": service},
                        "sku": {"id": sku_id, "description": sku},
                        "usage_start_time": start, "usage_end_time": start + timedelta(hours=1),
                        "project": {"id": project["id"], "number": project["number"], "name": project["name"],
                                    "labels": project["labels"], "ancestry_numbers": "/1234567890/"},
                        "labels": labels,
                        "system_labels": [{"key": "compute.googleapis.com/machine_spec", "value": "n2-standard-8"}]
                        if service == "Compute Engine" else [],
                        "location": {"location": "us-central1", "country": "US", "region": "us-central1",
                                     "zone": "us-central1-a" if service == "Compute Engine" else None},
                        "export_time": start + timedelta(hours=7, minutes=rng.randrange(60)),
                        "cost": cost, "currency": "USD", "currency_conversion_rate": Decimal(1),
                        "usage": {"amount": Decimal(rng.randrange(1, 10**12)) * NANO, "unit": unit,
                                  "amount_in_pricing_units": Decimal(rng.randrange(1, 10**9)) * NANO,
                                  "pricing_unit": pricing_unit},
                        "credits": [{"type": kind, "name": name, "id": credit_id, "full_name": full_name,
                                     "amount": -(cost * Decimal(rng.randrange(5, 60)) / 100).quantize(NANO)}
                                    for kind, name, credit_id, full_name in credits],
                        "invoice": {"month": day.strftime("%Y%m"), "publisher_type": "GOOGLE"},
                        "cost_type": "regular", "adjustment_info": None,
                        "cost_at_list": (cost * Decimal("1.25")).quantize(NANO),
                    }
                    rows.append(row)
        # One tax line per day, on the first project (Google: one cost_type = tax line per project).
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        project = PROJECTS[0]
        rows.append({
            "billing_account_id": BILLING_ACCOUNT, "service": {"id": "", "description": "Invoice"},
            "sku": {"id": "", "description": "Tax"}, "usage_start_time": start,
            "usage_end_time": start + timedelta(days=1),
            "project": {"id": project["id"], "number": project["number"], "name": project["name"],
                        "labels": project["labels"], "ancestry_numbers": "/1234567890/"},
            "labels": [], "system_labels": [],
            "location": {"location": None, "country": None, "region": None, "zone": None},
            "export_time": start + timedelta(days=1, hours=2), "cost": Decimal("4.123456789"), "currency": "USD",
            "currency_conversion_rate": Decimal(1),
            "usage": {"amount": None, "unit": None, "amount_in_pricing_units": None, "pricing_unit": None},
            "credits": [], "invoice": {"month": day.strftime("%Y%m"), "publisher_type": "GOOGLE"},
            "cost_type": "tax", "adjustment_info": None, "cost_at_list": None,
        })
    return rows


def expected_totals(rows: list[dict]) -> list[tuple]:
    """(usage date, project, lines, net cost) from the export rows: cost + credits, credits negative."""
    sums: dict[tuple, tuple[int, Decimal]] = {}
    for row in rows:
        key = (row["usage_start_time"].date(), row["project"]["id"])
        n, total = sums.get(key, (0, Decimal(0)))
        sums[key] = (n + 1 + len(row["credits"]), total + row["cost"] + sum(c["amount"] for c in row["credits"]))
    return sorted((day, project, n, total) for (day, project), (n, total) in sums.items())


def raw_totals(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("""
            SELECT (usage_start_time AT TIME ZONE 'UTC')::date, project_id, count(*), sum(amount)
            FROM raw.gcp_billing_export_cost_lines GROUP BY 1, 2 ORDER BY 1, 2""").fetchall()


@pytest.fixture(scope="module")
def rsa_key() -> tuple[bytes, bytes]:
    """A throw-away service-account key pair, generated per test run (never committed)."""
    return service_account_key()


@pytest.fixture
def fake(rsa_key):
    with FakeBigQuery(public_key_pem=rsa_key[1]) as server:
        yield server


@pytest.fixture
def keyfile(fake, rsa_key) -> dict:
    return {"type": "service_account", "project_id": "example-billing", "private_key_id": uuid.uuid4().hex,
            "private_key": rsa_key[0].decode(), "client_email": "collector@example-billing.iam.gserviceaccount.com",
            "client_id": "109876543210987654321", "token_uri": fake.token_uri}


def injected_client(fake: FakeBigQuery, keyfile: dict):
    from google.cloud import bigquery
    from google.oauth2 import service_account

    credentials = service_account.Credentials.from_service_account_info(
        keyfile, scopes=["https://www.googleapis.com/auth/bigquery"])
    return bigquery.Client(project="example-billing", credentials=credentials, location="US",
                           client_options={"api_endpoint": fake.url})


def collector(fake: FakeBigQuery, keyfile: dict, **options) -> BillingExportCollector:
    options = {"table": TABLE, "retry_initial_delay_seconds": 0.01, **options}
    return BillingExportCollector(SOURCE, options, clients={"bigquery": injected_client(fake, keyfile)})


def test_rows_credits_and_pages_land_with_exact_totals(empty_db, fake, keyfile):
    rows = export_rows()
    result = query_result(rows)
    fake.serve(RESULT_SCHEMA, result)
    page_size = math.ceil(len(result) / 3)
    source = collector(fake, keyfile, page_size=page_size)
    window = source.align_window(WINDOW)
    with psycopg.connect(empty_db) as conn:
        loaded = Loader(conn).load(source, window)
    assert loaded.rows == len(result) and loaded.rejects == 0
    assert raw_totals(empty_db) == expected_totals(rows)
    # Served in 3 pages: the first getQueryResults call, then two with a pageToken.
    pages = [params for method, path, params in fake.requests if "/queries/" in path]
    assert len(pages) == 3 and [("pageToken" in p) for p in pages] == [False, True, True]
    assert {p["maxResults"] for p in pages} == {str(page_size)}
    with psycopg.connect(empty_db) as conn:
        credits = conn.execute("""SELECT count(*), sum(amount), count(*) FILTER (WHERE amount >= 0),
                                         count(DISTINCT line_key) FROM raw.gcp_billing_export_cost_lines
                                  WHERE line_type = 'credit'""").fetchone()
        keys = conn.execute("SELECT count(*), count(DISTINCT line_key) FROM raw.gcp_billing_export_cost_lines"
                            ).fetchone()
        tagged = conn.execute("""SELECT labels, project_labels, system_labels, jsonb_typeof(payload), cost_at_list,
                                        usage_amount, export_time
                                 FROM raw.gcp_billing_export_cost_lines
                                 WHERE line_type = 'cost' AND service_description = 'Compute Engine'
                                   AND project_id = 'shop-prod-7f3a' ORDER BY usage_start_time LIMIT 1""").fetchone()
        nine = conn.execute("""SELECT count(*) FROM raw.gcp_billing_export_cost_lines
                               WHERE amount <> round(amount, 8)""").fetchone()[0]
    all_credits = [c["amount"] for r in rows for c in r["credits"]]
    assert credits == (len(all_credits), sum(all_credits), 0, len(all_credits))
    assert keys[0] == keys[1] == len(result)
    first = next(r for r in rows if r["service"]["description"] == "Compute Engine")
    assert tagged[:4] == ({"Team": "ML", "ENV": "Prod"}, {"CostCenter": "CC-100", "env": "prod"},
                          {"compute.googleapis.com/machine_spec": "n2-standard-8"}, "object")
    assert tagged[4:] == (first["cost_at_list"], first["usage"]["amount"], first["export_time"])
    assert nine > len(result) // 2  # the 9th decimal survived (NUMERIC strings -> Decimal -> numeric)


def test_query_carries_window_parameters_and_partition_filter(fake, keyfile):
    fake.serve(RESULT_SCHEMA, [])
    aligned = collector(fake, keyfile)
    assert aligned.align_window(WINDOW) == Window.from_dates(date(2026, 10, 1), date(2026, 11, 1))
    assert list(aligned.collect(aligned.datasets()[0], aligned.align_window(WINDOW))) == []
    exact = collector(fake, keyfile, restate_invoice_months=False, partition_filter=False, detailed=True,
                      cost_at_list=False, location="EU", project="finops-jobs-1")
    assert exact.align_window(WINDOW) == WINDOW
    assert list(exact.collect(exact.datasets()[0], WINDOW)) == []
    month, window = fake.queries
    assert month.parameters == {"window_start": ("TIMESTAMP", "2026-10-01 00:00:00+00:00"),
                                "window_end": ("TIMESTAMP", "2026-11-01 00:00:00+00:00"),
                                "window_start_date": ("DATE", "2026-10-01")}
    assert month.use_legacy_sql is False and (month.project, month.location) == ("example-billing", "US")
    assert f"FROM `{TABLE}` AS e" in month.sql
    assert "e.usage_start_time >= @window_start" in month.sql and "e.usage_start_time < @window_end" in month.sql
    assert "DATE(e._PARTITIONTIME) >= DATE_SUB(@window_start_date, INTERVAL 1 DAY)" in month.sql
    assert "CROSS JOIN UNNEST(e.credits) AS credit WITH OFFSET AS credit_offset" in month.sql
    assert "CAST(e.cost AS NUMERIC) AS amount" in month.sql and "CAST(e.cost_at_list AS NUMERIC)" in month.sql
    assert "e.resource.name" not in month.sql
    assert window.parameters["window_start"] == ("TIMESTAMP", "2026-10-05 00:00:00+00:00")
    assert window.parameters["window_end"] == ("TIMESTAMP", "2026-10-08 00:00:00+00:00")
    assert "_PARTITIONTIME" not in window.sql and "e.resource.global_name AS resource_global_name" in window.sql
    assert "e.cost_at_list" not in window.sql
    assert (window.project, window.location) == ("finops-jobs-1", "EU")


def test_rate_limit_is_retried_and_not_found_fails_with_source_and_table(empty_db, fake, keyfile):
    rows = export_rows()
    result = query_result(rows)
    fake.serve(RESULT_SCHEMA, result)
    limited = "Exceeded rate limits: too many api requests per user per method for this user_method."
    fake.fail("insert", 403, "rateLimitExceeded", limited)
    fake.fail("results", 403, "rateLimitExceeded", limited, page=2)
    with psycopg.connect(empty_db) as conn:
        Loader(conn).load(collector(fake, keyfile, page_size=math.ceil(len(result) / 3)), WINDOW)
    assert raw_totals(empty_db) == expected_totals(rows)
    assert fake.calls("insert") == 2 and len(fake.queries) == 1  # the 403 attempt was retried
    page_two = [p for m, path, p in fake.requests if "/queries/" in path and "pageToken" in p]
    assert len(page_two) == 3  # page 2 twice (403, then the page), page 3 once

    missing = ("Not found: Table example-billing:billing_export.gcp_billing_export_v1_0123AB_4567CD_89EF01 was "
               "not found in location US")
    fake.fail("insert", 404, "notFound", missing, times=None)
    with pytest.raises(CollectorError) as err:
        list(collector(fake, keyfile).collect(COST_LINES, WINDOW))
    message = str(err.value)
    assert f"source {SOURCE}" in message and TABLE in message
    assert "HTTP 404" in message and "reason notFound" in message and "was not found in location US" in message

    quota = "Quota exceeded: Your project exceeded quota for free query bytes scanned."
    fake.clear_faults()
    fake.fail("insert", 403, "quotaExceeded", quota, times=None)
    before = fake.calls("insert")
    with pytest.raises(CollectorError, match="HTTP 403, reason quotaExceeded: .*Quota exceeded: Your project"):
        list(collector(fake, keyfile).collect(COST_LINES, WINDOW))
    assert fake.calls("insert") == before + 1  # quotaExceeded is not a retryable reason


def test_reload_replaces_the_window_and_keeps_totals(empty_db, fake, keyfile):
    rows = export_rows()
    fake.serve(RESULT_SCHEMA, query_result(rows))
    source = collector(fake, keyfile, page_size=25)
    with psycopg.connect(empty_db) as conn:
        first = Loader(conn).load(source, WINDOW)
        once = raw_totals(empty_db)
        second = Loader(conn).load(source, WINDOW)
        # A one-day re-load inside the window (a back-fill) serves that day's rows only.
        fake.serve(RESULT_SCHEMA, query_result([r for r in rows if r["usage_start_time"].date() == DAYS[1]]))
        Loader(conn).load(source, Window.from_dates(DAYS[1], DAYS[2]))
    assert second.datasets[0].deleted == first.rows == second.rows
    assert raw_totals(empty_db) == once == expected_totals(rows)


def test_row_without_amount_is_rejected_naming_page_row_and_field(empty_db, fake, keyfile):
    rows = export_rows()
    result = query_result(rows)
    result[30] = {**result[30], "amount": None}  # the second page's 6th row (page size 25)
    fake.serve(RESULT_SCHEMA, result)
    with psycopg.connect(empty_db) as conn:
        loaded = Loader(conn, max_reject_ratio=0.05).load(collector(fake, keyfile, page_size=25), WINDOW)
        rejects = conn.execute("SELECT dataset, record_ref, field, reason, raw_text FROM raw._rejects").fetchall()
        total = conn.execute("SELECT sum(amount) FROM raw.gcp_billing_export_cost_lines").fetchone()[0]
    assert (loaded.rows, loaded.rejects) == (len(result) - 1, 1)
    [(dataset, ref, field, reason, raw_text)] = rejects
    assert (dataset, field, reason) == ("cost_lines", "amount", "required field is missing (NULL)")
    assert ref == f"page 2 row 5 (export_row_key {result[30]['export_row_key']})"
    assert json.loads(raw_text)["export_row_key"] == result[30]["export_row_key"]
    assert total == sum(r["amount"] for r in result if r["amount"] is not None)


def test_airflow_connection_path_and_no_secret_in_tables_or_logs(empty_db, fake, keyfile, monkeypatch, caplog,
                                                                 capfd):
    rows = export_rows()
    fake.serve(RESULT_SCHEMA, query_result(rows, detailed=True))
    monkeypatch.setenv("AIRFLOW_CONN_GCP_BILLING", json.dumps({
        "conn_type": "google_cloud_platform",
        "extra": {"keyfile_dict": json.dumps(keyfile), "project": "example-billing", "location": "US"}}))
    source = BillingExportCollector(SOURCE, {"table": TABLE, "detailed": True, "api_endpoint": fake.url,
                                             "retry_initial_delay_seconds": 0.01},
                                    context={"connection_id": "gcp_billing"})
    caplog.set_level(logging.DEBUG)
    with psycopg.connect(empty_db) as conn:
        Loader(conn).load(source, WINDOW)
        resources = conn.execute("""SELECT count(*) FROM raw.gcp_billing_export_cost_lines
                                    WHERE resource_global_name LIKE '//compute.googleapis.com/projects/%'""").fetchone()
        dump = "\n".join(str(r) for r in conn.execute("SELECT t::text FROM raw.gcp_billing_export_cost_lines t"))
        dump += "\n".join(str(r) for r in conn.execute("SELECT t::text FROM raw._rejects t"))
    assert raw_totals(empty_db) == expected_totals(rows)
    assert resources[0] == len(query_result(rows))
    assert fake.issued_tokens and fake.queries[0].project == "example-billing"  # the JWT-bearer grant ran
    logs = caplog.text + "".join(capfd.readouterr())
    assert "gcp-billing" in logs  # the collector did log
    key_body = keyfile["private_key"].splitlines()[1:-1]
    secrets = [*fake.issued_tokens, keyfile["private_key_id"], *key_body]
    for secret in secrets:
        assert secret not in dump
        assert secret not in logs


def test_thirty_percent_of_calls_failing_at_random_changes_no_total(empty_db, fake, keyfile):
    """Seeded: 30 % of the BigQuery API calls (insert job, get job, result pages) answered 403 rateLimitExceeded,
    500 / 503 backendError or dropped. The client retries each; the totals equal the fault-free load's."""
    rows = export_rows()
    result = query_result(rows)
    fake.serve(RESULT_SCHEMA, result)
    page_size = math.ceil(len(result) / 5)
    with psycopg.connect(empty_db) as conn:
        Loader(conn).load(collector(fake, keyfile, page_size=page_size), WINDOW)
        clean = raw_totals(empty_db)
        conn.execute("TRUNCATE raw.gcp_billing_export_cost_lines")
        conn.commit()
        fake.fault_rate = 0.3
        Loader(conn).load(collector(fake, keyfile, page_size=page_size), WINDOW)
    print(f"\n[faults] {len(fake.faults_served)} injected: {fake.faults_served}")
    assert len(fake.faults_served) >= 3
    assert raw_totals(empty_db) == clean == expected_totals(rows)
