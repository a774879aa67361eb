-- Alert messages delivered (alerts.notifications), without the payload.
-- Grain: alert_type x alert_key x channel_id x target_fingerprint (a channel pointed at a new target gets it again).
with

source as (
    select * from {{ source('alerts', 'notifications') }}
),

renamed as (
    select
        cast(alert_type as text) as alert_type,
        cast(alert_key as text) as alert_key,
        cast(channel_id as text) as channel_id,
        cast(channel_type as text) as channel_type,
        cast(target as text) as channel_target,
        cast(coalesce(target_fingerprint, '') as text) as target_fingerprint,
        cast(sent_at as timestamptz) as sent_at,
        cast(attempts as integer) as attempts,
        cast(sent_by as text) as sent_by
    from source
)

select * from renamed
