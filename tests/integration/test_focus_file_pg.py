"""The focus_file source on the real PostgreSQL: the three FOCUS 1.2 samples (CSV, gzip, Parquet), a generated FOCUS
1.3 file, a missing mandatory column, a bad value, re-loads, the YAML source entries through the pipeline, and files
in Google Cloud Storage and Azure Blob Storage (their SDKs against a local fake of their REST APIs).

Expected figures come from pandas reading the file as strings and summing ``Decimal`` values, never from our parser.
"""

import base64
import gzip
import json
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import yaml

from collectors.core.base import CollectorError, Window
from collectors.sources.focus_file import FocusFileCollector
from openfinops import pipeline
from openfinops.config import load_config
from openfinops.loader import Loader
from tests.fakes.object_store import ObjectStoreFake, serve_object_store
from tests.focus_file_expected import SAMPLES, pandas_totals, raw_totals, read_strings, write_parquet

# A day inside May 2026: the source widens it to the whole billing period.
MAY_DAY = Window.from_dates(date(2026, 5, 10), date(2026, 5, 11))


def load(url: str, collector: FocusFileCollector, window: Window = MAY_DAY):
    with psycopg.connect(url) as conn:
        return Loader(conn).load(collector, collector.align_window(window))


@pytest.mark.parametrize("provider", sorted(SAMPLES))
def test_sample_loads_to_the_cent_and_reloads_without_duplicates(empty_db, provider):
    path = SAMPLES[provider]
    collector = FocusFileCollector(f"focus-{provider}-sample", {"paths": [str(path)]})
    result = load(empty_db, collector)
    expected = pandas_totals(read_strings(path))
    assert (result.rows, result.rejects) == (1000, 0)
    assert result.window == Window.from_dates(date(2026, 5, 1), date(2026, 6, 1))
    assert raw_totals(empty_db, collector.source_id) == expected
    again = load(empty_db, collector)
    assert again.datasets[0].deleted == 1000 and again.rows == 1000
    assert raw_totals(empty_db, collector.source_id) == expected
    with psycopg.connect(empty_db) as conn:
        shapes = conn.execute("""
            SELECT count(*), count(DISTINCT (source_file, source_line)), min(focus_version), max(focus_version),
                   count(*) FILTER (WHERE jsonb_typeof(tags) = 'object'),
                   count(*) FILTER (WHERE sku_price_details IS NOT NULL AND jsonb_typeof(sku_price_details) <> 'object')
            FROM raw.focus_cost_line_items""").fetchone()
    tagged = (read_strings(path)["Tags"] != "").sum()
    assert shapes == (1000, 1000, "1.2", "1.2", tagged, 0)


def test_gzip_and_parquet_give_the_same_totals(empty_db, tmp_path):
    source = SAMPLES["gcp"]
    frame = read_strings(source)
    (tmp_path / "gcp.csv.gz").write_bytes(gzip.compress(source.read_bytes()))
    write_parquet(frame, tmp_path / "gcp.parquet")
    expected = pandas_totals(frame)
    for name, pattern in (("csv", str(source)), ("gz", str(tmp_path / "*.csv.gz")),
                          ("parquet", str(tmp_path / "gcp.parquet"))):
        result = load(empty_db, FocusFileCollector(f"focus-gcp-{name}", {"paths": [pattern]}))
        assert (result.rows, result.rejects) == (1000, 0), name
        assert raw_totals(empty_db, f"focus-gcp-{name}") == expected, name
    with psycopg.connect(empty_db) as conn:  # every typed column lands the same from CSV and from Parquet
        differing = conn.execute("""
            SELECT count(*) FROM raw.focus_cost_line_items AS c
            JOIN raw.focus_cost_line_items AS p
                ON p._source_id = 'focus-gcp-parquet' AND p.source_line + 1 = c.source_line
            WHERE c._source_id = 'focus-gcp-csv'
              AND (c.billed_cost, c.list_cost, c.pricing_quantity, c.charge_period_end, c.tags, c.sku_price_details,
                   c.commitment_discount_quantity, c.charge_class)
                  IS DISTINCT FROM (p.billed_cost, p.list_cost, p.pricing_quantity, p.charge_period_end, p.tags,
                                    p.sku_price_details, p.commitment_discount_quantity, p.charge_class)""").fetchone()
    assert differing == (0,)


