"""``SnowflakeTelemetryAgent``: Snowflake credits (and, where Snowflake states them, billed amounts), pushed to
OpenFinOps.

Runs the ``snowflake_billing`` collector of the DAGs (``SNOWFLAKE.ACCOUNT_USAGE``, session in UTC) over the last
``lookback_days`` days. What is pushed:

- ``metrics`` ``snowflake_credits_billed`` / ``snowflake_credits_used_compute`` /
  ``snowflake_credits_used_cloud_services`` per day and service type (``METERING_DAILY_HISTORY``),
  ``snowflake_warehouse_credits_used`` per warehouse-hour and ``snowflake_storage_bytes`` /
  ``snowflake_stage_bytes`` / ``snowflake_failsafe_bytes`` per day: exact quantities, labelled with the account and
  the price basis (``edition``).
- ``cost_records`` only where the amount is exact, never an estimate: with ``credit_price`` (your contract's price
  per credit) each metering day's credits billed x that price; with ``usage_in_currency`` (organisation accounts)
  Snowflake's own billed amounts per day and usage type (then no credits x price records, so nothing counts twice).
  The edition's list price is not applied here (the DAG pipeline keeps it as data in dbt).

Credentials: ``snowflake_user`` / ``snowflake_password`` (default env ``SNOWFLAKE_USER`` / ``SNOWFLAKE_PASSWORD``)
through snowflake-connector-python; never logged.

    python -m agents.snowflake_telemetry_agent --openfinops-endpoint http://localhost:8081 \
        --snowflake-account xy12345.us-east-1 --snowflake-warehouse COMPUTE_WH --edition enterprise --once
"""

from __future__ import annotations

import argparse
import os
import sys
from decimal import Decimal
from typing import Any

from agents import cli
from agents.collector_agent import CollectorAgent, metric, tags
from collectors.core.base import Collector, Dataset
from collectors.sources.snowflake_billing import (
    METERING_DAILY,
    STORAGE_DAILY,
    USAGE_IN_CURRENCY_DAILY,
    WAREHOUSE_METERING,
    SnowflakeBillingCollector,
)


