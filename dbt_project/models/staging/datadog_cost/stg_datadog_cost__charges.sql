-- Datadog monthly charges as FOCUS cost lines (collectors/sources/datadog_cost.py), latest load wins.
-- Grain: source_id x cost_month x org_public_id x product_name x charge_type (committed / on_demand; the
-- 'total' entries are the sum of those and are left out, checked against them).
with

source as (
    select * from {{ source('datadog_cost', 'datadog_cost_charges') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _source_id, cost_month, org_public_id, product_name, charge_type
            order by _loaded_at desc, _batch_id desc
        ) as load_rank
    from source
),

latest as (
    select
        *,
        sum(cost) filter (where charge_type <> 'total') over product_month as product_parts_cost,
        sum(cost) filter (where charge_type = 'total') over product_month as product_total_cost
    from ranked
    where load_rank = 1
    window product_month as (partition by _source_id, cost_month, org_public_id, product_name)
),

renamed as (
    select
        {{ surrogate_key(['_source_id', 'cost_month', 'org_public_id', 'product_name', 'charge_type']) }}
            as cost_line_key,
        cast(_source_id as text) as source_id,

        cast(cost_month as timestamp) at time zone 'UTC' as charge_period_start,
        cast(cost_month + interval '1 month' as timestamp) at time zone 'UTC' as charge_period_end,
        cast(cost_month as timestamp) at time zone 'UTC' as billing_period_start,
        cast(cost_month + interval '1 month' as timestamp) at time zone 'UTC' as billing_period_end,

        cast('Datadog' as text) as provider_name,
        cast('Datadog' as text) as publisher_name,
        cast('Datadog' as text) as invoice_issuer_name,
        cast(org_public_id as text) as billing_account_id,
        cast(org_name as text) as billing_account_name,
        cast(org_public_id as text) as sub_account_id,
        cast(org_name as text) as sub_account_name,

        'Datadog ' || product_name as service_name,
        cast('Management and Governance' as text) as service_category,
        cast(region as text) as region_id,
        cast(region as text) as region_name,
        cast(null as text) as resource_id,
        cast(null as text) as resource_name,
        cast(product_name as text) as sku_id,

        cast('Usage' as text) as charge_category,
        cast(null as text) as charge_class,
        product_name || ' (' || charge_type || ')'
        || case when cost_status = 'estimated' then ', estimated month to date' else '' end as charge_description,
        cast('Usage-Based' as text) as charge_frequency,
        case when charge_type = 'committed' then 'Committed' else 'Standard' end as pricing_category,

        cast(null as numeric) as pricing_quantity,
        cast(null as text) as pricing_unit,
        cast(null as numeric) as list_unit_price,
        cast(null as numeric) as contracted_unit_price,
        cast(cost as numeric) as billed_cost,
        cast(cost as numeric) as effective_cost,
        cast(null as numeric) as list_cost,
        cast(cost as numeric) as contracted_cost,
        cast('USD' as text) as billing_currency,

        cast(null as text) as commitment_discount_id,
        cast(null as text) as commitment_discount_type,
        cast(null as text) as commitment_discount_category,
        cast(null as text) as commitment_discount_status,

        cast('{}' as jsonb) as tags,

        cost_status,
        product_parts_cost,
        product_total_cost
    from latest
    where charge_type <> 'total'
)

select * from renamed
