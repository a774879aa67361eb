"""``AWSTelemetryAgent``: AWS daily cost per linked account and service, from Cost Explorer, pushed to OpenFinOps.

Runs the ``aws_cost_explorer`` collector of the DAGs (only its cost pass, GroupBy LINKED_ACCOUNT x SERVICE: the
breakdown passes re-slice the same spend and would be counted twice) over the last ``lookback_days`` days. Each
group is a ``cost_records`` record: provider ``AWS``, the service, ``cost`` = UnblendedCost (the billed amount, exact
decimal), its currency, the day (``timestamp`` .. ``period_end``), ``account_id``, usage quantity and unit; tags
keep the amortized and net amortized cost, the account name and whether Cost Explorer still calls the day
``estimated``.

Credentials: boto3's chain (environment, shared config / profile, instance or task role), or explicit
``aws_access_key_id`` / ``aws_secret_access_key`` / ``aws_session_token``. Never logged.

    python -m agents.aws_telemetry_agent --openfinops-endpoint http://localhost:8081 --aws-region us-west-2 --once
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from agents import cli
from agents.collector_agent import CollectorAgent, tags
from collectors.core.base import Collector, Dataset
from collectors.sources.aws_cost_explorer import CE_REGION, COST_PASS, CostExplorerCollector


class AWSTelemetryAgent(CollectorAgent):
    agent_type = "aws_telemetry"

    def __init__(self, openfinops_endpoint: str, aws_region: str = "us-east-1", *,
                 aws_access_key_id: str | None = None, aws_secret_access_key: str | None = None,
                 aws_session_token: str | None = None, endpoint_url: str | None = None, profile_name: str | None = None,
                 ce_client: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"aws_region": aws_region})
        super().__init__(openfinops_endpoint, **kwargs)
        self.aws_region = aws_region
        self._credentials = {"aws_access_key_id": aws_access_key_id, "aws_secret_access_key": aws_secret_access_key,
                             "aws_session_token": aws_session_token}
        self.profile_name = profile_name
        self.endpoint_url = endpoint_url
        self.ce_client = ce_client

    def make_collectors(self) -> list[tuple[str, Collector]]:
        client = self.ce_client
        if client is None:
            import boto3
            from botocore.config import Config

            session = boto3.session.Session(profile_name=self.profile_name,
                                            **{k: v for k, v in self._credentials.items() if v})
            region = "cn-northwest-1" if self.aws_region.startswith("cn-") else CE_REGION  # Cost Explorer's home
            client = session.client("ce", region_name=region, endpoint_url=self.endpoint_url,
                                    config=Config(retries={"mode": "standard", "total_max_attempts": 3}))
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


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--aws-region", help="the agent's region (default us-east-1; Cost Explorer itself is global)")
    p.add_argument("--aws-profile", help="a profile of the shared AWS config")
    p.add_argument("--aws-endpoint-url", help="another Cost Explorer endpoint (a proxy or a test double)")


def _build(args: argparse.Namespace, options: dict[str, Any], common: dict[str, Any]) -> AWSTelemetryAgent:
    return AWSTelemetryAgent(
        aws_region=cli.first(args.aws_region, options.get("region"), "us-east-1"),
        aws_access_key_id=cli.first(options.get("access_key_id")),
        aws_secret_access_key=cli.first(options.get("secret_access_key")),
        aws_session_token=cli.first(options.get("session_token")),
        profile_name=cli.first(args.aws_profile, options.get("profile")),
        endpoint_url=cli.first(args.aws_endpoint_url, options.get("endpoint_url")), **common)


def main(argv: list[str] | None = None) -> int:
    return cli.main("aws_telemetry_agent", "aws", "Push AWS Cost Explorer costs to OpenFinOps", _arguments, _build,
                    argv)


if __name__ == "__main__":
    sys.exit(main())
