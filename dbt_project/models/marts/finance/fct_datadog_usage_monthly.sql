-- Datadog volumes per month, organisation and product beside what Datadog bills for the product
-- (_finance__datadog_usage.yml has the mapping and its rules). Cost: stg_datadog_cost__charges (the committed and
-- on-demand parts, never the totals), as Datadog reports it; volume: the usage summary field that is the product's
-- billed quantity (stg_datadog_cost__usage_summary), where exactly one is. Nothing is priced or allocated here: a
-- row has the cost Datadog reports for that organisation and the volume it reports for that organisation.
-- Grain: one row per source_id x usage_month x org_public_id x product_name.
with

charges as (
    select * from {{ ref('stg_datadog_cost__charges') }}
),

usage_summary as (
    select * from {{ ref('stg_datadog_cost__usage_summary') }}
),

product_usage_fields as (
    -- Datadog cost product -> the one usage summary field that measures its billed quantity
    select
        product_fields.product_name,
        product_fields.usage_field,
        product_fields.usage_unit
    from (
        values
        ('infra_host', 'infra_host_top99p', 'hosts'),
        ('apm_host', 'apm_host_top99p', 'hosts')
    ) as product_fields (product_name, usage_field, usage_unit)
),

costs as (
    select
        source_id,
        billing_account_id as org_public_id,
        sku_id as product_name,
        cast(charge_period_start at time zone 'UTC' as date) as usage_month,
        max(billing_account_name) as org_name,
        sum(billed_cost) as billed_cost,
        sum(billed_cost) filter (where pricing_category = 'Committed') as committed_cost,
        sum(billed_cost) filter (where pricing_category = 'Standard') as on_demand_cost,
        min(billing_currency) as billing_currency,
        bool_or(cost_status = 'estimated') as is_estimated
    from charges
    group by source_id, billing_account_id, sku_id, cast(charge_period_start at time zone 'UTC' as date)
),

volumes as (
    select
        usage_summary.source_id,
        usage_summary.usage_month,
        usage_summary.org_public_id,
        usage_summary.org_name,
        product_usage_fields.product_name,
        usage_summary.usage_value as usage_quantity
    from usage_summary
    inner join product_usage_fields
        on usage_summary.usage_field = product_usage_fields.usage_field
),

joined as (
    select
        coalesce(costs.source_id, volumes.source_id) as source_id,
        coalesce(costs.usage_month, volumes.usage_month) as usage_month,
        coalesce(costs.org_public_id, volumes.org_public_id) as org_public_id,
        coalesce(volumes.org_name, costs.org_name) as org_name,
        coalesce(costs.product_name, volumes.product_name) as product_name,
        volumes.usage_quantity,
        costs.billed_cost,
        costs.committed_cost,
        costs.on_demand_cost,
        costs.billing_currency,
        costs.is_estimated
    from costs
    full outer join volumes
        on
            costs.source_id = volumes.source_id
            and costs.usage_month = volumes.usage_month
            and costs.org_public_id = volumes.org_public_id
            and costs.product_name = volumes.product_name
),

final as (
    select
        {{ surrogate_key(['joined.source_id', 'joined.usage_month', 'joined.org_public_id', 'joined.product_name']) }}
            as usage_line_key,
        cast(joined.source_id as text) as source_id,
        cast(joined.usage_month as date) as usage_month,
        cast(joined.org_public_id as text) as org_public_id,
        cast(joined.org_name as text) as org_name,
        cast(joined.product_name as text) as product_name,
        cast(product_usage_fields.usage_field as text) as usage_field,
        cast(product_usage_fields.usage_unit as text) as usage_unit,
        cast(joined.usage_quantity as numeric) as usage_quantity,
        cast(joined.billed_cost as numeric) as billed_cost,
        cast(joined.committed_cost as numeric) as committed_cost,
        cast(joined.on_demand_cost as numeric) as on_demand_cost,
        cast(joined.billing_currency as text) as billing_currency,
        cast(joined.is_estimated as boolean) as is_estimated
    from joined
    left join product_usage_fields
        on joined.product_name = product_usage_fields.product_name
)

select * from final
