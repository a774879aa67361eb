"""Azure Cost Management FOCUS exports from Blob Storage on the real PostgreSQL. The container is served by the local
fake of the Azure Blob REST API (:mod:`tests.fakes.object_store`), reached by azure-storage-blob directly or through
Airflow's ``WasbHook`` and an ``AIRFLOW_CONN_<ID>`` connection, so the SDK, the hook and our parsing all run.

The container holds the documented export layout ``<directory>/<export>/<YYYYMMDD-YYYYMMDD>/<run id>/`` with data
partitions and a ``manifest.json`` per run (exports API 2023-07-01-preview manifest shape). May 2026 has an older
partial run (its first 300 rows), the latest full run (the Azure FOCUS 1.2 sample in two gzipped CSV parts) and a run
still being written (parts, no manifest); June 2026 is the sample moved one month later, as one Parquet part.
Expected figures come from pandas / Decimal sums of the frames served, never from our parser.
"""

import base64
import gzip
import json
import logging
from datetime import date

import pandas as pd
import psycopg
import pytest

from collectors.core.base import CollectorError, Window
from collectors.sources.azure_cost_export import CostExportCollector
from openfinops.loader import Loader
from tests.fakes.object_store import ObjectStoreFake, serve_object_store
from tests.focus_file_expected import SAMPLES, pandas_totals, raw_totals, read_strings, write_parquet

CONTAINER = "cost-exports"
DIRECTORY = "billing/focus"
EXPORT = "focus-daily"
ACCOUNT = "finopsexports"
CONNECTION_ID = "azure_billing_storage_test"
ACCOUNT_KEY = base64.b64encode(b"azure-export-test-account-key-5e1f").decode()
SOURCE = "azure-focus-export"
# Run ids chosen so that sorting by id would pick the wrong run: only runInfo.submittedTime decides.
OLD_RUN, LATEST_RUN, WRITING_RUN = "f1c0ffee-0000-4000-8000-000000000001", "0b5e7a11-0000-4000-8000-000000000002", \
    "ffffffff-0000-4000-8000-000000000003"
JUNE_RUN = "7e57da7a-0000-4000-8000-000000000004"


def csv_gz(frame: pd.DataFrame) -> bytes:
    return gzip.compress(frame.to_csv(index=False).encode())


def june(frame: pd.DataFrame) -> pd.DataFrame:
    """The sample moved one billing period later (its charge days are all before the 29th)."""
    return frame.map(lambda v: v.replace("2026-06-01T", "2026-07-01T").replace("2026-05-", "2026-06-"))


def run_folder(date_range: str, run_id: str) -> str:
    return f"{DIRECTORY}/{EXPORT}/{date_range}/{run_id}"


def put_run(date_range: str, run_id: str, submitted: str, start: str, parts: dict[str, bytes], rows: int,
            dataset_type: str = "FocusCost", listed: list[str] | None = None) -> None:
    """The run's partitions and its manifest (fields as documented for exports API 2023-07-01-preview)."""
    folder = run_folder(date_range, run_id)
    for name, body in parts.items():
        ObjectStoreFake.objects[(CONTAINER, f"{folder}/{name}")] = body
    names = listed if listed is not None else list(parts)
    manifest = {
        "manifestVersion": "2024-04-01", "byteCount": sum(map(len, parts.values())), "blobCount": len(names),
        "dataRowCount": rows,
        "exportConfig": {"exportName": EXPORT, "type": dataset_type, "dataVersion": "1.0r2",
                         "apiVersion": "2023-07-01-preview", "timeFrame": "MonthToDate", "granularity": "Daily",
                         "resourceId": f"/providers/Microsoft.Billing/billingAccounts/1234/providers/"
                                       f"Microsoft.CostManagement/exports/{EXPORT}"},
        "deliveryConfig": {"partitionData": True, "dataOverwriteBehavior": "CreateNewReport", "fileFormat": "Csv",
                           "compressionMode": "gzip", "containerUri": f"/subscriptions/0000/resourceGroups/rg/"
                           f"providers/Microsoft.Storage/storageAccounts/{ACCOUNT}", "rootFolderPath": DIRECTORY},
        "runInfo": {"executionType": "Scheduled", "submittedTime": submitted, "runId": run_id, "startDate": start,
                    "endDate": start[:8] + "31T00:00:00"},
        "blobs": [{"blobName": f"{folder}/{name}", "byteCount": len(parts.get(name, b""))} for name in names],
    }
    ObjectStoreFake.objects[(CONTAINER, f"{folder}/manifest.json")] = json.dumps(manifest).encode()


