"""The ``aws_data_export`` source: AWS Data Exports (FOCUS) delivered to S3, into ``raw.focus_cost_line_items``.

What this relies on (AWS Data Exports user guide, "Understanding export delivery" and "Data Exports manifest file
reference"):
- the data of a billing period is written under ``s3://<bucket>/<prefix>/<export-name>/data/BILLING_PERIOD=YYYY-MM/``
  as one or more gzip CSV or Parquet files (with "create new" delivery, in a sub-folder per execution);
- ``s3://<bucket>/<prefix>/<export-name>/metadata/BILLING_PERIOD=YYYY-MM/<export-name>-Manifest.json`` is rewritten
  on every refresh of that period; it is JSON with ``executionId``, ``exportArn``, ``columns`` and ``dataFiles``,
  the full ``s3://`` URIs of the data files of the latest delivery, which AWS recommends as the list to ingest (so
  files of superseded executions are never read twice).

For each billing period the (month-aligned) window touches, the collector reads the manifest and streams every data
file it lists through the FOCUS reader (:mod:`collectors.focus_schema`). A period without a manifest has not been
delivered yet: it is logged and yields nothing.

Options: ``bucket`` (required), ``prefix`` (the export's S3 prefix, default none), ``export_name`` (required),
``format`` (``focus``, the default; ``cur2`` is not supported yet), ``region`` (the bucket's region, else the
connection's), ``focus_version`` (auto|1.0|1.1|1.2|1.3, default auto). Credentials: the source's Airflow AWS
connection (``S3Hook``), or an injected ``clients["s3"]`` boto3 client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from collectors.base import Collector, CollectorError, Dataset, Reject, Window
from collectors.file_access import FileAccess, ObjectMissing, parse_location
from collectors.focus_file import read_focus_location
from collectors.focus_schema import (
    FOCUS_COST_LINE_ITEMS,
    billing_periods,
    check_focus_version,
    check_name_options,
    file_format,
)

log = logging.getLogger(__name__)
FORMATS = ("focus", "cur2")


class DataExportCollector(Collector):
    type = "aws_data_export"

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
        return (FOCUS_COST_LINE_ITEMS,)

    def align_window(self, window: Window) -> Window:
        return window.months()

    def manifest_url(self, period: str) -> str:
        """The manifest of billing period ``period`` (YYYY-MM)."""
        base = "/".join(p for p in (self.prefix, self.export_name) if p)
        return f"s3://{self.bucket}/{base}/metadata/BILLING_PERIOD={period}/{self.export_name}-Manifest.json"

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        if self.format == "cur2":
            raise CollectorError(f"source {self.source_id}: options.format cur2 not supported yet; create the export "
                                 f"with the FOCUS table (format focus)")
        access = FileAccess(self.source_id, self.connection_id, self.clients, region_name=self.region)
        for period in billing_periods(window):
            manifest = self.manifest_url(period)
            try:
                data_files = self._data_files(manifest, access.read_bytes(manifest))
            except ObjectMissing:
                log.warning("source %s: no manifest at %s: billing period %s not delivered yet, nothing loaded",
                            self.source_id, manifest, period)
                continue
            log.info("source %s: %s lists %d data file(s)", self.source_id, manifest, len(data_files))
            for location in data_files:
                yield from read_focus_location(self, access, location, window, file_format(location),
                                               self.focus_version)

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

