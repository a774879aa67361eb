-- Daily health of every compute cluster.
-- Grain: cluster_id x metric_date, for every cluster (configured or seen in metrics) and every day between the
-- first and the last day with any node metrics: a cluster that stops reporting shows up as 'critical' instead
-- of disappearing.
-- nodes = configured node count (config.clusters), else the distinct nodes seen for that cluster.
-- A node is healthy for the day when it was Ready in >= 90 % of its samples; nodes that did not report count
-- as unhealthy. Status: 'healthy' when every node is healthy, 'critical' when fewer than 50 % are,
-- 'degraded' otherwise. Utilisation averages are over the Ready samples of the day (percent, 2 decimals).
-- Cost: the cluster's cost lines that day (tag `cluster`, see int_cluster_costs_hourly), summed per cluster and
-- day before the join, so every node's cost counts once however many samples it has.
with

node_days as (
    select * from {{ ref('int_node_health_daily') }}
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
    from node_days
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

metric_range as (
    select
        cast(min(metric_date) as timestamp) as first_day,
        cast(max(metric_date) as timestamp) as last_day
    from node_days
),

days as (
    select cast(series.metric_day as date) as metric_date
    from metric_range
    cross join lateral generate_series(
        metric_range.first_day, metric_range.last_day, interval '1 day'
    ) as series (metric_day)
),

cluster_days as (
    select
        node_days.cluster_id,
        node_days.metric_date,
        count(*) as nodes_reporting,
        count(*) filter (where node_days.is_healthy) as healthy_nodes,
        sum(node_days.ready_cpu_utilization_pct_sum)
        / nullif(sum(node_days.ready_cpu_sample_count), 0) as avg_cpu_utilization_pct,
        sum(node_days.ready_gpu_utilization_pct_sum)
        / nullif(sum(node_days.ready_gpu_sample_count), 0) as avg_gpu_utilization_pct,
        sum(node_days.ready_memory_utilization_pct_sum)
        / nullif(sum(node_days.ready_memory_sample_count), 0) as avg_memory_utilization_pct
    from node_days
    group by node_days.cluster_id, node_days.metric_date
),

cluster_day_costs as (
    select
        cluster_id,
        cast(usage_hour as date) as metric_date,
        min(billing_currency) as billing_currency,
        count(distinct node_id) as billed_nodes,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost
    from {{ ref('int_cluster_costs_hourly') }}
    group by cluster_id, cast(usage_hour as date)
),

spine as (
    select
        clusters.cluster_id,
        clusters.nodes,
        days.metric_date
    from clusters
    cross join days
),

final as (
    select
        spine.cluster_id,
        spine.metric_date,
        cast(spine.nodes as integer) as nodes,
        cast(coalesce(cluster_days.nodes_reporting, 0) as integer) as nodes_reporting,
        cast(coalesce(cluster_days.healthy_nodes, 0) as integer) as healthy_nodes,
        cast(round(cluster_days.avg_cpu_utilization_pct, 2) as numeric(5, 2)) as avg_cpu_utilization_pct,
        cast(round(cluster_days.avg_gpu_utilization_pct, 2) as numeric(5, 2)) as avg_gpu_utilization_pct,
        cast(round(cluster_days.avg_memory_utilization_pct, 2) as numeric(5, 2)) as avg_memory_utilization_pct,
        case
            when coalesce(cluster_days.healthy_nodes, 0) >= spine.nodes then 'healthy'
            when coalesce(cluster_days.healthy_nodes, 0) < 0.5 * spine.nodes then 'critical'
            else 'degraded'
        end as status,
        cast(coalesce(cluster_day_costs.billed_nodes, 0) as integer) as billed_nodes,
        cluster_day_costs.billing_currency,
        coalesce(cluster_day_costs.billed_cost, 0) as billed_cost,
        coalesce(cluster_day_costs.effective_cost, 0) as effective_cost,
        cast(
            cluster_day_costs.effective_cost / nullif(cluster_days.healthy_nodes, 0) as numeric(18, 6)
        ) as effective_cost_per_healthy_node
    from spine
    left join cluster_days
        on
            spine.cluster_id = cluster_days.cluster_id
            and spine.metric_date = cluster_days.metric_date
    left join cluster_day_costs
        on
            spine.cluster_id = cluster_day_costs.cluster_id
            and spine.metric_date = cluster_day_costs.metric_date
)

select * from final
