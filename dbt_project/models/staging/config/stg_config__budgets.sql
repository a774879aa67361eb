-- Budgets: the config file's (config/openfinops.yaml via `openfinops sync-config`) and those created through the
-- Python API (CostObservatory.create_budget -> config.api_budgets); on an id in both, the config file's wins.
-- Grain: budget_id. A NULL scope_* array (or NULL scope_tags) means "no restriction on that dimension".
{%- set columns = ['budget_id', 'budget_name', 'amount', 'currency', 'period', 'start_month', 'thresholds',
                   'forecast_thresholds', 'scope_providers', 'scope_billing_account_ids', 'scope_sub_account_ids',
                   'scope_services', 'scope_service_categories', 'scope_sources', 'scope_teams',
                   'scope_environments', 'scope_tags'] %}
with

configured as (
    select {{ columns | join(', ') }} from {{ source('config', 'budgets') }}
),

created_through_api as (
    select {{ columns | join(', ') }} from {{ source('config', 'api_budgets') }}
    where budget_id not in (select configured.budget_id from configured)
),

source as (
    select * from configured
    union all
    select * from created_through_api
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
