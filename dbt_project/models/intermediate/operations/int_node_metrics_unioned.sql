-- Every node sample the cluster marts read: the demo's (stg_demo__node_metrics) and what agents pushed to the ingest
-- server (stg_telemetry__node_metrics), same columns. A view: the marts aggregate it.
-- Grain: cluster_id x node_id x sampled_at (node_sample_key; a sample in both would fail its unique test).
{{ config(materialized='view') }}

{%- set columns = ['node_sample_key', 'cluster_id', 'node_id', 'sampled_at', 'source_id', 'node_status',
                   'cpu_utilization_pct', 'gpu_utilization_pct', 'memory_utilization_pct', 'gpu_memory_used_gb',
                   'gpu_count', 'batch_id', 'loaded_at'] %}

select {{ columns | join(', ') }} from {{ ref('stg_demo__node_metrics') }}
union all
select {{ columns | join(', ') }} from {{ ref('stg_telemetry__node_metrics') }}
