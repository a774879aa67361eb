-- Business value attributed to AI/ML work (config/openfinops.yaml `ai_ml.value` via `openfinops sync-config`).
-- Grain: value_month x team x currency (team NULL = all teams). Empty unless configured: never estimated.
with

source as (
    select * from {{ source('config', 'ai_ml_value') }}
),

renamed as (
    select
        cast(date_trunc('month', value_month) as date) as value_month,
        cast(nullif(lower(trim(team)), '') as text) as team,
        cast(amount as numeric) as value_amount,
        cast(upper(currency) as text) as value_currency,
        cast(description as text) as value_description
    from source
)

select * from renamed
