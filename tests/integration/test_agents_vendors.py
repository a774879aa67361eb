"""The vendor telemetry agents (Azure, Google Cloud, Databricks, Snowflake, SaaS) against the REAL ingest server on a
fresh PostgreSQL database, each vendor faked at the network boundary by the fakes of tests/fakes/ (the collectors'
real HTTP / BigQuery / Snowflake clients talk to them).

Shown here, per agent, for one cycle (``run_once``): what lands in raw.telemetry_cost_records (and
raw.telemetry_metrics where the agent pushes metrics) adds up, per provider and currency, to the Decimal sum and the
record count computed in this file from the fake's fixture data, filtered the way the agent's docstring says (Azure:
only ActualCost of the cost pass; Google Cloud: every cost line and credit line; Databricks: quantities and list
prices valid in the window as metrics, no cost; Snowflake: credits x contract price, or the organisation's billed
amounts of its own account only; SaaS: invoice lines net of discount, hourly / daily prices x quantity, GitHub's net
amount, Datadog's charges without the totals); a second cycle on unchanged vendor data delivers the same batch ids,
which the server acknowledges as already stored, and stores nothing new; and no secret given to an agent (client
secret, access token, service-account key, workspace token, API keys, presigned URL signature, the admin token)
appears in the captured logs (DEBUG), in the raw tables or in the spool."""

from __future__ import annotations

import logging
import random
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

import psycopg
import pytest

from agents.azure_telemetry_agent import AzureTelemetryAgent
from agents.base import CycleResult, TelemetryAgent
from agents.databricks_telemetry_agent import DatabricksTelemetryAgent
from agents.gcp_telemetry_agent import GCPTelemetryAgent
from agents.saas_services_telemetry_agent import SaaSServicesTelemetryAgent
from agents.snowflake_telemetry_agent import SnowflakeTelemetryAgent
from tests.fakes import databricks_api, datadog_api, github_api, mongodb_atlas_api, redis_cloud_api, snowflake_api
from tests.fakes.azure_cost_api import AzureCostApiFake, Page, make_tls_files
from tests.fakes.bigquery_api import FakeBigQuery
from tests.fakes.gcp_billing_export import RESULT_SCHEMA, export_row, key_secrets, keyfile, query_result
from tests.fakes.gcp_billing_export import service_account_key as new_service_account_key
from tests.servers import Server

ADMIN = "vendor-agents-admin-token-5d2f"


@pytest.fixture(scope="module")
def warehouse():
    from tests.conftest import create_database, drop_database

    url = create_database("ofo_vendor_agents")
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
def server(warehouse):
    s = Server(warehouse_url=warehouse, admin_token=ADMIN)
    yield s
    s.stop()


