"""Billing-grade reconciliation (issue 4): third-party FOCUS samples and vendor-format API answers go from config
through the real collectors (credentials through the provider hooks and Airflow connections, vendors faked at the
network boundary), the real loader and a real ``dbt build`` into the marts. Every expected figure is computed here,
independently, from the files and the response bodies served (pandas / Decimal), never from our code.

Sources in this warehouse (its own database, so the demo warehouse stays demo-only):
- the three FOCUS 1.2 samples of ../shared/data (AWS, Azure, GCP; May 2026) through ``focus_file``;
- AWS Cost Explorer (moto server): a 3-page result for 2026-06-01..03, plus May 2026 aggregates for one linked
  account the AWS sample covers (the export must win: excluded) and one it does not (kept);
- Azure Cost Management Query API (local HTTPS fake): ActualCost and AmortizedCost for 2026-06-01..02, two pages;
- Google Cloud Billing export in BigQuery (BigQuery REST fake, service-account key through an Airflow
  ``google_cloud_platform`` connection): a standard usage cost export for May 2026, two projects, four days, with
  credits and tax lines, served in pages.

GCP has two line-item sources here (the FOCUS sample and the BigQuery export), and the precedence rule only drops API
aggregates: two line-item sources for the same project and month would both be counted. The export therefore uses a
billing account and projects the GCP sample does not have (as two real billing accounts would be), so every expected
figure is well defined: Google Cloud per day in May = sample + export, the export alone = its billing account.
"""

from __future__ import annotations

import json
import os
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import yaml

from collectors.core.base import Window
from openfinops import pipeline
from openfinops.config import load_config
from tests.conftest import SHARED_DATA, create_database, drop_database, run_cli
from tests.fakes.azure_cost_api import AzureCostApiFake, Page, make_tls_files
from tests.fakes.bigquery_api import FakeBigQuery
from tests.fakes.gcp_billing_export import (
    RESULT_SCHEMA,
    export_row,
    key_secrets,
    keyfile,
    query_result,
    service_account_key,
)
from tests.fakes.moto_server import MotoServer

SAMPLES = {"AWS": "aws", "Microsoft Azure": "azure", "Google Cloud": "gcp"}
MAY = Window.from_dates(date(2026, 5, 1), date(2026, 6, 1))
CE_JUNE = Window.from_dates(date(2026, 6, 1), date(2026, 6, 4))
CE_MAY = Window.from_dates(date(2026, 5, 10), date(2026, 5, 12))
AZ_JUNE = Window.from_dates(date(2026, 6, 1), date(2026, 6, 3))
COVERED_ACCOUNT = "200000000011"  # a SubAccountId of the AWS FOCUS sample
UNCOVERED_ACCOUNT = "666666666666"
SUBSCRIPTION = "5d1e0c2b-0000-4c00-8000-00000000abcd"
CENT = Decimal("0.01")
NANO = Decimal("0.000000001")
# GCP billing export: an account and projects the GCP FOCUS sample does not have (see the module docstring).
GCP_BILLING_ACCOUNT = "01C9D8-E7F6A5-B4C3D2"
GCP_TABLE = "finops-billing-2b7e.billing_export.gcp_billing_export_v1_01C9D8_E7F6A5_B4C3D2"
GCP_PROJECTS = (
    {"id": "retail-web-prod-3b1c", "number": "523456789012", "name": "Retail web production",
     "labels": (("team", "web"), ("env", "prod"))},
    {"id": "analytics-dw-9e4f", "number": "587654321098", "name": "Analytics warehouse", "labels": (("team", "data"),)},
)
GCP_DAYS = (date(2026, 5, 10), date(2026, 5, 11), date(2026, 5, 12), date(2026, 5, 31))  # the 31st: no sample line
GCP_PAGE_SIZE = 10


def sample_path(slug: str) -> Path:
    return SHARED_DATA / "focus-1.2" / f"focus_1_2_cost_and_usage_{slug}.csv"


def sample_totals() -> dict[tuple[str, date], list[Decimal]]:
    """(provider, UTC date of ChargePeriodStart) -> [BilledCost, EffectiveCost], summed with pandas + Decimal."""
    out: dict = {}
    for provider, slug in SAMPLES.items():
        frame = pd.read_csv(sample_path(slug), dtype=str, keep_default_na=False)
        frame["day"] = pd.to_datetime(frame["ChargePeriodStart"], utc=True).dt.date
        assert set(frame["ProviderName"]) == {provider}
        for day, group in frame.groupby("day"):
            out[(provider, day)] = [sum(map(Decimal, group["BilledCost"]), Decimal(0)),
                                    sum(map(Decimal, group["EffectiveCost"]), Decimal(0))]
    return out


