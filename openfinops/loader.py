"""Stream collector records into ``raw.*`` with COPY, replacing exactly one (source, window) slice per dataset.

One transaction per load, serialised per source by an advisory lock (two loads of the same source never interleave):
for every dataset, delete the source's rows whose time column lies in the window, then COPY the new rows (each
carrying ``_source_id, _batch_id, _window_start, _window_end, _loaded_at``). Re-running or back-filling a window
therefore never duplicates cost. Before anything is deleted, the parts of the window the source says it has not
delivered (``Collector.undelivered``: no manifest, no export run) are checked: if raw holds rows of such a part the
load fails naming what is missing, and nothing is replaced.

Rejects are streamed to ``raw._rejects`` in batches on a connection of their own (bounded memory; a refused load
keeps them). If the reject ratio passes the source's threshold, or more than ``max_rejects`` records are rejected
(checked as they come: the rest of the source is not read), the data is rolled back and the load fails, naming the
source and the first rejected record. A successful load deletes the earlier rejects it replaces: those whose record
time lies in its window, and those without a record time whose load window lies inside it.

Every attempt is logged in ``ops.loads`` (openfinops/run_log.py), one row per dataset: a successful load writes its
rows inside the load transaction (a rolled-back load leaves no 'success' row); a failed one (too many rejects, or any
error while collecting or copying) writes 'failed' rows in a transaction of their own after the rollback, then the
error is raised again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from psycopg import Connection, OperationalError, sql
from psycopg.adapt import Dumper
from psycopg.postgres import types as builtin_types
from psycopg.pq import Format

from collectors.core.base import Collector, CollectorError, Dataset, Reject, Window
from openfinops import run_log
from openfinops.warehouse import serialised_ddl

# Load metadata every raw row carries: (column, type).
META = (("_source_id", "text"), ("_batch_id", "text"), ("_window_start", "timestamptz"),
        ("_window_end", "timestamptz"), ("_loaded_at", "timestamptz"))
META_COLUMNS = tuple(name for name, _ in META)
META_TYPES = tuple(pg_type for _, pg_type in META)
META_DDL = tuple(f"{name} {pg_type} NOT NULL" for name, pg_type in META)
REJECTS_TABLE = "_rejects"


class JsonbBinaryDumper(Dumper):
    """jsonb in binary COPY: version byte 1 + the JSON text. A ``str`` is taken as JSON text as delivered by the
    source (psycopg's own jsonb dumper would encode it again as a JSON string); other values are serialised."""

    format = Format.BINARY
    oid = builtin_types["jsonb"].oid

    def dump(self, obj) -> bytes:
        text = obj if isinstance(obj, str) else json.dumps(obj, default=str)
        return b"\x01" + text.encode()


class LoadError(RuntimeError):
    """The load was refused (too many rejects); nothing of the window's data was changed."""


class LoadInterrupted(RuntimeError):
    """The warehouse connection was lost during the load (server restart, network): nothing of it was committed."""


@dataclass
class DatasetResult:
    dataset: str
    table: str
    rows: int = 0
    rejects: int = 0
    deleted: int = 0


@dataclass
class LoadResult:
    source_id: str
    batch_id: str
    window: Window
    datasets: list[DatasetResult] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.datasets)

    @property
    def rejects(self) -> int:
        return sum(d.rejects for d in self.datasets)

    def summary(self) -> str:
        parts = ", ".join(f"raw.{d.table}: {d.rows} rows ({d.deleted} replaced, {d.rejects} rejected)"
                          for d in self.datasets)
        return f"source {self.source_id} window {self.window} batch {self.batch_id}: {parts}"


def slice_index(ds: Dataset) -> str:
    """The index a load's delete uses: (_source_id, time column). Named after both, because two datasets may share a
    table with different time columns (the demo's FOCUS lines replace charge days, FOCUS files billing periods)."""
    return f"{ds.table}_{ds.time_column}_slice_idx"[:63]  # PostgreSQL's identifier limit


