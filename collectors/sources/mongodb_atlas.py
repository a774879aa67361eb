"""The ``mongodb_atlas`` source: what MongoDB Atlas bills an organisation, from its invoices (Atlas Admin API v2,
HTTP digest auth with a programmatic API key), into ``raw.mongodb_atlas_line_items``: one row per invoice line
item (usually a day of one SKU for one cluster: instance hours, storage, backup, data transfer, support), with its
quantity, unit price in dollars and total / discount in cents, project and cluster; and the organisation's cluster
inventory into ``raw.mongodb_atlas_clusters``: one row per cluster and day (the list-price fallback of
``int_mongodb_atlas_costs_conformed`` prices the cluster-days no invoice line covers).

What Atlas bills for a line is ``totalPriceCents - discountCents``; nothing here multiplies a list price by a
replication factor (the original agent did, about 3x too high): the invoice already prices a cluster as a whole.

Invoices: ``GET /api/atlas/v2/orgs/{orgId}/invoices`` (paged by ``pageNum`` / ``itemsPerPage``), then
``GET /api/atlas/v2/orgs/{orgId}/invoices/{invoiceId}`` for each invoice whose period overlaps the window (the
pending invoice of the current month among them), and keeps the line items that start in the window.

Clusters: the organisation's projects from ``GET /api/atlas/v2/orgs/{orgId}/groups`` (or the ``group_ids``
option), then ``GET /api/atlas/v2/groups/{groupId}/clusters`` per project (both paged like the invoices; the
clusters in the ``2024-08-05`` media type, where each ``replicationSpecs[]`` entry is one shard; an older answer's
``numShards`` is honoured too). Per cluster: type, provider and region of its highest-priority region, the
electable instance size, electable / read-only / analytics node counts (the electable count is the replication
factor: kept, never used as a price multiplier), shard count, state, ``paused``, creation date and resource tags.
The API only knows the current inventory, so a snapshot row is written for every day of the window from the
cluster's creation day up to the day of the answer (its HTTP ``Date`` header: the vendor's clock, not ours) - never
for a day still to come. A source that also reads invoices replaces whole months, so each run dates the current
inventory back over the month; for a day-by-day history of resizes, configure a second source of the organisation
with ``datasets: [clusters]`` (it replaces just the days of its window). A malformed cluster is rejected naming the
project, the cluster and the field.

Options:
- ``org_id`` (required): the Atlas organisation id.
- ``api_url``: default ``https://cloud.mongodb.com``.
- ``datasets``: which of ``line_items`` and ``clusters`` to load (default both). ``[clusters]`` for an API key
  without invoice access (Organization Billing Viewer), or for a daily inventory history next to an invoice source.
- ``group_ids``: the projects whose clusters are read (default: every project of the organisation; set it for a
  key that may not list the organisation's projects).
Credentials: the source's ``connection_id`` names an Airflow connection (conn type ``http``): login = the API key's
public key, password = its private key (digest auth: the private key never travels). Never logged, never in raw.
The clusters need the Project Read Only role on each project (Organization Read Only covers them all).

A run with line items replaces whole months (an invoice covers a month and is restated until it closes;
``default_close_days`` re-pulls the previous month for the first 5 days of a new one); with ``datasets: [clusters]``
only, the window's days. Rate limits: ``Retry-After`` (core.http_retry).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

from collectors.core.base import Collector, CollectorError, Column, Dataset, Reject, Window
from collectors.core.credentials import connection_fields
from collectors.core.http_retry import PageGuard, RetryingHttp, url_path

ACCEPT = "application/vnd.atlas.2023-01-01+json"
CLUSTERS_ACCEPT = "application/vnd.atlas.2024-08-05+json"  # one replicationSpecs[] entry per shard
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

CLUSTERS = Dataset(
    name="clusters",
    table="mongodb_atlas_clusters",
    time_column="snapshot_date",
    columns=(
        Column("snapshot_date", "date", nullable=False),
        Column("org_id", "text", nullable=False),
        Column("group_id", "text", nullable=False),
        Column("group_name", "text"),
        Column("cluster_id", "text"),
        Column("cluster_name", "text", nullable=False),
        Column("cluster_type", "text"),
        Column("provider", "text"),
        Column("region", "text"),
        Column("instance_size", "text"),
        Column("electable_nodes", "integer", nullable=False),
        Column("read_only_nodes", "integer", nullable=False),
        Column("analytics_nodes", "integer", nullable=False),
        Column("shard_count", "integer", nullable=False),
        Column("state", "text"),
        Column("paused", "boolean", nullable=False),
        Column("created", "timestamptz", nullable=False),
        Column("tags", "jsonb"),
        Column("as_of", "timestamptz", nullable=False),
    ),
)
DATASETS = {d.name: d for d in (LINE_ITEMS, CLUSTERS)}


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
        names = self.options.get("datasets", list(DATASETS))
        if (not isinstance(names, list) or not names or len(set(names)) != len(names)
                or not all(isinstance(n, str) and n in DATASETS for n in names)):
            raise ValueError(f"source {self.source_id}: options.datasets: expected a non-empty list of "
                             f"{sorted(DATASETS)} without repeats, got {names!r}")
        self._datasets = tuple(d for name, d in DATASETS.items() if name in names)
        groups = self.options.get("group_ids")
        if groups is not None and (not isinstance(groups, list) or not groups or not all(
                isinstance(g, str) and g.strip() and "/" not in g for g in groups)):
            raise ValueError(f"source {self.source_id}: options.group_ids: expected a non-empty list of Atlas "
                             f"project ids, got {groups!r}")
        self.group_ids = [g.strip() for g in groups] if groups else None

    def datasets(self) -> tuple[Dataset, ...]:
        return self._datasets

    def align_window(self, window: Window) -> Window:
        return window.months() if LINE_ITEMS in self._datasets else window

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        import requests
        from requests.auth import HTTPDigestAuth

        http = RetryingHttp(self.clients.get("session") or requests.Session(), self.source_id)
        auth = HTTPDigestAuth(*self._keys())

        def get(url: str, operation: str, accept: str = ACCEPT, **params: Any) -> tuple[Any, requests.Response]:
            response = http.request("GET", url, operation=operation, params=params or None,
                                    headers={"Accept": accept}, auth=auth)
            try:
                return json.loads(response.text, parse_float=Decimal), response
            except json.JSONDecodeError as exc:
                raise CollectorError(f"source {self.source_id}: {operation}: not JSON ({exc.msg} at character "
                                     f"{exc.pos})") from None

        if dataset is CLUSTERS:
            yield from self._clusters(get, window)
        else:
            yield from self._line_items(get, window)

    def _pages(self, get: Callable[..., tuple[Any, Any]], url: str, what: str,
               accept: str = ACCEPT) -> Iterator[tuple[list, Any]]:
        """Each page of a paged Atlas listing (``pageNum`` / ``itemsPerPage``, ``results`` + ``totalCount``):
        (its results, its HTTP response)."""
        guard = PageGuard(self.source_id, what)
        page, received = 1, 0
        while True:
            body, response = get(url, f"{what} page {page}", accept, pageNum=page, itemsPerPage=PAGE_SIZE)
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                raise CollectorError(f"source {self.source_id}: {what} page {page}: expected an object with "
                                     f"a 'results' list, got {str(body)[:200]!r}")
            yield results, response
            received += len(results)
            total = body.get("totalCount")
            if not results or (isinstance(total, int) and received >= total):
                return
            guard.next(str(page + 1), page)
            page += 1

    def _line_items(self, get: Callable[..., tuple[Any, Any]], window: Window) -> Iterator[tuple | Reject]:
        base = f"{self.api_url}/api/atlas/v2/orgs/{self.org_id}/invoices"
        invoices: dict[str, dict] = {}
        for results, _ in self._pages(get, base, "list invoices"):
            for invoice in results:
                if isinstance(invoice, dict) and invoice.get("id"):
                    invoices[str(invoice["id"])] = invoice
        for invoice_id, summary in sorted(invoices.items(), key=lambda kv: str(kv[1].get("startDate"))):
            try:
                start, end = _timestamp(summary.get("startDate")), _timestamp(summary.get("endDate"))
            except ValueError as exc:
                raise CollectorError(f"source {self.source_id}: invoice {invoice_id}: startDate / endDate: "
                                     f"{exc}") from None
            if not (start < window.end and end > window.start):
                continue
            invoice, _ = get(f"{base}/{invoice_id}", f"invoice {invoice_id}")
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

    # --- cluster inventory -----------------------------------------------------------------------------------------
    def _groups(self, get: Callable[..., tuple[Any, Any]]) -> Iterator[tuple[str, str | None]]:
        """(project id, name) of each project whose clusters are read."""
        if self.group_ids:
            yield from ((g, None) for g in self.group_ids)
            return
        url = f"{self.api_url}/api/atlas/v2/orgs/{self.org_id}/groups"
        for results, _ in self._pages(get, url, "list projects"):
            for group in results:
                if not isinstance(group, dict) or not isinstance(group.get("id"), str) or not group["id"]:
                    raise CollectorError(f"source {self.source_id}: list projects: a project without an 'id': "
                                         f"{str(group)[:200]!r}")
                yield group["id"], group.get("name") if isinstance(group.get("name"), str) else None

    def _clusters(self, get: Callable[..., tuple[Any, Any]], window: Window) -> Iterator[tuple | Reject]:
        for group_id, group_name in self._groups(get):
            url = f"{self.api_url}/api/atlas/v2/groups/{group_id}/clusters"
            position = 0
            for results, response in self._pages(get, url, f"list clusters of project {group_id}",
                                                  CLUSTERS_ACCEPT):
                as_of = self._answer_time(response, url)
                for cluster in results:
                    yield from self._cluster_days(group_id, group_name, cluster, position, as_of, window)
                    position += 1

    def _answer_time(self, response: Any, url: str) -> datetime:
        """The time of the answer, from its HTTP ``Date`` header (RFC 9110: an origin server with a clock sends it)."""
        value = response.headers.get("Date")
        try:
            stamp = parsedate_to_datetime(value) if value else None
        except (TypeError, ValueError):
            stamp = None
        if stamp is None or stamp.tzinfo is None:
            raise CollectorError(f"source {self.source_id}: GET {url_path(url)}: no valid HTTP Date header "
                                 f"({value!r}): the inventory cannot be dated (a snapshot is never written for a "
                                 f"day that has not begun)")
        return stamp.astimezone(UTC)

    def _cluster_days(self, group_id: str, group_name: str | None, cluster: Any, position: int, as_of: datetime,
                      window: Window) -> Iterator[tuple | Reject]:
        name = cluster.get("name") if isinstance(cluster, dict) else None
        ref = f"project {group_id} cluster {name if isinstance(name, str) and name else f'results[{position}]'}"
        raw = json.dumps(cluster, default=str)[:4000]

        def reject(field: str, reason: str) -> Reject:
            return Reject(CLUSTERS.name, ref, field, reason, raw)

        if not isinstance(cluster, dict):
            yield reject("(record)", "expected a JSON object")
            return
        if not isinstance(name, str) or not name:
            yield reject("name", "required value missing")
            return
        try:
            created = _timestamp(cluster.get("createDate"))
        except ValueError as exc:
            yield reject("createDate", str(exc))
            return
        paused = cluster.get("paused", False)
        if not isinstance(paused, bool):
            yield reject("paused", f"expected true or false, got {paused!r}")
            return
        specs = cluster.get("replicationSpecs")
        if not isinstance(specs, list) or not specs:
            yield reject("replicationSpecs", "expected a non-empty list of replication specs")
            return
        shards, shape = 0, None
        for i, spec in enumerate(specs):
            try:
                spec_shards, spec_shape = _replication_spec(spec, f"replicationSpecs[{i}]")
            except _Malformed as exc:
                yield reject(exc.field, exc.reason)
                return
            shards += spec_shards
            shape = shape or spec_shape  # the first shard's: asymmetric shards are described by their first
        provider, region, size, electable, read_only, analytics = shape
        tags = cluster.get("tags")
        tag_map = {t["key"]: t["value"] for t in tags if isinstance(t, dict) and isinstance(t.get("key"), str)
                   and isinstance(t.get("value"), str)} if isinstance(tags, list) else {}
        group = cluster.get("groupId") if isinstance(cluster.get("groupId"), str) and cluster["groupId"] else group_id
        first = max(window.start.date(), created.date())
        last = min((window.end - timedelta(microseconds=1)).date(), as_of.date())
        day: date = first
        while day <= last:
            yield (day, self.org_id, group, group_name, _text(cluster.get("id")), name,
                   _text(cluster.get("clusterType")), _text(provider), _text(region), size, electable, read_only,
                   analytics, shards, _text(cluster.get("stateName")), paused, created,
                   json.dumps(tag_map) if tag_map else None, as_of)
            day += timedelta(days=1)

    def _keys(self) -> tuple[str, str]:
        if "keys" in self.clients:
            return self.clients["keys"]
        login, password = connection_fields(self, "the API key's public key", "the API key's private key")
        return str(login), password


class _Malformed(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def _replication_spec(spec: Any, field: str) -> tuple[int, tuple]:
    """(shards, (provider, region, electable instance size, electable / read-only / analytics nodes)) of one
    ``replicationSpecs[]`` entry; :class:`_Malformed` names the field when it is malformed. Provider, region and
    instance size: the highest-priority region config's (a tenant cluster's backing provider); node counts: summed
    over the region configs."""
    if not isinstance(spec, dict):
        raise _Malformed(field, "expected a JSON object")
    shards = spec.get("numShards", 1)  # present in the pre-2024-08-05 answers only
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise _Malformed(f"{field}.numShards", f"expected a positive integer, got {shards!r}")
    configs = spec.get("regionConfigs")
    if not isinstance(configs, list) or not configs:
        raise _Malformed(f"{field}.regionConfigs", "expected a non-empty list of region configs")
    counts = {"electableSpecs": 0, "readOnlySpecs": 0, "analyticsSpecs": 0}
    best: tuple[int, int, dict] | None = None
    for j, config in enumerate(configs):
        where = f"{field}.regionConfigs[{j}]"
        if not isinstance(config, dict):
            raise _Malformed(where, "expected a JSON object")
        priority = config.get("priority", 0)
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise _Malformed(f"{where}.priority", f"expected an integer, got {priority!r}")
        for kind in counts:
            hardware = config.get(kind)
            if hardware is None:
                continue
            if not isinstance(hardware, dict):
                raise _Malformed(f"{where}.{kind}", "expected a JSON object")
            nodes = hardware.get("nodeCount", 0)
            if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 0:
                raise _Malformed(f"{where}.{kind}.nodeCount", f"expected a non-negative integer, got {nodes!r}")
            counts[kind] += nodes
        if best is None or priority > best[0]:
            best = (priority, j, config)
    _, j, config = best
    electable = config.get("electableSpecs")
    size = electable.get("instanceSize") if isinstance(electable, dict) else None
    if not isinstance(size, str) or not size:
        raise _Malformed(f"{field}.regionConfigs[{j}].electableSpecs.instanceSize",
                         f"required value missing or not text: {size!r}")
    provider = config.get("providerName")
    if provider == "TENANT":
        provider = config.get("backingProviderName") or provider
    return shards, (provider, config.get("regionName"), size, counts["electableSpecs"], counts["readOnlySpecs"],
                    counts["analyticsSpecs"])


def _text(value: Any) -> str | None:
    """An optional text field as sent; anything else (a number, an object) is not text: None."""
    return value if isinstance(value, str) and value else None


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 timestamp, got {value!r}")
    stamp = datetime.fromisoformat(value)
    if stamp.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return stamp.astimezone(UTC)
