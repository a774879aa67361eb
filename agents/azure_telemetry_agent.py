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
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from agents import cli
from agents.collector_agent import CollectorAgent, tags
from collectors.core.base import Collector, Dataset
from collectors.sources.azure_cost_query import COST_PASS, CostQueryCollector


class AzureTelemetryAgent(CollectorAgent):
    agent_type = "azure_telemetry"

    def __init__(self, openfinops_endpoint: str, subscription_id: str, *, client_id: str | None = None,
                 client_secret: str | None = None, tenant_id: str | None = None, credential: Any = None,
                 endpoint_url: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"subscription_id": subscription_id})
        super().__init__(openfinops_endpoint, **kwargs)
        self.subscription_id = subscription_id
        self._secret = (client_id, client_secret, tenant_id)
        self.credential = credential
        self.endpoint_url = endpoint_url  # not self.endpoint: that is the OpenFinOps server

    def make_collectors(self) -> list[tuple[str, Collector]]:
        credential = self.credential
        if credential is None:
            client_id, client_secret, tenant_id = self._secret
            if client_id and client_secret and tenant_id:
                from azure.identity import ClientSecretCredential

                credential = ClientSecretCredential(tenant_id, client_id, client_secret)
            else:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential()
        options = {"scope": f"subscriptions/{self.subscription_id}"}
        if self.endpoint_url:
            options["endpoint"] = self.endpoint_url
        collector = CostQueryCollector("agent-azure-cost-query", options, clients={"credential": credential})
        return [("azure_cost_query", collector)]

    def to_records(self, source: str, dataset: Dataset, row: dict[str, Any]) -> dict[str, list[dict]]:
        if row["grouping"] != COST_PASS.name or row["cost_type"] != "ActualCost":
            return {}
        return {"cost_records": [{
            "timestamp": row["usage_date"], "provider": "Azure", "service": row["service_name"] or "(no service)",
            "cost": row["cost"], "currency": row["currency"], "account_id": self.subscription_id,
            "resource_id": row["resource_group_name"],
            "tags": tags(source="azure_cost_query", cost_type="ActualCost", cost_usd=row["cost_usd"],
                         resource_group=row["resource_group_name"])}]}


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--subscription-id", help="the subscription (default: azure.subscription_id of --config)")


def _build(args: argparse.Namespace, options: dict[str, Any], common: dict[str, Any]) -> AzureTelemetryAgent:
    subscription = cli.first(args.subscription_id, options.get("subscription_id"),
                             os.environ.get("AZURE_SUBSCRIPTION_ID"))
    if not subscription:
        raise ValueError("--subscription-id (or azure.subscription_id, or AZURE_SUBSCRIPTION_ID) is required")
    return AzureTelemetryAgent(subscription_id=subscription, client_id=cli.first(options.get("client_id")),
                               client_secret=cli.first(options.get("client_secret")),
                               tenant_id=cli.first(options.get("tenant_id")), **common)


def main(argv: list[str] | None = None) -> int:
    return cli.main("azure_telemetry_agent", "azure", "Push Azure Cost Management costs to OpenFinOps", _arguments,
                    _build, argv)


if __name__ == "__main__":
    sys.exit(main())
