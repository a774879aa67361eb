"""The ``redis_cloud`` source: Redis Cloud subscriptions and what they cost per day, from the Redis Cloud REST API
v1 (``GET /v1/subscriptions``), into ``raw.redis_cloud_subscription_pricing``: one row per day of the window x
subscription x ``subscriptionPricing[]`` item (type, quantity and its measurement, price per unit, currency and
period, database name where given).

Cost is what the subscription's pricing says, ``quantity x pricePerUnit`` per ``pricePeriod`` (``hour`` -> x 24
a day, ``day``, ``month`` -> / days in that month), computed in staging; never a field that does not exist (the
original agent read one and reported 0). Items without a price (the infrastructure of a subscription deployed in
the customer's own cloud account: volumes, instances) are kept in raw with no price and give no cost line: that
cloud provider bills them. The API has no pricing history: a day is priced with the pricing observed when it was
collected (``observed_at``, the response's ``Date``), so a back-fill of past days uses today's pricing.

Options: ``api_url`` (default ``https://api.redislabs.com/v1``), ``subscription_ids`` (default: every subscription of
the account). Credentials: the source's ``connection_id`` names an Airflow connection whose login is the account's
API key and password the user's secret key (headers ``x-api-key`` / ``x-api-secret-key``); never logged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

from collectors.core.base import Collector, CollectorError, Column, Dataset, Reject, Window
from collectors.core.credentials import connection_fields
from collectors.core.http_retry import RetryingHttp

SUBSCRIPTION_PRICING = Dataset(
    name="subscription_pricing",
    table="redis_cloud_subscription_pricing",
    time_column="usage_date",
    columns=(
        Column("usage_date", "date", nullable=False),
        Column("account_id", "text"),
        Column("subscription_id", "text", nullable=False),
        Column("subscription_name", "text"),
        Column("subscription_status", "text"),
        Column("pricing_position", "integer", nullable=False),
        Column("pricing_type", "text", nullable=False),
        Column("database_name", "text"),
        Column("quantity", "numeric", nullable=False),
        Column("quantity_measurement", "text"),
        Column("price_per_unit", "numeric"),
        Column("price_currency", "text"),
        Column("price_period", "text"),
        Column("cloud_provider", "text"),
        Column("observed_at", "timestamptz", nullable=False),
    ),
)
PERIODS = ("hour", "day", "month")


class RedisCloudCollector(Collector):
    type = "redis_cloud"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        api_url = str(self.options.get("api_url", "https://api.redislabs.com/v1")).rstrip("/")
        if not api_url.startswith(("http://", "https://")):
            raise ValueError(f"source {self.source_id}: options.api_url: expected an http(s) URL, got {api_url!r}")
        ids = self.options.get("subscription_ids")
        if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, int | str) for i in ids)):
            raise ValueError(f"source {self.source_id}: options.subscription_ids: expected a list of subscription "
                             f"ids, got {ids!r}")
        self.api_url = api_url
        self.subscription_ids = None if ids is None else {str(i) for i in ids}

    def datasets(self) -> tuple[Dataset, ...]:
        return (SUBSCRIPTION_PRICING,)

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        import requests

        http = RetryingHttp(self.clients.get("session") or requests.Session(), self.source_id)
        key, secret = self._keys()
        response = http.request("GET", f"{self.api_url}/subscriptions", operation="list subscriptions",
                                headers={"accept": "application/json", "x-api-key": key, "x-api-secret-key": secret})
        try:
            body = json.loads(response.text, parse_float=Decimal)
            observed = parsedate_to_datetime(response.headers["Date"]).astimezone(UTC)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CollectorError(f"source {self.source_id}: GET /subscriptions: unreadable answer "
                                 f"({type(exc).__name__}: {exc})") from None
        subscriptions = body.get("subscriptions") if isinstance(body, dict) else None
        if not isinstance(subscriptions, list):
            raise CollectorError(f"source {self.source_id}: GET /subscriptions: expected an object with a "
                                 f"'subscriptions' list, got {str(body)[:200]!r}")
        account = None if body.get("accountId") is None else str(body["accountId"])
        seen = set()
        for sub in subscriptions:
            sub_id = str(sub.get("id")) if isinstance(sub, dict) else None
            if self.subscription_ids is not None and sub_id not in self.subscription_ids:
                continue
            seen.add(sub_id)
            yield from self._subscription(sub, account, observed, window)
        missing = sorted((self.subscription_ids or set()) - seen)
        if missing:
            raise CollectorError(f"source {self.source_id}: options.subscription_ids {missing} not in the account's "
                                 f"subscriptions (a typo must not look like $0)")

    def _subscription(self, sub: Any, account: str | None, observed: datetime,
                      window: Window) -> Iterator[tuple | Reject]:
        ref = f"subscription {sub.get('id') if isinstance(sub, dict) else '?'}"
        if not isinstance(sub, dict) or sub.get("id") is None:
            yield Reject(SUBSCRIPTION_PRICING.name, ref, "id", "a subscription without an id",
                         json.dumps(sub, default=str)[:2000])
            return
        pricing = sub.get("subscriptionPricing")
        if not isinstance(pricing, list):
            yield Reject(SUBSCRIPTION_PRICING.name, ref, "subscriptionPricing", "missing or not a list",
                         json.dumps(sub, default=str)[:2000])
            return
        clouds = sub.get("cloudDetails") or []
        cloud = clouds[0].get("provider") if clouds and isinstance(clouds[0], dict) else None
        for position, item in enumerate(pricing):
            item_ref = f"{ref} subscriptionPricing[{position}]"
            problem = _check(item)
            if problem:
                yield Reject(SUBSCRIPTION_PRICING.name, item_ref, problem[0], problem[1],
                             json.dumps(item, default=str)[:2000])
                continue
            price = item.get("pricePerUnit")
            for day in window.days():
                yield (day, account, str(sub["id"]), sub.get("name"), sub.get("status"), position + 1,
                       str(item["type"]), item.get("databaseName"), Decimal(item["quantity"]),
                       item.get("quantityMeasurement"), None if price is None else Decimal(price),
                       item.get("priceCurrency"), item.get("pricePeriod"), cloud, observed)

    def _keys(self) -> tuple[str, str]:
        if "api_key" in self.clients:
            return self.clients["api_key"], self.clients["secret_key"]
        return connection_fields(self, "account API key", "secret key")


def _check(item: Any) -> tuple[str, str] | None:
    """(field, reason) of what makes a pricing item unusable, or None."""
    if not isinstance(item, dict):
        return "(record)", "expected a JSON object"
    if not item.get("type"):
        return "type", "missing"
    for key in ("quantity", "pricePerUnit"):
        value = item.get(key)
        if (value is None and key == "pricePerUnit") or (isinstance(value, int | Decimal)
                                                         and not isinstance(value, bool)):
            continue
        return key, f"not a number: {value!r}"
    if item.get("pricePerUnit") is not None:
        if item.get("pricePeriod") not in PERIODS:
            return "pricePeriod", f"expected one of {list(PERIODS)}, got {item.get('pricePeriod')!r}"
        if not item.get("priceCurrency"):
            return "priceCurrency", "missing (a price without its currency)"
    return None
