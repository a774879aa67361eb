"""The ``github_billing`` source: what GitHub bills an organisation, from the enhanced billing platform's usage
report ``GET /organizations/{org}/settings/billing/usage?year=&month=`` (REST API version 2022-11-28), into
``raw.github_billing_usage_items``: one row per ``usageItems[]`` entry (date, product, SKU, quantity, unit type,
price per unit, gross / discount / net amount, organisation, repository).

What GitHub bills is ``netAmount`` (gross minus the discount, e.g. included minutes); nothing here multiplies a
quantity by a list price. The product-specific endpoints (``/orgs/{org}/settings/billing/actions``, ``packages``,
``shared-storage``) were retired (HTTP 410, 2025): pointing ``api_url`` at them, or a server answering 410, is an
error naming the endpoint to use instead.

Options:
- ``organization`` (required): the organisation login.
- ``api_url``: default ``https://api.github.com`` (GitHub Enterprise Server: ``https://HOST/api/v3``).
Credentials: the source's ``connection_id`` names an Airflow connection (conn type ``http``) whose password is a
token allowed to read the organisation's billing (fine-grained: "Administration" read). Read only when a window
is collected; never logged.

A run replaces whole months (the report is asked per month and a month's usage is restated until it closes;
``default_close_days`` re-pulls the previous month for the first 3 days of a new one). Rate limits: ``Retry-After``
and ``x-ratelimit-reset`` (core.http_retry).
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
from collectors.core.http_retry import RetryingHttp, vendor_error

API_VERSION = "2022-11-28"
RETIRED = ("/settings/billing/actions", "/settings/billing/packages", "/settings/billing/shared-storage")

USAGE_ITEMS = Dataset(
    name="usage_items",
    table="github_billing_usage_items",
    time_column="usage_date",
    columns=(
        Column("usage_date", "date", nullable=False),
        Column("product", "text", nullable=False),
        Column("sku", "text", nullable=False),
        Column("quantity", "numeric", nullable=False),
        Column("unit_type", "text"),
        Column("price_per_unit", "numeric"),
        Column("gross_amount", "numeric", nullable=False),
        Column("discount_amount", "numeric", nullable=False),
        Column("net_amount", "numeric", nullable=False),
        Column("organization_name", "text", nullable=False),
        Column("repository_name", "text"),
        Column("billing_period", "text", nullable=False),
        Column("record_number", "integer", nullable=False),
    ),
)
REQUIRED = ("date", "product", "sku", "quantity", "grossAmount", "discountAmount", "netAmount", "organizationName")
MONEY = ("quantity", "pricePerUnit", "grossAmount", "discountAmount", "netAmount")


def github_error(response: Any) -> tuple[str | None, str]:
    """GitHub's ``{"message", "documentation_url"}`` errors; a 410 says which endpoint replaced the retired one."""
    if response.status_code == 410:
        return ("Gone", "GitHub retired this billing endpoint; billing is read from the enhanced billing platform's "
                        "usage report GET /organizations/{org}/settings/billing/usage (the organisation must be on "
                        "the enhanced billing platform)")
    return vendor_error(response)


class GithubBillingCollector(Collector):
    type = "github_billing"
    default_close_days = 3

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        org = self.options.get("organization")
        if not isinstance(org, str) or not org or "/" in org:
            raise ValueError(f"source {self.source_id}: options.organization: expected the organisation login, "
                             f"got {org!r}")
        api_url = str(self.options.get("api_url", "https://api.github.com")).rstrip("/")
        if not api_url.startswith(("http://", "https://")):
            raise ValueError(f"source {self.source_id}: options.api_url: expected an http(s) URL, got {api_url!r}")
        if any(part in api_url for part in RETIRED):
            raise ValueError(f"source {self.source_id}: options.api_url points at a retired per-product billing "
                             f"endpoint ({api_url}); expected the API root (https://api.github.com): the collector "
                             f"reads /organizations/{{org}}/settings/billing/usage")
        self.organization = org
        self.api_url = api_url

    def datasets(self) -> tuple[Dataset, ...]:
        return (USAGE_ITEMS,)

    def align_window(self, window: Window) -> Window:
        return window.months()

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        import requests

        http = RetryingHttp(self.clients.get("session") or requests.Session(), self.source_id,
                            error_detail=github_error)
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION,
                   "Authorization": f"Bearer {self._token()}"}
        url = f"{self.api_url}/organizations/{self.organization}/settings/billing/usage"
        for period in billing_periods(window):
            year, month = period.split("-")
            response = http.request("GET", url, params={"year": int(year), "month": int(month)}, headers=headers,
                                    operation=f"billing usage {period}", allow_redirects=False)
            try:
                body = json.loads(response.text, parse_float=Decimal)
            except json.JSONDecodeError as exc:
                raise CollectorError(f"source {self.source_id}: billing usage {period}: not JSON ({exc.msg} at "
                                     f"character {exc.pos})") from None
            items = body.get("usageItems") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise CollectorError(f"source {self.source_id}: billing usage {period}: expected an object with a "
                                     f"'usageItems' list, got {str(body)[:200]!r}")
            for number, item in enumerate(items, start=1):
                yield self._record(item, period, number, window)

    def _record(self, item: Any, period: str, number: int, window: Window) -> tuple | Reject:
        ref = f"{self.organization} {period} usageItems[{number - 1}]"
        raw = json.dumps(item, default=str)[:2000]
        if not isinstance(item, dict):
            return Reject(USAGE_ITEMS.name, ref, "(record)", "expected a JSON object", raw)
        missing = [k for k in REQUIRED if item.get(k) in (None, "")]
        if missing:
            return Reject(USAGE_ITEMS.name, ref, missing[0], f"required field(s) missing: {missing}", raw)
        try:
            day = date.fromisoformat(str(item["date"])[:10])
        except ValueError:
            return Reject(USAGE_ITEMS.name, ref, "date", f"not a date: {item['date']!r}", raw)
        if f"{day:%Y-%m}" != period:
            return Reject(USAGE_ITEMS.name, ref, "date", f"{day} is outside the requested month {period}", raw)
        numbers = {}
        for key in MONEY:
            value = item.get(key)
            if value is None:
                numbers[key] = None
                continue
            if isinstance(value, bool) or not isinstance(value, int | Decimal):
                return Reject(USAGE_ITEMS.name, ref, key, f"not a number: {value!r}", raw)
            numbers[key] = Decimal(value)
        return (day, str(item["product"]), str(item["sku"]), numbers["quantity"], item.get("unitType"),
                numbers["pricePerUnit"], numbers["grossAmount"], numbers["discountAmount"], numbers["netAmount"],
                str(item["organizationName"]), item.get("repositoryName"), period, number)

    def _token(self) -> str:
        if "token" in self.clients:
            return self.clients["token"]
        return connection_fields(self, None, "a GitHub token with billing read access")[1]
