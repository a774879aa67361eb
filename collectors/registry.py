"""Collector registry by source ``type``. Modules are imported lazily so that listing sources or parsing DAGs never
imports a vendor SDK."""

from __future__ import annotations

from importlib import import_module

from collectors.base import Collector, Dataset

# type -> "module:Class"
COLLECTOR_TYPES: dict[str, str] = {
    "demo": "collectors.demo:DemoCollector",
    # Any FOCUS 1.0-1.3 export (CSV / Parquet) from a local path, S3, Azure Blob or GCS.
    "focus_file": "collectors.focus_file:FocusFileCollector",
    # AWS: Cost Explorer GetCostAndUsage (daily) and Data Exports (FOCUS 1.x or CUR 2.0 in S3).
    "aws_cost_explorer": "collectors.aws_cost_explorer:CostExplorerCollector",
    "aws_data_export": "collectors.aws_data_export:DataExportCollector",
    # Azure: Cost Management Query API and Cost Management exports in a storage container.
    "azure_cost_query": "collectors.azure_cost_query:CostQueryCollector",
    "azure_cost_export": "collectors.azure_cost_export:CostExportCollector",
    # GCP: Cloud Billing export to BigQuery (standard or detailed usage cost table).
    "gcp_billing_export": "collectors.gcp_billing_export:BillingExportCollector",
}


def collector_class(source_type: str) -> type[Collector]:
    try:
        target = COLLECTOR_TYPES[source_type]
    except KeyError:
        raise KeyError(f"unknown source type {source_type!r}; expected one of {sorted(COLLECTOR_TYPES)}") from None
    module_name, _, class_name = target.partition(":")
    return getattr(import_module(module_name), class_name)


def all_datasets() -> tuple[Dataset, ...]:
    """Every raw dataset any registered collector type can load (module-level ``Dataset`` definitions), one per
    table. The transform creates all of these tables up front, empty when no source of that type is configured, so
    the dbt staging views of every provider always have a table to read."""
    found: dict[str, Dataset] = {}
    for target in COLLECTOR_TYPES.values():
        module = import_module(target.partition(":")[0])
        for value in vars(module).values():
            if isinstance(value, Dataset):
                found.setdefault(value.table, value)
    return tuple(found[table] for table in sorted(found))
