-- Per node and UTC day: how many samples, how many Ready, and utilisation sums over the Ready samples
-- (sums and counts, so cluster averages can be weighted by samples rather than averaging averages).
-- Grain: cluster_id x node_id x metric_date. A node is healthy for the day when it was Ready in >= 90 % of its
-- samples.
with

samples as (
    select
        cluster_id,
        node_id,
        cast(sampled_at at time zone 'UTC' as date) as metric_date,
        node_status = 'Ready' as is_ready,
        cpu_utilization_pct,
        gpu_utilization_pct,
        memory_utilization_pct
    from {{ ref('int_node_metrics_unioned') }}
),

daily as (
    select
        cluster_id,
        node_id,
        metric_date,
        count(*) as sample_count,
        count(*) filter (where is_ready) as ready_sample_count,
        sum(cpu_utilization_pct) filter (where is_ready) as ready_cpu_utilization_pct_sum,
        count(cpu_utilization_pct) filter (where is_ready) as ready_cpu_sample_count,
        sum(gpu_utilization_pct) filter (where is_ready) as ready_gpu_utilization_pct_sum,
        count(gpu_utilization_pct) filter (where is_ready) as ready_gpu_sample_count,
        sum(memory_utilization_pct) filter (where is_ready) as ready_memory_utilization_pct_sum,
        count(memory_utilization_pct) filter (where is_ready) as ready_memory_sample_count
    from samples
    group by cluster_id, node_id, metric_date
),

final as (
    select
        *,
        ready_sample_count >= 0.9 * sample_count as is_healthy
    from daily
)

select * from final