# --- AWS Cost Explorer: GetCostAndUsage pages in the wire format (amounts are strings) -----------------------------
def ce_group(account: str, service: str, unblended: str, net_amortized: str) -> dict:
    return {"Keys": [account, service], "Metrics": {
        "UnblendedCost": {"Amount": unblended, "Unit": "USD"},
        "AmortizedCost": {"Amount": net_amortized, "Unit": "USD"},
        "NetAmortizedCost": {"Amount": net_amortized, "Unit": "USD"},
        "UsageQuantity": {"Amount": "10.0000000000", "Unit": "Hrs"}}}


def ce_page(days: list[tuple[str, list[dict]]], token: str | None = None) -> dict:
    body = {"GroupDefinitions": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
                                 {"Type": "DIMENSION", "Key": "SERVICE"}],
            "ResultsByTime": [{"TimePeriod": {"Start": day, "End": str(date.fromisoformat(day) + timedelta(days=1))},
                               "Total": {}, "Groups": groups, "Estimated": day == "2026-06-03"}
                              for day, groups in days]}
    if token:
        body["NextPageToken"] = token
    return body


CE_JUNE_PAGES = [
    ce_page([("2026-06-01", [ce_group("444444444444", "Amazon Elastic Compute Cloud - Compute", "120.1234567891",
                                      "101.0000000001"),
                             ce_group("444444444444", "Amazon Simple Storage Service", "15.5000000000",
                                      "15.5000000000")]),
             ("2026-06-02", [ce_group("555555555555", "AWS Lambda", "3.3333333333", "3.3333333333")])], "p2"),
    ce_page([("2026-06-02", [ce_group("444444444444", "Amazon Elastic Compute Cloud - Compute", "119.9999999999",
                                      "100.2500000000"),
                             ce_group("555555555555", "Amazon CloudWatch", "-4.1000000000", "-4.1000000000")])],
            "p3"),
    ce_page([("2026-06-03", [ce_group("444444444444", "Amazon Relational Database Service", "48.0000000007",
                                      "40.0000000000")])]),
]
CE_MAY_PAGES = [
    ce_page([("2026-05-10", [ce_group(COVERED_ACCOUNT, "Amazon Elastic Compute Cloud - Compute", "999.0000000000",
                                      "999.0000000000"),
                             ce_group(UNCOVERED_ACCOUNT, "Amazon Simple Storage Service", "7.2500000000",
                                      "7.0000000000")]),
             ("2026-05-11", [ce_group(UNCOVERED_ACCOUNT, "Amazon Simple Storage Service", "7.7500000000",
                                      "7.5000000000")])]),
]


def ce_totals(pages: list[dict], skip_accounts: tuple[str, ...] = ()) -> dict[tuple[str, date], list[Decimal]]:
    out: dict = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for page in pages:
        for result in page["ResultsByTime"]:
            day = date.fromisoformat(result["TimePeriod"]["Start"])
            for group in result["Groups"]:
                if group["Keys"][0] in skip_accounts:
                    continue
                out[("AWS", day)][0] += Decimal(group["Metrics"]["UnblendedCost"]["Amount"])
                out[("AWS", day)][1] += Decimal(group["Metrics"]["NetAmortizedCost"]["Amount"])
    return dict(out)


# --- Azure Query API: ActualCost and AmortizedCost, cost pass in two pages ------------------------------------------
AZ_COLUMNS = [{"name": n, "type": t} for n, t in (("Cost", "Number"), ("CostUSD", "Number"), ("UsageDate", "Number"),
                                                  ("ServiceName", "String"), ("ResourceGroupName", "String"),
                                                  ("Currency", "String"))]