def test_generated_focus_1_3_file_loads_with_service_provider_name(empty_db, tmp_path):
    toolkit = Path(sys.executable).parent / "focus-toolkit"
    subprocess.run([str(toolkit), "generate", "--provider", "aws", "--focus-version", "1.3", "--rows", "200",
                    "--seed", "1", "--out", str(tmp_path)], check=True, capture_output=True, timeout=60)
    generated = tmp_path / "focus_1_3_cost_and_usage_aws.csv"
    frame = read_strings(generated)
    # The generator still writes the deprecated ProviderName/PublisherName; a pure 1.3 file has only the new names.
    pure = tmp_path / "pure" / "focus_1_3_aws.csv"
    pure.parent.mkdir()
    frame.drop(columns=["ProviderName", "PublisherName"]).to_csv(pure, index=False)
    for source_id, path in (("focus-13-generated", generated), ("focus-13-pure", pure)):
        result = load(empty_db, FocusFileCollector(source_id, {"paths": [str(path)]}))
        assert (result.rows, result.rejects) == (200, 0)
        assert raw_totals(empty_db, source_id) == pandas_totals(frame, "ServiceProviderName")
    with psycopg.connect(empty_db) as conn:
        rows = conn.execute("""
            SELECT _source_id, focus_version, provider_name, publisher_name, host_provider_name,
                   bool_or(coalesce(x_extensions ? 'ServiceProviderName', false)),
                   count(*) FILTER (WHERE x_extensions ? 'AllocatedMethodId')
            FROM raw.focus_cost_line_items GROUP BY 1, 2, 3, 4, 5 ORDER BY 1""").fetchall()
    allocated = (frame["AllocatedMethodId"] != "").sum()
    assert set(frame["ServiceProviderName"]) == {"AWS"} and set(frame["HostProviderName"]) == {"AWS"}
    assert rows == [("focus-13-generated", "1.3", "AWS", "AWS", "AWS", True, allocated),
                    ("focus-13-pure", "1.3", "AWS", "AWS", "AWS", False, allocated)]


def test_missing_mandatory_column_fails_naming_file_and_column(empty_db, tmp_path):
    path = tmp_path / "no_effective_cost.csv"
    read_strings(SAMPLES["aws"]).drop(columns=["EffectiveCost"]).to_csv(path, index=False)
    with pytest.raises(CollectorError) as err:
        load(empty_db, FocusFileCollector("focus-broken", {"paths": [str(path)]}))
    message = str(err.value)
    assert "source focus-broken" in message and str(path) in message and "EffectiveCost" in message
    assert "FOCUS 1.2" in message
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT count(*) FROM raw.focus_cost_line_items").fetchone() == (0,)


def test_bad_decimal_is_one_reject_and_the_rest_loads(empty_db, tmp_path):
    frame = read_strings(SAMPLES["azure"])
    frame.loc[41, "BilledCost"] = "1O.25"  # a letter O: record 42, on line 43 (after the header)
    path = tmp_path / "azure_bad.csv"
    frame.to_csv(path, index=False)
    result = load(empty_db, FocusFileCollector("focus-azure-bad", {"paths": [str(path)]}))
    assert (result.rows, result.rejects) == (999, 1)
    assert raw_totals(empty_db, "focus-azure-bad") == pandas_totals(frame.drop(index=41))
    with psycopg.connect(empty_db) as conn:
        rejects = conn.execute("SELECT record_ref, field, reason, raw_text FROM raw._rejects").fetchall()
    assert len(rejects) == 1
    ref, field, reason, raw_text = rejects[0]
    assert (ref, field) == (f"{path}:43", "BilledCost")
    assert "1O.25" in reason and "1O.25" in raw_text


