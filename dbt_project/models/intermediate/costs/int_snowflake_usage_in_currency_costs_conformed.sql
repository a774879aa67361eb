-- What Snowflake bills in currency (ORGANIZATION_USAGE.USAGE_IN_CURRENCY_DAILY) conformed to the FOCUS cost columns:
-- one cost line per row of the view for the source's account. Billed = effective = contracted cost =
-- USAGE_IN_CURRENCY in its CURRENCY (Snowflake's own figure, no price of ours); list cost and unit prices are not
-- reported (NULL). Adjustments (IS_ADJUSTMENT) are kept as charge category 'Adjustment', other negative amounts are
-- 'Credit'. ServiceName / ServiceCategory from usage_type via the focus_service_mapping seed
-- (source_system 'snowflake_usage_type'). These lines replace the credits x price lines of the same source,
-- account and day: int_snowflake_costs_conformed unions them in and leaves out the metering lines of those
-- account-days, int_snowflake_storage_costs_conformed its storage lines.
-- Grain: one row per currency_usage_key (source_id x account_name x usage_date x usage_type x service_type x
-- rating_type x billing_type x balance_source x is_adjustment x currency).
with

billed as (
    select * from {{ ref('stg_snowflake_billing__usage_in_currency_daily') }}
),

service_mapping as (
    select * from {{ ref('focus_service_mapping') }}
    where source_system = 'snowflake_usage_type'
),

conformed as (
    select
        billed.currency_usage_key as cost_line_key,
        billed.source_id,

        cast(billed.usage_date as timestamp) at time zone 'UTC' as charge_period_start,
        cast(billed.usage_date + 1 as timestamp) at time zone 'UTC' as charge_period_end,
        date_trunc('month', cast(billed.usage_date as timestamp)) at time zone 'UTC' as billing_period_start,
        (date_trunc('month', cast(billed.usage_date as timestamp)) + interval '1 month') at time zone 'UTC'
            as billing_period_end,

        cast('Snowflake' as text) as provider_name,
        cast('Snowflake' as text) as publisher_name,
        cast('Snowflake' as text) as invoice_issuer_name,
        coalesce(billed.organization_name, billed.account_name) as billing_account_id,
        coalesce(billed.organization_name, billed.account_name) as billing_account_name,
        billed.account_name as sub_account_id,
        billed.account_name as sub_account_name,

        coalesce(service_mapping.service_name, 'Snowflake ' || initcap(billed.usage_type)) as service_name,
        coalesce(service_mapping.service_category, 'Other') as service_category,
        billed.region as region_id,
        billed.region as region_name,
        billed.account_name as resource_id,
        billed.account_name as resource_name,
        coalesce(billed.service_type, upper(replace(billed.usage_type, ' ', '_'))) as sku_id,

        case
            when billed.is_adjustment then 'Adjustment'
            when billed.usage_in_currency < 0 then 'Credit'
            else 'Usage'
        end as charge_category,
        cast(null as text) as charge_class,
        concat_ws(
            ', ',
            'Snowflake billed amount (USAGE_IN_CURRENCY_DAILY): ' || billed.usage_type,
            'service type ' || billed.service_type,
            'usage ' || billed.usage_quantity || coalesce(' ' || billed.rating_type, ''),
            'balance source ' || billed.balance_source,
            'billing type ' || billed.billing_type,
            case when billed.is_adjustment then 'adjustment' end
        ) as charge_description,
        cast('Usage-Based' as text) as charge_frequency,
        case
            when billed.balance_source in ('capacity', 'rollover') then 'Committed'
            when billed.balance_source = 'overage' then 'Standard'
            when billed.balance_source is not null then 'Other'
        end as pricing_category,

        billed.usage_quantity as pricing_quantity,
        case
            when coalesce(billed.rating_type, billed.usage_type) in ('storage', 'data transfer') then 'TB'
            when coalesce(billed.rating_type, billed.usage_type) in ('compute', 'cloud services') then 'Credits'
        end as pricing_unit,
        cast(null as numeric) as list_unit_price,
        cast(null as numeric) as contracted_unit_price,
        billed.usage_in_currency as billed_cost,
        billed.usage_in_currency as effective_cost,
        cast(null as numeric) as list_cost,
        billed.usage_in_currency as contracted_cost,
        billed.currency as billing_currency,

        cast(null as text) as commitment_discount_id,
        cast(null as text) as commitment_discount_type,
        cast(null as text) as commitment_discount_category,
        cast(null as text) as commitment_discount_status,
        cast(null as jsonb) as tags

    from billed
    left join service_mapping
        on lower(billed.usage_type) = service_mapping.source_value
)

select * from conformed
