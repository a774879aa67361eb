-- Alert messages that finally failed in a delivery run (alerts.delivery_failures).
-- Grain: failure_id.
with

source as (
    select * from {{ source('alerts', 'delivery_failures') }}
),

renamed as (
    select
        cast(failure_id as bigint) as failure_id,
        cast(alert_type as text) as alert_type,
        cast(alert_key as text) as alert_key,
        cast(channel_id as text) as channel_id,
        cast(channel_type as text) as channel_type,
        cast(target as text) as channel_target,
        cast(failed_at as timestamptz) as failed_at,
        cast(attempts as integer) as attempts,
        cast(error as text) as error,
        cast(sent_by as text) as sent_by
    from source
)

select * from renamed
