"""Every cloud collector type from a config file through its real ``collect_<source_id>`` DAG (``dag.test``) into raw,
then a real ``dbt build`` of the unified cost model; and an Azure Query API source that stays throttled, retried by
the collector and then failing its own task with a message naming the source while another source's DAG loads.

Vendors are faked at the network boundary and reached through Airflow connections (``AIRFLOW_CONN_<ID>``), one
connection, with its own secret, per source:

- focus-aws-file (focus_file): the AWS FOCUS 1.2 sample (May 2026), a local file; no connection;
- aws-focus-export (aws_data_export): moto S3, the AWS sample moved to June 2026 as two gzipped CSV parts listed by
  the Data Exports manifest; ``aws`` connection (access key + secret, extra endpoint_url) through S3Hook;
- aws-ce (aws_cost_explorer): moto Cost Explorer, a two-page GetCostAndUsage result for 2026-06-01..02 queued at
  ``/moto-api/static/ce/cost-and-usage-results``; its own ``aws`` connection through AwsBaseHook;
- azure-query (azure_cost_query): the HTTPS fake of the Query API and the Entra ID token endpoint, ActualCost and
  AmortizedCost for 2026-06-01..02 (cost pass in two pages); ``azure`` connection (client id + secret, tenantId);
- azure-focus-export (azure_cost_export): the Blob REST fake, the Azure FOCUS 1.2 sample (May 2026) as one export
  run (manifest + two gzipped CSV parts); ``wasb`` connection (connection string with the account key);
- gcp-billing (gcp_billing_export): the BigQuery REST fake and OAuth token endpoint, a standard usage cost export for
  2026-06-01..02 with credits; ``google_cloud_platform`` connection (keyfile_dict) through BigQueryHook.

BigQueryHook is pointed at the fake through the connection itself: the service-account key's ``token_uri`` is the
fake's token endpoint (google-auth's JWT-bearer grant runs against it); the BigQuery REST endpoint is the source's
``api_endpoint`` option (the Google provider's connection has no endpoint field; the collector passes the option to
``google.cloud.bigquery.Client`` as ``client_options``).

No spend is shared between sources (other accounts, subscriptions, projects or months), so every source's
figures in ``int_focus_costs`` are its own, and the precedence rule (exports win over API aggregates of the same
account and month) keeps every API row. Expected figures are computed here from what each fake serves (pandas /
Decimal), never from our code.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pandas as pd
import psycopg
import pytest
import yaml

from openfinops.config import load_config
from tests.conftest import ROOT, SHARED_DATA, create_database, drop_database, run_cli
from tests.fakes.azure_cost_api import AzureCostApiFake, Page, azure_error, make_tls_files
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
from tests.fakes.object_store import ObjectStoreFake, serve_object_store
from tests.focus_file_expected import SAMPLES, pandas_totals, raw_totals, read_strings

SAMPLE = SHARED_DATA / "focus-1.2" / "focus_1_2_cost_and_usage_aws.csv"
MAY = (datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC))
JUNE = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
JUNE_1_2 = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 3, tzinfo=UTC))

# -- AWS: S3 Data Export and Cost Explorer (moto), one connection each ----------------------------------------------
EXPORT_KEY, EXPORT_SECRET = "AKIADAGEXPORT0000001", "dag-s3-export-secret-7Qm2x9Lr4Tz8"
CE_KEY, CE_SECRET = "AKIADAGCOSTEXPLORER1", "dag-cost-explorer-secret-Vn3k8Pw1Hs6"
BUCKET, PREFIX, EXPORT = "dag-billing-exports", "cur/focus", "focus-daily"
CE_RESULTS = "/moto-api/static/ce/cost-and-usage-results"
# -- Azure: Query API (HTTPS fake) and Blob export (object-store fake) ----------------------------------------------
AZURE_QUERY_SECRET = "dag-azure-query-secret-Xc7Jd2Qv9Rb5"
SUBSCRIPTION = "9a7b6c5d-0000-4c00-8000-0000000da9d0"
STORAGE_ACCOUNT, CONTAINER, DIRECTORY = "dagfinopsexports", "cost-exports", "billing/focus"
ACCOUNT_KEY = base64.b64encode(b"dag-azure-storage-account-key-3f9c").decode()
EXPORT_RUN = "5ca1ab1e-0000-4000-8000-0000000da901"
# -- GCP: BigQuery export (BigQuery fake) ---------------------------------------------------------------------------
GCP_PROJECT = "dag-billing-4c2e"
GCP_TABLE = f"{GCP_PROJECT}.billing_export.gcp_billing_export_v1_0A1B2C_3D4E5F_6A7B8C"
NANO = Decimal("0.000000001")


def june(frame: pd.DataFrame) -> pd.DataFrame:
    """The sample moved one billing period later (its charge days are all before the 29th)."""
    return frame.map(lambda v: v.replace("2026-06-01T", "2026-07-01T").replace("2026-05-", "2026-06-"))


def csv_gz(frame: pd.DataFrame) -> bytes:
    return gzip.compress(frame.to_csv(index=False).encode())


# --- Cost Explorer: GetCostAndUsage pages in the wire format (amounts are decimal strings) ------------------------
def ce_group(account: str, service: str, unblended: str, net_amortized: str) -> dict:
    return {"Keys": [account, service], "Metrics": {
        "UnblendedCost": {"Amount": unblended, "Unit": "USD"},
        "AmortizedCost": {"Amount": net_amortized, "Unit": "USD"},
        "NetAmortizedCost": {"Amount": net_amortized, "Unit": "USD"},
        "UsageQuantity": {"Amount": "24.0000000000", "Unit": "Hrs"}}}


def ce_page(days: list[tuple[str, list[dict]]], token: str | None = None) -> dict:
    body = {"GroupDefinitions": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
                                 {"Type": "DIMENSION", "Key": "SERVICE"}],
            "ResultsByTime": [{"TimePeriod": {"Start": day, "End": str(date.fromisoformat(day) + timedelta(days=1))},
                               "Total": {}, "Groups": groups, "Estimated": day == "2026-06-02"}
                              for day, groups in days]}
    if token:
        body["NextPageToken"] = token
    return body


# Accounts no FOCUS source here covers (the AWS sample's are 2000000000xx), so the precedence rule keeps every row.
CE_PAGES = [
    ce_page([("2026-06-01", [ce_group("777777777777", "Amazon Elastic Compute Cloud - Compute", "210.4567891234",
                                      "180.1111111111"),
                             ce_group("777777777777", "Amazon Simple Storage Service", "12.0000000001",
                                      "12.0000000001")]),
             ("2026-06-02", [ce_group("888888888888", "AWS Lambda", "0.3333333333", "0.3333333333")])], "p2"),
    ce_page([("2026-06-02", [ce_group("777777777777", "Amazon Elastic Compute Cloud - Compute", "209.9999999999",
                                      "179.5000000000"),
                             ce_group("888888888888", "Amazon CloudWatch", "-2.2500000000", "-2.2500000000")])]),
]
CE_GROUPS = [g for page in CE_PAGES for r in page["ResultsByTime"] for g in r["Groups"]]


# --- Azure Query API: cost pass (ServiceName x ResourceGroupName) in two pages, meter pass in one -----------------
AZ_COLUMNS = [{"name": n, "type": t} for n, t in (("Cost", "Number"), ("CostUSD", "Number"), ("UsageDate", "Number"),
                                                  ("ServiceName", "String"), ("ResourceGroupName", "String"),
                                                  ("Currency", "String"))]
AZ_ROWS = {  # cost type -> rows (Cost, CostUSD, UsageDate, ServiceName, ResourceGroupName, Currency)
    "ActualCost": [
        [Decimal("365.0000000000"), Decimal("365.0000000000"), 20260601, "Reserved Instances", "rg-dag", "USD"],
        [Decimal("7.654321098765"), Decimal("7.654321098765"), 20260601, "Storage", "rg-dag-web", "USD"],
        [Decimal("42.20000000000001"), Decimal("42.20000000000001"), 20260602, "Virtual Machines", "rg-dag-web",
         "USD"],
    ],
    "AmortizedCost": [
        [Decimal("12.1666666667"), Decimal("12.1666666667"), 20260601, "Virtual Machines", "rg-dag", "USD"],
        [Decimal("7.654321098765"), Decimal("7.654321098765"), 20260601, "Storage", "rg-dag-web", "USD"],
        [Decimal("12.1666666667"), Decimal("12.1666666667"), 20260602, "Virtual Machines", "rg-dag", "USD"],
        [Decimal("42.20000000000001"), Decimal("42.20000000000001"), 20260602, "Virtual Machines", "rg-dag-web",
         "USD"],
    ],
}


def azure_pages(body: dict) -> list[Page]:
    groups = tuple(g["name"] for g in body["dataset"]["grouping"])
    rows = AZ_ROWS[body["type"]]
    if groups == ("ServiceName", "ResourceGroupName"):
        return [Page(AZ_COLUMNS, rows[:2]), Page(AZ_COLUMNS, rows[2:])]
    # the meter pass (ServiceName x MeterCategory): the same spend re-sliced, one row per (day, service)
    columns = [c if c["name"] != "ResourceGroupName" else {"name": "MeterCategory", "type": "String"}
               for c in AZ_COLUMNS]
    sliced: dict = defaultdict(Decimal)
    for cost, _, usage_date, service, _, _ in rows:
        sliced[(usage_date, service)] += cost
    return [Page(columns, [[cost, cost, day, service, service, "USD"] for (day, service), cost in sliced.items()])]


def azure_meter_rows(cost_type: str) -> int:
    return len({(usage_date, service) for _, _, usage_date, service, _, _ in AZ_ROWS[cost_type]})


# --- Azure Cost Management export (FOCUS) in Blob Storage ---------------------------------------------------------
def put_azure_export(frame: pd.DataFrame) -> None:
    """One completed run of May 2026: two gzipped CSV partitions and the run's manifest.json."""
    folder = f"{DIRECTORY}/{EXPORT}/20260501-20260531/{EXPORT_RUN}"
    parts = {"part_0_0001.csv.gz": csv_gz(frame.iloc[:550]), "part_1_0001.csv.gz": csv_gz(frame.iloc[550:])}
    for name, body in parts.items():
        ObjectStoreFake.objects[(CONTAINER, f"{folder}/{name}")] = body
    manifest = {
        "manifestVersion": "2024-04-01", "byteCount": sum(map(len, parts.values())), "blobCount": len(parts),
        "dataRowCount": len(frame),
        "exportConfig": {"exportName": EXPORT, "type": "FocusCost", "dataVersion": "1.0r2",
                         "apiVersion": "2023-07-01-preview", "timeFrame": "MonthToDate", "granularity": "Daily"},
        "deliveryConfig": {"partitionData": True, "dataOverwriteBehavior": "CreateNewReport", "fileFormat": "Csv",
                           "compressionMode": "gzip", "rootFolderPath": DIRECTORY},
        "runInfo": {"executionType": "Scheduled", "submittedTime": "2026-06-02T03:58:10.5512301Z",
                    "runId": EXPORT_RUN, "startDate": "2026-05-01T00:00:00", "endDate": "2026-05-31T00:00:00"},
        "blobs": [{"blobName": f"{folder}/{name}", "byteCount": len(body)} for name, body in parts.items()],
    }
    ObjectStoreFake.objects[(CONTAINER, f"{folder}/manifest.json")] = json.dumps(manifest).encode()