class SnowflakeTelemetryAgent(CollectorAgent):
    agent_type = "snowflake_telemetry"

    def __init__(self, openfinops_endpoint: str, snowflake_account: str, snowflake_user: str | None = None,
                 snowflake_password: str | None = None, snowflake_warehouse: str = "COMPUTE_WH",
                 edition: str = "enterprise", *, role: str | None = None, credit_price: str | None = None,
                 currency: str = "USD", usage_in_currency: bool = False, connect: Any = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"account": snowflake_account, "edition": edition})
        super().__init__(openfinops_endpoint, **kwargs)
        self.account = snowflake_account
        self.warehouse = snowflake_warehouse
        self.edition = edition
        self.role = role
        self.credit_price = Decimal(str(credit_price)) if credit_price else None
        self.currency = currency
        self.usage_in_currency = usage_in_currency
        self._login = (snowflake_user or os.environ.get("SNOWFLAKE_USER"),
                       snowflake_password or os.environ.get("SNOWFLAKE_PASSWORD"))
        self._connect = connect

    def _open(self) -> Any:
        import snowflake.connector

        user, password = self._login
        params = {"account": self.account, "user": user, "password": password, "warehouse": self.warehouse,
                  "session_parameters": {"TIMEZONE": "UTC", "QUERY_TAG": "openfinops-agent"}}
        if self.role:
            params["role"] = self.role
        return snowflake.connector.connect(**params)

    def make_collectors(self) -> list[tuple[str, Collector]]:
        # The account as ORGANIZATION_USAGE names it (the collector matches its rows by account name, locator or
        # org-account): the identifier up to its first dot, e.g. xy12345.us-east-1 -> xy12345 (with the whole
        # identifier no row would match, and the billed amounts would silently be missing).
        account = self.account.split(".", 1)[0]
        options: dict[str, Any] = {"edition": self.edition, "account_name": account, "query_history": False,
                                   "currency": self.currency, "usage_in_currency": self.usage_in_currency}
        if self.credit_price is not None:
            options["credit_price"] = str(self.credit_price)
        collector = SnowflakeBillingCollector("agent-snowflake-billing", options,
                                              clients={"connect": self._connect or self._open})
        return [("snowflake_billing", collector)]

    def to_records(self, source: str, dataset: Dataset, row: dict[str, Any]) -> dict[str, list[dict]]:
        labels = {"account": row.get("account_name"), "edition": self.edition}
        if dataset.name == METERING_DAILY.name:
            day, service = row["usage_date"], row["service_type"]
            out: dict[str, list[dict]] = {"metrics": [
                metric(f"snowflake_{name}", row[name], day, "credits", service_type=service, **labels)
                for name in ("credits_billed", "credits_used_compute", "credits_used_cloud_services")]}
            if self.credit_price is not None and not self.usage_in_currency:
                out["cost_records"] = [{
                    "timestamp": day, "provider": "Snowflake", "service": f"Snowflake {service}",
                    "cost": row["credits_billed"] * self.credit_price, "currency": self.currency,
                    "account_id": row["account_name"], "usage_quantity": row["credits_billed"],
                    "usage_unit": "credits",
                    "tags": tags(source="snowflake_billing", price_basis="contract",
                                 credit_price=str(self.credit_price))}]
            return out
        if dataset.name == WAREHOUSE_METERING.name:
            return {"metrics": [metric("snowflake_warehouse_credits_used", row["credits_used"], row["start_time"],
                                       "credits", warehouse=row["warehouse_name"], **labels)]}
        if dataset.name == STORAGE_DAILY.name:
            return {"metrics": [metric(f"snowflake_{name}", row[name], row["usage_date"], "bytes", **labels)
                                for name in ("storage_bytes", "stage_bytes", "failsafe_bytes")]}
        if dataset.name == USAGE_IN_CURRENCY_DAILY.name:
            return {"cost_records": [{
                "timestamp": row["usage_date"], "provider": "Snowflake", "service": f"Snowflake {row['usage_type']}",
                "cost": row["usage_in_currency"], "currency": row["currency"],
                "account_id": row["account_name"] or row["source_account_name"], "usage_quantity": row["usage"],
                "region": row["region"],
                "tags": tags(source="snowflake_billing", price_basis="usage_in_currency",
                             balance_source=row["balance_source"], billing_type=row["billing_type"],
                             rating_type=row["rating_type"], is_adjustment=row["is_adjustment"])}]}
        return {}


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--snowflake-account", help="account identifier, e.g. xy12345.us-east-1")
    p.add_argument("--snowflake-user", help="default env SNOWFLAKE_USER")
    p.add_argument("--snowflake-warehouse", help="warehouse that runs the queries (default COMPUTE_WH)")
    p.add_argument("--snowflake-role", help="a role with IMPORTED PRIVILEGES on the SNOWFLAKE database")
    p.add_argument("--edition", choices=("standard", "enterprise", "business_critical"))
    p.add_argument("--credit-price", help="your contract's price per credit (a decimal): adds cost records")
    p.add_argument("--usage-in-currency", action="store_true", help="read ORGANIZATION_USAGE billed amounts")


def _build(args: argparse.Namespace, options: dict[str, Any], common: dict[str, Any]) -> SnowflakeTelemetryAgent:
    account = cli.first(args.snowflake_account, options.get("account"), os.environ.get("SNOWFLAKE_ACCOUNT"))
    if not account:
        raise ValueError("--snowflake-account (or snowflake.account) is required")
    return SnowflakeTelemetryAgent(
        snowflake_account=account, snowflake_user=cli.first(args.snowflake_user, options.get("user")),
        snowflake_password=cli.first(options.get("password")),
        snowflake_warehouse=cli.first(args.snowflake_warehouse, options.get("warehouse"), "COMPUTE_WH"),
        edition=cli.first(args.edition, options.get("edition"), "enterprise"),
        role=cli.first(args.snowflake_role, options.get("role")),
        credit_price=cli.first(args.credit_price, options.get("credit_price")),
        usage_in_currency=bool(args.usage_in_currency or options.get("usage_in_currency")), **common)


def main(argv: list[str] | None = None) -> int:
    return cli.main("snowflake_telemetry_agent", "snowflake", "Push Snowflake credits to OpenFinOps", _arguments,
                    _build, argv)


if __name__ == "__main__":
    sys.exit(main())
