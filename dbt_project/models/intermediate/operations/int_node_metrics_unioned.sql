-- Every node sample the cluster marts read: what agents pushed to the ingest server (stg_telemetry__node_metrics;
-- the demo's clusters push too, through agents/demo_telemetry_agent.py). The one place the marts take samples from,
-- so a future pulled source (e.g. a Prometheus collector) is a union here, not an edit of every mart. A view.
-- Grain: cluster_id x node_id x sampled_at (node_sample_key).
{{ config(materialized='view') }}

select
    node_sample_key,
    cluster_id,
    node_id,
    sampled_at,
    source_id,
    node_status,
    cpu_utilization_pct,
    gpu_utilization_pct,
    memory_utilization_pct,
    gpu_memory_used_gb,
    gpu_count,
    batch_id,
    loaded_at
from {{ ref('stg_telemetry__node_metrics') }}
