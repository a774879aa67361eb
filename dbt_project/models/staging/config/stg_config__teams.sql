-- Configured teams (config/openfinops.yaml `teams:` via `openfinops sync-config`).
-- Grain: team_id (the `team` tag value as the marts hold it: trimmed, lower case).
with

source as (
    select * from {{ source('config', 'teams') }}
),

renamed as (
    select
        cast(lower(trim(team_id)) as text) as team_id,
        cast(team_name as text) as team_name
    from source
)

select * from renamed
