"""AWS Data Exports CUR 2.0 from S3, through the real loader and a real ``dbt build``, on the real PostgreSQL.

S3 and Cost Explorer are moto's server on 127.0.0.1 (boto3 makes real HTTP requests). The bucket holds the
documented Data Exports layout for a CUR 2.0 export: ``<prefix>/<export>/data/BILLING_PERIOD=YYYY-MM/<execution>/``
data files and ``<prefix>/<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json`` listing them
(``dataFiles``). May 2026 is two gzipped CSV parts (plus a stale part of an older execution that the manifest no
longer lists); June 2026 is one Parquet file written as AWS types it (double money, timestamps, map<string,string>
for product / resource_tags), in several row groups.

The lines are generated here: usage with tags, Savings Plan covered usage with its negation and the daily recurring
fee, RI-covered usage with the monthly RI fee (and an upfront fee), an EDP discount, tax, a credit and a refund.
Every expected figure is computed in this module from the files as written (read back with pandas / pyarrow, summed
as ``Decimal``), never from the code under test: per billing period the line count and the unblended cost (the
invoice); per day the FOCUS billed cost (unblended, except Savings Plan covered usage and negation, 0) and effective
cost (AWS's amortised cost: the plan's / reservation's effective cost on covered usage, 0 on negations and upfront
fees, the unused commitment on recurring fees).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import boto3
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from collectors.core.base import CollectorError, Reject, Window
from collectors.sources._aws_data_export_cur2 import CUR2_LINE_ITEMS, Cur2Reader
from collectors.sources.aws_data_export import DataExportCollector
from openfinops import pipeline
from openfinops.config import load_config
from openfinops.loader import Loader
from tests.conftest import create_database, drop_database, run_cli
from tests.fakes.moto_server import MotoServer

BUCKET = "example-cur2-exports"
PREFIX = "billing/cur2"
EXPORT = "cur2-hourly"
EXPORT_ARN = "arn:aws:bcm-data-exports:us-east-1:111122223333:export/cur2-hourly-8a0c"
PAYER = "111122223333"
ACCOUNTS = ("444455556666", "777788889999")  # the first runs the Savings Plan, the second the RDS reservation
UNCOVERED_ACCOUNT = "999900001111"  # Cost Explorer only: no CUR line, so its aggregate is kept
SP_ARN = "arn:aws:savingsplans::111122223333:savingsplan/6f1d2c3b-cur2-test"
RI_ARN = "arn:aws:rds:us-east-1:777788889999:ri:db-ri-cur2-test"
PERIODS = {"2026-05": (date(2026, 5, 1), (date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3), date(2026, 5, 4))),
           "2026-06": (date(2026, 6, 1), (date(2026, 6, 1), date(2026, 6, 2), date(2026, 6, 3)))}
MONEY_COLUMNS = ("line_item_usage_amount", "line_item_unblended_cost", "line_item_blended_cost",
                 "pricing_public_on_demand_cost", "reservation_effective_cost",
                 "reservation_unused_amortized_upfront_fee_for_billing_period", "reservation_unused_recurring_fee",
                 "savings_plan_savings_plan_effective_cost", "savings_plan_total_commitment_to_date",
                 "savings_plan_used_commitment")
TIME_COLUMNS = ("bill_billing_period_start_date", "bill_billing_period_end_date", "line_item_usage_start_date",
                "line_item_usage_end_date")
MAP_COLUMNS = ("product", "resource_tags")
HEADER = (
    "identity_line_item_id", "identity_time_interval", "bill_invoice_id", "bill_invoicing_entity",
    "bill_billing_entity", "bill_bill_type", "bill_payer_account_id", "bill_payer_account_name",
    "bill_billing_period_start_date", "bill_billing_period_end_date", "line_item_usage_account_id",
    "line_item_usage_account_name", "line_item_line_item_type", "line_item_usage_start_date",
    "line_item_usage_end_date", "line_item_product_code", "line_item_usage_type", "line_item_operation",
    "line_item_availability_zone", "line_item_resource_id", "line_item_usage_amount", "line_item_currency_code",
    "line_item_unblended_rate", "line_item_unblended_cost", "line_item_blended_cost",
    "line_item_line_item_description", "line_item_legal_entity", "pricing_public_on_demand_cost",
    "pricing_public_on_demand_rate", "pricing_term", "pricing_unit", "product", "product_region_code",
    "product_location", "product_servicecode", "product_sku", "product_fee_code", "resource_tags",
    "reservation_reservation_a_r_n", "reservation_effective_cost",
    "reservation_unused_amortized_upfront_fee_for_billing_period", "reservation_unused_recurring_fee",
    "savings_plan_savings_plan_a_r_n", "savings_plan_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date", "savings_plan_used_commitment",
)
PRODUCTS = {"AmazonEC2": "Amazon Elastic Compute Cloud", "AmazonS3": "Amazon Simple Storage Service",
            "AmazonRDS": "Amazon Relational Database Service",
            "ComputeSavingsPlans": "Savings Plans for AWS Compute usage"}


# --- the export: CUR 2.0 lines as text (what the CSV carries) -------------------------------------------------------
def money(rng: random.Random, high: int = 80) -> Decimal:
    """Up to 12 significant digits, 10 decimals: exact as text and as a Parquet double (shortest repr)."""
    return Decimal(rng.randrange(1, high * 10**10)).scaleb(-10)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def cur2_lines(period: str) -> list[dict[str, str]]:
    """The lines of one billing period, every value as CUR 2.0 text ('' for none)."""
    period_start, days = PERIODS[period]
    start = datetime(period_start.year, period_start.month, 1, tzinfo=UTC)
    end = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
    rng = random.Random(f"cur2-{period}")
    lines: list[dict[str, str]] = []

    def line(line_type: str, account: str, usage_start: datetime, usage_end: datetime, product_code: str,
             unblended: Decimal, **extra: object) -> dict[str, str]:
        row = dict.fromkeys(HEADER, "")
        row.update({
            "identity_line_item_id": f"li-{period}-{len(lines):04d}", "identity_time_interval":
                f"{iso(usage_start)}/{iso(usage_end)}",
            "bill_invoicing_entity": "Amazon Web Services, Inc.", "bill_billing_entity": "AWS",
            "bill_bill_type": "Anniversary", "bill_payer_account_id": PAYER, "bill_payer_account_name": "Example Org",
            "bill_billing_period_start_date": iso(start), "bill_billing_period_end_date": iso(end),
            "line_item_usage_account_id": account, "line_item_usage_account_name": f"acct-{account[-4:]}",
            "line_item_line_item_type": line_type, "line_item_usage_start_date": iso(usage_start),
            "line_item_usage_end_date": iso(usage_end), "line_item_product_code": product_code,
            "line_item_currency_code": "USD", "line_item_unblended_cost": f"{unblended:f}",
            "line_item_blended_cost": f"{unblended:f}", "line_item_line_item_description": f"{line_type} line",
            "line_item_legal_entity": "Amazon Web Services, Inc.", "product_fee_code": f"fee-{len(lines) % 3}",
            "product": json.dumps({"product_name": PRODUCTS[product_code], "region": "us-east-1"}),
            "product_region_code": "us-east-1", "product_location": "US East (N. Virginia)",
            "product_servicecode": product_code,
        })
        row.update({k: (f"{v:f}" if isinstance(v, Decimal) else str(v)) for k, v in extra.items()})
        lines.append(row)
        return row

    for day in days:
        day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        sp_used = Decimal(0)
        for hour in (3, 15):
            at, until = day_start + timedelta(hours=hour), day_start + timedelta(hours=hour + 1)
            for n, account in enumerate(ACCOUNTS):
                cost = money(rng)
                line("Usage", account, at, until, "AmazonEC2", cost, line_item_usage_type="USE1-BoxUsage:m5.large",
                     line_item_operation="RunInstances", line_item_usage_amount=Decimal(1),
                     line_item_resource_id=f"i-0{n}{hour:02d}cafe", line_item_unblended_rate="0.096",
                     pricing_public_on_demand_cost=cost, pricing_public_on_demand_rate="0.096",
                     pricing_term="OnDemand", pricing_unit="Hrs", product_sku="SKU-EC2-M5L",
                     resource_tags=json.dumps({"user_team": ("web", "data")[n], "user_env": "prod"}))
                cost = money(rng, 5)
                line("Usage", account, at, until, "AmazonS3", cost, line_item_usage_type="TimedStorage-ByteHrs",
                     line_item_usage_amount=money(rng, 100), pricing_public_on_demand_cost=cost,
                     pricing_term="OnDemand", pricing_unit="GB-Mo",
                     resource_tags=json.dumps({"user_team": "web"}) if n == 0 else "")
            on_demand, effective = money(rng), money(rng, 20)
            sp_used += effective
            line("SavingsPlanCoveredUsage", ACCOUNTS[0], at, until, "AmazonEC2", on_demand,
                 line_item_usage_amount=Decimal(2), pricing_public_on_demand_cost=on_demand, pricing_term="OnDemand",
                 pricing_unit="Hrs", savings_plan_savings_plan_a_r_n=SP_ARN,
                 savings_plan_savings_plan_effective_cost=effective,
                 resource_tags=json.dumps({"user_team": "ml"}))
            line("SavingsPlanNegation", ACCOUNTS[0], at, until, "AmazonEC2", -on_demand,
                 line_item_usage_amount=Decimal(2), savings_plan_savings_plan_a_r_n=SP_ARN)
            on_demand, effective = money(rng, 30), money(rng, 15)
            line("DiscountedUsage", ACCOUNTS[1], at, until, "AmazonRDS", Decimal(0),
                 line_item_usage_amount=Decimal(1), pricing_public_on_demand_cost=on_demand, pricing_term="Reserved",
                 pricing_unit="Hrs", reservation_reservation_a_r_n=RI_ARN, reservation_effective_cost=effective)
        unused = money(rng, 10)
        line("SavingsPlanRecurringFee", ACCOUNTS[0], day_start, day_start + timedelta(days=1), "ComputeSavingsPlans",
             sp_used + unused, savings_plan_savings_plan_a_r_n=SP_ARN,
             savings_plan_total_commitment_to_date=sp_used + unused, savings_plan_used_commitment=sp_used)
        line("EdpDiscount", ACCOUNTS[0], day_start, day_start + timedelta(days=1), "AmazonEC2", -money(rng, 3))
    first = datetime(days[0].year, days[0].month, days[0].day, tzinfo=UTC)
    line("RIFee", ACCOUNTS[1], start, end, "AmazonRDS", money(rng, 400), reservation_reservation_a_r_n=RI_ARN,
         reservation_unused_amortized_upfront_fee_for_billing_period=money(rng, 20),
         reservation_unused_recurring_fee=money(rng, 20))
    if period == "2026-05":
        line("Fee", ACCOUNTS[1], start, end, "AmazonRDS", money(rng, 2000), reservation_reservation_a_r_n=RI_ARN)
    for account in ACCOUNTS:
        line("Tax", account, start, end, "AmazonEC2", money(rng, 40))
    line("Credit", ACCOUNTS[0], first + timedelta(days=1), first + timedelta(days=2), "AmazonEC2", -money(rng, 25))
    line("Refund", ACCOUNTS[1], first + timedelta(days=2), first + timedelta(days=3), "AmazonS3", -money(rng, 9))
    return lines


def csv_gz(lines: list[dict[str, str]], header: tuple[str, ...] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(lines)
    return gzip.compress(out.getvalue().encode())


def parquet_bytes(lines: list[dict[str, str]], row_group_size: int = 25) -> bytes:
    """Parquet typed as CUR 2.0 is: double money, timestamps (no time zone: UTC), map<string,string> maps."""
    arrays = []
    for name in HEADER:
        values = [row[name] for row in lines]
        if name in MONEY_COLUMNS:
            arrays.append(pa.array([float(v) if v else None for v in values], pa.float64()))
        elif name in TIME_COLUMNS:
            arrays.append(pa.array([datetime.fromisoformat(v.replace("Z", "")) for v in values], pa.timestamp("ms")))
        elif name in MAP_COLUMNS:
            arrays.append(pa.array([list(json.loads(v).items()) if v else None for v in values],
                                   pa.map_(pa.string(), pa.string())))
        else:
            arrays.append(pa.array([v or None for v in values], pa.string()))
    out = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, names=list(HEADER)), out, row_group_size=row_group_size)
    return out.getvalue()


# --- independent expected figures (from the files as written) -------------------------------------------------------
def read_back(data: bytes, fmt: str) -> pd.DataFrame:
    """The file as pandas reads it: every money value as Decimal (Parquet doubles by their shortest repr)."""
    if fmt == "csv":
        frame = pd.read_csv(io.BytesIO(data), compression="gzip", dtype=str, keep_default_na=False)
        for name in MONEY_COLUMNS:
            frame[name] = [Decimal(v) if v else None for v in frame[name]]
        for name in TIME_COLUMNS:
            frame[name] = pd.to_datetime(frame[name], utc=True)
        return frame
    frame = pq.read_table(io.BytesIO(data)).to_pandas()
    for name in MONEY_COLUMNS:
        frame[name] = [None if pd.isna(v) else Decimal(repr(float(v))) for v in frame[name]]
    for name in TIME_COLUMNS:
        frame[name] = pd.to_datetime(frame[name]).dt.tz_localize("UTC")
    return frame


def zero(value: Decimal | None) -> Decimal:
    return Decimal(0) if value is None else value


def focus_money(row: pd.Series) -> tuple[Decimal, Decimal]:
    """(FOCUS billed cost, effective cost) of one CUR 2.0 line, as the AWS formula defines them."""
    kind, unblended = row["line_item_line_item_type"], row["line_item_unblended_cost"]
    billed = Decimal(0) if kind in ("SavingsPlanCoveredUsage", "SavingsPlanNegation") else unblended
    effective = {
        "SavingsPlanCoveredUsage": lambda: row["savings_plan_savings_plan_effective_cost"],
        "SavingsPlanRecurringFee": lambda: row["savings_plan_total_commitment_to_date"]
        - row["savings_plan_used_commitment"],
        "SavingsPlanNegation": lambda: Decimal(0),
        "DiscountedUsage": lambda: row["reservation_effective_cost"],
        "RIFee": lambda: zero(row["reservation_unused_amortized_upfront_fee_for_billing_period"])
        + zero(row["reservation_unused_recurring_fee"]),
        "Fee": lambda: Decimal(0) if row["reservation_reservation_a_r_n"] else unblended,
    }.get(kind, lambda: unblended)()
    return billed, effective


@dataclass
class Expected:
    periods: dict[str, tuple[int, Decimal]]  # period -> (lines, sum of unblended cost)
    days: dict[date, list[Decimal]]  # usage day -> [billed, effective]
    period_effective: dict[str, Decimal]


def expected_figures(frames: dict[str, pd.DataFrame]) -> Expected:
    periods, period_effective, days = {}, {}, defaultdict(lambda: [Decimal(0), Decimal(0)])
    for period, frame in frames.items():
        periods[period] = (len(frame), sum(frame["line_item_unblended_cost"], Decimal(0)))
        period_effective[period] = Decimal(0)
        for _, row in frame.iterrows():
            billed, effective = focus_money(row)
            day = row["line_item_usage_start_date"].date()
            days[day][0] += billed
            days[day][1] += effective
            period_effective[period] += effective
    return Expected(periods, dict(days), period_effective)


# --- fixtures --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


def s3_client(moto: MotoServer):
    return boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1", **moto.credentials)


def put_export(s3, export: str, period: str, files: dict[str, bytes], execution: str) -> list[str]:
    """Data files of one execution of ``export`` plus the period's manifest listing them; returns their URIs."""
    base = f"{PREFIX}/{export}"
    uris = []
    for name, body in files.items():
        key = f"{base}/data/BILLING_PERIOD={period}/{execution}/{name}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        uris.append(f"s3://{BUCKET}/{key}")
    manifest = {"executionId": execution, "exportArn": EXPORT_ARN,
                "columns": [{"name": c, "type": "string"} for c in HEADER], "dataFiles": uris}
    s3.put_object(Bucket=BUCKET, Key=f"{base}/metadata/BILLING_PERIOD={period}/{export}-Manifest.json",
                  Body=json.dumps(manifest).encode())
    return uris


