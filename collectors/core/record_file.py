"""Streaming readers for billing files: CSV (plain or gzipped) and Parquet, one record at a time.

Shared by the FOCUS reader (:mod:`collectors.core.focus_schema`) and the AWS CUR 2.0 reader
(:mod:`collectors.sources._aws_data_export_cur2`): this module owns the byte-level part (gzip detection, the ``csv``
module over a decompressing stream, Parquet record batches, file:line bookkeeping, rejects); a subclass says how a
header maps to its raw table (:meth:`_plan`) and how one row becomes a record (:meth:`_record`).

Hostile bytes never abort a file or pass silently; each becomes a reject naming ``file:line`` and the field: a NUL
in a cell (PostgreSQL text cannot hold it), bytes that are not UTF-8 (decoded with ``surrogateescape`` so the rest of
the file still reads; the reject's text shows them as ``\\xNN``), and a file that ends inside its last record - no
line end after it, or an unterminated quoted field - which is how a truncated upload looks (the exports this reads
always end records with a line break).

Nothing holds a whole file: CSV goes through ``csv.reader`` over a ``TextIOWrapper`` over a ``GzipFile`` over the
byte stream; Parquet is read one record batch at a time (``ParquetFile.iter_batches``, which reads row group by row
group and needs a seekable stream because the footer comes first).
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from collectors.core.base import CollectorError, Dataset, Reject, Window

if TYPE_CHECKING:
    from collectors.core.base import Collector
    from collectors.core.file_access import FileAccess

log = logging.getLogger(__name__)
# Tags / SkuPriceDetails / product cells can exceed the csv module's default 128 KiB field limit (a process-wide
# setting).
csv.field_size_limit(max(csv.field_size_limit(), 16 * 1024 * 1024))
# A NUL, or a byte that was not UTF-8 (kept as a lone surrogate by the surrogateescape decoder).
_HOSTILE = re.compile("[\x00\udc80-\udcff]")


class _Lines:
    """The physical lines of a text stream, for ``csv.reader``, with one line of look-ahead: it knows when it hands
    out the last line, and whether the file ends inside a record (that line has no line end, or a quoted field is
    still open: quote characters are counted, an escaped quote counts twice)."""

    def __init__(self, text: io.TextIOBase) -> None:
        self.text = text
        self.truncated = False
        self.in_quote = False

    def __iter__(self) -> Iterator[str]:
        line = self.text.readline()
        while line:
            following = self.text.readline()
            if line.count('"') % 2:
                self.in_quote = not self.in_quote
            if not following:
                self.truncated = self.in_quote or not line.endswith(("\n", "\r"))
            yield line
            line = following


def _printable(value: str) -> str:
    """Text safe for a PostgreSQL text column: NUL and undecodable bytes as ``\\xNN`` escapes."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


@dataclass
class ReadStats:
    """What one file gave: records yielded, rejects, and records skipped because their billing period lies outside
    the window being loaded (they belong to another window's load)."""

    records: int = 0
    rejects: int = 0
    outside_window: int = 0