def ensure_tables(conn: Connection, datasets: Iterable[Dataset], schema: str = "raw") -> None:
    """Create the raw schema, the dataset tables and their slice indexes (if missing) and ``raw._rejects``, in a
    transaction of its own. Idempotent. When everything exists nothing is executed: ``CREATE INDEX IF NOT EXISTS``
    takes a SHARE lock on its table even when the index exists, and would wait for every load writing to it (and make
    loads of other sources into the same table queue behind each other). Missing objects are created one session at
    a time (``warehouse.serialised_ddl``), so two first loads do not race on the catalog."""
    datasets = list(datasets)
    relations = [f"{schema}.{REJECTS_TABLE}"]
    for ds in datasets:
        relations += [f"{schema}.{ds.table}", f"{schema}.{slice_index(ds)}"]
    rejects = sql.Identifier(schema, REJECTS_TABLE).as_string(conn)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT count(to_regclass(name)) FROM unnest(%s::text[]) AS name",
                    ([sql.Identifier(*r.split(".")).as_string(conn) for r in relations],))
        present = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = 'record_time' "
                    "AND NOT attisdropped", (rejects,))
        if present == len(relations) and cur.fetchone()[0] == 1:
            return
    with serialised_ddl(conn, f"openfinops.loader.ddl:{schema}") as cur:
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        for ds in datasets:
            cols = [sql.SQL("{} {}{}").format(sql.Identifier(c.name), sql.SQL(c.pg_type),
                                              sql.SQL("" if c.nullable else " NOT NULL")) for c in ds.columns]
            cols += [sql.SQL(d) for d in META_DDL]
            cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.{} ({})").format(
                sql.Identifier(schema), sql.Identifier(ds.table), sql.SQL(", ").join(cols)))
            cur.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {}.{} (_source_id, {})").format(
                sql.Identifier(slice_index(ds)), sql.Identifier(schema), sql.Identifier(ds.table),
                sql.Identifier(ds.time_column)))
        cur.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.{} (dataset text NOT NULL, record_ref text NOT NULL, field text, "
            "reason text NOT NULL, raw_text text, " + ", ".join(META_DDL) + ")").format(
            sql.Identifier(schema), sql.Identifier(REJECTS_TABLE)))
        # added after the first release: the record's time, when known (which load replaces the reject)
        cur.execute(sql.SQL("ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS record_time timestamptz").format(
            sql.Identifier(schema), sql.Identifier(REJECTS_TABLE)))
        cur.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {}.{} (_source_id, _batch_id)").format(
            sql.Identifier(f"{REJECTS_TABLE}_batch_idx"), sql.Identifier(schema), sql.Identifier(REJECTS_TABLE)))


class RejectSink:
    """Streams the rejects of one load to ``raw._rejects`` in batches of ``batch_size`` (binary COPY), on a
    connection of its own in autocommit: memory stays bounded whatever the number of bad records, and a load that
    is refused (rolled back) still leaves its rejects for the operator to read."""

    def __init__(self, conn: Connection, schema: str, source_id: str, batch_id: str, window: Window,
                 batch_size: int = 1000) -> None:
        import psycopg

        self.side = psycopg.connect(conn.info.dsn, password=conn.info.password, autocommit=True)
        self.table = sql.Identifier(schema, REJECTS_TABLE)
        self.meta = (source_id, batch_id, window.start, window.end)
        self.batch_size = batch_size
        self.buffer: list[tuple] = []
        self.count = 0
        self.first: Reject | None = None

    def add(self, reject: Reject) -> None:
        self.first = self.first or reject
        self.count += 1
        self.buffer.append((reject.dataset, reject.record_ref, reject.field, reject.reason, reject.raw_text,
                            reject.at, *self.meta, datetime.now(UTC)))
        if len(self.buffer) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        columns = ("dataset", "record_ref", "field", "reason", "raw_text", "record_time", *META_COLUMNS)
        with self.side.cursor() as cur, cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                self.table, sql.SQL(", ").join(map(sql.Identifier, columns)))) as copy:
            copy.set_types(["text"] * 5 + ["timestamptz", *META_TYPES])
            for row in self.buffer:
                copy.write_row(row)
        self.buffer.clear()

    def discard(self) -> None:
        """Delete what this load wrote (it failed for another reason than its rejects: its data was not loaded)."""
        self.buffer.clear()
        self.side.execute(sql.SQL("DELETE FROM {} WHERE _source_id = %s AND _batch_id = %s").format(self.table),
                          self.meta[:2])

    def close(self) -> None:
        self.side.close()


