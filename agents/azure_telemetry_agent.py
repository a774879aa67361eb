"""``AzureTelemetryAgent``: Azure daily cost per service and resource group of a subscription, pushed to OpenFinOps.

Runs the ``azure_cost_query`` collector of the DAGs (Cost Management Query API, scope ``subscriptions/<id>``) over
the last ``lookback_days`` days. Only the ``cost`` pass (ServiceName x ResourceGroupName) of cost type
``ActualCost`` (what is invoiced) becomes ``cost_records``: the meter pass re-slices the same spend and
AmortizedCost re-states it, so pushing them too would count it twice. A record: provider ``Azure``, the service,
``cost`` in the billing currency (exact), ``resource_id`` = the resource group, ``account_id`` = the subscription;
tags keep the USD amount when Azure sends one.

Credentials: ``client_id`` / ``client_secret`` / ``tenant_id`` (a service principal), else
``DefaultAzureCredential`` (environment, managed or workload identity, Azure CLI), or an injected ``credential``
(anything with ``get_token``). Never logged. ``endpoint_url``: another Cost Management root than
``https://management.azure.com`` (a sovereign cloud, a proxy, a test double).

    python -m agents.azure_telemetry_agent --openfinops-endpoint http://localhost:8081 --subscription-id ID --once
    python -m agents.azure_telemetry_agent --config config/telemetry.yaml --services virtual_machines,ml_workspace

The methods of the original guide (``docs``: OpenFinOps telemetry agents, "Azure Telemetry Agent") work as documented,
with or without an OpenFinOps endpoint (``AzureTelemetryAgent(subscription_id=..., client_id=..., client_secret=...,
tenant_id=...)``). They read Azure Resource Manager REST APIs with the same credential (token scope
``https://management.azure.com/.default``), retried on 408 / 429 / 5xx, every ``nextLink`` page followed:

- :meth:`collect_vm_metrics`: ``Virtual Machines - List`` (a resource group, or the subscription), each VM's
  ``instanceView`` (power state), ``Virtual Machine Sizes - List`` of its region (memory) and Azure Monitor
  ``Metrics - List`` over the last ``metrics_minutes`` (default 60) at PT5M: ``Percentage CPU``, ``Available Memory
  Bytes``, ``Disk Read/Write Operations/Sec``, ``Network In/Out Total``.
- :meth:`collect_ml_workspace_metrics`: the Azure Machine Learning workspaces of the subscription, their jobs (by
  status), online endpoints, the ``Active Nodes`` metric month to date (-> node hours) and the month-to-date
  ActualCost of the workspace and its sub-resources (Cost Management Query grouped by ResourceId).
- :meth:`get_cost_management_data`: the Cost Management Query collector above over a date range (exact Decimals).

``cost_per_hour`` is an ESTIMATE from a small list-price table (:data:`LIST_PRICES`); what is billed comes from Cost
Management. Each ``collect_*`` call pushes what it read as ``metrics`` records when the agent has an OpenFinOps
endpoint (else it only returns them). The cycle (``--once``, ``run_continuous``, ``start_collection``) collects the
``services`` given beside the costs, the original ``telemetry.yaml``'s ``azure.services`` (:data:`SERVICES`:
``virtual_machines`` -> :meth:`collect_vm_metrics` of the subscription, ``ml_workspace`` ->
:meth:`collect_ml_workspace_metrics` of every workspace), each as one ``metrics`` batch; one service failing (e.g. a
missing Reader / Monitoring Reader role) is logged and the costs and the other service still go out. Default: none
(costs only, as before; those services need ARM read permissions the cost query does not).

A value Azure Monitor has no sample for in the window, and a price not in the table, is
:data:`~agents.collector_agent.UNAVAILABLE` (prints ``n/a`` under any format spec, refuses arithmetic, is never
pushed; the same value the AWS and GCP agents give): missing is not zero.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from agents import cli
from agents.collector_agent import (
    UNAVAILABLE,
    CollectorAgent,
    _Unavailable,
    by_currency,
    checked_services,
    metric,
    tags,
)
from collectors.core.base import Collector, CollectorError, Dataset, Reject, Window
from collectors.core.http_retry import PageGuard, RetryingHttp, RetryPolicy
from collectors.sources.azure_cost_query import COST_DAILY, COST_PASS, DEFAULT_ENDPOINT, CostQueryCollector

log = logging.getLogger("agents")

SERVICES = ("virtual_machines", "ml_workspace")  # the original telemetry.yaml's azure.services
COMPUTE_API = "2024-07-01"
MONITOR_API = "2023-10-01"
ML_API = "2024-10-01"
COST_API = "2025-03-01"
TOKEN_SCOPE = "https://management.azure.com/.default"
VM_METRICS = ("Percentage CPU", "Available Memory Bytes", "Disk Read Operations/Sec", "Disk Write Operations/Sec",
              "Network In Total", "Network Out Total")
ACTIVE_JOB_STATUSES = frozenset({"NotStarted", "Starting", "Provisioning", "Preparing", "Queued", "Running",
                                 "Finalizing", "CancelRequested", "NotResponding", "Paused"})
# Pay-as-you-go list prices, USD per hour, Linux (Windows adds a licence: not estimated), by (region, VM size).
# ESTIMATES for orientation only: Azure bills what Cost Management reports (get_cost_management_data). Source:
# https://azure.microsoft.com/en-us/pricing/details/virtual-machines/linux/ (values as published there in 2025;
# prices change: check the page before relying on them). A size or region not listed has no estimate (UNAVAILABLE).
LIST_PRICES_AS_OF = "2025"
LIST_PRICES_SOURCE = "https://azure.microsoft.com/en-us/pricing/details/virtual-machines/linux/"
LIST_PRICES: dict[tuple[str, str], Decimal] = {
    ("eastus", "standard_b2s"): Decimal("0.0416"),
    ("eastus", "standard_d2s_v3"): Decimal("0.096"),
    ("eastus", "standard_d4s_v3"): Decimal("0.192"),
    ("eastus", "standard_nc6s_v3"): Decimal("3.06"),
    ("eastus", "standard_nc24ads_a100_v4"): Decimal("3.673"),
}


class AzureTelemetryAgent(CollectorAgent):
    """``AzureTelemetryAgent(subscription_id=..., client_id=..., client_secret=..., tenant_id=...)`` (the guide) or
    ``AzureTelemetryAgent(openfinops_endpoint, subscription_id, ...)`` (the agent command line). ``services``: the
    metric services each cycle collects beside the costs, some of :data:`SERVICES` (default none: costs only).
    ``metrics_minutes``: the Azure Monitor window of the VM metrics (default 60)."""

    agent_type = "azure_telemetry"

    def __init__(self, openfinops_endpoint: str | None = None, subscription_id: str | None = None, *,
                 client_id: str | None = None, client_secret: str | None = None, tenant_id: str | None = None,
                 credential: Any = None, endpoint_url: str | None = None, authority: str | None = None,
                 metrics_minutes: int = 60, services: Iterable[str] | None = None, **kwargs: Any) -> None:
        if not subscription_id:
            raise ValueError("subscription_id is required")
        self.services = checked_services(services, SERVICES)
        kwargs.setdefault("metadata", {"subscription_id": subscription_id})
        super().__init__(openfinops_endpoint, **kwargs)  # None: the guide's constructor, read and return only
        self.subscription_id = subscription_id
        self._secret = (client_id, client_secret, tenant_id)
        self.credential = credential
        self.authority = authority  # Entra ID host (a sovereign cloud, a test double); default login.microsoftonline
        self.endpoint_url = endpoint_url  # not self.endpoint: that is the OpenFinOps server
        if not isinstance(metrics_minutes, int) or metrics_minutes < 1:
            raise ValueError(f"metrics_minutes: expected an integer >= 1, got {metrics_minutes!r}")
        self.metrics_minutes = metrics_minutes
        self._http: RetryingHttp | None = None
        self._sizes: dict[str, dict[str, dict]] = {}

    def _credential(self) -> Any:
        if self.credential is None:
            client_id, client_secret, tenant_id = self._secret
            if client_id and client_secret and tenant_id:
                from azure.identity import ClientSecretCredential

                extra = {"authority": self.authority, "disable_instance_discovery": True} if self.authority else {}
                self.credential = ClientSecretCredential(tenant_id, client_id, client_secret, **extra)
            else:
                from azure.identity import DefaultAzureCredential

                self.credential = DefaultAzureCredential()
        return self.credential

    def _cost_collector(self) -> CostQueryCollector:
        options = {"scope": f"subscriptions/{self.subscription_id}"}
        if self.endpoint_url:
            options["endpoint"] = self.endpoint_url
        return CostQueryCollector("agent-azure-cost-query", options, clients={"credential": self._credential()})

    def make_collectors(self) -> list[tuple[str, Collector]]:
        return [("azure_cost_query", self._cost_collector())]

    def to_records(self, source: str, dataset: Dataset, row: dict[str, Any]) -> dict[str, list[dict]]:
        if row["grouping"] != COST_PASS.name or row["cost_type"] != "ActualCost":
            return {}
        return {"cost_records": [{
            "timestamp": row["usage_date"], "provider": "Azure", "service": row["service_name"] or "(no service)",
            "cost": row["cost"], "currency": row["currency"], "account_id": self.subscription_id,
            "resource_id": row["resource_group_name"],
            "tags": tags(source="azure_cost_query", cost_type="ActualCost", cost_usd=row["cost_usd"],
                         resource_group=row["resource_group_name"])}]}

    # -- the cycle -----------------------------------------------------------------------------------------------------
    def service_readers(self) -> Mapping[str, Callable[[], tuple[Any, list[dict]]]]:
        return {"virtual_machines": self._vm_metrics, "ml_workspace": self._ml_workspace_metrics}

    def service_scope(self) -> str:
        return self.subscription_id

    # -- the guide's methods -----------------------------------------------------------------------------------------
    @property
    def arm_root(self) -> str:
        return (self.endpoint_url or DEFAULT_ENDPOINT).rstrip("/")

    def _clock(self) -> datetime:
        now = self._now() if callable(self._now) else datetime.now(UTC)
        return now.astimezone(UTC).replace(second=0, microsecond=0)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._credential().get_token(TOKEN_SCOPE).token}"}

    def _arm(self) -> RetryingHttp:
        if self._http is None:
            import requests

            self._http = RetryingHttp(requests.Session(), "agent-azure-arm", RetryPolicy(max_retries=4,
                                                                                         base_seconds=1.0))
        return self._http

    def _url(self, path_or_url: str) -> str:
        return path_or_url if "://" in path_or_url else self.arm_root + path_or_url

    def _check_origin(self, url: str, what: str) -> None:
        if urlsplit(url)[:2] != urlsplit(self.arm_root)[:2]:
            raise CollectorError(f"{what}: nextLink points to another host than {self.arm_root}; refusing to send "
                                 "the bearer token there")

    def _get(self, path: str, api_version: str, what: str, **params: Any) -> dict:
        response = self._arm().request("GET", self._url(path), operation=what, headers=self._auth,
                                       params={"api-version": api_version, **params})
        return response.json()

    def _list(self, path: str, api_version: str, what: str, **params: Any) -> list[dict]:
        """Every item of an ARM list (``value``), following ``nextLink`` (its own query carries api-version)."""
        document = self._get(path, api_version, what, **params)
        items, page, guard = list(document.get("value") or []), 1, PageGuard("agent-azure-arm", what)
        while document.get("nextLink"):
            url = document["nextLink"]
            guard.next(url, page)
            self._check_origin(url, what)
            page += 1
            document = self._arm().request("GET", url, operation=f"{what} page {page}", headers=self._auth).json()
            items += document.get("value") or []
        return items

    def _metrics(self, resource_id: str, names: tuple[str, ...], start: datetime, end: datetime, interval: str,
                 aggregation: str) -> dict[str, list[dict]]:
        """Azure Monitor ``Metrics - List``: metric name -> its data points (all time series), errors -> none."""
        document = self._get(f"{resource_id}/providers/Microsoft.Insights/metrics", MONITOR_API,
                             f"Azure Monitor metrics of {resource_id.rsplit('/', 1)[-1]}", metricnames=",".join(names),
                             timespan=f"{_iso(start)}/{_iso(end)}", interval=interval, aggregation=aggregation)
        out: dict[str, list[dict]] = {name: [] for name in names}
        for item in document.get("value") or []:
            name = (item.get("name") or {}).get("value")
            if item.get("errorCode", "Success") != "Success":
                log.warning("Azure Monitor: %s of %s: %s %s", name, resource_id, item.get("errorCode"),
                            str(item.get("errorMessage"))[:200])
                continue
            out.setdefault(name, []).extend(p for ts in item.get("timeseries") or [] for p in ts.get("data") or [])
        return out

    def _vm_sizes(self, location: str) -> dict[str, dict]:
        if location not in self._sizes:
            sizes = self._list(f"/subscriptions/{self.subscription_id}/providers/Microsoft.Compute/locations/"
                               f"{location}/vmSizes", COMPUTE_API, f"VM sizes of {location}")
            self._sizes[location] = {s["name"].lower(): s for s in sizes}
        return self._sizes[location]

    def collect_vm_metrics(self, resource_group: str | None = None,
                           vm_names: list[str] | None = None) -> list[dict[str, Any]]:
        """One dict per VM (of the resource group, else of the subscription; only ``vm_names`` when given):
        ``name``, ``id``, ``resource_group``, ``location``, ``vm_size``, ``os_type``, ``power_state``,
        ``cpu_utilization`` (%, mean of Percentage CPU), ``memory_utilization`` (%, 100 x (1 - mean Available Memory
        Bytes / the size's memory)), ``disk_iops`` (mean read + mean write operations/s, 2 decimals),
        ``network_in_bytes`` / ``network_out_bytes`` (totals), ``cost_per_hour`` (Decimal USD list-price ESTIMATE:
        0 when deallocated, :data:`~agents.collector_agent.UNAVAILABLE` when not in :data:`LIST_PRICES` or Windows),
        ``period_start`` / ``period_end``. A metric Azure Monitor has no sample for in the window (a deallocated VM,
        memory of a size it cannot look up; ``disk_iops`` when either direction has none) is
        :data:`~agents.collector_agent.UNAVAILABLE` (prints ``n/a``)."""
        rows, records = self._vm_metrics(resource_group, vm_names)
        self._deliver("azure.vm", records)
        return rows

    def _vm_metrics(self, resource_group: str | None = None,
                    vm_names: list[str] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        sub = f"/subscriptions/{self.subscription_id}"
        path = (f"{sub}/resourceGroups/{resource_group}/providers/Microsoft.Compute/virtualMachines" if resource_group
                else f"{sub}/providers/Microsoft.Compute/virtualMachines")
        vms = self._list(path, COMPUTE_API, f"virtual machines of {resource_group or 'the subscription'}")
        if vm_names:
            wanted = {n.lower() for n in vm_names}
            vms = [vm for vm in vms if vm["name"].lower() in wanted]
        end = self._clock()
        start = end - timedelta(minutes=self.metrics_minutes)
        out = []
        for vm in vms:
            properties = vm.get("properties") or {}
            view = self._get(f"{vm['id']}/instanceView", COMPUTE_API, f"instance view of VM {vm['name']}")
            power = next((s["code"].split("/", 1)[1] for s in view.get("statuses") or []
                          if str(s.get("code", "")).startswith("PowerState/")), None)
            size = (properties.get("hardwareProfile") or {}).get("vmSize") or ""
            location = vm.get("location") or ""
            os_type = ((properties.get("storageProfile") or {}).get("osDisk") or {}).get("osType")
            memory_mb = (self._vm_sizes(location).get(size.lower()) or {}).get("memoryInMB") if location else None
            series = self._metrics(vm["id"], VM_METRICS, start, end, "PT5M", "Average,Total")
            available = _mean(series["Available Memory Bytes"], "average")
            reads, writes = (_mean(series[f"Disk {k} Operations/Sec"], "average") for k in ("Read", "Write"))
            price: Decimal | _Unavailable = (LIST_PRICES.get((location.lower(), size.lower()), UNAVAILABLE)
                                             if os_type == "Linux" else UNAVAILABLE)
            out.append({
                "name": vm["name"], "id": vm["id"], "resource_group": _resource_group(vm["id"]),
                "location": location, "vm_size": size, "os_type": os_type, "power_state": power,
                "cpu_utilization": _mean(series["Percentage CPU"], "average"),
                "memory_utilization": (100 * (1 - available / (memory_mb * 1024 * 1024))
                                       if memory_mb and available is not UNAVAILABLE else UNAVAILABLE),
                "memory_mb": memory_mb,
                "disk_iops": (UNAVAILABLE if reads is UNAVAILABLE or writes is UNAVAILABLE
                              else round(reads + writes, 2)),
                "network_in_bytes": _total(series["Network In Total"]),
                "network_out_bytes": _total(series["Network Out Total"]),
                "cost_per_hour": Decimal(0) if power == "deallocated" and price is not UNAVAILABLE else price,
                "cost_estimate_source": f"list price {LIST_PRICES_SOURCE} ({LIST_PRICES_AS_OF}), not a bill",
                "period_start": start, "period_end": end})
        records = self._metric_records(
            "azure.vm", out, end, ("cpu_utilization", "%"), ("memory_utilization", "%"), ("disk_iops", "ops/s"),
            ("network_in_bytes", "By"), ("network_out_bytes", "By"), ("cost_per_hour", "USD/h estimate"),
            labels=lambda r: {"vm_name": r["name"], "resource_group": r["resource_group"], "location": r["location"],
                              "vm_size": r["vm_size"], "power_state": r["power_state"]})
        return out, records

    def collect_ml_workspace_metrics(self, workspace_name: str | None = None) -> list[dict[str, Any]]:
        """One dict per Azure Machine Learning workspace of the subscription (only ``workspace_name`` when given):
        ``name``, ``id``, ``resource_group``, ``location``; ``active_jobs`` (jobs not finished: NotStarted .. Running,
        Finalizing, CancelRequested, NotResponding, Paused), ``completed_jobs``, ``failed_jobs``, ``canceled_jobs``
        (the jobs the workspace lists, by status); ``online_endpoints`` (names); ``compute_hours`` (node hours month
        to date: Σ hourly averages of the workspace's ``Active Nodes`` metric, 2 decimals); ``monthly_cost``
        (Decimal: month-to-date ActualCost of the workspace and its sub-resources, from Cost Management) with
        ``currency``; ``period_start`` / ``period_end``."""
        rows, records = self._ml_workspace_metrics(workspace_name)
        self._deliver("azure.ml_workspace", records)
        return rows

    def _ml_workspace_metrics(self, workspace_name: str | None = None
                              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        workspaces = self._list(f"/subscriptions/{self.subscription_id}/providers/"
                                "Microsoft.MachineLearningServices/workspaces", ML_API, "Azure ML workspaces")
        if workspace_name:
            workspaces = [w for w in workspaces if w["name"].lower() == workspace_name.lower()]
        end = self._clock()
        start = datetime(end.year, end.month, 1, tzinfo=UTC)
        costs: dict[str, dict[str, dict[str, Decimal]]] = {}
        out = []
        for ws in workspaces:
            jobs = self._list(f"{ws['id']}/jobs", ML_API, f"jobs of workspace {ws['name']}")
            status = Counter((j.get("properties") or {}).get("status") for j in jobs)
            endpoints = self._list(f"{ws['id']}/onlineEndpoints", ML_API, f"online endpoints of {ws['name']}")
            nodes = self._metrics(ws["id"], ("Active Nodes",), start, end, "PT1H", "Average")["Active Nodes"]
            group = _resource_group(ws["id"])
            if group.lower() not in costs:
                costs[group.lower()] = self._costs_by_resource(group, start, end)
            spent: dict[str, Decimal] = defaultdict(Decimal)
            prefix = ws["id"].lower()
            for resource, amounts in costs[group.lower()].items():
                if resource == prefix or resource.startswith(prefix + "/"):
                    for currency, amount in amounts.items():
                        spent[currency] += amount
            currency = next(iter(spent)) if len(spent) == 1 else sorted(spent) or None
            out.append({
                "name": ws["name"], "id": ws["id"], "resource_group": group, "location": ws.get("location"),
                "active_jobs": sum(status[s] for s in ACTIVE_JOB_STATUSES), "completed_jobs": status["Completed"],
                "failed_jobs": status["Failed"], "canceled_jobs": status["Canceled"], "total_jobs": len(jobs),
                "online_endpoints": [e["name"] for e in endpoints],
                "compute_hours": round(sum(p["average"] for p in nodes if p.get("average") is not None), 2),
                "monthly_cost": spent[currency] if isinstance(currency, str) else dict(spent) if spent else Decimal(0),
                "currency": currency, "period_start": start, "period_end": end})
        records = self._metric_records(
            "azure.ml_workspace", out, end, ("active_jobs", None), ("completed_jobs", None), ("failed_jobs", None),
            ("compute_hours", "node-hours"),
            labels=lambda r: {"workspace": r["name"], "resource_group": r["resource_group"],
                              "location": r["location"]})
        return out, records

    def _costs_by_resource(self, group: str, start: datetime, end: datetime) -> dict[str, dict[str, Decimal]]:
        """ActualCost per ResourceId (lower case) and currency of one resource group, [start, end]."""
        body = {"type": "ActualCost", "timeframe": "Custom",
                "timePeriod": {"from": _iso(start), "to": _iso(end - timedelta(seconds=1))},
                "dataset": {"aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
                            "grouping": [{"type": "Dimension", "name": "ResourceId"}],
                            "filter": {"dimensions": {"name": "ResourceGroupName", "operator": "In",
                                                      "values": [group]}}}}
        url: str | None = (f"{self.arm_root}/subscriptions/{self.subscription_id}/providers/"
                           f"Microsoft.CostManagement/query?api-version={COST_API}")
        what = f"Cost Management query (month to date per resource, resource group {group})"
        out: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        guard, page = PageGuard("agent-azure-arm", what), 0
        while url:
            page += 1
            response = self._arm().request("POST", url, operation=f"{what} page {page}", json=body,
                                           headers=self._auth)
            if response.status_code == 204:
                break
            properties = json.loads(response.text, parse_float=Decimal)["properties"]
            columns = [c["name"] for c in properties["columns"]]
            for row in properties.get("rows") or []:
                values = dict(zip(columns, row, strict=True))
                cost = values.get("Cost", values.get("PreTaxCost"))
                out[str(values["ResourceId"]).lower()][values["Currency"]] += Decimal(str(cost))
            url = properties.get("nextLink") or None
            if url:
                guard.next(url, page)
                self._check_origin(url, what)
        return out

    def get_cost_management_data(self, start_date: date | datetime, end_date: date | datetime,
                                 cost_type: str = "ActualCost") -> dict[str, Any]:
        """Cost of the subscription from ``start_date`` to ``end_date`` (both days included, UTC) through the
        ``azure_cost_query`` collector (its cost pass: ServiceName x ResourceGroupName), exact Decimals.

        Returns ``by_service`` and ``by_resource_group`` (largest first), ``by_day``, ``total``, ``currency``,
        ``cost_type`` (ActualCost = invoiced, or AmortizedCost), ``start_date``, ``end_date``, ``rejected_rows``.
        With several billing currencies nothing is added across them: ``currency`` is the list and ``total`` /
        ``by_*`` are keyed by currency first."""
        if cost_type not in ("ActualCost", "AmortizedCost"):
            raise ValueError(f"cost_type {cost_type!r}: ActualCost or AmortizedCost")
        first, last = _day(start_date), _day(end_date)
        if last < first:
            raise ValueError(f"end_date {last} is before start_date {first}")
        collector = self._cost_collector()
        collector.passes = (COST_PASS,)  # only the pass whose rows add up to the spend
        by: dict[str, dict[str, dict[Any, Decimal]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(Decimal)))
        rejected = 0
        for item in collector.collect(COST_DAILY, Window.from_dates(first, last + timedelta(days=1))):
            if isinstance(item, Reject):
                rejected += 1
                log.warning("Cost Management row %s rejected: %s: %s", item.record_ref, item.field, item.reason[:200])
                continue
            row = dict(zip(COST_DAILY.column_names, item, strict=True))
            if row["cost_type"] != cost_type:
                continue
            for key, value in (("by_service", row["service_name"] or "(no service)"),
                               ("by_resource_group", row["resource_group_name"] or "(none)"),
                               ("by_day", row["usage_date"])):
                by[row["currency"]][key][value] += row["cost"]
        return {**by_currency(by, ("by_service", "by_resource_group")), "cost_type": cost_type,
                "start_date": first, "end_date": last, "rejected_rows": rejected,
                "source": "Azure Cost Management Query API"}

    def _metric_records(self, prefix: str, rows: list[dict], when: datetime, *fields: tuple[str, str | None],
                        labels: Any) -> list[dict[str, Any]]:
        """The rows' numeric fields as ``metrics`` records (UNAVAILABLE skipped)."""
        return [metric(f"{prefix}.{name}", row[name], when, unit, subscription_id=self.subscription_id,
                       **labels(row))
                for row in rows for name, unit in fields
                if row[name] is not UNAVAILABLE]

    def _deliver(self, prefix: str, records: list[dict[str, Any]]) -> None:
        """Push what a ``collect_*`` call read when there is an endpoint (offline: nothing)."""
        if self.offline:
            return
        if records and not self.push({"metrics": records}):
            log.warning("%s: %d metric(s) not delivered yet: kept in the spool %s", prefix, len(records),
                        self.spool.outbox)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(value: date | datetime) -> date:
    return value.astimezone(UTC).date() if isinstance(value, datetime) and value.tzinfo else (
        value.date() if isinstance(value, datetime) else value)


def _resource_group(resource_id: str) -> str:
    parts = resource_id.split("/")
    lowered = [p.lower() for p in parts]
    return parts[lowered.index("resourcegroups") + 1] if "resourcegroups" in lowered else ""


def _mean(points: list[dict], key: str) -> float | _Unavailable:
    """The mean of the points' ``key`` aggregation; UNAVAILABLE when no point has one."""
    values = [p[key] for p in points if p.get(key) is not None]
    return sum(values) / len(values) if values else UNAVAILABLE


def _total(points: list[dict]) -> float | _Unavailable:
    """The sum of the points' ``total``; UNAVAILABLE when no point has one."""
    values = [p["total"] for p in points if p.get("total") is not None]
    return sum(values) if values else UNAVAILABLE


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--subscription-id", help="the subscription (default: azure.subscription_id of --config)")
    p.add_argument("--services", help=f"metric services beside the costs, comma-separated, some of "
                                      f"{','.join(SERVICES)} (default: azure.services of --config, else none; "
                                      "'none' for costs only)")


def _build(args: argparse.Namespace, options: dict[str, Any], common: dict[str, Any]) -> AzureTelemetryAgent:
    subscription = cli.first(args.subscription_id, options.get("subscription_id"),
                             os.environ.get("AZURE_SUBSCRIPTION_ID"))
    if not subscription:
        raise ValueError("--subscription-id (or azure.subscription_id, or AZURE_SUBSCRIPTION_ID) is required")
    return AzureTelemetryAgent(subscription_id=subscription, client_id=cli.first(options.get("client_id")),
                               client_secret=cli.first(options.get("client_secret")),
                               tenant_id=cli.first(options.get("tenant_id")),
                               services=cli.services(args.services, options, "azure", SERVICES), **common)


def main(argv: list[str] | None = None) -> int:
    return cli.main("azure_telemetry_agent", "azure", "Push Azure Cost Management costs and VM / ML workspace "
                    "metrics to OpenFinOps", _arguments, _build, argv)


if __name__ == "__main__":
    sys.exit(main())
