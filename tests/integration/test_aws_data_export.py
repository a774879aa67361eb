"""AWS Data Exports (FOCUS) from S3 on the real PostgreSQL. S3 is moto's server on 127.0.0.1, reached by boto3 through
the Airflow AWS connection (``S3Hook``), so the SDK, the hook and our parsing all run.

The bucket holds the documented Data Exports layout: ``<prefix>/<export>/data/BILLING_PERIOD=YYYY-MM/<execution>/``
data files and ``<prefix>/<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json`` listing them
(``dataFiles``). May 2026 is the AWS sample as two gzipped CSV parts (plus a stale part of an older execution that
the manifest no longer lists); June 2026 is the same sample moved to June, as one Parquet file.
"""

import gzip
import json
import logging
from datetime import date

import boto3
import pandas as pd
import psycopg
import pytest
from moto.server import ThreadedMotoServer

from collectors.core.base import CollectorError, Window
from collectors.sources.aws_data_export import DataExportCollector
from collectors.sources.focus_file import FocusFileCollector
from openfinops.loader import Loader
from tests.focus_file_expected import SAMPLES, pandas_totals, raw_totals, read_strings, write_parquet

BUCKET = "example-billing-exports"
PREFIX = "cur/focus"
EXPORT = "focus-daily"
CONNECTION_ID = "focus_export_test"
ACCESS_KEY = "AKIAFOCUSTESTKEY0001"
SECRET_KEY = "focus-test-secret-key-do-not-log-7f3a"
EXPORT_ARN = "arn:aws:bcm-data-exports:us-east-1:123456789012:export/focus-daily-4d1f0c2e"


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY)


def csv_gz(frame: pd.DataFrame) -> bytes:
    return gzip.compress(frame.to_csv(index=False).encode())


def june(frame: pd.DataFrame) -> pd.DataFrame:
    """The sample moved one billing period later (its charge days are all before the 29th)."""
    return frame.map(lambda v: v.replace("2026-06-01T", "2026-07-01T").replace("2026-05-", "2026-06-"))


