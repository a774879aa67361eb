"""The ``gcp_billing_export`` source: Google Cloud Billing's usage cost export to BigQuery.

What Google delivers (docs "Structure of Detailed data export" / "standard usage cost data", see
../shared/data/vendor-api/gcp-billing-export-schema.md): Cloud Billing appends rows to
``gcp_billing_export_v1_<BILLING_ACCOUNT_ID>`` (standard) or ``gcp_billing_export_resource_v1_<...>`` (detailed:
adds ``resource.name`` / ``resource.global_name``) several times a day. One row is one SKU's usage for one hour of
one project (``usage_start_time`` .. ``usage_end_time``) with ``cost`` (FLOAT64, in ``currency``, inclusive of
negotiated discounts), ``credits`` (an ARRAY of {id, full_name, type, name, amount}; amounts negative, net cost =
cost + sum(credits.amount)), ``labels`` / ``project.labels`` / ``system_labels`` (repeated key/value),
``invoice.month`` (YYYYMM of the invoice, which may differ from the usage month) and ``cost_type`` (regular, tax,
adjustment, rounding error). Corrections are new rows that negate earlier ones; only cost, credits, usage.amount
and export_time differ from the row they correct, so they carry the usage_start_time of the usage they correct.

What this collector does: one parameterised standard-SQL query (``jobs.insert`` through google-cloud-bigquery) that
returns one ``cost`` row per export row plus one ``credit`` row per element of its ``credits`` array
(``UNION ALL ... CROSS JOIN UNNEST(credits) WITH OFFSET``), so ``sum(amount)`` is the net cost. Money is cast in
BigQuery with ``CAST(cost AS NUMERIC)``: the client then hands us ``Decimal``, never a float. NUMERIC has 9 decimal
digits, so the binary FLOAT64 is rounded to 9 decimals (a nano-unit of currency; invoices round to cents). Usage
quantities are cast to BIGNUMERIC (38 decimals) so tiny amounts do not round to zero. Results are streamed one
page (``page_size`` rows, jobs.getQueryResults with ``pageToken``) at a time.

Rows of a window: ``usage_start_time`` in ``[start, end)`` (the raw table's time column). The tables are ingestion-
time partitioned (``_PARTITIONTIME`` = when Cloud Billing appended the rows), and usage is appended at or after the
time it happened, often days later, never before; so partitions are filtered from the window start onward with no
upper bound: ``DATE(_PARTITIONTIME) >= DATE_SUB(@window_start_date, INTERVAL <partition_margin_days> DAY)``. The
margin (default 1 day) covers a partition day that is not the UTC day. ``partition_filter: false`` for a copy of the
export that is not partitioned (the pseudo-column would not exist).

Line key: the export has no line-item id, so one is built. ``export_row_key`` = hex SHA-256 of
``TO_JSON_STRING`` of the whole export row (every column, including export_time, cost, credits, labels, resource),
plus ``-<n>``, the row's number among rows with the same hash (``ROW_NUMBER() OVER (PARTITION BY hash)``), which
only exceeds 1 for rows identical in every column. A credit line's key is ``<export_row_key>-credit-<offset>``
(offset in the credits array). The key is unique per table, and stable across re-pulls because the export is
append-only (a correction is a new row, with its own export_time, hence its own hash). A schema change by Google
(a new column) changes the hashes of re-pulled rows: harmless, since a load replaces whole windows.

Restated months (option ``restate_invoice_months``, default true): :meth:`align_window` widens every window to the
whole UTC calendar months of usage it touches, so each daily run re-pulls month-to-date and picks up late usage
and corrections of earlier days in the month. The source's ``lookback_days`` (pipeline) keeps the previous month
re-pulled for the first days of the next one, while it is still being restated before the invoice. Rows are
windowed by usage time, not by ``invoice.month`` (which dbt uses for the billing period): a correction that arrives
after the look-back must be loaded by a back-fill of its usage month. Google documents invoice matching by
``invoice.month``; the windowing by usage time is what lets a load replace an exact slice.

Client: ``clients["bigquery"]`` (a ``google.cloud.bigquery.Client``) when injected; otherwise built from the
Airflow connection (type ``google_cloud_platform``; extras ``keyfile_dict`` / ``key_path`` / ..., ``project``,
``location``) through the Google provider's ``BigQueryHook``. Retries: the client's own (exponential backoff on
BigQuery's retryable reasons ``rateLimitExceeded``, ``backendError``, ``internalError``; BigQuery sends no
Retry-After); after them, a :class:`CollectorError` names the source, the table, the HTTP status and BigQuery's
error reason and message.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

from collectors.core.base import Collector, CollectorError, Column, Dataset, Reject, Window

log = logging.getLogger(__name__)

COST_LINES = Dataset(
    name="cost_lines",
    table="gcp_billing_export_cost_lines",
    time_column="usage_start_time",
    columns=(
        Column("line_key", "text", nullable=False),
        Column("export_row_key", "text", nullable=False),
        Column("line_type", "text", nullable=False),  # cost | credit
        Column("credit_index", "integer"),
        Column("billing_account_id", "text", nullable=False),
        Column("invoice_month", "text"),
        Column("cost_type", "text"),
        Column("service_id", "text"),
        Column("service_description", "text"),
        Column("sku_id", "text"),
        Column("sku_description", "text"),
        Column("usage_start_time", "timestamptz", nullable=False),
        Column("usage_end_time", "timestamptz", nullable=False),
        Column("project_id", "text"),
        Column("project_number", "text"),
        Column("project_name", "text"),
        Column("project_labels", "jsonb"),
        Column("labels", "jsonb"),
        Column("system_labels", "jsonb"),
        Column("location", "text"),
        Column("country", "text"),
        Column("region", "text"),
        Column("zone", "text"),
        Column("resource_name", "text"),
        Column("resource_global_name", "text"),
        Column("usage_amount", "numeric"),
        Column("usage_unit", "text"),
        Column("usage_amount_in_pricing_units", "numeric"),
        Column("usage_pricing_unit", "text"),
        Column("amount", "numeric", nullable=False),
        Column("currency", "text", nullable=False),
        Column("currency_conversion_rate", "numeric"),
        Column("cost_at_list", "numeric"),
        Column("credit_id", "text"),
        Column("credit_type", "text"),
        Column("credit_name", "text"),
        Column("credit_full_name", "text"),
        Column("adjustment_id", "text"),
        Column("adjustment_type", "text"),
        Column("adjustment_mode", "text"),
        Column("adjustment_description", "text"),
        Column("export_time", "timestamptz"),
        Column("payload", "jsonb"),
    ),
)

# `project.dataset.table` (a domain-scoped project is `example.com:project`); only names like these are put in SQL.
TABLE_PATTERN = re.compile(r"^(?P<project>(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9])\."
                           r"(?P<dataset>[A-Za-z0-9_]{1,1024})\.(?P<table>[A-Za-z0-9_]{1,1024})$")
LABEL_COLUMNS = ("project_labels", "labels", "system_labels")


class BillingExportCollector(Collector):
    type = "gcp_billing_export"
    default_lookback_days = 7

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        table = self.options.get("table")
        match = TABLE_PATTERN.match(table) if isinstance(table, str) else None
        if not match:
            raise ValueError(f"source {self.source_id}: options.table must be `project.dataset.table` (the billing "
                             f"export table, e.g. my-project.billing.gcp_billing_export_v1_0123AB_4567CD_89EF01), "
                             f"got {table!r}")
        self.table = table
        self.table_project = match["project"]
        self.detailed = self._bool("detailed", False)
        self.partition_filter = self._bool("partition_filter", True)
        self.partition_margin_days = self._int("partition_margin_days", 1, 0, 31)
        self.with_cost_at_list = self._bool("cost_at_list", True)
        self.restate_invoice_months = self._bool("restate_invoice_months", True)
        self.location = self._str("location")
        self.job_project = self._str("project")
        self.api_endpoint = self._str("api_endpoint")
        self.page_size = self._int("page_size", 10_000, 1, 100_000)
        self.retry_initial_delay = self._float("retry_initial_delay_seconds", 1.0)
        self.retry_deadline = self._float("retry_deadline_seconds", 600.0)

    # -- options ---------------------------------------------------------------------------------------------------
    def _bool(self, key: str, default: bool) -> bool:
        value = self.options.get(key, default)
        if not isinstance(value, bool):
            raise ValueError(f"source {self.source_id}: options.{key} must be true or false, got {value!r}")
        return value

    def _int(self, key: str, default: int, low: int, high: int) -> int:
        value = self.options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"source {self.source_id}: options.{key} must be an integer in [{low}, {high}], "
                             f"got {value!r}")
        return value

    def _float(self, key: str, default: float) -> float:
        value = self.options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"source {self.source_id}: options.{key} must be a number of seconds > 0, got {value!r}")
        return float(value)

    def _str(self, key: str) -> str | None:
        value = self.options.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"source {self.source_id}: options.{key} must be a non-empty string, got {value!r}")
        return value

    # -- contract --------------------------------------------------------------------------------------------------
    def datasets(self) -> tuple[Dataset, ...]:
        return (COST_LINES,)

    def align_window(self, window: Window) -> Window:
        """Whole UTC months of usage when ``restate_invoice_months`` (see the module docstring), else the window."""
        return window.months() if self.restate_invoice_months else window

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        from google.api_core import exceptions as api_exceptions
        from google.auth import exceptions as auth_exceptions

        try:
            yield from self._stream(window)
        except (api_exceptions.GoogleAPIError, auth_exceptions.GoogleAuthError) as exc:
            raise CollectorError(f"source {self.source_id}: BigQuery query of table {self.table} failed: "
                                 f"{_describe(exc)}") from exc

    # -- query -----------------------------------------------------------------------------------------------------
    def query_sql(self) -> str:
        """The query: ``@window_start`` / ``@window_end`` (TIMESTAMP) and ``@window_start_date`` (DATE) parameters."""
        partition = (f"\n    AND DATE(e._PARTITIONTIME) >= DATE_SUB(@window_start_date, "
                     f"INTERVAL {self.partition_margin_days} DAY)") if self.partition_filter else ""
        cost_select = ",\n    ".join(f"{expr} AS {name}" for name, expr, _ in self._select_columns())
        credit_select = ",\n    ".join(f"{expr} AS {name}" for name, _, expr in self._select_columns())
        return f"""-- OpenFinOps gcp_billing_export: one row per export row ('cost') and one per credit ('credit').
