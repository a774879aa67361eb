"""``SaaSServicesTelemetryAgent``: MongoDB Atlas, Redis Cloud, GitHub and Datadog bills, pushed to OpenFinOps.

One agent, a JSON config file (the original format; ``--create-config FILE`` writes a sample): each enabled service
runs the collector of the DAGs (``mongodb_atlas``, ``redis_cloud``, ``github_billing``, ``datadog_cost``) over the
last ``lookback_days`` days (the month-billed ones over their whole months, as the DAGs do) and pushes what the
vendor bills as ``cost_records`` (exact decimals, USD unless the vendor says otherwise):

- MongoDB Atlas: each invoice line, cost = (total - discount) cents / 100; ``service`` MongoDB Atlas, resource =
  the cluster; no list-price estimates (the cluster inventory is not read).
- Redis Cloud: each priced subscription item per day, cost = quantity x price per unit x 24 for hourly prices, x 1
  for daily ones (exact). An item priced per month is pushed as metrics (``redis_cloud_quantity`` with its price
  per unit as a label), not as a cost: a month's price spread over its days is not exact.
- GitHub: each usage item of the enhanced billing report, cost = ``netAmount`` (what GitHub bills).
- Datadog: each product's committed and on-demand cost of a month (the ``total`` entries are not added again),
  historical for closed months, else estimated month to date (tag ``cost_status``).

Config keys (documented ones kept): ``mongodb_atlas``: ``public_key``, ``private_key``, ``org_id`` (invoices are
per organisation); ``redis_cloud``: ``api_key``, ``secret_key``; ``github_actions`` (or ``github``): ``token``,
``org_name``; ``datadog``: ``api_key``, ``app_key``, ``site`` (default datadoghq.com). Each section may set
``api_url``: another API root (GitHub Enterprise Server's ``https://HOST/api/v3``, a proxy, a test double). The
original's ``mongodb_atlas.project_id`` and ``redis_cloud.account_id`` are accepted and not used: the agent pushes
invoices, which Atlas bills per organisation and Redis Cloud per account key (cluster inventory is the DAG
collector's). ``${ENV}`` in a value is replaced by the variable. Keys are never logged.

Custom services: ``agent.collectors.append(("custom", obj))`` where ``obj.collect_metrics()`` returns
``{"service": ..., "total_cost": ..., "metrics": {...}}``: pushed as metrics (``saas_total_cost`` and one per
numeric entry of ``metrics``), labelled with the service.

    python -m agents.saas_services_telemetry_agent --create-config saas_config.json
    python -m agents.saas_services_telemetry_agent --openfinops-endpoint http://localhost:8081 \
        --config saas_config.json --interval 3600
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents import cli
from agents.base import metric_records
from agents.collector_agent import CollectorAgent, metric, tags
from collectors.core.base import Collector, Dataset

log = logging.getLogger("agents")

SAMPLE_CONFIG = {
    "mongodb_atlas": {"enabled": False, "public_key": "your_public_key", "private_key": "${ATLAS_PRIVATE_KEY}",
                      "org_id": "your_org_id", "project_id": "your_project_id"},
    "redis_cloud": {"enabled": False, "api_key": "your_api_key", "secret_key": "${REDIS_CLOUD_SECRET_KEY}",
                    "account_id": "your_account_id"},
    "github_actions": {"enabled": False, "token": "${GITHUB_TOKEN}", "org_name": "your_organization"},
    "datadog": {"enabled": False, "api_key": "${DD_API_KEY}", "app_key": "${DD_APP_KEY}", "site": "datadoghq.com"},
}


def _required(section: str, options: Mapping[str, Any], *keys: str) -> list[str]:
    missing = [k for k in keys if not options.get(k)]
    if missing:
        raise ValueError(f"{section}: {', '.join(missing)} required")
    return [options[k] for k in keys]


class SaaSServicesTelemetryAgent(CollectorAgent):
    agent_type = "saas_services_telemetry"

    def __init__(self, openfinops_endpoint: str, config_file: str | Path | None = None, *,
                 config: Mapping[str, Any] | None = None, sessions: Mapping[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(openfinops_endpoint, **kwargs)
        if config is None:
            if not config_file:
                raise ValueError("config_file: expected the JSON config (--create-config writes a sample)")
            config = json.loads(Path(config_file).read_text())
        self.config = cli.substitute(dict(config))
        self._sessions = dict(sessions or {})  # tests: a requests.Session per service
        self.collectors_list: list[tuple[str, Any]] = []
        self.collectors = self.collectors_list  # the documented `agent.collectors.append(("custom", obj))`
        self.collectors_list.extend(self._configured())

    def _configured(self) -> list[tuple[str, Collector]]:
        from collectors.sources.datadog_cost import DatadogCostCollector
        from collectors.sources.github_billing import GithubBillingCollector
        from collectors.sources.mongodb_atlas import MongodbAtlasCollector
        from collectors.sources.redis_cloud import RedisCloudCollector

        out: list[tuple[str, Collector]] = []

        def api_url(o: Mapping[str, Any]) -> dict[str, Any]:
            return {"api_url": o["api_url"]} if o.get("api_url") else {}

        def enabled(*names: str) -> tuple[str, dict] | None:
            for name in names:
                options = self.config.get(name)
                if isinstance(options, Mapping) and options.get("enabled", True):
                    return name, dict(options)
            return None

        if found := enabled("mongodb_atlas"):
            section, o = found
            public, private, org = _required(section, o, "public_key", "private_key", "org_id")
            options: dict[str, Any] = {"org_id": org, "datasets": ["line_items"], **api_url(o)}
            out.append(("mongodb_atlas", MongodbAtlasCollector("agent-mongodb-atlas", options, clients=self._clients(
                "mongodb_atlas", keys=(public, private)))))
        if found := enabled("redis_cloud"):
            section, o = found
            key, secret = _required(section, o, "api_key", "secret_key")
            out.append(("redis_cloud", RedisCloudCollector("agent-redis-cloud", api_url(o), clients=self._clients(
                "redis_cloud", api_key=key, secret_key=secret))))
        if found := enabled("github_actions", "github"):
            section, o = found
            token, org = _required(section, o, "token", "org_name")
            out.append(("github_billing", GithubBillingCollector("agent-github-billing",
                                                                 {"organization": org, **api_url(o)},
                                                                 clients=self._clients("github_billing",
                                                                                       token=token))))
        if found := enabled("datadog"):
            section, o = found
            key, app = _required(section, o, "api_key", "app_key")
            options = {"site": o.get("site") or "datadoghq.com", "usage_summary": False, **api_url(o)}
            out.append(("datadog_cost", DatadogCostCollector("agent-datadog-cost", options, clients=self._clients(
                "datadog_cost", api_key=key, app_key=app))))
        return out

    def _clients(self, source: str, **clients: Any) -> dict[str, Any]:
        if source in self._sessions:
            clients["session"] = self._sessions[source]
        return clients

    def make_collectors(self) -> list[tuple[str, Collector]]:
        return [(name, c) for name, c in self.collectors_list if isinstance(c, Collector)]

    def sources(self) -> list[tuple[str, Collector]]:
        return self.make_collectors()  # the list may have grown since

    def collect(self) -> Iterator[tuple[str | None, Mapping[str, Any]]]:
        now = datetime.now(UTC)
        for name, custom in [(n, c) for n, c in self.collectors_list if not isinstance(c, Collector)]:
            try:
                found = custom.collect_metrics()
            except Exception as exc:
                log.error("custom service %s failed: %s: %s", name, type(exc).__name__, str(exc)[:300])
                continue
            service = str(found.get("service") or name)
            values = {k: v for k, v in (found.get("metrics") or {}).items()}
            if found.get("total_cost") is not None:
                values["saas_total_cost"] = found["total_cost"]
            records = metric_records({"timestamp": now, **values}, source=service)
            if records:
                yield None, {"metrics": records}
        yield from super().collect()

    def wanted(self, source: str, dataset: Dataset) -> bool:
        return dataset.name in ("line_items", "subscription_pricing", "usage_items", "cost_charges")

    def to_records(self, source: str, dataset: Dataset, row: dict[str, Any]) -> dict[str, list[dict]]:
        return getattr(self, f"_{source}")(row)

    @staticmethod
    def _mongodb_atlas(row: dict[str, Any]) -> dict[str, list[dict]]:
        cents = row["total_price_cents"] - (row["discount_cents"] or 0)
        return {"cost_records": [{
            "timestamp": row["start_date"], "period_end": row["end_date"], "provider": "MongoDB",
            "service": "MongoDB Atlas", "cost": cents.scaleb(-2), "currency": "USD", "account_id": row["org_id"],
            "resource_id": row["cluster_name"] or row["stitch_app_name"], "usage_quantity": row["quantity"],
            "usage_unit": row["unit"],
            "tags": tags(source="mongodb_atlas", sku=row["sku"], invoice_id=row["invoice_id"],
                         invoice_status=row["invoice_status"], project_id=row["group_id"],
                         project_name=row["group_name"], list_cost=row["total_price_cents"].scaleb(-2))}]}

    @staticmethod
    def _redis_cloud(row: dict[str, Any]) -> dict[str, list[dict]]:
        price, period = row["price_per_unit"], row["price_period"]
        labels = {"subscription_id": row["subscription_id"], "subscription_name": row["subscription_name"],
                  "pricing_type": row["pricing_type"], "database_name": row["database_name"]}
        if price is None:  # infrastructure in your own cloud: billed there, not by Redis
            return {}
        if period in ("hour", "day") and row["price_currency"]:
            return {"cost_records": [{
                "timestamp": row["usage_date"], "provider": "Redis", "service": "Redis Cloud",
                "cost": row["quantity"] * price * (24 if period == "hour" else 1), "currency": row["price_currency"],
                "account_id": row["account_id"], "resource_id": row["database_name"] or row["subscription_id"],
                "usage_quantity": row["quantity"], "usage_unit": row["quantity_measurement"],
                "tags": tags(source="redis_cloud", price_per_unit=price, price_period=period, **labels)}]}
        return {"metrics": [metric("redis_cloud_quantity", row["quantity"], row["usage_date"],
                                   row["quantity_measurement"], price_per_unit=str(price), price_period=period,
                                   price_currency=row["price_currency"], **labels)]}

    @staticmethod
    def _github_billing(row: dict[str, Any]) -> dict[str, list[dict]]:
        return {"cost_records": [{
            "timestamp": row["usage_date"], "provider": "GitHub", "service": f"GitHub {row['product']}",
            "cost": row["net_amount"], "currency": "USD", "account_id": row["organization_name"],
            "resource_id": row["repository_name"], "usage_quantity": row["quantity"], "usage_unit": row["unit_type"],
            "tags": tags(source="github_billing", sku=row["sku"], gross_amount=row["gross_amount"],
                         discount_amount=row["discount_amount"], billing_period=row["billing_period"])}]}

    @staticmethod
    def _datadog_cost(row: dict[str, Any]) -> dict[str, list[dict]]:
        if row["charge_type"] == "total":
            return {}
        month = row["cost_month"]
        end = month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)
        return {"cost_records": [{
            "timestamp": month, "period_end": end, "provider": "Datadog", "service": f"Datadog {row['product_name']}",
            "cost": row["cost"], "currency": "USD", "account_id": row["org_public_id"], "region": row["region"],
            "tags": tags(source="datadog_cost", charge_type=row["charge_type"], cost_status=row["cost_status"],
                         org_name=row["org_name"])}]}


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--create-config", metavar="FILE", help="write a sample JSON config and exit")


def _build(args: argparse.Namespace, options: dict[str, Any], common: dict[str, Any]) -> SaaSServicesTelemetryAgent:
    if not args.config:
        raise ValueError("--config FILE (the JSON services config) is required")
    return SaaSServicesTelemetryAgent(config_file=args.config, **common)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--create-config" in argv:
        target = Path(argv[argv.index("--create-config") + 1])
        if target.exists():
            print(f"{target} exists: not overwritten", file=sys.stderr)
            return 1
        target.write_text(json.dumps(SAMPLE_CONFIG, indent=2) + "\n")
        print(f"wrote {target}: enable the services you use, keys preferably as ${{ENV}}", file=sys.stderr)
        return 0
    # --config is this agent's JSON services file, not the YAML of the other agents
    return cli.main("saas_services_telemetry_agent", "saas", "Push SaaS bills to OpenFinOps", _arguments, _build,
                    argv, config_is_yaml=False)


if __name__ == "__main__":
    sys.exit(main())