def test_yaml_source_entries_load_through_the_pipeline(empty_db, tmp_path):
    """The config entries of the report, with absolute paths, validated by the config loader and run by the same
    pipeline step as the CLI and the Airflow task."""
    sources = [{"id": f"focus-{p}-sample", "type": "focus_file", "description": f"FOCUS 1.2 sample ({p})",
                "options": {"paths": [str(path)], "format": "auto", "focus_version": "auto"}}
               for p, path in SAMPLES.items()]
    config = tmp_path / "openfinops.yaml"
    config.write_text(yaml.safe_dump({"sources": sources}))
    cfg = load_config(config)
    with psycopg.connect(empty_db) as conn:
        for p in SAMPLES:
            result = pipeline.collect(cfg, f"focus-{p}-sample", Window.from_dates(date(2026, 5, 20),
                                                                                    date(2026, 5, 21)), conn)
            assert (result.rows, result.rejects) == (1000, 0)
    for p, path in SAMPLES.items():
        assert raw_totals(empty_db, f"focus-{p}-sample") == pandas_totals(read_strings(path))


# -- Google Cloud Storage and Azure Blob Storage, faked at the HTTP boundary in their REST wire formats ----------------

@pytest.fixture
def object_store():
    with serve_object_store() as endpoint:
        yield endpoint


def deliver(container: str, prefix: str, frame, tmp_path: Path) -> None:
    """The sample as an export folder: rows 1-600 as gzipped CSV, rows 601-1000 as Parquet, plus a manifest."""
    parquet = tmp_path / "part.parquet"
    write_parquet(frame.iloc[600:], parquet)
    ObjectStoreFake.objects.update({
        (container, f"{prefix}/part-1.csv.gz"): gzip.compress(frame.iloc[:600].to_csv(index=False).encode()),
        (container, f"{prefix}/part-2.parquet"): parquet.read_bytes(),
        (container, f"{prefix}/manifest.json"): b"{}",
    })