class RecordFileReader(ABC):
    """Streams the records of one file as raw-table tuples of ``dataset`` (or :class:`Reject`).

    ``label`` prefixes every error (it names the source and the file). Line numbers: for CSV the physical line where
    a record starts (the header is line 1), for Parquet the 1-based row number."""

    def __init__(self, source_file: str, dataset: Dataset, label: str, window: Window | None = None) -> None:
        self.source_file = source_file
        self.dataset = dataset
        self.label = label
        self.window = window
        self.stats = ReadStats()

    def read(self, stream: BinaryIO, file_format: str) -> Iterator[tuple | Reject]:
        if file_format == "parquet":
            return self.read_parquet(stream)
        if file_format == "csv":
            return self.read_csv(stream)
        raise ValueError(f"file format: expected csv or parquet, got {file_format!r}")

    def read_csv(self, stream: BinaryIO) -> Iterator[tuple | Reject]:
        """RFC 4180 CSV with a header row, UTF-8 (a BOM is allowed), plain or gzip (recognised by its magic bytes)."""
        buffered = stream if hasattr(stream, "peek") else io.BufferedReader(stream)  # type: ignore[arg-type]
        if buffered.peek(2)[:2] == b"\x1f\x8b":
            buffered = gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[assignment]
        text = io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="surrogateescape", newline="")
        lines = _Lines(text)
        reader = csv.reader(iter(lines))
        try:
            header = next(reader, None)
            if header is None:
                raise CollectorError(f"{self.label}: empty file (no header row)")
            bad = next((h for h in header if _HOSTILE.search(h)), None)
            if bad is not None:
                raise CollectorError(f"{self.label}: header column {_printable(bad)!r} holds a NUL or bytes that are "
                                     f"not UTF-8")
            plan = self._plan([h.strip() for h in header])
            width = len(header)
            line = reader.line_num + 1
            blank: list[int] = []
            for row in reader:
                start, line = line, reader.line_num + 1
                if not row:  # blank lines at the end of a file are nothing; between records, a lost record
                    blank.append(start)
                    continue
                for empty in blank:
                    yield self._reject(empty, "(record)", "an empty line between records", [])
                blank.clear()
                if lines.truncated:  # this is the last record, and the file ends inside it
                    yield self._reject(start, "(record)", "the file ends inside this record (no line end after it"
                                       + (", a quoted field left open" if lines.in_quote else "")
                                       + "): the file looks truncated", row)
                    continue
                if len(row) != width:
                    yield self._reject(start, "(record)", f"expected {width} fields, got {len(row)}", row)
                    continue
                if _HOSTILE.search("".join(row)):
                    i = next(i for i, cell in enumerate(row) if _HOSTILE.search(cell))
                    what = "a NUL character" if "\x00" in row[i] else "bytes that are not UTF-8"
                    yield self._reject(start, header[i].strip(), f"holds {what}", row)
                    continue
                yield from self._record(plan, row, start)
        except (csv.Error, UnicodeDecodeError, OSError, EOFError) as exc:
            raise CollectorError(f"{self.label}: unreadable after line {reader.line_num}: "
                                 f"{type(exc).__name__}: {exc}") from exc

    def read_parquet(self, stream: BinaryIO, batch_size: int = 10_000) -> Iterator[tuple | Reject]:
        """Parquet, one record batch at a time, reading row group by row group (needs a seekable stream: the footer
        is read first)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            # pre_buffer (pyarrow's default) would fetch every row group's column chunks up front: the whole file
            parquet = pq.ParquetFile(stream, pre_buffer=False)
            plan = self._plan([name.strip() for name in parquet.schema_arrow.names])
            row_number = 0
            for batch in parquet.iter_batches(batch_size=batch_size):
                columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
                for values in zip(*columns, strict=True):
                    row_number += 1
                    nul = next((i for i, v in enumerate(values) if isinstance(v, str) and "\x00" in v), None)
                    if nul is not None:
                        yield self._reject(row_number, parquet.schema_arrow.names[nul].strip(),
                                           "holds a NUL character", values)
                        continue
                    yield from self._record(plan, values, row_number)
        except (pa.ArrowException, OSError) as exc:
            raise CollectorError(f"{self.label}: unreadable Parquet: {type(exc).__name__}: {exc}") from exc

    def read_objects(self, objects: Iterable[Any]) -> Iterator[tuple | Reject]:
        """JSON objects from an API, one record each (keys are column names; parse the JSON with
        ``parse_float=Decimal`` so money keeps its digits), numbered 1.. in the order given: a reject names
        ``<source_file>:<n>``. Objects with the same keys share one plan; one whose keys cannot be planned (a mandatory
        column missing, say) is a reject, not a failed read."""
        plans: dict[tuple[str, ...], Any] = {}
        for number, obj in enumerate(objects, start=1):
            if not isinstance(obj, Mapping):
                yield self._reject(number, "(record)", f"expected a JSON object, got {type(obj).__name__}", [obj])
                continue
            keys = tuple(obj)
            if keys not in plans:
                try:
                    plans[keys] = self._plan([str(k).strip() for k in keys])
                except CollectorError as exc:
                    plans[keys] = exc
            plan, row = plans[keys], [obj[k] for k in keys]
            if isinstance(plan, CollectorError):
                yield self._reject(number, "(record)", str(plan), row)
                continue
            nul = next((k for k, v in zip(keys, row, strict=True) if isinstance(v, str) and "\x00" in v), None)
            if nul is not None:
                yield self._reject(number, nul, "holds a NUL character", row)
                continue
            yield from self._record(plan, row, number)

    @abstractmethod
    def _plan(self, header: list[str]) -> Any:
        """Validate a header (column names, stripped) and return how its cells map to the raw table."""

    @abstractmethod
    def _record(self, plan: Any, row: Any, line: int) -> Iterator[tuple | Reject]:
        """Yield the record of one row (a list of str from CSV, a tuple of Python values from Parquet), a
        :class:`Reject`, or nothing (a row outside the window; count it in ``stats.outside_window``)."""

    def _reject(self, line: int, field_name: str, reason: str, row: Any) -> Reject:
        self.stats.rejects += 1
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(["" if v is None else v for v in row])
        return Reject(self.dataset.name, f"{self.source_file}:{line}", field_name, reason, _printable(out.getvalue()))


def read_location(collector: Collector, access: FileAccess, location: str, reader: RecordFileReader, fmt: str,
                  window: Window) -> Iterator[tuple | Reject]:
    """Open ``location`` (seekable for Parquet: ranged reads), stream it through ``reader``, log what it gave."""
    with access.open(location, seekable=fmt == "parquet") as stream:
        yield from reader.read(stream, fmt)
    stats = reader.stats
    log.info("source %s: %s: %d records in window %s, %d rejected, %d in other billing periods (skipped)",
             collector.source_id, location, stats.records, window, stats.rejects, stats.outside_window)
