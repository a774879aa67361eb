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
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from agents import cli
from agents.collector_agent import CollectorAgent, tags
from collectors.core.base import Collector, Dataset
from collectors.sources.gcp_billing_export import BillingExportCollector


class GCPTelemetryAgent(CollectorAgent):
    agent_type = "gcp_telemetry"

    def __init__(self, openfinops_endpoint: str, project_id: str, *, billing_table: str,
                 credentials_file: str | None = None, bigquery_client: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"project_id": project_id, "billing_table": billing_table})
        super().__init__(openfinops_endpoint, **kwargs)
        self.project_id = project_id
        self.billing_table = billing_table
        self.credentials_file = credentials_file
        self.bigquery_client = bigquery_client

    def make_collectors(self) -> list[tuple[str, Collector]]:
        client = self.bigquery_client
        if client is None:
            from google.cloud import bigquery

            if self.credentials_file:
                from google.oauth2 import service_account

                credentials = service_account.Credentials.from_service_account_file(self.credentials_file)
                client = bigquery.Client(project=self.project_id, credentials=credentials)
            else:
                client = bigquery.Client(project=self.project_id)
        options = {"table": self.billing_table, "restate_invoice_months": False}
        return [("gcp_billing_export", BillingExportCollector("agent-gcp-billing-export", options,
                                                              clients={"bigquery": client}))]

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


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project-id", help="the project the BigQuery jobs run in")
    p.add_argument("--billing-table", help="project.dataset.table of the Cloud Billing export")
    p.add_argument("--credentials-file", help="a service account key file (default: ADC)")


def _build(args: argparse.Namespace, options: dict[str, Any], common: dict[str, Any]) -> GCPTelemetryAgent:
    project = cli.first(args.project_id, options.get("project_id"), os.environ.get("GCP_PROJECT_ID"))
    table = cli.first(args.billing_table, options.get("billing_table"))
    if not project or not table:
        raise ValueError("--project-id and --billing-table (or gcp.project_id / gcp.billing_table) are required")
    return GCPTelemetryAgent(project_id=project, billing_table=table,
                             credentials_file=cli.first(args.credentials_file, options.get("credentials_file")),
                             **common)


def main(argv: list[str] | None = None) -> int:
    return cli.main("gcp_telemetry_agent", "gcp", "Push Google Cloud billing export costs to OpenFinOps", _arguments,
                    _build, argv)


if __name__ == "__main__":
    sys.exit(main())
