"""A local Snowflake for snowflake-connector-python: fakesnow's server (the connector's REST protocol: login-request,
query-request with typed rowsets; SQL run by DuckDB) behind a login check of our own (a wrong user or password
gets Snowflake's 390100 answer), holding ``SNOWFLAKE.ACCOUNT_USAGE`` views and
``SNOWFLAKE.ORGANIZATION_USAGE.USAGE_IN_CURRENCY_DAILY`` as tables with the documented columns of
``../shared/data/vendor-api/snowflake-account-usage.md`` (QUERY_HISTORY: the columns the collector reads) and the
rows a test inserts. The collector connects with the real connector through the provider's connection settings
(host / port / protocol http from the Airflow connection)."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

USER, PASSWORD, ACCOUNT = "OPENFINOPS_READER", "sf-password-neverlogged", "xy12345"

TABLES = {
    "metering_daily_history": """service_type varchar, usage_date date, credits_used_compute number(38,9),
        credits_used_cloud_services number(38,9), credits_used number(38,9),
        credits_adjustment_cloud_services number(38,9), credits_billed number(38,9)""",
    "warehouse_metering_history": """start_time timestamp_ltz, end_time timestamp_ltz, warehouse_id number,
        warehouse_name varchar, credits_used number(38,9), credits_used_compute number(38,9),
        credits_used_cloud_services number(38,9), credits_attributed_compute_queries number(38,9)""",
    "storage_usage": """usage_date date, storage_bytes number(38,0), stage_bytes number(38,0),
        failsafe_bytes number(38,0), hybrid_table_storage_bytes number(38,0)""",
    "query_history": """query_id varchar, start_time timestamp_ltz, end_time timestamp_ltz, execution_time number,
        total_elapsed_time number, warehouse_name varchar, user_name varchar, role_name varchar, query_tag varchar,
        database_name varchar, execution_status varchar""",
}
# SNOWFLAKE.ORGANIZATION_USAGE (the organisation account / ORGADMIN): the upgraded view's columns, in their order
ORG_TABLES = {
    "usage_in_currency_daily": """organization_name varchar, contract_number varchar, account_name varchar,
        account_locator varchar, region varchar, service_level varchar, usage_date date, usage_type varchar,
        usage number(38,3), currency varchar, usage_in_currency number(38,2), balance_source varchar,
        billing_type varchar, rating_type varchar, service_type varchar, is_adjustment boolean""",
}


def _checked(app):
    """ASGI wrapper: login requests must carry USER / PASSWORD (Snowflake's own error answer otherwise)."""
    async def wrapper(scope, receive, send):
        if scope["type"] != "http" or "login-request" not in scope["path"]:
            return await app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = dict(scope["headers"])
        data = json.loads(gzip.decompress(body) if headers.get(b"content-encoding") == b"gzip" else body)["data"]
        if (data.get("LOGIN_NAME"), data.get("PASSWORD")) != (USER, PASSWORD):
            payload = json.dumps({"data": {"nextAction": "RETRY_LOGIN", "authnMethod": "USERNAME_PASSWORD"},
                                  "code": "390100", "message": "Incorrect username or password was specified.",
                                  "success": False, "headers": None}).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            return await send({"type": "http.response.body", "body": payload})
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await app(scope, replay, send)
    return wrapper


class SnowflakeApi:
    def __init__(self) -> None:
        import fakesnow.server
        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(_checked(fakesnow.server.app), host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.server.started, "fake Snowflake did not start"
        with self.connect() as conn:
            cur = conn.cursor()
            cur.execute("create database if not exists snowflake")
            cur.execute("create schema if not exists snowflake.account_usage")
            for table, columns in TABLES.items():
                cur.execute(f"create or replace table snowflake.account_usage.{table} ({columns})")
            cur.execute("create schema if not exists snowflake.organization_usage")
            for table, columns in ORG_TABLES.items():
                cur.execute(f"create or replace table snowflake.organization_usage.{table} ({columns})")

    def connection(self) -> dict:
        """The Airflow connection (type snowflake) for this account: plain HTTP on a local port."""
        return {"conn_type": "snowflake", "login": USER, "password": PASSWORD, "host": "127.0.0.1",
                "port": self.port, "extra": {"account": ACCOUNT, "warehouse": "BILLING_WH", "role": "BILLING_READER",
                                             "protocol": "http"}}

    def connect(self):
        import snowflake.connector

        return snowflake.connector.connect(
            user=USER, password=PASSWORD, account=ACCOUNT, host="127.0.0.1", port=self.port, protocol="http",
            session_parameters={"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False, "TIMEZONE": "UTC"})

    def insert(self, table: str, rows: list[tuple]) -> None:
        """Rows into an ACCOUNT_USAGE view's table, or ORGANIZATION_USAGE's for the tables of ORG_TABLES."""
        if not rows:
            return
        schema = "organization_usage" if table in ORG_TABLES else "account_usage"
        with self.connect() as conn:
            placeholders = ", ".join(["%s"] * len(rows[0]))
            conn.cursor().executemany(f"insert into snowflake.{schema}.{table} values ({placeholders})",
                                      [tuple(_sql(v) for v in row) for row in rows])

    def __enter__(self) -> SnowflakeApi:
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _sql(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")
    if isinstance(value, date | Decimal):
        return str(value)
    return value


# -- fixture data: Oct 13-16 2026, one warehouse's hours with their queries, and the daily metering ---------------
def hour(day: int, h: int) -> datetime:
    return datetime(2026, 10, day, h, tzinfo=UTC)


def metering_daily() -> list[tuple]:
    """(service_type, usage_date, compute, cloud services, used, adjustment, billed): the adjustment is
    -min(cloud services, 10 % of compute), billed = compute + cloud services + adjustment (the documented rule)."""
    rows = []
    for day, (compute, cloud) in {13: ("10.5", "0.6"), 14: ("8.25", "1.5"), 15: ("12", "0.9"),
                                  16: ("4.125", "0")}.items():
        compute, cloud = Decimal(compute), Decimal(cloud)
        adjustment = -min(cloud, compute / 10)
        rows.append(("WAREHOUSE_METERING", date(2026, 10, day), compute, cloud, compute + cloud, adjustment,
                     compute + cloud + adjustment))
    rows.append(("PIPE", date(2026, 10, 14), Decimal("0.75"), Decimal(0), Decimal("0.75"), Decimal(0),
                 Decimal("0.75")))
    return rows


def warehouse_hours() -> list[tuple]:
    """(start, end, id, name, used, compute, cloud services, attributed): three hours of ANALYTICS_WH on Oct 14,
    one idle (no query ran in it)."""
    rows = []
    for h, compute in ((9, "4"), (10, "3.5"), (11, "0.75")):
        compute = Decimal(compute)
        rows.append((hour(14, h), hour(14, h + 1), 7, "ANALYTICS_WH", compute + Decimal("0.1"), compute,
                     Decimal("0.1"), compute))
    return rows


def queries() -> list[tuple]:
    """(id, start, end, execution ms, elapsed ms, warehouse, user, role, tag, database, status): in hour 9 two
    queries (45 and 15 minutes), one crossing into hour 10 (30 minutes: 15 in each), a third in hour 10; hour 11
    has none."""
    def q(qid, start, minutes, user):
        end = start + timedelta(minutes=minutes)
        return (qid, start, end, minutes * 60_000, minutes * 60_000, "ANALYTICS_WH", user, "ANALYST", "finops",
                "SALES", "SUCCESS")

    return [q("q-1", hour(14, 9), 30, "ALICE"),
            q("q-2", hour(14, 9) + timedelta(minutes=30), 15, "BOB"),
            q("q-3", hour(14, 9) + timedelta(minutes=45), 30, "ALICE"),
            q("q-4", hour(14, 10) + timedelta(minutes=20), 20, "CAROL")]


TIB = 1024 ** 4


def storage_days() -> list[tuple]:
    """(usage_date, storage, stage, fail-safe, hybrid bytes): 2.5 TiB of tables growing by 0.1 TiB a day, 100 GiB of
    stages, 0.25 TiB in fail-safe."""
    return [(date(2026, 10, day), int(TIB * Decimal("2.5")) + (day - 13) * TIB // 10, 100 * 1024 ** 3, TIB // 4, 0)
            for day in (13, 14, 15, 16)]


def usage_in_currency_daily() -> list[tuple]:
    """USAGE_IN_CURRENCY_DAILY rows (the view's column order): ACME_PROD (locator XY12345) is billed in currency on
    Oct 14 and 15 (compute from capacity and overage, cloud services, storage, data transfer, and on Oct 15 a
    negative compute adjustment); Oct 13 and 16 have no rows (their cost stays credits x price). ACME_DEV, another
    account of the organisation, has a row on Oct 14 that the ACME_PROD source must not read."""
    def row(account, locator, day, usage_type, usage, amount, balance="capacity", billing="consumption",
            rating="compute", service="WAREHOUSE_METERING", adjustment=False):
        return ("ACME", "C-1001", account, locator, "AWS_US_EAST_1", "Enterprise", date(2026, 10, day), usage_type,
                Decimal(usage), "USD", Decimal(amount), balance, billing, rating, service, adjustment)

    return [
        row("ACME_PROD", "XY12345", 14, "compute", "6.500", "16.25"),
        row("ACME_PROD", "XY12345", 14, "compute", "2.500", "7.50", balance="overage"),
        row("ACME_PROD", "XY12345", 14, "compute", "0.750", "1.88", service="PIPE"),
        row("ACME_PROD", "XY12345", 14, "cloud services", "0.675", "1.69", service="CLOUD_SERVICES"),
        row("ACME_PROD", "XY12345", 14, "storage", "2.948", "67.80", rating="storage", service="STORAGE"),
        row("ACME_PROD", "XY12345", 14, "data transfer", "0.120", "2.40", rating="data transfer",
            service="DATA_TRANSFER"),
        row("ACME_PROD", "XY12345", 15, "compute", "12.000", "30.00"),
        row("ACME_PROD", "XY12345", 15, "storage", "3.048", "70.10", rating="storage", service="STORAGE"),
        row("ACME_PROD", "XY12345", 15, "compute", "-1.900", "-4.75", adjustment=True),
        row("ACME_DEV", "XY99999", 14, "compute", "3.000", "7.50"),
    ]
