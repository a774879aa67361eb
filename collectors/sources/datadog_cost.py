"""The ``datadog_cost`` source: what Datadog charges an organisation per month and product, from the Usage
Metering API v2 into ``raw.datadog_cost_charges``: one row per month x organisation x ``charges[]`` entry
(product, charge type, cost in USD).

For each month of the window the collector asks ``GET /api/v2/usage/historical_cost`` (final figures of closed
months) and, when that has no data for the month yet, ``GET /api/v2/usage/estimated_cost`` (month to date, up to
72 hours late; rows are labelled ``cost_status = 'estimated'`` and replaced on every run until the month closes).
``charges[]`` holds ``committed`` and ``on_demand`` entries per product and their ``total``: staging keeps the
parts and leaves the total out (summing all three would count the spend twice); a dbt test checks that the parts
add up to the total. Cost is what Datadog reports, never host counts x a list price.

Options: ``site`` (default ``datadoghq.com``; ``datadoghq.eu``, ``us3.datadoghq.com``, ...) or ``api_url``, ``view``
(``summary`` (default: the parent organisation's total) or ``sub-org``). Credentials: the source's ``connection_id``
names an Airflow connection whose login is the API key and password the application key (headers ``DD-API-KEY`` /
``DD-APPLICATION-KEY``, needing ``usage_read`` + ``billing_read``); never logged. Rate limits: Datadog's
``X-RateLimit-Reset`` (seconds) with ``X-RateLimit-Remaining: 0`` (core.http_retry).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from collectors.core.base import Collector, CollectorError, Column, Dataset, Reject, Window
from collectors.core.credentials import connection_fields
from collectors.core.focus_schema import billing_periods
from collectors.core.http_retry import RetryingHttp

COST_CHARGES = Dataset(
    name="cost_charges",
    table="datadog_cost_charges",
    time_column="cost_month",
    columns=(
        Column("cost_month", "date", nullable=False),
        Column("cost_status", "text", nullable=False),
        Column("org_public_id", "text", nullable=False),
        Column("org_name", "text"),
        Column("account_public_id", "text"),
        Column("account_name", "text"),
        Column("region", "text"),
        Column("product_name", "text", nullable=False),
        Column("charge_type", "text", nullable=False),
        Column("cost", "numeric", nullable=False),
        Column("total_cost", "numeric"),
    ),
)
VIEWS = ("summary", "sub-org")


class DatadogCostCollector(Collector):
    type = "datadog_cost"
    default_close_days = 5  # the previous month's historical cost lands a few days into the new one

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        site = str(self.options.get("site", "datadoghq.com"))
        api_url = str(self.options.get("api_url", f"https://api.{site}")).rstrip("/")
        if not api_url.startswith(("http://", "https://")):
            raise ValueError(f"source {self.source_id}: options.api_url: expected an http(s) URL, got {api_url!r}")
        view = self.options.get("view", "summary")
        if view not in VIEWS:
            raise ValueError(f"source {self.source_id}: options.view: expected one of {list(VIEWS)}, got {view!r}")
        self.api_url, self.view = api_url, view

    def datasets(self) -> tuple[Dataset, ...]:
        return (COST_CHARGES,)

    def align_window(self, window: Window) -> Window:
        return window.months()

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        import requests

        http = RetryingHttp(self.clients.get("session") or requests.Session(), self.source_id)
        api_key, app_key = self._keys()
        headers = {"Accept": "application/json", "DD-API-KEY": api_key, "DD-APPLICATION-KEY": app_key}
        for period in billing_periods(window):
            month = date.fromisoformat(f"{period}-01")
            for status, endpoint in (("historical", "historical_cost"), ("estimated", "estimated_cost")):
                response = http.request("GET", f"{self.api_url}/api/v2/usage/{endpoint}",
                                        params={"view": self.view, "start_month": f"{period}-01T00:00:00Z",
                                                "end_month": f"{period}-01T00:00:00Z"},
                                        headers=headers, operation=f"{endpoint} {period}")
                try:
                    body = json.loads(response.text, parse_float=Decimal)
                except json.JSONDecodeError as exc:
                    raise CollectorError(f"source {self.source_id}: {endpoint} {period}: not JSON ({exc.msg})"
                                         ) from None
                data = body.get("data") if isinstance(body, dict) else None
                if not isinstance(data, list):
                    raise CollectorError(f"source {self.source_id}: {endpoint} {period}: expected an object with a "
                                         f"'data' list, got {str(body)[:200]!r}")
                if data:
                    yield from self._rows(data, month, status, endpoint)
                    break

    def _rows(self, data: list, month: date, status: str, endpoint: str) -> Iterator[tuple | Reject]:
        for i, entry in enumerate(data):
            ref = f"{endpoint} {month:%Y-%m} data[{i}]"
            attrs = entry.get("attributes") if isinstance(entry, dict) else None
            if not isinstance(attrs, dict) or not isinstance(attrs.get("charges"), list):
                yield Reject(COST_CHARGES.name, ref, "attributes.charges", "missing or not a list",
                             json.dumps(entry, default=str)[:2000])
                continue
            org = attrs.get("public_id") or (entry.get("id") if isinstance(entry, dict) else None)
            total = attrs.get("total_cost")
            for j, charge in enumerate(attrs["charges"]):
                cref = f"{ref}.charges[{j}]"
                problem = _check(charge)
                if problem:
                    yield Reject(COST_CHARGES.name, cref, problem[0], problem[1],
                                 json.dumps(charge, default=str)[:2000])
                    continue
                yield (month, status, str(org), attrs.get("org_name"), attrs.get("account_public_id"),
                       attrs.get("account_name"), attrs.get("region"), str(charge["product_name"]),
                       str(charge["charge_type"]), Decimal(charge["cost"]),
                       Decimal(total) if isinstance(total, int | Decimal) and not isinstance(total, bool) else None)

    def _keys(self) -> tuple[str, str]:
        if "api_key" in self.clients:
            return self.clients["api_key"], self.clients["app_key"]
        return connection_fields(self, "API key", "application key")


def _check(charge: Any) -> tuple[str, str] | None:
    if not isinstance(charge, dict):
        return "(record)", "expected a JSON object"
    for key in ("product_name", "charge_type"):
        if not charge.get(key):
            return key, "missing"
    cost = charge.get("cost")
    if isinstance(cost, bool) or not isinstance(cost, int | Decimal):
        return "cost", f"not a number: {cost!r}"
    return None
