"""The ``demo`` source: deterministic, realistic multi-provider data for any window, with no credentials.

Every figure is a pure function of (seed, dataset, day): the same window always yields the same records, so
re-loading a window never changes totals. Money is generated as integer micro-units and emitted as ``Decimal``.

What it produces (options ``datasets`` and ``providers`` select a subset):
- ``cost_line_items``: FOCUS 1.2 daily cost lines for AWS, Azure and GCP, written to ``raw.focus_cost_line_items``
  as a FOCUS export would be (the FOCUS models serve both) — several billing/sub accounts, services,
  regions, ``team``/``env`` tags with inconsistent key and value casing (and some untagged resources), daily credits
  (negative), and one AWS Savings Plan: a monthly purchase (billed, not effective) whose amortised cost lands on the
  covered EC2 usage (effective, not billed); and hourly lines per GPU cluster node (``resource_id`` = the node id of
  ``node_metrics``, tag ``cluster``) on the cluster's provider.
- ``databricks_usage``: Databricks' ``system.billing.usage`` and ``system.billing.list_prices`` rows, and the
  scheduled jobs behind the jobs compute (``system.lakeflow.jobs`` and ``job_run_timeline``: successes, failures,
  repaired runs; the usage carries each run's ``job_run_id``), written to the ``databricks_billing`` source's raw
  tables in its shape (the demo is a fake Databricks workspace: one staging model per raw table serves both).
- ``snowflake_metering_daily``: ``ACCOUNT_USAGE.METERING_DAILY_HISTORY`` rows, with the 10 % cloud-services rule,
  the warehouse-hours they sum (``WAREHOUSE_METERING_HISTORY``) and the queries that ran in them
  (``QUERY_HISTORY``), in ``snowflake_billing``'s raw tables and shape (Enterprise edition: priced by the list-price
  seed).
- ``node_metrics``: hourly samples for every node of every configured cluster (the last node of each cluster is parked,
  nearly idle, at weekends: the under-used capacity the infrastructure view shows).
- ``llm_training_metrics``: step metrics (every 10 minutes) for a few training runs on those clusters.

``scale`` multiplies the number of cost resources (≈ 500 cost rows per day at scale 1; scale 2000 ≈ 1M rows/day).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from collectors.core.base import Collector, Column, Dataset, Reject, Window
from collectors.core.focus_schema import FOCUS_COST_LINE_ITEMS

# The demo impersonates these vendors: it writes their raw tables, so it uses their dataset definitions.
from collectors.sources.databricks_billing import JOB_RUN_TIMELINE as DATABRICKS_JOB_RUN_TIMELINE
from collectors.sources.databricks_billing import JOBS as DATABRICKS_JOBS
from collectors.sources.databricks_billing import LIST_PRICES as DATABRICKS_LIST_PRICES
from collectors.sources.databricks_billing import USAGE as DATABRICKS_USAGE
from collectors.sources.snowflake_billing import METERING_DAILY as SNOWFLAKE_METERING_DAILY
from collectors.sources.snowflake_billing import QUERY_HISTORY as SNOWFLAKE_QUERY_HISTORY
from collectors.sources.snowflake_billing import WAREHOUSE_METERING as SNOWFLAKE_WAREHOUSE_METERING

EPOCH = date(2026, 1, 1)  # trend reference; any date works, before or after
MICRO = Decimal("0.000001")

# The demo is a FOCUS export (as `focus_file` and `aws_data_export` load them): its cloud cost lines land in
# raw.focus_cost_line_items in that table's shape. One difference: it delivers (and replaces) charge days, not
# whole billing periods, so its Dataset is the FOCUS one keyed on charge_period_start. Rows of a source are only
# ever replaced by that source's own loads, so the two keys never meet.
COST_LINE_ITEMS = replace(FOCUS_COST_LINE_ITEMS, name="cost_line_items", time_column="charge_period_start")
# The generator below builds a line in this order; _focus_record() maps it onto the FOCUS columns. line_item_id
# (<resource>:<charge start>) is no FOCUS column: it is kept in x_extensions as x_LineItemId.
_LINE_FIELDS = (
    "line_item_id", "charge_period_start", "charge_period_end", "billing_period_start", "billing_period_end",
    "provider_name", "publisher_name", "invoice_issuer_name", "billing_account_id", "billing_account_name",
    "sub_account_id", "sub_account_name", "service_name", "service_category", "region_id", "region_name",
    "resource_id", "resource_name", "sku_id", "charge_category", "charge_class", "charge_description",
    "charge_frequency", "pricing_category", "pricing_quantity", "pricing_unit", "list_unit_price",
    "contracted_unit_price", "billed_cost", "effective_cost", "list_cost", "contracted_cost", "billing_currency",
    "commitment_discount_id", "commitment_discount_type", "commitment_discount_category",
    "commitment_discount_status", "tags",
)
_FOCUS_POSITIONS = tuple(_LINE_FIELDS.index(c) if c in _LINE_FIELDS else None
                         for c in COST_LINE_ITEMS.column_names)
_FOCUS_EXTRA = {c: COST_LINE_ITEMS.column_names.index(c)
                for c in ("x_extensions", "focus_version", "source_file", "source_line")}

NODE_METRICS = Dataset(
    name="node_metrics",
    table="demo_node_metrics",
    time_column="sampled_at",
    columns=(
        Column("sampled_at", "timestamptz", nullable=False),
        Column("cluster_id", "text", nullable=False),
        Column("node_id", "text", nullable=False),
        Column("node_status", "text", nullable=False),
        Column("cpu_utilization_pct", "numeric"),
        Column("gpu_utilization_pct", "numeric"),
        Column("memory_utilization_pct", "numeric"),
        Column("gpu_memory_used_gb", "numeric"),
        Column("gpu_count", "integer"),
    ),
)

LLM_TRAINING_METRICS = Dataset(
    name="llm_training_metrics",
    table="demo_llm_training_metrics",
    time_column="logged_at",
    columns=(
        Column("logged_at", "timestamptz", nullable=False),
        Column("run_id", "text", nullable=False),
        Column("model_name", "text", nullable=False),
        Column("cluster_id", "text", nullable=False),
        Column("step", "bigint", nullable=False),
        Column("loss", "numeric"),
        Column("learning_rate", "numeric"),
        Column("tokens_per_second", "numeric"),
        Column("gpu_memory_used_gb", "numeric"),
        Column("gpu_count", "integer"),
    ),
)

# options.datasets names -> the raw tables each writes
DATASET_GROUPS: dict[str, tuple[Dataset, ...]] = {
    "cost_line_items": (COST_LINE_ITEMS,),
    "databricks_usage": (DATABRICKS_USAGE, DATABRICKS_LIST_PRICES, DATABRICKS_JOB_RUN_TIMELINE, DATABRICKS_JOBS),
    "snowflake_metering_daily": (SNOWFLAKE_METERING_DAILY, SNOWFLAKE_WAREHOUSE_METERING, SNOWFLAKE_QUERY_HISTORY),
    "node_metrics": (NODE_METRICS,),
    "llm_training_metrics": (LLM_TRAINING_METRICS,),
}
ALL_DATASETS = tuple(d for group in DATASET_GROUPS.values() for d in group)
DATABRICKS_ACCOUNT = "23e22ba4-87b9-4cc2-9770-d10b894b7118"
DATABRICKS_PRICES_FROM = datetime(2025, 1, 1, tzinfo=UTC)
SNOWFLAKE_ACCOUNT = "EXAMPLECORP_PROD"
# (id, name, credits per hour = size, hours it runs, users): an X-LARGE transformation warehouse overnight and a
# LARGE BI warehouse in office hours.
SNOWFLAKE_WAREHOUSES = (
    ("1", "TRANSFORM_WH", Decimal(16), tuple(range(0, 7)), ("DBT_SVC", "AIRFLOW_SVC")),
    ("2", "BI_WH", Decimal(8), tuple(range(7, 21)), ("ALICE", "BOB", "CAROL", "LOOKER_SVC")),
)
# One scheduled job per workspace and 6-hour block runs on the jobs compute of that block (its usage records carry
# usage_metadata.job_id / job_run_id, as Databricks' do); jobs are redeployed (system.lakeflow.jobs changes) on the 1st.
DATABRICKS_JOB_NAMES = {"1234567890123456": ("ingest-orders", "build-marts", "refresh-features", "export-reports"),
                        "6543210987654321": ("train-ranker", "score-batch", "embed-catalogue", "evaluate-models")}
DATABRICKS_SKUS = (("PREMIUM_JOBS_COMPUTE", Decimal("0.15"), "JOBS"),
                   ("PREMIUM_ALL_PURPOSE_COMPUTE", Decimal("0.55"), "ALL_PURPOSE"),
                   ("PREMIUM_SQL_PRO_COMPUTE", Decimal("0.55"), "SQL"))

# ---------------------------------------------------------------------------------------------------------------
# The cost catalogue: who exists (accounts, services, regions, tags). Fixed; only daily figures vary.

TEAMS = ("payments", "platform", "data", "ml", "web")
# Inconsistent casing as found in real exports: the marts normalise keys and values case-insensitively.
TEAM_KEYS = ("team", "Team", "TEAM")
ENV_KEYS = ("env", "Env", "environment")
ENVS = ("prod", "staging", "dev")


@dataclass(frozen=True)
class ProviderSpec:
    key: str
    provider_name: str
    billing_account_id: str
    billing_account_name: str
    sub_accounts: tuple[tuple[str, str, str], ...]  # (id, name, env)
    regions: tuple[tuple[str, str], ...]  # (id, name)
    services: tuple[tuple[str, str, str, int], ...]  # (name, category, pricing unit, base daily micro-USD per resource)
    credit_description: str
    credit_daily_micro: int


PROVIDERS: dict[str, ProviderSpec] = {
    "aws": ProviderSpec(
        key="aws", provider_name="AWS", billing_account_id="100000000001", billing_account_name="Example Corp AWS",
        sub_accounts=(("210000000011", "prod-platform", "prod"), ("210000000012", "prod-data", "prod"),
                      ("210000000013", "staging", "staging"), ("210000000014", "sandbox", "dev")),
        regions=(("us-east-1", "US East (N. Virginia)"), ("eu-west-1", "Europe (Ireland)")),
        services=(("Amazon Elastic Compute Cloud", "Compute", "Hours", 42_000_000),
                  ("Amazon Simple Storage Service", "Storage", "GB-Mo", 9_000_000),
                  ("Amazon Relational Database Service", "Databases", "Hours", 21_000_000),
                  ("Amazon CloudFront", "Networking", "GB", 4_000_000),
                  ("AWS Lambda", "Compute", "Requests", 2_500_000),
                  ("Amazon SageMaker", "AI and Machine Learning", "Hours", 15_000_000),
                  ("Amazon CloudWatch", "Management and Governance", "Metrics", 1_800_000)),
        credit_description="AWS Activate promotional credit", credit_daily_micro=180_000_000,
    ),
    "azure": ProviderSpec(
        key="azure", provider_name="Microsoft Azure", billing_account_id="8611537",
        billing_account_name="Example Corp EA",
        sub_accounts=(("9b2f6c1e-0001-4a7d-9c10-000000000001", "sub-prod", "prod"),
                      ("9b2f6c1e-0001-4a7d-9c10-000000000002", "sub-analytics", "prod"),
                      ("9b2f6c1e-0001-4a7d-9c10-000000000003", "sub-dev", "dev")),
        regions=(("westeurope", "West Europe"), ("eastus", "East US")),
        services=(("Virtual Machines", "Compute", "Hours", 30_000_000),
                  ("Storage", "Storage", "GB/Month", 6_000_000),
                  ("Azure SQL Database", "Databases", "vCore Hours", 14_000_000),
                  ("Azure Kubernetes Service", "Compute", "Hours", 11_000_000),
                  ("Azure OpenAI", "AI and Machine Learning", "1K Tokens", 8_000_000),
                  ("Bandwidth", "Networking", "GB", 2_000_000)),
        credit_description="Azure Prepayment (monetary commitment) consumption credit", credit_daily_micro=90_000_000,
    ),
    "gcp": ProviderSpec(
        key="gcp", provider_name="Google Cloud", billing_account_id="01A2B3-C4D5E6-F7A8B9",
        billing_account_name="Example Corp GCP",
        sub_accounts=(("prod-web-4821", "prod-web", "prod"), ("analytics-prod-1177", "analytics-prod", "prod"),
                      ("ml-research-3302", "ml-research", "dev")),
        regions=(("us-central1", "Iowa"), ("europe-west4", "Netherlands")),
        services=(("Compute Engine", "Compute", "Hours", 26_000_000),
                  ("Cloud Storage", "Storage", "GiB-Mo", 5_000_000),
                  ("BigQuery", "Analytics", "TiB", 17_000_000),
                  ("Vertex AI", "AI and Machine Learning", "Hours", 12_000_000),
                  ("Cloud SQL", "Databases", "Hours", 7_000_000),
                  ("Networking", "Networking", "GiB", 3_000_000)),
        credit_description="Sustained use discount", credit_daily_micro=60_000_000,
    ),
}

# The AWS Savings Plan: a monthly purchase whose cost is amortised over the EC2 usage it covers.
SAVINGS_PLAN_ID = "arn:aws:savingsplans::100000000001:savingsplan/4f1c2d3e-demo-compute-1yr"
# 5,100.00 USD per month, about 28 % below the list cost of the usage it covers (so savings are positive)
SAVINGS_PLAN_MONTHLY_MICRO = 5_100_000_000
SAVINGS_PLAN_SUB_ACCOUNT = "210000000011"
SAVINGS_PLAN_SERVICE = "Amazon Elastic Compute Cloud"

# GPU cluster nodes (config `clusters:`) are billed hourly per node, one line per node and hour, on the provider the
# cluster runs on; resource_id = the node id of the node metrics, tags carry `cluster`. Demo rates, not a price list.
CLUSTER_NODE_HOUR_MICRO = {"aws": 2_400_000, "gcp": 1_800_000, "azure": 2_100_000}
CLUSTER_SUB_ACCOUNT = {"aws": "210000000012", "gcp": "ml-research-3302",
                       "azure": "9b2f6c1e-0001-4a7d-9c10-000000000002"}


@dataclass(frozen=True)
class CostResource:
    provider: ProviderSpec
    sub_account: tuple[str, str, str]
    region: tuple[str, str]
    service: tuple[str, str, str, int]
    resource_id: str
    resource_name: str
    sku_id: str
    base_micro: int
    discount_pct: int  # negotiated discount: contracted = list × (1 − d)
    tags_json: str | None
    committed: bool


def _stable_int(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _micro(value: int) -> Decimal:
    return Decimal(value).scaleb(-6)


def _build_catalogue(provider: ProviderSpec, seed: int, scale: float) -> list[CostResource]:
    rng = random.Random(_stable_int(seed, "catalogue", provider.key))
    per_combo = max(1, round(3 * scale))
    resources = []
    for sub in provider.sub_accounts:
        for service in provider.services:
            for region in provider.regions:
                for n in range(per_combo):
                    rid = f"{provider.key}-{sub[1]}-{region[0]}-{_slug(service[0])}-{n:05d}"
                    team = rng.choice(TEAMS)
                    untagged = rng.random() < 0.12
                    if untagged:
                        tags = None
                    else:
                        team_value = team.capitalize() if rng.random() < 0.3 else team
                        tags = {rng.choice(TEAM_KEYS): team_value, rng.choice(ENV_KEYS): sub[2]}
                        if rng.random() < 0.4:
                            tags["owner"] = f"{team}-oncall@example.com"
                    committed = (provider.key == "aws" and sub[0] == SAVINGS_PLAN_SUB_ACCOUNT
                                 and service[0] == SAVINGS_PLAN_SERVICE)
                    resources.append(CostResource(
                        provider=provider, sub_account=sub, region=region, service=service,
                        resource_id=rid, resource_name=rid.rsplit("-", 1)[0] + f"-{n}",
                        sku_id=f"SKU-{_stable_int(provider.key, service[0], region[0]) % 10**8:08d}",
                        base_micro=int(service[3] * rng.uniform(0.4, 1.6) / per_combo * 3),
                        discount_pct=rng.choice((0, 0, 5, 10, 15)),
                        tags_json=json.dumps(tags, sort_keys=True) if tags else None,
                        committed=committed,
                    ))
    return resources


def _day_factor(day: date) -> float:
    """Growth of 0.15 %/day, lighter weekends; always positive."""
    trend = 1.0 + 0.0015 * (day - EPOCH).days
    weekend = 0.82 if day.weekday() >= 5 else 1.0
    return max(0.2, trend) * weekend


def _month_bounds(day: date) -> tuple[datetime, datetime]:
    start = day.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return datetime.combine(start, time(), UTC), datetime.combine(end, time(), UTC)


def _utc(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


class DemoCollector(Collector):
    type = "demo"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seed = int(self.options.get("seed", 42))
        self.scale = float(self.options.get("scale", 1))
        if self.scale <= 0:
            raise ValueError(f"source {self.source_id}: options.scale must be > 0, got {self.scale}")
        names = self.options.get("datasets") or list(DATASET_GROUPS)
        unknown = [n for n in names if n not in DATASET_GROUPS]
        if unknown:
            raise ValueError(f"source {self.source_id}: options.datasets has unknown {unknown}; "
                             f"expected some of {sorted(DATASET_GROUPS)}")
        self._datasets = tuple(d for n in names for d in DATASET_GROUPS[n])
        providers = self.options.get("providers") or list(PROVIDERS)
        unknown = [p for p in providers if p not in PROVIDERS]
        if unknown:
            raise ValueError(f"source {self.source_id}: options.providers has unknown {unknown}; "
                             f"expected some of {sorted(PROVIDERS)}")
        self.providers = [PROVIDERS[p] for p in providers]
        self.clusters = list(self.context.get("clusters") or [])
        self._catalogues: dict[str, list[CostResource]] = {}
        self._snowflake_cache: dict[date, list] = {}

    def datasets(self) -> tuple[Dataset, ...]:
        return self._datasets

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        if dataset is DATABRICKS_LIST_PRICES:
            yield from self._databricks_prices(window)
            return
        if dataset is DATABRICKS_JOBS:
            yield from self._databricks_jobs(window)
            return
        if dataset is COST_LINE_ITEMS:
            yield from self._focus_records(window)
            return
        generate = {
            DATABRICKS_USAGE.table: self._databricks_day,
            DATABRICKS_JOB_RUN_TIMELINE.table: self._databricks_job_run_slices,
            SNOWFLAKE_METERING_DAILY.table: self._snowflake_day,
            SNOWFLAKE_WAREHOUSE_METERING.table: lambda day: (h for h, _ in self._snowflake_warehouse_hours(day)),
            SNOWFLAKE_QUERY_HISTORY.table: lambda day: (q for _, qs in self._snowflake_warehouse_hours(day)
                                                        for q in qs),
            NODE_METRICS.table: self._node_metrics_day,
            LLM_TRAINING_METRICS.table: self._training_day,
        }[dataset.table]
        position = dataset.column_names.index(dataset.time_column)
        for day in window.days():
            for record in generate(day):
                ts = record[position]
                if not isinstance(ts, datetime):
                    ts = _utc(ts)
                if window.start <= ts < window.end:
                    yield record

    # -- cost ----------------------------------------------------------------------------------------------------
    def _focus_records(self, window: Window) -> Iterator[tuple]:
        """The day's cost lines as FOCUS records: one "file" per source and charge day, lines numbered in it (so
        (source_file, source_line) is the record's stable identity, as for a real FOCUS file)."""
        for day in window.days():
            source_file = f"demo://{self.source_id}/{day.isoformat()}.csv"
            for number, line in enumerate(self._cost_day(day), start=1):
                if window.start <= line[1] < window.end:  # charge_period_start
                    yield _focus_record(line, source_file, number)

    def _catalogue(self, provider: ProviderSpec) -> list[CostResource]:
        if provider.key not in self._catalogues:
            self._catalogues[provider.key] = _build_catalogue(provider, self.seed, self.scale)
        return self._catalogues[provider.key]

    def _cost_day(self, day: date) -> Iterator[tuple]:
        start, end = _utc(day), _utc(day + timedelta(days=1))
        bp_start, bp_end = _month_bounds(day)
        factor = _day_factor(day)
        for provider in self.providers:
            rng = random.Random(_stable_int(self.seed, "cost", provider.key, day.isoformat()))
            catalogue = self._catalogue(provider)
            # A deterministic spike now and then (a runaway job) so anomaly detection has something to find.
            spike_service = provider.services[(day - EPOCH).days % len(provider.services)][0] \
                if (day - EPOCH).days % 23 == 7 else None
            common = (provider.provider_name, provider.provider_name, provider.provider_name,
                      provider.billing_account_id, provider.billing_account_name)
            committed_rows = []
            for res in catalogue:
                list_micro = int(res.base_micro * factor * rng.uniform(0.85, 1.15))
                if res.service[0] == spike_service:
                    list_micro *= 4
                contracted_micro = list_micro * (100 - res.discount_pct) // 100
                unit_price_micro = 50_000 + _stable_int(res.sku_id) % 450_000
                quantity = Decimal(list_micro) / Decimal(unit_price_micro)
                row = [
                    f"{res.resource_id}:{day.isoformat()}", start, end, bp_start, bp_end, *common,
                    res.sub_account[0], res.sub_account[1], res.service[0], res.service[1],
                    res.region[0], res.region[1], res.resource_id, res.resource_name, res.sku_id,
                    "Usage", None, f"{res.service[0]} usage", "Usage-Based", "Standard",
                    quantity.quantize(MICRO), res.service[2], _micro(unit_price_micro),
                    _micro(unit_price_micro * (100 - res.discount_pct) // 100),
                    _micro(contracted_micro), _micro(contracted_micro), _micro(list_micro), _micro(contracted_micro),
                    "USD", None, None, None, None, res.tags_json,
                ]
                if res.committed:
                    committed_rows.append(row)
                else:
                    yield tuple(row)
            yield from self._savings_plan_rows(day, committed_rows, common)
            yield from self._cluster_node_rows(day, provider, common)
            credit_micro = int(provider.credit_daily_micro * rng.uniform(0.9, 1.1))
            sub = provider.sub_accounts[0]
            yield (f"{provider.key}-credit:{day.isoformat()}", start, end, bp_start, bp_end, *common,
                   sub[0], sub[1], provider.services[0][0], provider.services[0][1], None, None, None, None, None,
                   "Credit", None, provider.credit_description, "Usage-Based", None, None, None, None, None,
                   _micro(-credit_micro), _micro(-credit_micro), Decimal(0), Decimal(0), "USD",
                   None, None, None, None, None)

    def _cluster_node_rows(self, day: date, provider: ProviderSpec, common: tuple) -> Iterator[tuple]:
        """One Usage line per node of each cluster on this provider and hour (billed whether the node is Ready)."""
        bp_start, bp_end = _month_bounds(day)
        rate = CLUSTER_NODE_HOUR_MICRO[provider.key]
        sub = next(s for s in provider.sub_accounts if s[0] == CLUSTER_SUB_ACCOUNT[provider.key])
        compute = provider.services[0]
        for cluster in self.clusters:
            if cluster.get("provider") != provider.key:
                continue
            cid = cluster["cluster_id"]
            region = next((r for r in provider.regions if r[0] == cluster.get("region")), (cluster.get("region"), None))
            tags = json.dumps({"cluster": cid, "env": "prod", "team": "ml"}, sort_keys=True)
            sku = f"SKU-GPU-{_stable_int(provider.key, cluster.get('gpu_type')) % 10**6:06d}"
            for n in range(int(cluster["nodes"])):
                node = f"{cid}-node-{n:02d}"
                for hour in range(24):
                    start = _utc(day, hour)
                    yield (f"{node}:{start.isoformat()}", start, start + timedelta(hours=1), bp_start, bp_end,
                           *common, sub[0], sub[1], compute[0], compute[1], region[0], region[1], node, node, sku,
                           "Usage", None, f"{cluster.get('gpu_type') or 'GPU'} node hour ({cid})", "Usage-Based",
                           "Standard", Decimal(1), "Hours", _micro(rate), _micro(rate),
                           _micro(rate), _micro(rate), _micro(rate), _micro(rate), "USD",
                           None, None, None, None, tags)

    def _savings_plan_rows(self, day: date, covered: list[list], common: tuple) -> Iterator[tuple]:
        """Covered usage: billed 0, effective = the month's fee amortised per day, split by the rows' list cost.
        On the 1st of the month, the purchase itself: billed = the fee, effective 0."""
        if not covered:
            return
        bp_start, bp_end = _month_bounds(day)
        days_in_month = (bp_end - bp_start).days
        daily = SAVINGS_PLAN_MONTHLY_MICRO // days_in_month
        if day.day == days_in_month:  # the last day takes the remainder: the month sums exactly to the fee
            daily += SAVINGS_PLAN_MONTHLY_MICRO - daily * days_in_month
        weights = [int(r[30] * 1_000_000) for r in covered]  # list cost in micro-USD
        total_weight = sum(weights) or 1
        allotted = 0
        for i, (row, weight) in enumerate(zip(covered, weights, strict=True)):
            share = daily - allotted if i == len(covered) - 1 else daily * weight // total_weight
            allotted += share
            row[23] = "Committed"  # pricing_category
            row[28] = Decimal(0)  # billed_cost
            row[29] = _micro(share)  # effective_cost
            row[33:37] = [SAVINGS_PLAN_ID, "Savings Plan", "Spend", "Used"]
            yield tuple(row)
        if day.day == 1:
            sub = next(s for s in PROVIDERS["aws"].sub_accounts if s[0] == SAVINGS_PLAN_SUB_ACCOUNT)
            fee = _micro(SAVINGS_PLAN_MONTHLY_MICRO)
            yield (f"savings-plan-purchase:{day.isoformat()}", bp_start, bp_end, bp_start, bp_end, *common,
                   sub[0], sub[1], SAVINGS_PLAN_SERVICE, "Compute", None, None, SAVINGS_PLAN_ID,
                   "compute-savings-plan-1yr", None, "Purchase", None, "Compute Savings Plan, 1 year, no upfront",
                   "Recurring", "Committed", Decimal(1), "Month", fee, fee,
                   fee, Decimal(0), fee, fee, "USD", SAVINGS_PLAN_ID, "Savings Plan", "Spend", None, None)

    # -- data platforms --------------------------------------------------------------------------------------------
    def _databricks_day(self, day: date) -> Iterator[tuple]:
        """``system.billing.usage`` rows (DBUs per workspace, SKU and 6-hour block), as the collector reads them."""
        rng = random.Random(_stable_int(self.seed, "databricks", day.isoformat()))
        workspaces = (("1234567890123456", "data"), ("6543210987654321", "ml"))
        factor = _day_factor(day)
        for ws, team in workspaces:
            for sku, _price, product in DATABRICKS_SKUS:
                for hour in (0, 6, 12, 18):
                    dbus = Decimal(int(rng.uniform(20, 160) * factor * 10_000)).scaleb(-4)
                    start = _utc(day, hour)
                    yield DATABRICKS_USAGE.row(
                        record_id=str(_uuid_from(self.seed, ws, sku, day, hour)), account_id=DATABRICKS_ACCOUNT,
                        workspace_id=ws, sku_name=sku, cloud="AWS", usage_start_time=start,
                        usage_end_time=start + timedelta(hours=6), usage_date=day,
                        custom_tags=json.dumps({"Team": team.upper() if hour == 6 else team, "env": "prod"}),
                        usage_unit="DBU", usage_quantity=dbus,
                        usage_metadata=json.dumps(self._databricks_usage_metadata(ws, product, day, hour)),
                        identity_metadata=json.dumps({"run_as": f"{team}-pipelines@example.com"}),
                        record_type="ORIGINAL", ingestion_date=day, billing_origin_product=product,
                        product_features=json.dumps({"is_serverless": False}), usage_type="COMPUTE_TIME")

    @staticmethod
    def _databricks_job(ws: str, day: date, hour: int) -> tuple[str, str, str]:
        """(job_id, job name, run_id) of the scheduled run in a workspace's 6-hour block."""
        name = DATABRICKS_JOB_NAMES[ws][hour // 6]
        return _databricks_job_id(ws, name), name, str(_stable_int(ws, name, day.isoformat(), hour) % 10**15)

    def _databricks_usage_metadata(self, ws: str, product: str, day: date, hour: int) -> dict:
        metadata = {"cluster_id": f"0101-{ws[-4:]}-{product.lower()}", "job_id": None}
        if product == "JOBS":
            job_id, _name, run_id = self._databricks_job(ws, day, hour)
            metadata.update(job_id=job_id, job_run_id=run_id)
        return metadata

    def _databricks_job_run_slices(self, day: date) -> Iterator[tuple]:
        """``system.lakeflow.job_run_timeline``: each run in hourly slices, the result state on the last slice of an
        attempt. About 1 run in 9 fails; about 1 in 7 fails once and succeeds when repaired (two attempts). Runs start
        10 minutes into their block and last 40-200 minutes, so a run never crosses midnight."""
        for ws in DATABRICKS_JOB_NAMES:
            for hour in (0, 6, 12, 18):
                job_id, name, run_id = self._databricks_job(ws, day, hour)
                rng = random.Random(_stable_int(self.seed, "databricks-run", run_id))
                fate = _stable_int(self.seed, "fate", run_id)
                outcomes = (["FAILED"] if fate % 9 == 0 else ["FAILED", "SUCCEEDED"] if fate % 7 == 0
                            else ["SUCCEEDED"])
                start = _utc(day, hour, 10)
                for outcome in outcomes:
                    end = start + timedelta(minutes=rng.randint(40, 100 if len(outcomes) > 1 else 200))
                    slice_start = start
                    while slice_start < end:
                        slice_end = min(end, slice_start.replace(minute=0) + timedelta(hours=1))
                        last = slice_end == end
                        yield DATABRICKS_JOB_RUN_TIMELINE.row(
                            account_id=DATABRICKS_ACCOUNT, workspace_id=ws, job_id=job_id, run_id=run_id,
                            period_start_time=slice_start, period_end_time=slice_end, trigger_type="CRON",
                            run_type="JOB_RUN", run_name=name, result_state=outcome if last else None,
                            termination_code=("RUN_EXECUTION_ERROR" if outcome == "FAILED" else "SUCCESS")
                            if last else None)
                        slice_start = slice_end
                    start = end + timedelta(minutes=5)  # the repair starts 5 minutes later

    def _databricks_jobs(self, window: Window) -> Iterator[tuple]:
        """``system.lakeflow.jobs``: each job's definition, changed (redeployed) at 00:30 on the 1st of each month."""
        for day in window.days():
            changed = _utc(day, 0, 30)
            if day.day != 1 or not window.start <= changed < window.end:
                continue
            for ws, names in DATABRICKS_JOB_NAMES.items():
                team = "data" if ws.startswith("1") else "ml"
                for name in names:
                    yield DATABRICKS_JOBS.row(
                        account_id=DATABRICKS_ACCOUNT, workspace_id=ws, job_id=_databricks_job_id(ws, name),
                        name=name, creator_id="deploy-bot@example.com", run_as=f"{team}-pipelines@example.com",
                        tags=json.dumps({"team": team}), change_time=changed, delete_time=None)

    def _databricks_prices(self, window: Window) -> Iterator[tuple]:
        """``system.billing.list_prices``: one open-ended price per SKU, read for every window (as the collector)."""
        for sku, price, _product in DATABRICKS_SKUS:
            pricing = json.dumps({"default": str(price), "effective_list": {"default": str(price)}})
            yield DATABRICKS_LIST_PRICES.row(
                window_start=window.start, price_start_time=DATABRICKS_PRICES_FROM, price_end_time=None,
                account_id=DATABRICKS_ACCOUNT, sku_name=sku, cloud="AWS", currency_code="USD", usage_unit="DBU",
                pricing=pricing)

    def _snowflake_day(self, day: date) -> Iterator[tuple]:
        """``METERING_DAILY_HISTORY``: the warehouses' day is the sum of their metered hours (as in Snowflake); pipes
        and automatic clustering are serverless. Cloud services are adjusted by the 10 % rule per day."""
        rng = random.Random(_stable_int(self.seed, "snowflake", day.isoformat()))
        factor = _day_factor(day)
        hours = [h for h, _queries in self._snowflake_warehouse_hours(day)]
        warehouse_compute = sum((h[SNOWFLAKE_WAREHOUSE_METERING.column_names.index("credits_used_compute")]
                                 for h in hours), Decimal(0))
        warehouse_cloud = sum((h[SNOWFLAKE_WAREHOUSE_METERING.column_names.index("credits_used_cloud_services")]
                               for h in hours), Decimal(0))
        for service_type, base in (("WAREHOUSE_METERING", None), ("PIPE", 6.0), ("AUTO_CLUSTERING", 9.0)):
            if base is None:
                compute, cloud = warehouse_compute, warehouse_cloud
            else:
                compute = Decimal(int(base * factor * rng.uniform(0.8, 1.2) * 1000)).scaleb(-3)
                cloud = Decimal(int(float(compute) * rng.uniform(0.04, 0.16) * 1000)).scaleb(-3)
            adjustment = -min(cloud, (compute * Decimal("0.1")).quantize(Decimal("0.001")))
            yield SNOWFLAKE_METERING_DAILY.row(
                usage_date=day, service_type=service_type, credits_used_compute=compute,
                credits_used_cloud_services=cloud, credits_used=compute + cloud,
                credits_adjustment_cloud_services=adjustment, credits_billed=compute + cloud + adjustment,
                account_name=SNOWFLAKE_ACCOUNT, organization_name="EXAMPLECORP", region="AWS_US_EAST_1",
                edition="enterprise", contract_credit_price=None, currency="USD")

    def _snowflake_warehouse_hours(self, day: date) -> list[tuple[tuple, list[tuple]]]:
        """``WAREHOUSE_METERING_HISTORY`` hours and the ``QUERY_HISTORY`` queries that ran in them: each warehouse
        resumes for the hours it has queries, bills its size's credits per hour for the minutes it ran (at least one),
        and some hours are partly idle (the idle share the attribution mart shows)."""
        cached = self._snowflake_cache.get(day)
        if cached is not None:
            return cached
        factor = _day_factor(day)
        out = []
        for warehouse_id, warehouse, credits_per_hour, busy_hours, users in SNOWFLAKE_WAREHOUSES:
            for hour in busy_hours:
                rng = random.Random(_stable_int(self.seed, "snowflake-wh", warehouse, day.isoformat(), hour))
                queries = []
                minute = rng.randint(0, 10)
                for n in range(max(1, int(rng.randint(3, 9) * factor))):
                    seconds = rng.randint(20, 420)
                    start = _utc(day, hour, 0) + timedelta(minutes=minute, seconds=rng.randint(0, 59))
                    end = min(start + timedelta(seconds=seconds), _utc(day, hour, 0) + timedelta(hours=1))
                    queries.append(SNOWFLAKE_QUERY_HISTORY.row(
                        query_id=_uuid_from(self.seed, warehouse, day, hour, n), start_time=start, end_time=end,
                        execution_time_ms=int((end - start).total_seconds() * 1000), warehouse_name=warehouse,
                        user_name=users[rng.randrange(len(users))], role_name="TRANSFORMER" if "TRANSFORM" in
                        warehouse else "ANALYST", query_tag=None, database_name="ANALYTICS",
                        execution_status="SUCCESS", account_name=SNOWFLAKE_ACCOUNT))
                    minute = min(55, minute + rng.randint(2, 12))
                running_minutes = min(60, max(1, int(sum(q[3] for q in queries) / 60_000) + rng.randint(5, 15)))
                compute = (credits_per_hour * Decimal(running_minutes) / 60).quantize(Decimal("0.000000001"))
                cloud = (compute * Decimal(rng.randint(2, 14)) / 100).quantize(Decimal("0.000000001"))
                out.append((SNOWFLAKE_WAREHOUSE_METERING.row(
                    start_time=_utc(day, hour), end_time=_utc(day, hour) + timedelta(hours=1),
                    warehouse_id=warehouse_id, warehouse_name=warehouse, credits_used=compute + cloud,
                    credits_used_compute=compute, credits_used_cloud_services=cloud, account_name=SNOWFLAKE_ACCOUNT),
                    queries))
        self._snowflake_cache = {day: out}  # the three Snowflake datasets of a day ask in turn
        return out

    # -- clusters and training ------------------------------------------------------------------------------------
    def _node_metrics_day(self, day: date) -> Iterator[tuple]:
        for cluster in self.clusters:
            cid = cluster["cluster_id"]
            rng = random.Random(_stable_int(self.seed, "nodes", cid, day.isoformat()))
            gpus = int(cluster.get("gpus_per_node", 8))
            for n in range(int(cluster["nodes"])):
                node = f"{cid}-node-{n:02d}"
                # one node of each cluster is flaky on some days
                flaky = n == (day.toordinal() % int(cluster["nodes"])) and day.toordinal() % 5 == 0
                # the last node of each cluster is parked at weekends: powered and billed, but nearly idle
                parked = n == int(cluster["nodes"]) - 1 and day.weekday() >= 5
                for hour in range(24):
                    down = flaky and 8 <= hour < 14
                    busy = (0.55 + 0.35 * rng.random()) * (0.15 if parked else 1)
                    yield (_utc(day, hour), cid, node, "NotReady" if down else "Ready",
                           Decimal(0) if down else Decimal(round(100 * busy * rng.uniform(0.5, 0.9), 2)).quantize(
                               Decimal("0.01")),
                           Decimal(0) if down else Decimal(round(100 * busy, 2)).quantize(Decimal("0.01")),
                           Decimal(round(100 * rng.uniform(0.35, 0.85), 2)).quantize(Decimal("0.01")),
                           Decimal(0) if down else Decimal(round(80 * gpus * busy, 1)).quantize(Decimal("0.1")),
                           gpus)

    def _training_day(self, day: date) -> Iterator[tuple]:
        """A run starts every 4th day (by day number) on alternating clusters and trains for 2 days."""
        if not self.clusters:
            return
        models = ("llama-ft-8b", "mistral-ft-7b", "orca-distill-3b")
        for offset in (0, 1):
            start_day = day - timedelta(days=offset)
            n = (start_day - EPOCH).days
            if n % 4:
                continue
            cluster = self.clusters[(n // 4) % len(self.clusters)]
            model = models[(n // 4) % len(models)]
            run_id = f"run-{start_day.isoformat()}-{model}"
            rng = random.Random(_stable_int(self.seed, "train", run_id, day.isoformat()))
            gpus = int(cluster["nodes"]) * int(cluster.get("gpus_per_node", 8))
            for i in range(144):  # every 10 minutes
                minute = i * 10
                step = (offset * 144 + i) * 50
                loss = 3.2 * (1 + step) ** -0.12 + rng.uniform(-0.02, 0.02)
                yield (_utc(day, minute // 60, minute % 60), run_id, model, cluster["cluster_id"], step,
                       Decimal(f"{loss:.5f}"), Decimal("0.0003") if step < 5000 else Decimal("0.0001"),
                       Decimal(int(rng.uniform(0.9, 1.1) * 2100 * gpus)), Decimal(f"{rng.uniform(60, 78):.1f}"), gpus)


def _databricks_job_id(ws: str, name: str) -> str:
    return str(100_000 + _stable_int(ws, name) % 900_000)


def _focus_record(line: tuple, source_file: str, source_line: int) -> tuple:
    record = [None if pos is None else line[pos] for pos in _FOCUS_POSITIONS]
    record[_FOCUS_EXTRA["x_extensions"]] = json.dumps({"x_LineItemId": line[0]})
    record[_FOCUS_EXTRA["focus_version"]] = "1.2"
    record[_FOCUS_EXTRA["source_file"]] = source_file
    record[_FOCUS_EXTRA["source_line"]] = source_line
    return tuple(record)


def _uuid_from(*parts: object) -> str:
    h = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