def rows(url: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def costs(warehouse: str, agent_id: str) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """(provider, currency) -> (records, Decimal sum of cost) of what the agent pushed."""
    found = rows(
        warehouse,
        "SELECT provider_name, currency, count(*), sum(cost) FROM raw.telemetry_cost_records "
        "WHERE _agent_id = %s GROUP BY 1, 2",
        agent_id,
    )
    return {(p, c): (n, total) for p, c, n, total in found}


def metrics(warehouse: str, agent_id: str) -> dict[str, tuple[int, Decimal]]:
    """metric name -> (records, Decimal sum of value) of what the agent pushed."""
    found = rows(
        warehouse,
        "SELECT metric_name, count(*), sum(metric_value) FROM raw.telemetry_metrics WHERE _agent_id = %s GROUP BY 1",
        agent_id,
    )
    return {name: (n, total) for name, n, total in found}


def stored(warehouse: str, agent_id: str) -> tuple:
    """Everything the server holds for the agent: batches, cost records, metrics (counts and sums)."""
    return rows(
        warehouse,
        """SELECT (SELECT count(*) FROM raw.telemetry_batches WHERE agent_id = %s),
                  (SELECT count(*) FROM raw.telemetry_cost_records WHERE _agent_id = %s),
                  (SELECT sum(cost) FROM raw.telemetry_cost_records WHERE _agent_id = %s),
                  (SELECT count(*) FROM raw.telemetry_metrics WHERE _agent_id = %s),
                  (SELECT sum(metric_value) FROM raw.telemetry_metrics WHERE _agent_id = %s)""",
        *[agent_id] * 5,
    )[0]


def two_cycles(agent: TelemetryAgent, warehouse: str, caplog) -> CycleResult:
    """Register, run one cycle (everything delivered), run a second one on the same vendor data: the same batch ids,
    each answered as already stored, and nothing new in the warehouse. Returns the first cycle's result."""
    assert agent.register_agent()
    first = agent.run_once()
    assert first.ok and first.delivered, first
    assert len(set(first.delivered)) == len(first.delivered)
    before = stored(warehouse, agent.agent_id)
    assert before[0] == len(first.delivered)
    mark = len(caplog.records)
    second = agent.run_once()
    assert second.ok and sorted(second.delivered) == sorted(first.delivered)
    again = [r.getMessage() for r in caplog.records[mark:]]
    for batch_id in first.delivered:
        assert f"batch {batch_id} delivered (already stored)" in again
    assert stored(warehouse, agent.agent_id) == before
    assert not agent.spool.pending() and not list(agent.spool.rejected.iterdir())
    return first


def assert_no_secret(secrets: list[str], agent: TelemetryAgent, warehouse: str, caplog) -> None:
    """None of the secrets in the logs captured so far, the agent's raw rows, its spool files or its repr."""
    assert len(caplog.records) > 20 and any("record(s)" in r.getMessage() for r in caplog.records)  # it did log
    logs = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    dump = "\n".join(
        text
        for table, column in (
            ("telemetry_cost_records", "_agent_id"),
            ("telemetry_metrics", "_agent_id"),
            ("telemetry_batches", "agent_id"),
            ("telemetry_agents", "agent_id"),
        )
        for (text,) in rows(warehouse, f"SELECT t::text FROM raw.{table} t WHERE {column} = %s", agent.agent_id)
    )
    assert agent.agent_id in dump
    spooled = "\n".join(p.read_text() for p in agent.spool.root.rglob("*") if p.is_file())
    for secret in [*secrets, ADMIN]:
        assert secret and secret not in logs and secret not in dump and secret not in spooled
        assert secret not in repr(agent)


def dec(value) -> Decimal:
    """A JSON number of a fixture (as the vendor writes it on the wire) as a Decimal: its text, never its binary."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


# -- Azure: Cost Management Query API (HTTPS) and an Entra ID token endpoint ----------------------------------------
AZURE_SUBSCRIPTION = "5f1c7a2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
AZURE_SECRET = "azureClientSECRET~neverLogged.7Qx-v2"
AZURE_DAYS = (date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3))  # the agent's 3 days before Nov 4
AZURE_COLUMNS = {
    name: {"name": name, "type": kind}
    for name, kind in (
        ("Cost", "Number"),
        ("CostUSD", "Number"),
        ("UsageDate", "Number"),
        ("ServiceName", "String"),
        ("ResourceGroupName", "String"),
        ("MeterCategory", "String"),
        ("Currency", "String"),
    )
}
AZURE_USAGE = (
    ("Virtual Machines", "rg-web"),
    ("Virtual Machines", "rg-batch"),
    ("Storage", "rg-data"),
    ("Azure SQL Database", "rg-data"),
    ("Azure OpenAI", "rg-ml"),
)


def azure_lines(cost_type: str) -> list[tuple[date, str, str, Decimal]]:
    """(day, service, resource group, EUR) per day: usage with 14 decimals; ActualCost has the reservation purchase
    on day 1 (no resource group) and a refund on day 2; AmortizedCost spreads the purchase (other figures)."""
    rng = random.Random(f"azure-{cost_type}")
    lines = []
    for n, day in enumerate(AZURE_DAYS):
        lines += [(day, s, rg, Decimal(rng.randint(10**13, 9 * 10**16)).scaleb(-14)) for s, rg in AZURE_USAGE]
        if cost_type == "ActualCost" and n == 0:
            lines.append((day, "Virtual Machines", "", Decimal("1460.0000")))
        if cost_type == "ActualCost" and n == 1:
            lines.append((day, "Azure App Service", "rg-legacy", Decimal("-15.2035")))
        if cost_type == "AmortizedCost":
            lines.append((day, "Virtual Machines", "rg-batch", Decimal("48.6666666666666667")))
    return lines


def azure_row(day: date, cost: Decimal, order: list[str], **dimensions: str) -> list:
    values = {
        "Cost": cost,
        "CostUSD": (cost * Decimal("1.0862")).quantize(Decimal("1E-12")),
        "UsageDate": int(day.strftime("%Y%m%d")),
        "Currency": "EUR",
        **dimensions,
    }
    return [values[name] for name in order]


def azure_pages(body: dict) -> list[Page]:
    """The answer to a query: the cost pass in two pages (columns in another order on the second), the meter pass
    (the same spend per service and meter category) in one."""
    lines = azure_lines(body["type"])
    groups = tuple(g["name"] for g in body["dataset"]["grouping"])
    if groups == ("ServiceName", "ResourceGroupName"):
        order = ["Cost", "CostUSD", "UsageDate", "ServiceName", "ResourceGroupName", "Currency"]
        pages = []
        for cols, chunk in ((order, lines[:7]), (order[::-1], lines[7:])):
            page_rows = [azure_row(d, c, cols, ServiceName=s, ResourceGroupName=rg) for d, s, rg, c in chunk]
            pages.append(Page([AZURE_COLUMNS[c] for c in cols], page_rows))
        return pages
    if groups == ("ServiceName", "MeterCategory"):
        order = ["Cost", "CostUSD", "UsageDate", "ServiceName", "MeterCategory", "Currency"]
        sums: dict[tuple[date, str], Decimal] = {}
        for d, s, _, c in lines:
            sums[(d, s)] = sums.get((d, s), Decimal(0)) + c
        meter_rows = [azure_row(d, c, order, ServiceName=s, MeterCategory=s) for (d, s), c in sums.items()]
        return [Page([AZURE_COLUMNS[c] for c in order], meter_rows)]
    raise AssertionError(f"unexpected grouping {groups}")


def test_the_azure_agent_pushes_the_actual_cost_of_the_cost_pass_exactly(
    server, warehouse, tmp_path, monkeypatch, caplog
):
    from azure.identity import ClientSecretCredential

    caplog.set_level(logging.DEBUG)
    tls = make_tls_files(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_bundle)  # requests (ours and msal's) trust the fake
    with AzureCostApiFake(tls, client_secret=AZURE_SECRET) as fake:
        fake.pages_for = azure_pages
        credential = ClientSecretCredential(
            fake.tenant_id,
            fake.client_id,
            AZURE_SECRET,
            authority=fake.authority,
            disable_instance_discovery=True,
        )
        agent = AzureTelemetryAgent(
            server.url,
            AZURE_SUBSCRIPTION,
            credential=credential,
            endpoint_url=fake.base_url,
            admin_token=ADMIN,
            spool_dir=tmp_path / "spool",
            now=lambda: datetime(2026, 11, 4, 6, 30, tzinfo=UTC),
        )
        first = two_cycles(agent, warehouse, caplog)
        queries = fake.query_requests()
    assert len(first.delivered) == 1
    # per cycle 4 queries (ActualCost / AmortizedCost x cost / meter pass), 6 requests (the cost passes: 2 pages)
    assert len(queries) == 2 * 6 and {r.body["type"] for r in queries} == {"ActualCost", "AmortizedCost"}
    billed = azure_lines("ActualCost")  # only what is invoiced, only the cost pass
    assert costs(warehouse, agent.agent_id) == {("Azure", "EUR"): (len(billed), sum(c for *_, c in billed))}
    assert len(billed) == 17 and sum(c for *_, c in billed).as_tuple().exponent == -14
    per_day = rows(
        warehouse,
        """SELECT (charge_period_start AT TIME ZONE 'UTC')::date, sum(cost), count(DISTINCT account_id),
                  min(account_id), count(*) FILTER (WHERE coalesce(resource_id, '') = '')
           FROM raw.telemetry_cost_records WHERE _agent_id = %s GROUP BY 1 ORDER BY 1""",
        agent.agent_id,
    )
    assert per_day == [
        (day, sum(c for d, *_, c in billed if d == day), 1, AZURE_SUBSCRIPTION, int(day == AZURE_DAYS[0]))
        for day in AZURE_DAYS
    ]
    assert metrics(warehouse, agent.agent_id) == {}
    assert_no_secret([AZURE_SECRET, fake.access_token], agent, warehouse, caplog)


# -- Google Cloud: the Cloud Billing export through a fake BigQuery API and google-auth's JWT flow --------------------
GCP_TABLE = "example-billing.billing_export.gcp_billing_export_v1_0123AB_4567CD_89EF01"
GCP_DAYS = (date(2026, 10, 5), date(2026, 10, 6), date(2026, 10, 7))  # the agent's 3 days before Oct 8
GCP_PROJECTS = (
    {"id": "shop-prod-7f3a", "number": "412345678901", "name": "Shop production", "labels": [("env", "prod")]},
    {"id": "ml-train-2c9d", "number": "498765432109", "name": "ML training", "labels": []},
)
GCP_SKUS = (  # (service, sku, credits (type, name))
    (("6F81-5844-456A", "Compute Engine"), ("CF4E-A0C7-E3BF", "N2 Instance Core running in Americas"),
     (("SUSTAINED_USAGE_DISCOUNT", "Sustained Usage Discount"), ("PROMOTION", "Free trial credit"))),
    (("95FF-2EF5-5EA1", "Cloud Storage"), ("E5F0-6A5D-7BAD", "Standard Storage US Multi-region"), ()),
    (("24E6-581D-38E5", "BigQuery"), ("3362-E469-6BEF", "Analysis"), (("FREE_TIER", "Free tier"),)),
)  # fmt: skip
NANO = Decimal("0.000000001")


def gcp_export_rows() -> list[dict]:
    """Export rows: two projects x three SKUs x two hours a day (costs with 9 decimals, credits negative), and one
    tax line a day."""
    rng = random.Random(20261005)
    out = []
    for day in GCP_DAYS:
        for project in GCP_PROJECTS:
            for service, sku, credit_kinds in GCP_SKUS:
                for hour in (3, 15):
                    cost = Decimal(rng.randrange(1, 90_000_000_000)) * NANO
                    credits = tuple(
                        (kind, name, -(cost * Decimal(rng.randrange(5, 60)) / 100).quantize(NANO))
                        for kind, name in credit_kinds
                    )
                    out.append(
                        export_row(
                            billing_account="0123AB-4567CD-89EF01",
                            project=project,
                            service=service,
                            sku=sku,
                            start=datetime(day.year, day.month, day.day, hour, tzinfo=UTC),
                            cost=cost,
                            credits=credits,
                            labels=(("team", "ml" if project["id"].startswith("ml") else "web"),),
                            usage=(Decimal(rng.randrange(1, 10**12)) * NANO, "seconds", Decimal(1), "hour"),
                        )
                    )
        out.append(
            export_row(
                billing_account="0123AB-4567CD-89EF01",
                project=GCP_PROJECTS[0],
                service=("", "Invoice"),
                sku=("", "Tax"),
                start=datetime(day.year, day.month, day.day, tzinfo=UTC),
                cost=Decimal("4.123456789"),
                cost_type="tax",
                hours=24,
                region=None,
            )
        )
    return out


def test_the_gcp_agent_pushes_every_cost_and_credit_line_exactly(server, warehouse, tmp_path, caplog):
    from google.cloud import bigquery
    from google.oauth2 import service_account

    caplog.set_level(logging.DEBUG)
    private_key, public_key = new_service_account_key()
    export = gcp_export_rows()
    with FakeBigQuery(public_key_pem=public_key) as fake:
        fake.serve(RESULT_SCHEMA, query_result(export))
        key = keyfile(fake.token_uri, private_key, "example-billing", "agent@example-billing.iam.gserviceaccount.com")
        credentials = service_account.Credentials.from_service_account_info(
            key, scopes=["https://www.googleapis.com/auth/bigquery"]
        )
        client = bigquery.Client(
            project="example-billing",
            credentials=credentials,
            location="US",
            client_options={"api_endpoint": fake.url},
        )
        agent = GCPTelemetryAgent(
            server.url,
            "example-billing",
            billing_table=GCP_TABLE,
            bigquery_client=client,
            admin_token=ADMIN,
            spool_dir=tmp_path / "spool",
            now=lambda: datetime(2026, 10, 8, 5, tzinfo=UTC),
        )
        first = two_cycles(agent, warehouse, caplog)
        asked = fake.queries
        issued = list(fake.issued_tokens)
    assert len(first.delivered) == 1 and issued  # the JWT-bearer grant ran
    # the window the agent asked for: its 3 days, not widened to the invoice month (restate_invoice_months off)
    assert {q.parameters["window_start"] for q in asked} == {("TIMESTAMP", "2026-10-05 00:00:00+00:00")}
    assert {q.parameters["window_end"] for q in asked} == {("TIMESTAMP", "2026-10-08 00:00:00+00:00")}
    credits = [c["amount"] for r in export for c in r["credits"]]
    lines = [r["cost"] for r in export] + credits  # the net cost: cost lines plus (negative) credit lines
    assert costs(warehouse, agent.agent_id) == {("Google Cloud", "USD"): (len(lines), sum(lines))}
    assert (len(export), len(credits)) == (36 + 3, 36) and sum(lines).as_tuple().exponent == -9  # 3 tax lines
    assert rows(
        warehouse,
        """SELECT tags->>'line_type', count(*), sum(cost), count(usage_quantity) FROM raw.telemetry_cost_records
           WHERE _agent_id = %s GROUP BY 1 ORDER BY 1""",
        agent.agent_id,
    ) == [
        ("cost", len(export), sum(r["cost"] for r in export), len(export) - len(GCP_DAYS)),  # tax: no usage
        ("credit", len(credits), sum(credits), 0),
    ]
    per_project = rows(
        warehouse,
        "SELECT account_id, sum(cost) FROM raw.telemetry_cost_records WHERE _agent_id = %s GROUP BY 1 ORDER BY 1",
        agent.agent_id,
    )
    assert per_project == sorted(
        (
            p["id"],
            sum(r["cost"] + sum(c["amount"] for c in r["credits"]) for r in export if r["project"]["id"] == p["id"]),
        )
        for p in GCP_PROJECTS
    )
    assert metrics(warehouse, agent.agent_id) == {}
    assert_no_secret([*key_secrets(key), *issued], agent, warehouse, caplog)


# -- Databricks: the SQL Statement Execution API of a workspace, system.billing tables -------------------------------
DATABRICKS_START, DATABRICKS_END = datetime(2026, 10, 13, tzinfo=UTC), datetime(2026, 10, 17, tzinfo=UTC)


def test_the_databricks_agent_pushes_usage_quantities_and_list_prices_exactly(server, warehouse, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with databricks_api.DatabricksApi(chunk_rows=3) as workspace:
        workspace.usage = databricks_api.usage_rows()
        workspace.list_prices = databricks_api.list_prices()
        agent = DatabricksTelemetryAgent(
            server.url,
            databricks_host=workspace.url,
            databricks_token=databricks_api.TOKEN,
            workspace_name="analytics-prod",
            warehouse_id=databricks_api.WAREHOUSE,
            lookback_days=4,
            admin_token=ADMIN,
            spool_dir=tmp_path / "spool",
            now=lambda: datetime(2026, 10, 17, 6, tzinfo=UTC),
        )
        first = two_cycles(agent, warehouse, caplog)
        presigned = [r for r in workspace.requests if r.startswith("GET /presigned/")]
        assert presigned and workspace.link_auth_headers == 0  # results read from presigned links, without the token
    assert len(first.delivered) == 2  # usage, list prices
    usage = [r for r in databricks_api.usage_rows() if DATABRICKS_START <= r["usage_start_time"] < DATABRICKS_END]
    prices = [
        Decimal(p["pricing"].get("effective_list", {}).get("default") or p["pricing"]["default"])
        for p in databricks_api.list_prices()
        if p["price_start_time"] < DATABRICKS_END
        and (p["price_end_time"] is None or p["price_end_time"] > DATABRICKS_START)
    ]
    assert metrics(warehouse, agent.agent_id) == {
        "databricks_usage_quantity": (len(usage), sum(r["usage_quantity"] for r in usage)),
        "databricks_list_price": (len(prices), sum(prices)),
    }
    assert len(usage) == 8 and len(prices) == 4  # Oct 20's record is outside the window
    labelled = rows(
        warehouse,
        """SELECT labels->>'record_id', labels->>'record_type', metric_value, unit, observed_at
           FROM raw.telemetry_metrics WHERE _agent_id = %s AND metric_name = 'databricks_usage_quantity'
             AND labels->>'workspace' = 'analytics-prod' ORDER BY 1""",
        agent.agent_id,
    )
    assert labelled == sorted(
        (r["record_id"], r["record_type"], r["usage_quantity"], r["usage_unit"], r["usage_start_time"]) for r in usage
    )
    assert costs(warehouse, agent.agent_id) == {}  # no cost: Databricks bills usage x price, joined in dbt
    assert_no_secret([databricks_api.TOKEN, "presignedsecret"], agent, warehouse, caplog)


# -- Snowflake: fakesnow's server behind the real snowflake-connector-python ------------------------------------------
SNOWFLAKE_ACCOUNT = "xy12345.us-east-1"  # the identifier the agent's docstring shows: locator.region
SNOWFLAKE_NOW = datetime(2026, 10, 17, 6, tzinfo=UTC)  # with lookback_days=4: Oct 13..16, the whole fixture


@pytest.fixture(scope="module")
def snowflake():
    with snowflake_api.SnowflakeApi() as api:
        api.insert("metering_daily_history", snowflake_api.metering_daily())
        api.insert("warehouse_metering_history", snowflake_api.warehouse_hours())
        api.insert("storage_usage", snowflake_api.storage_days())
        api.insert("usage_in_currency_daily", snowflake_api.usage_in_currency_daily())
        yield api


def snowflake_metrics() -> dict[str, tuple[int, Decimal]]:
    """The credit and byte metrics of the fixture, by name (every fixture day is in the window)."""
    metering, hours, storage = (
        snowflake_api.metering_daily(),
        snowflake_api.warehouse_hours(),
        snowflake_api.storage_days(),
    )
    columns = {"credits_used_compute": 2, "credits_used_cloud_services": 3, "credits_billed": 6}
    out = {f"snowflake_{name}": (len(metering), sum(r[i] for r in metering)) for name, i in columns.items()}
    out["snowflake_warehouse_credits_used"] = (len(hours), sum(r[4] for r in hours))
    for name, i in (("storage_bytes", 1), ("stage_bytes", 2), ("failsafe_bytes", 3)):
        out[f"snowflake_{name}"] = (len(storage), Decimal(sum(r[i] for r in storage)))
    return out


def test_the_snowflake_agent_pushes_credits_and_credits_times_the_contract_price(
    server, warehouse, snowflake, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG, logger="agents")
    agent = SnowflakeTelemetryAgent(
        server.url,
        SNOWFLAKE_ACCOUNT,
        edition="enterprise",
        credit_price="2.61",
        currency="EUR",
        connect=snowflake.connect,
        lookback_days=4,
        admin_token=ADMIN,
        spool_dir=tmp_path / "spool",
        now=lambda: SNOWFLAKE_NOW,
    )
    first = two_cycles(agent, warehouse, caplog)
    assert len(first.delivered) == 3  # metering, storage, warehouse-hours
    metering = snowflake_api.metering_daily()
    billed = [r[6] * Decimal("2.61") for r in metering]
    assert costs(warehouse, agent.agent_id) == {("Snowflake", "EUR"): (len(billed), sum(billed))}
    assert metrics(warehouse, agent.agent_id) == snowflake_metrics()
    assert rows(
        warehouse,
        """SELECT DISTINCT tags->>'price_basis', tags->>'credit_price', usage_unit FROM raw.telemetry_cost_records
           WHERE _agent_id = %s""",
        agent.agent_id,
    ) == [("contract", "2.61", "credits")]


def test_the_snowflake_agent_pushes_the_billed_amounts_of_its_own_account_only(
    server, warehouse, snowflake, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG, logger="agents")
    agent = SnowflakeTelemetryAgent(
        server.url,
        SNOWFLAKE_ACCOUNT,
        edition="enterprise",
        credit_price="2.61",  # set too: with usage_in_currency no credits x price record may count the spend twice
        usage_in_currency=True,
        connect=snowflake.connect,
        lookback_days=4,
        admin_token=ADMIN,
        spool_dir=tmp_path / "spool",
        now=lambda: SNOWFLAKE_NOW,
    )
    first = two_cycles(agent, warehouse, caplog)
    assert len(first.delivered) == 4
    # the organisation's rows of this account (locator XY12345), not ACME_DEV's (XY99999); column 10 = the amount
    own = [r for r in snowflake_api.usage_in_currency_daily() if r[3] == SNOWFLAKE_ACCOUNT.split(".")[0].upper()]
    assert len(own) == 9 and {r[9] for r in own} == {"USD"}
    assert costs(warehouse, agent.agent_id) == {("Snowflake", "USD"): (len(own), sum(r[10] for r in own))}
    assert rows(
        warehouse, "SELECT DISTINCT account_id FROM raw.telemetry_cost_records WHERE _agent_id = %s", agent.agent_id
    ) == [("ACME_PROD",)]
    assert metrics(warehouse, agent.agent_id) == snowflake_metrics()


# -- SaaS: MongoDB Atlas (digest auth), Redis Cloud, GitHub, Datadog in one agent -------------------------------------
SAAS_NOW = datetime(2026, 11, 2, 6, tzinfo=UTC)  # 3 days: Oct 30..Nov 1; the month-billed ones read Oct and Nov
SAAS_DAYS = (date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 1))
SAAS_MONTHS = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
GITHUB_ITEMS = {  # (date, product, sku, quantity, unit, price, gross, discount, net, repository)
    (2026, 10): [
        ("2026-10-02", "Actions", "Actions Linux", "1520", "minutes", "0.008", "12.160", "0", "12.160", "shop/api"),
        ("2026-10-02", "Actions", "Actions macOS 3-core", "310", "minutes", "0.062", "19.220", "3.844", "15.376",
         "shop/ios"),
        ("2026-10-15", "Copilot", "Copilot Business", "7", "user-months", "19", "133.00", "0", "133.00", None),
    ],
    (2026, 11): [
        ("2026-11-01", "Actions", "Actions Linux", "88", "minutes", "0.008", "0.704", "0.704", "0", "shop/api"),
        ("2026-11-01", "Packages", "Packages storage", "2.5", "gigabyte-hours", "0.0333", "0.08325", "0", "0.08325",
         None),
    ],
}  # fmt: skip
REDIS_DAILY = {  # a subscription of ours beside Redis's fixture: a daily price with many digits
    "id": 98767,
    "name": "queue-us",
    "status": "active",
    "subscriptionPricing": [
        {"type": "Shards", "databaseName": "jobs", "quantity": 3, "quantityMeasurement": "shards",
         "pricePerUnit": 1.3725, "priceCurrency": "USD", "pricePeriod": "day"},
    ],
    "cloudDetails": [{"provider": "AWS", "cloudAccountId": 4}],
}  # fmt: skip


def github_item(item: tuple) -> str:
    """A usage item as GitHub writes it: numbers as JSON numbers of exactly the fixture's digits."""
    day, product, sku, quantity, unit, price, gross, discount, net, repository = item
    repo = f', "repositoryName": "{repository}"' if repository else ""
    return (
        f'{{"date": "{day}T00:00:00Z", "product": "{product}", "sku": "{sku}", "quantity": {quantity}, '
        f'"unitType": "{unit}", "pricePerUnit": {price}, "grossAmount": {gross}, "discountAmount": {discount}, '
        f'"netAmount": {net}, "organizationName": "shop-org"{repo}}}'
    )


def saas_expected() -> dict[tuple[str, str], tuple[int, Decimal]]:
    """(provider, currency) -> (records, sum) from the fixtures, filtered as the agent's docstring says."""
    atlas = [
        (dec(line["totalPriceCents"]) - dec(line.get("discountCents", 0))) / 100
        for invoice in mongodb_atlas_api.october_invoices()
        for line in invoice["lineItems"]
        if SAAS_MONTHS[0] <= datetime.fromisoformat(line["startDate"]) < SAAS_MONTHS[1]
        and isinstance(line["quantity"], int | float)  # the fixture's malformed line ("twenty") is rejected
    ]
    redis = [
        dec(item["quantity"]) * dec(item["pricePerUnit"]) * (24 if item["pricePeriod"] == "hour" else 1)
        for sub in [*redis_cloud_api.vendor_subscriptions(), REDIS_DAILY]
        for item in sub["subscriptionPricing"]
        if isinstance(item.get("pricePerUnit"), int | float) and item.get("pricePeriod") in ("hour", "day")
        for _ in SAAS_DAYS
    ]
    github = [Decimal(item[8]) for items in GITHUB_ITEMS.values() for item in items]

    def charged(cost: str) -> Decimal | None:
        try:
            return Decimal(cost)
        except InvalidOperation:  # the fixture's malformed charge ("n/a") is rejected
            return None

    datadog = [
        charged(cost)
        for charges in (datadog_api.OCTOBER, datadog_api.NOVEMBER_ESTIMATE)
        for _, charge_type, cost in charges
        if charge_type != "total" and charged(cost) is not None
    ]
    return {
        (provider, "USD"): (len(amounts), sum(amounts))
        for provider, amounts in (("MongoDB", atlas), ("Redis", redis), ("GitHub", github), ("Datadog", datadog))
    }


def test_the_saas_agent_pushes_each_vendors_bill_exactly_and_keeps_every_key_secret(
    server, warehouse, tmp_path, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    subscriptions = [*redis_cloud_api.vendor_subscriptions(), REDIS_DAILY]
    with (
        mongodb_atlas_api.AtlasApi(mongodb_atlas_api.october_invoices(), page_size=1) as atlas,
        redis_cloud_api.RedisCloudApi(subscriptions) as redis,
        github_api.GithubApi(github_api.TOKEN, "shop-org") as github,
        datadog_api.standard_api(datadog_api.DatadogApi()) as datadog,
    ):
        for month, items in GITHUB_ITEMS.items():
            github.months[month] = [github_item(i) for i in items]
        monkeypatch.setenv("OFO_TEST_SAAS_GITHUB_TOKEN", github_api.TOKEN)
        config = {
            "mongodb_atlas": {
                "enabled": True,
                "public_key": mongodb_atlas_api.PUBLIC_KEY,
                "private_key": mongodb_atlas_api.PRIVATE_KEY,
                "org_id": mongodb_atlas_api.ORG,
                "api_url": atlas.url,
            },
            "redis_cloud": {
                "enabled": True,
                "api_key": redis_cloud_api.API_KEY,
                "secret_key": redis_cloud_api.SECRET_KEY,
                "api_url": redis.url,
            },
            "github_actions": {
                "enabled": True,
                "token": "${OFO_TEST_SAAS_GITHUB_TOKEN}",
                "org_name": "shop-org",
                "api_url": github.url,
            },
            "datadog": {
                "enabled": True,
                "api_key": datadog_api.API_KEY,
                "app_key": datadog_api.APP_KEY,
                "api_url": datadog.url,
            },
        }
        agent = SaaSServicesTelemetryAgent(
            server.url, config=config, admin_token=ADMIN, spool_dir=tmp_path / "spool", now=lambda: SAAS_NOW
        )
        first = two_cycles(agent, warehouse, caplog)
        assert atlas.challenges >= 1  # digest authentication ran
    assert len(first.delivered) == 4  # one batch per service
    expected = saas_expected()
    assert costs(warehouse, agent.agent_id) == expected
    assert [n for n, _ in expected.values()] == [6, 6, 5, 6]
    assert expected[("Redis", "USD")][1] == 3 * (Decimal("2.4") + Decimal("4.1175"))
    # Redis's monthly-priced item: not spread over days as a cost, pushed as its quantity per day
    assert metrics(warehouse, agent.agent_id) == {"redis_cloud_quantity": (len(SAAS_DAYS), 2 * len(SAAS_DAYS))}
    discounted = rows(
        warehouse,
        """SELECT cost, tags->>'list_cost' FROM raw.telemetry_cost_records
           WHERE _agent_id = %s AND provider_name = 'MongoDB' AND usage_unit = 'GB days'""",
        agent.agent_id,
    )
    assert discounted == [(Decimal("10.00"), "12.05")]  # net of the discount, the list cost kept as a tag
    assert_no_secret(
        [
            mongodb_atlas_api.PRIVATE_KEY,
            redis_cloud_api.SECRET_KEY,
            github_api.TOKEN,
            datadog_api.APP_KEY,
            datadog_api.API_KEY,
        ],
        agent,
        warehouse,
        caplog,
    )
