-- MongoDB Atlas in the FOCUS cost columns: the invoice line items (stg_mongodb_atlas__line_items, billed truth) plus
-- a labelled list-price estimate for each cluster-day no invoice line covers (no invoice yet, or an API key without
-- invoice access). Grain: one row per invoice line item or estimated cluster-day (cost_line_key).
-- A cluster-day (project, cluster, UTC day of the inventory stg_mongodb_atlas__clusters) is estimated when it is
-- not paused, no invoice line of that project and cluster starts on that day, no invoice of its organisation for
-- that month has left PENDING (a closed invoice is final: a cluster it does not bill was not billed), and its tier
-- has a list price valid on the day (seed mongodb_atlas_cluster_prices). Estimate = price per hour x 24 x shards:
-- Atlas quotes the price per hour for the whole cluster (a 3-node replica set), so the node count (replication
-- factor) never multiplies it. Simplification: extra electable, read-only and analytics nodes beyond the base
-- replica set, custom storage, backup and data transfer are not estimated (the estimate is a floor), and the
-- price read for one region applies to every region.
-- Labelled: charge_description starts 'List-price estimate', pricing_category 'Standard', tags x_cost_basis =
-- 'list_price_estimate' (with the price's source URL and effective date); billed = effective = list = contracted.
with

invoice_lines as (
    select * from {{ ref('stg_mongodb_atlas__line_items') }}
),

cluster_days as (
    select * from {{ ref('stg_mongodb_atlas__clusters') }}
),

list_prices as (
    select * from {{ ref('mongodb_atlas_cluster_prices') }}
),

invoiced_cluster_days as (
    select distinct
        sub_account_id as group_id,
        resource_id as cluster_name,
        cast(charge_period_start at time zone 'UTC' as date) as usage_date
    from invoice_lines
    where resource_id is not null
),

final_invoice_months as (
    select distinct
        billing_account_id as org_id,
        billing_period_start
    from invoice_lines
    where invoice_status is distinct from 'PENDING'
),

unbilled_cluster_days as (
    select cluster_days.*
    from cluster_days
    where
        not cluster_days.is_paused
        and not exists (
            select 1 as found from invoiced_cluster_days
            where
                invoiced_cluster_days.group_id = cluster_days.group_id
                and invoiced_cluster_days.cluster_name = cluster_days.cluster_name
                and invoiced_cluster_days.usage_date = cluster_days.snapshot_date
        )
        and not exists (
            select 1 as found from final_invoice_months
            where
                final_invoice_months.org_id = cluster_days.org_id
                and final_invoice_months.billing_period_start
                = date_trunc('month', cast(cluster_days.snapshot_date as timestamp)) at time zone 'UTC'
        )
),

priced as (
    select
        unbilled_cluster_days.*,
        list_prices.price_per_hour,
        list_prices.currency,
        list_prices.price_region,
        list_prices.effective_from as price_effective_from,
        list_prices.source_url as price_source_url,
        cast(24 * unbilled_cluster_days.shard_count as numeric) as cluster_hours
    from unbilled_cluster_days
    inner join list_prices
        on
            unbilled_cluster_days.cloud_provider = list_prices.provider
            and unbilled_cluster_days.instance_size = list_prices.instance_size
            and unbilled_cluster_days.snapshot_date >= list_prices.effective_from
            and (list_prices.effective_to is null or unbilled_cluster_days.snapshot_date < list_prices.effective_to)
),

estimates as (
    select
        {{ surrogate_key(["'list-price-estimate'", 'source_id', 'group_id', 'cluster_name', 'snapshot_date']) }}
            as cost_line_key,
        source_id,

        cast(snapshot_date as timestamp) at time zone 'UTC' as charge_period_start,
        cast(snapshot_date + 1 as timestamp) at time zone 'UTC' as charge_period_end,
        date_trunc('month', cast(snapshot_date as timestamp)) at time zone 'UTC' as billing_period_start,
        (date_trunc('month', cast(snapshot_date as timestamp)) + interval '1 month') at time zone 'UTC'
            as billing_period_end,

        cast('MongoDB' as text) as provider_name,
        cast('MongoDB' as text) as publisher_name,
        cast('MongoDB' as text) as invoice_issuer_name,
        org_id as billing_account_id,
        cast(null as text) as billing_account_name,
        group_id as sub_account_id,
        group_name as sub_account_name,

        cast('MongoDB Atlas' as text) as service_name,
        cast('Databases' as text) as service_category,
        region as region_id,
        region as region_name,
        cluster_name as resource_id,
        cluster_name as resource_name,
        'ATLAS_' || cloud_provider || '_INSTANCE_' || instance_size as sku_id,

        cast('Usage' as text) as charge_category,
        cast(null as text) as charge_class,
        'List-price estimate (no invoice line yet): ' || instance_size || ' on ' || cloud_provider || ', '
        || shard_count || ' shard(s) x 24 h x ' || price_per_hour || ' ' || currency
        || '/h per cluster (' || price_region || ' list price, not x the ' || electable_nodes
        || ' electable nodes)' as charge_description,
        cast('Usage-Based' as text) as charge_frequency,
        cast('Standard' as text) as pricing_category,

        cluster_hours as pricing_quantity,
        cast('cluster hours' as text) as pricing_unit,
        price_per_hour as list_unit_price,
        price_per_hour as contracted_unit_price,
        price_per_hour * cluster_hours as billed_cost,
        price_per_hour * cluster_hours as effective_cost,
        price_per_hour * cluster_hours as list_cost,
        price_per_hour * cluster_hours as contracted_cost,
        currency as billing_currency,

        cast(null as text) as commitment_discount_id,
        cast(null as text) as commitment_discount_type,
        cast(null as text) as commitment_discount_category,
        cast(null as text) as commitment_discount_status,

        tags || jsonb_build_object(
            'x_cost_basis', 'list_price_estimate',
            'x_price_source', price_source_url,
            'x_price_effective_from', cast(price_effective_from as text)
        ) as tags
    from priced
)

select {{ focus_cost_columns() | join(', ') }} from invoice_lines
union all
select {{ focus_cost_columns() | join(', ') }} from estimates
