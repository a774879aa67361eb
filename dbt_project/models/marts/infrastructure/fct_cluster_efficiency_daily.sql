-- Cost efficiency of every compute cluster per UTC day: what a healthy node-hour cost and how much of the cost was
-- utilised.
-- Grain: cluster_id x metric_date - the rows of fct_cluster_health_daily (every cluster, every day between the first
-- and the last day with node metrics), whose effective_cost this mart repeats.
-- node_hours / healthy_node_hours = the day's sums of fct_cluster_health_hourly.nodes_reporting / healthy_nodes.
-- utilisation_basis: stg_config__clusters' ('gpu' for clusters configured with GPUs, gpus_per_node > 0, else 'cpu').
-- utilised_cost = sum over the day's hours of the hour's effective cost (int_cluster_costs_hourly) x that hour's
-- average utilisation of the basis (fct_cluster_health_hourly, percent, over Ready samples) / 100, rounded to 6
-- decimals per day; cost in an hour without a Ready sample counts as idle. idle_cost = effective_cost - utilised_cost;
-- utilisation_weighted_pct = utilised_cost / effective_cost x 100 (2 decimals, NULL when the day cost nothing).
with

cluster_days as (
    select
        cluster_id,
        metric_date,
        billing_currency,
        effective_cost
    from {{ ref('fct_cluster_health_daily') }}
),

clusters as (
    select
        cluster_id,
        utilisation_basis
    from {{ ref('stg_config__clusters') }}
),

hour_costs as (
    select
        cluster_id,
        usage_hour as metric_hour,
        sum(effective_cost) as effective_cost
    from {{ ref('int_cluster_costs_hourly') }}
    group by cluster_id, usage_hour
),

hours as (
    select
        cluster_id,
        metric_hour,
        nodes_reporting,
        healthy_nodes,
        avg_cpu_utilization_pct,
        avg_gpu_utilization_pct
    from {{ ref('fct_cluster_health_hourly') }}
),

hourly as (
    select
        coalesce(hour_costs.cluster_id, hours.cluster_id) as cluster_id,
        coalesce(hour_costs.metric_hour, hours.metric_hour) as metric_hour,
        coalesce(hour_costs.effective_cost, 0) as effective_cost,
        coalesce(hours.nodes_reporting, 0) as nodes_reporting,
        coalesce(hours.healthy_nodes, 0) as healthy_nodes,
        case
            when clusters.utilisation_basis = 'gpu' then hours.avg_gpu_utilization_pct
            else hours.avg_cpu_utilization_pct
        end as basis_utilization_pct
    from hour_costs
    full outer join hours
        on
            hour_costs.cluster_id = hours.cluster_id
            and hour_costs.metric_hour = hours.metric_hour
    left join clusters
        on coalesce(hour_costs.cluster_id, hours.cluster_id) = clusters.cluster_id
),

daily as (
    select
        cluster_id,
        cast(metric_hour as date) as metric_date,
        sum(nodes_reporting) as node_hours,
        sum(healthy_nodes) as healthy_node_hours,
        -- rounded once per day to 6 decimals (micro-units, the precision of the cost data)
        round(sum(effective_cost * coalesce(basis_utilization_pct, 0) / 100), 6) as utilised_cost,
        coalesce(sum(effective_cost) filter (where basis_utilization_pct is null), 0) as unmeasured_cost
    from hourly
    group by cluster_id, cast(metric_hour as date)
),

final as (
    select
        cluster_days.cluster_id,
        cluster_days.metric_date,
        cluster_days.billing_currency,
        coalesce(clusters.utilisation_basis, 'cpu') as utilisation_basis,
        cluster_days.effective_cost,
        cast(coalesce(daily.node_hours, 0) as integer) as node_hours,
        cast(coalesce(daily.healthy_node_hours, 0) as integer) as healthy_node_hours,
        cast(
            cluster_days.effective_cost / nullif(daily.healthy_node_hours, 0) as numeric(18, 6)
        ) as cost_per_healthy_node_hour,
        coalesce(daily.utilised_cost, 0) as utilised_cost,
        cluster_days.effective_cost - coalesce(daily.utilised_cost, 0) as idle_cost,
        coalesce(daily.unmeasured_cost, 0) as unmeasured_cost,
        {{ bounded_pct('coalesce(daily.utilised_cost, 0)', 'cluster_days.effective_cost', 6) }}
            as utilisation_weighted_pct
    from cluster_days
    left join daily
        on
            cluster_days.cluster_id = daily.cluster_id
            and cluster_days.metric_date = daily.metric_date
    left join clusters
        on cluster_days.cluster_id = clusters.cluster_id
)

select * from final