@pytest.fixture
def exports(tmp_path) -> dict:
    """Serves the container; yields the endpoint and the frames of the latest run of each billing period."""
    may, june_frame = read_strings(SAMPLES["azure"]), june(read_strings(SAMPLES["azure"]))
    with serve_object_store() as endpoint:
        put_run("20260501-20260531", OLD_RUN, "2026-05-20T04:12:55.1032074Z", "2026-05-01T00:00:00",
                {"part_0_0001.csv.gz": csv_gz(may.iloc[:300])}, 300)
        put_run("20260501-20260531", LATEST_RUN, "2026-06-02T03:58:10.5512301Z", "2026-05-01T00:00:00",
                {"part_0_0001.csv.gz": csv_gz(may.iloc[:600]), "part_1_0001.csv.gz": csv_gz(may.iloc[600:])}, 1000)
        # A run still being written: its parts are there, its manifest is not yet.
        ObjectStoreFake.objects[(CONTAINER, f"{run_folder('20260501-20260531', WRITING_RUN)}/part_0_0001.csv.gz")] \
            = csv_gz(may.iloc[:50])
        parquet = tmp_path / "june.parquet"
        write_parquet(june_frame, parquet)
        put_run("20260601-20260630", JUNE_RUN, "2026-07-02T04:01:00Z", "2026-06-01T00:00:00",
                {"part_0_0001.parquet": parquet.read_bytes()}, 1000)
        yield {"endpoint": endpoint, "2026-05": may, "2026-06": june_frame}


