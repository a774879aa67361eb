-- Node samples pushed by agents (the demo's clusters included), read by the cluster marts through
-- int_node_metrics_unioned. A sample pushed again (a later batch with the same cluster, node and time) replaces the
-- earlier one: the latest received wins.
-- Grain: cluster_id x node_id x sampled_at.
with

source as (
    select * from {{ source('telemetry', 'telemetry_node_metrics') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by cluster_id, node_id, sampled_at
            order by _received_at desc, _batch_id desc, _record_index desc
        ) as receive_rank
    from source
),

renamed as (
    select
        -- keys
        {{ surrogate_key(['cluster_id', 'node_id', 'sampled_at']) }} as node_sample_key,
        cast(cluster_id as text) as cluster_id,
        cast(node_id as text) as node_id,
        cast(sampled_at as timestamptz) as sampled_at,
        cast('agent:' || _agent_id as text) as source_id,

        -- health and utilisation (percent 0-100, GB); a sample without a status counts as Unknown
        cast(coalesce(node_status, 'Unknown') as text) as node_status,
        cast(cpu_utilization_pct as numeric) as cpu_utilization_pct,
        cast(gpu_utilization_pct as numeric) as gpu_utilization_pct,
        cast(memory_utilization_pct as numeric) as memory_utilization_pct,
        cast(gpu_memory_used_gb as numeric) as gpu_memory_used_gb,
        cast(gpu_count as integer) as gpu_count,

        -- load metadata
        cast(_batch_id as text) as batch_id,
        cast(_received_at as timestamptz) as loaded_at

    from ranked
    where receive_rank = 1
)

select * from renamed