AZ_ROWS = {  # cost type -> rows (Cost, CostUSD, UsageDate, ServiceName, ResourceGroupName, Currency)
    "ActualCost": [
        [Decimal("730.0000000000"), Decimal("730.0000000000"), 20260601, "Reserved Instances", "rg-batch", "USD"],
        [Decimal("12.345678901234"), Decimal("12.345678901234"), 20260601, "Storage", "rg-web", "USD"],
        [Decimal("88.10000000000003"), Decimal("88.10000000000003"), 20260602, "Virtual Machines", "rg-web", "USD"],
        [Decimal("-5.5"), Decimal("-5.5"), 20260602, "Azure App Service", "rg-legacy", "USD"],
    ],
    "AmortizedCost": [
        [Decimal("24.3333333333"), Decimal("24.3333333333"), 20260601, "Virtual Machines", "rg-batch", "USD"],
        [Decimal("12.345678901234"), Decimal("12.345678901234"), 20260601, "Storage", "rg-web", "USD"],
        [Decimal("24.3333333333"), Decimal("24.3333333333"), 20260602, "Virtual Machines", "rg-batch", "USD"],
        [Decimal("88.10000000000003"), Decimal("88.10000000000003"), 20260602, "Virtual Machines", "rg-web", "USD"],
        [Decimal("-5.5"), Decimal("-5.5"), 20260602, "Azure App Service", "rg-legacy", "USD"],
    ],
}


def azure_pages(body: dict) -> list[Page]:
    groups = tuple(g["name"] for g in body["dataset"]["grouping"])
    rows = AZ_ROWS[body["type"]]
    if groups == ("ServiceName", "ResourceGroupName"):
        return [Page(AZ_COLUMNS, rows[:2]), Page(AZ_COLUMNS, rows[2:])]
    # the breakdown pass (ServiceName x MeterCategory): the same spend re-sliced, never read by the cost model
    columns = [c if c["name"] != "ResourceGroupName" else {"name": "MeterCategory", "type": "String"}
               for c in AZ_COLUMNS]
    sliced: dict = defaultdict(Decimal)
    for cost, _, usage_date, service, _, _ in rows:
        sliced[(usage_date, service)] += cost
    return [Page(columns, [[cost, cost, day, service, service, "USD"] for (day, service), cost in sliced.items()])]


