-- Datadog's usage summary (collectors/sources/datadog_cost.py, GET /api/v1/usage/summary with
-- include_org_details): one volume per month x organisation x usage field, latest load wins.
-- Grain: source_id x usage_month x org_public_id x usage_field.
with

source as (
    select * from {{ source('datadog_cost', 'datadog_cost_usage_summary') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _source_id, usage_month, org_public_id, usage_field
            order by _loaded_at desc, _batch_id desc
        ) as load_rank
    from source
),

renamed as (
    select
        {{ surrogate_key(['_source_id', 'usage_month', 'org_public_id', 'usage_field']) }} as usage_key,
        cast(_source_id as text) as source_id,
        cast(usage_month as date) as usage_month,
        cast(org_public_id as text) as org_public_id,
        cast(org_name as text) as org_name,
        cast(org_id as text) as org_id,
        cast(account_public_id as text) as account_public_id,
        cast(account_name as text) as account_name,
        cast(region as text) as region,
        cast(usage_field as text) as usage_field,
        cast(usage_value as numeric) as usage_value
    from ranked
    where load_rank = 1
)

select * from renamed
