-- Databricks list prices (system.billing.list_prices): one row per price period of a SKU, from its latest load
-- (a price's end time is set once a newer price starts, so the latest load of a period is the one to keep).
-- unit_price is what Databricks uses for cost: pricing.effective_list.default (list with promotions applied),
-- else pricing.default.
-- Grain: source_id x sku_name x cloud x usage_unit x price_start_time.
with

source as (
    select * from {{ source('databricks_billing', 'databricks_billing_list_prices') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _source_id, sku_name, cloud, usage_unit, price_start_time
            order by _loaded_at desc, _batch_id desc, window_start desc
        ) as load_rank
    from source
),

renamed as (
    select
        {{ surrogate_key(['_source_id', 'sku_name', 'cloud', 'usage_unit', 'price_start_time']) }} as price_key,
        cast(_source_id as text) as source_id,
        cast(account_id as text) as account_id,
        cast(sku_name as text) as sku_name,
        cast(cloud as text) as cloud,
        cast(usage_unit as text) as usage_unit,
        cast(currency_code as text) as currency_code,
        cast(price_start_time as timestamptz) as price_start_time,
        cast(price_end_time as timestamptz) as price_end_time,
        cast(coalesce(pricing -> 'effective_list' ->> 'default', pricing ->> 'default') as numeric) as unit_price,
        cast(pricing ->> 'default' as numeric) as default_unit_price,
        cast(pricing as jsonb) as pricing,
        cast(_batch_id as text) as batch_id,
        cast(_loaded_at as timestamptz) as loaded_at
    from ranked
    where load_rank = 1
)

select * from renamed
