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
- ``raw.snowflake_billing_usage_in_currency_daily`` (only with ``usage_in_currency: true``):
  ``SNOWFLAKE.ORGANIZATION_USAGE.USAGE_IN_CURRENCY_DAILY`` row for row: what Snowflake bills in currency per
  account, day and usage type (compute, cloud services, storage, data transfer, ...), with balance source, billing
  / rating / service type and the adjustment flag (adjustments kept, negative amounts allowed). Where an
  account-day has these rows, its cost lines come from them (billed cost = ``USAGE_IN_CURRENCY``) and its credits
  x price lines (metering and storage) are left out, so nothing is counted twice; account-days without them keep
  credits x price (``int_snowflake_usage_in_currency_costs_conformed``).
  Off by default: only the organisation account or an account with the ORGADMIN role enabled has the view, and
  only a role that may see currency reads it (ACCOUNTADMIN there, GLOBALORGADMIN, or the database role
  ORGANIZATION_BILLING_VIEWER); customers contracted through a reseller cannot read it. Its upgraded version is
  read (the legacy one has no ``BILLING_TYPE``: the query fails naming the column). Only the source's account is
  read: rows whose ``ACCOUNT_NAME``, ``ACCOUNT_LOCATOR`` or ``<ORGANIZATION_NAME>-<ACCOUNT_NAME>`` is the source's
  account, case-insensitively (set ``account_name`` to the account's name as the organisation shows it); charges
  of the contract with no account (priority support) are not read. The view lags up to 72 hours and a day may
  change until the month closes: give such a source ``lookback_days: 3`` and ``close_days`` (e.g. 5).

Every row carries the account (``options.account_name``, else the connection's account) and the price basis the
source is configured with (``options.edition`` for the list price per credit kept as data in the dbt seed
``snowflake_credit_prices``, or ``options.credit_price`` + ``currency`` for a contract price): credits x price is
computed in dbt.

Options: ``edition`` (``standard`` | ``enterprise`` | ``business_critical``) or ``credit_price`` (a decimal
string, with ``currency``, default USD); ``account_name``, ``organization_name``, ``region`` (labels of the cost
lines: billing account = organisation, sub account = account); ``query_history`` (default true); storage:
``storage_pricing`` (``on_demand``, the default, or ``capacity``: list price per TB-month in the dbt seed
``snowflake_storage_prices``) or ``storage_price_per_tb`` (the contract's, a decimal string);
``usage_in_currency`` (default false: the billed currency amounts of ORGANIZATION_USAGE, above).
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

USAGE_IN_CURRENCY_DAILY = Dataset(
    name="usage_in_currency_daily",
    table="snowflake_billing_usage_in_currency_daily",
    time_column="usage_date",
    columns=(
        Column("organization_name", "text"),
        Column("contract_number", "text"),
        Column("account_name", "text"),
        Column("account_locator", "text"),
        Column("region", "text"),
        Column("service_level", "text"),
        Column("usage_date", "date", nullable=False),
        Column("usage_type", "text", nullable=False),
        Column("currency", "text", nullable=False),
        Column("usage", "numeric"),
        Column("usage_in_currency", "numeric", nullable=False),
        Column("balance_source", "text"),
        Column("billing_type", "text"),
        Column("rating_type", "text"),
        Column("service_type", "text"),
        Column("is_adjustment", "boolean"),
        # the source's labels, as on the other tables: its cost lines are this account's
        Column("source_account_name", "text", nullable=False),
        Column("source_organization_name", "text"),
        Column("source_region", "text"),
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
    USAGE_IN_CURRENCY_DAILY.name: """
SELECT organization_name, contract_number, account_name, account_locator, region, service_level, usage_date,
       usage_type, currency, usage, usage_in_currency, balance_source, billing_type, rating_type, service_type,
       is_adjustment
FROM snowflake.organization_usage.usage_in_currency_daily
WHERE usage_date >= %(start_date)s AND usage_date < %(end_date)s
  AND (upper(account_name) = upper(%(account)s) OR upper(account_locator) = upper(%(account)s)
       OR upper(organization_name || '-' || account_name) = upper(%(account)s))
ORDER BY usage_date, usage_type, service_type, balance_source, billing_type, rating_type, is_adjustment""",
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
        usage_in_currency = self.options.get("usage_in_currency", False)
        if not isinstance(usage_in_currency, bool):
            raise ValueError(f"source {self.source_id}: options.usage_in_currency: expected true or false (read "
                             f"ORGANIZATION_USAGE.USAGE_IN_CURRENCY_DAILY), got {usage_in_currency!r}")
        if usage_in_currency:
            self._datasets += (USAGE_IN_CURRENCY_DAILY,)

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
        params["account"] = account
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
        if dataset is USAGE_IN_CURRENCY_DAILY and len(row) > 7:
            ref += f" usage_date {row[6]} usage_type {row[7]}"
        labels = (account, self.options.get("organization_name"), self.options.get("region"))
        if dataset is METERING_DAILY:
            values = (*row, *labels, self.edition, self.credit_price, self.currency)
        elif dataset is STORAGE_DAILY:
            values = (*row, *labels, self.storage_pricing, self.storage_price, self.currency)
        elif dataset is USAGE_IN_CURRENCY_DAILY:
            values = (*row, *labels)
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
            if column.pg_type == "numeric" and (not isinstance(value, Decimal | int) or isinstance(value, bool)):
                return Reject(dataset.name, ref, column.name, f"not a number: {value!r}", repr(row)[:2000])
            if column.pg_type == "timestamptz":
                if not isinstance(value, datetime) or value.tzinfo is None:
                    return Reject(dataset.name, ref, column.name, f"not a UTC timestamp: {value!r}", repr(row)[:2000])
                value = value.astimezone(UTC)
            if column.pg_type == "boolean" and not isinstance(value, bool):
                return Reject(dataset.name, ref, column.name, f"not a boolean: {value!r}", repr(row)[:2000])
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
