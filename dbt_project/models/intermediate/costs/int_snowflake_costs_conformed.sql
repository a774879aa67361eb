-- Snowflake's cost lines (but storage priced by us: int_snowflake_storage_costs_conformed) in the FOCUS cost columns.
-- Where the source has Snowflake's billed amounts in currency for an account-day (USAGE_IN_CURRENCY_DAILY), that
-- account-day's lines are those (int_snowflake_usage_in_currency_costs_conformed) and its metering lines are left
-- out, so nothing is counted twice. Every other account-day: daily metering, one line per account, service type and
-- day. Cost = credits_billed x credit_price: credits_billed already applies the 10 % cloud-services rule. The price
-- is the source's contract price when configured, else the list price of its edition valid on the day
-- (int_snowflake_credit_prices_daily): billed = effective = list = contracted. A day with no price fails the build
-- (not_null on billed_cost).
-- Grain: one row per cost_line_key: source_id x account_name x service_type x usage_date (metering), or a row of
-- USAGE_IN_CURRENCY_DAILY.
with

billed_in_currency_days as (
    select distinct
        source_id,
        account_name,
        usage_date
    from {{ ref('stg_snowflake_billing__usage_in_currency_daily') }}
),

metering_days as (
    select metering_day.*
    from {{ ref('stg_snowflake_billing__metering_daily') }} as metering_day
    left join billed_in_currency_days
        on
            metering_day.source_id = billed_in_currency_days.source_id
            and metering_day.account_name = billed_in_currency_days.account_name
            and metering_day.usage_date = billed_in_currency_days.usage_date
    where billed_in_currency_days.source_id is null
),

prices as (
    select * from {{ ref('int_snowflake_credit_prices_daily') }}
),

metering as (
    select
        metering_days.*,
        prices.credit_price
    from metering_days
    left join prices
        on
            metering_days.source_id = prices.source_id
            and metering_days.usage_date = prices.usage_date
),

service_mapping as (
    select * from {{ ref('focus_service_mapping') }}
    where source_system = 'snowflake'
),

conformed as (
    select
        metering.metering_day_key as cost_line_key,
        metering.source_id,

        cast(metering.usage_date as timestamp) at time zone 'UTC' as charge_period_start,
        cast(metering.usage_date + 1 as timestamp) at time zone 'UTC' as charge_period_end,
        date_trunc('month', cast(metering.usage_date as timestamp)) at time zone 'UTC' as billing_period_start,
        (date_trunc('month', cast(metering.usage_date as timestamp)) + interval '1 month') at time zone 'UTC'
            as billing_period_end,

        cast('Snowflake' as text) as provider_name,
        cast('Snowflake' as text) as publisher_name,
        cast('Snowflake' as text) as invoice_issuer_name,
        coalesce(metering.organization_name, metering.account_name) as billing_account_id,
        coalesce(metering.organization_name, metering.account_name) as billing_account_name,
        metering.account_name as sub_account_id,
        metering.account_name as sub_account_name,

        coalesce(
            service_mapping.service_name,
            'Snowflake ' || initcap(replace(metering.service_type, '_', ' '))
        ) as service_name,
        coalesce(service_mapping.service_category, 'Other') as service_category,
        metering.region as region_id,
        metering.region as region_name,
        metering.account_name as resource_id,
        metering.account_name as resource_name,
        metering.service_type as sku_id,

        cast('Usage' as text) as charge_category,
        cast(null as text) as charge_class,
        metering.service_type
        || ' credits: compute ' || metering.credits_used_compute
        || ', cloud services ' || metering.credits_used_cloud_services
        || ', adjustment ' || metering.credits_adjustment_cloud_services as charge_description,
        cast('Usage-Based' as text) as charge_frequency,
        cast('Standard' as text) as pricing_category,

        metering.credits_billed as pricing_quantity,
        cast('Credits' as text) as pricing_unit,
        metering.credit_price as list_unit_price,
        metering.credit_price as contracted_unit_price,
        metering.credits_billed * metering.credit_price as billed_cost,
        metering.credits_billed * metering.credit_price as effective_cost,
        metering.credits_billed * metering.credit_price as list_cost,
        metering.credits_billed * metering.credit_price as contracted_cost,
        metering.currency as billing_currency,

        cast(null as text) as commitment_discount_id,
        cast(null as text) as commitment_discount_type,
        cast(null as text) as commitment_discount_category,
        cast(null as text) as commitment_discount_status,
        cast(null as jsonb) as tags

    from metering
    left join service_mapping
        on upper(metering.service_type) = service_mapping.source_value
),

billed_in_currency as (
    select * from {{ ref('int_snowflake_usage_in_currency_costs_conformed') }}
)

select {{ focus_cost_columns() | join(', ') }} from conformed
union all
select {{ focus_cost_columns() | join(', ') }} from billed_in_currency
