"""``GCPTelemetryAgent``: Google Cloud cost lines from the Cloud Billing export in BigQuery, pushed to OpenFinOps.

Runs the ``gcp_billing_export`` collector of the DAGs over the last ``lookback_days`` days of usage (option
``restate_invoice_months`` off: the agent re-pulls its days each cycle). Every cost line and every credit line
(negative) is a ``cost_records`` record, so their sum is the net cost: provider ``Google Cloud``, the service
description, ``cost`` (NUMERIC-exact), currency, the usage hour (``timestamp`` .. ``period_end``), ``account_id`` =
the project id, region, resource name, usage amount and unit (cost lines); tags are the resource labels plus the
line type, SKU, invoice month and credit type.

``billing_table`` (``project.dataset.gcp_billing_export_v1_...``) is required: the original agent had no such
setting because it estimated costs; this one reads what Google bills. Credentials: ``credentials_file`` (a service
account key), else Application Default Credentials. Never logged.

    python -m agents.gcp_telemetry_agent --openfinops-endpoint http://localhost:8081 --project-id P \
        --billing-table P.billing.gcp_billing_export_v1_0123AB_4567CD_89EF01 --once
    python -m agents.gcp_telemetry_agent --config config/telemetry.yaml --services compute,vertex_ai

The methods of the original guide ("GCP Telemetry Agent") work as documented, with or without an OpenFinOps endpoint
(``GCPTelemetryAgent(project_id=..., credentials_file=...)``; ``billing_table`` is then needed only by
:meth:`get_billing_data`). They call Google's REST APIs with google-auth (scope ``cloud-platform``), retried on
408 / 429 / 5xx, every page followed (``pageToken``):

- :meth:`collect_compute_metrics`: Compute Engine ``instances.list`` of a zone, else ``instances.aggregatedList``;
  Cloud Monitoring ``projects.timeSeries.list`` over the last ``metrics_minutes`` (default 60), aligned ALIGN_MEAN
  over that window: ``compute.googleapis.com/instance/cpu/utilization`` (a fraction, reported in %),
  ``agent.googleapis.com/memory/percent_used`` (state ``used``) and ``agent.googleapis.com/gpu/utilization`` (both
  written by the Ops Agent; ``n/a`` without it).
- :meth:`collect_vertex_ai_metrics`: Vertex AI ``endpoints.list`` of ``region``; per endpoint (summed over its
  deployed models) ``aiplatform.googleapis.com/prediction/online/prediction_count`` and ``.../error_count``
  (ALIGN_SUM, REDUCE_SUM) and the 50th / 95th percentile of ``.../prediction_latencies`` (``latency_type`` total;
  ALIGN_PERCENTILE_50 / _95 per deployed model, the largest of them: REDUCE_MAX).
- :meth:`get_billing_data`: the billing export collector above over a date range (exact Decimals).

``cost_per_hour`` is an ESTIMATE from a small on-demand list-price table (:data:`LIST_PRICES`); what is billed is
in the billing export. Each ``collect_*`` call pushes what it read as ``metrics`` records when the agent has an
OpenFinOps endpoint. The cycle (``--once``, ``run_continuous``, ``start_collection``) collects the ``services`` given
beside the costs, the original ``telemetry.yaml``'s ``gcp.services`` (:data:`SERVICES`: ``compute`` ->
:meth:`collect_compute_metrics` of every zone, ``vertex_ai`` -> :meth:`collect_vertex_ai_metrics` of ``region``,
``gcp.region`` / ``--region``), each as one ``metrics`` batch; one service failing (e.g. a missing Compute Viewer /
Monitoring Viewer role) is logged and the costs and the other service still go out. Default: none (costs only, as
before; those services need read permissions the billing export does not).

A value Cloud Monitoring has no sample for in the window, and a price not in the table, is
:data:`~agents.collector_agent.UNAVAILABLE` (prints ``n/a`` under any format spec, refuses arithmetic, is never
pushed; the same value the AWS and Azure agents give): missing is not zero. ``endpoint_url`` replaces the Google API
hosts (Compute, Monitoring, Vertex AI and BigQuery) by one root, for a proxy or a test double.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

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
from collectors.core.base import Collector, Dataset, Reject, Window
from collectors.core.http_retry import PageGuard, RetryingHttp, RetryPolicy
from collectors.sources.gcp_billing_export import BillingExportCollector

log = logging.getLogger("agents")

SERVICES = ("compute", "vertex_ai")  # the original telemetry.yaml's gcp.services
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
CPU = "compute.googleapis.com/instance/cpu/utilization"
MEMORY = "agent.googleapis.com/memory/percent_used"
GPU = "agent.googleapis.com/gpu/utilization"
PREDICTIONS = "aiplatform.googleapis.com/prediction/online/prediction_count"
ERRORS = "aiplatform.googleapis.com/prediction/online/error_count"
LATENCIES = "aiplatform.googleapis.com/prediction/online/prediction_latencies"
NOT_BILLED_STATUSES = frozenset({"TERMINATED", "STOPPED", "SUSPENDED"})  # no vCPU / memory / GPU charge
# On-demand list prices, USD per hour, by (region, machine type or accelerator type). ESTIMATES for orientation
# only: Google bills what the billing export holds (get_billing_data). Sources:
# https://cloud.google.com/compute/vm-instance-pricing and https://cloud.google.com/compute/gpus-pricing (values as
# published there in 2025; prices change: check the pages before relying on them). Spot / preemptible instances
# and anything not listed have no estimate (UNAVAILABLE). A2 / A3 / G2 machine types include their GPUs.
LIST_PRICES_AS_OF = "2025"
LIST_PRICES_SOURCE = "https://cloud.google.com/compute/vm-instance-pricing"
LIST_PRICES: dict[tuple[str, str], Decimal] = {
    ("us-central1", "e2-standard-4"): Decimal("0.134012"),
    ("us-central1", "n1-standard-4"): Decimal("0.189999"),
    ("us-central1", "n2-standard-8"): Decimal("0.388472"),
    ("us-central1", "a2-highgpu-1g"): Decimal("3.673385"),
    ("us-central1", "nvidia-tesla-t4"): Decimal("0.35"),
    ("us-central1", "nvidia-tesla-v100"): Decimal("2.48"),
}
BUNDLED_GPU_FAMILIES = ("a2-", "a3-", "g2-")


class GCPTelemetryAgent(CollectorAgent):
    """``GCPTelemetryAgent(project_id=..., credentials_file=...)`` (the guide) or ``GCPTelemetryAgent(
    openfinops_endpoint, project_id, billing_table=..., ...)`` (the agent command line). ``services``: the metric
    services each cycle collects beside the costs, some of :data:`SERVICES` (default none: costs only). ``region``:
    the Vertex AI region (default us-central1). ``metrics_minutes``: the Cloud Monitoring window (default 60)."""

    agent_type = "gcp_telemetry"

    def __init__(self, openfinops_endpoint: str | None = None, project_id: str | None = None, *,
                 billing_table: str | None = None, credentials_file: str | None = None, bigquery_client: Any = None,
                 credentials: Any = None, endpoint_url: str | None = None, region: str = "us-central1",
                 metrics_minutes: int = 60, services: Iterable[str] | None = None, **kwargs: Any) -> None:
        if not project_id:
            raise ValueError("project_id is required")
        self.services = checked_services(services, SERVICES)
        kwargs.setdefault("metadata", {"project_id": project_id, "billing_table": billing_table})
        if openfinops_endpoint and not billing_table:
            raise ValueError("billing_table (project.dataset.gcp_billing_export_v1_...) is required to push costs")
        super().__init__(openfinops_endpoint, **kwargs)  # None: the guide's constructor, read and return only
        self.project_id = project_id
        self.billing_table = billing_table
        self.credentials_file = credentials_file
        self.bigquery_client = bigquery_client
        self.credentials = credentials
        self.endpoint_url = endpoint_url.rstrip("/") if endpoint_url else None
        self.region = region
        if not isinstance(metrics_minutes, int) or metrics_minutes < 1:
            raise ValueError(f"metrics_minutes: expected an integer >= 1, got {metrics_minutes!r}")
        self.metrics_minutes = metrics_minutes
        self._http: RetryingHttp | None = None

    def _credentials(self) -> Any:
        if self.credentials is None:
            if self.credentials_file:
                from google.oauth2 import service_account

                self.credentials = service_account.Credentials.from_service_account_file(self.credentials_file,
                                                                                         scopes=[SCOPE])
            else:
                import google.auth

                self.credentials = google.auth.default(scopes=[SCOPE])[0]
        return self.credentials

    def _billing_collector(self) -> BillingExportCollector:
        if not self.billing_table:
            raise ValueError("billing_table (project.dataset.gcp_billing_export_v1_...) is required for billing data")
        client = self.bigquery_client
        if client is None:
            from google.cloud import bigquery

            extra = {"client_options": {"api_endpoint": self.endpoint_url}} if self.endpoint_url else {}
            if self.credentials_file or self.credentials is not None:
                client = bigquery.Client(project=self.project_id, credentials=self._credentials(), **extra)
            else:
                client = bigquery.Client(project=self.project_id, **extra)
        options = {"table": self.billing_table, "restate_invoice_months": False}
        return BillingExportCollector("agent-gcp-billing-export", options, clients={"bigquery": client})

    def make_collectors(self) -> list[tuple[str, Collector]]:
        return [("gcp_billing_export", self._billing_collector())]

    def to_records(self, source: str, dataset: Dataset, row: dict[str, Any]) -> dict[str, list[dict]]:
        is_cost = row["line_type"] == "cost"
        labels = {f"label:{k}": v for k, v in (row["labels"] or {}).items()}
        return {"cost_records": [{
            "timestamp": row["usage_start_time"], "period_end": row["usage_end_time"], "provider": "Google Cloud",
            "service": row["service_description"] or row["service_id"] or "(no service)", "cost": row["amount"],
            "currency": row["currency"], "account_id": row["project_id"], "region": row["region"],
            "resource_id": row["resource_name"], "usage_quantity": row["usage_amount"] if is_cost else None,
            "usage_unit": row["usage_unit"] if is_cost else None,
            "tags": tags(source="gcp_billing_export", line_type=row["line_type"], sku=row["sku_description"],
                         invoice_month=row["invoice_month"], cost_type=row["cost_type"],
                         credit_type=row["credit_type"], billing_account_id=row["billing_account_id"], **labels)}]}

    # -- the cycle -----------------------------------------------------------------------------------------------------
    def service_readers(self) -> Mapping[str, Callable[[], tuple[Any, list[dict]]]]:
        return {"compute": self._compute_metrics, "vertex_ai": self._vertex_ai_metrics}

    def service_scope(self) -> str:
        return self.project_id

    # -- the guide's methods -----------------------------------------------------------------------------------------
    def _root(self, default: str) -> str:
        return self.endpoint_url or default

    def _clock(self) -> datetime:
        now = self._now() if callable(self._now) else datetime.now(UTC)
        return now.astimezone(UTC).replace(second=0, microsecond=0)

    def _api(self) -> RetryingHttp:
        if self._http is None:
            from google.auth.transport.requests import AuthorizedSession

            self._http = RetryingHttp(AuthorizedSession(self._credentials()), "agent-gcp-api",
                                      RetryPolicy(max_retries=4, base_seconds=1.0))
        return self._http

    def _pages(self, url: str, what: str, **params: Any) -> list[dict]:
        """Every page of a Google list call (``nextPageToken`` -> ``pageToken``)."""
        pages, guard = [], PageGuard("agent-gcp-api", what)
        while True:
            document = self._api().request("GET", url, operation=f"{what} page {len(pages) + 1}",
                                           params=params).json()
            pages.append(document)
            token = document.get("nextPageToken")
            if not token:
                return pages
            guard.next(token, len(pages))
            params = {**params, "pageToken": token}

    def _series(self, filter_: str, start: datetime, end: datetime, aligner: str, reducer: str | None = None,
                group_by: str | None = None) -> list[dict]:
        """Cloud Monitoring time series, one aligned point over the whole window per series."""
        params = {"filter": filter_, "interval.startTime": _iso(start), "interval.endTime": _iso(end),
                  "aggregation.alignmentPeriod": f"{int((end - start).total_seconds())}s",
                  "aggregation.perSeriesAligner": aligner, "view": "FULL"}
        if reducer:
            params.update({"aggregation.crossSeriesReducer": reducer, "aggregation.groupByFields": group_by})
        url = f"{self._root('https://monitoring.googleapis.com')}/v3/projects/{self.project_id}/timeSeries"
        what = f"Cloud Monitoring {filter_.split('=', 1)[1].split(' AND ')[0].strip()}"
        return [s for page in self._pages(url, what, **params) for s in page.get("timeSeries") or []]

    def _means(self, filter_: str, start: datetime, end: datetime, key: str) -> dict[str, float]:
        """resource label ``key`` -> mean of the aligned points of its series (several GPUs: their mean)."""
        values: dict[str, list[float]] = defaultdict(list)
        for series in self._series(filter_, start, end, "ALIGN_MEAN"):
            points = [_value(p) for p in series.get("points") or []]
            points = [v for v in points if v is not None]
            if points:
                values[(series.get("resource") or {}).get("labels", {}).get(key, "")].append(
                    sum(points) / len(points))
        return {k: sum(v) / len(v) for k, v in values.items()}

    def collect_compute_metrics(self, instance_names: list[str] | None = None,
                                zone: str | None = None) -> list[dict[str, Any]]:
        """One dict per Compute Engine instance (of ``zone``, else every zone; only ``instance_names`` when given):
        ``name``, ``instance_id``, ``zone``, ``machine_type``, ``status``, ``gpu_count``, ``gpu_types``,
        ``cpu_utilization`` / ``memory_utilization`` / ``gpu_utilization`` (%, means over the window;
        :data:`~agents.collector_agent.UNAVAILABLE`, printed ``n/a``, without a sample), ``cost_per_hour`` (Decimal
        USD on-demand list-price ESTIMATE: machine type + attached GPUs; 0 when TERMINATED / STOPPED / SUSPENDED;
        :data:`~agents.collector_agent.UNAVAILABLE` for Spot / preemptible or a type not in :data:`LIST_PRICES`),
        ``period_start`` / ``period_end``."""
        rows, records = self._compute_metrics(instance_names, zone)
        self._deliver("gcp.compute", records)
        return rows

    def _compute_metrics(self, instance_names: list[str] | None = None,
                         zone: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        base = f"{self._root('https://compute.googleapis.com')}/compute/v1/projects/{self.project_id}"
        if zone:
            pages = self._pages(f"{base}/zones/{zone}/instances", f"instances of {zone}")
            instances = [i for page in pages for i in page.get("items") or []]
        else:
            pages = self._pages(f"{base}/aggregated/instances", "instances (aggregated)")
            instances = [i for page in pages for scoped in (page.get("items") or {}).values()
                         for i in scoped.get("instances") or []]
        if instance_names:
            wanted = set(instance_names)
            instances = [i for i in instances if i["name"] in wanted]
        end = self._clock()
        start = end - timedelta(minutes=self.metrics_minutes)
        where = f' AND resource.labels.zone = "{zone}"' if zone else ""
        cpu = self._means(f'metric.type = "{CPU}" AND resource.type = "gce_instance"{where}', start, end,
                          "instance_id")
        memory = self._means(f'metric.type = "{MEMORY}" AND resource.type = "gce_instance" AND '
                             f'metric.labels.state = "used"{where}', start, end, "instance_id")
        gpu = self._means(f'metric.type = "{GPU}" AND resource.type = "gce_instance"{where}', start, end,
                          "instance_id")
        out = []
        for instance in instances:
            instance_id = str(instance["id"])
            instance_zone = _last(instance.get("zone"))
            machine_type = _last(instance.get("machineType"))
            accelerators = [(_last(a.get("acceleratorType")), int(a.get("acceleratorCount") or 0))
                            for a in instance.get("guestAccelerators") or []]
            out.append({
                "name": instance["name"], "instance_id": instance_id, "zone": instance_zone,
                "machine_type": machine_type, "status": instance.get("status"),
                "gpu_count": sum(n for _, n in accelerators), "gpu_types": sorted({t for t, _ in accelerators}),
                "cpu_utilization": cpu[instance_id] * 100 if instance_id in cpu else UNAVAILABLE,
                "memory_utilization": memory.get(instance_id, UNAVAILABLE),
                "gpu_utilization": gpu.get(instance_id, UNAVAILABLE),
                "cost_per_hour": _estimate(instance, instance_zone, machine_type, accelerators),
                "cost_estimate_source": f"list price {LIST_PRICES_SOURCE} ({LIST_PRICES_AS_OF}), not a bill",
                "period_start": start, "period_end": end})
        records = self._metric_records(
            "gcp.compute", out, end, ("cpu_utilization", "%"), ("memory_utilization", "%"), ("gpu_utilization", "%"),
            ("cost_per_hour", "USD/h estimate"),
            labels=lambda r: {"instance_name": r["name"], "instance_id": r["instance_id"], "zone": r["zone"],
                              "machine_type": r["machine_type"], "status": r["status"]})
        return out, records

    def collect_vertex_ai_metrics(self, endpoint_id: str | None = None) -> list[dict[str, Any]]:
        """One dict per Vertex AI endpoint of ``region`` (only ``endpoint_id`` when given): ``name`` (display
        name), ``endpoint_id``, ``resource_name``, ``deployed_models``, ``prediction_count`` and ``error_count``
        (over the last ``metrics_minutes``), ``error_rate`` (% = errors / predictions; 0 with neither,
        :data:`~agents.collector_agent.UNAVAILABLE` with errors only), ``latency_p50_ms`` / ``latency_p95_ms``
        (:data:`~agents.collector_agent.UNAVAILABLE`, printed ``n/a``, without a sample), ``period_start`` /
        ``period_end``."""
        rows, records = self._vertex_ai_metrics(endpoint_id)
        self._deliver("gcp.vertex_ai", records)
        return rows

    def _vertex_ai_metrics(self, endpoint_id: str | None = None
                           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        root = self._root(f"https://{self.region}-aiplatform.googleapis.com")
        pages = self._pages(f"{root}/v1/projects/{self.project_id}/locations/{self.region}/endpoints",
                            f"Vertex AI endpoints of {self.region}")
        endpoints = [e for page in pages for e in page.get("endpoints") or []]
        if endpoint_id is not None:
            endpoints = [e for e in endpoints if _last(e["name"]) == str(endpoint_id)]
        end = self._clock()
        start = end - timedelta(minutes=self.metrics_minutes)
        where = f'resource.type = "aiplatform.googleapis.com/Endpoint" AND resource.labels.location = "{self.region}"'
        group = "resource.labels.endpoint_id"

        def per_endpoint(metric_type: str, aligner: str, reducer: str, extra: str = "") -> dict[str, Any]:
            found = {}
            for series in self._series(f'metric.type = "{metric_type}" AND {where}{extra}', start, end, aligner,
                                       reducer, group):
                values = [v for v in (_value(p) for p in series.get("points") or []) if v is not None]
                if values:
                    found[(series.get("resource") or {}).get("labels", {}).get("endpoint_id", "")] = (
                        sum(values) if reducer == "REDUCE_SUM" else max(values))
            return found

        counts = per_endpoint(PREDICTIONS, "ALIGN_SUM", "REDUCE_SUM")
        errors = per_endpoint(ERRORS, "ALIGN_SUM", "REDUCE_SUM")
        total = ' AND metric.labels.latency_type = "total"'
        p50 = per_endpoint(LATENCIES, "ALIGN_PERCENTILE_50", "REDUCE_MAX", total)
        p95 = per_endpoint(LATENCIES, "ALIGN_PERCENTILE_95", "REDUCE_MAX", total)
        out = []
        for endpoint in endpoints:
            eid = _last(endpoint["name"])
            predictions, failed = int(counts.get(eid, 0)), int(errors.get(eid, 0))
            out.append({
                "name": endpoint.get("displayName") or eid, "endpoint_id": eid, "resource_name": endpoint["name"],
                "deployed_models": [m.get("id") for m in endpoint.get("deployedModels") or []],
                "prediction_count": predictions, "error_count": failed,
                "error_rate": failed / predictions * 100 if predictions else (0.0 if not failed else UNAVAILABLE),
                "latency_p50_ms": float(p50[eid]) if eid in p50 else UNAVAILABLE,
                "latency_p95_ms": float(p95[eid]) if eid in p95 else UNAVAILABLE,
                "period_start": start, "period_end": end})
        records = self._metric_records(
            "gcp.vertex_ai", out, end, ("prediction_count", None), ("error_count", None), ("error_rate", "%"),
            ("latency_p50_ms", "ms"), ("latency_p95_ms", "ms"),
            labels=lambda r: {"endpoint_id": r["endpoint_id"], "endpoint": r["name"], "region": self.region})
        return out, records

    def get_billing_data(self, start_date: date | datetime, end_date: date | datetime) -> dict[str, Any]:
        """Net cost (cost lines plus their negative credits) of the billing export's usage from ``start_date`` to
        ``end_date`` (both days included, UTC), through the ``gcp_billing_export`` collector, exact Decimals.

        Returns ``total``, ``by_service`` and ``by_project`` (largest first), ``by_day``, ``credits`` (Σ credit
        lines), ``currency``, ``start_date``, ``end_date``, ``rejected_rows``. With several currencies nothing is
        added across them: ``currency`` is the list and ``total`` / ``by_*`` / ``credits`` are keyed by currency."""
        first, last = _day(start_date), _day(end_date)
        if last < first:
            raise ValueError(f"end_date {last} is before start_date {first}")
        collector = self._billing_collector()
        by: dict[str, dict[str, dict[Any, Decimal]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(Decimal)))
        credits: dict[str, Decimal] = defaultdict(Decimal)
        rejected = 0
        for dataset in collector.datasets():
            for item in collector.collect(dataset, Window.from_dates(first, last + timedelta(days=1))):
                if isinstance(item, Reject):
                    rejected += 1
                    log.warning("billing export row %s rejected: %s: %s", item.record_ref, item.field,
                                item.reason[:200])
                    continue
                row = dict(zip(dataset.column_names, item, strict=True))
                amount, currency = row["amount"], row["currency"]
                if row["line_type"] == "credit":
                    credits[currency] += amount
                for key, value in (("by_service", row["service_description"] or row["service_id"] or "(none)"),
                                   ("by_project", row["project_id"] or "(none)"),
                                   ("by_day", row["usage_start_time"].astimezone(UTC).date())):
                    by[currency][key][value] += amount
        out = by_currency(by, ("by_service", "by_project"))
        out["credits"] = (credits.get(out["currency"], Decimal(0)) if not isinstance(out["currency"], list)
                          else dict(credits))
        return {**out, "start_date": first, "end_date": last, "rejected_rows": rejected,
                "source": f"Cloud Billing export {self.billing_table}"}

    def _metric_records(self, prefix: str, rows: list[dict], when: datetime, *fields: tuple[str, str | None],
                        labels: Any) -> list[dict[str, Any]]:
        """The rows' numeric fields as ``metrics`` records (UNAVAILABLE skipped)."""
        return [metric(f"{prefix}.{name}", row[name], when, unit, project_id=self.project_id, **labels(row))
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


def _last(url: str | None) -> str:
    return str(url or "").rstrip("/").rsplit("/", 1)[-1]


def _value(point: dict) -> float | None:
    """A Monitoring point's TypedValue as a number (int64Value comes as a JSON string)."""
    value = point.get("value") or {}
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "int64Value" in value:
        return int(value["int64Value"])
    return None


def _estimate(instance: dict, zone: str, machine_type: str,
              accelerators: list[tuple[str, int]]) -> Decimal | _Unavailable:
    """The list-price estimate per hour; UNAVAILABLE for Spot / preemptible or a price not in :data:`LIST_PRICES`."""
    scheduling = instance.get("scheduling") or {}
    if scheduling.get("preemptible") or scheduling.get("provisioningModel") == "SPOT":
        return UNAVAILABLE
    region = zone.rsplit("-", 1)[0]
    price = LIST_PRICES.get((region, machine_type))
    if price is None:
        return UNAVAILABLE
    if not machine_type.startswith(BUNDLED_GPU_FAMILIES):
        for kind, count in accelerators:
            gpu = LIST_PRICES.get((region, kind))
            if gpu is None:
                return UNAVAILABLE
            price += gpu * count
    return Decimal(0) if instance.get("status") in NOT_BILLED_STATUSES else price


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project-id", help="the project the BigQuery jobs run in")
    p.add_argument("--billing-table", help="project.dataset.table of the Cloud Billing export")
    p.add_argument("--credentials-file", help="a service account key file (default: ADC)")
    p.add_argument("--region", help="the Vertex AI region of the vertex_ai service (default: gcp.region of --config, "
                                    "else us-central1)")
    p.add_argument("--services", help=f"metric services beside the costs, comma-separated, some of "
                                      f"{','.join(SERVICES)} (default: gcp.services of --config, else none; "
                                      "'none' for costs only)")


def _build(args: argparse.Namespace, options: dict[str, Any], common: dict[str, Any]) -> GCPTelemetryAgent:
    project = cli.first(args.project_id, options.get("project_id"), os.environ.get("GCP_PROJECT_ID"))
    table = cli.first(args.billing_table, options.get("billing_table"))
    if not project or not table:
        raise ValueError("--project-id and --billing-table (or gcp.project_id / gcp.billing_table) are required")
    return GCPTelemetryAgent(project_id=project, billing_table=table,
                             credentials_file=cli.first(args.credentials_file, options.get("credentials_file")),
                             region=cli.first(args.region, options.get("region"), "us-central1"),
                             services=cli.services(args.services, options, "gcp", SERVICES), **common)


def main(argv: list[str] | None = None) -> int:
    return cli.main("gcp_telemetry_agent", "gcp", "Push Google Cloud billing export costs and Compute Engine / "
                    "Vertex AI metrics to OpenFinOps", _arguments, _build, argv)


if __name__ == "__main__":
    sys.exit(main())