class Loader:
    """Loads one collector's window. ``conn`` is a psycopg 3 connection (e.g. ``PostgresHook(...).get_conn()``).
    ``max_reject_ratio``: the share of rejected records above which the load is refused (checked at the end);
    ``max_rejects``: the number above which it is refused at once, without reading the rest of the source."""

    def __init__(self, conn: Connection, schema: str = "raw", max_reject_ratio: float = 0.01,
                 max_rejects: int = 100_000, reject_batch_size: int = 1000) -> None:
        self.conn = conn
        self.schema = schema
        self.max_reject_ratio = max_reject_ratio
        self.max_rejects = max_rejects
        self.reject_batch_size = reject_batch_size

    def load(self, collector: Collector, window: Window, batch_id: str | None = None) -> LoadResult:
        batch_id = batch_id or uuid.uuid4().hex
        load_id = uuid.uuid4().hex
        started_at = datetime.now(UTC)
        result = LoadResult(collector.source_id, batch_id, window)
        datasets = collector.datasets()
        sink: RejectSink | None = None
        try:
            ensure_tables(self.conn, datasets, self.schema)
            run_log.ensure_tables(self.conn)
            sink = RejectSink(self.conn, self.schema, collector.source_id, batch_id, window, self.reject_batch_size)
            with self.conn.transaction():
                self._lock_source(collector.source_id)
                self._check_deliveries(collector, datasets, window)
                for ds in datasets:
                    meta = (collector.source_id, batch_id, window.start, window.end, datetime.now(UTC))
                    result.datasets.append(self._replace_slice(ds, collector.collect(ds, window), window, meta,
                                                               sink, result))
                sink.flush()
                self._check_reject_ratio(collector.source_id, result, sink)
                self._delete_replaced_rejects(collector.source_id, window, datasets, batch_id)
                # same transaction: the success rows exist exactly when the data does
                run_log.write_loads(self.conn, load_id=load_id, source_id=collector.source_id, batch_id=batch_id,
                                    window_start=window.start, window_end=window.end, status="success",
                                    rows=[run_log.LoadRow(d.dataset, d.table, d.rows, d.rejects, d.deleted)
                                          for d in result.datasets], started_at=started_at)
        except LoadError as exc:
            # the refused load's rejects are kept beside the earlier ones: the window still holds the earlier load's
            # rows, and their rejects still describe them (the next successful load replaces both)
            sink.flush()
            self._record_failure(collector.source_id, batch_id, load_id, window, datasets, result, started_at, exc)
            raise
        except Exception as exc:
            if sink is not None:
                run_log.record_failure_quietly(lambda _conn: sink.discard(), self.conn)
            self._record_failure(collector.source_id, batch_id, load_id, window, datasets, None, started_at, exc)
            if isinstance(exc, OperationalError) and self.conn.closed:
                raise LoadInterrupted(
                    f"source {collector.source_id}: lost the warehouse connection during the load of window {window} "
                    f"({str(exc).splitlines()[0]}); nothing of this load was committed and the window keeps its "
                    f"previous rows: retry the task") from exc
            raise
        finally:
            if sink is not None:
                sink.close()
        return result

    def _lock_source(self, source_id: str) -> None:
        """Serialise loads of one source: a transaction-scoped advisory lock keyed on the source id, taken before
        the first DELETE. A second load of the same source (an overlapping back-fill, a second active DAG run) waits
        here until the first commits or rolls back, and its DELETE then sees the first's rows, so overlapping windows
        are replaced, never doubled. Loads of other sources are not held up (a hash collision only serialises)."""
        self.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"openfinops.load:{source_id}",))

    def _check_deliveries(self, collector: Collector, datasets: Sequence[Dataset], window: Window) -> None:
        """Refuse to replace a part of the window the source has not delivered while raw holds rows of it."""
        for part, missing in collector.undelivered(window):
            for ds in datasets:
                (rows,) = self.conn.execute(sql.SQL(
                    "SELECT count(*) FROM {} WHERE _source_id = %s AND {} >= %s AND {} < %s").format(
                    sql.Identifier(self.schema, ds.table), sql.Identifier(ds.time_column),
                    sql.Identifier(ds.time_column)), (collector.source_id, part.start, part.end)).fetchone()
                if rows:
                    raise CollectorError(
                        f"source {collector.source_id}: nothing delivered for {part}: {missing} is missing, but "
                        f"{self.schema}.{ds.table} holds {rows} rows of it from earlier loads; they are kept and "
                        f"nothing of window {window} was replaced. Check the source's bucket / prefix / export name "
                        f"and the storage lifecycle rules, or back-fill once the delivery exists.")

    def _record_failure(self, source_id: str, batch_id: str, load_id: str, window: Window,
                        datasets: Sequence[Dataset], result: LoadResult | None, started_at: datetime,
                        exc: BaseException) -> None:
        """'failed' rows in ops.loads, one per dataset, in their own transaction (the load's was rolled back).
        rows_rejected counts the rejects kept in raw._rejects (a refused load keeps them; other errors keep none)."""
        kept = {d.dataset: d.rejects for d in result.datasets} if result else {}
        rows = [run_log.LoadRow(ds.name, ds.table, rows_rejected=kept.get(ds.name, 0)) for ds in datasets]

        def write(conn: Connection) -> None:
            run_log.ensure_tables(conn)
            with conn.transaction():
                run_log.write_loads(conn, load_id=load_id, source_id=source_id, batch_id=batch_id,
                                    window_start=window.start, window_end=window.end, status="failed", rows=rows,
                                    started_at=started_at, error=exc)

        run_log.record_failure_quietly(write, self.conn)

    def _replace_slice(self, ds: Dataset, records: Iterable[tuple | Reject], window: Window, meta: tuple,
                       sink: RejectSink, result: LoadResult) -> DatasetResult:
        out = DatasetResult(ds.name, ds.table)
        table = sql.Identifier(self.schema, ds.table)
        with self.conn.cursor() as cur:
            cur.execute(sql.SQL("DELETE FROM {} WHERE _source_id = %s AND {} >= %s AND {} < %s").format(
                table, sql.Identifier(ds.time_column), sql.Identifier(ds.time_column)),
                (meta[0], window.start, window.end))
            out.deleted = cur.rowcount
            columns = sql.SQL(", ").join(sql.Identifier(c) for c in (*ds.column_names, *META_COLUMNS))
            width, required = len(ds.columns), ds.required
            in_window = _window_check(ds, window)
            time_pos = ds.column_names.index(ds.time_column)
            # Binary COPY: about 1.5x faster to encode than text for these rows (Decimal, timestamptz).
            cur.adapters.register_dumper(None, JsonbBinaryDumper)
            with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(table, columns)) as copy:
                copy.set_types([c.pg_type for c in ds.columns] + list(META_TYPES))
                write = copy.write_row
                for n, record in enumerate(records):
                    if not isinstance(record, Reject):
                        problem = _check_record(record, width, required, ds, in_window)
                        if not problem:
                            write(record + meta)
                            out.rows += 1
                            continue
                        record = Reject(ds.name, f"record #{n}", problem[0], problem[1], repr(record),
                                        _record_time(record, time_pos))
                    sink.add(record)
                    out.rejects += 1
                    if sink.count > self.max_rejects:
                        result.datasets.append(out)
                        raise LoadError(
                            f"source {meta[0]}: more than max_rejects ({self.max_rejects}) records rejected: stopped "
                            f"reading, window {window} not loaded. First: dataset {sink.first.dataset}, record "
                            f"{sink.first.record_ref}, field {sink.first.field}: {sink.first.reason}. The rejects so "
                            f"far are in {self.schema}.{REJECTS_TABLE}.")
        return out

    def _delete_replaced_rejects(self, source_id: str, window: Window, datasets: Sequence[Dataset],
                                 batch_id: str) -> None:
        """Earlier rejects this load replaces: those whose record time lies in the window (the records were read
        again), and those without a record time whose load window lies inside this one."""
        with self.conn.cursor() as cur:
            cur.execute(sql.SQL(
                "DELETE FROM {} WHERE _source_id = %s AND dataset = ANY(%s) AND _batch_id <> %s AND ("
                "(record_time >= %s AND record_time < %s) "
                "OR (record_time IS NULL AND _window_start >= %s AND _window_end <= %s))").format(
                sql.Identifier(self.schema, REJECTS_TABLE)),
                (source_id, [d.name for d in datasets], batch_id, window.start, window.end, window.start, window.end))

    def _check_reject_ratio(self, source_id: str, result: LoadResult, sink: RejectSink) -> None:
        total = result.rows + result.rejects
        if total and result.rejects / total > self.max_reject_ratio:
            first = sink.first
            raise LoadError(
                f"source {source_id}: {result.rejects} of {total} records rejected "
                f"({result.rejects / total:.1%} > max_reject_ratio {self.max_reject_ratio:.1%}); "
                f"window {result.window} not loaded. First: dataset {first.dataset}, record {first.record_ref}, "
                f"field {first.field}: {first.reason}. All rejects are in {self.schema}.{REJECTS_TABLE}.")