def azure_totals() -> dict[tuple[str, date], list[Decimal]]:
    out: dict = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for position, cost_type in enumerate(("ActualCost", "AmortizedCost")):
        for cost, _, usage_date, *_ in AZ_ROWS[cost_type]:
            day = date(usage_date // 10000, usage_date // 100 % 100, usage_date % 100)
            out[("Microsoft Azure", day)][position] += cost
    return dict(out)


# --- Google Cloud Billing export (BigQuery): export rows, served as the collector's query result ------------------
def gcp_export_rows() -> list[dict]:
    """Two projects x four days x three SKUs (at 03:00 and 23:00 UTC), nine-decimal costs, credits on Compute Engine
    (sustained use + committed use) and BigQuery (free tier), and one tax line per project and day."""
    rng = random.Random(20260510)
    skus = (
        (("6F81-5844-456A", "Compute Engine"), ("CF4E-A0C7-E3BF", "N2 Instance Core running in Americas"),
         (("SUSTAINED_USAGE_DISCOUNT", "Sustained Usage Discount"),
          ("COMMITTED_USAGE_DISCOUNT", "Committed Usage Discount: CPU"))),
        (("95FF-2EF5-5EA1", "Cloud Storage"), ("E5F0-6A5D-7BAD", "Standard Storage US Multi-region"), ()),
        (("24E6-581D-38E5", "BigQuery"), ("3362-E469-6BEF", "Analysis"), (("FREE_TIER", "Free tier"),)),
    )
    rows = []
    for day in GCP_DAYS:
        for project in GCP_PROJECTS:
            for service, sku, credit_kinds in skus:
                for hour in (3, 23):
                    cost = Decimal(rng.randrange(1, 60_000_000_000)) * NANO
                    credits = tuple((kind, name, -(cost * Decimal(rng.randrange(5, 40)) / 100).quantize(NANO))
                                    for kind, name in credit_kinds)
                    rows.append(export_row(
                        billing_account=GCP_BILLING_ACCOUNT, project=project, service=service, sku=sku,
                        start=datetime(day.year, day.month, day.day, hour, tzinfo=UTC), cost=cost, credits=credits,
                        labels=(("team", "web" if project is GCP_PROJECTS[0] else "data"),),
                        usage=(Decimal(rng.randrange(1, 10**9)) * NANO, "seconds",
                               Decimal(rng.randrange(1, 10**6)) * NANO, "hour")))
            rows.append(export_row(
                billing_account=GCP_BILLING_ACCOUNT, project=project, service=("", "Invoice"), sku=("", "Tax"),
                start=datetime(day.year, day.month, day.day, tzinfo=UTC), hours=24, cost=Decimal("1.234567891"),
                cost_type="tax", region=None))
    return rows


GCP_ROWS = gcp_export_rows()


def gcp_totals(rows: list[dict]) -> dict[tuple[str, date], list[Decimal]]:
    """Per (provider, usage day): cost + credits (credits negative), billed and effective alike (the standard export
    has no amortisation)."""
    out: dict = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in rows:
        net = row["cost"] + sum((c["amount"] for c in row["credits"]), Decimal(0))
        key = ("Google Cloud", row["usage_start_time"].date())
        out[key] = [out[key][0] + net, out[key][1] + net]
    return dict(out)


def add(*parts: dict) -> dict[tuple[str, date], list[Decimal]]:
    out: dict = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for part in parts:
        for key, values in part.items():
            out[key] = [a + b for a, b in zip(out[key], values, strict=True)]
    return dict(out)


@dataclass
class CloudWarehouse:
    url: str
    config: Path
    load_results: dict[str, list]
    dbt_output: str
    gcp_secrets: list[str]  # the service-account key id and key body lines, and the access tokens the fake issued
    gcp_pages: int  # getQueryResults calls the collector made


@pytest.fixture(scope="module")
def cloud_warehouse(tmp_path_factory) -> Iterator[CloudWarehouse]:
    tmp = tmp_path_factory.mktemp("cloud")
    (tmp / "tls").mkdir()
    tls = make_tls_files(tmp / "tls")
    url = create_database("ofo_cloud")
    saved = dict(os.environ)
    private_key, public_key = service_account_key()
    try:
        with MotoServer() as moto, AzureCostApiFake(tls) as azure, FakeBigQuery(public_key_pem=public_key) as bq:
            azure.pages_for = azure_pages
            bq.serve(RESULT_SCHEMA, query_result(GCP_ROWS))
            gcp_key = keyfile(bq.token_uri, private_key, "finops-billing-2b7e",
                              "recon-collector@finops-billing-2b7e.iam.gserviceaccount.com")
            os.environ["AIRFLOW_CONN_GCP_RECON"] = json.dumps({
                "conn_type": "google_cloud_platform",
                "extra": {"keyfile_dict": json.dumps(gcp_key), "project": "finops-billing-2b7e", "location": "US"}})
            os.environ["REQUESTS_CA_BUNDLE"] = tls.ca_bundle
            os.environ["AIRFLOW_CONN_AWS_RECON"] = json.dumps({
                "conn_type": "aws", "login": "AKIAIOSFODNN7EXAMPLE", "password": "recon-aws-secret",
                "extra": {"endpoint_url": moto.url, "region_name": "us-east-1"}})
            os.environ["AIRFLOW_CONN_AZURE_RECON"] = json.dumps({
                "conn_type": "azure", "login": azure.client_id, "password": azure.client_secret,
                "extra": {"tenantId": azure.tenant_id, "authority": azure.authority,
                          "disable_instance_discovery": True}})
            config = tmp / "cloud.yaml"
            config.write_text(yaml.safe_dump({
                "sources": [
                    *({"id": f"focus-{slug}-sample", "type": "focus_file",
                       "description": f"FOCUS 1.2 sample ({provider})",
                       "options": {"paths": [str(sample_path(slug))]}} for provider, slug in SAMPLES.items()),
                    {"id": "aws-ce", "type": "aws_cost_explorer", "connection_id": "aws_recon", "lookback_days": 0,
                     "options": {"extra_group_bys": []}},
                    {"id": "azure-query", "type": "azure_cost_query", "connection_id": "azure_recon",
                     "lookback_days": 0,
                     "options": {"scope": f"subscriptions/{SUBSCRIPTION}", "endpoint": azure.base_url}},
                    {"id": "gcp-billing", "type": "gcp_billing_export", "connection_id": "gcp_recon",
                     "lookback_days": 0,
                     "options": {"table": GCP_TABLE, "api_endpoint": bq.url, "page_size": GCP_PAGE_SIZE,
                                 "retry_initial_delay_seconds": 0.01}},
                ],
            }))
            cfg = load_config(config)
            results: dict[str, list] = defaultdict(list)
            with psycopg.connect(url) as conn:
                for slug in SAMPLES.values():  # a one-day window: the source widens it to the billing period
                    results[f"focus-{slug}-sample"].append(pipeline.collect(
                        cfg, f"focus-{slug}-sample", Window.from_dates(date(2026, 5, 20), date(2026, 5, 21)), conn))
                assert moto.post("/moto-api/static/ce/cost-and-usage-results",
                                 {"results": [*CE_JUNE_PAGES, *CE_MAY_PAGES]}) == 201
                results["aws-ce"].append(pipeline.collect(cfg, "aws-ce", CE_JUNE, conn))
                results["aws-ce"].append(pipeline.collect(cfg, "aws-ce", CE_MAY, conn))
                results["azure-query"].append(pipeline.collect(cfg, "azure-query", AZ_JUNE, conn))
                # A one-day window: the source widens it to the whole usage month (May).
                results["gcp-billing"].append(pipeline.collect(
                    cfg, "gcp-billing", Window.from_dates(date(2026, 5, 20), date(2026, 5, 21)), conn))
                # Re-running a window changes nothing (the loader replaces its slice).
                results["aws-ce"].append(pipeline.collect(cfg, "aws-ce", CE_JUNE, conn))
            proc = run_cli("--config", str(config), "transform", url=url, check=False)
            if proc.returncode != 0:
                pytest.fail(f"dbt build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
            secrets = [*key_secrets(gcp_key), *bq.issued_tokens]
            gcp_pages = [params for _, path, params in bq.requests if "/queries/" in path]
        yield CloudWarehouse(url, config, dict(results), proc.stdout, secrets, len(gcp_pages))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        drop_database(url)


def mart_totals(url: str, where: str = "true") -> dict[tuple[str, date], list[Decimal]]:
    with psycopg.connect(url) as conn:
        return {(p, d): [b, e] for p, d, b, e in conn.execute(
            f"SELECT provider_name, charge_date, sum(billed_cost), sum(effective_cost) FROM marts.fct_cost_daily "
            f"WHERE {where} GROUP BY 1, 2")}


def assert_equal_to_the_cent(actual: dict, expected: dict) -> None:
    assert set(actual) == set(expected)
    for key, values in expected.items():
        got = [v.quantize(CENT) for v in actual[key]]
        want = [v.quantize(CENT) for v in values]
        assert got == want, (key, got, want)


def test_dbt_build_passes_every_test_on_cloud_data(cloud_warehouse):
    summary = [line for line in cloud_warehouse.dbt_output.splitlines() if "Done. PASS=" in line][-1]
    assert "ERROR=0" in summary and "WARN=0" in summary, summary
    loads = cloud_warehouse.load_results
    assert [r.rows for r in loads["focus-aws-sample"]] == [1000]
    assert all(r.rejects == 0 for results in loads.values() for r in results)
    assert loads["aws-ce"][0].rows == loads["aws-ce"][2].rows == 6  # the re-run replaced the same 6 rows
    served = query_result(GCP_ROWS)
    assert [r.rows for r in loads["gcp-billing"]] == [len(served)]
    assert loads["gcp-billing"][0].window == MAY
    assert cloud_warehouse.gcp_pages == -(-len(served) // GCP_PAGE_SIZE)  # every page was read


def test_focus_samples_reconcile_per_provider_and_day_to_the_cent(cloud_warehouse):
    """Every sample: mart billed and effective cost per provider and charge day equal the pandas sums of the file.
    (May also holds the Cost Explorer aggregates of the one account no export covers, and the GCP billing export of
    another billing account; they are added in, each summed from what its fake served.)"""
    may = "charge_date >= '2026-05-01' AND charge_date < '2026-06-01'"
    expected = add(sample_totals(), ce_totals(CE_MAY_PAGES, skip_accounts=(COVERED_ACCOUNT,)), gcp_totals(GCP_ROWS))
    assert_equal_to_the_cent(mart_totals(cloud_warehouse.url, may), expected)


def test_cost_explorer_pages_reconcile_and_the_export_wins(cloud_warehouse):
    """The 3-page Cost Explorer result reconciles per day (billed = UnblendedCost, effective = NetAmortizedCost);
    the May aggregate of an account the FOCUS export covers is left out, the uncovered account's is kept."""
    june_aws = mart_totals(cloud_warehouse.url, "provider_name = 'AWS' AND charge_date >= '2026-06-01'")
    assert_equal_to_the_cent(june_aws, ce_totals(CE_JUNE_PAGES))
    with psycopg.connect(cloud_warehouse.url) as conn:
        kept = conn.execute("""SELECT sub_account_id, sum(billed_cost) FROM intermediate.int_focus_costs
                               WHERE source_id = 'aws-ce' AND charge_date < '2026-06-01' GROUP BY 1""").fetchall()
        raw = conn.execute("""SELECT count(*) FROM raw.aws_cost_explorer_cost_daily
                              WHERE linked_account_id = %s""", (COVERED_ACCOUNT,)).fetchone()[0]
    assert raw == 1  # loaded into raw, as delivered...
    assert kept == [(UNCOVERED_ACCOUNT, Decimal("15.0000000000"))]  # ...but only the uncovered account counts


def test_azure_query_reconciles_actual_and_amortized(cloud_warehouse):
    june_azure = mart_totals(cloud_warehouse.url, "provider_name = 'Microsoft Azure' AND charge_date >= '2026-06-01'")
    assert_equal_to_the_cent(june_azure, azure_totals())


def test_gcp_billing_export_reconciles_per_day_with_credits(cloud_warehouse):
    """The BigQuery export: mart billed and effective cost per provider and day for its billing account equal
    cost + credits of the export rows served (Decimal), to the cent; credits arrive as their own negative lines."""
    mart = mart_totals(cloud_warehouse.url, f"billing_account_id = '{GCP_BILLING_ACCOUNT}'")
    assert_equal_to_the_cent(mart, gcp_totals(GCP_ROWS))
    assert set(mart) == {("Google Cloud", day) for day in GCP_DAYS}
    credits: dict = defaultdict(Decimal)
    for row in GCP_ROWS:
        for credit in row["credits"]:
            credits[row["usage_start_time"].date()] += credit["amount"]
    with psycopg.connect(cloud_warehouse.url) as conn:
        lines = conn.execute("""SELECT charge_date, count(*), sum(billed_cost), sum(effective_cost),
                                       count(*) FILTER (WHERE billed_cost >= 0)
                                FROM intermediate.int_focus_costs
                                WHERE source_id = 'gcp-billing' AND charge_category = 'Credit' GROUP BY 1""").fetchall()
        projects = conn.execute("""SELECT DISTINCT sub_account_id FROM intermediate.int_focus_costs
                                   WHERE source_id = 'gcp-billing'""").fetchall()
    n_credits = defaultdict(int)
    for row in GCP_ROWS:
        n_credits[row["usage_start_time"].date()] += len(row["credits"])
    assert {d: (n, b, e, positive) for d, n, b, e, positive in lines} == {
        day: (n_credits[day], total, total, 0) for day, total in credits.items()}  # exact: numeric as delivered
    assert sorted(p for (p,) in projects) == sorted(p["id"] for p in GCP_PROJECTS)


def test_export_focus_round_trips_through_the_focus_file_source(cloud_warehouse, tmp_path, empty_db):
    """`openfinops export-focus` writes May as FOCUS 1.2; loading that file back through the focus_file source gives
    the same totals per provider and day as the marts (CSV and Parquet)."""
    from collectors.sources.focus_file import FocusFileCollector
    from openfinops.loader import Loader

    expected = mart_totals(cloud_warehouse.url, "charge_date >= '2026-05-01' AND charge_date < '2026-06-01'")
    for name in ("may.csv", "may.parquet"):
        out = tmp_path / name
        proc = run_cli("export-focus", "--start", "2026-05-01", "--end", "2026-06-01", "--out", str(out),
                       url=cloud_warehouse.url)
        assert f"to {out}" in proc.stdout
        with psycopg.connect(empty_db) as conn:
            result = Loader(conn).load(FocusFileCollector(f"round-trip-{out.suffix[1:]}", {"paths": [str(out)]}),
                                       MAY)
            assert result.rejects == 0
            loaded = {(p, d): [b, e] for p, d, b, e in conn.execute(
                """SELECT provider_name, (charge_period_start AT TIME ZONE 'UTC')::date, sum(billed_cost),
                          sum(effective_cost)
                   FROM raw.focus_cost_line_items WHERE _source_id = %s GROUP BY 1, 2""",
                (f"round-trip-{out.suffix[1:]}",))}
        assert loaded == expected  # exact: the export writes numeric as stored


def test_no_credential_in_raw_tables(cloud_warehouse):
    with psycopg.connect(cloud_warehouse.url) as conn:
        texts = [t for (t,) in conn.execute(
            "SELECT t::text FROM raw.aws_cost_explorer_cost_daily t UNION ALL "
            "SELECT t::text FROM raw.azure_cost_query_cost_daily t UNION ALL "
            "SELECT t::text FROM raw.gcp_billing_export_cost_lines t UNION ALL SELECT r::text FROM raw._rejects r")]
    assert texts
    assert cloud_warehouse.gcp_secrets
    for secret in ("recon-aws-secret", "fake-client-secret", *cloud_warehouse.gcp_secrets):
        assert all(secret not in text for text in texts)
