-- What counts as AI/ML spend (config/openfinops.yaml `ai_ml.scopes` via `openfinops sync-config`).
-- Grain: scope_order. A cost line matching any scope is AI/ML spend (each line counted once). Teams and environments
-- are trimmed and lower-cased here so they compare with int_focus_costs.team / environment as they are; a NULL
-- scope_* array (or NULL scope_tags) means no restriction on that dimension.
with

source as (
    select * from {{ source('config', 'ai_ml_scopes') }}
),

renamed as (
    select
        cast(scope_order as integer) as scope_order,
        cast(scope_providers as text[]) as scope_providers,
        cast(scope_billing_account_ids as text[]) as scope_billing_account_ids,
        cast(scope_sub_account_ids as text[]) as scope_sub_account_ids,
        cast(scope_services as text[]) as scope_services,
        cast(scope_service_categories as text[]) as scope_service_categories,
        cast(scope_sources as text[]) as scope_sources,
        case
            when scope_teams is not null
                then cast(array(
                        select lower(trim(scope_team.team)) as team
                        from unnest(scope_teams) as scope_team (team)
                    ) as text[])
        end as scope_teams,
        case
            when scope_environments is not null
                then cast(array(
                        select lower(trim(scope_environment.environment)) as environment
                        from unnest(scope_environments) as scope_environment (environment)
                    ) as text[])
        end as scope_environments,
        -- {"<tag key>": ["<value>", ...]}: keys and values lower-cased by sync-config; keys ANDed, values ORed
        cast(scope_tags as jsonb) as scope_tags
    from source
)

select * from renamed
