-- One row per cost line of the cloud FOCUS exports (AWS, Azure, Google Cloud), latest load wins.
-- Grain: source_id x line_item_id x service_name. FOCUS itself defines no line id; the collector's
-- line_item_id (<resource_id>:<date>) is only relied on to be unique within a service (an earlier demo
-- version reused resource ids across two AWS services), so the service is part of the natural key.
-- Rows are never dropped silently: tests/assert_fct_cost_daily_matches_raw_sources.sql compares with raw.
with

source as (
    select * from {{ source('demo', 'demo_cost_line_items') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _source_id, line_item_id, service_name
            order by _loaded_at desc, _batch_id desc
        ) as load_rank
    from source
),

renamed as (
    select
        -- keys
        {{ surrogate_key(['_source_id', 'line_item_id', 'service_name']) }} as cost_line_item_key,
        cast(_source_id as text) as source_id,
        cast(line_item_id as text) as line_item_id,

        -- time (UTC instants; charge periods are [start, end))
        cast(charge_period_start as timestamptz) as charge_period_start,
        cast(charge_period_end as timestamptz) as charge_period_end,
        cast(billing_period_start as timestamptz) as billing_period_start,
        cast(billing_period_end as timestamptz) as billing_period_end,

        -- who bills whom
        cast(provider_name as text) as provider_name,
        cast(publisher_name as text) as publisher_name,
        cast(invoice_issuer_name as text) as invoice_issuer_name,
        cast(billing_account_id as text) as billing_account_id,
        cast(billing_account_name as text) as billing_account_name,
        cast(sub_account_id as text) as sub_account_id,
        cast(sub_account_name as text) as sub_account_name,

        -- what
        cast(service_name as text) as service_name,
        cast(service_category as text) as service_category,
        cast(region_id as text) as region_id,
        cast(region_name as text) as region_name,
        cast(resource_id as text) as resource_id,
        cast(resource_name as text) as resource_name,
        cast(sku_id as text) as sku_id,
        cast(charge_category as text) as charge_category,
        cast(charge_class as text) as charge_class,
        cast(charge_description as text) as charge_description,
        cast(charge_frequency as text) as charge_frequency,
        cast(pricing_category as text) as pricing_category,

        -- quantities and money (billing currency)
        cast(pricing_quantity as numeric) as pricing_quantity,
        cast(pricing_unit as text) as pricing_unit,
        cast(list_unit_price as numeric) as list_unit_price,
        cast(contracted_unit_price as numeric) as contracted_unit_price,
        cast(billed_cost as numeric) as billed_cost,
        cast(effective_cost as numeric) as effective_cost,
        cast(list_cost as numeric) as list_cost,
        cast(contracted_cost as numeric) as contracted_cost,
        cast(billing_currency as text) as billing_currency,

        -- commitment discounts
        cast(commitment_discount_id as text) as commitment_discount_id,
        cast(commitment_discount_type as text) as commitment_discount_type,
        cast(commitment_discount_category as text) as commitment_discount_category,
        cast(commitment_discount_status as text) as commitment_discount_status,

        -- tags as delivered (key casing varies; normalised in the intermediate layer)
        cast(tags as jsonb) as tags,

        -- load metadata
        cast(_batch_id as text) as batch_id,
        cast(_loaded_at as timestamptz) as loaded_at

    from ranked
    where load_rank = 1
)

select * from renamed
