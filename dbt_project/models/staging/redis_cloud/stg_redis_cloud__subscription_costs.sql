-- Redis Cloud subscription pricing as daily FOCUS cost lines (collectors/sources/redis_cloud.py), latest load wins.
-- Grain: source_id x usage_date x subscription_id x pricing_position. Unpriced items (billed by the customer's
-- own cloud provider) are left out.
with

source as (
    select * from {{ source('redis_cloud', 'redis_cloud_subscription_pricing') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _source_id, usage_date, subscription_id, pricing_position
            order by _loaded_at desc, _batch_id desc
        ) as load_rank
    from source
),

priced as (
    select
        *,
        -- periods in the day as a fraction (divide last, so a monthly price over 30 days stays exact)
        case price_period when 'hour' then 24 else 1 end as periods_numerator,
        case
            when price_period = 'month'
                then extract(day from date_trunc('month', usage_date) + interval '1 month' - interval '1 day')
            else 1
        end as periods_denominator
    from ranked
    where load_rank = 1 and price_per_unit is not null
),

renamed as (
    select
        {{ surrogate_key(['_source_id', 'usage_date', 'subscription_id', 'pricing_position']) }} as cost_line_key,
        cast(_source_id as text) as source_id,

        cast(usage_date as timestamp) at time zone 'UTC' as charge_period_start,
        cast(usage_date + 1 as timestamp) at time zone 'UTC' as charge_period_end,
        cast(date_trunc('month', usage_date) as timestamp) at time zone 'UTC' as billing_period_start,
        cast(date_trunc('month', usage_date) + interval '1 month' as timestamp) at time zone 'UTC'
            as billing_period_end,

        cast('Redis' as text) as provider_name,
        cast('Redis' as text) as publisher_name,
        cast('Redis' as text) as invoice_issuer_name,
        cast(account_id as text) as billing_account_id,
        cast(null as text) as billing_account_name,
        cast(subscription_id as text) as sub_account_id,
        cast(subscription_name as text) as sub_account_name,

        cast('Redis Cloud' as text) as service_name,
        cast('Databases' as text) as service_category,
        cast(null as text) as region_id,
        cast(null as text) as region_name,
        coalesce(database_name, subscription_id) as resource_id,
        coalesce(database_name, subscription_name) as resource_name,
        cast(pricing_type as text) as sku_id,

        cast('Usage' as text) as charge_category,
        cast(null as text) as charge_class,
        pricing_type || ' x ' || quantity || ' ' || coalesce(quantity_measurement, 'units') || ' per '
        || price_period as charge_description,
        cast('Usage-Based' as text) as charge_frequency,
        cast('Standard' as text) as pricing_category,

        quantity * periods_numerator / periods_denominator as pricing_quantity,
        coalesce(quantity_measurement, 'units') || '-' || price_period || 's' as pricing_unit,
        cast(price_per_unit as numeric) as list_unit_price,
        cast(price_per_unit as numeric) as contracted_unit_price,
        quantity * price_per_unit * periods_numerator / periods_denominator as billed_cost,
        quantity * price_per_unit * periods_numerator / periods_denominator as effective_cost,
        quantity * price_per_unit * periods_numerator / periods_denominator as list_cost,
        quantity * price_per_unit * periods_numerator / periods_denominator as contracted_cost,
        cast(price_currency as text) as billing_currency,

        cast(null as text) as commitment_discount_id,
        cast(null as text) as commitment_discount_type,
        cast(null as text) as commitment_discount_category,
        cast(null as text) as commitment_discount_status,

        cast('{}' as jsonb) as tags
    from priced
)

select * from renamed
