"""``DemoTelemetryAgent``: the demo's GPU clusters and training jobs, pushing their telemetry to OpenFinOps as real
ones do (training jobs and on-prem GPU nodes cannot be pulled by a daily DAG: they push).

It runs the demo collector's ``node_metrics`` and ``llm_training_metrics`` datasets (``collectors.sources.demo``:
hourly samples of every node of every configured cluster, a training step every 10 minutes for the demo's runs;
seeded, so a re-run pushes the same records and the server stores them once) for the clusters of the OpenFinOps
config (``clusters:``), and maps each sample to a batch record:

- node sample -> ``node_metrics`` (status, CPU / GPU / memory utilisation in percent, GPU memory in GB, GPUs);
- training step -> ``llm_training_metrics`` (``training_loss`` = the demo's loss, GPU memory sent in MB as the
  original ``LLMTrainingMetrics`` does: GB x 1024, exact).

``make demo`` runs it once over the demo's days before the collect DAGs (the fold-in DAG then brings the batches to
the transform):

    python -m agents.demo_telemetry_agent --openfinops-endpoint http://127.0.0.1:8081 --lookback-days 90 --once
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from agents import cli
from agents.collector_agent import CollectorAgent
from collectors.core.base import Collector, Dataset
from collectors.sources.demo import LLM_TRAINING_METRICS, NODE_METRICS, DemoCollector


class DemoTelemetryAgent(CollectorAgent):
    agent_type = "demo_clusters"

    def __init__(self, openfinops_endpoint: str, *, clusters: list[dict[str, Any]] | None = None, seed: int = 42,
                 **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"demo": True, "seed": seed})
        super().__init__(openfinops_endpoint, **kwargs)
        if clusters is None:
            from openfinops.config import load_config

            clusters = [c.model_dump() for c in load_config().clusters]
        self.clusters = clusters
        self.seed = seed

    def make_collectors(self) -> list[tuple[str, Collector]]:
        collector = DemoCollector("demo-clusters", {"seed": self.seed,
                                                    "datasets": ["node_metrics", "llm_training_metrics"]},
                                  context={"clusters": self.clusters})
        return [("demo_clusters", collector)]

    def to_records(self, source: str, dataset: Dataset, row: dict[str, Any]) -> dict[str, list[dict]]:
        if dataset.name == NODE_METRICS.name:
            region = next((c.get("region") for c in self.clusters if c["cluster_id"] == row["cluster_id"]), None)
            return {"node_metrics": [{
                "timestamp": row["sampled_at"].isoformat(), "cluster_id": row["cluster_id"],
                "node_id": row["node_id"], "status": row["node_status"], "cpu_usage": row["cpu_utilization_pct"],
                "gpu_usage": row["gpu_utilization_pct"], "memory_usage": row["memory_utilization_pct"],
                "gpu_memory_used_gb": row["gpu_memory_used_gb"], "gpu_count": row["gpu_count"],
                "region": region}]}
        if dataset.name == LLM_TRAINING_METRICS.name:
            gb = row["gpu_memory_used_gb"]
            return {"llm_training_metrics": [{
                "timestamp": row["logged_at"].isoformat(), "run_id": row["run_id"], "model_name": row["model_name"],
                "cluster_id": row["cluster_id"], "step": row["step"], "training_loss": row["loss"],
                "learning_rate": row["learning_rate"], "tokens_per_second": row["tokens_per_second"],
                "gpu_memory_mb": None if gb is None else gb * 1024, "gpu_count": row["gpu_count"]}]}
        return {}


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=42, help="the demo's seed (the same as the demo cost sources')")


def _build(args: argparse.Namespace, options: dict[str, Any], common: dict[str, Any]) -> DemoTelemetryAgent:
    return DemoTelemetryAgent(seed=args.seed, **common)


def main(argv: list[str] | None = None) -> int:
    return cli.main("demo_telemetry_agent", "demo", "Push the demo's GPU cluster and training telemetry to OpenFinOps",
                    _arguments, _build, argv)


if __name__ == "__main__":
    sys.exit(main())
