"""The ``datadog_cost`` source: what Datadog charges an organisation per month and product, from the Usage
Metering API v2 into ``raw.datadog_cost_charges``: one row per month x organisation x ``charges[]`` entry
(product, charge type, cost in USD); and the volumes behind it, from the usage summary (API v1), into
``raw.datadog_cost_usage_summary``.

Cost. For each month of the window the collector asks ``GET /api/v2/usage/historical_cost`` (final figures of
closed months) and, when that has no data for the month yet, ``GET /api/v2/usage/estimated_cost`` (month to date,
up to 72 hours late; rows are labelled ``cost_status = 'estimated'`` and replaced on every run until the month
closes). ``charges[]`` holds ``committed`` and ``on_demand`` entries per product and their ``total``: staging keeps
the parts and leaves the total out (summing all three would count the spend twice); a dbt test checks that the parts
add up to the total. Cost is what Datadog reports, never host counts x a list price.

Volumes (option ``usage_summary``, default on). For each month of the window, ``GET /api/v1/usage/summary`` with
``start_month`` = ``end_month`` = the month (``YYYY-MM``, as the cost dataset asks one month at a time) and
``include_org_details=true``: ``usage[]`` per month, each with ``orgs[]`` (``public_id``, ``name``, ``id``,
``region``, ``account_public_id``, ``account_name`` and one number per usage field: ``infra_host_top99p``,
``apm_host_top99p``, ``custom_ts_avg``, ``indexed_events_count_sum``, ``ingested_events_bytes_sum``, ...). Stored
long: one row per month x organisation x usage field (``usage_field``, ``usage_value`` numeric, Decimal-exact), so a
field Datadog adds needs no schema change. A ``usage[]`` entry dated in another month than the one asked for is
skipped (whether ``end_month`` is inclusive does not matter); a null field is not usage and is skipped; any other
value that is not a JSON number (text, boolean, object) is a :class:`Reject` naming the month, the organisation and
the field. Only the organisations' figures are stored: the month's all-organisation figures of ``usage[]`` and the
response's ``*_sum`` totals are not (a percentile of the account is not a sum of the organisations' percentiles).

Options: ``site`` (default ``datadoghq.com``; ``datadoghq.eu``, ``us3.datadoghq.com``, ...) or ``api_url``, ``view``
of the cost (``summary`` (default: the parent organisation's total) or ``sub-org``), ``usage_summary`` (``true`` by
default; ``false`` loads the cost only). Credentials: the source's ``connection_id`` names an Airflow connection
whose login is the API key and password the application key (headers ``DD-API-KEY`` / ``DD-APPLICATION-KEY``,
needing ``usage_read`` + ``billing_read``); never logged. Rate limits (both datasets, through
``core.http_retry.RetryingHttp``): a 429 with Datadog's ``X-RateLimit-Remaining: 0`` waits ``X-RateLimit-Reset``
seconds (``X-RateLimit-Limit`` / ``-Period`` are the budget), then retries.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
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
USAGE_SUMMARY = Dataset(
    name="usage_summary",
    table="datadog_cost_usage_summary",
    time_column="usage_month",
    columns=(
        Column("usage_month", "date", nullable=False),
        Column("org_public_id", "text", nullable=False),
        Column("org_name", "text"),
        Column("org_id", "text"),
        Column("account_public_id", "text"),
        Column("account_name", "text"),
        Column("region", "text"),
        Column("usage_field", "text", nullable=False),
        Column("usage_value", "numeric", nullable=False),
    ),
)
VIEWS = ("summary", "sub-org")
# the text fields of a usage summary organisation (UsageSummaryDateOrg); every other field is a volume
ORG_FIELDS = ("public_id", "name", "id", "account_public_id", "account_name", "region")
_MONTH = re.compile(r"^(\d{4})-(\d{2})")


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
        usage_summary = self.options.get("usage_summary", True)
        if not isinstance(usage_summary, bool):
            raise ValueError(f"source {self.source_id}: options.usage_summary: expected true or false, got "
                             f"{usage_summary!r}")
        self.api_url, self.view, self.usage_summary = api_url, view, usage_summary

    def datasets(self) -> tuple[Dataset, ...]:
        return (COST_CHARGES, USAGE_SUMMARY) if self.usage_summary else (COST_CHARGES,)

    def align_window(self, window: Window) -> Window:
        return window.months()

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        import requests

        http = RetryingHttp(self.clients.get("session") or requests.Session(), self.source_id,
                            sleep=self.clients.get("sleep", time.sleep))
        api_key, app_key = self._keys()
        headers = {"Accept": "application/json", "DD-API-KEY": api_key, "DD-APPLICATION-KEY": app_key}
        if dataset.name == USAGE_SUMMARY.name:
            yield from self._usage_summary(http, headers, window)
            return
        for period in billing_periods(window):
            month = date.fromisoformat(f"{period}-01")
            for status, endpoint in (("historical", "historical_cost"), ("estimated", "estimated_cost")):
                body = self._get(http, headers, f"/api/v2/usage/{endpoint}", f"{endpoint} {period}",
                                 {"view": self.view, "start_month": f"{period}-01T00:00:00Z",
                                  "end_month": f"{period}-01T00:00:00Z"})
                data = body.get("data") if isinstance(body, dict) else None
                if not isinstance(data, list):
                    raise CollectorError(f"source {self.source_id}: {endpoint} {period}: expected an object with a "
                                         f"'data' list, got {str(body)[:200]!r}")
                if data:
                    yield from self._rows(data, month, status, endpoint)
                    break

    def _get(self, http: RetryingHttp, headers: dict[str, str], path: str, operation: str,
             params: dict[str, str]) -> Any:
        """One GET, retried by ``http``; the body parsed with every JSON number with a fraction as Decimal."""
        response = http.request("GET", f"{self.api_url}{path}", params=params, headers=headers, operation=operation)
        try:
            return json.loads(response.text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise CollectorError(f"source {self.source_id}: {operation}: not JSON ({exc.msg})") from None

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
                       Decimal(total) if _is_number(total) else None)

    def _usage_summary(self, http: RetryingHttp, headers: dict[str, str],
                       window: Window) -> Iterator[tuple | Reject]:
        for period in billing_periods(window):
            operation = f"usage summary {period}"
            body = self._get(http, headers, "/api/v1/usage/summary", operation,
                             {"start_month": period, "end_month": period, "include_org_details": "true"})
            usage = body.get("usage") if isinstance(body, dict) else None
            if not isinstance(usage, list):
                raise CollectorError(f"source {self.source_id}: {operation}: expected an object with a 'usage' "
                                     f"list, got {str(body)[:200]!r}")
            yield from self._usage_rows(usage, date.fromisoformat(f"{period}-01"))

    def _usage_rows(self, usage: list, month: date) -> Iterator[tuple | Reject]:
        at = datetime(month.year, month.month, 1, tzinfo=UTC)
        for i, entry in enumerate(usage):
            ref = f"usage summary {month:%Y-%m} usage[{i}]"
            if not isinstance(entry, dict):
                yield Reject(USAGE_SUMMARY.name, ref, "(record)", "expected a JSON object",
                             json.dumps(entry, default=str)[:2000], at)
                continue
            entry_month = _month_of(entry.get("date"))
            if entry_month is None:
                yield Reject(USAGE_SUMMARY.name, ref, "date", f"not a month: {entry.get('date')!r}",
                             json.dumps({"date": entry.get("date")}, default=str)[:2000], at)
                continue
            if entry_month != month:
                continue  # another month than the one asked for: loaded by the window that holds it
            orgs = entry.get("orgs")
            if not isinstance(orgs, list):
                yield Reject(USAGE_SUMMARY.name, ref, "orgs", "missing or not a list (include_org_details=true)",
                             json.dumps({"orgs": orgs}, default=str)[:2000], at)
                continue
            for j, org in enumerate(orgs):
                oref = f"{ref}.orgs[{j}]"
                public_id = org.get("public_id") if isinstance(org, dict) else None
                if not public_id or not isinstance(public_id, str):
                    yield Reject(USAGE_SUMMARY.name, oref, "public_id", "missing",
                                 json.dumps({k: org.get(k) for k in ORG_FIELDS} if isinstance(org, dict) else org,
                                            default=str)[:2000], at)
                    continue
                identity = (public_id, _text(org.get("name")), _text(org.get("id")),
                            _text(org.get("account_public_id")), _text(org.get("account_name")),
                            _text(org.get("region")))
                for field, value in org.items():
                    if field in ORG_FIELDS or value is None:
                        continue
                    if not _is_number(value):
                        yield Reject(USAGE_SUMMARY.name, f"{oref} (org {public_id})", field,
                                     f"not a number: {value!r}"[:500],
                                     json.dumps({"public_id": public_id, field: value}, default=str)[:2000], at)
                        continue
                    yield (month, *identity, str(field), Decimal(value))

    def _keys(self) -> tuple[str, str]:
        if "api_key" in self.clients:
            return self.clients["api_key"], self.clients["app_key"]
        return connection_fields(self, "API key", "application key")


def _is_number(value: Any) -> bool:
    """A JSON number as parsed with ``parse_float=Decimal`` (int or finite Decimal; never bool, float or text)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, Decimal) and value.is_finite())


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _month_of(value: Any) -> date | None:
    """The first of the month of an ISO date or timestamp (``2026-10-01T00:00:00.000Z``, ``2026-10``), else None."""
    match = _MONTH.match(value) if isinstance(value, str) else None
    if not match or not 1 <= int(match.group(2)) <= 12:
        return None
    return date(int(match.group(1)), int(match.group(2)), 1)


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
