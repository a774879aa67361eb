-- Configured budgets (config/openfinops.yaml via `openfinops sync-config`).
-- Grain: budget_id. A NULL scope_* array (or NULL scope_tags) means "no restriction on that dimension".
with

source as (
    select * from {{ source('config', 'budgets') }}
),

renamed as (
    select
        cast(budget_id as text) as budget_id,
        cast(budget_name as text) as budget_name,

        -- amount per period, in currency
        cast(amount as numeric) as budget_amount,
        cast(upper(currency) as text) as budget_currency,
        cast(lower(period) as text) as period,
        cast(coalesce(start_month, 1) as integer) as start_month,

        -- alert thresholds in percent of the amount: on actual spend, and on the forecast to period end
        cast(thresholds as integer[]) as thresholds,
        cast(forecast_thresholds as integer[]) as forecast_thresholds,

        -- scope (ANDed across dimensions, ORed within one)
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
