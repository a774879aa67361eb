"""``DatabricksTelemetryAgent``: Databricks usage from the billing system tables, pushed to OpenFinOps.

Runs the ``databricks_billing`` collector of the DAGs (``system.billing.usage`` and ``system.billing.list_prices``
through the SQL Statement Execution API on ``warehouse_id``) over the last ``lookback_days`` days.

What is pushed, and why not a cost: Databricks bills usage x the list price valid at the time of use; the DAG
pipeline joins the two in dbt. The agent does not join them (a price valid before the window, or a usage unit
without a price, would give a silent wrong figure) and never uses the original agent's guessed $/DBU. It pushes
the raw quantities as ``metrics``:

- ``databricks_usage_quantity``: one per usage record, value = ``usage_quantity`` (negative for a retraction), unit
  = ``usage_unit``, at ``usage_start_time``; labels: workspace (name and id), sku_name, cloud, record_id,
  record_type, usage_type, billing_origin_product, usage_end_time.
- ``databricks_list_price``: one per price row valid in the window, value = ``effective_list.default`` (else
  ``default``), at ``price_start_time``; labels: sku_name, cloud, usage_unit, currency_code, price_end_time.

The token is sent only to the workspace (never logged); presigned result links are fetched without it.

    python -m agents.databricks_telemetry_agent --openfinops-endpoint http://localhost:8081 \
        --databricks-host https://adb-123.azuredatabricks.net --warehouse-id abcdef1234567890 --once
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from agents import cli
from agents.collector_agent import CollectorAgent, metric
from collectors.core.base import Collector, Dataset
from collectors.sources.databricks_billing import LIST_PRICES, USAGE, DatabricksBillingCollector, _unit_price


class WorkspaceApi:
    """What the collector needs of the provider's ``DatabricksHook``: ``_do_api_call((method, endpoint), body)``,
    with a bearer token and a few retries of 429 / 5xx / dropped connections."""

    def __init__(self, host: str, token: str, *, attempts: int = 4, timeout: float = 60.0) -> None:
        self.host = host.rstrip("/")
        self._token = token
        self.attempts = attempts
        self.timeout = timeout
        self.session = requests.Session()

    def __repr__(self) -> str:
        return f"WorkspaceApi({self.host!r})"

    def _do_api_call(self, endpoint_info: tuple[str, str], json_body: dict | None = None) -> dict:
        method, endpoint = endpoint_info
        url = f"{self.host}/api/{endpoint}"
        headers = {"Authorization": f"Bearer {self._token}"}
        for attempt in range(1, self.attempts + 1):
            try:
                if method == "GET":
                    answer = self.session.get(url, params=json_body or None, headers=headers, timeout=self.timeout)
                else:
                    answer = self.session.request(method, url, json=json_body or {}, headers=headers,
                                                  timeout=self.timeout)
            except requests.RequestException as exc:
                if attempt == self.attempts:
                    raise RuntimeError(f"{method} {url}: {type(exc).__name__}") from None
                time.sleep(2 ** attempt)
                continue
            if answer.status_code == 429 or answer.status_code >= 500:
                if attempt < self.attempts:
                    time.sleep(max(2 ** attempt, float(answer.headers.get("Retry-After", 0) or 0)))
                    continue
            if answer.status_code >= 400:
                raise RuntimeError(f"{method} {url}: HTTP {answer.status_code} {answer.text[:300]}")
            return answer.json()
        raise RuntimeError(f"{method} {url}: no answer")  # pragma: no cover


class DatabricksTelemetryAgent(CollectorAgent):
    agent_type = "databricks_telemetry"

    def __init__(self, openfinops_endpoint: str, databricks_host: str, databricks_token: str,
                 workspace_name: str | None = None, *, warehouse_id: str, api: Any = None, **kwargs: Any) -> None:
        self.workspace_name = workspace_name or urlsplit(databricks_host).hostname or databricks_host
        kwargs.setdefault("metadata", {"workspace": self.workspace_name})
        super().__init__(openfinops_endpoint, **kwargs)
        self.warehouse_id = warehouse_id
        self._api = api or WorkspaceApi(databricks_host, databricks_token)

    def make_collectors(self) -> list[tuple[str, Collector]]:
        collector = DatabricksBillingCollector("agent-databricks-billing",
                                               {"warehouse_id": self.warehouse_id, "jobs": False},
                                               clients={"hook": self._api})
        return [("databricks_billing", collector)]

    def to_records(self, source: str, dataset: Dataset, row: dict[str, Any]) -> dict[str, list[dict]]:
        if dataset.name == USAGE.name:
            return {"metrics": [metric(
                "databricks_usage_quantity", row["usage_quantity"], row["usage_start_time"], row["usage_unit"],
                workspace=self.workspace_name, workspace_id=row["workspace_id"], account_id=row["account_id"],
                sku_name=row["sku_name"], cloud=row["cloud"], record_id=row["record_id"],
                record_type=row["record_type"], usage_type=row["usage_type"],
                billing_origin_product=row["billing_origin_product"],
                usage_end_time=row["usage_end_time"].isoformat())]}
        if dataset.name == LIST_PRICES.name:
            price = _unit_price(row["pricing"])
            if price is None:
                return {}
            return {"metrics": [metric(
                "databricks_list_price", price, row["price_start_time"], f"{row['currency_code']}/{row['usage_unit']}",
                sku_name=row["sku_name"], cloud=row["cloud"], usage_unit=row["usage_unit"],
                currency_code=row["currency_code"], pricing=json.dumps(json.loads(row["pricing"]), sort_keys=True),
                price_end_time=row["price_end_time"].isoformat() if row["price_end_time"] else None)]}
        return {}


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--databricks-host", help="the workspace URL (default env DATABRICKS_HOST)")
    p.add_argument("--databricks-token", help="discouraged (visible in ps): use env DATABRICKS_TOKEN")
    p.add_argument("--workspace-name", help="a name for the workspace (default: its host)")
    p.add_argument("--warehouse-id", help="the SQL warehouse that reads system.billing")


def _build(args: argparse.Namespace, options: dict[str, Any], common: dict[str, Any]) -> DatabricksTelemetryAgent:
    host = cli.first(args.databricks_host, options.get("host"), os.environ.get("DATABRICKS_HOST"))
    token = cli.first(args.databricks_token, options.get("token"), os.environ.get("DATABRICKS_TOKEN"))
    warehouse = cli.first(args.warehouse_id, options.get("warehouse_id"), os.environ.get("DATABRICKS_WAREHOUSE_ID"))
    if not host or not token or not warehouse:
        raise ValueError("--databricks-host, DATABRICKS_TOKEN and --warehouse-id are required")
    return DatabricksTelemetryAgent(databricks_host=host, databricks_token=token, warehouse_id=warehouse,
                                    workspace_name=cli.first(args.workspace_name, options.get("workspace_name")),
                                    **common)


def main(argv: list[str] | None = None) -> int:
    return cli.main("databricks_telemetry_agent", "databricks", "Push Databricks usage to OpenFinOps", _arguments,
                    _build, argv)


if __name__ == "__main__":
    sys.exit(main())