# --- AWS Data Export (FOCUS) in S3 --------------------------------------------------------------------------------
def put_aws_export(s3: Any, frame: pd.DataFrame) -> None:
    """June 2026: two gzipped CSV parts of one execution, listed by the period's manifest."""
    base = f"{PREFIX}/{EXPORT}"
    keys = [f"{base}/data/BILLING_PERIOD=2026-06/20260702T035901Z-93b2/{EXPORT}-0000{i}.csv.gz" for i in (1, 2)]
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=keys[0], Body=csv_gz(frame.iloc[:400]))
    s3.put_object(Bucket=BUCKET, Key=keys[1], Body=csv_gz(frame.iloc[400:]))
    manifest = {"executionId": "93b2", "columns": [{"name": c, "type": "string"} for c in frame.columns],
                "exportArn": "arn:aws:bcm-data-exports:us-east-1:123456789012:export/focus-daily-0dag",
                "dataFiles": [f"s3://{BUCKET}/{k}" for k in keys]}
    s3.put_object(Bucket=BUCKET, Key=f"{base}/metadata/BILLING_PERIOD=2026-06/{EXPORT}-Manifest.json",
                  Body=json.dumps(manifest).encode())


# --- GCP billing export (BigQuery) --------------------------------------------------------------------------------
def gcp_export_rows() -> list[dict]:
    """One project, 2026-06-01..02, Compute Engine (sustained use credit) and BigQuery (free tier credit)."""
    project = {"id": "dag-shop-prod-5e7a", "number": "634567890123", "name": "DAG shop", "labels": (("env", "prod"),)}
    rows = []
    for day, costs in ((1, ("41.123456789", "3.000000001")), (2, ("39.987654321", "2.500000000"))):
        for hour in (4, 16):
            start = datetime(2026, 6, day, hour, tzinfo=UTC)
            compute, bigquery = Decimal(costs[0]) + hour * NANO, Decimal(costs[1])
            rows.append(export_row(billing_account="0A1B2C-3D4E5F-6A7B8C", project=project,
                                   service=("6F81-5844-456A", "Compute Engine"),
                                   sku=("CF4E-A0C7-E3BF", "N2 Instance Core running in Americas"), start=start,
                                   cost=compute, credits=(("SUSTAINED_USAGE_DISCOUNT", "Sustained Usage Discount",
                                                           -(compute * Decimal("0.2")).quantize(NANO)),)))
            rows.append(export_row(billing_account="0A1B2C-3D4E5F-6A7B8C", project=project,
                                   service=("24E6-581D-38E5", "BigQuery"), sku=("3362-E469-6BEF", "Analysis"),
                                   start=start, cost=bigquery,
                                   credits=(("FREE_TIER", "Free tier", -bigquery),)))
    return rows


