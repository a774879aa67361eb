"""The ``aws_data_export`` source: AWS Data Exports delivered to S3 — the FOCUS 1.x table into
``raw.focus_cost_line_items``, or the CUR 2.0 table into ``raw.aws_data_export_cur2_line_items``.

What this relies on (AWS Data Exports user guide, "Understanding export delivery" and "Data Exports manifest file
reference"; the same layout for every Data Exports table):
- the data of a billing period is written under ``s3://<bucket>/<prefix>/<export-name>/data/BILLING_PERIOD=YYYY-MM/``
  as one or more gzip CSV or Parquet files (with "create new" delivery, in a sub-folder per execution);
- ``s3://<bucket>/<prefix>/<export-name>/metadata/BILLING_PERIOD=YYYY-MM/<export-name>-Manifest.json`` is rewritten
  on every refresh of that period; it is JSON with ``executionId``, ``exportArn``, ``columns`` and ``dataFiles``,
  the full ``s3://`` URIs of the data files of the latest delivery, which AWS recommends as the list to ingest (so
  files of superseded executions are never read twice).

For each billing period the (month-aligned) window touches, the collector reads the manifest and streams every data
file it lists through the reader of the configured table: the FOCUS reader (:mod:`collectors.core.focus_schema`) or the
CUR 2.0 reader (:mod:`collectors.sources._aws_data_export_cur2`, which documents the CUR 2.0 columns it relies on,
from the "Data Exports table dictionary" > "Cost and Usage Report (CUR) 2.0" pages, and what could not be
confirmed). Both stream
(gzip CSV through the ``csv`` module over a decompressing stream, Parquet one record batch at a time) and keep only
the records whose billing period starts in the window, so a load replaces whole billing periods. A period without a
manifest has not been delivered: :meth:`DataExportCollector.undelivered` names its manifest, and the loader fails
rather than replace rows loaded earlier with nothing (a period with no rows yet, e.g. on the first day of a month, is
logged and yields nothing).

How a CUR 2.0 line becomes FOCUS (billed, effective and list cost, charge category, commitments) is dbt's job:
``intermediate.int_aws_data_export_cur2_costs_conformed`` (see its yml for the mapping and its sources).

Options: ``bucket`` (required), ``prefix`` (the export's S3 prefix, default none), ``export_name`` (required),
``format`` (``focus``, the default, or ``cur2``: the table the export was created with), ``region`` (the bucket's
region, else the connection's), ``focus_version`` (auto|1.0|1.1|1.2|1.3, default auto; FOCUS only). Credentials:
the source's Airflow AWS connection (``S3Hook``), or an injected ``clients["s3"]`` boto3 client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from collectors.core.base import Collector, CollectorError, Dataset, Reject, Window
from collectors.core.file_access import FileAccess, ObjectMissing, parse_location
from collectors.core.focus_schema import (
    FOCUS_COST_LINE_ITEMS,
    billing_periods,
    check_focus_version,
    check_name_options,
    file_format,
    period_window,
    read_focus_location,
)
from collectors.core.record_file import read_location
from collectors.sources._aws_data_export_cur2 import CUR2_LINE_ITEMS, Cur2Reader

log = logging.getLogger(__name__)
# options.format -> the raw dataset of that Data Exports table
DATASETS: dict[str, Dataset] = {"focus": FOCUS_COST_LINE_ITEMS, "cur2": CUR2_LINE_ITEMS}
FORMATS = tuple(DATASETS)


class DataExportCollector(Collector):
    type = "aws_data_export"
    # The bill stays open (bill_invoice_id / InvoiceId blank) into the first days of the next month, and the export
    # of the closed month is refreshed with final usage, credits and tax until then.
    default_close_days = 5

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bucket, self.export_name = check_name_options(self, "bucket", "export_name")
        self.prefix = str(self.options.get("prefix") or "").strip("/")
        self.format = str(self.options.get("format", "focus"))
        if self.format not in FORMATS:
            raise ValueError(f"source {self.source_id}: options.format: expected one of {list(FORMATS)}, "
                             f"got {self.format!r}")
        self.region = self.options.get("region")
        self.focus_version = check_focus_version(self)

    def datasets(self) -> tuple[Dataset, ...]:
        """Only the dataset of the configured table: a FOCUS export never touches the CUR 2.0 table and back."""
        return (DATASETS[self.format],)

    def align_window(self, window: Window) -> Window:
        return window.months()

    def manifest_url(self, period: str) -> str:
        """The manifest of billing period ``period`` (YYYY-MM)."""
        base = "/".join(p for p in (self.prefix, self.export_name) if p)
        return f"s3://{self.bucket}/{base}/metadata/BILLING_PERIOD={period}/{self.export_name}-Manifest.json"

    def undelivered(self, window: Window) -> list[tuple[Window, str]]:
        access = FileAccess(self.source_id, self.connection_id, self.clients, region_name=self.region)
        missing = []
        for period in billing_periods(window):
            manifest = self.manifest_url(period)
            try:
                access.read_bytes(manifest)
            except ObjectMissing:
                missing.append((period_window(period), f"the manifest {manifest}"))
        return missing

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        if dataset != DATASETS[self.format]:
            raise ValueError(f"source {self.source_id}: format {self.format} loads {DATASETS[self.format].name}, "
                             f"not {dataset.name}")
        access = FileAccess(self.source_id, self.connection_id, self.clients, region_name=self.region)
        for period in billing_periods(window):
            for location in self.period_files(access, period):
                yield from self._read(access, location, window)

    def period_files(self, access: FileAccess, period: str) -> list[str]:
        """The data files the manifest of billing period ``period`` lists; none if it is not delivered yet."""
        manifest = self.manifest_url(period)
        try:
            data_files = self._data_files(manifest, access.read_bytes(manifest))
        except ObjectMissing:
            log.warning("source %s: no manifest at %s: billing period %s not delivered yet, nothing loaded",
                        self.source_id, manifest, period)
            return []
        log.info("source %s: %s lists %d data file(s)", self.source_id, manifest, len(data_files))
        return data_files

    def _read(self, access: FileAccess, location: str, window: Window) -> Iterator[tuple | Reject]:
        fmt = file_format(location)
        if self.format == "cur2":
            reader = Cur2Reader(location, window=window, source_id=self.source_id)
            return read_location(self, access, location, reader, fmt, window)
        return read_focus_location(self, access, location, window, fmt, self.focus_version)

    def _data_files(self, manifest: str, body: bytes) -> list[str]:
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise CollectorError(f"source {self.source_id}: manifest {manifest} is not valid JSON: {exc}") from exc
        files = document.get("dataFiles") if isinstance(document, dict) else None
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise CollectorError(f"source {self.source_id}: manifest {manifest}: expected \"dataFiles\" to be a list "
                                 f"of s3:// URIs, got {files!r}")
        for location in files:
            if parse_location(location).scheme != "s3":
                raise CollectorError(f"source {self.source_id}: manifest {manifest} lists {location!r}, "
                                     f"expected an s3:// URI")
        return files

