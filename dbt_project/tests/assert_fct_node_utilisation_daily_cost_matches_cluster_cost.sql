-- Node costs add up to the cluster's: for every cluster-day of fct_cluster_health_daily on which every billed cost
-- line has a node id, the sum of fct_node_utilisation_daily.effective_cost over the nodes equals the cluster's
-- effective_cost (exactly; both sum the same int_cluster_costs_hourly rows). Returns the days that differ.
with

node_sums as (
    select
        cluster_id,
        metric_date,
        sum(effective_cost) as node_cost
    from {{ ref('fct_node_utilisation_daily') }}
    group by cluster_id, metric_date
),

unattributed_days as (
    select distinct
        cluster_id,
        cast(usage_hour as date) as metric_date
    from {{ ref('int_cluster_costs_hourly') }}
    where node_id = 'n/a'
)

select
    cluster_days.cluster_id,
    cluster_days.metric_date,
    cluster_days.effective_cost,
    node_sums.node_cost
from {{ ref('fct_cluster_health_daily') }} as cluster_days
left join node_sums
    on
        cluster_days.cluster_id = node_sums.cluster_id
        and cluster_days.metric_date = node_sums.metric_date
where
    not exists (
        select 1 as unattributed
        from unattributed_days
        where
            unattributed_days.cluster_id = cluster_days.cluster_id
            and unattributed_days.metric_date = cluster_days.metric_date
    )
    and cluster_days.effective_cost <> coalesce(node_sums.node_cost, 0)