GCP_ROWS = gcp_export_rows()


def gcp_net(rows: list[dict]) -> Decimal:
    return sum((r["cost"] + sum((c["amount"] for c in r["credits"]), Decimal(0)) for r in rows), Decimal(0))


# --- the module's warehouse, fakes, connections and DAGs ----------------------------------------------------------
@dataclass
class CloudDags:
    url: str
    config: Path
    dags: dict[str, Any]
    secrets: dict[str, list[str]]  # source id -> the credentials its connection holds (or the fake issued)
    frames: dict[str, pd.DataFrame]  # source id -> the FOCUS rows its fake serves
    dbt_target: Path
    azure: AzureCostApiFake
    gcp_tokens: list[str]  # the access tokens the BigQuery fake issued (filled as the collector authenticates)
    runs: dict[str, Any] = field(default_factory=dict)
    logical_dates: dict[str, datetime] = field(default_factory=dict)
    run_conf: dict[str, dict] = field(default_factory=dict)

    def run(self, source_id: str):
        """``dag.test`` of the source's collect DAG, once per module (the dbt test reuses the runs)."""
        if source_id not in self.runs:
            self.runs[source_id] = self.dags[source_id].test(logical_date=self.logical_dates[source_id],
                                                             run_conf=self.run_conf.get(source_id))
        return self.runs[source_id]

    def all_secrets(self) -> list[str]:
        return [s for values in self.secrets.values() for s in values] + self.gcp_tokens


