-- Alert delivery per channel and UTC day: messages delivered (alerts.notifications, by sent_at) and messages that
-- finally failed in a delivery run (alerts.delivery_failures, by failed_at).
-- Grain: channel_id x delivery_date (days with at least one delivered or failed message). success_pct = sent /
-- (sent + failed) x 100, 2 decimals. A message that failed and was delivered by a later run counts once in each.
with

sent as (
    select
        channel_id,
        channel_type,
        cast(sent_at at time zone 'UTC' as date) as delivery_date
    from {{ ref('stg_alerts__notifications') }}
),

failed as (
    select
        channel_id,
        channel_type,
        cast(failed_at at time zone 'UTC' as date) as delivery_date
    from {{ ref('stg_alerts__delivery_failures') }}
),

events as (
    select
        channel_id,
        channel_type,
        delivery_date,
        1 as is_sent
    from sent
    union all
    select
        channel_id,
        channel_type,
        delivery_date,
        0 as is_sent
    from failed
),

daily as (
    select
        channel_id,
        delivery_date,
        max(channel_type) as channel_type,
        count(*) filter (where is_sent = 1) as messages_sent,
        count(*) filter (where is_sent = 0) as messages_failed
    from events
    group by channel_id, delivery_date
),

final as (
    select
        {{ surrogate_key(['channel_id', 'delivery_date']) }} as alert_delivery_key,
        channel_id,
        channel_type,
        delivery_date,
        cast(messages_sent as integer) as messages_sent,
        cast(messages_failed as integer) as messages_failed,
        {{ bounded_pct('messages_sent', 'messages_sent + messages_failed', 6) }} as success_pct
    from daily
)

select * from final
