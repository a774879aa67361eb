"""The ``mongodb_atlas`` source: what MongoDB Atlas bills an organisation, from its invoices (Atlas Admin API v2,
HTTP digest auth with a programmatic API key), into ``raw.mongodb_atlas_line_items``: one row per invoice line
item (usually a day of one SKU for one cluster: instance hours, storage, backup, data transfer, support), with its
quantity, unit price in dollars and total / discount in cents, project and cluster.

What Atlas bills for a line is ``totalPriceCents - discountCents``; nothing here multiplies a list price by a
replication factor (the original agent did, about 3x too high): the invoice already prices a cluster as a whole.

Reads ``GET /api/atlas/v2/orgs/{orgId}/invoices`` (paged by ``pageNum`` / ``itemsPerPage``), then
``GET /api/atlas/v2/orgs/{orgId}/invoices/{invoiceId}`` for each invoice whose period overlaps the window (the
pending invoice of the current month among them), and keeps the line items that start in the window.

Options:
- ``org_id`` (required): the Atlas organisation id.
- ``api_url``: default ``https://cloud.mongodb.com``.
Credentials: the source's ``connection_id`` names an Airflow connection (conn type ``http``): login = the API key's
public key, password = its private key (digest auth: the private key never travels). Never logged.

A run replaces whole months (an invoice covers a month and is restated until it closes; ``default_close_days``
re-pulls the previous month for the first 5 days of a new one). Rate limits: ``Retry-After`` (core.http_retry).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from collectors.core.base import Collector, CollectorError, Column, Dataset, Reject, Window
from collectors.core.credentials import connection_fields
from collectors.core.http_retry import PageGuard, RetryingHttp

ACCEPT = "application/vnd.atlas.2023-01-01+json"
PAGE_SIZE = 500

LINE_ITEMS = Dataset(
    name="line_items",
    table="mongodb_atlas_line_items",
    time_column="start_date",
    columns=(
        Column("start_date", "timestamptz", nullable=False),
        Column("end_date", "timestamptz", nullable=False),
        Column("org_id", "text", nullable=False),
        Column("invoice_id", "text", nullable=False),
        Column("invoice_status", "text"),
        Column("line_number", "integer", nullable=False),
        Column("group_id", "text"),
        Column("group_name", "text"),
        Column("cluster_name", "text"),
        Column("stitch_app_name", "text"),
        Column("sku", "text", nullable=False),
        Column("unit", "text"),
        Column("quantity", "numeric", nullable=False),
        Column("unit_price_dollars", "numeric"),
        Column("total_price_cents", "numeric", nullable=False),
        Column("discount_cents", "numeric"),
        Column("percent_discount", "numeric"),
        Column("tier_lower_bound", "numeric"),
        Column("tier_upper_bound", "numeric"),
        Column("note", "text"),
        Column("tags", "jsonb"),
        Column("created", "timestamptz"),
    ),
)
NUMBERS = {"quantity": True, "unitPriceDollars": False, "totalPriceCents": True, "discountCents": False,
           "percentDiscount": False, "tierLowerBound": False, "tierUpperBound": False}  # name -> required


class MongodbAtlasCollector(Collector):
    type = "mongodb_atlas"
    default_close_days = 5

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        org = self.options.get("org_id")
        if not isinstance(org, str) or not org.strip() or "/" in org:
            raise ValueError(f"source {self.source_id}: options.org_id: expected the Atlas organisation id "
                             f"(24 hex characters), got {org!r}")
        api_url = str(self.options.get("api_url", "https://cloud.mongodb.com")).rstrip("/")
        if not api_url.startswith(("http://", "https://")):
            raise ValueError(f"source {self.source_id}: options.api_url: expected an http(s) URL, got {api_url!r}")
        self.org_id, self.api_url = org.strip(), api_url

    def datasets(self) -> tuple[Dataset, ...]:
        return (LINE_ITEMS,)

    def align_window(self, window: Window) -> Window:
        return window.months()

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        import requests
        from requests.auth import HTTPDigestAuth

        http = RetryingHttp(self.clients.get("session") or requests.Session(), self.source_id)
        public, private = self._keys()
        auth = HTTPDigestAuth(public, private)
        base = f"{self.api_url}/api/atlas/v2/orgs/{self.org_id}/invoices"

        def get(url: str, operation: str, **params: Any) -> Any:
            response = http.request("GET", url, operation=operation, params=params or None,
                                    headers={"Accept": ACCEPT}, auth=auth)
            try:
                return json.loads(response.text, parse_float=Decimal)
            except json.JSONDecodeError as exc:
                raise CollectorError(f"source {self.source_id}: {operation}: not JSON ({exc.msg} at character "
                                     f"{exc.pos})") from None

        invoices: dict[str, dict] = {}
        guard = PageGuard(self.source_id, "list invoices")
        page, received = 1, 0
        while True:
            body = get(base, f"list invoices page {page}", pageNum=page, itemsPerPage=PAGE_SIZE)
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                raise CollectorError(f"source {self.source_id}: list invoices page {page}: expected an object with "
                                     f"a 'results' list, got {str(body)[:200]!r}")
            for invoice in results:
                if isinstance(invoice, dict) and invoice.get("id"):
                    invoices[str(invoice["id"])] = invoice
            received += len(results)
            total = body.get("totalCount")
            if not results or (isinstance(total, int) and received >= total):
                break
            guard.next(str(page + 1), page)
            page += 1
        for invoice_id, summary in sorted(invoices.items(), key=lambda kv: str(kv[1].get("startDate"))):
            try:
                start, end = _timestamp(summary.get("startDate")), _timestamp(summary.get("endDate"))
            except ValueError as exc:
                raise CollectorError(f"source {self.source_id}: invoice {invoice_id}: startDate / endDate: "
                                     f"{exc}") from None
            if not (start < window.end and end > window.start):
                continue
            invoice = get(f"{base}/{invoice_id}", f"invoice {invoice_id}")
            items = invoice.get("lineItems") if isinstance(invoice, dict) else None
            if not isinstance(items, list):
                raise CollectorError(f"source {self.source_id}: invoice {invoice_id}: expected an object with a "
                                     f"'lineItems' list, got {str(invoice)[:200]!r}")
            for number, item in enumerate(items, start=1):
                record = self._record(invoice, invoice_id, item, number)
                at = record.at if isinstance(record, Reject) else record[0]
                if at is None or window.start <= at < window.end:
                    yield record

    def _record(self, invoice: dict, invoice_id: str, item: Any, number: int) -> tuple | Reject:
        ref = f"invoice {invoice_id} lineItems[{number - 1}]"
        raw = json.dumps(item, default=str)[:2000]
        if not isinstance(item, dict):
            return Reject(LINE_ITEMS.name, ref, "(record)", "expected a JSON object", raw)
        times = {}
        for key in ("startDate", "endDate", "created"):
            try:
                times[key] = _timestamp(item.get(key)) if item.get(key) is not None or key != "created" else None
            except ValueError as exc:
                return Reject(LINE_ITEMS.name, ref, key, str(exc), raw)
        if not item.get("sku"):
            return Reject(LINE_ITEMS.name, ref, "sku", "required value missing", raw)
        numbers = {}
        for key, required in NUMBERS.items():
            value = item.get(key)
            if value is None:
                if required:
                    return Reject(LINE_ITEMS.name, ref, key, "required value missing", raw, times["startDate"])
                numbers[key] = None
                continue
            if isinstance(value, bool) or not isinstance(value, int | Decimal):
                return Reject(LINE_ITEMS.name, ref, key, f"not a number: {value!r}", raw, times["startDate"])
            numbers[key] = Decimal(value)
        tags = item.get("tags")
        return (times["startDate"], times["endDate"], self.org_id, invoice_id, invoice.get("statusName"), number,
                item.get("groupId"), item.get("groupName"), item.get("clusterName"), item.get("stitchAppName"),
                str(item["sku"]), item.get("unit"), numbers["quantity"], numbers["unitPriceDollars"],
                numbers["totalPriceCents"], numbers["discountCents"], numbers["percentDiscount"],
                numbers["tierLowerBound"], numbers["tierUpperBound"], item.get("note"),
                json.dumps(tags) if tags else None, times["created"])

    def _keys(self) -> tuple[str, str]:
        if "keys" in self.clients:
            return self.clients["keys"]
        login, password = connection_fields(self, "the API key's public key", "the API key's private key")
        return str(login), password


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 timestamp, got {value!r}")
    stamp = datetime.fromisoformat(value)
    if stamp.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return stamp.astimezone(UTC)
