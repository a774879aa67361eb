"""The ``databricks_billing`` source: what Databricks bills an account, from its billing system tables, read through
the SQL Statement Execution API (``POST /api/2.0/sql/statements`` on a SQL warehouse) with the Databricks
provider's ``DatabricksHook`` (its connection, token / OAuth / Azure AD auth and retries):

- ``raw.databricks_billing_usage``: ``system.billing.usage`` row for row (DBUs and other units per SKU, workspace,
  cluster / job / warehouse / pipeline in ``usage_metadata``, tags, identity, ``record_type`` ORIGINAL /
  RETRACTION / RESTATEMENT; retractions carry negative quantities), for the usage that starts in the window.
- ``raw.databricks_billing_job_run_timeline`` and ``raw.databricks_billing_jobs`` (``options.jobs``, default true):
  ``system.lakeflow.job_run_timeline`` (each run's time slices: a run longer than an hour has a row per hour, the
  ``result_state`` / ``termination_code`` only on its last row, one per attempt for a repaired run) and
  ``system.lakeflow.jobs`` (a row per change of a job: its name, owner, tags), for the runs' outcome, duration
  and cost (``fct_databricks_job_runs``). The lakeflow schema must be enabled by an account admin.
- ``raw.databricks_billing_list_prices``: the ``system.billing.list_prices`` rows valid at some time of the window
  (price per unit per SKU and cloud, in ``currency_code``, with its start / end), stamped with the window they were
  read for (``window_start``): a price list changes rarely and is re-read with every window.

Cost is ``usage_quantity`` x the price valid at ``usage_start_time`` (``pricing.effective_list.default``, i.e. the
list price with any promotion applied): the join is in dbt (``int_databricks_costs_conformed``), never uptime x a
guessed rate. Negotiated discounts are not in the system tables, so the figure is labelled a list cost.

Options:
- ``warehouse_id`` (required): the SQL warehouse that runs the two statements.
- ``wait_timeout_seconds`` (default 30, 5-50): how long the first request waits for a result before polling.
- ``statement_timeout_seconds`` (default 1800): polling stops, the statement is cancelled and the load fails.
- ``jobs`` (default true): also read job runs and jobs (``system.lakeflow``).
- ``disposition``: ``EXTERNAL_LINKS`` (default: result chunks downloaded from presigned URLs, any size) or
  ``INLINE`` (results in the API answers; Databricks limits them to 25 MiB).
Credentials: the source's ``connection_id`` names an Airflow connection of type ``databricks`` (host = the workspace
URL; a personal access token as password, or OAuth service principal / Azure AD settings in its extras, as the
provider documents). The token is read by the hook when a window is collected, and never logged.

Usage records arrive within about 12 hours and corrections later: each run re-pulls ``default_lookback_days`` (3)
days before its window, and replaces them.
"""

from __future__ import annotations

import json
import time as clock
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from collectors.core.base import Collector, CollectorError, Column, Dataset, Reject, Window
from collectors.core.http_retry import RetryingHttp

STATEMENTS = "2.0/sql/statements"

USAGE = Dataset(
    name="usage",
    table="databricks_billing_usage",
    time_column="usage_start_time",
    columns=(
        Column("record_id", "text", nullable=False),
        Column("account_id", "text", nullable=False),
        Column("workspace_id", "text"),
        Column("sku_name", "text", nullable=False),
        Column("cloud", "text", nullable=False),
        Column("usage_start_time", "timestamptz", nullable=False),
        Column("usage_end_time", "timestamptz", nullable=False),
        Column("usage_date", "date", nullable=False),
        Column("custom_tags", "jsonb"),
        Column("usage_unit", "text", nullable=False),
        Column("usage_quantity", "numeric", nullable=False),
        Column("usage_metadata", "jsonb"),
        Column("identity_metadata", "jsonb"),
        Column("record_type", "text"),
        Column("ingestion_date", "date"),
        Column("billing_origin_product", "text"),
        Column("product_features", "jsonb"),
        Column("usage_type", "text"),
    ),
)

LIST_PRICES = Dataset(
    name="list_prices",
    table="databricks_billing_list_prices",
    time_column="window_start",
    columns=(
        Column("window_start", "timestamptz", nullable=False),
        Column("price_start_time", "timestamptz", nullable=False),
        Column("price_end_time", "timestamptz"),
        Column("account_id", "text"),
        Column("sku_name", "text", nullable=False),
        Column("cloud", "text", nullable=False),
        Column("currency_code", "text", nullable=False),
        Column("usage_unit", "text", nullable=False),
        Column("pricing", "jsonb", nullable=False),
    ),
)