@dataclass
class Delivered:
    frames: dict[str, pd.DataFrame]
    files: dict[str, list[str]]
    expected: Expected


@pytest.fixture(scope="module")
def delivered(moto) -> Delivered:
    s3 = s3_client(moto)
    s3.create_bucket(Bucket=BUCKET)
    may, june = cur2_lines("2026-05"), cur2_lines("2026-06")
    parts = {f"{EXPORT}-00001.csv.gz": csv_gz(may[:40]), f"{EXPORT}-00002.csv.gz": csv_gz(may[40:])}
    # an older execution of May: superseded, not in the manifest, must not be read
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{EXPORT}/data/BILLING_PERIOD=2026-05/20260601T010203Z-old/"
                                     f"{EXPORT}-00001.csv.gz", Body=csv_gz(may[:10]))
    files = {"2026-05": put_export(s3, EXPORT, "2026-05", parts, "20260602T041233Z-7c0e")}
    june_file = parquet_bytes(june)
    files["2026-06"] = put_export(s3, EXPORT, "2026-06", {f"{EXPORT}-00001.snappy.parquet": june_file},
                                  "20260702T035901Z-93b2")
    frames = {"2026-05": pd.concat([read_back(b, "csv") for b in parts.values()], ignore_index=True),
              "2026-06": read_back(june_file, "parquet")}
    # the Parquet doubles carry exactly the generated decimals (so CSV and Parquet totals are comparable)
    assert [v for v in frames["2026-06"]["line_item_unblended_cost"]] == [
        Decimal(r["line_item_unblended_cost"]) for r in june]
    return Delivered(frames, files, expected_figures(frames))


