-- Snowflake storage conformed to the FOCUS cost columns: one line per account and day.
-- Cost of a day = billable bytes (tables + stages + fail-safe, STORAGE_USAGE's daily averages) in TB (1024^4 bytes)
-- x the price per TB-month / the days of that month. The price is the source's contract price per TB-month when
-- configured, else the list price of its pricing model (on demand or capacity) valid on the day (seed
-- snowflake_storage_prices); billed = effective = list = contracted. A day with no price fails the build.
-- An account-day for which the source has Snowflake's billed amounts in currency (USAGE_IN_CURRENCY_DAILY) has no
-- line here: its storage is among those amounts (int_snowflake_usage_in_currency_costs_conformed, unioned in by
-- int_snowflake_costs_conformed), so it is not counted twice.
-- Grain: source_id x account_name x usage_date.
with

billed_in_currency_days as (
    select distinct
        source_id,
        account_name,
        usage_date
    from {{ ref('stg_snowflake_billing__usage_in_currency_daily') }}
),

storage_days as (
    select storage_day.*
    from {{ ref('stg_snowflake_billing__storage_daily') }} as storage_day
    left join billed_in_currency_days
        on
            storage_day.source_id = billed_in_currency_days.source_id
            and storage_day.account_name = billed_in_currency_days.account_name
            and storage_day.usage_date = billed_in_currency_days.usage_date
    where billed_in_currency_days.source_id is null
),

list_prices as (
    select * from {{ ref('snowflake_storage_prices') }}
),

priced as (
    select
        storage_days.*,
        coalesce(storage_days.contract_storage_price_per_tb, list_prices.price_per_tb_month) as price_per_tb_month,
        storage_days.billable_bytes / cast(1099511627776 as numeric) as billable_tb,  -- 1024^4 bytes, exact
        extract(day from date_trunc('month', storage_days.usage_date) + interval '1 month - 1 day') as days_in_month
    from storage_days
    left join list_prices
        on
            storage_days.contract_storage_price_per_tb is null
            and storage_days.storage_pricing = list_prices.pricing_model
            and storage_days.currency = list_prices.currency
            and storage_days.usage_date >= list_prices.effective_from
            and (list_prices.effective_to is null or storage_days.usage_date < list_prices.effective_to)
),

conformed as (
    select
        storage_day_key as cost_line_key,
        source_id,

        cast(usage_date as timestamp) at time zone 'UTC' as charge_period_start,
        cast(usage_date + 1 as timestamp) at time zone 'UTC' as charge_period_end,
        date_trunc('month', cast(usage_date as timestamp)) at time zone 'UTC' as billing_period_start,
        (date_trunc('month', cast(usage_date as timestamp)) + interval '1 month') at time zone 'UTC'
            as billing_period_end,

        cast('Snowflake' as text) as provider_name,
        cast('Snowflake' as text) as publisher_name,
        cast('Snowflake' as text) as invoice_issuer_name,
        coalesce(organization_name, account_name) as billing_account_id,
        coalesce(organization_name, account_name) as billing_account_name,
        account_name as sub_account_id,
        account_name as sub_account_name,

        cast('Snowflake Storage' as text) as service_name,
        cast('Storage' as text) as service_category,
        region as region_id,
        region as region_name,
        account_name as resource_id,
        account_name as resource_name,
        cast('STORAGE' as text) as sku_id,

        cast('Usage' as text) as charge_category,
        cast(null as text) as charge_class,
        'storage bytes: tables ' || storage_bytes || ', stages ' || stage_bytes || ', fail-safe ' || failsafe_bytes
            as charge_description,
        cast('Usage-Based' as text) as charge_frequency,
        cast('Standard' as text) as pricing_category,

        billable_tb / days_in_month as pricing_quantity,
        cast('TB-months' as text) as pricing_unit,
        price_per_tb_month as list_unit_price,
        price_per_tb_month as contracted_unit_price,
        billable_tb * price_per_tb_month / days_in_month as billed_cost,
        billable_tb * price_per_tb_month / days_in_month as effective_cost,
        billable_tb * price_per_tb_month / days_in_month as list_cost,
        billable_tb * price_per_tb_month / days_in_month as contracted_cost,
        currency as billing_currency,

        cast(null as text) as commitment_discount_id,
        cast(null as text) as commitment_discount_type,
        cast(null as text) as commitment_discount_category,
        cast(null as text) as commitment_discount_status,
        cast(null as jsonb) as tags
    from priced
)

select * from conformed