WITH export_rows AS (
  SELECT e, TO_HEX(SHA256(TO_JSON_STRING(e))) AS row_hash
  FROM `{self.table}` AS e
  WHERE e.usage_start_time >= @window_start
    AND e.usage_start_time < @window_end{partition}
),
numbered AS (
  SELECT e, CONCAT(row_hash, '-', CAST(ROW_NUMBER() OVER (PARTITION BY row_hash) AS STRING)) AS export_row_key
  FROM export_rows
)
SELECT
    {cost_select}
FROM numbered
UNION ALL
SELECT
    {credit_select}
FROM numbered
CROSS JOIN UNNEST(e.credits) AS credit WITH OFFSET AS credit_offset
"""

    def _select_columns(self) -> list[tuple[str, str, str]]:
        """(result column, expression for the cost row, expression for a credit row) — both branches of the UNION ALL
        in one list, so their columns line up. Dimensions are repeated on credit rows (they attribute the credit);
        usage quantities and list cost belong to the cost row only."""

        def same(expr: str) -> tuple[str, str]:
            return expr, expr

        def null(sql_type: str) -> str:
            return f"CAST(NULL AS {sql_type})"

        def resource(column: str) -> tuple[str, str]:
            return same(f"e.resource.{column}" if self.detailed else null("STRING"))

        list_cost = "CAST(e.cost_at_list AS NUMERIC)" if self.with_cost_at_list else null("NUMERIC")
        columns: list[tuple[str, tuple[str, str]]] = [
            ("export_row_key", same("export_row_key")),
            ("line_type", ("'cost'", "'credit'")),
            ("credit_index", (null("INT64"), "credit_offset")),
            ("billing_account_id", same("e.billing_account_id")),
            ("invoice_month", same("e.invoice.month")),
            ("cost_type", same("e.cost_type")),
            ("service_id", same("e.service.id")),
            ("service_description", same("e.service.description")),
            ("sku_id", same("e.sku.id")),
            ("sku_description", same("e.sku.description")),
            ("usage_start_time", same("e.usage_start_time")),
            ("usage_end_time", same("e.usage_end_time")),
            ("project_id", same("e.project.id")),
            ("project_number", same("e.project.number")),
            ("project_name", same("e.project.name")),
            ("project_labels", same("e.project.labels")),
            ("labels", same("e.labels")),
            ("system_labels", same("e.system_labels")),
            ("location", same("e.location.location")),
            ("country", same("e.location.country")),
            ("region", same("e.location.region")),
            ("zone", same("e.location.zone")),
            ("resource_name", resource("name")),
            ("resource_global_name", resource("global_name")),
            ("usage_amount", ("CAST(e.usage.amount AS BIGNUMERIC)", null("BIGNUMERIC"))),
            ("usage_unit", ("e.usage.unit", null("STRING"))),
            ("usage_amount_in_pricing_units", ("CAST(e.usage.amount_in_pricing_units AS BIGNUMERIC)",
                                               null("BIGNUMERIC"))),
            ("usage_pricing_unit", ("e.usage.pricing_unit", null("STRING"))),
            ("amount", ("CAST(e.cost AS NUMERIC)", "CAST(credit.amount AS NUMERIC)")),
            ("currency", same("e.currency")),
            ("currency_conversion_rate", same("CAST(e.currency_conversion_rate AS NUMERIC)")),
            ("cost_at_list", (list_cost, null("NUMERIC"))),
            ("credit_id", (null("STRING"), "credit.id")),
            ("credit_type", (null("STRING"), "credit.type")),
            ("credit_name", (null("STRING"), "credit.name")),
            ("credit_full_name", (null("STRING"), "credit.full_name")),
            ("adjustment_id", same("e.adjustment_info.id")),
            ("adjustment_type", same("e.adjustment_info.type")),
            ("adjustment_mode", same("e.adjustment_info.mode")),
            ("adjustment_description", same("e.adjustment_info.description")),
            ("export_time", same("e.export_time")),
            # The original record: the whole export row for a cost line, the credit element for a credit line.
            ("payload", ("TO_JSON_STRING(e)", "TO_JSON_STRING(credit)")),
        ]
        return [(name, cost, credit) for name, (cost, credit) in columns]

    def _stream(self, window: Window) -> Iterator[tuple | Reject]:
        from google.cloud import bigquery
        from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY

        client = self._client()
        retry = DEFAULT_RETRY.with_delay(initial=self.retry_initial_delay).with_deadline(self.retry_deadline)
        # The library's job deadline is 4x its call deadline (a failed job is re-inserted after a call gives up).
        job_retry = DEFAULT_JOB_RETRY.with_delay(initial=self.retry_initial_delay).with_deadline(
            4 * self.retry_deadline)
        config = bigquery.QueryJobConfig(use_legacy_sql=False, query_parameters=[
            bigquery.ScalarQueryParameter("window_start", "TIMESTAMP", window.start),
            bigquery.ScalarQueryParameter("window_end", "TIMESTAMP", window.end),
            bigquery.ScalarQueryParameter("window_start_date", "DATE", window.start.date()),
        ])
        log.info("source %s: querying %s for usage in %s (page size %d)", self.source_id, self.table, window,
                 self.page_size)
        job = client.query(self.query_sql(), job_config=config, project=self.job_project or client.project,
                           location=self.location or client.location, retry=retry, job_retry=job_retry)
        rows = job.result(page_size=self.page_size, retry=retry, job_retry=job_retry)
        for number, page in enumerate(rows.pages, start=1):
            count = 0
            for index, row in enumerate(page):
                count += 1
                yield self._record(dict(row.items()), number, index)
            log.info("source %s: page %d of job %s: %d rows", self.source_id, number, job.job_id, count)

    def _client(self) -> Any:
        """The injected client, else one built from the Airflow connection through the Google provider's hook."""
        if "bigquery" in self.clients:
            return self.clients["bigquery"]
        if not self.connection_id:
            raise CollectorError(f"source {self.source_id}: no BigQuery client injected and no connection_id "
                                 "configured (an Airflow connection of type google_cloud_platform)")
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
        from google.cloud import bigquery

        hook_kwargs: dict[str, Any] = {"location": self.location} if self.location else {}
        hook = BigQueryHook(gcp_conn_id=self.connection_id, use_legacy_sql=False, **hook_kwargs)
        credentials, project = hook.get_credentials_and_project_id()
        return bigquery.Client(
            project=self.job_project or project or self.table_project, credentials=credentials,
            location=self.location or hook.location,
            client_options={"api_endpoint": self.api_endpoint} if self.api_endpoint else None)

    # -- rows ------------------------------------------------------------------------------------------------------
    def _record(self, values: dict[str, Any], page: int, index: int) -> tuple | Reject:
        ref = f"page {page} row {index} (export_row_key {values.get('export_row_key')})"
        for name in COST_LINES.column_names:
            if name != "line_key" and name not in values:
                return self._reject(ref, name, "column missing from the query result", values)
        for i in COST_LINES.required:
            name = COST_LINES.columns[i].name
            if name != "line_key" and values[name] is None:
                return self._reject(ref, name, "required field is missing (NULL)", values)
        line_type = values["line_type"]
        if line_type == "cost":
            line_key = values["export_row_key"]
        elif line_type == "credit" and values["credit_index"] is not None:
            line_key = f"{values['export_row_key']}-credit-{values['credit_index']}"
        else:
            return self._reject(ref, "line_type", f"expected 'cost', or 'credit' with a credit_index, got "
                                                  f"{line_type!r} / {values['credit_index']!r}", values)
        record = {name: values[name] for name in COST_LINES.column_names if name != "line_key"}
        for name in LABEL_COLUMNS:
            record[name] = _labels(values[name])
        return COST_LINES.row(**record, line_key=line_key)

    def _reject(self, ref: str, field: str, reason: str, values: Mapping[str, Any]) -> Reject:
        return Reject(COST_LINES.name, ref, field, reason, json.dumps(values, default=str))


def _labels(entries: list[dict] | None) -> dict[str, str] | None:
    """A repeated {key, value} record as one JSON object (keys as delivered; the export has one value per key)."""
    if entries is None:
        return None
    return {entry["key"]: entry["value"] for entry in entries}


def _describe(exc: Exception) -> str:
    """HTTP status, BigQuery's error reason and message (of the last attempt when the retries ran out)."""
    from google.api_core.exceptions import RetryError
    from google.auth.exceptions import GoogleAuthError

    if isinstance(exc, GoogleAuthError):  # args[0]: the token endpoint's error and description
        return f"credentials could not get an access token: {exc.args[0] if exc.args else exc}"
    cause = exc.cause if isinstance(exc, RetryError) and exc.cause is not None else exc
    status = getattr(cause, "code", None)
    errors = getattr(cause, "errors", None) or []
    reason = errors[0].get("reason") if errors and isinstance(errors[0], dict) else None
    message = " ".join(str(getattr(cause, "message", None) or cause).split())
    prefix = "retries exhausted; last error: " if cause is not exc else ""
    return f"{prefix}HTTP {status or 'n/a'}, reason {reason or 'n/a'}: {message}"