JOB_RUN_TIMELINE = Dataset(
    name="job_run_timeline",
    table="databricks_billing_job_run_timeline",
    time_column="period_start_time",
    columns=(
        Column("account_id", "text"),
        Column("workspace_id", "text", nullable=False),
        Column("job_id", "text", nullable=False),
        Column("run_id", "text", nullable=False),
        Column("period_start_time", "timestamptz", nullable=False),
        Column("period_end_time", "timestamptz", nullable=False),
        Column("trigger_type", "text"),
        Column("run_type", "text"),
        Column("run_name", "text"),
        Column("result_state", "text"),
        Column("termination_code", "text"),
    ),
)

JOBS = Dataset(
    name="jobs",
    table="databricks_billing_jobs",
    time_column="change_time",
    columns=(
        Column("account_id", "text"),
        Column("workspace_id", "text", nullable=False),
        Column("job_id", "text", nullable=False),
        Column("name", "text"),
        Column("creator_id", "text"),
        Column("run_as", "text"),
        Column("tags", "jsonb"),
        Column("change_time", "timestamptz", nullable=False),
        Column("delete_time", "timestamptz"),
    ),
)

# Struct and map columns are asked for as JSON text (to_json), so the JSON_ARRAY answer carries them unambiguously.
USAGE_SQL = """\
SELECT record_id, account_id, workspace_id, sku_name, cloud, usage_start_time, usage_end_time, usage_date,
       to_json(custom_tags) AS custom_tags, usage_unit, usage_quantity, to_json(usage_metadata) AS usage_metadata,
       to_json(identity_metadata) AS identity_metadata, record_type, ingestion_date, billing_origin_product,
       to_json(product_features) AS product_features, usage_type
FROM system.billing.usage
WHERE usage_start_time >= :window_start AND usage_start_time < :window_end
ORDER BY usage_start_time, record_id"""

LIST_PRICES_SQL = """\
SELECT price_start_time, price_end_time, account_id, sku_name, cloud, currency_code, usage_unit,
       to_json(pricing) AS pricing
FROM system.billing.list_prices
WHERE price_start_time < :window_end AND (price_end_time IS NULL OR price_end_time > :window_start)
ORDER BY sku_name, cloud, usage_unit, price_start_time"""

JOB_RUN_TIMELINE_SQL = """\
SELECT account_id, workspace_id, job_id, run_id, period_start_time, period_end_time, trigger_type, run_type, run_name,
       result_state, termination_code
FROM system.lakeflow.job_run_timeline
WHERE period_start_time >= :window_start AND period_start_time < :window_end
ORDER BY period_start_time, run_id"""

JOBS_SQL = """\
SELECT account_id, workspace_id, job_id, name, creator_id, run_as, to_json(tags) AS tags, change_time, delete_time
FROM system.lakeflow.jobs
WHERE change_time >= :window_start AND change_time < :window_end
ORDER BY change_time, job_id"""



