-- GitHub billing usage items as FOCUS cost lines (collectors/sources/github_billing.py), latest load wins.
-- Grain: source_id x billing_period x record_number (a load replaces whole months, so within a month every row
-- comes from one load; the rank only matters while two loads of a month overlap in raw, which the loader's lock
-- prevents).
with

source as (
    select * from {{ source('github_billing', 'github_billing_usage_items') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _source_id, billing_period, record_number
            order by _loaded_at desc, _batch_id desc
        ) as load_rank
    from source
),

latest as (
    select * from ranked
    where load_rank = 1
),

renamed as (
    select
        {{ surrogate_key(['_source_id', 'billing_period', 'record_number']) }} as cost_line_key,
        cast(_source_id as text) as source_id,

        cast(usage_date as timestamp) at time zone 'UTC' as charge_period_start,
        cast(usage_date + 1 as timestamp) at time zone 'UTC' as charge_period_end,
        cast(date_trunc('month', usage_date) as timestamp) at time zone 'UTC' as billing_period_start,
        cast(date_trunc('month', usage_date) + interval '1 month' as timestamp) at time zone 'UTC'
            as billing_period_end,

        cast('GitHub' as text) as provider_name,
        cast('GitHub' as text) as publisher_name,
        cast('GitHub' as text) as invoice_issuer_name,
        cast(organization_name as text) as billing_account_id,
        cast(organization_name as text) as billing_account_name,
        cast(repository_name as text) as sub_account_id,
        cast(repository_name as text) as sub_account_name,

        'GitHub ' || product as service_name,
        case
            when lower(product) in ('actions', 'codespaces', 'packages') then 'Developer Tools'
            when lower(product) like 'copilot%' then 'AI and Machine Learning'
            when lower(product) in ('git_lfs', 'git lfs', 'shared_storage', 'shared storage') then 'Storage'
            else 'Other'
        end as service_category,
        cast(null as text) as region_id,
        cast(null as text) as region_name,
        cast(repository_name as text) as resource_id,
        cast(repository_name as text) as resource_name,
        cast(sku as text) as sku_id,

        cast('Usage' as text) as charge_category,
        cast(null as text) as charge_class,
        sku || ' (' || coalesce(unit_type, 'units') || ')' as charge_description,
        cast('Usage-Based' as text) as charge_frequency,
        cast('Standard' as text) as pricing_category,

        cast(quantity as numeric) as pricing_quantity,
        cast(unit_type as text) as pricing_unit,
        cast(price_per_unit as numeric) as list_unit_price,
        cast(price_per_unit as numeric) as contracted_unit_price,
        cast(net_amount as numeric) as billed_cost,
        cast(net_amount as numeric) as effective_cost,
        cast(gross_amount as numeric) as list_cost,
        cast(net_amount as numeric) as contracted_cost,
        cast('USD' as text) as billing_currency,

        cast(null as text) as commitment_discount_id,
        cast(null as text) as commitment_discount_type,
        cast(null as text) as commitment_discount_category,
        cast(null as text) as commitment_discount_status,

        cast('{}' as jsonb) as tags
    from latest
)

select * from renamed
