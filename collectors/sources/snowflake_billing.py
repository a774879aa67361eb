"""The ``snowflake_billing`` source: what a Snowflake account consumes and what it costs, from its
``SNOWFLAKE.ACCOUNT_USAGE`` views, read with the provider's ``SnowflakeHook`` connection settings through
snowflake-connector-python (session time zone UTC):

- ``raw.snowflake_billing_metering_daily``: ``METERING_DAILY_HISTORY`` row for row: credits per service type and
  day, compute and cloud services, the cloud-services adjustment and ``CREDITS_BILLED`` (what is billed: cloud
  services only above 10 % of the day's compute). The cost lines come from here.
- ``raw.snowflake_billing_storage_daily``: ``STORAGE_USAGE`` row for row: the account's average bytes per day in
  tables, stages and fail-safe; billed per TB-month (1 TB = 1024^4 bytes) at the source's storage price.
- ``raw.snowflake_billing_warehouse_metering``: ``WAREHOUSE_METERING_HISTORY``: credits per warehouse and hour.
- ``raw.snowflake_billing_query_history``: the queries that ran on a warehouse (``QUERY_HISTORY``: id, warehouse,
  user, role, tag, start / end, execution time), for per-query attribution: each warehouse-hour's credits are
  split across the queries that executed in it by execution time (``fct_snowflake_query_attribution``; never the
  hour added once per query, as the original agent did).

Every row carries the account (``options.account_name``, else the connection's account) and the price basis the
source is configured with (``options.edition`` for the list price per credit kept as data in the dbt seed
``snowflake_credit_prices``, or ``options.credit_price`` + ``currency`` for a contract price): credits x price is
computed in dbt.

Options: ``edition`` (``standard`` | ``enterprise`` | ``business_critical``) or ``credit_price`` (a decimal
string, with ``currency``, default USD); ``account_name``, ``organization_name``, ``region`` (labels of the cost
lines: billing account = organisation, sub account = account); ``query_history`` (default true); storage:
``storage_pricing`` (``on_demand``, the default, or ``capacity``: list price per TB-month in the dbt seed
``snowflake_storage_prices``) or ``storage_price_per_tb`` (the contract's, a decimal string).
Credentials: the source's ``connection_id`` names an Airflow connection of type ``snowflake`` (account, user,
password or key pair, warehouse, role: the provider's fields); a connection ``host`` (+ ``port``, extra
``protocol``) is used for PrivateLink or a proxy. The role needs IMPORTED PRIVILEGES on the SNOWFLAKE database.
ACCOUNT_USAGE lags up to 3 hours and METERING_DAILY_HISTORY's day is final a day later: each run re-pulls
``default_lookback_days`` (2).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from collectors.core.base import Collector, CollectorError, Column, Dataset, Reject, Window

EDITIONS = ("standard", "enterprise", "business_critical")
STORAGE_PRICING = ("on_demand", "capacity")
PRICE_BASIS = (
    Column("account_name", "text", nullable=False),
    Column("organization_name", "text"),
    Column("region", "text"),
    Column("edition", "text"),
    Column("contract_credit_price", "numeric"),
    Column("currency", "text", nullable=False),
)

METERING_DAILY = Dataset(
    name="metering_daily",
    table="snowflake_billing_metering_daily",
    time_column="usage_date",
    columns=(
        Column("usage_date", "date", nullable=False),
        Column("service_type", "text", nullable=False),
        Column("credits_used_compute", "numeric", nullable=False),
        Column("credits_used_cloud_services", "numeric", nullable=False),
        Column("credits_used", "numeric", nullable=False),
        Column("credits_adjustment_cloud_services", "numeric", nullable=False),
        Column("credits_billed", "numeric", nullable=False),
        *PRICE_BASIS,
    ),
)
WAREHOUSE_METERING = Dataset(
    name="warehouse_metering",
    table="snowflake_billing_warehouse_metering",
    time_column="start_time",
    columns=(
        Column("start_time", "timestamptz", nullable=False),
        Column("end_time", "timestamptz", nullable=False),
        Column("warehouse_id", "text", nullable=False),
        Column("warehouse_name", "text", nullable=False),
        Column("credits_used", "numeric", nullable=False),
        Column("credits_used_compute", "numeric", nullable=False),
        Column("credits_used_cloud_services", "numeric", nullable=False),
        Column("account_name", "text", nullable=False),
    ),
)
STORAGE_DAILY = Dataset(
    name="storage_daily",
    table="snowflake_billing_storage_daily",
    time_column="usage_date",
    columns=(
        Column("usage_date", "date", nullable=False),
        Column("storage_bytes", "numeric", nullable=False),
        Column("stage_bytes", "numeric", nullable=False),
        Column("failsafe_bytes", "numeric", nullable=False),
        Column("account_name", "text", nullable=False),
        Column("organization_name", "text"),
        Column("region", "text"),
        Column("storage_pricing", "text"),
        Column("contract_storage_price_per_tb", "numeric"),
        Column("currency", "text", nullable=False),
    ),
)
QUERY_HISTORY = Dataset(
    name="query_history",
    table="snowflake_billing_query_history",
    time_column="start_time",
    columns=(
        Column("query_id", "text", nullable=False),
        Column("start_time", "timestamptz", nullable=False),
        Column("end_time", "timestamptz", nullable=False),
        Column("execution_time_ms", "bigint", nullable=False),
        Column("warehouse_name", "text", nullable=False),
        Column("user_name", "text"),
        Column("role_name", "text"),
        Column("query_tag", "text"),
        Column("database_name", "text"),
        Column("execution_status", "text"),
        Column("account_name", "text", nullable=False),
    ),
)

SQL = {
    METERING_DAILY.name: """