@pytest.fixture
def wasb_connection(exports, monkeypatch) -> str:
    """The Airflow connection WasbHook reads (environment variable): a connection string to the fake."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONNECTION_ID.upper()}", json.dumps({"conn_type": "wasb", "extra": {
        "connection_string": f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
                             f"BlobEndpoint={exports['endpoint']}/{ACCOUNT};"}}))
    return CONNECTION_ID


def blob_client(endpoint: str):
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={endpoint}/{ACCOUNT};")


def collector(**options) -> CostExportCollector:
    return CostExportCollector(SOURCE, {"container": CONTAINER, "directory": DIRECTORY, "export_name": EXPORT,
                                        **options}, context={"connection_id": CONNECTION_ID})


def load(url: str, source: CostExportCollector, start: date, end: date):
    with psycopg.connect(url) as conn:
        return Loader(conn).load(source, source.align_window(Window.from_dates(start, end)))


def test_only_the_latest_completed_run_of_each_period_is_loaded(empty_db, exports, wasb_connection, caplog, capfd):
    source = collector(storage_account=ACCOUNT)
    with caplog.at_level(logging.INFO):
        may = load(empty_db, source, date(2026, 5, 10), date(2026, 5, 11))
        assert (may.rows, may.rejects) == (1000, 0)
        assert may.window == Window.from_dates(date(2026, 5, 1), date(2026, 6, 1))
        assert raw_totals(empty_db, SOURCE) == pandas_totals(exports["2026-05"])
        with psycopg.connect(empty_db) as conn:
            files = conn.execute("SELECT source_file, count(*) FROM raw.focus_cost_line_items "
                                 "GROUP BY 1 ORDER BY 1").fetchall()
        base = f"abfss://{CONTAINER}@{ACCOUNT}.dfs.core.windows.net/{run_folder('20260501-20260531', LATEST_RUN)}"
        assert files == [(f"{base}/part_0_0001.csv.gz", 600), (f"{base}/part_1_0001.csv.gz", 400)]

        june_load = load(empty_db, source, date(2026, 6, 30), date(2026, 7, 1))  # Parquet: ranged GETs
        assert (june_load.rows, june_load.rejects, june_load.datasets[0].deleted) == (1000, 0, 0)
        assert raw_totals(empty_db, SOURCE) == {**pandas_totals(exports["2026-05"]),
                                                **pandas_totals(exports["2026-06"])}
        again = load(empty_db, source, date(2026, 5, 1), date(2026, 6, 1))  # re-load: same rows, nothing doubled
        assert (again.rows, again.datasets[0].deleted) == (1000, 1000)
        assert raw_totals(empty_db, SOURCE) == {**pandas_totals(exports["2026-05"]),
                                                **pandas_totals(exports["2026-06"])}
        july = load(empty_db, source, date(2026, 7, 1), date(2026, 7, 2))  # no run yet
        assert (july.rows, july.rejects) == (0, 0)
    read = {path for store, path, _ in ObjectStoreFake.requests if store == "azure"}
    assert not any(OLD_RUN in p and p.endswith(".csv.gz") for p in read), "the superseded run's data is never read"
    assert not any(WRITING_RUN in p for p in read if not p.endswith(CONTAINER))
    assert any(p.endswith("part_0_0001.parquet") and r for _, p, r in ObjectStoreFake.requests)
    # Airflow's logging setup may route records to its own stream handler: read both the capture and the streams.
    output = capfd.readouterr()
    logs = caplog.text + output.out + output.err
    assert LATEST_RUN in logs and "2026-07" in logs and "not delivered yet" in logs
    with psycopg.connect(empty_db) as conn:
        leaked = conn.execute("""
            SELECT (SELECT count(*) FROM raw.focus_cost_line_items AS t WHERE t::text LIKE %(k)s)
                 + (SELECT count(*) FROM raw._rejects AS r WHERE r::text LIKE %(k)s)""",
                              {"k": f"%{ACCOUNT_KEY}%"}).fetchone()
    assert leaked == (0,)
    assert ACCOUNT_KEY not in logs


def test_a_june_window_loads_only_june(empty_db, exports):
    source = CostExportCollector(SOURCE, {"container": CONTAINER, "directory": DIRECTORY, "export_name": EXPORT},
                                 clients={"blob": blob_client(exports["endpoint"])})
    result = load(empty_db, source, date(2026, 6, 15), date(2026, 6, 16))
    assert result.window == Window.from_dates(date(2026, 6, 1), date(2026, 7, 1))
    assert (result.rows, result.rejects) == (1000, 0)
    assert raw_totals(empty_db, SOURCE) == pandas_totals(exports["2026-06"])
    with psycopg.connect(empty_db) as conn:
        periods = conn.execute("SELECT min(billing_period_start), max(billing_period_start) "
                               "FROM raw.focus_cost_line_items").fetchone()
    assert periods[0] == periods[1] and (periods[0].year, periods[0].month) == (2026, 6)


def test_a_listed_blob_that_is_missing_fails_naming_source_blob_and_status(empty_db, exports, wasb_connection):
    may = exports["2026-05"]
    put_run("20260501-20260531", "c0ffee00-0000-4000-8000-000000000005", "2026-06-03T04:00:00Z",
            "2026-05-01T00:00:00", {"part_0_0001.csv.gz": csv_gz(may)}, 1000,
            listed=["part_0_0001.csv.gz", "part_1_0001.csv.gz"])
    with pytest.raises(CollectorError) as err:
        load(empty_db, collector(), date(2026, 5, 3), date(2026, 5, 4))
    message = str(err.value)
    assert f"source {SOURCE}" in message
    assert f"az://{CONTAINER}/{DIRECTORY}/{EXPORT}/20260501-20260531/c0ffee00-" in message
    assert "part_1_0001.csv.gz" in message and "HTTP 404 BlobNotFound" in message
    with psycopg.connect(empty_db) as conn:  # one transaction: the rows of the first part are not kept
        assert conn.execute("SELECT count(*) FROM raw.focus_cost_line_items").fetchone() == (0,)


def test_a_manifest_row_count_that_does_not_match_fails(empty_db, exports):
    put_run("20260601-20260630", "c0ffee00-0000-4000-8000-000000000006", "2026-07-03T04:00:00Z",
            "2026-06-01T00:00:00", {"part_0_0001.csv.gz": csv_gz(exports["2026-06"].iloc[:999])}, 1000)
    source = CostExportCollector(SOURCE, {"container": CONTAINER, "export_name": EXPORT, "directory": DIRECTORY},
                                 clients={"blob": blob_client(exports["endpoint"])})
    with pytest.raises(CollectorError, match=r"dataRowCount 1000 but its 1 blob\(s\) hold 999 rows"):
        load(empty_db, source, date(2026, 6, 1), date(2026, 6, 2))


def test_wrong_storage_account_and_non_focus_exports_are_refused(empty_db, exports, wasb_connection):
    with pytest.raises(CollectorError, match=f"names storage account 'otheraccount' but connection "
                                             f"'{CONNECTION_ID}' is for '{ACCOUNT}'"):
        load(empty_db, collector(storage_account="otheraccount"), date(2026, 5, 3), date(2026, 5, 4))
    with pytest.raises(ValueError, match=r"options.format: expected focus .* got 'ActualCost'"):
        collector(format="ActualCost")
    put_run("20260601-20260630", "c0ffee00-0000-4000-8000-000000000007", "2026-07-04T04:00:00Z",
            "2026-06-01T00:00:00", {"part_0_0001.csv.gz": csv_gz(exports["2026-06"])}, 1000,
            dataset_type="AmortizedCost")
    with pytest.raises(CollectorError, match=r"exportConfig.type is 'AmortizedCost' but options.format is 'focus'"):
        load(empty_db, collector(), date(2026, 6, 1), date(2026, 6, 2))


def test_a_period_without_a_completed_run_never_replaces_loaded_rows(empty_db, exports):
    """The export renamed (or its runs deleted): June was loaded, the next June run finds no completed run - the
    load fails naming the runs it looked for, and June's rows are kept."""
    clients = {"blob": blob_client(exports["endpoint"])}
    load(empty_db, CostExportCollector(SOURCE, {"container": CONTAINER, "directory": DIRECTORY,
                                                "export_name": EXPORT}, clients=clients),
         date(2026, 6, 15), date(2026, 6, 16))
    renamed = CostExportCollector(SOURCE, {"container": CONTAINER, "directory": DIRECTORY,
                                           "export_name": "renamed-export"}, clients=clients)
    with pytest.raises(CollectorError) as err:
        load(empty_db, renamed, date(2026, 6, 20), date(2026, 6, 21))
    assert "source " + SOURCE in str(err.value) and "holds 1000 rows" in str(err.value)
    assert "a completed run of export renamed-export" in str(err.value) and "202606*/manifest.json" in str(err.value)
    assert raw_totals(empty_db, SOURCE) == pandas_totals(exports["2026-06"])