@pytest.fixture(scope="module")
def every_cloud(airflow_db, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("every-cloud")
    (tmp / "tls").mkdir()
    tls = make_tls_files(tmp / "tls")
    url = create_database("ofo_dag_cloud")
    private_key, public_key = service_account_key()
    aws_june, azure_may = june(read_strings(SAMPLES["aws"])), read_strings(SAMPLES["azure"])
    with (pytest.MonkeyPatch.context() as env, MotoServer() as moto, serve_object_store() as blob_endpoint,
          AzureCostApiFake(tls, client_secret=AZURE_QUERY_SECRET) as azure,
          FakeBigQuery(public_key_pem=public_key) as bq):
        moto.reset()  # moto's state is per process: start from (and leave) an empty CE result queue
        try:
            put_aws_export(boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1",
                                        aws_access_key_id=EXPORT_KEY, aws_secret_access_key=EXPORT_SECRET), aws_june)
            assert moto.post(CE_RESULTS, {"results": CE_PAGES}) == 201
            azure.pages_for = azure_pages
            put_azure_export(azure_may)
            bq.serve(RESULT_SCHEMA, query_result(GCP_ROWS))
            gcp_key = keyfile(bq.token_uri, private_key, GCP_PROJECT,
                              f"dag-collector@{GCP_PROJECT}.iam.gserviceaccount.com")

            env.setenv("REQUESTS_CA_BUNDLE", tls.ca_bundle)
            env.setenv("AIRFLOW_CONN_OPENFINOPS_WAREHOUSE", url)
            connections = {
                "aws_export_dag": {"conn_type": "aws", "login": EXPORT_KEY, "password": EXPORT_SECRET,
                                   "extra": {"endpoint_url": moto.url, "region_name": "us-east-1"}},
                "aws_ce_dag": {"conn_type": "aws", "login": CE_KEY, "password": CE_SECRET,
                               "extra": {"endpoint_url": moto.url, "region_name": "us-east-1"}},
                "azure_query_dag": {"conn_type": "azure", "login": azure.client_id, "password": azure.client_secret,
                                    "extra": {"tenantId": azure.tenant_id, "authority": azure.authority,
                                              "disable_instance_discovery": True}},
                "azure_export_dag": {"conn_type": "wasb", "extra": {
                    "connection_string": f"DefaultEndpointsProtocol=http;AccountName={STORAGE_ACCOUNT};"
                                         f"AccountKey={ACCOUNT_KEY};BlobEndpoint={blob_endpoint}/{STORAGE_ACCOUNT};"}},
                "gcp_billing_dag": {"conn_type": "google_cloud_platform", "extra": {
                    "keyfile_dict": json.dumps(gcp_key), "project": GCP_PROJECT, "location": "US"}},
            }
            for conn_id, conn in connections.items():
                env.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))

            config = tmp / "every-cloud.yaml"
            config.write_text(yaml.safe_dump({"sources": [
                {"id": "focus-aws-file", "type": "focus_file", "lookback_days": 0,
                 "options": {"paths": [str(SAMPLE)]}},
                {"id": "aws-focus-export", "type": "aws_data_export", "connection_id": "aws_export_dag",
                 "lookback_days": 0, "options": {"bucket": BUCKET, "prefix": PREFIX, "export_name": EXPORT}},
                {"id": "aws-ce", "type": "aws_cost_explorer", "connection_id": "aws_ce_dag", "lookback_days": 0,
                 "options": {"extra_group_bys": [], "retry_base_seconds": 0.01}},
                {"id": "azure-query", "type": "azure_cost_query", "connection_id": "azure_query_dag",
                 "lookback_days": 0,
                 "options": {"scope": f"subscriptions/{SUBSCRIPTION}", "endpoint": azure.base_url,
                             "max_retries": 2, "retry_base_seconds": 0.01}},
                {"id": "azure-focus-export", "type": "azure_cost_export", "connection_id": "azure_export_dag",
                 "lookback_days": 0, "options": {"container": CONTAINER, "directory": DIRECTORY,
                                                 "export_name": EXPORT, "storage_account": STORAGE_ACCOUNT}},
                {"id": "gcp-billing", "type": "gcp_billing_export", "connection_id": "gcp_billing_dag",
                 "lookback_days": 0,
                 "options": {"table": GCP_TABLE, "api_endpoint": bq.url, "page_size": 5,
                             "retry_initial_delay_seconds": 0.01}},
            ]}))
            # The DAG files read OPENFINOPS_CONFIG (dag.test re-parses the dags folder to serialise the DAG it runs).
            env.setenv("OPENFINOPS_CONFIG", str(config))
            from airflow.models.dagbag import DagBag

            bag = DagBag(dag_folder=str(ROOT / "dags"))
            dags = {s.id: bag.dags[f"collect_{s.id}"] for s in load_config(config).sources}
            for dag in dags.values():
                for task in dag.tasks:
                    task.retries = 0  # the collectors retry the APIs themselves
            warehouse_password = urlsplit(url).password
            cloud = CloudDags(
                url=url, config=config, dags=dags, dbt_target=tmp / "dbt-target", azure=azure,
                gcp_tokens=bq.issued_tokens,
                secrets={"aws-focus-export": [EXPORT_SECRET], "aws-ce": [CE_SECRET],
                         "azure-query": [AZURE_QUERY_SECRET, azure.access_token],
                         "azure-focus-export": [ACCOUNT_KEY], "gcp-billing": key_secrets(gcp_key),
                         "warehouse": [warehouse_password] if warehouse_password else []},
                frames={"focus-aws-file": read_strings(SAMPLE), "aws-focus-export": aws_june,
                        "azure-focus-export": azure_may},
                # A daily run (data interval of one day) for the sources that widen it to the billing month; a
                # back-fill run (params start / end) for the daily API sources.
                logical_dates={"focus-aws-file": datetime(2026, 5, 21, tzinfo=UTC),
                               "aws-focus-export": datetime(2026, 6, 15, tzinfo=UTC),
                               "azure-focus-export": datetime(2026, 5, 11, tzinfo=UTC),
                               "gcp-billing": datetime(2026, 6, 2, tzinfo=UTC),
                               "aws-ce": datetime(2026, 6, 3, tzinfo=UTC),
                               "azure-query": datetime(2026, 6, 3, tzinfo=UTC)},
                run_conf={"aws-ce": {"start": "2026-06-01", "end": "2026-06-03"},
                          "azure-query": {"start": "2026-06-01", "end": "2026-06-03"}},
            )
            yield cloud
        finally:
            moto.reset()
            drop_database(url)