def test_focus_file_reads_google_cloud_storage(empty_db, object_store, tmp_path):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    frame = read_strings(SAMPLES["gcp"])
    deliver("billing-focus", "focus/2026-05", frame, tmp_path)
    client = storage.Client(project="example", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": object_store})
    collector = FocusFileCollector("focus-gcs", {"paths": ["gs://billing-focus/focus/2026-05/"]},
                                   clients={"gcs": client})
    result = load(empty_db, collector)
    assert (result.rows, result.rejects) == (1000, 0)
    assert raw_totals(empty_db, "focus-gcs") == pandas_totals(frame)
    ranged = [r for r in ObjectStoreFake.requests if r[1].endswith("part-2.parquet") and r[2]]
    assert ranged, "Parquet is read with ranged GETs"
    missing = FocusFileCollector("focus-gcs", {"paths": ["gs://billing-focus/focus/2026-04/part-1.csv.gz"]},
                                 clients={"gcs": client})
    with pytest.raises(CollectorError, match=r"source focus-gcs: opening gs://billing-focus/focus/2026-04/"
                                             r"part-1.csv.gz failed: HTTP 404 notFound: .*No such object"):
        load(empty_db, missing)


def test_focus_file_reads_azure_blob_storage_through_the_wasb_hook(empty_db, object_store, tmp_path, monkeypatch):
    frame = read_strings(SAMPLES["azure"])
    deliver("exports", "focus/costs/202605", frame, tmp_path)
    key = base64.b64encode(b"focus-test-account-key-0123456789").decode()
    monkeypatch.setenv("AIRFLOW_CONN_FOCUS_WASB_TEST", json.dumps({"conn_type": "wasb", "extra": {
        "connection_string": f"DefaultEndpointsProtocol=http;AccountName=focusacct;AccountKey={key};"
                             f"BlobEndpoint={object_store}/focusacct;"}}))
    paths = ["abfss://exports@focusacct.dfs.core.windows.net/focus/costs/202605/*.csv.gz",
             "az://exports/focus/costs/202605/part-2.parquet"]
    collector = FocusFileCollector("focus-azure-blob", {"paths": paths}, context={"connection_id": "focus_wasb_test"})
    result = load(empty_db, collector)
    assert (result.rows, result.rejects) == (1000, 0)
    assert raw_totals(empty_db, "focus-azure-blob") == pandas_totals(frame)
    assert any(r[0] == "azure" and r[1].endswith("part-2.parquet") and r[2] for r in ObjectStoreFake.requests)
    wrong_account = FocusFileCollector("focus-azure-blob", {"paths": [paths[0].replace("focusacct", "otheracct")]},
                                       context={"connection_id": "focus_wasb_test"})
    with pytest.raises(CollectorError, match="names storage account 'otheracct'"):
        load(empty_db, wrong_account)
    missing = FocusFileCollector("focus-azure-blob", {"paths": ["az://exports/focus/costs/202605/part-9.csv"]},
                                 context={"connection_id": "focus_wasb_test"})
    with pytest.raises(CollectorError, match=r"source focus-azure-blob: opening az://exports/.*part-9.csv failed: "
                                             r"HTTP 404 BlobNotFound"):
        load(empty_db, missing)
    with psycopg.connect(empty_db) as conn:
        leaked = conn.execute("SELECT count(*) FROM raw.focus_cost_line_items AS t WHERE t::text LIKE %s",
                              (f"%{key}%",)).fetchone()
    assert leaked == (0,)


def test_previous_month_restated_on_day_3_is_picked_up_until_it_closes(empty_db, tmp_path):
    """A daily source that replaces whole billing periods: the May bill is loaded in May; on June 3 the export holds
    May restated (a month-close credit on each of 20 lines, one line re-rated): the June 3 run replaces May with it.
    After `close_days` (5) a later restatement is no longer pulled by the daily run (that needs a back-fill)."""
    may = read_strings(SAMPLES["aws"])
    path = tmp_path / "export.csv"
    may.to_csv(path, index=False)
    config = tmp_path / "openfinops.yaml"
    config.write_text(yaml.safe_dump({"sources": [{"id": "focus-export", "type": "focus_file",
                                                   "options": {"paths": [str(path)]}}]}))
    cfg = load_config(config)

    def run(day: date):
        with psycopg.connect(empty_db) as conn:
            return pipeline.collect(cfg, "focus-export", Window.from_dates(day, day + timedelta(days=1)), conn)

    run(date(2026, 5, 31))
    assert raw_totals(empty_db, "focus-export") == pandas_totals(may)

    restated = may.copy()
    for i in range(20):  # month-close credits are negative and legitimate
        restated.loc[i, "BilledCost"] = str(Decimal(restated.loc[i, "BilledCost"]) - Decimal("1.25"))
    restated.loc[20, "BilledCost"] = "0.0000001"
    restated.to_csv(path, index=False)
    result = run(date(2026, 6, 3))
    assert result.window == Window.from_dates(date(2026, 5, 1), date(2026, 7, 1))
    assert raw_totals(empty_db, "focus-export") == pandas_totals(restated)
    assert raw_totals(empty_db, "focus-export") != pandas_totals(may)

    later = restated.copy()
    later.loc[0, "BilledCost"] = "999"
    later.to_csv(path, index=False)
    result = run(date(2026, 6, 6))
    assert result.window == Window.from_dates(date(2026, 6, 1), date(2026, 7, 1))
    assert raw_totals(empty_db, "focus-export") == pandas_totals(restated)  # May closed: kept as loaded on June 3