class DatabricksBillingCollector(Collector):
    type = "databricks_billing"
    default_lookback_days = 3

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        warehouse = self.options.get("warehouse_id")
        if not isinstance(warehouse, str) or not warehouse.strip():
            raise ValueError(f"source {self.source_id}: options.warehouse_id: expected the id of the SQL warehouse "
                             f"that reads system.billing (e.g. 'abcdef1234567890'), got {warehouse!r}")
        self.warehouse_id = warehouse.strip()
        wait = self.options.get("wait_timeout_seconds", 30)
        if isinstance(wait, bool) or not isinstance(wait, int) or not 5 <= wait <= 50:
            raise ValueError(f"source {self.source_id}: options.wait_timeout_seconds: expected an integer from 5 to "
                             f"50 (the API's limits), got {wait!r}")
        self.wait_timeout = wait
        limit = self.options.get("statement_timeout_seconds", 1800)
        if isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0:
            raise ValueError(f"source {self.source_id}: options.statement_timeout_seconds: expected a positive "
                             f"number of seconds, got {limit!r}")
        self.statement_timeout = float(limit)
        disposition = self.options.get("disposition", "EXTERNAL_LINKS")
        if disposition not in ("EXTERNAL_LINKS", "INLINE"):
            raise ValueError(f"source {self.source_id}: options.disposition: expected 'EXTERNAL_LINKS' or 'INLINE', "
                             f"got {disposition!r}")
        self.disposition = disposition
        self.jobs = self.options.get("jobs", True)
        if not isinstance(self.jobs, bool):
            raise ValueError(f"source {self.source_id}: options.jobs: expected true or false, got {self.jobs!r}")

    def datasets(self) -> tuple[Dataset, ...]:
        return (USAGE, LIST_PRICES, JOB_RUN_TIMELINE, JOBS) if self.jobs else (USAGE, LIST_PRICES)

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        statement = {USAGE.name: USAGE_SQL, LIST_PRICES.name: LIST_PRICES_SQL, JOB_RUN_TIMELINE.name:
                     JOB_RUN_TIMELINE_SQL, JOBS.name: JOBS_SQL}[dataset.name]
        columns = dataset.columns[1:] if dataset is LIST_PRICES else dataset.columns
        number = 0
        for row in self._rows(dataset, statement, window, [c.name for c in columns]):
            number += 1
            record = self._record(dataset, columns, row, number)
            if dataset is LIST_PRICES and not isinstance(record, Reject):
                record = (window.start, *record)
            yield record

    # -- the Statement Execution API ----------------------------------------------------------------------------
    def _hook(self) -> Any:
        if "hook" in self.clients:
            return self.clients["hook"]
        if not self.connection_id:
            raise CollectorError(f"source {self.source_id}: no connection_id: expected the id of an Airflow "
                                 f"connection of type 'databricks' (workspace host and token)")
        from airflow.providers.databricks.hooks.databricks import DatabricksHook

        hook = DatabricksHook(databricks_conn_id=self.connection_id, retry_limit=5, retry_delay=2)
        hook._log = _WithoutDebug(hook.log)
        return hook

    def _call(self, hook: Any, method: str, endpoint: str, what: str, body: dict | None = None) -> dict:
        try:
            answer = hook._do_api_call((method, endpoint), body)  # the provider's authenticated, retried call
        except Exception as exc:  # the provider raises AirflowException / DatabricksApiError with the response
            raise CollectorError(f"source {self.source_id}: {what}: {method} /api/{endpoint} failed: "
                                 f"{str(exc)[:500]}") from None
        if not isinstance(answer, dict):
            raise CollectorError(f"source {self.source_id}: {what}: expected a JSON object, got {str(answer)[:200]!r}")
        return answer

    def _rows(self, dataset: Dataset, statement: str, window: Window, names: list[str]) -> Iterator[list]:
        hook = self._hook()
        what = f"{_system_table(dataset)} {window}"
        parameters = [{"name": "window_start", "value": _sql_timestamp(window.start), "type": "TIMESTAMP"},
                      {"name": "window_end", "value": _sql_timestamp(window.end), "type": "TIMESTAMP"}]
        answer = self._call(hook, "POST", STATEMENTS, what, {
            "warehouse_id": self.warehouse_id, "statement": statement, "parameters": parameters,
            "wait_timeout": f"{self.wait_timeout}s", "on_wait_timeout": "CONTINUE",
            "format": "JSON_ARRAY", "disposition": self.disposition})
        statement_id = answer.get("statement_id")
        deadline = clock.monotonic() + self.statement_timeout
        delay = 1.0
        while _state(answer) in ("PENDING", "RUNNING"):
            if clock.monotonic() > deadline:
                self._call(hook, "POST", f"{STATEMENTS}/{statement_id}/cancel", what, {})
                raise CollectorError(f"source {self.source_id}: {what}: statement {statement_id} still "
                                     f"{_state(answer)} after {self.statement_timeout:.0f} s "
                                     f"(options.statement_timeout_seconds); cancelled")
            clock.sleep(delay)
            delay = min(delay * 2, 10.0)
            answer = self._call(hook, "GET", f"{STATEMENTS}/{statement_id}", what)
        if _state(answer) != "SUCCEEDED":
            error = (answer.get("status") or {}).get("error") or {}
            raise CollectorError(f"source {self.source_id}: {what}: statement {statement_id} {_state(answer)}: "
                                 f"{error.get('error_code', '')} {error.get('message', '')}".rstrip())
        manifest = answer.get("manifest") or {}
        got = [c.get("name") for c in (manifest.get("schema") or {}).get("columns") or []]
        if got != names:
            raise CollectorError(f"source {self.source_id}: {what}: the result's columns {got} are not the "
                                 f"expected {names}")
        if manifest.get("truncated"):
            raise CollectorError(f"source {self.source_id}: {what}: statement {statement_id}: the result was "
                                 f"truncated (use disposition EXTERNAL_LINKS)")
        chunk = answer.get("result") or {}
        links = RetryingHttp(self._session(), self.source_id)
        seen = 0
        while chunk:
            if chunk.get("external_links"):
                for link in chunk["external_links"]:
                    # a presigned URL: no Authorization header, and the URL (a credential) is never logged
                    response = links.request("GET", link["external_link"],
                                             operation=f"{what} result chunk {link.get('chunk_index')}")
                    rows = json.loads(response.text)
                    yield from rows
                    seen += len(rows)
                    chunk_index = link.get("next_chunk_index")
            else:
                rows = chunk.get("data_array") or []
                yield from rows
                seen += len(rows)
                chunk_index = chunk.get("next_chunk_index")
            if chunk_index is None:
                break
            chunk = self._call(hook, "GET", f"{STATEMENTS}/{statement_id}/result/chunks/{chunk_index}", what)
        expected = manifest.get("total_row_count")
        if expected is not None and seen != int(expected):
            raise CollectorError(f"source {self.source_id}: {what}: statement {statement_id}: read {seen} rows, "
                                 f"the manifest says {expected}")

    def _session(self) -> Any:
        import requests

        return self.clients.get("session") or requests.Session()

    # -- one row ---------------------------------------------------------------------------------------------------
    def _record(self, dataset: Dataset, columns: tuple[Column, ...], row: Any, number: int) -> tuple | Reject:
        raw = json.dumps(row)[:2000]
        ref = f"{_system_table(dataset)} row {number}"
        if not isinstance(row, list) or len(row) != len(columns):
            return Reject(dataset.name, ref, "(record)", f"expected an array of {len(columns)} values", raw)
        if dataset is USAGE and row[0]:
            ref = f"system.billing.usage record_id {row[0]}"
        values = []
        for column, value in zip(columns, row, strict=True):
            if value is None:
                if not column.nullable:
                    return Reject(dataset.name, ref, column.name, "required value is null", raw)
                values.append(None)
                continue
            try:
                values.append(_parse(column.pg_type, value))
            except (ValueError, InvalidOperation, TypeError) as exc:
                return Reject(dataset.name, ref, column.name, f"{exc}: {value!r}"[:300], raw)
        if dataset is LIST_PRICES and _unit_price(values[-1]) is None:
            return Reject(dataset.name, ref, "pricing", "no effective_list.default or default price", raw)
        return tuple(values)