def _record_time(record: tuple, pos: int) -> datetime | None:
    value = record[pos] if pos < len(record) else None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    return None


def _window_check(ds: Dataset, window: Window) -> Callable[[tuple], bool]:
    """A record must lie in the window it is loaded for, else a re-load could not replace it."""
    pos = ds.column_names.index(ds.time_column)
    if ds.columns[pos].pg_type == "date":
        def in_window(record: tuple) -> bool:
            value = record[pos]
            return isinstance(value, date) and window.start <= datetime.combine(value, time(), UTC) < window.end
    else:
        def in_window(record: tuple) -> bool:
            value = record[pos]
            return isinstance(value, datetime) and window.start <= value < window.end
    return in_window


def _check_record(record: tuple, width: int, required: tuple[int, ...], ds: Dataset,
                  in_window: Callable[[tuple], bool]) -> tuple[str, str] | None:
    """Cheap structural checks; typed parsing is the collector's job. Returns (field, reason) or None."""
    if len(record) != width:
        return "(record)", f"expected {width} fields for {ds.name}, got {len(record)}"
    for i in required:
        if record[i] is None:
            return ds.columns[i].name, "required field is missing (NULL)"
    if not in_window(record):
        return ds.time_column, f"value {record[ds.column_names.index(ds.time_column)]!r} is outside the window"
    return None
