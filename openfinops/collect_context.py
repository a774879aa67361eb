"""Build a collector for a configured source (light: no database or vendor import, so DAG parsing can use it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collectors.core.base import Collector
from collectors.core.registry import collector_class
from openfinops.config import OpenFinOpsConfig, SourceConfig


def build_collector(cfg: OpenFinOpsConfig, source: SourceConfig, clients: Mapping[str, Any] | None = None
                    ) -> Collector:
    context = {"clusters": [c.model_dump() for c in cfg.clusters], "connection_id": source.connection_id}
    return collector_class(source.type)(source.id, source.options, clients=clients, context=context)
