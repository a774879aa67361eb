-- Snowflake credits per warehouse and hour (WAREHOUSE_METERING_HISTORY), latest load wins.
-- Grain: source_id x warehouse_id x start_time.
with

source as (
    select * from {{ source('snowflake_billing', 'snowflake_billing_warehouse_metering') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _source_id, warehouse_id, start_time
            order by _loaded_at desc, _batch_id desc
        ) as load_rank
    from source
),

renamed as (
    select
        {{ surrogate_key(['_source_id', 'warehouse_id', 'start_time']) }} as warehouse_hour_key,
        cast(_source_id as text) as source_id,
        cast(account_name as text) as account_name,
        cast(warehouse_id as text) as warehouse_id,
        cast(warehouse_name as text) as warehouse_name,
        cast(start_time as timestamptz) as start_time,
        cast(end_time as timestamptz) as end_time,
        cast(credits_used as numeric) as credits_used,
        cast(credits_used_compute as numeric) as credits_used_compute,
        cast(credits_used_cloud_services as numeric) as credits_used_cloud_services
    from ranked
    where load_rank = 1
)

select * from renamed
