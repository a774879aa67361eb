-- Configured sources and their data-freshness SLA (config/openfinops.yaml `sources:` via `openfinops sync-config`).
-- Grain: source_id.
with

source as (
    select * from {{ source('config', 'sources') }}
),

renamed as (
    select
        cast(source_id as text) as source_id,
        cast(source_type as text) as source_type,
        cast(description as text) as source_description,
        cast(schedule as text) as schedule,
        -- hours the newest loaded data may be old at the end of a day
        cast(freshness_sla_hours as numeric) as freshness_sla_hours
    from source
)

select * from renamed
