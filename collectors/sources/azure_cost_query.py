"""The ``azure_cost_query`` source: daily Azure cost from the Cost Management Query API (``Query_Usage``).

What the API does and which documented facts this module relies on:

- ``POST {endpoint}/{scope}/providers/Microsoft.CostManagement/query?api-version=2025-03-01`` with a JSON body
  ``{type, timeframe, timePeriod, dataset}`` returns ``properties.columns`` (``[{name, type}]``), ``properties.rows``
  (arrays in column order) and ``properties.nextLink`` (Azure/azure-rest-api-specs, Microsoft.CostManagement
  stable/2025-03-01, examples ``SubscriptionQuery.json`` and ``BillingAccountQuery.json``; the latter shows a
  ``nextLink`` URL with a ``$skiptoken``, to which the same body is POSTed). ``204 No Content`` means no data.
- Rows are read by column NAME, never by position: the cost column is ``Cost`` (or ``PreTaxCost`` in the legacy
  examples), ``CostUSD``, ``UsageDate`` (a Number ``yyyymmdd`` with Daily granularity), ``Currency``, and one column
  per grouping (a ``TagKey`` grouping answers with ``TagKey`` and ``TagValue`` columns).
- We call REST ourselves instead of azure-mgmt-costmanagement because the SDK deserialises the body with the
  standard JSON decoder, so row values become Python floats; here the body is parsed with
  ``json.loads(text, parse_float=Decimal)`` so every digit Azure sends (e.g. ``218.68795741935486``) reaches
  PostgreSQL ``numeric`` unchanged.
- ``type``: ``ActualCost`` (what is invoiced: reservation purchases on the purchase day, covered usage at 0) is our
  *billed* cost, ``AmortizedCost`` (purchases spread over the usage they cover) our *effective* cost. Both run.
- ``timeframe: Custom`` with ``timePeriod.to`` **inclusive** (Microsoft's Cost Management Query request schema,
  microsoft/GitHub-Copilot-for-Azure ``cost-query/request-body-schema.md``, asks for January as
  ``2024-01-01T00:00:00Z`` .. ``2024-01-31T23:59:59Z``): we send ``to`` = piece end - 1 s.
- ``granularity: Daily`` covers at most one month per request (longer ranges are silently truncated, same source,
  ``cost-query/guardrails.md``): the window is queried in pieces of at most 28 days (under a month in any month).
- ``dataset.grouping``: "Query can have up to 2 group by clauses" (QueryDataset.grouping in the 2025-03-01 spec);
  ``aggregation`` likewise up to 2 (``Cost`` and ``CostUSD``). ServiceName x ResourceGroupName x MeterCategory is
  three, so it takes two passes: ``cost`` (ServiceName x ResourceGroupName, the pass the FOCUS model reads) and
  ``meter`` (ServiceName x MeterCategory, the meter breakdown of each service); plus one pass ``tag:<key>`` per
  configured tag key. Each pass re-slices the same daily spend: only the ``cost`` pass may be used for totals.
- Throttling: 429 with ``Retry-After`` / ``x-ms-ratelimit-microsoft.costmanagement-*-retry-after``; errors come as
  ``{"error": {"code", "message"}}`` (see :mod:`collectors.core.http_retry`).

Restatements: usage "normally takes 8-24 hours to appear" and "costs are estimated until an invoice is generated"
(learn.microsoft.com, "Understand Cost Management data"), so each run re-pulls and replaces the previous
:attr:`CostQueryCollector.default_lookback_days` (3) days unless the source sets ``lookback_days``.

Credentials: an Airflow connection of type ``azure`` (login = client id, password = client secret, extra ``tenantId``;
without them ``DefaultAzureCredential``: managed / workload identity), resolved through the Microsoft Azure provider
only when no ``clients["credential"]`` (anything with ``get_token``) is injected. ``clients["session"]`` (a
``requests.Session``) and ``clients["sleep"]`` (the retry wait, for tests) may be injected too.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests

from collectors.core.base import Collector, CollectorError, Column, Dataset, Reject, Window
from collectors.core.http_retry import PageGuard, RetryingHttp, RetryPolicy, url_path

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://management.azure.com"
DEFAULT_API_VERSION = "2025-03-01"
TOKEN_SCOPE = "https://management.azure.com/.default"
COST_TYPES = ("ActualCost", "AmortizedCost")  # -> billed, effective
MAX_DAYS_PER_QUERY = 28
OPTIONS = ("scope", "tag_keys", "api_version", "endpoint", "max_retries", "retry_base_seconds")

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_SCOPES = (
    (re.compile(rf"^subscriptions/(?P<subscription>{_GUID})$", re.IGNORECASE), "subscriptions/{subscription}"),
    (re.compile(rf"^subscriptions/(?P<subscription>{_GUID})/resourceGroups/(?P<rg>[-\w.()]{{1,90}})$", re.IGNORECASE),
     "subscriptions/{subscription}/resourceGroups/{rg}"),
    (re.compile(r"^providers/Microsoft\.Billing/billingAccounts/(?P<account>[\w.:-]+)$", re.IGNORECASE),
     "providers/Microsoft.Billing/billingAccounts/{account}"),
)


@dataclass(frozen=True)
class QueryPass:
    """One set of groupings (at most 2, the API's limit), run for each cost type; ``name`` is the raw ``grouping``."""

    name: str
    grouping: tuple[tuple[str, str], ...]  # (type, name): type is "Dimension" or "TagKey"


COST_PASS = QueryPass("cost", (("Dimension", "ServiceName"), ("Dimension", "ResourceGroupName")))
METER_PASS = QueryPass("meter", (("Dimension", "ServiceName"), ("Dimension", "MeterCategory")))

# Response column -> raw column. ResourceGroup is the legacy name of ResourceGroupName (official examples use it).
DIMENSION_COLUMNS = {"ServiceName": "service_name", "ResourceGroupName": "resource_group_name",
                     "ResourceGroup": "resource_group_name", "MeterCategory": "meter_category",
                     "TagKey": "tag_key", "TagValue": "tag_value"}
COST_COLUMNS = ("Cost", "PreTaxCost")
COST_USD_COLUMNS = ("CostUSD", "PreTaxCostUSD")

COST_DAILY = Dataset(
    name="cost_daily",
    table="azure_cost_query_cost_daily",
    time_column="usage_date",
    columns=(
        Column("usage_date", "date", nullable=False),
        Column("cost_type", "text", nullable=False),
        Column("grouping", "text", nullable=False),
        Column("scope", "text", nullable=False),
        Column("service_name", "text"),
        Column("resource_group_name", "text"),
        Column("meter_category", "text"),
        Column("tag_key", "text"),
        Column("tag_value", "text"),
        Column("cost", "numeric", nullable=False),
        Column("cost_usd", "numeric"),
        Column("currency", "text", nullable=False),
        Column("cost_column", "text", nullable=False),
        Column("record_ref", "text", nullable=False),
        Column("payload", "jsonb", nullable=False),
    ),
)


def parse_scope(source_id: str, value: Any) -> str:
    """The scope in canonical spelling (no leading slash), or a ValueError naming ``options.scope``."""
    text = value.strip().strip("/") if isinstance(value, str) else ""
    for pattern, canonical in _SCOPES:
        match = pattern.match(text)
        if match:
            return canonical.format(**match.groupdict())
    raise ValueError(
        f"source {source_id}: options.scope must be 'subscriptions/<subscription GUID>', "
        f"'subscriptions/<subscription GUID>/resourceGroups/<resource group>' or "
        f"'providers/Microsoft.Billing/billingAccounts/<billing account id>', got {value!r}")


def query_pieces(window: Window) -> Iterator[Window]:
    """Whole UTC days: those whose midnight lies in the window (a usage day is placed at its midnight, which is what
    the loader checks), cut into pieces of at most :data:`MAX_DAYS_PER_QUERY` days."""
    start, end = _next_midnight(window.start), _next_midnight(window.end)
    while start < end:
        yield Window(start, min(end, start + timedelta(days=MAX_DAYS_PER_QUERY)))
        start += timedelta(days=MAX_DAYS_PER_QUERY)


def _next_midnight(moment: datetime) -> datetime:
    """``moment`` if it is a UTC midnight, else the next one."""
    day = moment.astimezone(UTC).date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return midnight if midnight == moment else midnight + timedelta(days=1)


def json_text(value: Any) -> str:
    """JSON text in which Decimals keep every digit (for the ``payload`` column)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(json_text(v) for v in value) + "]"
    return json.dumps(value)


class CostQueryCollector(Collector):
    type = "azure_cost_query"
    default_lookback_days = 3  # late usage (8-24 h, longer for pay-as-you-go) and re-estimated recent days

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        unknown = sorted(set(self.options) - set(OPTIONS))
        if unknown:
            raise ValueError(f"source {self.source_id}: unknown options {unknown}; expected some of {list(OPTIONS)}")
        self.scope = parse_scope(self.source_id, self.options.get("scope"))
        tag_keys = self.options.get("tag_keys") or []
        if not isinstance(tag_keys, list) or not all(isinstance(k, str) and k.strip() for k in tag_keys) \
                or len(set(tag_keys)) != len(tag_keys):
            raise ValueError(f"source {self.source_id}: options.tag_keys must be a list of distinct non-empty tag "
                             f"keys, got {tag_keys!r}")
        self.passes = (COST_PASS, METER_PASS,
                       *(QueryPass(f"tag:{key}", (("TagKey", key),)) for key in tag_keys))
        self.api_version = str(self.options.get("api_version") or DEFAULT_API_VERSION)
        self.endpoint = str(self.options.get("endpoint") or DEFAULT_ENDPOINT).rstrip("/")
        if urlsplit(self.endpoint).scheme not in ("https", "http") or not urlsplit(self.endpoint).netloc:
            raise ValueError(f"source {self.source_id}: options.endpoint must be an http(s) URL, got {self.endpoint!r}")
        try:
            self.policy = RetryPolicy(max_retries=int(self.options.get("max_retries", 6)),
                                      base_seconds=float(self.options.get("retry_base_seconds", 2.0)))
        except ValueError as exc:
            raise ValueError(f"source {self.source_id}: options.max_retries must be an integer >= 0 and "
                             f"options.retry_base_seconds a number >= 0 ({exc})") from None
        self._credential: Any = None

    def datasets(self) -> tuple[Dataset, ...]:
        return (COST_DAILY,)

    def align_window(self, window: Window) -> Window:
        """Whole UTC days: the API answers per day, so a partial day could not be replaced."""
        first = window.start.astimezone(UTC).date()
        last = (window.end - timedelta(microseconds=1)).astimezone(UTC).date()
        return Window.from_dates(first, last + timedelta(days=1))

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        session = self.clients.get("session") or requests.Session()
        http = RetryingHttp(session, self.source_id, self.policy, sleep=self.clients.get("sleep", time.sleep))
        try:
            for piece in query_pieces(window):
                for cost_type in COST_TYPES:
                    for query_pass in self.passes:
                        yield from self._query(http, cost_type, query_pass, piece)
        finally:
            if "session" not in self.clients:
                session.close()

    # -- one query, all its pages ----------------------------------------------------------------------------------
    def request_body(self, cost_type: str, query_pass: QueryPass, piece: Window) -> dict:
        return {
            "type": cost_type,
            "timeframe": "Custom",
            "timePeriod": {"from": _iso(piece.start), "to": _iso(piece.end - timedelta(seconds=1))},
            "dataset": {
                "granularity": "Daily",
                "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"},
                                "totalCostUSD": {"name": "CostUSD", "function": "Sum"}},
                "grouping": [{"type": kind, "name": name} for kind, name in query_pass.grouping],
            },
        }

    def _query(self, http: RetryingHttp, cost_type: str, query_pass: QueryPass,
               piece: Window) -> Iterator[tuple | Reject]:
        body = self.request_body(cost_type, query_pass, piece)
        url: str | None = (f"{self.endpoint}/{self.scope}/providers/Microsoft.CostManagement/query"
                           f"?api-version={self.api_version}")
        what = (f"Cost Management query (scope {self.scope}, {cost_type}, grouping {query_pass.name}, "
                f"{piece.start.date()}..{(piece.end - timedelta(days=1)).date()})")
        page = 0
        guard = PageGuard(self.source_id, what)
        while url:
            page += 1
            response = http.request("POST", url, operation=f"{what} page {page}", json=body,
                                    headers=self._auth_header)
            if response.status_code == 204:
                return
            try:
                document = json.loads(response.text, parse_float=Decimal)
                properties = document["properties"]
                columns = [c["name"] for c in properties["columns"]]
                rows = properties.get("rows") or []
            except (ValueError, KeyError, TypeError) as exc:
                raise CollectorError(f"source {self.source_id}: {what} page {page}: not a Query result "
                                     f"(properties.columns / rows): {exc!r}") from None
            yield from self._rows(columns, rows, cost_type, query_pass, piece, f"{cost_type} {query_pass.name} "
                                  f"{piece.start.date()} page {page}", what)
            log.info("source %s: %s page %d: %d rows", self.source_id, what, page, len(rows))
            url = properties.get("nextLink") or None
            if url:
                guard.next(url, page)
            origin, expected = urlsplit(url or "")[:2], urlsplit(self.endpoint)[:2]
            if url and origin != expected:
                raise CollectorError(f"source {self.source_id}: {what} page {page}: nextLink points to "
                                     f"{'://'.join(origin)}, not {'://'.join(expected)}; refusing to send the bearer "
                                     f"token there ({url_path(url)})")

    def _rows(self, columns: list[str], rows: list, cost_type: str, query_pass: QueryPass, piece: Window,
              page_ref: str, what: str) -> Iterator[tuple | Reject]:
        cost_column = next((c for c in COST_COLUMNS if c in columns), None)
        missing = [name for name, present in (("Cost or PreTaxCost", cost_column is not None),
                                              ("UsageDate", "UsageDate" in columns),
                                              ("Currency", "Currency" in columns)) if not present]
        if missing:
            raise CollectorError(f"source {self.source_id}: {what} ({page_ref}): the response has no column "
                                 f"{' / '.join(missing)}; its columns are {columns}")
        usd_column = next((c for c in COST_USD_COLUMNS if c in columns), None)
        dimensions = [(name, DIMENSION_COLUMNS[name]) for name in columns if name in DIMENSION_COLUMNS]
        days = (piece.start.date(), (piece.end - timedelta(days=1)).date())
        for index, row in enumerate(rows):
            ref = f"{page_ref} row {index}"
            if not isinstance(row, list) or len(row) != len(columns):
                yield Reject(COST_DAILY.name, ref, "(row)", f"expected {len(columns)} values {columns}",
                             json_text(row))
                continue
            values = dict(zip(columns, row, strict=True))
            payload = json_text(values)
            problem = _problem(values, cost_column, usd_column, days)
            if problem:
                yield Reject(COST_DAILY.name, ref, problem[0], problem[1], payload)
                continue
            yield COST_DAILY.row(
                usage_date=_usage_date(values["UsageDate"]), cost_type=cost_type, grouping=query_pass.name,
                scope=self.scope, **{raw: _text(values[name]) for name, raw in dimensions},
                cost=_number(values[cost_column]), cost_usd=_number(values[usd_column]) if usd_column else None,
                currency=values["Currency"], cost_column=cost_column, record_ref=ref, payload=payload)

    # -- credentials -----------------------------------------------------------------------------------------------
    def _auth_header(self) -> dict[str, str]:
        """Asked before every attempt; azure-identity credentials cache the token until it nears expiry."""
        from azure.core.exceptions import AzureError

        credential = self._get_credential()
        try:
            token = credential.get_token(TOKEN_SCOPE).token
        except AzureError as exc:
            raise CollectorError(f"source {self.source_id}: could not get an Azure token for {TOKEN_SCOPE} "
                                 f"(connection {self.connection_id!r}): {exc.message}") from None
        return {"Authorization": f"Bearer {token}"}

    def _get_credential(self) -> Any:
        if self._credential is None:
            self._credential = self.clients.get("credential") or self._credential_from_connection()
        return self._credential

    def _credential_from_connection(self) -> Any:
        """A ``TokenCredential`` from the Airflow connection, the Microsoft Azure provider's way: ``login`` /
        ``password`` / extra ``tenantId`` -> ``ClientSecretCredential``; otherwise the provider's
        ``get_sync_default_azure_credential`` (managed identity, workload identity, environment), with extras
        ``managed_identity_client_id`` / ``workload_identity_tenant_id``. Extras ``authority`` and
        ``disable_instance_discovery`` (as in the provider's msgraph connection) serve private clouds."""
        if not self.connection_id:
            raise CollectorError(f"source {self.source_id}: no credentials: set connection_id (an Airflow connection "
                                 f"of type 'azure') or inject clients['credential']")
        from airflow.providers.microsoft.azure.hooks.base_azure import AzureBaseHook
        from airflow.providers.microsoft.azure.utils import get_field, get_sync_default_azure_credential
        from azure.identity import ClientSecretCredential

        conn = AzureBaseHook.get_connection(self.connection_id)
        extras = conn.extra_dejson

        def extra(name: str) -> Any:
            return get_field(conn_id=self.connection_id, conn_type="azure", extras=extras, field_name=name)

        tenant = extra("tenantId")
        if conn.login and conn.password:
            if not tenant:
                raise CollectorError(f"source {self.source_id}: connection {self.connection_id!r} has a client id "
                                     f"and secret but no extra 'tenantId'")
            optional = {k: v for k, v in (("authority", extra("authority")),
                                          ("disable_instance_discovery", extra("disable_instance_discovery")))
                        if v is not None}
            return ClientSecretCredential(tenant_id=tenant, client_id=conn.login, client_secret=conn.password,
                                          **optional)
        return get_sync_default_azure_credential(
            managed_identity_client_id=extra("managed_identity_client_id"),
            workload_identity_tenant_id=extra("workload_identity_tenant_id"))


def _problem(values: dict[str, Any], cost_column: str, usd_column: str | None,
             days: tuple[date, date]) -> tuple[str, str] | None:
    """(field, reason) of the first value that cannot be loaded, or None."""
    if _number(values[cost_column]) is None:
        return cost_column, f"not a number: {values[cost_column]!r}"
    if usd_column and values[usd_column] is not None and _number(values[usd_column]) is None:
        return usd_column, f"not a number: {values[usd_column]!r}"
    usage_date = _usage_date(values["UsageDate"])
    if usage_date is None:
        return "UsageDate", f"not a yyyymmdd date: {values['UsageDate']!r}"
    if not days[0] <= usage_date <= days[1]:
        return "UsageDate", f"{usage_date} is outside the requested timePeriod {days[0]}..{days[1]}"
    if not isinstance(values["Currency"], str) or not values["Currency"]:
        return "Currency", f"missing or not text: {values['Currency']!r}"
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: Any) -> Decimal | None:
    """JSON numbers arrive as Decimal (fractions) or int (whole numbers, e.g. ``0``); bool is not a number."""
    if isinstance(value, Decimal) and value.is_finite():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return None


def _usage_date(value: Any) -> date | None:
    """``UsageDate`` is a Number yyyymmdd (e.g. 20180331)."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not re.fullmatch(r"\d{8}", text):
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None
