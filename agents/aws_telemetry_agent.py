"""``AWSTelemetryAgent``: AWS daily cost from Cost Explorer, plus EC2, SageMaker and S3 metrics, pushed to OpenFinOps.

**Cost (billed).** Each cycle runs the ``aws_cost_explorer`` collector of the DAGs (only its cost pass, GroupBy
LINKED_ACCOUNT x SERVICE: the breakdown passes re-slice the same spend and would be counted twice) over the last
``lookback_days`` days. Each group is a ``cost_records`` record: provider ``AWS``, the service, ``cost`` =
UnblendedCost (the billed amount, exact decimal), its currency, the day (``timestamp`` .. ``period_end``),
``account_id``, usage quantity and unit; tags keep the amortized and net amortized cost, the account name and whether
Cost Explorer still calls the day ``estimated``. :meth:`AWSTelemetryAgent.get_cost_and_usage` answers the guide's
per-day question from the same collector.

**Metrics (the original guide's methods).** :meth:`~AWSTelemetryAgent.collect_ec2_metrics`,
:meth:`~AWSTelemetryAgent.collect_sagemaker_metrics` and :meth:`~AWSTelemetryAgent.collect_s3_metrics` read
CloudWatch and return the guide's dicts; each call also pushes what it read as ``metrics`` records (names
``aws_ec2_*``, ``aws_sagemaker_*``, ``aws_s3_*``) when the agent has a server. The cycle (``--once``,
``run_continuous``, ``start_collection``) collects the ``services`` given (default ``ec2``, ``sagemaker``, ``s3``,
the original ``telemetry.yaml``'s list) beside the costs; one service failing (e.g. a missing IAM permission) is logged
and does not stop the others.

- **No datapoint is not zero.** A value CloudWatch has no datapoint for in the window (memory without the CloudWatch
  agent, an idle endpoint's latency, ...) and a price the table does not know is :data:`UNAVAILABLE` (shared by all
  agents, defined in :mod:`agents.collector_agent`): a falsy singleton that formats as ``n/a`` with any format spec
  (so the guide's ``f"{x:.1f}"`` prints ``n/a``) and refuses arithmetic and comparison (``TypeError``), so it is
  never silently taken for a number. It is never pushed.
- **Estimates are not bills.** ``cost_per_hour`` (EC2, SageMaker) and ``monthly_cost`` (S3) are ESTIMATES from AWS
  on-demand LIST prices (:data:`PRICES`, ``Decimal``, USD): no Savings Plans, Reserved Instances, Spot, credits,
  free tier, EBS, data transfer, requests or taxes. Billed cost is what Cost Explorer says (``cost_records``); the
  pushed estimates are named ``*_estimate`` and labelled ``estimate: true``.

Credentials: boto3's chain (environment, shared config / profile, instance or task role), or explicit
``aws_access_key_id`` / ``aws_secret_access_key`` / ``aws_session_token`` (the guide's ``session_token`` too). Never
logged. ``endpoint_url`` (or env ``AWS_ENDPOINT_URL``) sends every AWS call elsewhere (a proxy or a test double).

The server: ``openfinops_endpoint``, else env ``OPENFINOPS_ENDPOINT``. Without either (the guide's examples) the agent
only reads: the ``collect_*`` methods return their dicts and nothing is spooled or pushed.

    python -m agents.aws_telemetry_agent --openfinops-endpoint http://localhost:8081 --aws-region us-west-2 --once
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

from agents import cli
from agents.base import content_id
from agents.collector_agent import UNAVAILABLE, CollectorAgent, _Unavailable, checked_services, metric, tags
from collectors.core.base import Collector, Dataset, Reject, Window
from collectors.sources.aws_cost_explorer import CE_REGION, COST_DAILY, COST_PASS, CostExplorerCollector

log = logging.getLogger("agents")

SERVICES = ("ec2", "sagemaker", "s3")
GIB = 2**30  # S3 bills storage in binary gigabytes ("1 GB = 2^30 bytes", Amazon S3 pricing FAQ)
PERIOD = 300  # seconds: CloudWatch periods of the EC2 / SageMaker queries (EC2 basic monitoring is 5-minute)
_QUERIES_PER_CALL = 500  # GetMetricData's limit


# -- list prices -------------------------------------------------------------------------------------------------------
# USD, on-demand list prices as published by AWS (the same in us-east-1, us-east-2 and us-west-2 for every entry here):
#   EC2 (Linux/UNIX, shared tenancy, per hour): https://aws.amazon.com/ec2/pricing/on-demand/
#   SageMaker AI real-time inference (per instance hour): https://aws.amazon.com/sagemaker/pricing/
#   S3 storage (per GB-month, first 50 TB tier): https://aws.amazon.com/s3/pricing/
# Written 2026-12-03 from the published prices, without access to those pages from the build machine (no route
# out): check them before relying on an estimate. List prices change (rarely downwards, e.g. GPU families): a type
# or region not listed gives UNAVAILABLE, never a guess. Pass ``prices=`` (same shape) to add or override entries.
PRICES_AS_OF = "2026-12-03"
_LIST_PRICE_REGIONS = ("us-east-1", "us-east-2", "us-west-2")
_EC2_HOURLY = {
    "t3.nano": "0.0052", "t3.micro": "0.0104", "t3.small": "0.0208", "t3.medium": "0.0416", "t3.large": "0.0832",
    "t3.xlarge": "0.1664", "t3.2xlarge": "0.3328", "t2.micro": "0.0116", "t2.small": "0.023", "t2.medium": "0.0464",
    "m5.large": "0.096", "m5.xlarge": "0.192", "m5.2xlarge": "0.384", "m5.4xlarge": "0.768", "m6i.large": "0.096",
    "m6i.xlarge": "0.192", "m7g.large": "0.0816", "c5.large": "0.085", "c5.xlarge": "0.17", "c5.2xlarge": "0.34",
    "r5.large": "0.126", "r5.xlarge": "0.252", "g4dn.xlarge": "0.526", "g4dn.2xlarge": "0.752", "g5.xlarge": "1.006",
    "g5.2xlarge": "1.212"}
_SAGEMAKER_HOURLY = {"ml.t2.medium": "0.056", "ml.m5.large": "0.115", "ml.m5.xlarge": "0.23", "ml.c5.xlarge": "0.204",
                     "ml.g4dn.xlarge": "0.736"}
_S3_GB_MONTH = {"STANDARD": "0.023", "INTELLIGENT_TIERING_FA": "0.023", "STANDARD_IA": "0.0125",
                "INTELLIGENT_TIERING_IA": "0.0125", "ONEZONE_IA": "0.01", "GLACIER_IR": "0.004",
                "INTELLIGENT_TIERING_AIA": "0.004", "GLACIER": "0.0036", "INTELLIGENT_TIERING_AA": "0.0036",
                "DEEP_ARCHIVE": "0.00099", "INTELLIGENT_TIERING_DAA": "0.00099"}
PRICES: dict[str, dict[str, dict[str, Decimal]]] = {
    kind: {region: {k: Decimal(v) for k, v in table.items()} for region in _LIST_PRICE_REGIONS}
    for kind, table in (("ec2", _EC2_HOURLY), ("sagemaker", _SAGEMAKER_HOURLY), ("s3", _S3_GB_MONTH))}

# CloudWatch AWS/S3 BucketSizeBytes StorageType -> (storage class, price key). Overheads are billed bytes too: the
# 8 KB per archived object at the STANDARD rate, the 32 KB at the archive rate, the 128 KB minimum at the IA rates.
_S3_STORAGE_TYPES = {
    "StandardStorage": ("STANDARD", "STANDARD"),
    "StandardIAStorage": ("STANDARD_IA", "STANDARD_IA"), "StandardIASizeOverhead": ("STANDARD_IA", "STANDARD_IA"),
    "OneZoneIAStorage": ("ONEZONE_IA", "ONEZONE_IA"), "OneZoneIASizeOverhead": ("ONEZONE_IA", "ONEZONE_IA"),
    "ReducedRedundancyStorage": ("REDUCED_REDUNDANCY", None),
    "IntelligentTieringFAStorage": ("INTELLIGENT_TIERING", "INTELLIGENT_TIERING_FA"),
    "IntelligentTieringIAStorage": ("INTELLIGENT_TIERING", "INTELLIGENT_TIERING_IA"),
    "IntelligentTieringAIAStorage": ("INTELLIGENT_TIERING", "INTELLIGENT_TIERING_AIA"),
    "IntelligentTieringAAStorage": ("INTELLIGENT_TIERING", "INTELLIGENT_TIERING_AA"),
    "IntelligentTieringDAAStorage": ("INTELLIGENT_TIERING", "INTELLIGENT_TIERING_DAA"),
    "GlacierInstantRetrievalStorage": ("GLACIER_IR", "GLACIER_IR"),
    "GlacierIRSizeOverhead": ("GLACIER_IR", "GLACIER_IR"),
    "GlacierStorage": ("GLACIER", "GLACIER"), "GlacierObjectOverhead": ("GLACIER", "GLACIER"),
    "GlacierS3ObjectOverhead": ("GLACIER", "STANDARD"), "GlacierStagingStorage": ("GLACIER", "STANDARD"),
    "DeepArchiveStorage": ("DEEP_ARCHIVE", "DEEP_ARCHIVE"),
    "DeepArchiveObjectOverhead": ("DEEP_ARCHIVE", "DEEP_ARCHIVE"),
    "DeepArchiveS3ObjectOverhead": ("DEEP_ARCHIVE", "STANDARD"),
    "DeepArchiveStagingStorage": ("DEEP_ARCHIVE", "STANDARD"),
    "ExpressOneZone": ("EXPRESS_ONEZONE", None),
}
_EC2_BASIS = "on-demand list price, Linux/UNIX, shared tenancy, compute only"


class AWSTelemetryAgent(CollectorAgent):
    """``AWSTelemetryAgent(aws_access_key_id=..., aws_secret_access_key=..., region="us-west-2")`` (the guide) or
    ``AWSTelemetryAgent(openfinops_endpoint, aws_region, ...)`` (the agent command line). ``region`` and
    ``aws_region`` are the same (default us-east-1); ``session_token`` is ``aws_session_token``. ``services``: the
    metric services each cycle collects beside the costs (default :data:`SERVICES`; ``[]`` for costs only).
    ``metrics_window_minutes``: the CloudWatch window of the EC2 and SageMaker metrics (default 60). ``prices``:
    list prices added to / overriding :data:`PRICES` (same shape)."""

    agent_type = "aws_telemetry"

    def __init__(self, openfinops_endpoint: str | None = None, aws_region: str | None = None, *,
                 region: str | None = None, aws_access_key_id: str | None = None,
                 aws_secret_access_key: str | None = None, aws_session_token: str | None = None,
                 session_token: str | None = None, endpoint_url: str | None = None, profile_name: str | None = None,
                 ce_client: Any = None, services: Iterable[str] | None = None, metrics_window_minutes: int = 60,
                 prices: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None, **kwargs: Any) -> None:
        if aws_region and region and aws_region != region:
            raise ValueError(f"region {region!r} and aws_region {aws_region!r}: give one")
        if aws_session_token and session_token and aws_session_token != session_token:
            raise ValueError("session_token and aws_session_token differ: give one")
        self.aws_region = aws_region or region or "us-east-1"
        kwargs.setdefault("metadata", {"aws_region": self.aws_region})
        super().__init__(openfinops_endpoint or os.environ.get("OPENFINOPS_ENDPOINT") or None, **kwargs)
        if self.offline:
            log.info("%s: no OpenFinOps endpoint (openfinops_endpoint or OPENFINOPS_ENDPOINT): metrics are collected "
                     "and returned, nothing is pushed", self.agent_type)
        self._credentials = {"aws_access_key_id": aws_access_key_id, "aws_secret_access_key": aws_secret_access_key,
                             "aws_session_token": aws_session_token or session_token}
        self.profile_name = profile_name
        self.endpoint_url = endpoint_url
        self.ce_client = ce_client
        self.services = checked_services(services, SERVICES, default=SERVICES)
        if not isinstance(metrics_window_minutes, int) or metrics_window_minutes < PERIOD // 60:
            raise ValueError(f"metrics_window_minutes: expected an integer >= {PERIOD // 60}, "
                             f"got {metrics_window_minutes!r}")
        self.metrics_window = timedelta(minutes=metrics_window_minutes)
        self.prices = {kind: {r: dict(t) for r, t in regions.items()} for kind, regions in PRICES.items()}
        for kind, regions in (prices or {}).items():
            for where, table in regions.items():
                self.prices.setdefault(kind, {}).setdefault(where, {}).update(
                    {k: Decimal(str(v)) for k, v in table.items()})
        self._session: Any = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    # -- AWS clients ---------------------------------------------------------------------------------------------------
    def client(self, service: str, region: str | None = None) -> Any:
        """A boto3 client of this agent's credentials (one per service and region, reused)."""
        region = region or self.aws_region
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                import boto3
                from botocore.config import Config

                if self._session is None:
                    self._session = boto3.session.Session(profile_name=self.profile_name,
                                                          **{k: v for k, v in self._credentials.items() if v})
                self._clients[key] = self._session.client(
                    service, region_name=region, endpoint_url=self.endpoint_url,
                    config=Config(retries={"mode": "standard", "total_max_attempts": 3}))
            return self._clients[key]

    def make_collectors(self) -> list[tuple[str, Collector]]:
        client = self.ce_client
        if client is None:
            region = "cn-northwest-1" if self.aws_region.startswith("cn-") else CE_REGION  # Cost Explorer's home
            client = self.client("ce", region)
        return [("aws_cost_explorer", CostExplorerCollector("agent-aws-cost-explorer", {"extra_group_bys": []},
                                                            clients={"ce": client}))]

    def to_records(self, source: str, dataset: Dataset, row: dict[str, Any]) -> dict[str, list[dict]]:
        if row["grouping"] != COST_PASS.grouping:
            return {}
        return {"cost_records": [{
            "timestamp": row["time_period_start"], "period_end": row["time_period_end"], "provider": "AWS",
            "service": row["service"] or "(no service)", "cost": row["unblended_cost"], "currency": row["currency"],
            "account_id": row["linked_account_id"], "usage_quantity": row["usage_quantity"],
            "usage_unit": row["usage_unit"],
            "tags": tags(source="aws_cost_explorer", cost_metric="UnblendedCost",
                         amortized_cost=row["amortized_cost"], net_amortized_cost=row["net_amortized_cost"],
                         account_name=row["linked_account_name"], estimated=row["estimated"])}]}

    # -- the cycle -----------------------------------------------------------------------------------------------------
    def service_readers(self) -> Mapping[str, Callable[[], tuple[Any, list[dict]]]]:
        return {"ec2": self._ec2, "sagemaker": self._sagemaker, "s3": self._s3}

    def service_scope(self) -> str:
        return self.aws_region

    def _deliver(self, service: str, records: list[dict[str, Any]]) -> None:
        if records and not self.offline:
            batch = {"metrics": records}
            if not self.push({**batch, "batch_id": content_id(f"{self.agent_type}-{service}-{self.aws_region}",
                                                              batch)}):
                log.warning("%s: %d %s metric(s) not delivered yet: kept in the spool %s", self.agent_type,
                            len(records), service, self.spool.outbox)

    # -- the guide's methods -------------------------------------------------------------------------------------------
    def collect_ec2_metrics(self, instance_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """EC2 instances (``instance_ids``, or every instance of the region that is not terminated), by instance id.

        Each dict: ``instance_id``, ``instance_type``, ``state``, ``availability_zone``, ``platform``;
        ``cpu_utilization`` (%, mean of CloudWatch ``AWS/EC2 CPUUtilization`` over the window: its Sum over its
        SampleCount), ``memory_utilization`` (%, the CloudWatch agent's ``CWAgent mem_used_percent``, the same way;
        :data:`UNAVAILABLE` where the agent does not publish it), ``network_in`` / ``network_out`` (bytes in the window,
        the Sum of ``NetworkIn`` / ``NetworkOut``, an int); ``cost_per_hour`` (Decimal USD, an ESTIMATE: the
        on-demand list price of a running Linux/UNIX shared-tenancy instance, ``Decimal(0)`` when it is not running,
        :data:`UNAVAILABLE` for another platform, tenancy, Spot, or a type or region not in the price table);
        ``window_start`` / ``window_end`` (the last ``metrics_window_minutes``, whole 5-minute periods). A metric
        without a datapoint in the window is :data:`UNAVAILABLE`. Pushed as ``aws_ec2_*`` metrics when the agent has a
        server."""
        rows, records = self._ec2(instance_ids)
        self._deliver("ec2", records)
        return rows

    def collect_sagemaker_metrics(self, endpoint_name: str | None = None) -> list[dict[str, Any]]:
        """SageMaker endpoints (``endpoint_name``, or every endpoint of the region), by name.

        Each dict: ``name``, ``status``, ``instance_count``; over the window, summed over the endpoint's variants from
        ``AWS/SageMaker``: ``invocations``, ``4xx_errors``, ``5xx_errors`` (Sums of ``Invocations``,
        ``Invocation4XXErrors``, ``Invocation5XXErrors``, ints) and ``model_latency_ms`` (mean ``ModelLatency`` per
        invocation, CloudWatch's microseconds / 1000); a metric without a datapoint is :data:`UNAVAILABLE` (an idle
        endpoint publishes none). ``cost_per_hour``: an ESTIMATE, the instance-hour list price x the current instance
        count of each variant (:data:`UNAVAILABLE` for serverless variants and types not in the price table)."""
        rows, records = self._sagemaker(endpoint_name)
        self._deliver("sagemaker", records)
        return rows

    def collect_s3_metrics(self, bucket_names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """S3 buckets (``bucket_names``, or every bucket of the account), by name, from the daily CloudWatch storage
        metrics (``AWS/S3``, the latest day of the last three; S3 publishes them once a day).

        Each dict: ``name``, ``region``, ``as_of`` (the day of the datapoint), ``size_bytes`` (all storage types,
        overheads included: the billed bytes) and ``size_gb`` (Decimal, GB of 2^30 bytes as S3 bills), ``object_count``
        (``NumberOfObjects``), ``storage_class`` (the storage class, or the classes holding bytes comma-separated,
        largest first), ``storage_classes`` (bytes per class), ``monthly_cost`` (Decimal USD, an ESTIMATE: storage
        only, bytes x the first-tier list price per GB-month of each class; :data:`UNAVAILABLE` if a class has no
        price). Without a datapoint the values are :data:`UNAVAILABLE`."""
        rows, records = self._s3(bucket_names)
        self._deliver("s3", records)
        return rows

    def get_cost_and_usage(self, start_date: date | str, end_date: date | str,
                           granularity: str = "DAILY") -> dict[date, dict[str, Any]]:
        """Billed cost per day (``DAILY``) or calendar month (``MONTHLY``, keyed by the month's first day) from Cost
        Explorer, ``start_date`` to ``end_date`` BOTH INCLUSIVE (the guide's Sept 1 .. Sept 30 is September).

        Each value: ``total`` (Decimal: the exact sum of UnblendedCost over accounts and services, credits negative),
        ``currency``, ``estimated`` (Cost Explorer may still restate the period), ``by_service`` (Decimal per service).
        Periods Cost Explorer reports no cost for are absent. ``HOURLY`` is not offered (Cost Explorer's hourly data
        is an opt-in of the last 14 days; use the CUR 2.0 export). Read only: nothing is pushed."""
        if granularity not in ("DAILY", "MONTHLY"):
            raise ValueError(f"granularity {granularity!r}: DAILY or MONTHLY (HOURLY is not offered: Cost Explorer "
                             f"keeps hourly data only for opted-in accounts' last 14 days)")
        start, end = _day(start_date, "start_date"), _day(end_date, "end_date")
        if end < start:
            raise ValueError(f"end_date {end} is before start_date {start}")
        collector = next(c for name, c in self.sources() if name == "aws_cost_explorer")
        out: dict[date, dict[str, Any]] = {}
        for item in collector.collect(COST_DAILY, Window.from_dates(start, end + timedelta(days=1))):
            if isinstance(item, Reject):  # a partial total would be a wrong total
                raise ValueError(f"Cost Explorer answered a record that cannot be read ({item.record_ref}: "
                                 f"{item.field}: {item.reason}); no total given")
            row = dict(zip(COST_DAILY.column_names, item, strict=True))
            day = row["time_period_start"]
            key = day.replace(day=1) if granularity == "MONTHLY" else day
            entry = out.setdefault(key, {"total": Decimal(0), "currency": row["currency"], "estimated": False,
                                         "by_service": {}})
            if entry["currency"] != row["currency"]:
                raise ValueError(f"{key}: costs in {entry['currency']} and {row['currency']}: not summed")
            service = row["service"] or "(no service)"
            entry["total"] += row["unblended_cost"]
            entry["by_service"][service] = entry["by_service"].get(service, Decimal(0)) + row["unblended_cost"]
            entry["estimated"] = entry["estimated"] or bool(row["estimated"])
        return dict(sorted(out.items()))

    # -- readers: (the guide's dicts, metric records) ------------------------------------------------------------------
    def _window(self) -> tuple[datetime, datetime]:
        now = self._now() if callable(self._now) else datetime.now(UTC)
        end = now.astimezone(UTC).replace(second=0, microsecond=0)
        end -= timedelta(minutes=end.minute % (PERIOD // 60))
        return end - self.metrics_window, end

    def _price(self, kind: str, key: str, region: str | None = None) -> Decimal | _Unavailable:
        return self.prices.get(kind, {}).get(region or self.aws_region, {}).get(key, UNAVAILABLE)

    def _ec2(self, instance_ids: Iterable[str] | None = None) -> tuple[list[dict], list[dict]]:
        ec2 = self.client("ec2")
        if instance_ids is None:
            params: dict[str, Any] = {"Filters": [{"Name": "instance-state-name", "Values": [
                "pending", "running", "shutting-down", "stopping", "stopped"]}]}
        else:
            ids = [instance_ids] if isinstance(instance_ids, str) else list(instance_ids)
            if not ids:
                return [], []
            params = {"InstanceIds": ids}
        instances = [i for page in ec2.get_paginator("describe_instances").paginate(**params)
                     for r in page.get("Reservations") or [] for i in r.get("Instances") or []]
        instances.sort(key=lambda i: i["InstanceId"])
        start, end = self._window()
        memory_dims = self._memory_dimensions({i["InstanceId"] for i in instances}) if instances else {}
        queries = []
        for n, instance in enumerate(instances):
            by_id = [{"Name": "InstanceId", "Value": instance["InstanceId"]}]
            queries += [(f"cpu_sum_{n}", "AWS/EC2", "CPUUtilization", by_id, "Sum"),
                        (f"cpu_n_{n}", "AWS/EC2", "CPUUtilization", by_id, "SampleCount"),
                        (f"net_in_{n}", "AWS/EC2", "NetworkIn", by_id, "Sum"),
                        (f"net_out_{n}", "AWS/EC2", "NetworkOut", by_id, "Sum")]
            if instance["InstanceId"] in memory_dims:
                dims = memory_dims[instance["InstanceId"]]
                queries += [(f"mem_sum_{n}", "CWAgent", "mem_used_percent", dims, "Sum"),
                            (f"mem_n_{n}", "CWAgent", "mem_used_percent", dims, "SampleCount")]
        data = _metric_data(self.client("cloudwatch"), queries, start, end, PERIOD)
        rows, records = [], []
        for n, instance in enumerate(instances):
            state = (instance.get("State") or {}).get("Name")
            platform = instance.get("PlatformDetails") or ("Windows" if instance.get("Platform") == "windows"
                                                           else "Linux/UNIX")  # AWS leaves Platform blank for Linux
            tenancy = (instance.get("Placement") or {}).get("Tenancy") or "default"
            if state != "running":
                cost: Decimal | _Unavailable = Decimal(0)  # EC2 bills instance hours only while running
            elif platform != "Linux/UNIX" or tenancy != "default" or instance.get("InstanceLifecycle"):
                cost = UNAVAILABLE  # the table holds Linux/UNIX, shared-tenancy on-demand prices only
            else:
                cost = self._price("ec2", instance.get("InstanceType", ""))
            row = {"instance_id": instance["InstanceId"], "instance_type": instance.get("InstanceType"),
                   "state": state, "availability_zone": (instance.get("Placement") or {}).get("AvailabilityZone"),
                   "platform": platform,
                   "cpu_utilization": _mean(data, f"cpu_sum_{n}", f"cpu_n_{n}"),
                   "memory_utilization": _mean(data, f"mem_sum_{n}", f"mem_n_{n}"),
                   "network_in": _total(data, f"net_in_{n}"), "network_out": _total(data, f"net_out_{n}"),
                   "cost_per_hour": cost, "window_start": start, "window_end": end}
            rows.append(row)
            labels = {"source": "aws_ec2", "region": self.aws_region, "instance_id": row["instance_id"],
                      "instance_type": row["instance_type"], "state": state,
                      "availability_zone": row["availability_zone"], "window_start": start.isoformat(),
                      "window_seconds": int(self.metrics_window.total_seconds())}
            for name, key, unit in (("aws_ec2_cpu_utilization", "cpu_utilization", "Percent"),
                                    ("aws_ec2_memory_utilization", "memory_utilization", "Percent"),
                                    ("aws_ec2_network_in_bytes", "network_in", "Bytes"),
                                    ("aws_ec2_network_out_bytes", "network_out", "Bytes")):
                if row[key] is not UNAVAILABLE:
                    records.append(metric(name, row[key], end, unit, **labels))
            if cost is not UNAVAILABLE:
                records.append(metric("aws_ec2_cost_per_hour_estimate", cost, end, "USD/hour", **labels,
                                      estimate=True, price_basis=_EC2_BASIS, prices_as_of=PRICES_AS_OF))
        log.info("%s: %d EC2 instance(s) in %s", self.agent_type, len(rows), self.aws_region)
        return rows, records

    def _memory_dimensions(self, instance_ids: set[str]) -> dict[str, list[dict[str, str]]]:
        """The dimension set the CloudWatch agent publishes ``mem_used_percent`` under, per instance (InstanceId
        alone when that exists, else the first set naming the instance)."""
        found: dict[str, list[dict[str, str]]] = {}
        pages = self.client("cloudwatch").get_paginator("list_metrics").paginate(
            Namespace="CWAgent", MetricName="mem_used_percent")
        for page in pages:
            for item in page.get("Metrics") or []:
                dims = item.get("Dimensions") or []
                instance = next((d["Value"] for d in dims if d["Name"] == "InstanceId"), None)
                if instance in instance_ids and (instance not in found or len(dims) == 1):
                    found[instance] = dims
        return found

    def _sagemaker(self, endpoint_name: str | None = None) -> tuple[list[dict], list[dict]]:
        sm = self.client("sagemaker")
        if endpoint_name is None:
            names = sorted(e["EndpointName"] for page in sm.get_paginator("list_endpoints").paginate()
                           for e in page.get("Endpoints") or [])
        else:
            names = [endpoint_name]
        start, end = self._window()
        endpoints, queries = [], []
        for n, name in enumerate(names):
            described = sm.describe_endpoint(EndpointName=name)
            config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
            types = {v["VariantName"]: v.get("InstanceType") for v in config.get("ProductionVariants") or []}
            variants = described.get("ProductionVariants") or []
            endpoints.append((name, described, types, variants))
            for v, variant in enumerate(variants):
                dims = [{"Name": "EndpointName", "Value": name},
                        {"Name": "VariantName", "Value": variant["VariantName"]}]
                for key, metric_name, stat in (("inv", "Invocations", "Sum"), ("e4", "Invocation4XXErrors", "Sum"),
                                               ("e5", "Invocation5XXErrors", "Sum"), ("lat_sum", "ModelLatency", "Sum"),
                                               ("lat_n", "ModelLatency", "SampleCount")):
                    queries.append((f"{key}_{n}_{v}", "AWS/SageMaker", metric_name, dims, stat))
        data = _metric_data(self.client("cloudwatch"), queries, start, end, PERIOD)
        rows, records = [], []
        for n, (name, described, types, variants) in enumerate(endpoints):
            keys = range(len(variants))
            cost: Decimal | _Unavailable = Decimal(0)
            count = 0
            for variant in variants:
                instances = variant.get("CurrentInstanceCount")
                price = self._price("sagemaker", types.get(variant["VariantName"]) or "")
                if instances is None or price is UNAVAILABLE or cost is UNAVAILABLE:
                    cost = UNAVAILABLE  # serverless (no instances) or a type not in the table
                else:
                    cost += price * instances
                count += instances or 0
            latency_sum = _total(data, *(f"lat_sum_{n}_{v}" for v in keys), integral=False)
            latency_n = _total(data, *(f"lat_n_{n}_{v}" for v in keys), integral=False)
            latency = (UNAVAILABLE if latency_sum is UNAVAILABLE or not latency_n
                       else latency_sum / latency_n / 1000)  # CloudWatch reports ModelLatency in microseconds
            row = {"name": name, "status": described.get("EndpointStatus"), "instance_count": count,
                   "invocations": _total(data, *(f"inv_{n}_{v}" for v in keys)), "model_latency_ms": latency,
                   "4xx_errors": _total(data, *(f"e4_{n}_{v}" for v in keys)),
                   "5xx_errors": _total(data, *(f"e5_{n}_{v}" for v in keys)),
                   "cost_per_hour": cost, "window_start": start, "window_end": end}
            rows.append(row)
            labels = {"source": "aws_sagemaker", "region": self.aws_region, "endpoint_name": name,
                      "instance_count": count, "window_start": start.isoformat(),
                      "window_seconds": int(self.metrics_window.total_seconds())}
            for metric_name, key, unit in (("aws_sagemaker_invocations", "invocations", "Count"),
                                           ("aws_sagemaker_model_latency_ms", "model_latency_ms", "Milliseconds"),
                                           ("aws_sagemaker_4xx_errors", "4xx_errors", "Count"),
                                           ("aws_sagemaker_5xx_errors", "5xx_errors", "Count")):
                if row[key] is not UNAVAILABLE:
                    records.append(metric(metric_name, row[key], end, unit, **labels))
            if cost is not UNAVAILABLE:
                records.append(metric("aws_sagemaker_cost_per_hour_estimate", cost, end, "USD/hour", **labels,
                                      estimate=True, price_basis="on-demand real-time inference list price",
                                      prices_as_of=PRICES_AS_OF))
        log.info("%s: %d SageMaker endpoint(s) in %s", self.agent_type, len(rows), self.aws_region)
        return rows, records

    def _s3(self, bucket_names: Iterable[str] | None = None) -> tuple[list[dict], list[dict]]:
        s3 = self.client("s3")
        if bucket_names is None:
            names = sorted(b["Name"] for b in s3.list_buckets().get("Buckets") or [])
        else:
            names = [bucket_names] if isinstance(bucket_names, str) else list(bucket_names)
        now = self._now() if callable(self._now) else datetime.now(UTC)
        end = now.astimezone(UTC).replace(second=0, microsecond=0)
        start = datetime.combine(end.date() - timedelta(days=3), datetime.min.time(), UTC)
        rows, records = [], []
        for name in names:
            location = s3.get_bucket_location(Bucket=name).get("LocationConstraint")
            region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
            cloudwatch = self.client("cloudwatch", region)
            listed = [m for page in cloudwatch.get_paginator("list_metrics").paginate(
                Namespace="AWS/S3", Dimensions=[{"Name": "BucketName", "Value": name}])
                for m in page.get("Metrics") or [] if m["MetricName"] in ("BucketSizeBytes", "NumberOfObjects")]
            queries = []
            for i, item in enumerate(listed):  # the dimensions exactly as CloudWatch lists them
                storage = next((d["Value"] for d in item["Dimensions"] if d["Name"] == "StorageType"), "")
                if item["MetricName"] == "BucketSizeBytes" or storage == "AllStorageTypes":
                    queries.append((f"q{i}", "AWS/S3", item["MetricName"], item["Dimensions"], "Average"))
            data = _metric_data(cloudwatch, queries, start, end, 86400, latest=True)
            by_class: dict[str, int] = {}
            cost: Decimal | _Unavailable = Decimal(0)
            objects: int | _Unavailable = UNAVAILABLE
            as_of = None
            for key, _, metric_name, dims, _ in queries:
                if key not in data:
                    continue
                when, value = data[key]
                as_of = max(as_of or when, when)
                if metric_name == "NumberOfObjects":
                    objects = int(value)
                    continue
                storage = next(d["Value"] for d in dims if d["Name"] == "StorageType")
                storage_class, price_key = _S3_STORAGE_TYPES.get(storage, (storage, None))
                by_class[storage_class] = by_class.get(storage_class, 0) + int(value)
                price = self._price("s3", price_key or "", region)
                if price is UNAVAILABLE or cost is UNAVAILABLE:
                    cost = UNAVAILABLE
                else:
                    with localcontext() as ctx:
                        ctx.prec = 60  # exact: bytes / 2^30 has at most 30 decimals
                        cost += Decimal(int(value)) / GIB * price
            size = sum(by_class.values())
            classes = sorted(by_class.items(), key=lambda kv: (-kv[1], kv[0]))
            with localcontext() as ctx:
                ctx.prec = 60
                size_gb = Decimal(size) / GIB if by_class else UNAVAILABLE
            row = {"name": name, "region": region, "as_of": as_of.date() if as_of else None,
                   "size_bytes": size if by_class else UNAVAILABLE, "size_gb": size_gb, "object_count": objects,
                   "storage_class": ",".join(c for c, b in classes if b) or (classes[0][0] if classes else UNAVAILABLE),
                   "storage_classes": dict(classes), "monthly_cost": cost if by_class else UNAVAILABLE}
            rows.append(row)
            if as_of is None:
                continue
            labels = {"source": "aws_s3", "region": region, "bucket": name, "storage_class": str(row["storage_class"])}
            if by_class:
                records.append(metric("aws_s3_size_bytes", size, as_of, "Bytes", **labels))
            if objects is not UNAVAILABLE:
                records.append(metric("aws_s3_object_count", objects, as_of, "Count", **labels))
            if by_class and cost is not UNAVAILABLE:
                records.append(metric("aws_s3_monthly_cost_estimate", cost, as_of, "USD/month", **labels,
                                      estimate=True, price_basis="storage list price per GB-month, first tier",
                                      prices_as_of=PRICES_AS_OF))
        log.info("%s: %d S3 bucket(s)", self.agent_type, len(rows))
        return rows, records


def _day(value: date | str, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name} {value!r}: expected a date (YYYY-MM-DD)") from None


def _metric_data(cloudwatch: Any, queries: list[tuple[str, str, str, list[dict[str, str]], str]], start: datetime,
                 end: datetime, period: int, *, latest: bool = False) -> dict[str, Any]:
    """GetMetricData for (id, namespace, metric, dimensions, stat) queries (ids: ``^[a-z][a-zA-Z0-9_]*$``), up to 500
    a call, every page. Returns
    id -> the datapoint values (a query without datapoints is absent), or with ``latest`` id -> (time, value) of the
    newest datapoint."""
    out: dict[str, Any] = {}
    for first in range(0, len(queries), _QUERIES_PER_CALL):
        chunk = [{"Id": key, "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dims}, "Period": period,
            "Stat": stat}} for key, namespace, name, dims, stat in queries[first:first + _QUERIES_PER_CALL]]
        token = None
        while True:
            answer = cloudwatch.get_metric_data(MetricDataQueries=chunk, StartTime=start, EndTime=end,
                                                ScanBy="TimestampAscending", **({"NextToken": token} if token else {}))
            for result in answer.get("MetricDataResults") or []:
                points = list(zip(result.get("Timestamps") or [], result.get("Values") or [], strict=False))
                if not points:
                    continue
                if latest:
                    newest = max(points, key=lambda p: p[0])
                    if result["Id"] not in out or newest[0] > out[result["Id"]][0]:
                        out[result["Id"]] = newest
                else:
                    out.setdefault(result["Id"], []).extend(v for _, v in points)
            token = answer.get("NextToken")
            if not token:
                break
    return out


def _total(data: Mapping[str, list[float]], *keys: str, integral: bool = True) -> Any:
    """The sum of the datapoints of the queries (an int for counts and bytes); UNAVAILABLE when none has any."""
    values = [v for key in keys for v in data.get(key, [])]
    if not values:
        return UNAVAILABLE
    total = sum(values)
    return int(total) if integral and float(total).is_integer() else total


def _mean(data: Mapping[str, list[float]], sum_key: str, count_key: str) -> Any:
    """Sum over SampleCount: the mean of every sample in the window (not a mean of period means)."""
    total, count = _total(data, sum_key, integral=False), _total(data, count_key, integral=False)
    if total is UNAVAILABLE or not count:
        return UNAVAILABLE
    return total / count


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--aws-region", help="the agent's region (default us-east-1; Cost Explorer itself is global)")
    p.add_argument("--aws-profile", help="a profile of the shared AWS config")
    p.add_argument("--aws-endpoint-url", help="another AWS endpoint for every call (a proxy or a test double)")
    p.add_argument("--aws-services", help=f"metric services beside the costs, comma-separated (default "
                                          f"{','.join(SERVICES)}; 'none' for costs only)")


def _build(args: argparse.Namespace, options: dict[str, Any], common: dict[str, Any]) -> AWSTelemetryAgent:
    return AWSTelemetryAgent(
        aws_region=cli.first(args.aws_region, options.get("region"), "us-east-1"),
        aws_access_key_id=cli.first(options.get("access_key_id")),
        aws_secret_access_key=cli.first(options.get("secret_access_key")),
        aws_session_token=cli.first(options.get("session_token")),
        profile_name=cli.first(args.aws_profile, options.get("profile")),
        endpoint_url=cli.first(args.aws_endpoint_url, options.get("endpoint_url")),
        services=cli.services(args.aws_services, options, "aws", SERVICES), **common)


def main(argv: list[str] | None = None) -> int:
    return cli.main("aws_telemetry_agent", "aws", "Push AWS Cost Explorer costs and EC2 / SageMaker / S3 metrics to "
                    "OpenFinOps", _arguments, _build, argv)


if __name__ == "__main__":
    sys.exit(main())
