"""``GenericTelemetryAgent``: metrics from your own functions, pushed to OpenFinOps (as the original documents it).

    agent = GenericTelemetryAgent(endpoint="http://localhost:8081", api_key="ofo_...")
    agent.register_metric_collector("custom_source", lambda: {"metric1": 123.45, "timestamp": datetime.now()})
    agent.push_metrics(agent.collect_metrics())
    agent.push_metrics({"gpu_utilization": 85.5, "cost_per_hour": 3.50})

Each number becomes a ``metrics`` record (``raw.telemetry_metrics``) named after its key, labelled
``{"source": <collector name>}`` (``"default"`` for a flat dict), at the dict's ``timestamp`` (a datetime, naive =
local time, or Unix seconds; default now). ``endpoint`` may be the server URL or the original
``http://host:8080/api/v1/metrics``. Without ``api_key`` the agent registers itself (admin token from
``OPENFINOPS_SERVER_ADMIN_TOKEN``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from agents.base import TelemetryAgent, metric_records

log = logging.getLogger("agents")


class GenericTelemetryAgent(TelemetryAgent):
    agent_type = "generic_telemetry"

    def __init__(self, endpoint: str, api_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(endpoint, api_key=api_key, **kwargs)
        self.collectors: dict[str, Callable[[], Mapping[str, Any]]] = {}

    def register_metric_collector(self, name: str, collector_func: Callable[[], Mapping[str, Any]]) -> None:
        """Register a function returning ``{metric name: number, ..., "timestamp": optional}``."""
        if not callable(collector_func):
            raise TypeError(f"collector {name!r}: expected a callable, got {collector_func!r}")
        self.collectors[str(name)] = collector_func

    def collect_metrics(self, source_name: str | None = None) -> dict[str, dict[str, Any]]:
        """``{source name: what its function returned}`` for all sources or one; a failing function is logged and
        left out."""
        if source_name is not None and source_name not in self.collectors:
            raise KeyError(f"no metric collector named {source_name!r}; registered: {sorted(self.collectors)}")
        names = [source_name] if source_name is not None else list(self.collectors)
        out: dict[str, dict[str, Any]] = {}
        for name in names:
            try:
                values = self.collectors[name]()
            except Exception as exc:
                log.error("metric collector %r failed: %s: %s", name, type(exc).__name__, str(exc)[:300])
                continue
            if not isinstance(values, Mapping):
                log.error("metric collector %r returned %s, expected a dict", name, type(values).__name__)
                continue
            out[name] = dict(values)
        return out

    def collect(self) -> Iterator[tuple[str | None, Mapping[str, Any]]]:
        records = metric_records(self.collect_metrics()) if self.collectors else []
        if records:
            yield None, {"metrics": records}
