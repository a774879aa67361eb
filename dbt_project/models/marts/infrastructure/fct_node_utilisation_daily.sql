-- Utilisation, health and cost of every node per UTC day, and whether it ran below the low-utilisation threshold.
-- Grain: cluster_id x node_id x metric_date, for every node with node metrics or with cost lines that day
-- (int_cluster_costs_hourly lines whose node_id is the node; lines without a node id - 'n/a' - are left out), on the
-- days fct_cluster_health_daily covers (first to last day with node metrics).
-- Averages are over the node's Ready samples of the day (percent, 2 decimals). is_healthy: Ready in >= 90 % of its
-- samples (int_node_health_daily); a node billed but not reporting is not healthy.
-- utilisation_basis: stg_config__clusters' ('gpu' where configured with GPUs, else 'cpu'); is_below_threshold: the
-- basis average is below var('low_utilisation_threshold_pct') (default 30) - false when the node had no Ready sample.
{% set threshold_pct = var('low_utilisation_threshold_pct', 30) %}
{% set basis_avg = "case when combined.utilisation_basis = 'gpu' then combined.avg_gpu else combined.avg_cpu end" %}
with

node_days as (
    select * from {{ ref('int_node_health_daily') }}
),

node_costs as (
    select
        cluster_id,
        node_id,
        cast(usage_hour as date) as metric_date,
        min(billing_currency) as billing_currency,
        sum(effective_cost) as effective_cost
    from {{ ref('int_cluster_costs_hourly') }}
    where node_id <> 'n/a'
    group by cluster_id, node_id, cast(usage_hour as date)
),

day_range as (
    select
        min(metric_date) as first_day,
        max(metric_date) as last_day
    from node_days
),

clusters as (
    select
        cluster_id,
        utilisation_basis
    from {{ ref('stg_config__clusters') }}
),

combined as (
    select
        coalesce(node_days.cluster_id, node_costs.cluster_id) as cluster_id,
        coalesce(node_days.node_id, node_costs.node_id) as node_id,
        coalesce(node_days.metric_date, node_costs.metric_date) as metric_date,
        node_days.ready_cpu_utilization_pct_sum / nullif(node_days.ready_cpu_sample_count, 0) as avg_cpu,
        node_days.ready_gpu_utilization_pct_sum / nullif(node_days.ready_gpu_sample_count, 0) as avg_gpu,
        node_days.ready_memory_utilization_pct_sum / nullif(node_days.ready_memory_sample_count, 0) as avg_memory,
        coalesce(node_days.is_healthy, false) as is_healthy,
        node_costs.billing_currency,
        node_costs.effective_cost,
        coalesce(clusters.utilisation_basis, 'cpu') as utilisation_basis
    from node_days
    full outer join node_costs
        on
            node_days.cluster_id = node_costs.cluster_id
            and node_days.node_id = node_costs.node_id
            and node_days.metric_date = node_costs.metric_date
    left join clusters
        on coalesce(node_days.cluster_id, node_costs.cluster_id) = clusters.cluster_id
),

final as (
    select
        {{ surrogate_key(['combined.cluster_id', 'combined.node_id', 'combined.metric_date']) }} as node_day_key,
        combined.cluster_id,
        combined.node_id,
        combined.metric_date,
        cast(round(combined.avg_cpu, 2) as numeric(5, 2)) as avg_cpu_utilization_pct,
        cast(round(combined.avg_gpu, 2) as numeric(5, 2)) as avg_gpu_utilization_pct,
        cast(round(combined.avg_memory, 2) as numeric(5, 2)) as avg_memory_utilization_pct,
        combined.is_healthy,
        combined.billing_currency,
        combined.effective_cost,
        combined.utilisation_basis,
        cast(round({{ basis_avg }}, 2) as numeric(5, 2)) as basis_utilization_pct,
        cast({{ threshold_pct }} as numeric(5, 2)) as utilisation_threshold_pct,
        coalesce(round({{ basis_avg }}, 2) < {{ threshold_pct }}, false) as is_below_threshold
    from combined
    cross join day_range
    where combined.metric_date between day_range.first_day and day_range.last_day
)

select * from final
