-- Anomaly detection settings (config/openfinops.yaml `anomalies:` via `openfinops sync-config`).
-- Grain: one row (the whole table). sync-config always writes exactly one row; should the table be empty (a
-- warehouse synced by an older version), the AnomalyConfig defaults are used so fct_cost_anomalies still builds.
-- The singular test assert_stg_config__anomaly_settings_has_one_row guards against more than one.
with

source as (
    select * from {{ source('config', 'anomaly_settings') }}
),

renamed as (
    select
        cast(baseline_days as integer) as baseline_days,
        cast(min_history_days as integer) as min_history_days,
        cast(min_cost_delta as numeric) as min_cost_delta,
        cast(lower(alert_min_severity) as text) as alert_min_severity,
        cast(channels as text[]) as channels
    from source
),

defaults as (
    -- openfinops.config.AnomalyConfig defaults, used only when the table is empty
    select
        28 as baseline_days,
        14 as min_history_days,
        cast(100 as numeric) as min_cost_delta,
        'high' as alert_min_severity,
        cast(array[] as text[]) as channels
    where not exists (select 1 as configured from renamed)
),

final as (
    select * from renamed
    union all
    select * from defaults
)

select * from final
