-- What counts as AI/ML spend (config/openfinops.yaml `ai_ml.scopes` via `openfinops sync-config`).
-- Grain: scope_order. A cost line matching any scope is AI/ML spend (each line counted once). Teams and environments
-- arrive trimmed and lower-cased (config.py CostScope), as int_focus_costs.team / environment are; a NULL scope_*
-- array (or NULL scope_tags) means no restriction on that dimension.
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
        cast(scope_teams as text[]) as scope_teams,
        cast(scope_environments as text[]) as scope_environments,
        -- {"<tag key>": ["<value>", ...]}: keys and values lower-cased by sync-config; keys ANDed, values ORed
        cast(scope_tags as jsonb) as scope_tags
    from source
)

select * from renamed
