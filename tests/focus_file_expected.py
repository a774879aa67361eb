"""Independent expected figures for the FOCUS source tests: pandas reads the sample as strings and sums ``Decimal``
values (never our parser), and a typed Parquet writer makes the Parquet variant of a sample."""

from decimal import Decimal
from pathlib import Path

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

from collectors.core.focus_schema import ALL_COLUMNS, DATETIME, DECIMAL
from tests.conftest import SHARED_DATA

SAMPLES = {p: SHARED_DATA / "focus-1.2" / f"focus_1_2_cost_and_usage_{p}.csv" for p in ("aws", "azure", "gcp")}


def read_strings(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def pandas_totals(frame: pd.DataFrame, provider_column: str = "ProviderName") -> dict:
    """{(provider, UTC date of ChargePeriodStart): (rows, sum BilledCost, sum EffectiveCost)} in Decimal."""
    day = pd.to_datetime(frame["ChargePeriodStart"], utc=True).dt.date
    totals = {}
    for (provider, charge_day), group in frame.groupby([frame[provider_column], day]):
        totals[(provider, charge_day)] = (len(group), sum(map(Decimal, group["BilledCost"])),
                                          sum(map(Decimal, group["EffectiveCost"])))
    return totals


def raw_totals(url: str, source_id: str) -> dict:
    """The same figures from raw.focus_cost_line_items for one source."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("""
            SELECT provider_name, (charge_period_start AT TIME ZONE 'UTC')::date, count(*), sum(billed_cost),
                   sum(effective_cost)
            FROM raw.focus_cost_line_items WHERE _source_id = %s GROUP BY 1, 2""", (source_id,)).fetchall()
    return {(provider, day): (n, billed, effective) for provider, day, n, billed, effective in rows}


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Typed Parquet as an export would write it: decimal128, UTC timestamps, strings (JSON as text)."""
    arrays = []
    for name in frame.columns:
        kind = ALL_COLUMNS[name].kind
        values = [v or None for v in frame[name]]
        if kind == DECIMAL:
            arrays.append(pa.array([Decimal(v) if v else None for v in values], pa.decimal128(38, 18)))
        elif kind == DATETIME:
            arrays.append(pa.array(pd.to_datetime(pd.Series(values), utc=True), pa.timestamp("us", tz="UTC")))
        else:
            arrays.append(pa.array(values, pa.string()))
    pq.write_table(pa.Table.from_arrays(arrays, names=list(frame.columns)), path, row_group_size=300)
