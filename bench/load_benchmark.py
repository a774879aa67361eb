"""Load benchmark: the project's loader vs bare COPY vs pandas.to_sql, same rows, same table, one run.

    make bench            (or: bin/openfinops-python bench/load_benchmark.py --rows 1000000)

Rows are the demo's FOCUS cost lines (the columns of ``raw.focus_cost_line_items`` + 5 load-metadata columns),
generated once before any timing. Each method loads into a freshly truncated ``bench.focus_cost_line_items`` (same
DDL as raw). Printed: rows/s per
method and the ratios the project tracks (targets: loader >= 0.7x bare COPY and >= 15x pandas.to_sql).
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime

import psycopg
from psycopg import sql

from collectors.core.base import Collector, Dataset, Window
from collectors.sources.demo import COST_LINE_ITEMS, DemoCollector
from openfinops.loader import META_COLUMNS, META_TYPES, Loader, ensure_tables
from openfinops.warehouse import warehouse_url

SCHEMA = "bench"
LOADER = "loader (openfinops.loader.Loader)"
BARE_TEXT = "bare COPY, text (write_row)"
BARE_BINARY = "bare COPY, binary (write_row)"
SERVER = "COPY of pre-formatted text"
SERVER_BINARY = "COPY of pre-formatted binary"
PANDAS = "pandas.to_sql (default options)"
DAY = date(2026, 11, 2)


class ListCollector(Collector):
    """Replays pre-generated records so generation is not part of the timing."""

    type = "bench"

    def __init__(self, rows: list[tuple]) -> None:
        super().__init__("bench-source")
        self.rows = rows

    def datasets(self) -> tuple[Dataset, ...]:
        return (COST_LINE_ITEMS,)

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple]:
        return iter(self.rows)


def generate(n_rows: int) -> list[tuple]:
    scale = n_rows / 384 + 1
    collector = DemoCollector("bench-source", {"datasets": ["cost_line_items"], "scale": scale})
    window = Window.from_dates(DAY, date.fromordinal(DAY.toordinal() + 1))
    return list(itertools.islice(collector.collect(COST_LINE_ITEMS, window), n_rows))


def truncate(conn: psycopg.Connection) -> None:
    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(SCHEMA, COST_LINE_ITEMS.table)))
    conn.commit()


def count(conn: psycopg.Connection) -> int:
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
        sql.Identifier(SCHEMA, COST_LINE_ITEMS.table))).fetchone()[0]


def copy_statement() -> sql.Composed:
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in (*COST_LINE_ITEMS.column_names, *META_COLUMNS))
    return sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(SCHEMA, COST_LINE_ITEMS.table), cols)


def run_loader(conn, rows, window) -> None:
    Loader(conn, schema=SCHEMA, max_reject_ratio=0.0).load(ListCollector(rows), window, batch_id="bench")


def run_bare_copy(conn, rows, window, binary: bool = False) -> None:
    """The least code that COPYs these rows: write_row per record, no checks, no slice replacement."""
    meta = ("bench-source", "bench", window.start, window.end, datetime.now(UTC))
    statement = sql.SQL("{} (FORMAT BINARY)").format(copy_statement()) if binary else copy_statement()
    with conn.cursor() as cur, cur.copy(statement) as copy:
        if binary:
            copy.set_types([c.pg_type for c in COST_LINE_ITEMS.columns] + list(META_TYPES))
        for row in rows:
            copy.write_row(row + meta)
    conn.commit()


def preformat(conn, rows, window, binary: bool = False) -> bytes:
    """COPY data for the rows, produced by PostgreSQL itself (so the server-side floor is exact)."""
    run_bare_copy(conn, rows, window)
    buf = io.BytesIO()
    statement = sql.SQL("COPY {} ({}) TO STDOUT").format(
        sql.Identifier(SCHEMA, COST_LINE_ITEMS.table),
        sql.SQL(", ").join(sql.Identifier(c) for c in (*COST_LINE_ITEMS.column_names, *META_COLUMNS)))
    if binary:
        statement = sql.SQL("{} (FORMAT BINARY)").format(statement)
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for block in copy:
            buf.write(block)
    truncate(conn)
    return buf.getvalue()


def run_preformatted_copy(conn, text: bytes, binary: bool = False) -> None:
    statement = sql.SQL("{} (FORMAT BINARY)").format(copy_statement()) if binary else copy_statement()
    with conn.cursor() as cur, cur.copy(statement) as copy:
        view = memoryview(text)
        for i in range(0, len(view), 1 << 20):
            copy.write(view[i:i + (1 << 20)])
    conn.commit()


def run_pandas(url, rows, window, n) -> None:
    import pandas as pd
    from sqlalchemy import DateTime, Numeric, Text, create_engine
    from sqlalchemy.dialects.postgresql import JSONB

    # Existing table, appended to; pandas needs the column types or it sends Decimals as VARCHAR.
    pg_types = {"numeric": Numeric(), "timestamptz": DateTime(timezone=True), "jsonb": JSONB(), "text": Text()}
    dtype = {c.name: pg_types[c.pg_type] for c in COST_LINE_ITEMS.columns}
    meta = ("bench-source", "bench", window.start, window.end, datetime.now(UTC))
    frame = pd.DataFrame([r + meta for r in rows[:n]], columns=[*COST_LINE_ITEMS.column_names, *META_COLUMNS])
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    start = time.perf_counter()
    frame["tags"] = [json.loads(t) if isinstance(t, str) else None for t in frame["tags"]]
    frame.to_sql(COST_LINE_ITEMS.table, engine, schema=SCHEMA, if_exists="append", index=False, dtype=dtype)
    engine.dispose()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pandas-rows", type=int, default=None,
                        help="rows for pandas.to_sql (default: all; its rate is what is compared)")
    args = parser.parse_args()
    url = warehouse_url()
    window = Window.from_dates(DAY, date.fromordinal(DAY.toordinal() + 1))
    t0 = time.perf_counter()
    rows = generate(args.rows)
    print(f"generated {len(rows):,} demo cost rows ({len(COST_LINE_ITEMS.columns)} columns + 5 metadata) "
          f"in {time.perf_counter() - t0:.1f} s (not timed below)")
    results: dict[str, float] = {}
    with psycopg.connect(url) as conn:
        ensure_tables(conn, [COST_LINE_ITEMS], SCHEMA)
        conn.commit()
        truncate(conn)
        text = preformat(conn, rows, window)
        binary = preformat(conn, rows, window, binary=True)
        for name, fn in ((LOADER, lambda: run_loader(conn, rows, window)),
                         (BARE_TEXT, lambda: run_bare_copy(conn, rows, window)),
                         (BARE_BINARY, lambda: run_bare_copy(conn, rows, window, binary=True)),
                         (SERVER, lambda: run_preformatted_copy(conn, text)),
                         (SERVER_BINARY, lambda: run_preformatted_copy(conn, binary, binary=True))):
            truncate(conn)
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
            assert count(conn) == len(rows), f"{name}: row count mismatch"
            results[name] = len(rows) / elapsed
            print(f"{name:<36} {len(rows):>10,} rows {elapsed:8.2f} s {results[name]:>12,.0f} rows/s", flush=True)
        truncate(conn)
        n_pandas = min(args.pandas_rows or len(rows), len(rows))
        elapsed = run_pandas(url, rows, window, n_pandas)
        assert count(conn) == n_pandas, "pandas.to_sql: row count mismatch"
        results[PANDAS] = n_pandas / elapsed
        print(f"{PANDAS:<36} {n_pandas:>10,} rows {elapsed:8.2f} s {results[PANDAS]:>12,.0f} rows/s", flush=True)
        truncate(conn)
    loader = results[LOADER]
    bare = max(results[BARE_TEXT], results[BARE_BINARY])
    print()
    print(f"loader / best bare COPY (write_row) = {loader / bare:.2f}x  (target >= 0.7)")
    floor = max(results[SERVER], results[SERVER_BINARY])
    print(f"loader / server-side COPY floor     = {loader / floor:.2f}x  (best pre-formatted COPY, no Python)")
    print(f"loader / pandas.to_sql              = {loader / results[PANDAS]:.1f}x  (target >= 15)")
    print(f"server-side floor / pandas.to_sql   = {floor / results[PANDAS]:.1f}x  (the ceiling for any client here)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
