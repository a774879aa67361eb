-- Snowflake account storage per day (STORAGE_USAGE: average bytes in tables, stages and fail-safe) with the
-- source's storage price basis, latest load wins.
-- Grain: source_id x account_name x usage_date.
with

source as (
    select * from {{ source('snowflake_billing', 'snowflake_billing_storage_daily') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _source_id, account_name, usage_date
            order by _loaded_at desc, _batch_id desc
        ) as load_rank
    from source
),

renamed as (
    select
        {{ surrogate_key(['_source_id', 'account_name', "'STORAGE'", 'usage_date']) }} as storage_day_key,
        cast(_source_id as text) as source_id,
        cast(account_name as text) as account_name,
        cast(organization_name as text) as organization_name,
        cast(region as text) as region,
        cast(usage_date as date) as usage_date,
        cast(storage_bytes as numeric) as storage_bytes,
        cast(stage_bytes as numeric) as stage_bytes,
        cast(failsafe_bytes as numeric) as failsafe_bytes,
        cast(storage_bytes + stage_bytes + failsafe_bytes as numeric) as billable_bytes,
        cast(storage_pricing as text) as storage_pricing,
        cast(contract_storage_price_per_tb as numeric) as contract_storage_price_per_tb,
        cast(currency as text) as currency,
        cast(_batch_id as text) as batch_id,
        cast(_loaded_at as timestamptz) as loaded_at
    from ranked
    where load_rank = 1
)

select * from renamed
