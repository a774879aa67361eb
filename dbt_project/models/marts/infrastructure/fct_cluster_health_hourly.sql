-- Hourly health, utilisation and cost of every compute cluster.
-- Grain: cluster_id x metric_hour (UTC), for every cluster (configured or seen in metrics) and every hour between
-- the first and the last hour with node metrics. Same rules as fct_cluster_health_daily, per hour: a node is
-- healthy in the hour when Ready in >= 90 % of its samples; status 'healthy' / 'degraded' / 'critical' (< 50 %).
-- Cost: the cluster's cost lines in that hour (int_cluster_costs_hourly), summed per cluster and hour before the
-- join, so each node counts once.
with

samples as (
    select
        cluster_id,
        node_id,
        cast(date_trunc('hour', sampled_at at time zone 'UTC') as timestamp) as metric_hour,
        node_status = 'Ready' as is_ready,
        cpu_utilization_pct,
        gpu_utilization_pct,
        memory_utilization_pct
    from {{ ref('int_node_metrics_unioned') }}
),

node_hours as (
    select
        cluster_id,
        node_id,
        metric_hour,
        count(*) filter (where is_ready) >= 0.9 * count(*) as is_healthy,
        sum(cpu_utilization_pct) filter (where is_ready) as ready_cpu_sum,
        count(cpu_utilization_pct) filter (where is_ready) as ready_cpu_count,
        sum(gpu_utilization_pct) filter (where is_ready) as ready_gpu_sum,
        count(gpu_utilization_pct) filter (where is_ready) as ready_gpu_count,
        sum(memory_utilization_pct) filter (where is_ready) as ready_memory_sum,
        count(memory_utilization_pct) filter (where is_ready) as ready_memory_count
    from samples
    group by cluster_id, node_id, metric_hour
),

cluster_hours as (
    select
        cluster_id,
        metric_hour,
        count(*) as nodes_reporting,
        count(*) filter (where is_healthy) as healthy_nodes,
        sum(ready_cpu_sum) / nullif(sum(ready_cpu_count), 0) as avg_cpu_utilization_pct,
        sum(ready_gpu_sum) / nullif(sum(ready_gpu_count), 0) as avg_gpu_utilization_pct,
        sum(ready_memory_sum) / nullif(sum(ready_memory_count), 0) as avg_memory_utilization_pct
    from node_hours
    group by cluster_id, metric_hour
),

configured_clusters as (
    select
        cluster_id,
        configured_nodes
    from {{ ref('stg_config__clusters') }}
),

seen_clusters as (
    select
        cluster_id,
        count(distinct node_id) as seen_nodes
    from node_hours
    group by cluster_id
),

clusters as (
    select
        coalesce(configured_clusters.cluster_id, seen_clusters.cluster_id) as cluster_id,
        coalesce(configured_clusters.configured_nodes, seen_clusters.seen_nodes) as nodes
    from configured_clusters
    full outer join seen_clusters
        on configured_clusters.cluster_id = seen_clusters.cluster_id
),

hour_range as (
    select
        min(metric_hour) as first_hour,
        max(metric_hour) as last_hour
    from node_hours
),

spine as (
    select
        clusters.cluster_id,
        clusters.nodes,
        cast(series.metric_hour as timestamp) as metric_hour
    from clusters
    cross join hour_range
    cross join lateral generate_series(
        hour_range.first_hour, hour_range.last_hour, interval '1 hour'
    ) as series (metric_hour)
),

cluster_hour_costs as (
    select
        cluster_id,
        usage_hour as metric_hour,
        min(billing_currency) as billing_currency,
        count(distinct node_id) as billed_nodes,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost
    from {{ ref('int_cluster_costs_hourly') }}
    group by cluster_id, usage_hour
),

final as (
    select
        spine.cluster_id,
        spine.metric_hour,
        cast(spine.nodes as integer) as nodes,
        cast(coalesce(cluster_hours.nodes_reporting, 0) as integer) as nodes_reporting,
        cast(coalesce(cluster_hours.healthy_nodes, 0) as integer) as healthy_nodes,
        cast(round(cluster_hours.avg_cpu_utilization_pct, 2) as numeric(5, 2)) as avg_cpu_utilization_pct,
        cast(round(cluster_hours.avg_gpu_utilization_pct, 2) as numeric(5, 2)) as avg_gpu_utilization_pct,
        cast(round(cluster_hours.avg_memory_utilization_pct, 2) as numeric(5, 2)) as avg_memory_utilization_pct,
        case
            when coalesce(cluster_hours.healthy_nodes, 0) >= spine.nodes then 'healthy'
            when coalesce(cluster_hours.healthy_nodes, 0) < 0.5 * spine.nodes then 'critical'
            else 'degraded'
        end as status,
        cast(coalesce(cluster_hour_costs.billed_nodes, 0) as integer) as billed_nodes,
        cluster_hour_costs.billing_currency,
        coalesce(cluster_hour_costs.billed_cost, 0) as billed_cost,
        coalesce(cluster_hour_costs.effective_cost, 0) as effective_cost
    from spine
    left join cluster_hours
        on
            spine.cluster_id = cluster_hours.cluster_id
            and spine.metric_hour = cluster_hours.metric_hour
    left join cluster_hour_costs
        on
            spine.cluster_id = cluster_hour_costs.cluster_id
            and spine.metric_hour = cluster_hour_costs.metric_hour
)

select * from final