class _WithoutDebug:
    """The hook's logger minus DEBUG. The provider logs every API answer in full at DEBUG ("Response text: ..."), and
    an EXTERNAL_LINKS answer carries presigned URLs: temporary credentials Databricks says never to log. Warnings,
    errors and the hook's INFO lines pass unchanged."""

    def __init__(self, log: Any) -> None:
        self._log = log

    def debug(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)


def _system_table(dataset: Dataset) -> str:
    return f"system.{'lakeflow' if dataset in (JOB_RUN_TIMELINE, JOBS) else 'billing'}.{dataset.name}"


def _state(answer: dict) -> str:
    return str((answer.get("status") or {}).get("state"))


def _sql_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(pg_type: str, value: Any) -> Any:
    if not isinstance(value, str):  # JSON_ARRAY: every non-null value is a string
        raise TypeError("expected a string value")
    if pg_type == "numeric":
        number = Decimal(value)
        if not number.is_finite():
            raise ValueError("not a finite number")
        return number
    if pg_type == "timestamptz":
        stamp = datetime.fromisoformat(value)
        if stamp.tzinfo is None:
            raise ValueError("timestamp without a time zone")
        return stamp.astimezone(UTC)
    if pg_type == "date":
        return date.fromisoformat(value[:10])
    if pg_type == "jsonb":
        json.loads(value)  # must be JSON (to_json of a map or struct)
        return value
    return value


def _unit_price(pricing: str) -> Decimal | None:
    """The price used for cost: ``effective_list.default`` (list with promotions applied), else ``default``."""
    body = json.loads(pricing)
    if not isinstance(body, dict):
        return None
    effective = body.get("effective_list")
    for value in ((effective or {}).get("default") if isinstance(effective, dict) else None, body.get("default")):
        if value is not None:
            try:
                return Decimal(str(value))
            except InvalidOperation:
                return None
    return None
