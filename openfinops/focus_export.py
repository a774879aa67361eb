"""Export the unified cost model (``intermediate.int_focus_costs``) for a period as a FOCUS 1.2 file.

    openfinops export-focus --start 2026-05-01 --end 2026-06-01 --out may.csv      (or .csv.gz, .parquet)

Rows are those whose ChargePeriodStart lies in [start, end) (the FOCUS day rule). Columns are FOCUS 1.2 names, in
alphabetical order (as the spec lists them), for every column the model carries, then two extension columns:
``x_SourceId`` (the configured source that loaded the line) and ``x_CostLineKey`` (our line key). Timestamps are
ISO-8601 UTC with a ``Z``; money is written exactly as stored (PostgreSQL numeric, never through float); ``Tags`` is
a JSON object (keys as normalised by the model, i.e. lower-cased). ListCost and ContractedCost are empty where the
source does not report them (the Cost Explorer and Azure Query API rows): FOCUS requires them, so such rows are not
FOCUS-conformant in those two columns and we do not invent a value.

Streams: a server-side cursor feeds the CSV writer / a pyarrow ParquetWriter in batches; the period is never held
in memory.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path

# (FOCUS 1.2 column, int_focus_costs column, kind) in FOCUS spec order.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("BilledCost", "billed_cost", "decimal"),
    ("BillingAccountId", "billing_account_id", "string"),
    ("BillingAccountName", "billing_account_name", "string"),
    ("BillingCurrency", "billing_currency", "string"),
    ("BillingPeriodEnd", "billing_period_end", "datetime"),
    ("BillingPeriodStart", "billing_period_start", "datetime"),
    ("ChargeCategory", "charge_category", "string"),
    ("ChargeClass", "charge_class", "string"),
    ("ChargeDescription", "charge_description", "string"),
    ("ChargeFrequency", "charge_frequency", "string"),
    ("ChargePeriodEnd", "charge_period_end", "datetime"),
    ("ChargePeriodStart", "charge_period_start", "datetime"),
    ("CommitmentDiscountCategory", "commitment_discount_category", "string"),
    ("CommitmentDiscountId", "commitment_discount_id", "string"),
    ("CommitmentDiscountStatus", "commitment_discount_status", "string"),
    ("CommitmentDiscountType", "commitment_discount_type", "string"),
    ("ContractedCost", "contracted_cost", "decimal"),
    ("ContractedUnitPrice", "contracted_unit_price", "decimal"),
    ("EffectiveCost", "effective_cost", "decimal"),
    ("InvoiceIssuerName", "invoice_issuer_name", "string"),
    ("ListCost", "list_cost", "decimal"),
    ("ListUnitPrice", "list_unit_price", "decimal"),
    ("PricingCategory", "pricing_category", "string"),
    ("PricingQuantity", "pricing_quantity", "decimal"),
    ("PricingUnit", "pricing_unit", "string"),
    ("ProviderName", "provider_name", "string"),
    ("PublisherName", "publisher_name", "string"),
    ("RegionId", "region_id", "string"),
    ("RegionName", "region_name", "string"),
    ("ResourceId", "resource_id", "string"),
    ("ResourceName", "resource_name", "string"),
    ("ServiceCategory", "service_category", "string"),
    ("ServiceName", "service_name", "string"),
    ("SkuId", "sku_id", "string"),
    ("SubAccountId", "sub_account_id", "string"),
    ("SubAccountName", "sub_account_name", "string"),
    ("Tags", "tags", "json"),
    ("x_SourceId", "source_id", "string"),
    ("x_CostLineKey", "cost_line_key", "string"),
)
HEADER = tuple(c[0] for c in COLUMNS)
BATCH_ROWS = 50_000


def _format(value, kind: str) -> str:
    if value is None:
        return ""
    if kind == "datetime":
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "json":
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if kind == "decimal":
        return format(value, "f")
    return str(value)


def _rows(conn, start: date, end: date, schema: str) -> Iterator[tuple]:
    from psycopg import sql

    statement = sql.SQL("SELECT {} FROM {} WHERE charge_period_start >= %s AND charge_period_start < %s "
                        "ORDER BY charge_period_start, cost_line_key").format(
        sql.SQL(", ").join(sql.Identifier(c[1]) for c in COLUMNS), sql.Identifier(schema, "int_focus_costs"))
    bounds = (datetime.combine(start, time(), UTC), datetime.combine(end, time(), UTC))
    with conn.transaction(), conn.cursor(name="openfinops_focus_export") as cur:
        cur.itersize = BATCH_ROWS
        cur.execute(statement, bounds)
        yield from cur


def export_focus(conn, start: date, end: date, out: Path, schema: str = "intermediate") -> int:
    """Write [start, end) to ``out`` (.csv, .csv.gz or .parquet). Returns the number of rows written."""
    if end <= start:
        raise ValueError(f"--end {end} must be after --start {start}")
    name = out.name.lower()
    if name.endswith(".parquet"):
        return _write_parquet(_rows(conn, start, end, schema), out)
    if name.endswith((".csv", ".csv.gz")):
        return _write_csv(_rows(conn, start, end, schema), out)
    raise ValueError(f"--out {out}: expected a file name ending in .csv, .csv.gz or .parquet")


def _write_csv(rows: Iterator[tuple], out: Path) -> int:
    kinds = [c[2] for c in COLUMNS]
    opener = gzip.open if out.name.lower().endswith(".gz") else open
    n = 0
    with opener(out, "wt", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        for row in rows:
            writer.writerow([_format(v, k) for v, k in zip(row, kinds, strict=True)])
            n += 1
    return n


def _arrow_schema():
    import pyarrow as pa

    types = {"decimal": pa.decimal128(38, 18), "datetime": pa.timestamp("us", tz="UTC"), "string": pa.string(),
             "json": pa.string()}
    return pa.schema([pa.field(name, types[kind]) for name, _, kind in COLUMNS])


def _write_parquet(rows: Iterator[tuple], out: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _arrow_schema()
    kinds = [c[2] for c in COLUMNS]
    n = 0

    def arrow_value(value, kind):
        if value is None:
            return None
        if kind == "json":
            return json.dumps(value, sort_keys=True, separators=(",", ":"))
        return value  # Decimal: pyarrow raises rather than round if it does not fit decimal128(38, 18)

    with pq.ParquetWriter(out, schema) as writer:
        batch: list[list] = [[] for _ in COLUMNS]
        for row in rows:
            for i, (value, kind) in enumerate(zip(row, kinds, strict=True)):
                batch[i].append(arrow_value(value, kind))
            n += 1
            if len(batch[0]) >= BATCH_ROWS:
                writer.write_table(pa.Table.from_arrays(batch, schema=schema))
                batch = [[] for _ in COLUMNS]
        if batch[0] or n == 0:
            writer.write_table(pa.Table.from_arrays(batch, schema=schema))
    return n

