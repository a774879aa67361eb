"""The ``azure_cost_export`` source: Microsoft Cost Management exports (Cost and usage details, FOCUS) delivered to an
Azure Storage container, into ``raw.focus_cost_line_items``.

What this relies on (Microsoft Learn "Tutorial: Create and manage exported data", section "File partitioning for large
datasets", and the FinOps toolkit's "How data is processed in FinOps hubs", section "About exports", which documents
the manifest of exports API 2023-07-01-preview and later):
- every run of an export writes a new folder ``<directory>/<export name>/<YYYYMMDD-YYYYMMDD>/[<export time>/]<run id>/``
  holding the data partitions (``part_*.csv``, ``.csv.gz`` or ``.parquet``) and a ``manifest.json``; a daily
  month-to-date export therefore leaves one folder per day, each with the whole month so far;
- the manifest is JSON with ``blobCount``, ``dataRowCount``, ``exportConfig`` (``exportName``, ``type`` such as
  ``FocusCost``, ``dataVersion``), ``deliveryConfig`` (``partitionData``, ``fileFormat``), ``runInfo`` (``runId``,
  ``submittedTime``, ``startDate``, ``endDate``) and ``blobs[]`` (``blobName``: the path in the container,
  ``byteCount``, ``dataRowCount``); each partition has a header row and only a subset of the rows: all of them make
  the dataset;
- the manifest is written once the run's partitions are in place (FinOps hubs start ingesting on its creation).

So, for each billing period the (month-aligned) window touches, the collector lists the period's run folders, reads
their manifests, keeps the runs that cover the period from its first day (``runInfo.startDate``), and loads only the
run with the latest ``runInfo.submittedTime``: older runs of the same month are superseded snapshots and would count
the month twice. A folder without a manifest is a run still being written and is ignored. Only the blobs the manifest
lists are read, through the FOCUS reader (:mod:`collectors.core.focus_schema`); the rows read are checked against the
manifest's ``dataRowCount``. A period without a completed run has not been delivered: if raw already holds rows of
it the load fails naming the export runs it looked for (:meth:`CostExportCollector.undelivered`), else it is logged
and yields nothing. During the first five days of a month a daily export also re-exports the previous month (the
tutorial's "Export runs twice a day for the first five days of the month": latent charges land up to 72 hours after
month end), hence a default look-back and close_days of 5 days: a run early in a month also replaces the previous
billing period.

Options: ``container`` (required), ``directory`` (the export's storage directory, default none), ``export_name``
(required), ``format`` (``focus``, the only one: actual / amortized cost exports use Cost Management's own columns,
not FOCUS, and are refused), ``storage_account`` (optional; must be the connection's account), ``focus_version``
(auto|1.0|1.1|1.2|1.3, default auto). Credentials: the source's Airflow connection (``WasbHook``, conn type ``wasb``),
or an injected ``clients["blob"]`` ``BlobServiceClient``; see :mod:`collectors.core.file_access`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from collectors.core.base import Collector, CollectorError, Dataset, Reject, Window
from collectors.core.file_access import FileAccess
from collectors.core.focus_schema import (
    FOCUS_COST_LINE_ITEMS,
    FocusReader,
    billing_periods,
    check_focus_version,
    check_name_options,
    file_format,
    period_window,
)

log = logging.getLogger(__name__)
FORMATS = ("focus",)
FOCUS_DATASET = "focuscost"  # exportConfig.type of a "Cost and usage details (FOCUS)" export


@dataclass(frozen=True)
class ExportRun:
    """One completed run of the export, as its manifest describes it."""

    manifest: str
    run_id: str
    submitted: datetime
    start: datetime
    data_version: str | None
    blobs: tuple[str, ...]
    data_rows: int | None


class CostExportCollector(Collector):
    type = "azure_cost_export"
    default_lookback_days = 5  # the previous month is re-exported during the first five days of a month
    default_close_days = 5

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.container, self.export_name = check_name_options(self, "container", "export_name")
        self.directory = str(self.options.get("directory") or "").strip("/")
        self.format = str(self.options.get("format", "focus"))
        if self.format not in FORMATS:
            raise ValueError(f"source {self.source_id}: options.format: expected focus (a 'Cost and usage details "
                             f"(FOCUS)' export), got {self.format!r}; actual and amortized cost exports are not "
                             f"supported, create a FOCUS export instead")
        account = self.options.get("storage_account")
        if account is not None and (not isinstance(account, str) or not account.isalnum()):
            raise ValueError(f"source {self.source_id}: options.storage_account: expected a storage account name "
                             f"(letters and digits), got {account!r}")
        self.storage_account: str | None = account
        self.focus_version = check_focus_version(self)

    def datasets(self) -> tuple[Dataset, ...]:
        return (FOCUS_COST_LINE_ITEMS,)

    def align_window(self, window: Window) -> Window:
        return window.months()

    def url(self, key: str) -> str:
        """The location of blob ``key`` of the container (naming the storage account when the option is set, so
        :class:`FileAccess` checks it against the connection's)."""
        if self.storage_account:
            return f"abfss://{self.container}@{self.storage_account}.dfs.core.windows.net/{key}"
        return f"az://{self.container}/{key}"

    def runs_pattern(self, period: str) -> str:
        """The manifests of the runs whose date range starts in billing period ``period`` (YYYY-MM)."""
        base = "/".join(p for p in (self.directory, self.export_name) if p)
        return self.url(f"{base}/{period.replace('-', '')}*/manifest.json")

    def undelivered(self, window: Window) -> list[tuple[Window, str]]:
        access = FileAccess(self.source_id, self.connection_id, self.clients)
        return [(period_window(period), f"a completed run of export {self.export_name} ({self.runs_pattern(period)})")
                for period in billing_periods(window) if self.latest_run(access, period) is None]

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        access = FileAccess(self.source_id, self.connection_id, self.clients)
        for period in billing_periods(window):
            run = self.latest_run(access, period)
            if run is None:
                log.warning("source %s: no completed run of export %s for billing period %s under %s: not delivered "
                            "yet, nothing loaded", self.source_id, self.export_name, period, self.runs_pattern(period))
                continue
            log.info("source %s: billing period %s: run %s submitted %s (FOCUS dataset version %s), %d blob(s) "
                     "from %s", self.source_id, period, run.run_id, run.submitted.isoformat(), run.data_version,
                     len(run.blobs), run.manifest)
            yield from self._read_run(access, run, window)

    def latest_run(self, access: FileAccess, period: str) -> ExportRun | None:
        """The completed run covering ``period`` from its first day with the latest ``runInfo.submittedTime``."""
        first_day = datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC)
        runs = []
        for manifest in access.expand(self.runs_pattern(period)):
            run = self._parse_manifest(manifest, access.read_bytes(manifest))
            if run.start != first_day:
                log.warning("source %s: %s starts on %s, not on the first day of billing period %s: a partial run, "
                            "skipped", self.source_id, manifest, run.start.date(), period)
                continue
            runs.append(run)
        return max(runs, key=lambda r: (r.submitted, r.run_id), default=None)

    def _parse_manifest(self, manifest: str, body: bytes) -> ExportRun:
        def fail(what: str) -> CollectorError:
            return CollectorError(f"source {self.source_id}: manifest {manifest}: {what}")

        try:
            document = json.loads(body)
        except ValueError as exc:
            raise fail(f"not valid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise fail(f"expected a JSON object, got {type(document).__name__}")
        config = document.get("exportConfig") or {}
        dataset_type = config.get("type")
        if not isinstance(dataset_type, str) or dataset_type.lower() != FOCUS_DATASET:
            raise fail(f"exportConfig.type is {dataset_type!r} but options.format is {self.format!r}, which expects "
                       f"a FocusCost export; actual and amortized cost exports are not supported")
        info = document.get("runInfo") or {}
        submitted, start = info.get("submittedTime"), info.get("startDate")
        try:
            submitted_at, start_at = _utc(submitted), _utc(start)
        except (TypeError, ValueError) as exc:
            raise fail(f"expected runInfo.submittedTime and runInfo.startDate as ISO 8601 date-times (exports API "
                       f"2023-07-01-preview or later), got {submitted!r} and {start!r}") from exc
        blobs = document.get("blobs")
        if not isinstance(blobs, list) or not all(isinstance(b, dict) and isinstance(b.get("blobName"), str)
                                                  and b["blobName"] for b in blobs):
            raise fail(f"expected \"blobs\" to be a list of objects with a blobName, got {blobs!r}")
        count = document.get("blobCount")
        if count is not None and count != len(blobs):
            raise fail(f"blobCount is {count} but {len(blobs)} blob(s) are listed")
        rows = document.get("dataRowCount")
        return ExportRun(manifest, str(info.get("runId")), submitted_at, start_at, config.get("dataVersion"),
                         tuple(b["blobName"] for b in blobs), rows if isinstance(rows, int) else None)

    def _read_run(self, access: FileAccess, run: ExportRun, window: Window) -> Iterator[tuple | Reject]:
        """Stream every blob of the run; then check the rows read (in or out of the window, rejected or not)
        against the manifest's ``dataRowCount``."""
        read = 0
        for blob in run.blobs:
            location = self.url(blob)
            fmt = file_format(location)
            reader = FocusReader(location, focus_version=self.focus_version, window=window, source_id=self.source_id)
            with access.open(location, seekable=fmt == "parquet") as stream:
                yield from reader.read(stream, fmt)
            stats = reader.stats
            read += stats.records + stats.rejects + stats.outside_window
            log.info("source %s: %s: %d records in window %s, %d rejected, %d in other billing periods (skipped)",
                     self.source_id, location, stats.records, window, stats.rejects, stats.outside_window)
        if run.data_rows is not None and read != run.data_rows:
            raise CollectorError(f"source {self.source_id}: manifest {run.manifest} says dataRowCount "
                                 f"{run.data_rows} but its {len(run.blobs)} blob(s) hold {read} rows")


def _utc(value: Any) -> datetime:
    """An ISO 8601 date-time of the manifest; without an offset it is UTC (Cost Management works in UTC)."""
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