def raw_dump(url: str) -> str:
    """Every raw table (and the rejects), as text."""
    with psycopg.connect(url) as conn:
        tables = [t for (t,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw' ORDER BY 1")]
        return "\n".join(text for table in tables
                         for (text,) in conn.execute(f'SELECT t::text FROM raw."{table}" AS t'))


def run_logged(cloud: CloudDags, source_id: str, caplog):
    """The source's DAG run, with every log record captured (DEBUG: the SDKs' and hooks' request logs included)."""
    caplog.set_level(logging.DEBUG)
    return cloud.run(source_id)


def assert_loaded_without_leaks(cloud: CloudDags, source_id: str, run, capfd, caplog,
                                window: tuple[datetime, datetime], table: str) -> None:
    """The run succeeded and stamped its rows with its run id and (aligned) window; neither its task output nor its
    log records nor any raw table hold a credential of any connection (or a token a fake issued)."""
    output = "".join(capfd.readouterr())
    assert run.state == "success", output[-4000:]
    logs = caplog.text
    # The task's own output and the collector's log records were captured (else the leak check would be vacuous).
    assert f"source {source_id} window [{window[0].isoformat()}, {window[1].isoformat()})" in output
    assert f"source {source_id}" in logs
    with psycopg.connect(cloud.url) as conn:
        stamps = conn.execute(f"SELECT DISTINCT _batch_id, _window_start, _window_end FROM raw.{table} "
                              f"WHERE _source_id = %s", (source_id,)).fetchall()
    assert stamps == [(run.run_id, *window)]
    dump = raw_dump(cloud.url)
    for secret in cloud.all_secrets():
        assert secret not in output, f"a credential is in the task output of {source_id}'s run"
        assert secret not in logs, f"a credential is in the log records of {source_id}'s run"
        assert secret not in dump, "a credential is in a raw table"


def test_focus_file_dag_loads_its_billing_period(every_cloud, capfd, caplog):
    run = run_logged(every_cloud, "focus-aws-file", caplog)
    assert_loaded_without_leaks(every_cloud, "focus-aws-file", run, capfd, caplog, MAY, "focus_cost_line_items")
    assert raw_totals(every_cloud.url, "focus-aws-file") == pandas_totals(every_cloud.frames["focus-aws-file"])


def test_aws_data_export_dag_loads_the_manifest_files_from_s3(every_cloud, capfd, caplog):
    run = run_logged(every_cloud, "aws-focus-export", caplog)
    assert_loaded_without_leaks(every_cloud, "aws-focus-export", run, capfd, caplog, JUNE, "focus_cost_line_items")
    frame = every_cloud.frames["aws-focus-export"]
    assert raw_totals(every_cloud.url, "aws-focus-export") == pandas_totals(frame)
    assert sum(n for n, _, _ in pandas_totals(frame).values()) == 1000


def test_aws_cost_explorer_dag_loads_every_page(every_cloud, capfd, caplog):
    run = run_logged(every_cloud, "aws-ce", caplog)
    assert_loaded_without_leaks(every_cloud, "aws-ce", run, capfd, caplog, JUNE_1_2, "aws_cost_explorer_cost_daily")
    with psycopg.connect(every_cloud.url) as conn:
        loaded = conn.execute("""SELECT count(*), sum(unblended_cost), sum(net_amortized_cost)
                                 FROM raw.aws_cost_explorer_cost_daily WHERE _source_id = 'aws-ce'""").fetchone()
    assert loaded == (len(CE_GROUPS), sum(Decimal(g["Metrics"]["UnblendedCost"]["Amount"]) for g in CE_GROUPS),
                      sum(Decimal(g["Metrics"]["NetAmortizedCost"]["Amount"]) for g in CE_GROUPS))


def test_azure_query_dag_loads_actual_and_amortized_cost(every_cloud, capfd, caplog):
    run = run_logged(every_cloud, "azure-query", caplog)
    assert_loaded_without_leaks(every_cloud, "azure-query", run, capfd, caplog, JUNE_1_2, "azure_cost_query_cost_daily")
    with psycopg.connect(every_cloud.url) as conn:
        loaded = conn.execute("""SELECT cost_type, grouping, count(*), sum(cost) FROM raw.azure_cost_query_cost_daily
                                 WHERE _source_id = 'azure-query' GROUP BY 1, 2""").fetchall()
    expected = set()
    for cost_type, rows in AZ_ROWS.items():
        total = sum(row[0] for row in rows)
        expected |= {(cost_type, "cost", len(rows), total), (cost_type, "meter", azure_meter_rows(cost_type), total)}
    assert set(loaded) == expected
    assert every_cloud.azure.token_requests()  # the client-credentials grant ran against the fake


def test_azure_cost_export_dag_loads_the_latest_run_from_blob_storage(every_cloud, capfd, caplog):
    run = run_logged(every_cloud, "azure-focus-export", caplog)
    assert_loaded_without_leaks(every_cloud, "azure-focus-export", run, capfd, caplog, MAY, "focus_cost_line_items")
    assert raw_totals(every_cloud.url, "azure-focus-export") == pandas_totals(every_cloud.frames["azure-focus-export"])


def test_gcp_billing_export_dag_loads_cost_and_credit_lines(every_cloud, capfd, caplog):
    run = run_logged(every_cloud, "gcp-billing", caplog)
    assert_loaded_without_leaks(every_cloud, "gcp-billing", run, capfd, caplog, JUNE, "gcp_billing_export_cost_lines")
    with psycopg.connect(every_cloud.url) as conn:
        loaded = conn.execute("""SELECT line_type, count(*), sum(amount) FROM raw.gcp_billing_export_cost_lines
                                 WHERE _source_id = 'gcp-billing' GROUP BY 1""").fetchall()
    credits = [c["amount"] for r in GCP_ROWS for c in r["credits"]]
    assert set(loaded) == {("cost", len(GCP_ROWS), sum(r["cost"] for r in GCP_ROWS)),
                           ("credit", len(credits), sum(credits))}
    assert every_cloud.gcp_tokens  # the JWT-bearer grant ran against the fake's token endpoint


def test_dbt_build_carries_every_source_into_int_focus_costs(every_cloud):
    """A real ``dbt build`` (through the CLI: config tables, then dbt) of everything int_focus_costs is built from,
    with the tests on those models; each source's rows reach the unified cost model with its own count and totals.
    (The marts are left out to keep this module fast; tests/dbt builds them.)"""
    for source_id in every_cloud.dags:
        assert every_cloud.run(source_id).state == "success"
    proc = run_cli("--config", str(every_cloud.config), "transform", "--select", "+int_focus_costs",
                   "--indirect-selection", "cautious", "--target-path", str(every_cloud.dbt_target),
                   url=every_cloud.url, check=False)
    summary = [line for line in proc.stdout.splitlines() if "Done. PASS=" in line]
    assert proc.returncode == 0 and summary and "ERROR=0" in summary[-1], proc.stdout[-6000:] + proc.stderr[-2000:]

    def focus(frame: pd.DataFrame) -> tuple:
        return ("focus_file", len(frame), sum(map(Decimal, frame["BilledCost"]), Decimal(0)),
                sum(map(Decimal, frame["EffectiveCost"]), Decimal(0)))

    az_keys = {tuple(row[2:6]) for rows in AZ_ROWS.values() for row in rows}
    expected = {
        "focus-aws-file": focus(every_cloud.frames["focus-aws-file"]),
        "aws-focus-export": focus(every_cloud.frames["aws-focus-export"]),
        "azure-focus-export": focus(every_cloud.frames["azure-focus-export"]),
        "aws-ce": ("aws_cost_explorer", len(CE_GROUPS),
                   sum(Decimal(g["Metrics"]["UnblendedCost"]["Amount"]) for g in CE_GROUPS),
                   sum(Decimal(g["Metrics"]["NetAmortizedCost"]["Amount"]) for g in CE_GROUPS)),
        "azure-query": ("azure_cost_query", len(az_keys), sum(r[0] for r in AZ_ROWS["ActualCost"]),
                        sum(r[0] for r in AZ_ROWS["AmortizedCost"])),
        "gcp-billing": ("gcp_billing_export", len(query_result(GCP_ROWS)), gcp_net(GCP_ROWS), gcp_net(GCP_ROWS)),
    }
    with psycopg.connect(every_cloud.url) as conn:
        reached = {source_id: (system, n, billed, effective) for source_id, system, n, billed, effective in
                   conn.execute("""SELECT source_id, source_system, count(*), sum(billed_cost), sum(effective_cost)
                                   FROM intermediate.int_focus_costs GROUP BY 1, 2""")}
    assert reached == expected


# --- a throttled API fails its own task; another source still loads ----------------------------------------------
@pytest.fixture
def azure(tmp_path, monkeypatch):
    (tmp_path / "tls").mkdir()
    tls = make_tls_files(tmp_path / "tls")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_bundle)
    with AzureCostApiFake(tls) as fake:
        monkeypatch.setenv("AIRFLOW_CONN_AZURE_DAG", json.dumps({
            "conn_type": "azure", "login": fake.client_id, "password": fake.client_secret,
            "extra": {"tenantId": fake.tenant_id, "authority": fake.authority, "disable_instance_discovery": True}}))
        yield fake


@pytest.fixture
def cloud_dags(tmp_path, monkeypatch, empty_db, azure):
    monkeypatch.setenv("AIRFLOW_CONN_OPENFINOPS_WAREHOUSE", empty_db)
    config = tmp_path / "cloud.yaml"
    config.write_text(yaml.safe_dump({"sources": [
        {"id": "focus-aws-sample", "type": "focus_file", "options": {"paths": [str(SAMPLE)]}},
        {"id": "azure-throttled", "type": "azure_cost_query", "connection_id": "azure_dag", "lookback_days": 0,
         "options": {"scope": "subscriptions/5d1e0c2b-0000-4c00-8000-00000000abcd", "endpoint": azure.base_url,
                     "max_retries": 2, "retry_base_seconds": 0.01}},
    ]}))
    # The DAG files read OPENFINOPS_CONFIG (dag.test re-parses the dags folder to serialise the DAG it runs).
    monkeypatch.setenv("OPENFINOPS_CONFIG", str(config))
    from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    dags = {s.id: bag.dags[f"collect_{s.id}"] for s in load_config(config).sources}
    for dag in dags.values():
        for task in dag.tasks:
            task.retries = 0  # the collector retries the API itself; Airflow's own retry delay would only add minutes
    return dags, empty_db


def test_throttled_api_fails_its_own_task_naming_the_source_and_the_other_source_loads(airflow_db, cloud_dags,
                                                                                        azure, capfd):
    dags, url = cloud_dags
    for _ in range(20):
        azure.interruptions.append(azure_error(429, "TooManyRequests", "Too many requests, retry later.",
                                               **{"Retry-After": "0"}))
    failed = dags["azure-throttled"].test(logical_date=datetime(2026, 6, 2, tzinfo=UTC))
    output = "".join(capfd.readouterr())
    assert failed.state == "failed"
    assert len(azure.query_requests()) == 3  # first attempt + max_retries 2, then the task fails
    assert "source azure-throttled" in output and "429" in output and "TooManyRequests" in output
    assert azure.client_secret not in output

    loaded = dags["focus-aws-sample"].test(logical_date=datetime(2026, 5, 21, tzinfo=UTC))
    assert loaded.state == "success"
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT count(*), min(_batch_id) FROM raw.focus_cost_line_items").fetchone()
        azure_rows = conn.execute("SELECT count(*) FROM raw.azure_cost_query_cost_daily").fetchone()[0]
    assert rows == (1000, loaded.run_id)  # the whole May billing period, stamped with the Airflow run id
    assert azure_rows == 0
    with psycopg.connect(url) as conn:
        # the failed run still closed its load cycle (close_load_cycle runs when the load is done, whatever its
        # end) and the cycle says which source failed; the run itself failed (its `loaded` leaf)
        assert conn.execute("SELECT closed_by_run, sources FROM ops.load_cycles ORDER BY cycle_id").fetchall() == [
            (failed.run_id, {"azure-throttled": ["failed"]}), (loaded.run_id, {"focus-aws-sample": ["success"]})]