@pytest.fixture(scope="module")
def exports(s3_endpoint, tmp_path_factory) -> dict[str, pd.DataFrame]:
    """Writes the exports into the bucket; returns the frames delivered per billing period."""
    s3 = s3_client(s3_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    may, june_frame = read_strings(SAMPLES["aws"]), june(read_strings(SAMPLES["aws"]))
    base = f"{PREFIX}/{EXPORT}"
    may_keys = [f"{base}/data/BILLING_PERIOD=2026-05/20260602T041233Z-7c0e/{EXPORT}-0000{i}.csv.gz" for i in (1, 2)]
    s3.put_object(Bucket=BUCKET, Key=may_keys[0], Body=csv_gz(may.iloc[:600]))
    s3.put_object(Bucket=BUCKET, Key=may_keys[1], Body=csv_gz(may.iloc[600:]))
    # An older execution of the same period: superseded, not in the manifest, must not be read.
    s3.put_object(Bucket=BUCKET, Key=f"{base}/data/BILLING_PERIOD=2026-05/20260601T040012Z-11aa/{EXPORT}-00001.csv.gz",
                  Body=csv_gz(may.iloc[:100]))
    parquet = tmp_path_factory.mktemp("june") / "june.parquet"
    write_parquet(june_frame, parquet)
    june_key = f"{base}/data/BILLING_PERIOD=2026-06/20260702T035901Z-93b2/{EXPORT}-00001.snappy.parquet"
    s3.put_object(Bucket=BUCKET, Key=june_key, Body=parquet.read_bytes())
    for period, keys, execution in (("2026-05", may_keys, "7c0e"), ("2026-06", [june_key], "93b2")):
        manifest = {"executionId": execution, "exportArn": EXPORT_ARN,
                    "columns": [{"name": c, "type": "string"} for c in may.columns],
                    "dataFiles": [f"s3://{BUCKET}/{k}" for k in keys]}
        s3.put_object(Bucket=BUCKET, Key=f"{base}/metadata/BILLING_PERIOD={period}/{EXPORT}-Manifest.json",
                      Body=json.dumps(manifest).encode())
    return {"2026-05": may, "2026-06": june_frame}


@pytest.fixture
def aws_connection(s3_endpoint, monkeypatch):
    """The Airflow connection the hook reads (environment variable), pointing at moto with dummy keys."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONNECTION_ID.upper()}", json.dumps({
        "conn_type": "aws", "login": ACCESS_KEY, "password": SECRET_KEY,
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"}}))
    return CONNECTION_ID


def export_collector(bucket: str = BUCKET) -> DataExportCollector:
    return DataExportCollector("aws-focus-export", {"bucket": bucket, "prefix": PREFIX, "export_name": EXPORT,
                                                     "format": "focus", "region": "us-east-1"},
                               context={"connection_id": CONNECTION_ID})


def load(url: str, collector, start: date, end: date):
    with psycopg.connect(url) as conn:
        return Loader(conn).load(collector, collector.align_window(Window.from_dates(start, end)))


def test_data_export_loads_each_billing_period_from_its_manifest(empty_db, exports, aws_connection, caplog, capfd):
    collector = export_collector()
    with caplog.at_level(logging.INFO):
        may = load(empty_db, collector, date(2026, 5, 3), date(2026, 5, 4))
        assert (may.rows, may.rejects) == (1000, 0)
        assert raw_totals(empty_db, "aws-focus-export") == pandas_totals(exports["2026-05"])
        with psycopg.connect(empty_db) as conn:
            files = conn.execute("SELECT source_file, count(*), min(billing_period_start) "
                                 "FROM raw.focus_cost_line_items GROUP BY 1 ORDER BY 1").fetchall()
        assert [(f.rsplit("/", 1)[1], n) for f, n, _ in files] == [(f"{EXPORT}-00001.csv.gz", 600),
                                                                   (f"{EXPORT}-00002.csv.gz", 400)]
        assert all("20260602T041233Z-7c0e" in f and start.month == 5 for f, _, start in files)

        june_load = load(empty_db, collector, date(2026, 6, 30), date(2026, 7, 1))  # the Parquet file, ranged GETs
        assert (june_load.rows, june_load.rejects, june_load.datasets[0].deleted) == (1000, 0, 0)
        assert raw_totals(empty_db, "aws-focus-export") == {**pandas_totals(exports["2026-05"]),
                                                            **pandas_totals(exports["2026-06"])}
        july = load(empty_db, collector, date(2026, 7, 1), date(2026, 7, 2))  # not delivered yet: no manifest
        assert (july.rows, july.rejects) == (0, 0)
    # Airflow's logging setup may route records to its own stream handler: read both the capture and the streams.
    output = capfd.readouterr()
    logs = caplog.text + output.out + output.err
    assert "BILLING_PERIOD=2026-07" in logs and "not delivered yet" in logs
    # No credential in the raw tables or in the logs.
    with psycopg.connect(empty_db) as conn:
        leaked = conn.execute("""
            SELECT (SELECT count(*) FROM raw.focus_cost_line_items AS t WHERE t::text LIKE %(s)s OR t::text LIKE %(k)s)
                 + (SELECT count(*) FROM raw._rejects AS r WHERE r::text LIKE %(s)s OR r::text LIKE %(k)s)""",
                              {"s": f"%{SECRET_KEY}%", "k": f"%{ACCESS_KEY}%"}).fetchone()
    assert leaked == (0,)
    assert SECRET_KEY not in logs and ACCESS_KEY not in logs


def test_a_billing_period_outside_the_window_is_not_loaded(empty_db, exports, aws_connection):
    result = load(empty_db, export_collector(), date(2026, 5, 31), date(2026, 6, 1))
    assert result.window == Window.from_dates(date(2026, 5, 1), date(2026, 6, 1))
    with psycopg.connect(empty_db) as conn:
        periods = conn.execute("SELECT min(billing_period_start), max(billing_period_start), count(*) "
                               "FROM raw.focus_cost_line_items").fetchone()
    assert periods[0] == periods[1] and periods[0].month == 5 and periods[2] == 1000


def test_wrong_bucket_fails_naming_source_location_status_and_code(empty_db, exports, aws_connection):
    with pytest.raises(CollectorError) as err:
        load(empty_db, export_collector("no-such-billing-bucket"), date(2026, 5, 3), date(2026, 5, 4))
    message = str(err.value)
    assert "source aws-focus-export" in message
    assert f"s3://no-such-billing-bucket/{PREFIX}/{EXPORT}/metadata/BILLING_PERIOD=2026-05/" in message
    assert "HTTP 404 NoSuchBucket" in message


def test_focus_file_reads_an_s3_glob_with_an_injected_client(empty_db, s3_endpoint, exports):
    s3 = s3_client(s3_endpoint)
    frame = read_strings(SAMPLES["azure"])
    s3.put_object(Bucket=BUCKET, Key="focus-files/azure/2026-05/part-1.csv.gz", Body=csv_gz(frame.iloc[:500]))
    s3.put_object(Bucket=BUCKET, Key="focus-files/azure/2026-05/part-2.csv.gz", Body=csv_gz(frame.iloc[500:]))
    s3.put_object(Bucket=BUCKET, Key="focus-files/azure/2026-05/manifest.json", Body=b"{}")
    collector = FocusFileCollector("focus-azure-s3", {"paths": [f"s3://{BUCKET}/focus-files/azure/*/*.csv.gz"]},
                                   clients={"s3": s3})
    result = load(empty_db, collector, date(2026, 5, 1), date(2026, 6, 1))
    assert (result.rows, result.rejects) == (1000, 0)
    assert raw_totals(empty_db, "focus-azure-s3") == pandas_totals(frame)
    with pytest.raises(CollectorError, match="matched no file"):
        list(FocusFileCollector("x", {"paths": [f"s3://{BUCKET}/focus-files/gcp/*.csv"]}, clients={"s3": s3})
             .collect(collector.datasets()[0], Window.from_dates(date(2026, 5, 1), date(2026, 6, 1))))


def test_missing_manifest_never_replaces_a_loaded_month_with_nothing(empty_db, exports, aws_connection):
    """A typo in the export name (or a lifecycle rule that deleted the delivery) must fail the load and keep May;
    a period with nothing loaded yet (July, on its first day) is simply not delivered yet."""
    load(empty_db, export_collector(), date(2026, 5, 3), date(2026, 5, 4))
    typo = DataExportCollector("aws-focus-export", {"bucket": BUCKET, "prefix": PREFIX, "export_name": EXPORT + "x",
                                                    "format": "focus", "region": "us-east-1"},
                               context={"connection_id": CONNECTION_ID})
    with pytest.raises(CollectorError) as err:
        load(empty_db, typo, date(2026, 5, 20), date(2026, 5, 21))
    message = str(err.value)
    assert "source aws-focus-export" in message and "holds 1000 rows" in message
    assert f"s3://{BUCKET}/{PREFIX}/{EXPORT}x/metadata/BILLING_PERIOD=2026-05/{EXPORT}x-Manifest.json" in message
    assert raw_totals(empty_db, "aws-focus-export") == pandas_totals(exports["2026-05"])
    july = load(empty_db, export_collector(), date(2026, 7, 1), date(2026, 7, 2))
    assert (july.rows, july.datasets[0].deleted) == (0, 0)
    assert raw_totals(empty_db, "aws-focus-export") == pandas_totals(exports["2026-05"])
