-- Money identity for the FOCUS lines (FOCUS files, AWS FOCUS exports and the demo's clouds), Databricks and
-- Snowflake (the demo's or real): billed and effective cost per source and UTC day of their lines in int_focus_costs
-- equal the raw landing tables computed straight from source() (no staging logic). From there to fct_cost_daily the sums_match tests on fct_cost_daily carry the identity (all sources).
-- Other sources have their own identities (sums_match against their staging; pytest reconciles them with the
-- vendor files).
--   FOCUS lines: sum(billed_cost) / sum(effective_cost)
--   Databricks (demo or real): sum(usage_quantity x the price valid at usage_start_time), the price rows taken
--     from their latest load
--   Snowflake (demo or real): sum(credits_billed x the contract price, else the edition's list price of the day)
--     + storage: bytes / 1024^4 x the price per TB-month / days in the month; but for an account-day with rows in
--     snowflake_billing_usage_in_currency_daily: sum(usage_in_currency) of those rows instead
-- Fails with every (source, day) that differs by more than a micro-unit (rows are returned).
with

billed_in_currency_days as (
    select distinct
        _source_id,
        source_account_name,
        usage_date
    from {{ source('snowflake_billing', 'snowflake_billing_usage_in_currency_daily') }}
),

raw_costs as (
    select
        _source_id as source_id,
        cast(charge_period_start at time zone 'UTC' as date) as charge_date,
        billed_cost,
        effective_cost
    from {{ source('focus', 'focus_cost_line_items') }}

    union all

    select
        usage_record._source_id as source_id,
        cast(usage_record.usage_start_time at time zone 'UTC' as date) as charge_date,
        usage_record.usage_quantity * price.unit_price as billed_cost,
        usage_record.usage_quantity * price.unit_price as effective_cost
    from {{ source('databricks_billing', 'databricks_billing_usage') }} as usage_record
    inner join lateral (
        select
            cast(
                coalesce(lp.pricing -> 'effective_list' ->> 'default', lp.pricing ->> 'default') as numeric
            ) as unit_price
        from {{ source('databricks_billing', 'databricks_billing_list_prices') }} as lp
        where
            lp._source_id = usage_record._source_id
            and lp.sku_name = usage_record.sku_name
            and lp.cloud = usage_record.cloud
            and lp.usage_unit = usage_record.usage_unit
            and lp.price_start_time <= usage_record.usage_start_time
            and (lp.price_end_time is null or usage_record.usage_start_time < lp.price_end_time)
        order by lp._loaded_at desc
        limit 1
    ) as price on true

    union all

    select
        metering._source_id as source_id,
        metering.usage_date as charge_date,
        metering.credits_billed * coalesce(metering.contract_credit_price, price.credit_price) as billed_cost,
        metering.credits_billed * coalesce(metering.contract_credit_price, price.credit_price) as effective_cost
    from {{ source('snowflake_billing', 'snowflake_billing_metering_daily') }} as metering
    left join {{ ref('snowflake_credit_prices') }} as price
        on
            metering.edition = price.edition
            and metering.currency = price.currency
            and metering.usage_date >= price.effective_from
            and (price.effective_to is null or metering.usage_date < price.effective_to)
    left join billed_in_currency_days as billed
        on
            metering._source_id = billed._source_id
            and metering.account_name = billed.source_account_name
            and metering.usage_date = billed.usage_date
    where billed._source_id is null

    union all

    select
        storage_day._source_id as source_id,
        storage_day.usage_date as charge_date,
        (storage_day.storage_bytes + storage_day.stage_bytes + storage_day.failsafe_bytes)
        / cast(1099511627776 as numeric)
        * coalesce(storage_day.contract_storage_price_per_tb, price.price_per_tb_month)
        / extract(day from date_trunc('month', storage_day.usage_date) + interval '1 month - 1 day') as billed_cost,
        (storage_day.storage_bytes + storage_day.stage_bytes + storage_day.failsafe_bytes)
        / cast(1099511627776 as numeric)
        * coalesce(storage_day.contract_storage_price_per_tb, price.price_per_tb_month)
        / extract(day from date_trunc('month', storage_day.usage_date) + interval '1 month - 1 day') as effective_cost
    from {{ source('snowflake_billing', 'snowflake_billing_storage_daily') }} as storage_day
    left join {{ ref('snowflake_storage_prices') }} as price
        on
            storage_day.storage_pricing = price.pricing_model
            and storage_day.currency = price.currency
            and storage_day.usage_date >= price.effective_from
            and (price.effective_to is null or storage_day.usage_date < price.effective_to)
    left join billed_in_currency_days as billed
        on
            storage_day._source_id = billed._source_id
            and storage_day.account_name = billed.source_account_name
            and storage_day.usage_date = billed.usage_date
    where billed._source_id is null

    union all

    select
        _source_id as source_id,
        usage_date as charge_date,
        usage_in_currency as billed_cost,
        usage_in_currency as effective_cost
    from {{ source('snowflake_billing', 'snowflake_billing_usage_in_currency_daily') }}
),

raw_daily as (
    select
        source_id,
        charge_date,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost
    from raw_costs
    group by source_id, charge_date
),

mart_daily as (
    select
        source_id,
        charge_date,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost
    from {{ ref('int_focus_costs') }}
    where source_system in ('focus_file', 'databricks_billing', 'snowflake_billing')
    group by source_id, charge_date
)

select
    coalesce(raw_daily.source_id, mart_daily.source_id) as source_id,
    coalesce(raw_daily.charge_date, mart_daily.charge_date) as charge_date,
    raw_daily.billed_cost as raw_billed_cost,
    mart_daily.billed_cost as mart_billed_cost,
    raw_daily.effective_cost as raw_effective_cost,
    mart_daily.effective_cost as mart_effective_cost
from raw_daily
full outer join mart_daily
    on
        raw_daily.source_id = mart_daily.source_id
        and raw_daily.charge_date = mart_daily.charge_date
where
    raw_daily.source_id is null
    or mart_daily.source_id is null
    or abs(raw_daily.billed_cost - mart_daily.billed_cost) > 0.000001
    or abs(raw_daily.effective_cost - mart_daily.effective_cost) > 0.000001