SELECT usage_date, service_type, credits_used_compute, credits_used_cloud_services, credits_used,
       credits_adjustment_cloud_services, credits_billed
FROM snowflake.account_usage.metering_daily_history
WHERE usage_date >= %(start_date)s AND usage_date < %(end_date)s
ORDER BY usage_date, service_type""",
    WAREHOUSE_METERING.name: """
SELECT start_time, end_time, warehouse_id, warehouse_name, credits_used, credits_used_compute,
       credits_used_cloud_services
FROM snowflake.account_usage.warehouse_metering_history
WHERE start_time >= %(start)s AND start_time < %(end)s
ORDER BY start_time, warehouse_name""",
    STORAGE_DAILY.name: """
SELECT usage_date, storage_bytes, stage_bytes, failsafe_bytes
FROM snowflake.account_usage.storage_usage
WHERE usage_date >= %(start_date)s AND usage_date < %(end_date)s
ORDER BY usage_date""",
    QUERY_HISTORY.name: """
SELECT query_id, start_time, end_time, execution_time, warehouse_name, user_name, role_name, query_tag,
       database_name, execution_status
FROM snowflake.account_usage.query_history
WHERE start_time >= %(start)s AND start_time < %(end)s AND warehouse_name IS NOT NULL AND execution_time > 0
ORDER BY start_time, query_id""",
}
FETCH_ROWS = 10_000


class SnowflakeBillingCollector(Collector):
    type = "snowflake_billing"
    default_lookback_days = 2

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        edition, price = self.options.get("edition"), self.options.get("credit_price")
        if price is None and edition not in EDITIONS:
            raise ValueError(f"source {self.source_id}: options.edition: expected one of {list(EDITIONS)} (the list "
                             f"price per credit), or set options.credit_price to the contract's price; got "
                             f"{edition!r}")
        if edition is not None and edition not in EDITIONS:
            raise ValueError(f"source {self.source_id}: options.edition: expected one of {list(EDITIONS)}, got "
                             f"{edition!r}")
        self.credit_price = self._price_option("credit_price", "the contract's price per credit, e.g. '2.75'")
        self.edition = edition
        self.storage_pricing = self.options.get("storage_pricing", "on_demand")
        if self.storage_pricing not in STORAGE_PRICING:
            raise ValueError(f"source {self.source_id}: options.storage_pricing: expected one of "
                             f"{list(STORAGE_PRICING)} (the list price per TB-month), got {self.storage_pricing!r}")
        self.storage_price = self._price_option("storage_price_per_tb", "the contract's price per TB-month, e.g. '23'")
        self.currency = str(self.options.get("currency", "USD"))
        self.account_name = self.options.get("account_name")
        self._datasets = (METERING_DAILY, STORAGE_DAILY, WAREHOUSE_METERING) + (
            (QUERY_HISTORY,) if self.options.get("query_history", True) else ())

    def _price_option(self, key: str, meaning: str) -> Decimal | None:
        """A contract price option: absent (None) or a positive decimal string (a float would be rounded money)."""
        value = self.options.get(key)
        if value is None:
            return None
        try:
            price = None if isinstance(value, float) else Decimal(str(value))
        except InvalidOperation:
            price = None
        if price is None or not price > 0:
            raise ValueError(f"source {self.source_id}: options.{key}: expected a positive decimal string ({meaning}), "
                             f"got {value!r}")
        return price

    def datasets(self) -> tuple[Dataset, ...]:
        return self._datasets

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        params = {"start": window.start, "end": window.end, "start_date": window.start.date(),
                  "end_date": (window.end - timedelta(microseconds=1)).date() + timedelta(days=1)}
        connection = self._connect()
        account = self.account_name or getattr(connection, "account", None) or "unknown"
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(SQL[dataset.name], params)
            except Exception as exc:  # the connector's ProgrammingError / DatabaseError carry Snowflake's message
                raise CollectorError(f"source {self.source_id}: {dataset.name} {window}: query failed: "
                                     f"{str(exc)[:500]}") from None
            number = 0
            while rows := cursor.fetchmany(FETCH_ROWS):
                for row in rows:
                    number += 1
                    yield self._record(dataset, row, number, account)
        finally:
            connection.close()

    def _record(self, dataset: Dataset, row: tuple, number: int, account: str) -> tuple | Reject:
        ref = f"{dataset.name} row {number}" + (f" query_id {row[0]}" if dataset is QUERY_HISTORY else "")
        labels = (account, self.options.get("organization_name"), self.options.get("region"))
        if dataset is METERING_DAILY:
            values = (*row, *labels, self.edition, self.credit_price, self.currency)
        elif dataset is STORAGE_DAILY:
            values = (*row, *labels, self.storage_pricing, self.storage_price, self.currency)
        else:
            values = (*row, account)
        if len(values) != len(dataset.columns):
            return Reject(dataset.name, ref, "(record)", f"expected {len(dataset.columns)} columns", repr(row)[:2000])
        out = []
        for column, value in zip(dataset.columns, values, strict=True):
            if value is None:
                if not column.nullable:
                    return Reject(dataset.name, ref, column.name, "required value is null", repr(row)[:2000])
                out.append(None)
                continue
            if column.pg_type == "numeric" and not isinstance(value, Decimal | int):
                return Reject(dataset.name, ref, column.name, f"not a number: {value!r}", repr(row)[:2000])
            if column.pg_type == "timestamptz":
                if not isinstance(value, datetime) or value.tzinfo is None:
                    return Reject(dataset.name, ref, column.name, f"not a UTC timestamp: {value!r}", repr(row)[:2000])
                value = value.astimezone(UTC)
            if column.pg_type == "date" and not isinstance(value, date):
                return Reject(dataset.name, ref, column.name, f"not a date: {value!r}", repr(row)[:2000])
            if column.pg_type in ("text",):
                value = str(value)
            out.append(value)
        return tuple(out)

    def _connect(self) -> Any:
        if "connect" in self.clients:  # tests: a function returning a DB-API connection
            return self.clients["connect"]()
        if not self.connection_id:
            raise CollectorError(f"source {self.source_id}: no connection_id: expected the id of an Airflow "
                                 f"connection of type 'snowflake'")
        import snowflake.connector
        from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

        hook = SnowflakeHook(snowflake_conn_id=self.connection_id, session_parameters={
            "TIMEZONE": "UTC", "QUERY_TAG": "openfinops", "CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False})
        params = dict(hook._get_conn_params())  # the provider's reading of the connection (auth, role, warehouse)
        conn = hook.get_connection(self.connection_id)
        if conn.host:  # PrivateLink, a proxy, or a local endpoint
            params.update(host=conn.host, port=conn.port or 443,
                          protocol=str(conn.extra_dejson.get("protocol", "https")))
        try:
            return snowflake.connector.connect(**params)
        except Exception as exc:
            raise CollectorError(f"source {self.source_id}: connection {self.connection_id!r}: could not log in "
                                 f"to Snowflake: {str(exc)[:300]}") from None
