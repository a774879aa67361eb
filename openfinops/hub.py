"""``ObservabilityHub``: the original OpenFinOps entry point, reading the dbt marts instead of in-memory state.

Telemetry reaches the warehouse through the ingest server (agents push) or the collectors (pulled bills); dbt folds
it into the marts; this class reads them. Nothing here invents a figure: a value the marts do not have is ``None``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from openfinops import _marts

CLUSTER_COLUMNS = "cluster_id, region, nodes, node_ids, registered_at, updated_at"


class ObservabilityHub:
    """Server-side view of clusters and their health.

    ``warehouse_url`` defaults to ``OPENFINOPS_WAREHOUSE_URL``. Reads are read-only transactions on ``marts.*``.
    """

    def __init__(self, warehouse_url: str | None = None) -> None:
        self.warehouse_url = _marts.resolve_url(warehouse_url)

    # -- clusters -------------------------------------------------------------------------------------------------
    def register_cluster(self, cluster_id: str, nodes: list[str], region: str = "us-east-1") -> dict[str, Any]:
        """Store (or update: idempotent upsert on ``cluster_id``) a cluster and its node list in
        ``config.api_clusters`` (cluster_id, region, nodes = len(node_ids), node_ids, registered_at, updated_at).

        The clusters of the config file (``config.clusters``, replaced by every ``openfinops transform``) are not
        touched; the dbt layer can union this table beside them (same ``cluster_id`` / ``region`` / ``nodes``).
        """
        if not cluster_id or not isinstance(cluster_id, str):
            raise ValueError("cluster_id must be a non-empty string")
        node_ids = [str(n) for n in nodes]
        if not node_ids or len(set(node_ids)) != len(node_ids):
            raise ValueError("nodes must be a non-empty list of distinct node names")
        now = datetime.now(UTC)
        with _marts.connect(self.warehouse_url) as conn:
            _marts.ensure_api_tables(conn)
            with conn.transaction():
                row = conn.execute(f"""
                    INSERT INTO config.api_clusters (cluster_id, region, nodes, node_ids, registered_at, updated_at)
                    VALUES (%s, %s, %s, %s, %s, %s)
                    ON CONFLICT (cluster_id) DO UPDATE SET region = excluded.region, nodes = excluded.nodes,
                        node_ids = excluded.node_ids, updated_at = excluded.updated_at
                    RETURNING {CLUSTER_COLUMNS}""", (cluster_id, region, len(node_ids), node_ids, now, now)).fetchone()
        return dict(zip(CLUSTER_COLUMNS.split(", "), row, strict=True))

    def registered_clusters(self) -> dict[str, dict[str, Any]]:
        """The clusters stored by :meth:`register_cluster` (empty before the first one)."""
        if not _marts.relation_exists(self.warehouse_url, "config.api_clusters"):
            return {}
        rows = _marts.query(self.warehouse_url, f"SELECT {CLUSTER_COLUMNS} FROM config.api_clusters")
        return {r["cluster_id"]: r for r in rows}

    # -- health ---------------------------------------------------------------------------------------------------
    def get_cluster_health_summary(self, granularity: str = "day") -> dict[str, dict[str, Any]]:
        """{cluster_id: metrics} for the latest day (``granularity="day"``, ``marts.fct_cluster_health_daily``) or
        the latest hour (``"hour"``, ``marts.fct_cluster_health_hourly``) in the mart.

        Keys (original names first): ``health_status`` (the mart's ``status``: healthy / degraded / critical),
        ``avg_cpu_usage``, ``avg_gpu_usage``, ``avg_memory_usage`` (``avg_*_utilization_pct``, percent over the
        period's Ready samples, ``Decimal``; ``None`` when no node was Ready), ``node_count`` (``nodes``: configured,
        else seen), ``healthy_nodes``, ``nodes_reporting``, ``period`` (the day or hour), ``granularity``,
        ``effective_cost`` / ``billed_cost`` (``Decimal``) with ``currency``, ``region`` and ``registered_nodes``
        (from :meth:`register_cluster`, else ``None``), ``source`` (the mart).

        A cluster registered here but with no telemetry in the marts yet is listed with ``health_status``
        ``"unknown"`` and ``None`` figures (never a made-up number).
        """
        if granularity not in ("day", "hour"):
            raise ValueError("granularity: 'day' or 'hour'")
        mart, period = (("marts.fct_cluster_health_daily", "metric_date") if granularity == "day"
                        else ("marts.fct_cluster_health_hourly", "metric_hour"))
        rows = _marts.query(self.warehouse_url, f"""
            SELECT cluster_id, {period} AS period, status, avg_cpu_utilization_pct, avg_gpu_utilization_pct,
                   avg_memory_utilization_pct, nodes, healthy_nodes, nodes_reporting, billing_currency,
                   billed_cost, effective_cost
            FROM {mart}
            WHERE {period} = (SELECT max({period}) FROM {mart})
            ORDER BY cluster_id""")
        registered = self.registered_clusters()
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            reg = registered.get(r["cluster_id"])
            out[r["cluster_id"]] = {
                "health_status": r["status"],
                "avg_cpu_usage": r["avg_cpu_utilization_pct"],
                "avg_gpu_usage": r["avg_gpu_utilization_pct"],
                "avg_memory_usage": r["avg_memory_utilization_pct"],
                "node_count": r["nodes"],
                "healthy_nodes": r["healthy_nodes"],
                "nodes_reporting": r["nodes_reporting"],
                "period": r["period"],
                "granularity": granularity,
                "effective_cost": r["effective_cost"],
                "billed_cost": r["billed_cost"],
                "currency": r["billing_currency"],
                "region": reg["region"] if reg else None,
                "registered_nodes": reg["node_ids"] if reg else None,
                "source": mart,
            }
        for cluster_id, reg in registered.items():
            if cluster_id not in out:
                out[cluster_id] = {
                    "health_status": "unknown", "avg_cpu_usage": None, "avg_gpu_usage": None,
                    "avg_memory_usage": None, "node_count": reg["nodes"], "healthy_nodes": None,
                    "nodes_reporting": 0, "period": None, "granularity": granularity, "effective_cost": None,
                    "billed_cost": None, "currency": None, "region": reg["region"],
                    "registered_nodes": reg["node_ids"],
                    "source": "config.api_clusters (registered; no telemetry in the marts yet)",
                }
        return out