def collector(moto: MotoServer, export: str = EXPORT, source_id: str = "aws-cur2") -> DataExportCollector:
    return DataExportCollector(source_id, {"bucket": BUCKET, "prefix": PREFIX, "export_name": export,
                                           "format": "cur2", "region": "us-east-1"},
                               clients={"s3": s3_client(moto)})


def load(url: str, source: DataExportCollector, day: date):
    """Load the one-day window ``day``: the source widens it to the billing period."""
    with psycopg.connect(url) as conn:
        return Loader(conn).load(source, source.align_window(Window.from_dates(day, day + timedelta(days=1))))


def raw_periods(url: str, source_id: str = "aws-cur2") -> dict[str, tuple[int, Decimal]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("""
            SELECT to_char(bill_billing_period_start_date AT TIME ZONE 'UTC', 'YYYY-MM'), count(*),
                   sum(line_item_unblended_cost)
            FROM raw.aws_data_export_cur2_line_items WHERE _source_id = %s GROUP BY 1""", (source_id,)).fetchall()
    return {period: (n, total) for period, n, total in rows}


# --- the collector and the loader -------------------------------------------------------------------------------------
def test_each_billing_period_loads_from_its_manifest_to_the_exact_decimal(empty_db, moto, delivered):
    source = collector(moto)
    assert source.datasets() == (CUR2_LINE_ITEMS,)
    may = load(empty_db, source, date(2026, 5, 20))
    assert may.window == Window.from_dates(date(2026, 5, 1), date(2026, 6, 1))
    assert (may.rows, may.rejects) == (delivered.expected.periods["2026-05"][0], 0)
    june = load(empty_db, source, date(2026, 6, 30))  # Parquet: ranged GETs, several row groups
    assert (june.rows, june.rejects, june.datasets[0].deleted) == (delivered.expected.periods["2026-06"][0], 0, 0)
    assert raw_periods(empty_db) == delivered.expected.periods  # exact: numeric as delivered
    july = load(empty_db, source, date(2026, 7, 1))  # not delivered yet: no manifest, nothing loaded
    assert (july.rows, july.rejects) == (0, 0)

    with psycopg.connect(empty_db) as conn:
        files = conn.execute("""SELECT source_file, count(*), min(source_line), max(source_line)
                                FROM raw.aws_data_export_cur2_line_items GROUP BY 1 ORDER BY 1""").fetchall()
        # the same line from the CSV and the Parquet file: typed alike, maps as jsonb objects, the rest in extras
        typed = conn.execute("""
            SELECT to_char(bill_billing_period_start_date AT TIME ZONE 'UTC', 'YYYY-MM'), line_item_usage_start_date,
                   resource_tags, product ->> 'product_name', extras ->> 'product_fee_code',
                   extras ->> 'pricing_public_on_demand_rate', jsonb_typeof(extras)
            FROM raw.aws_data_export_cur2_line_items
            WHERE identity_line_item_id IN ('li-2026-05-0000', 'li-2026-06-0000') ORDER BY 1""").fetchall()
    assert [(f, n, first) for f, n, first, _ in files] == [
        (delivered.files["2026-05"][0], 40, 2), (delivered.files["2026-05"][1],
                                                 delivered.expected.periods["2026-05"][0] - 40, 2),
        (delivered.files["2026-06"][0], delivered.expected.periods["2026-06"][0], 1)]
    assert [row[1:] for row in typed] == [
        (datetime(2026, 5, 1, 3, tzinfo=UTC), {"user_team": "web", "user_env": "prod"},
         "Amazon Elastic Compute Cloud", "fee-0", "0.096", "object"),
        (datetime(2026, 6, 1, 3, tzinfo=UTC), {"user_team": "web", "user_env": "prod"},
         "Amazon Elastic Compute Cloud", "fee-0", "0.096", "object")]


def test_reloading_a_period_replaces_it(empty_db, moto, delivered):
    source = collector(moto)
    for _ in range(2):
        may, june = load(empty_db, source, date(2026, 5, 2)), load(empty_db, source, date(2026, 6, 2))
    assert (may.datasets[0].deleted, june.datasets[0].deleted) == (may.rows, june.rows)
    assert raw_periods(empty_db) == delivered.expected.periods


def test_a_bad_value_is_a_reject_naming_file_line_and_column(empty_db, moto, delivered):
    lines = cur2_lines("2026-05")[:6]
    lines[1] = {**lines[1], "line_item_unblended_cost": "12,50"}
    lines[3] = {**lines[3], "line_item_usage_start_date": "yesterday"}
    covered = next(i for i, r in enumerate(lines) if r["line_item_line_item_type"] == "SavingsPlanCoveredUsage")
    lines[covered] = {**lines[covered], "savings_plan_savings_plan_effective_cost": ""}
    put_export(s3_client(moto), "cur2-bad", "2026-05", {"part-1.csv.gz": csv_gz(lines)}, "exec-bad")
    source = collector(moto, "cur2-bad", "aws-cur2-bad")
    uri = f"s3://{BUCKET}/{PREFIX}/cur2-bad/data/BILLING_PERIOD=2026-05/exec-bad/part-1.csv.gz"
    records = list(source.collect(CUR2_LINE_ITEMS, Window.from_dates(date(2026, 5, 1), date(2026, 6, 1))))
    rejects = [(r.record_ref, r.field, r.reason) for r in records if isinstance(r, Reject)]
    assert [(ref, field) for ref, field, _ in rejects] == [
        (f"{uri}:3", "line_item_unblended_cost"), (f"{uri}:5", "line_item_usage_start_date"),
        (f"{uri}:{covered + 2}", "savings_plan_savings_plan_effective_cost")]
    assert "not a decimal number: '12,50'" in rejects[0][2] and "'yesterday'" in rejects[1][2]
    assert sum(isinstance(r, tuple) for r in records) == 3
    # through the loader, with a tolerant threshold: the good lines load, the rejects are kept with their text
    with psycopg.connect(empty_db) as conn:
        result = Loader(conn, max_reject_ratio=0.9).load(source, Window.from_dates(date(2026, 5, 1), date(2026, 6, 1)))
        kept = conn.execute("SELECT record_ref, field, raw_text FROM raw._rejects ORDER BY record_ref").fetchall()
    assert (result.rows, result.rejects) == (3, 3)
    assert kept[0][:2] == (f"{uri}:3", "line_item_unblended_cost") and "12,50" in kept[0][2]


def test_a_missing_column_is_a_clear_error(moto, delivered):
    s3 = s3_client(moto)
    window = Window.from_dates(date(2026, 5, 1), date(2026, 6, 1))
    lines = cur2_lines("2026-05")
    header = tuple(c for c in HEADER if c != "line_item_unblended_cost")
    put_export(s3, "cur2-nocost", "2026-05", {"part-1.csv.gz": csv_gz(lines, header)}, "exec-1")
    with pytest.raises(CollectorError) as err:
        list(collector(moto, "cur2-nocost").collect(CUR2_LINE_ITEMS, window))
    assert "cur2-nocost/data/BILLING_PERIOD=2026-05/exec-1/part-1.csv.gz" in str(err.value)
    assert "missing mandatory CUR 2.0 column(s) ['line_item_unblended_cost']" in str(err.value)
    # a Savings Plan covered line in an export that left out the plan's effective cost cannot be amortised
    header = tuple(c for c in HEADER if c != "savings_plan_savings_plan_effective_cost")
    put_export(s3, "cur2-nosp", "2026-05", {"part-1.csv.gz": csv_gz(lines, header)}, "exec-1")
    with pytest.raises(CollectorError, match=r"part-1.csv.gz: line \d+ is a SavingsPlanCoveredUsage line, but the "
                                             r"file has no savings_plan_savings_plan_effective_cost column"):
        list(collector(moto, "cur2-nosp").collect(CUR2_LINE_ITEMS, window))


class CountingStream(io.RawIOBase):
    """A seekable byte stream that counts the bytes a reader pulled from it."""

    def __init__(self, data: bytes) -> None:
        self.source = io.BytesIO(data)
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.source.seek(offset, whence)

    def tell(self) -> int:
        return self.source.tell()

    def readinto(self, buffer) -> int:
        n = self.source.readinto(buffer)
        self.bytes_read += n
        return n


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_reader_streams_instead_of_reading_the_whole_file(fmt):
    """The first record arrives after a small part of the file was read: gzip CSV through a decompressing stream,
    Parquet row group by row group."""
    rng = random.Random(7)
    lines = [{**row, "identity_line_item_id": f"li-{copy}-{n}-{rng.random()}",
              **{name: f"{money(rng):f}" for name in MONEY_COLUMNS[:4]}}
             for copy in range(300) for n, row in enumerate(cur2_lines("2026-05"))]  # 21,000 lines
    data = csv_gz(lines) if fmt == "csv" else parquet_bytes(lines, row_group_size=2_000)
    stream = CountingStream(data)
    reader, buffered = Cur2Reader(f"big.{fmt}"), io.BufferedReader(stream, buffer_size=8 * 1024)
    # Parquet: record batches of batch_size rows (10,000 by default; smaller here, the file being small)
    first = next(reader.read_csv(buffered) if fmt == "csv" else reader.read_parquet(buffered, batch_size=100))
    assert isinstance(first, tuple)
    assert stream.bytes_read < len(data) / 4, (stream.bytes_read, len(data))


# --- the cost model: a real dbt build -------------------------------------------------------------------------------
def ce_group(account: str, service: str, amount: str) -> dict:
    metric = {"Amount": amount, "Unit": "USD"}
    return {"Keys": [account, service], "Metrics": {"UnblendedCost": metric, "AmortizedCost": metric,
                                                    "NetAmortizedCost": metric,
                                                    "UsageQuantity": {"Amount": "1", "Unit": "Hrs"}}}


# Cost Explorer aggregates for 2026-05-02: one for an account the CUR export covers (dropped: the export wins), one
# for an account it does not cover (kept).
CE_PAGE = {
    "GroupDefinitions": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": "SERVICE"}],
    "ResultsByTime": [{"TimePeriod": {"Start": "2026-05-02", "End": "2026-05-03"}, "Total": {}, "Estimated": False,
                       "Groups": [ce_group(ACCOUNTS[0], "Amazon Elastic Compute Cloud - Compute", "999.5"),
                                  ce_group(UNCOVERED_ACCOUNT, "Amazon Simple Storage Service", "7.25")]}]}
CE_KEPT = Decimal("7.25")


@dataclass
class Warehouse:
    url: str
    dbt_output: str


@pytest.fixture(scope="module")
def warehouse(moto, delivered, tmp_path_factory) -> Iterator[Warehouse]:
    """Both periods and a Cost Explorer day loaded from config (pipeline.collect, injected clients), then
    ``openfinops transform`` (config tables + a real ``dbt build`` of the cost models and their tests)."""
    tmp: Path = tmp_path_factory.mktemp("cur2")
    config = tmp / "cur2.yaml"
    config.write_text(yaml.safe_dump({"sources": [
        {"id": "aws-cur2", "type": "aws_data_export", "connection_id": "aws_cur2",
         "options": {"bucket": BUCKET, "prefix": PREFIX, "export_name": EXPORT, "format": "cur2",
                     "region": "us-east-1"}},
        {"id": "aws-ce", "type": "aws_cost_explorer", "connection_id": "aws_cur2", "lookback_days": 0,
         "options": {"extra_group_bys": []}}]}))
    cfg = load_config(config)
    url = create_database("ofo_cur2")
    try:
        clients = {"s3": s3_client(moto), "ce": boto3.client("ce", endpoint_url=moto.url, region_name="us-east-1",
                                                             **moto.credentials)}
        assert moto.post("/moto-api/static/ce/cost-and-usage-results", {"results": [CE_PAGE]}) == 201
        with psycopg.connect(url) as conn:
            for day in (date(2026, 5, 20), date(2026, 6, 20)):
                result = pipeline.collect(cfg, "aws-cur2", Window.from_dates(day, day + timedelta(days=1)), conn,
                                          clients=clients)
                assert result.rejects == 0
            pipeline.collect(cfg, "aws-ce", Window.from_dates(date(2026, 5, 2), date(2026, 5, 3)), conn,
                             clients=clients)
        proc = run_cli("--config", str(config), "transform", "--select",
                       "+fct_cost_daily +fct_commitment_daily +fct_commitment_coverage_daily",
                       "--indirect-selection", "cautious", "--target-path", str(tmp / "dbt-target"),
                       url=url, check=False)
        if proc.returncode != 0:
            pytest.fail(f"dbt build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
        yield Warehouse(url, proc.stdout)
    finally:
        drop_database(url)


def per_day(url: str, table: str, where: str) -> dict[date, list[Decimal]]:
    with psycopg.connect(url) as conn:
        return {day: [billed, effective] for day, billed, effective in conn.execute(
            f"SELECT charge_date, sum(billed_cost), sum(effective_cost) FROM {table} WHERE {where} GROUP BY 1")}


def test_dbt_build_passes_every_test_with_cur2_data(warehouse):
    summary = [line for line in warehouse.dbt_output.splitlines() if "Done. PASS=" in line][-1]
    assert "ERROR=0" in summary and "WARN=0" in summary, summary
    for name in ("int_aws_data_export_cur2_costs_conformed_maps_line_types",
                 "assert_int_aws_data_export_cur2_costs_conformed_matches_cur",
                 "int_focus_costs_export_wins_over_cost_api"):
        assert name in warehouse.dbt_output, name


def test_int_focus_costs_reconciles_per_day_with_the_cur_lines(warehouse, delivered):
    """Billed and effective cost per charge day of the CUR 2.0 source equal the AWS formula applied to the lines
    written, exactly (numeric end to end); per billing period billed = the invoice (sum of unblended cost)."""
    assert per_day(warehouse.url, "intermediate.int_focus_costs", "source_id = 'aws-cur2'") == delivered.expected.days
    with psycopg.connect(warehouse.url) as conn:
        periods = dict(conn.execute("""
            SELECT to_char(billing_period_start AT TIME ZONE 'UTC', 'YYYY-MM'), sum(billed_cost)
            FROM intermediate.int_focus_costs WHERE source_id = 'aws-cur2' GROUP BY 1""").fetchall())
        unused = conn.execute("""
            SELECT count(*), sum(effective_cost) FROM intermediate.int_focus_costs
            WHERE source_id = 'aws-cur2' AND commitment_discount_status = 'Unused'""").fetchone()
        teams = dict(conn.execute("""SELECT team, count(*) FROM intermediate.int_focus_costs
                                     WHERE source_id = 'aws-cur2' GROUP BY 1""").fetchall())
    assert periods == {p: total for p, (_, total) in delivered.expected.periods.items()}
    fee_lines = sum(int((f["line_item_line_item_type"].isin(["RIFee", "SavingsPlanRecurringFee"])).sum())
                    for f in delivered.frames.values())
    assert unused[0] == fee_lines and unused[1] > 0
    assert {"web", "data", "ml", "untagged"} == set(teams)  # 'user_team' became the team tag


def test_fct_cost_daily_has_the_cur_lines_and_the_export_wins(warehouse, delivered):
    """The mart: AWS per day = the CUR 2.0 figures, plus only the Cost Explorer aggregate of the account no CUR line
    covers (the covered account's aggregate is left out by the precedence rule)."""
    expected = {day: list(values) for day, values in delivered.expected.days.items()}
    expected[date(2026, 5, 2)] = [expected[date(2026, 5, 2)][0] + CE_KEPT, expected[date(2026, 5, 2)][1] + CE_KEPT]
    assert per_day(warehouse.url, "marts.fct_cost_daily", "provider_name = 'AWS'") == expected  # exact: numeric
    with psycopg.connect(warehouse.url) as conn:
        kept = conn.execute("""SELECT sub_account_id, sum(billed_cost) FROM intermediate.int_focus_costs
                               WHERE source_id = 'aws-ce' GROUP BY 1""").fetchall()
        raw = conn.execute("SELECT count(*) FROM raw.aws_cost_explorer_cost_daily").fetchone()[0]
        commitments = conn.execute("""SELECT commitment_discount_id, sum(unused_effective_cost) > 0
                                      FROM marts.fct_commitment_daily GROUP BY 1 ORDER BY 1""").fetchall()
    assert raw == 2 and kept == [(UNCOVERED_ACCOUNT, CE_KEPT)]
    assert commitments == [(RI_ARN, True), (SP_ARN, True)]
