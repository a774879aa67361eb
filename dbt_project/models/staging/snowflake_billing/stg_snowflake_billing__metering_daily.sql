-- Snowflake daily credits per account and service type (METERING_DAILY_HISTORY) with the source's price basis,
-- latest load wins.
-- Grain: source_id x account_name x service_type x usage_date.
with

source as (
    select * from {{ source('snowflake_billing', 'snowflake_billing_metering_daily') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _source_id, account_name, service_type, usage_date
            order by _loaded_at desc, _batch_id desc
        ) as load_rank
    from source
),

renamed as (
    select
        {{ surrogate_key(['_source_id', 'account_name', 'service_type', 'usage_date']) }} as metering_day_key,
        cast(_source_id as text) as source_id,
        cast(account_name as text) as account_name,
        cast(organization_name as text) as organization_name,
        cast(region as text) as region,
        cast(service_type as text) as service_type,
        cast(usage_date as date) as usage_date,
        cast(credits_used_compute as numeric) as credits_used_compute,
        cast(credits_used_cloud_services as numeric) as credits_used_cloud_services,
        cast(credits_used as numeric) as credits_used,
        cast(credits_adjustment_cloud_services as numeric) as credits_adjustment_cloud_services,
        cast(credits_billed as numeric) as credits_billed,
        cast(edition as text) as edition,
        cast(contract_credit_price as numeric) as contract_credit_price,
        cast(currency as text) as currency,
        cast(_batch_id as text) as batch_id,
        cast(_loaded_at as timestamptz) as loaded_at
    from ranked
    where load_rank = 1
)

select * from renamed
