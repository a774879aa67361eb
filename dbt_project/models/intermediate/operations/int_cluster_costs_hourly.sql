-- Cost of compute clusters per cluster, node and UTC hour.
-- Grain: cluster_id x node_id x usage_hour x billing_currency. A cost line belongs to a cluster when its
-- (normalised) tags carry `cluster`; the node is its resource_id. A line whose charge period spans several hours
-- (e.g. a daily line) is spread evenly over the whole hours it covers, so hourly and daily sums both hold.
with

cluster_lines as (
    select
        cost_line_key,
        tags ->> 'cluster' as cluster_id,
        coalesce(resource_id, 'n/a') as node_id,
        date_trunc('hour', charge_period_start at time zone 'UTC') as first_hour,
        greatest(
            1,
            ceil(extract(epoch from (charge_period_end - date_trunc('hour', charge_period_start))) / 3600)
        ) as hours,
        billing_currency,
        billed_cost,
        effective_cost
    from {{ ref('int_focus_costs') }}
    where tags ->> 'cluster' is not null
),

spread as (
    select
        cluster_lines.cluster_id,
        cluster_lines.node_id,
        cluster_lines.billing_currency,
        cast(hour_offset.n as integer) as hour_offset,
        cluster_lines.first_hour,
        cluster_lines.billed_cost / cluster_lines.hours as billed_cost,
        cluster_lines.effective_cost / cluster_lines.hours as effective_cost
    from cluster_lines
    cross join lateral generate_series(0, cast(cluster_lines.hours as integer) - 1) as hour_offset (n)
),

final as (
    select
        cluster_id,
        node_id,
        cast(first_hour + make_interval(hours => hour_offset) as timestamp) as usage_hour,
        billing_currency,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost,
        count(*) as line_item_count
    from spread
    group by cluster_id, node_id, first_hour + make_interval(hours => hour_offset), billing_currency
)

select * from final
