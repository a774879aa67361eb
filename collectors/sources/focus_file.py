"""The ``focus_file`` source: any FOCUS 1.0-1.3 Cost and Usage export (CSV, gzipped CSV or Parquet) from local paths,
Amazon S3, Google Cloud Storage or Azure Blob Storage, into ``raw.focus_cost_line_items``.

Options:
- ``paths`` (required): list of local paths, glob patterns or URLs (``s3://bucket/prefix/*.csv.gz``,
  ``gs://bucket/focus/*.parquet``, ``az://container/path/*.csv``,
  ``abfss://container@account.dfs.core.windows.net/path/``); relative local paths are relative to the process's
  working directory (the project root for the CLI and the Airflow workers). See :mod:`collectors.core.file_access`.
- ``format``: ``auto`` (by file extension, the default), ``csv`` or ``parquet``.
- ``focus_version``: ``auto`` (detected from each file's columns, the default) or ``1.0`` / ``1.1`` / ``1.2`` /
  ``1.3`` (the mandatory columns of that version are then required).

FOCUS exports are delivered per billing period and restated until the invoice closes, so a run replaces whole
billing periods: :meth:`align_window` widens the window to whole calendar months and only records whose
``BillingPeriodStart`` lies in it are yielded (a file may hold several periods). Every matched file is read on
each run; a pattern that matches nothing is an error (a wrong path must not look like zero spend).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from collectors.core.base import Collector, CollectorError, Dataset, Reject, Window
from collectors.core.file_access import FileAccess
from collectors.core.focus_schema import FOCUS_COST_LINE_ITEMS, check_focus_options, file_format, read_focus_location

log = logging.getLogger(__name__)


class FocusFileCollector(Collector):
    type = "focus_file"
    default_close_days = 5  # FOCUS exports restate the previous billing period until the invoice closes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        paths = self.options.get("paths")
        if isinstance(paths, str):
            paths = [paths]
        if not paths or not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
            raise ValueError(f"source {self.source_id}: options.paths: expected a non-empty list of paths, glob "
                             f"patterns or s3:// gs:// az:// abfss:// URLs, got {self.options.get('paths')!r}")
        self.paths: list[str] = paths
        self.format, self.focus_version = check_focus_options(self)

    def datasets(self) -> tuple[Dataset, ...]:
        return (FOCUS_COST_LINE_ITEMS,)

    def align_window(self, window: Window) -> Window:
        return window.months()

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        access = FileAccess(self.source_id, self.connection_id, self.clients)
        files: list[str] = []
        for pattern in self.paths:
            matched = access.expand(pattern)
            if not matched:
                raise CollectorError(f"source {self.source_id}: options.paths entry {pattern!r} matched no file")
            files.extend(f for f in matched if f not in files)
        for location in files:
            yield from read_focus_location(self, access, location, window, file_format(location, self.format),
                                           self.focus_version)

